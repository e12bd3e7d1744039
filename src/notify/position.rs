//! A reader's position in the two resumable streams (pure).
//!
//! Server-Sent Events carry one `Last-Event-ID`, but a stream interleaves
//! notifications and activity, whose ids come from two sequences. Every
//! event id therefore names both: `n-<notification id>.a-<activity id>`,
//! the latest of each the reader has been sent. Resuming with that id
//! replays exactly what came after it in each stream.

use std::fmt;

/// Where a reader is in each stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamPosition {
    /// Last notification id seen, if known.
    pub notification: Option<i64>,
    /// Last activity id seen, if known.
    pub activity: Option<i64>,
}

impl StreamPosition {
    /// Both parts known.
    pub fn at(notification: i64, activity: i64) -> Self {
        StreamPosition {
            notification: Some(notification),
            activity: Some(activity),
        }
    }

    /// Parses `n-12.a-40`, `n-12`, `a-40` or `a-40.n-12`; an empty string
    /// is the unknown position. Ids must be non-negative integers.
    pub fn parse(text: &str) -> Result<StreamPosition, String> {
        let text = text.trim();
        let mut pos = StreamPosition::default();
        if text.is_empty() {
            return Ok(pos);
        }
        if text.len() > 64 {
            return Err("event id too long".into());
        }
        for part in text.split('.') {
            let (slot, digits) = if let Some(d) = part.strip_prefix("n-") {
                (&mut pos.notification, d)
            } else if let Some(d) = part.strip_prefix("a-") {
                (&mut pos.activity, d)
            } else {
                return Err(format!(
                    "`{part}`: expected n-<id> or a-<id> (event ids look like n-12.a-40)"
                ));
            };
            if slot.is_some() {
                return Err(format!("`{part}` given twice"));
            }
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("`{part}`: the id must be a non-negative integer"));
            }
            *slot = Some(
                digits
                    .parse::<i64>()
                    .map_err(|_| format!("`{part}`: id out of range"))?,
            );
        }
        Ok(pos)
    }
}

impl fmt::Display for StreamPosition {
    /// `n-12.a-40` (unknown parts are left out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.notification, self.activity) {
            (Some(n), Some(a)) => write!(f, "n-{n}.a-{a}"),
            (Some(n), None) => write!(f, "n-{n}"),
            (None, Some(a)) => write!(f, "a-{a}"),
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        let p = StreamPosition::parse("n-12.a-40").unwrap();
        assert_eq!(p, StreamPosition::at(12, 40));
        assert_eq!(p.to_string(), "n-12.a-40");
        assert_eq!(
            StreamPosition::parse("a-40.n-12").unwrap(),
            StreamPosition::at(12, 40)
        );
        let n = StreamPosition::parse("n-7").unwrap();
        assert_eq!((n.notification, n.activity), (Some(7), None));
        assert_eq!(n.to_string(), "n-7");
        let a = StreamPosition::parse(" a-0 ").unwrap();
        assert_eq!((a.notification, a.activity), (None, Some(0)));
        assert_eq!(
            StreamPosition::parse("").unwrap(),
            StreamPosition::default()
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "12",
            "n-",
            "n--1",
            "n-1.n-2",
            "n-1.b-2",
            "n-1x",
            "n-99999999999999999999",
            "n-1.",
        ] {
            assert!(StreamPosition::parse(bad).is_err(), "{bad}");
        }
    }
}
