//! Operational transformation for plain text, wire-compatible with ot.js.
//!
//! Longer than 500 lines on purpose: about 593 lines of code (apply,
//! compose, transform and cursor transform are one algorithm that is read
//! together) and 359 lines of unit and property tests. The ot.js wire form
//! is in `ot/json.rs`.
//!
//! A [`TextOperation`] is a sequence of [`Component`]s that walks over a
//! document from start to end: `Retain(n)` keeps the next `n` characters,
//! `Insert(s)` inserts `s` at the current position and `Delete(n)` removes the
//! next `n` characters. An operation must cover the whole document, so its
//! [`base_len`](TextOperation::base_len) (retained + deleted) must equal the
//! length of the text it is applied to.
//!
//! # Units: Unicode scalar values
//!
//! **All positions and lengths count Unicode scalar values (code points)**,
//! i.e. Rust `char`s: not UTF-8 bytes and not UTF-16 code units. `"é"` (one
//! precomposed code point) has length 1, `"😀"` has length 1, and `"e\u{301}"`
//! (e + combining accent) has length 2.
//!
//! JavaScript strings are indexed in UTF-16 code units, so JS clients must
//! convert before sending and after receiving: an emoji outside the Basic
//! Multilingual Plane has `"😀".length === 2` in JS but counts 1 here. Convert
//! a UTF-16 index `i` with `[...str.slice(0, i)].length` (or
//! `Array.from(...)`), and a code-point index `k` back with
//! `[...str].slice(0, k).join("").length`. Insert strings themselves are
//! ordinary JSON strings and need no conversion.
//!
//! # JSON form
//!
//! Exactly ot.js's `toJSON` form: an array where a positive integer is a
//! retain, a string is an insert and a negative integer is a delete, e.g.
//! `[5, "abc", -2]`. Deserializing rejects zero, empty strings, non-integer
//! numbers and every other JSON type with a serde error. Non-normalised input
//! (e.g. `[1, 1]` or `[-2, "a"]`) is accepted and normalised, as ot.js's
//! `fromJSON` does.
//!
//! # Normal form
//!
//! Operations built through the builder methods ([`TextOperation::retain`],
//! [`TextOperation::insert`], [`TextOperation::delete`]) are always
//! normalised: no empty components, adjacent components of the same kind are
//! merged, and an insert adjacent to a delete is placed before it.
//!
//! # Transform tie-break
//!
//! [`TextOperation::transform`]`(a, b)` treats `a` as the server's (earlier,
//! already sequenced) operation and `b` as the concurrent client operation:
//! when both insert at the same position, `a`'s text ends up first. Server and
//! clients must both call it with the server's operation as `a`.

mod json;

/// Errors produced by operational-transform functions.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OtError {
    /// The operation's base length does not match the text it was applied to.
    #[error("operation base length {expected} does not match text length {actual} (code points)")]
    BaseLengthMismatch {
        /// Base length of the operation.
        expected: usize,
        /// Length of the text, in code points.
        actual: usize,
    },
    /// `compose(a, b)` requires `a.target_len() == b.base_len()`.
    #[error(
        "cannot compose: first operation's target length {first_target_len} differs from \
         second operation's base length {second_base_len}"
    )]
    ComposeLengthMismatch {
        /// Target length of the first operation.
        first_target_len: usize,
        /// Base length of the second operation.
        second_base_len: usize,
    },
    /// `transform(a, b)` requires both operations to have the same base length.
    #[error(
        "cannot transform: operations have different base lengths ({a_base_len} vs {b_base_len})"
    )]
    TransformLengthMismatch {
        /// Base length of the first operation.
        a_base_len: usize,
        /// Base length of the second operation.
        b_base_len: usize,
    },
    /// The operation's components are inconsistent with its recorded lengths.
    #[error("malformed operation: {0}")]
    Malformed(&'static str),
}

/// One component of a [`TextOperation`]; lengths are in code points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    /// Keep the next `n` code points.
    Retain(usize),
    /// Insert this text at the current position.
    Insert(String),
    /// Remove the next `n` code points.
    Delete(usize),
}

/// A normalised text operation (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextOperation {
    ops: Vec<Component>,
    base_len: usize,
    target_len: usize,
}

/// Number of code points in `s`.
fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Byte offset reached by advancing `n` code points from byte offset `pos`
/// in `s`; `None` when fewer than `n` code points remain or `pos` is not a
/// char boundary.
fn advance_chars(s: &str, pos: usize, n: usize) -> Option<usize> {
    let rest = s.get(pos..)?;
    rest.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(rest.len()))
        .nth(n)
        .map(|i| pos + i)
}

/// Splits `s` after `n` code points (the whole string if it is shorter).
fn split_chars(s: &str, n: usize) -> (&str, &str) {
    match s.char_indices().nth(n) {
        Some((i, _)) => s.split_at_checked(i).unwrap_or((s, "")),
        None => (s, ""),
    }
}

/// Returns the remainder of a counted component after consuming `used` of its
/// `n`, or the next component of `it` when it is used up.
fn rest_or_next<I: Iterator<Item = Component>>(
    n: usize,
    used: usize,
    make: fn(usize) -> Component,
    it: &mut I,
) -> Option<Component> {
    if n > used {
        Some(make(n - used))
    } else {
        it.next()
    }
}

/// Returns the remainder of an insert after its first `used` code points, or
/// the next component of `it` when it is used up.
fn rest_insert_or_next<I: Iterator<Item = Component>>(rest: &str, it: &mut I) -> Option<Component> {
    if rest.is_empty() {
        it.next()
    } else {
        Some(Component::Insert(rest.to_owned()))
    }
}

impl TextOperation {
    /// Creates an empty operation (base and target length 0).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a normalised operation from arbitrary components.
    pub fn from_components<I: IntoIterator<Item = Component>>(components: I) -> Self {
        let mut op = Self::new();
        for c in components {
            op.push(c);
        }
        op
    }

    /// Appends any component, normalising.
    fn push(&mut self, c: Component) -> &mut Self {
        match c {
            Component::Retain(n) => self.retain(n),
            Component::Insert(s) => self.insert(&s),
            Component::Delete(n) => self.delete(n),
        }
    }

    /// Appends a retain of `n` code points (ignored when `n == 0`).
    pub fn retain(&mut self, n: usize) -> &mut Self {
        if n == 0 {
            return self;
        }
        self.base_len = self.base_len.saturating_add(n);
        self.target_len = self.target_len.saturating_add(n);
        if let Some(Component::Retain(last)) = self.ops.last_mut() {
            *last = last.saturating_add(n);
        } else {
            self.ops.push(Component::Retain(n));
        }
        self
    }

    /// Appends an insert of `s` (ignored when empty); an insert directly after
    /// a delete is placed before it.
    pub fn insert(&mut self, s: &str) -> &mut Self {
        if s.is_empty() {
            return self;
        }
        self.target_len = self.target_len.saturating_add(char_len(s));
        let len = self.ops.len();
        match self.ops.as_mut_slice() {
            [.., Component::Insert(last)] => last.push_str(s),
            [.., Component::Insert(prev), Component::Delete(_)] => prev.push_str(s),
            [.., Component::Delete(_)] => {
                // Keep inserts before deletes: insert in front of the trailing delete.
                self.ops
                    .insert(len.saturating_sub(1), Component::Insert(s.to_owned()));
            }
            _ => self.ops.push(Component::Insert(s.to_owned())),
        }
        self
    }

    /// Appends a delete of `n` code points (ignored when `n == 0`).
    pub fn delete(&mut self, n: usize) -> &mut Self {
        if n == 0 {
            return self;
        }
        self.base_len = self.base_len.saturating_add(n);
        if let Some(Component::Delete(last)) = self.ops.last_mut() {
            *last = last.saturating_add(n);
        } else {
            self.ops.push(Component::Delete(n));
        }
        self
    }

    /// The normalised components of this operation.
    #[must_use]
    pub fn components(&self) -> &[Component] {
        &self.ops
    }

    /// Length (in code points) of the text this operation applies to.
    #[must_use]
    pub fn base_len(&self) -> usize {
        self.base_len
    }

    /// Length (in code points) of the text after applying this operation.
    #[must_use]
    pub fn target_len(&self) -> usize {
        self.target_len
    }

    /// True when applying the operation leaves every text unchanged
    /// (no components, or a single retain).
    #[must_use]
    pub fn is_noop(&self) -> bool {
        matches!(self.ops.as_slice(), [] | [Component::Retain(_)])
    }

    /// Walks `s` once, checking that the operation fits it, and calls
    /// `splice(start, end, text)` for each insert (`start == end`) and
    /// delete (`text` empty), in order, with byte offsets in `s`. The errors
    /// are [`apply`](Self::apply)'s; on an error some splices may have been
    /// reported, so callers change nothing until it returns `Ok`.
    fn splices<'a>(
        &'a self,
        s: &str,
        mut splice: impl FnMut(usize, usize, &'a str),
    ) -> Result<(), OtError> {
        let actual = char_len(s);
        if actual != self.base_len {
            return Err(OtError::BaseLengthMismatch {
                expected: self.base_len,
                actual,
            });
        }
        let mut pos = 0usize;
        for c in &self.ops {
            match c {
                Component::Retain(n) => {
                    pos = advance_chars(s, pos, *n)
                        .ok_or(OtError::Malformed("retain past end of text"))?;
                }
                Component::Insert(t) => splice(pos, pos, t),
                Component::Delete(n) => {
                    let end = advance_chars(s, pos, *n)
                        .ok_or(OtError::Malformed("delete past end of text"))?;
                    splice(pos, end, "");
                    pos = end;
                }
            }
        }
        if pos != s.len() {
            return Err(OtError::Malformed(
                "operation does not cover the whole text",
            ));
        }
        Ok(())
    }

    /// Applies the operation to `s`, returning the new text.
    ///
    /// Fails with [`OtError::BaseLengthMismatch`] when `s` does not have
    /// exactly [`base_len`](Self::base_len) code points.
    ///
    /// # Errors
    ///
    /// [`OtError::BaseLengthMismatch`] on a length mismatch;
    /// [`OtError::Malformed`] if the operation is internally inconsistent.
    pub fn apply(&self, s: &str) -> Result<String, OtError> {
        // Room for the inserts too: no reallocation (and copy) midway.
        let inserted: usize = self
            .ops
            .iter()
            .map(|c| match c {
                Component::Insert(t) => t.len(),
                _ => 0,
            })
            .sum();
        let mut out = String::with_capacity(s.len() + inserted);
        let mut copied = 0usize;
        self.splices(s, |start, end, text| {
            out.push_str(s.get(copied..start).unwrap_or_default());
            out.push_str(text);
            copied = end;
        })?;
        out.push_str(s.get(copied..).unwrap_or_default());
        Ok(out)
    }

    /// Applies the operation to `s` in place, with the same result and errors
    /// as [`apply`](Self::apply); `s` is unchanged when it fails.
    ///
    /// The usual edit (retain, insert or delete, retain) is spliced into the
    /// text where it stands, so the document is neither copied nor
    /// reallocated unless it outgrows its capacity. An operation with more
    /// than a few inserts and deletes is applied by [`apply`](Self::apply)
    /// (each splice moves the rest of the text once).
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply).
    pub fn apply_in_place(&self, s: &mut String) -> Result<(), OtError> {
        /// Splices above this are one copy of the text instead.
        const MAX_SPLICES: usize = 4;
        let splices = self
            .ops
            .iter()
            .filter(|c| !matches!(c, Component::Retain(_)))
            .count();
        if splices > MAX_SPLICES {
            *s = self.apply(s)?;
            return Ok(());
        }
        // Every byte range, in the old text, checked before anything
        // changes; then the splices from the last to the first, so the
        // ranges still ahead stay where they were.
        let mut ranges = [(0usize, 0usize, ""); MAX_SPLICES];
        let mut n = 0;
        self.splices(s, |start, end, text| {
            if let Some(range) = ranges.get_mut(n) {
                *range = (start, end, text);
            }
            n += 1;
        })?;
        for &(start, end, text) in ranges.iter().take(n).rev() {
            s.replace_range(start..end, text);
        }
        Ok(())
    }

    /// Composes `self` followed by `other` into one operation with the same
    /// effect: `apply(compose(a, b), s) == apply(b, apply(a, s))`.
    ///
    /// Requires `self.target_len() == other.base_len()`.
    ///
    /// # Errors
    ///
    /// [`OtError::ComposeLengthMismatch`] when the lengths do not line up.
    pub fn compose(&self, other: &TextOperation) -> Result<TextOperation, OtError> {
        if self.target_len != other.base_len {
            return Err(OtError::ComposeLengthMismatch {
                first_target_len: self.target_len,
                second_base_len: other.base_len,
            });
        }
        let mut out = TextOperation::new();
        let mut it1 = self.ops.iter().cloned();
        let mut it2 = other.ops.iter().cloned();
        let mut op1 = it1.next();
        let mut op2 = it2.next();
        loop {
            match (op1.take(), op2.take()) {
                (None, None) => break,
                (Some(Component::Delete(n)), o2) => {
                    out.delete(n);
                    op1 = it1.next();
                    op2 = o2;
                }
                (o1, Some(Component::Insert(s))) => {
                    out.insert(&s);
                    op1 = o1;
                    op2 = it2.next();
                }
                (None, Some(_)) => {
                    return Err(OtError::Malformed("compose: first operation is too short"))
                }
                (Some(_), None) => {
                    return Err(OtError::Malformed("compose: first operation is too long"))
                }
                (Some(Component::Retain(n1)), Some(Component::Retain(n2))) => {
                    let m = n1.min(n2);
                    out.retain(m);
                    op1 = rest_or_next(n1, m, Component::Retain, &mut it1);
                    op2 = rest_or_next(n2, m, Component::Retain, &mut it2);
                }
                (Some(Component::Insert(s)), Some(Component::Delete(n2))) => {
                    // The second operation deletes (part of) what the first inserted.
                    let (_, rest) = split_chars(&s, n2);
                    let m = char_len(&s).min(n2);
                    op1 = rest_insert_or_next(rest, &mut it1);
                    op2 = rest_or_next(n2, m, Component::Delete, &mut it2);
                }
                (Some(Component::Insert(s)), Some(Component::Retain(n2))) => {
                    let (head, rest) = split_chars(&s, n2);
                    let m = char_len(head);
                    out.insert(head);
                    op1 = rest_insert_or_next(rest, &mut it1);
                    op2 = rest_or_next(n2, m, Component::Retain, &mut it2);
                }
                (Some(Component::Retain(n1)), Some(Component::Delete(n2))) => {
                    let m = n1.min(n2);
                    out.delete(m);
                    op1 = rest_or_next(n1, m, Component::Retain, &mut it1);
                    op2 = rest_or_next(n2, m, Component::Delete, &mut it2);
                }
            }
        }
        Ok(out)
    }

    /// Transforms two concurrent operations `a` and `b` (same base length)
    /// into `(a', b')` such that `apply(apply(s, a), b') == apply(apply(s, b), a')`.
    ///
    /// `a` is the server's (earlier, already sequenced) operation and `b` the
    /// concurrent client operation: when both insert at the same position,
    /// `a`'s insert ends up first (ot.js's tie-break for its first argument).
    ///
    /// # Errors
    ///
    /// [`OtError::TransformLengthMismatch`] when the base lengths differ.
    pub fn transform(
        a: &TextOperation,
        b: &TextOperation,
    ) -> Result<(TextOperation, TextOperation), OtError> {
        if a.base_len != b.base_len {
            return Err(OtError::TransformLengthMismatch {
                a_base_len: a.base_len,
                b_base_len: b.base_len,
            });
        }
        let mut a1 = TextOperation::new();
        let mut b1 = TextOperation::new();
        let mut it1 = a.ops.iter().cloned();
        let mut it2 = b.ops.iter().cloned();
        let mut op1 = it1.next();
        let mut op2 = it2.next();
        loop {
            match (op1.take(), op2.take()) {
                (None, None) => break,
                (Some(Component::Insert(s)), o2) => {
                    a1.insert(&s);
                    b1.retain(char_len(&s));
                    op1 = it1.next();
                    op2 = o2;
                }
                (o1, Some(Component::Insert(s))) => {
                    a1.retain(char_len(&s));
                    b1.insert(&s);
                    op1 = o1;
                    op2 = it2.next();
                }
                (None, Some(_)) => {
                    return Err(OtError::Malformed(
                        "transform: first operation is too short",
                    ))
                }
                (Some(_), None) => {
                    return Err(OtError::Malformed("transform: first operation is too long"))
                }
                (Some(Component::Retain(n1)), Some(Component::Retain(n2))) => {
                    let m = n1.min(n2);
                    a1.retain(m);
                    b1.retain(m);
                    op1 = rest_or_next(n1, m, Component::Retain, &mut it1);
                    op2 = rest_or_next(n2, m, Component::Retain, &mut it2);
                }
                (Some(Component::Delete(n1)), Some(Component::Delete(n2))) => {
                    // Both delete the same text: nothing left to do for either.
                    let m = n1.min(n2);
                    op1 = rest_or_next(n1, m, Component::Delete, &mut it1);
                    op2 = rest_or_next(n2, m, Component::Delete, &mut it2);
                }
                (Some(Component::Delete(n1)), Some(Component::Retain(n2))) => {
                    let m = n1.min(n2);
                    a1.delete(m);
                    op1 = rest_or_next(n1, m, Component::Delete, &mut it1);
                    op2 = rest_or_next(n2, m, Component::Retain, &mut it2);
                }
                (Some(Component::Retain(n1)), Some(Component::Delete(n2))) => {
                    let m = n1.min(n2);
                    b1.delete(m);
                    op1 = rest_or_next(n1, m, Component::Retain, &mut it1);
                    op2 = rest_or_next(n2, m, Component::Delete, &mut it2);
                }
            }
        }
        Ok((a1, b1))
    }

    /// Returns the operation that undoes `self`, given the text `s` that
    /// `self` was applied to: `apply(apply(s, a), a.invert(s)) == s`.
    ///
    /// # Errors
    ///
    /// [`OtError::BaseLengthMismatch`] when `s` is not the operation's base text length.
    pub fn invert(&self, s: &str) -> Result<TextOperation, OtError> {
        let actual = char_len(s);
        if actual != self.base_len {
            return Err(OtError::BaseLengthMismatch {
                expected: self.base_len,
                actual,
            });
        }
        let mut inv = TextOperation::new();
        let mut pos = 0usize;
        for c in &self.ops {
            match c {
                Component::Retain(n) => {
                    inv.retain(*n);
                    pos = advance_chars(s, pos, *n)
                        .ok_or(OtError::Malformed("retain past end of text"))?;
                }
                Component::Insert(t) => {
                    inv.delete(char_len(t));
                }
                Component::Delete(n) => {
                    let end = advance_chars(s, pos, *n)
                        .ok_or(OtError::Malformed("delete past end of text"))?;
                    inv.insert(s.get(pos..end).unwrap_or_default());
                    pos = end;
                }
            }
        }
        Ok(inv)
    }

    /// Moves a cursor position (in code points, in the text before `self`)
    /// through this operation, as ot.js's `Selection.transform` does.
    ///
    /// Text inserted exactly at the cursor pushes it right; a cursor inside
    /// deleted text moves to the start of the deletion. An `index` past the
    /// end is clamped to [`base_len`](Self::base_len), so the result is
    /// always `<= target_len()`.
    #[must_use]
    pub fn transform_index(&self, index: usize) -> usize {
        let index = index.min(self.base_len);
        let mut remaining = index;
        let mut new_index = index;
        for c in &self.ops {
            match c {
                Component::Retain(n) => {
                    if *n > remaining {
                        break;
                    }
                    remaining -= n;
                }
                Component::Insert(t) => {
                    new_index = new_index.saturating_add(char_len(t));
                }
                Component::Delete(n) => {
                    new_index = new_index.saturating_sub(remaining.min(*n));
                    if *n > remaining {
                        break;
                    }
                    remaining -= n;
                }
            }
        }
        new_index.min(self.target_len)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    /// Characters used for random texts: ASCII plus multi-byte code points.
    const CHARS: &[char] = &[
        'a', 'b', 'c', ' ', '\n', 'é', 'ü', 'ß', 'ж', '中', '文', '😀', '🎉', '\u{301}',
    ];

    fn arb_string(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(CHARS), 0..max)
            .prop_map(|v| v.into_iter().collect())
    }

    /// A random plan of edits, turned into an operation for a given length.
    type Plan = Vec<(u8, usize, String)>;

    fn arb_plan() -> impl Strategy<Value = Plan> {
        prop::collection::vec((0u8..3, 1usize..6, arb_string(4)), 0..8)
    }

    fn op_from_plan(plan: &Plan, len: usize) -> TextOperation {
        let mut op = TextOperation::new();
        let mut remaining = len;
        for (kind, n, s) in plan {
            match kind {
                0 => {
                    let k = (*n).min(remaining);
                    op.retain(k);
                    remaining -= k;
                }
                1 => {
                    let k = (*n).min(remaining);
                    op.delete(k);
                    remaining -= k;
                }
                _ => {
                    op.insert(s);
                }
            }
        }
        op.retain(remaining);
        op
    }

    fn assert_normalised(op: &TextOperation) {
        let ops = op.components();
        for c in ops {
            match c {
                Component::Retain(n) | Component::Delete(n) => assert!(*n > 0),
                Component::Insert(s) => assert!(!s.is_empty()),
            }
        }
        for w in ops.windows(2) {
            let same = std::mem::discriminant(&w[0]) == std::mem::discriminant(&w[1]);
            assert!(!same, "adjacent same-kind components in {ops:?}");
            assert!(
                !matches!((&w[0], &w[1]), (Component::Delete(_), Component::Insert(_))),
                "delete before insert in {ops:?}"
            );
        }
        let base: usize = ops
            .iter()
            .map(|c| match c {
                Component::Retain(n) | Component::Delete(n) => *n,
                Component::Insert(_) => 0,
            })
            .sum();
        let target: usize = ops
            .iter()
            .map(|c| match c {
                Component::Retain(n) => *n,
                Component::Insert(s) => s.chars().count(),
                Component::Delete(_) => 0,
            })
            .sum();
        assert_eq!(op.base_len(), base);
        assert_eq!(op.target_len(), target);
    }

    #[test]
    fn json_round_trip() {
        let op: TextOperation = serde_json::from_str(r#"[5,"abc",-2]"#).unwrap();
        assert_eq!(
            op.components(),
            &[
                Component::Retain(5),
                Component::Insert("abc".into()),
                Component::Delete(2)
            ]
        );
        assert_eq!(op.base_len(), 7);
        assert_eq!(op.target_len(), 8);
        assert_eq!(serde_json::to_string(&op).unwrap(), r#"[5,"abc",-2]"#);
        let empty: TextOperation = serde_json::from_str("[]").unwrap();
        assert!(empty.is_noop());
        assert_eq!(serde_json::to_string(&empty).unwrap(), "[]");
    }

    #[test]
    fn json_normalises_like_ot_js() {
        let op: TextOperation = serde_json::from_str(r#"[1,2,-2,"a","b",-1,3]"#).unwrap();
        assert_eq!(serde_json::to_string(&op).unwrap(), r#"[3,"ab",-3,3]"#);
    }

    #[test]
    fn json_rejects_bad_components() {
        for bad in [
            "[0]",
            "[1.5]",
            "[1.0]",
            "[-0.5]",
            "[true]",
            "[null]",
            "[{}]",
            "[[1]]",
            r#"[""]"#,
            "[1e300]",
            "[18446744073709551616]",
            "{}",
            "5",
            r#""abc""#,
            "null",
        ] {
            let res = serde_json::from_str::<TextOperation>(bad);
            let err = res.expect_err(bad).to_string();
            assert!(!err.is_empty(), "{bad}");
        }
        let err = serde_json::from_str::<TextOperation>("[0]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid value: integer `0`"), "{err}");
        let err = serde_json::from_str::<TextOperation>("[true]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("positive integer (retain)"), "{err}");
        let err = serde_json::from_str::<TextOperation>("[1.5]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("floating point"), "{err}");
    }

    #[test]
    fn json_rejects_length_overflow() {
        let json = format!("[{},{}]", u64::MAX, u64::MAX);
        let err = serde_json::from_str::<TextOperation>(&json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("overflows"), "{err}");
    }

    #[test]
    fn apply_counts_code_points() {
        // "héllo 😀 wörld": é, 😀 and ö are multi-byte in UTF-8; 😀 is 2 UTF-16 units.
        let s = "héllo 😀 wörld";
        assert_eq!(s.chars().count(), 13);
        let mut op = TextOperation::new();
        op.retain(6)
            .delete(1)
            .insert("🎉🎉")
            .retain(2)
            .insert("ç")
            .delete(1)
            .retain(3);
        assert_eq!(op.base_len(), 13);
        assert_eq!(op.apply(s).unwrap(), "héllo 🎉🎉 wçrld");
        let inv = op.invert(s).unwrap();
        assert_eq!(inv.apply("héllo 🎉🎉 wçrld").unwrap(), s);
    }

    #[test]
    fn apply_base_length_mismatch() {
        let op: TextOperation = serde_json::from_str(r#"[3,"x"]"#).unwrap();
        assert_eq!(
            op.apply("ab"),
            Err(OtError::BaseLengthMismatch {
                expected: 3,
                actual: 2
            })
        );
        // Three bytes but one code point.
        assert_eq!(
            op.apply("中"),
            Err(OtError::BaseLengthMismatch {
                expected: 3,
                actual: 1
            })
        );
        assert!(op.invert("abcd").is_err());
        let msg = op.apply("ab").unwrap_err().to_string();
        assert!(msg.contains("base length 3"), "{msg}");
    }

    #[test]
    fn compose_and_transform_length_mismatch() {
        let a = TextOperation::from_components([Component::Retain(2)]);
        let b = TextOperation::from_components([Component::Retain(3)]);
        assert!(matches!(
            a.compose(&b),
            Err(OtError::ComposeLengthMismatch { .. })
        ));
        assert!(matches!(
            TextOperation::transform(&a, &b),
            Err(OtError::TransformLengthMismatch { .. })
        ));
    }

    #[test]
    fn transform_tie_break_first_operation_wins() {
        let mut a = TextOperation::new();
        a.retain(1).insert("A").retain(1);
        let mut b = TextOperation::new();
        b.retain(1).insert("B").retain(1);
        let (a2, b2) = TextOperation::transform(&a, &b).unwrap();
        let via_a = b2.apply(&a.apply("xy").unwrap()).unwrap();
        let via_b = a2.apply(&b.apply("xy").unwrap()).unwrap();
        assert_eq!(via_a, "xABy");
        assert_eq!(via_b, "xABy");
    }

    #[test]
    fn builder_puts_insert_before_delete() {
        let mut op = TextOperation::new();
        op.retain(1).delete(2).insert("é").delete(1).insert("x");
        assert_eq!(
            op.components(),
            &[
                Component::Retain(1),
                Component::Insert("éx".into()),
                Component::Delete(3)
            ]
        );
        assert_normalised(&op);
    }

    #[test]
    fn transform_index_examples() {
        let mut op = TextOperation::new();
        op.retain(2).insert("ab").retain(2).delete(3).retain(1);
        assert_eq!(op.transform_index(0), 0);
        assert_eq!(op.transform_index(1), 1);
        assert_eq!(op.transform_index(2), 4); // insert at the cursor pushes it right
        assert_eq!(op.transform_index(4), 6);
        assert_eq!(op.transform_index(5), 6); // inside the deletion
        assert_eq!(op.transform_index(7), 6);
        assert_eq!(op.transform_index(8), 7);
        assert_eq!(op.transform_index(1000), 7); // clamped
        assert!(TextOperation::new().is_noop());
        assert!(TextOperation::from_components([Component::Retain(4)]).is_noop());
        assert!(!op.is_noop());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn prop_json_round_trip(s in arb_string(12), plan in arb_plan()) {
            let op = op_from_plan(&plan, s.chars().count());
            assert_normalised(&op);
            let json = serde_json::to_string(&op).unwrap();
            let back: TextOperation = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, op);
        }

        #[test]
        fn prop_apply_in_place_matches_apply(s in arb_string(12), plan in arb_plan(), skew in 0usize..3) {
            // `skew` != 0 puts the text off the op's base length (an error both ways).
            let len = s.chars().count();
            let op = op_from_plan(&plan, len);
            let text: String = if skew == 0 { s.clone() } else { s.chars().take(len.saturating_sub(skew)).collect::<String>() + if skew == 2 { "éx" } else { "" } };
            let mut in_place = text.clone();
            match op.apply(&text) {
                Ok(out) => {
                    op.apply_in_place(&mut in_place).unwrap();
                    prop_assert_eq!(in_place, out);
                }
                Err(e) => {
                    prop_assert_eq!(op.apply_in_place(&mut in_place), Err(e));
                    prop_assert_eq!(in_place, text);
                }
            }
        }

        #[test]
        fn prop_transform_tp1(s in arb_string(12), pa in arb_plan(), pb in arb_plan()) {
            let len = s.chars().count();
            let a = op_from_plan(&pa, len);
            let b = op_from_plan(&pb, len);
            let (a2, b2) = TextOperation::transform(&a, &b).unwrap();
            assert_normalised(&a2);
            assert_normalised(&b2);
            let left = b2.apply(&a.apply(&s).unwrap()).unwrap();
            let right = a2.apply(&b.apply(&s).unwrap()).unwrap();
            prop_assert_eq!(left, right);
            // Composing either way gives the same operation.
            prop_assert_eq!(a.compose(&b2).unwrap(), b.compose(&a2).unwrap());
        }

        #[test]
        fn prop_compose_matches_sequential_apply(
            s in arb_string(12), pa in arb_plan(), pb in arb_plan()
        ) {
            let a = op_from_plan(&pa, s.chars().count());
            let b = op_from_plan(&pb, a.target_len());
            let ab = a.compose(&b).unwrap();
            assert_normalised(&ab);
            prop_assert_eq!(ab.apply(&s).unwrap(), b.apply(&a.apply(&s).unwrap()).unwrap());
        }

        #[test]
        fn prop_invert_round_trips(s in arb_string(12), pa in arb_plan()) {
            let a = op_from_plan(&pa, s.chars().count());
            let inv = a.invert(&s).unwrap();
            assert_normalised(&inv);
            prop_assert_eq!(inv.apply(&a.apply(&s).unwrap()).unwrap(), s.clone());
            prop_assert_eq!(a.compose(&inv).unwrap().apply(&s).unwrap(), s);
        }

        #[test]
        fn prop_transform_index_in_bounds(
            s in arb_string(12), pa in arb_plan(), extra in 0usize..4
        ) {
            let len = s.chars().count();
            let a = op_from_plan(&pa, len);
            let mut prev = 0;
            for i in 0..=len + extra {
                let j = a.transform_index(i);
                prop_assert!(j <= a.target_len());
                prop_assert!(j >= prev, "not monotone");
                prev = j;
            }
            prop_assert_eq!(a.transform_index(len), a.target_len());
        }

        #[test]
        fn prop_deserialize_never_panics(v in prop::collection::vec(
            prop_oneof![
                any::<i64>().prop_map(serde_json::Value::from),
                any::<u64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                arb_string(3).prop_map(serde_json::Value::from),
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
            ],
            0..6,
        )) {
            let json = serde_json::Value::Array(v).to_string();
            if let Ok(op) = serde_json::from_str::<TextOperation>(&json) {
                assert_normalised(&op);
                let _ = op.apply("abc");
                let _ = op.transform_index(2);
                let _ = TextOperation::transform(&op, &op);
                let _ = op.compose(&op);
            }
        }
    }
}
