//! The ot.js JSON form of a [`TextOperation`] (see the parent module's
//! "JSON form"): `[5, "abc", -2]`, a positive integer a retain, a string an
//! insert, a negative integer a delete. Deserializing normalises, as
//! ot.js's `fromJSON` does, and rejects everything else with a serde error.

use super::{char_len, Component, TextOperation};
use serde::de::{self, Deserialize, Deserializer, SeqAccess, Unexpected, Visitor};
use serde::ser::{self, Serialize, SerializeSeq, Serializer};
use std::fmt;

impl Serialize for TextOperation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.ops.len()))?;
        for c in &self.ops {
            match c {
                Component::Retain(n) => {
                    let v = u64::try_from(*n)
                        .map_err(|_| ser::Error::custom("retain count too large"))?;
                    seq.serialize_element(&v)?;
                }
                Component::Insert(s) => seq.serialize_element(s.as_str())?,
                Component::Delete(n) => {
                    let v = i64::try_from(*n)
                        .map_err(|_| ser::Error::custom("delete count too large for JSON"))?;
                    seq.serialize_element(&-v)?;
                }
            }
        }
        seq.end()
    }
}

/// One wire component, as found in the JSON array.
struct WireComponent(Component);

/// Visitor for a single wire component.
struct ComponentVisitor;

impl ComponentVisitor {
    fn retain_from<E: de::Error>(self, v: u64) -> Result<WireComponent, E> {
        if v == 0 {
            return Err(E::invalid_value(Unexpected::Unsigned(0), &self));
        }
        let n = usize::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))?;
        Ok(WireComponent(Component::Retain(n)))
    }
}

impl Visitor<'_> for ComponentVisitor {
    type Value = WireComponent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a positive integer (retain), a non-empty string (insert) or a negative integer (delete)",
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.retain_from(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        if v >= 0 {
            return self.retain_from(v.unsigned_abs());
        }
        let n = usize::try_from(v.unsigned_abs())
            .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))?;
        Ok(WireComponent(Component::Delete(n)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Err(E::invalid_value(Unexpected::Str(v), &self));
        }
        Ok(WireComponent(Component::Insert(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Err(E::invalid_value(Unexpected::Str(&v), &self));
        }
        Ok(WireComponent(Component::Insert(v)))
    }
}

impl<'de> Deserialize<'de> for WireComponent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ComponentVisitor)
    }
}

/// Visitor for a whole operation array.
struct OperationVisitor;

impl<'de> Visitor<'de> for OperationVisitor {
    type Value = TextOperation;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of text operation components, e.g. [5, \"abc\", -2]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut op = TextOperation::new();
        while let Some(WireComponent(c)) = seq.next_element::<WireComponent>()? {
            let overflow = match &c {
                Component::Retain(n) => {
                    op.base_len.checked_add(*n).is_none() || op.target_len.checked_add(*n).is_none()
                }
                Component::Insert(s) => op.target_len.checked_add(char_len(s)).is_none(),
                Component::Delete(n) => op.base_len.checked_add(*n).is_none(),
            };
            if overflow {
                return Err(de::Error::custom("text operation length overflows"));
            }
            op.push(c);
        }
        Ok(op)
    }
}

impl<'de> Deserialize<'de> for TextOperation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(OperationVisitor)
    }
}
