//! A frame as it crosses Redis: the publishing node's id, the frame's kind,
//! id and body range, then its text, so the far side rebuilds the
//! [`Frame`] without parsing the JSON.
//!
//! Layout (one header line, then the text as is):
//! `1\t<node>\t<kind code>\t<id>\t<body start>\t<body end>\n<text>`,
//! empty fields for absent values.

use crate::protocol::{Frame, FrameKind};

/// Version of the layout (the first header field).
const VERSION: &str = "1";

/// Encodes `frame` as published by `node` (node ids have no tab or newline).
pub fn encode(node: &str, frame: &Frame) -> Vec<u8> {
    let text = frame.text();
    let id = frame.id().map(|i| i.to_string()).unwrap_or_default();
    let (start, end) = frame
        .body_range()
        .map(|(s, e)| (s.to_string(), e.to_string()))
        .unwrap_or_default();
    let header = format!(
        "{VERSION}\t{node}\t{}\t{id}\t{start}\t{end}\n",
        frame.kind().code()
    );
    let mut out = Vec::with_capacity(header.len() + text.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// A decoded envelope.
#[derive(Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The node that published it.
    pub node: String,
    /// The frame.
    pub frame: Frame,
}

/// Decodes an envelope; `None` for anything malformed (another version,
/// bad fields, text that is not UTF-8).
pub fn decode(bytes: &[u8]) -> Option<Envelope> {
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(bytes.get(..newline)?).ok()?;
    let text = std::str::from_utf8(bytes.get(newline + 1..)?).ok()?;
    let mut fields = header.split('\t');
    if fields.next()? != VERSION {
        return None;
    }
    let node = fields.next()?.to_owned();
    let kind = FrameKind::from_code(fields.next()?.parse().ok()?)?;
    let id = optional::<i64>(fields.next()?)?;
    let start = optional::<usize>(fields.next()?)?;
    let end = optional::<usize>(fields.next()?)?;
    if fields.next().is_some() {
        return None;
    }
    let body = start.zip(end);
    Some(Envelope {
        node,
        frame: Frame::from_parts(kind, id, text.to_owned().into(), body),
    })
}

/// An empty field is `Some(None)`; a bad one is `None`.
fn optional<T: std::str::FromStr>(field: &str) -> Option<Option<T>> {
    if field.is_empty() {
        Some(None)
    } else {
        field.parse().ok().map(Some)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::protocol::server::{NotificationView, ServerMessage};
    use proptest::prelude::*;

    fn notification(title: &str) -> Frame {
        ServerMessage::Notification {
            r#ref: None,
            notification: NotificationView {
                id: 42,
                notification_type: "mention".into(),
                title: title.into(),
                message: Some("line\nbreak\tand tab".into()),
                priority: "normal".into(),
                source: None,
                action: None,
                is_read: false,
                read_at: None,
                created_at: "2026-01-01T00:00:00.000Z".into(),
                expires_at: None,
            },
        }
        .to_frame()
    }

    #[test]
    fn a_notification_crosses_with_its_kind_id_and_body() {
        let frame = notification("héllo \"x\"");
        let env = decode(&encode("node-a", &frame)).unwrap();
        assert_eq!(env.node, "node-a");
        assert_eq!(env.frame, frame);
        assert_eq!(env.frame.body(), frame.body());
        assert!(env.frame.body().is_some());
    }

    #[test]
    fn a_frame_without_id_crosses() {
        let frame = ServerMessage::NotificationCount {
            r#ref: None,
            unread: 3,
        }
        .to_frame();
        let env = decode(&encode("n", &frame)).unwrap();
        assert_eq!(env.frame, frame);
        assert_eq!(env.frame.id(), None);
    }

    #[test]
    fn malformed_envelopes_are_refused() {
        let good = encode("n", &notification("t"));
        assert!(decode(b"").is_none());
        assert!(decode(b"no newline").is_none());
        assert!(decode(b"2\tn\t4\t\t\t\n{}").is_none());
        assert!(decode(b"1\tn\t99\t\t\t\n{}").is_none());
        assert!(decode(b"1\tn\t4\tx\t\t\n{}").is_none());
        assert!(decode(b"1\tn\t4\t\t\t\t\n{}").is_none());
        let mut bad_utf8 = good.clone();
        bad_utf8.push(0xff);
        assert!(decode(&bad_utf8).is_none());
        // A body range outside the text is dropped, the frame kept.
        let env = decode(b"1\tn\t4\t1\t5\t500\n{}").unwrap();
        assert_eq!(env.frame.body(), None);
    }

    proptest! {
        #[test]
        fn any_title_round_trips(title in ".*", node in "[a-z0-9]{1,32}") {
            let frame = notification(&title);
            let env = decode(&encode(&node, &frame)).unwrap();
            prop_assert_eq!(env.node, node);
            prop_assert_eq!(env.frame, frame);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
