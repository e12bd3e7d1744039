//! Pure socket-shell logic (no actix): reassembling fragmented WebSocket
//! messages with an incremental UTF-8 check, when a token expires, and when
//! the liveness timer fires next.

use std::time::Duration;

/// Whether a socket speaks text (the JSON protocol) or binary (y-websocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Text frames only.
    Text,
    /// Binary frames only.
    Binary,
}

/// Checks UTF-8 as bytes arrive, chunk by chunk. A code point split across
/// two chunks is carried over (at most 3 bytes); anything that can never
/// become valid fails at the chunk that shows it.
#[derive(Debug, Default, Clone)]
pub struct Utf8Stream {
    carry: [u8; 4],
    carried: usize,
}

/// The length of the code point a lead byte starts (0 if it cannot start one).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

impl Utf8Stream {
    /// Adds a chunk; false once the bytes so far cannot be valid UTF-8.
    pub fn feed(&mut self, mut chunk: &[u8]) -> bool {
        if self.carried > 0 {
            let want = sequence_len(self.carry[0]);
            let take = want.saturating_sub(self.carried).min(chunk.len());
            self.carry[self.carried..self.carried + take].copy_from_slice(&chunk[..take]);
            self.carried += take;
            chunk = &chunk[take..];
            match std::str::from_utf8(&self.carry[..self.carried]) {
                Ok(_) => self.carried = 0,
                // Still a valid beginning: wait for the next chunk.
                Err(e) if e.error_len().is_none() && self.carried < want => return true,
                Err(_) => return false,
            }
        }
        match std::str::from_utf8(chunk) {
            Ok(_) => true,
            Err(e) if e.error_len().is_none() => {
                let tail = &chunk[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carried = tail.len();
                true
            }
            Err(_) => false,
        }
    }

    /// True when the message ended on a complete code point.
    pub fn finish(&self) -> bool {
        self.carried == 0
    }
}

/// What a fragment completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled {
    /// More fragments to come (or a stray continuation, ignored).
    Pending,
    /// A complete text message.
    Text(String),
    /// A complete binary message.
    Binary(Vec<u8>),
    /// A complete message longer than the limit (its bytes were counted, not kept).
    TooLarge {
        /// Its full length in bytes.
        total: usize,
    },
    /// A message of the kind this socket does not take began.
    WrongKind,
    /// A text message is not valid UTF-8 (known as soon as a fragment shows it).
    InvalidUtf8,
}

/// A fragmented message being reassembled.
#[derive(Debug)]
struct Partial {
    buf: Vec<u8>,
    total: usize,
    utf8: Option<Utf8Stream>,
}

/// Reassembles continuation frames into messages, up to `max` bytes kept.
#[derive(Debug)]
pub struct Reassembler {
    kind: MessageKind,
    max: usize,
    partial: Option<Partial>,
}

/// One continuation frame, as the codec delivers it.
#[derive(Debug, Clone, Copy)]
pub enum Fragment<'a> {
    /// The first fragment of a text message.
    FirstText(&'a [u8]),
    /// The first fragment of a binary message.
    FirstBinary(&'a [u8]),
    /// A middle fragment.
    Continue(&'a [u8]),
    /// The last fragment.
    Last(&'a [u8]),
}

impl Reassembler {
    /// A reassembler for a socket of `kind` keeping at most `max` bytes.
    pub fn new(kind: MessageKind, max: usize) -> Self {
        Reassembler {
            kind,
            max,
            partial: None,
        }
    }

    /// Takes one fragment.
    pub fn push(&mut self, fragment: Fragment<'_>) -> Assembled {
        let (first, bytes, text) = match fragment {
            Fragment::FirstText(b) => (true, b, true),
            Fragment::FirstBinary(b) => (true, b, false),
            Fragment::Continue(b) | Fragment::Last(b) => (false, b, false),
        };
        if first {
            let mut utf8 = text.then(Utf8Stream::default);
            if utf8.as_mut().is_some_and(|u| !u.feed(bytes)) {
                self.partial = None;
                return Assembled::InvalidUtf8;
            }
            let wanted = if text {
                MessageKind::Text
            } else {
                MessageKind::Binary
            };
            if wanted != self.kind {
                self.partial = None;
                return Assembled::WrongKind;
            }
            let kept = if bytes.len() <= self.max { bytes } else { &[] };
            self.partial = Some(Partial {
                buf: kept.to_vec(),
                total: bytes.len(),
                utf8,
            });
            return Assembled::Pending;
        }
        let Some(partial) = self.partial.as_mut() else {
            return Assembled::Pending;
        };
        partial.total = partial.total.saturating_add(bytes.len());
        if partial.total <= self.max {
            partial.buf.extend_from_slice(bytes);
        }
        if let Some(utf8) = partial.utf8.as_mut() {
            if !utf8.feed(bytes) {
                self.partial = None;
                return Assembled::InvalidUtf8;
            }
        }
        if !matches!(fragment, Fragment::Last(_)) {
            return Assembled::Pending;
        }
        let Some(done) = self.partial.take() else {
            return Assembled::Pending;
        };
        if done.utf8.as_ref().is_some_and(|u| !u.finish()) {
            return Assembled::InvalidUtf8;
        }
        if done.total > self.max {
            return Assembled::TooLarge { total: done.total };
        }
        match done.utf8 {
            Some(_) => match String::from_utf8(done.buf) {
                Ok(text) => Assembled::Text(text),
                Err(_) => Assembled::InvalidUtf8,
            },
            None => Assembled::Binary(done.buf),
        }
    }
}

/// The longest the expiry timer waits before checking again (tokens may
/// claim a far `exp`; service keys never expire).
pub const MAX_EXPIRY_WAIT: Duration = Duration::from_secs(86_400);

/// How long until a token that expires at `expires_at` (seconds since the
/// epoch) stops being accepted, `leeway` seconds later; `None` when it
/// already has. The sum saturates, so a far `exp` never overflows.
pub fn expiry_wait(expires_at: i64, leeway_secs: u64, now_secs: i64) -> Option<Duration> {
    let leeway = i64::try_from(leeway_secs).unwrap_or(i64::MAX);
    let left = expires_at.saturating_add(leeway).saturating_sub(now_secs);
    if left <= 0 {
        return None;
    }
    Some(Duration::from_secs(left.unsigned_abs()).min(MAX_EXPIRY_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed_split(bytes: &[u8], cuts: &[usize]) -> bool {
        let mut s = Utf8Stream::default();
        let mut at = 0;
        for &c in cuts {
            let c = c.clamp(at, bytes.len());
            if !s.feed(&bytes[at..c]) {
                return false;
            }
            at = c;
        }
        s.feed(&bytes[at..]) && s.finish()
    }

    #[test]
    fn a_code_point_split_across_fragments_is_valid() {
        let text = "héllo 😀 wörld".as_bytes();
        for cut in 0..=text.len() {
            assert!(feed_split(text, &[cut]), "cut at {cut}");
        }
        // Four fragments of one byte each for the emoji.
        let emoji = "😀".as_bytes();
        assert!(feed_split(emoji, &[1, 2, 3]));
    }

    #[test]
    fn invalid_bytes_fail_at_the_fragment_that_shows_them() {
        let mut s = Utf8Stream::default();
        assert!(s.feed(b"ok "));
        assert!(!s.feed(&[0xFF]));
        // A lead byte followed by a non-continuation byte in the next chunk.
        let mut s = Utf8Stream::default();
        assert!(s.feed(&[b'a', 0xE2]));
        assert!(!s.feed(b"x"));
        // A surrogate (ED A0 80) is never valid.
        let mut s = Utf8Stream::default();
        assert!(!s.feed(&[0xED, 0xA0]) || !s.feed(&[0x80]));
        // A truncated code point at the end.
        let mut s = Utf8Stream::default();
        assert!(s.feed(&[0xF0, 0x9F]));
        assert!(!s.finish());
    }

    proptest! {
        #[test]
        fn matches_std_for_any_split(bytes in proptest::collection::vec(any::<u8>(), 0..40),
                                     cuts in proptest::collection::vec(0usize..40, 0..5)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert_eq!(feed_split(&bytes, &cuts), std::str::from_utf8(&bytes).is_ok());
        }
    }

    #[test]
    fn reassembles_text_and_refuses_the_wrong_kind() {
        let mut r = Reassembler::new(MessageKind::Text, 100);
        assert_eq!(
            r.push(Fragment::FirstText("h".as_bytes())),
            Assembled::Pending
        );
        assert_eq!(r.push(Fragment::Continue(&[0xC3])), Assembled::Pending);
        assert_eq!(
            r.push(Fragment::Last(&[0xA9])),
            Assembled::Text("hé".into())
        );
        assert_eq!(r.push(Fragment::FirstBinary(b"x")), Assembled::WrongKind);
        // The refused message's continuations are ignored.
        assert_eq!(r.push(Fragment::Last(b"y")), Assembled::Pending);
        let mut b = Reassembler::new(MessageKind::Binary, 100);
        assert_eq!(b.push(Fragment::FirstText(b"{")), Assembled::WrongKind);
        assert_eq!(b.push(Fragment::FirstText(&[0xFF])), Assembled::InvalidUtf8);
        assert_eq!(b.push(Fragment::FirstBinary(&[0xFF])), Assembled::Pending);
        assert_eq!(
            b.push(Fragment::Last(&[1])),
            Assembled::Binary(vec![0xFF, 1])
        );
    }

    #[test]
    fn invalid_utf8_is_reported_before_the_last_fragment() {
        let mut r = Reassembler::new(MessageKind::Text, 100);
        assert_eq!(r.push(Fragment::FirstText(b"ab")), Assembled::Pending);
        assert_eq!(r.push(Fragment::Continue(&[0xFF])), Assembled::InvalidUtf8);
        // Even past the size limit (bytes are no longer kept but still checked).
        let mut r = Reassembler::new(MessageKind::Text, 2);
        assert_eq!(r.push(Fragment::FirstText(b"abc")), Assembled::Pending);
        assert_eq!(r.push(Fragment::Continue(&[0xC0])), Assembled::InvalidUtf8);
    }

    #[test]
    fn oversized_messages_are_counted_not_kept() {
        let mut r = Reassembler::new(MessageKind::Binary, 4);
        assert_eq!(r.push(Fragment::FirstBinary(b"abc")), Assembled::Pending);
        assert_eq!(r.push(Fragment::Continue(b"def")), Assembled::Pending);
        assert_eq!(
            r.push(Fragment::Last(b"g")),
            Assembled::TooLarge { total: 7 }
        );
    }

    #[test]
    fn expiry_saturates_and_is_capped() {
        assert_eq!(expiry_wait(100, 5, 110), None);
        assert_eq!(expiry_wait(100, 5, 105), None);
        assert_eq!(expiry_wait(100, 5, 104), Some(Duration::from_secs(1)));
        // `exp + leeway` past i64::MAX does not overflow.
        assert_eq!(expiry_wait(i64::MAX, u64::MAX, 0), Some(MAX_EXPIRY_WAIT));
        assert_eq!(expiry_wait(i64::MIN, 0, 0), None);
    }
}
