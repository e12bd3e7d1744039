//! [`Frame`]: a server message serialized once, with its kind and (for
//! notifications and activity) its id, so whoever forwards it (the broker,
//! the SSE stream) never parses the JSON back.

use super::server::ServerMessage;
use bytestring::ByteString;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A reply to one connection: `welcome`, `ack`, `error`, `heartbeat_ack`.
    Reply,
    /// `presence:*`.
    Presence,
    /// A room event: `room:*`, `cursor:*`, `typing:users`, `editing:users`.
    Room,
    /// A document event: `doc:*`.
    Doc,
    /// `notification`.
    Notification,
    /// `notification:count`.
    NotificationCount,
    /// `activity`.
    Activity,
    /// `system:message` (from the operators).
    System,
    /// Between the actors of a cluster's nodes (over `Topic::Roster` and
    /// `Topic::Room`): internal JSON that is never written to a socket
    /// (sockets drop it).
    Cluster,
}

/// A serialized server message. Cloning shares the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    kind: FrameKind,
    id: Option<i64>,
    text: ByteString,
    /// Where the notification or activity object sits in `text`.
    body: Option<(usize, usize)>,
}

impl Frame {
    /// An internal message between the nodes of a cluster
    /// ([`FrameKind::Cluster`]); never written to a socket.
    pub fn cluster(text: impl Into<ByteString>) -> Frame {
        Frame {
            kind: FrameKind::Cluster,
            id: None,
            text: text.into(),
            body: None,
        }
    }

    /// What the frame carries.
    pub fn kind(&self) -> FrameKind {
        self.kind
    }

    /// The notification's or activity entry's id.
    pub fn id(&self) -> Option<i64> {
        self.id
    }

    /// The JSON text sent on the wire.
    pub fn text(&self) -> &ByteString {
        &self.text
    }

    /// The JSON text, for writing to a socket.
    pub fn into_text(self) -> ByteString {
        self.text
    }

    /// For `notification` and `activity` frames, the JSON of the
    /// notification or activity object alone (a slice of the text).
    pub fn body(&self) -> Option<&str> {
        let (start, end) = self.body?;
        self.text.get(start..end)
    }

    /// Where [`Self::body`] sits in the text (byte offsets), to carry the
    /// frame to another node without parsing it there.
    pub fn body_range(&self) -> Option<(usize, usize)> {
        self.body
    }

    /// Rebuilds a frame carried from another node (its parts as
    /// [`Self::kind`], [`Self::id`], [`Self::text`] and [`Self::body_range`]
    /// gave them). A body range outside the text is dropped.
    pub fn from_parts(
        kind: FrameKind,
        id: Option<i64>,
        text: ByteString,
        body: Option<(usize, usize)>,
    ) -> Frame {
        let body = body.filter(|&(start, end)| text.get(start..end).is_some());
        Frame {
            kind,
            id,
            text,
            body,
        }
    }
}

impl FrameKind {
    /// Every kind, in [`Self::code`] order.
    pub const ALL: [FrameKind; 9] = [
        FrameKind::Reply,
        FrameKind::Presence,
        FrameKind::Room,
        FrameKind::Doc,
        FrameKind::Notification,
        FrameKind::NotificationCount,
        FrameKind::Activity,
        FrameKind::System,
        FrameKind::Cluster,
    ];

    /// A one-byte code for carrying the kind between nodes.
    pub fn code(self) -> u8 {
        match self {
            FrameKind::Reply => 0,
            FrameKind::Presence => 1,
            FrameKind::Room => 2,
            FrameKind::Doc => 3,
            FrameKind::Notification => 4,
            FrameKind::NotificationCount => 5,
            FrameKind::Activity => 6,
            FrameKind::System => 7,
            FrameKind::Cluster => 8,
        }
    }

    /// The kind of a [`Self::code`].
    pub fn from_code(code: u8) -> Option<FrameKind> {
        FrameKind::ALL.get(usize::from(code)).copied()
    }
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where the object under `key` sits, when it is the message's last field
/// (as serde writes `notification` and `activity`). Keys inside strings are
/// escaped (`\"`), so the first unescaped `"<key>":` is the field itself.
fn last_field(text: &str, key: &str) -> Option<(usize, usize)> {
    let pattern = format!("\"{key}\":");
    let start = text.find(&pattern)? + pattern.len();
    let end = text.len().checked_sub(1)?;
    let body = text.get(start..end)?;
    (body.starts_with('{') && body.ends_with('}') && text.ends_with('}')).then_some((start, end))
}

impl ServerMessage {
    /// Serializes to the frame sent on the wire, with its kind.
    pub fn to_frame(&self) -> Frame {
        let text: ByteString = match serde_json::to_string(self) {
            Ok(s) => s.into(),
            // Serialization of these types cannot fail (string keys only);
            // still, never panic on the send path.
            Err(e) => {
                return Frame {
                    kind: FrameKind::Reply,
                    id: None,
                    text: format!(
                        r#"{{"type":"error","ref":null,"code":"internal","message":"serialization failed: {e}"}}"#
                    )
                    .into(),
                    body: None,
                }
            }
        };
        let (kind, id, body) = match self {
            ServerMessage::Welcome { .. }
            | ServerMessage::Ack { .. }
            | ServerMessage::Error { .. }
            | ServerMessage::HeartbeatAck { .. } => (FrameKind::Reply, None, None),
            ServerMessage::PresenceList { .. }
            | ServerMessage::PresenceDiff { .. }
            | ServerMessage::PresenceViewers { .. } => (FrameKind::Presence, None, None),
            ServerMessage::RoomUsers { .. }
            | ServerMessage::RoomMembers { .. }
            | ServerMessage::RoomUserJoined { .. }
            | ServerMessage::RoomUsersJoined { .. }
            | ServerMessage::RoomUserLeft { .. }
            | ServerMessage::RoomUsersLeft { .. }
            | ServerMessage::RoomCount { .. }
            | ServerMessage::CursorSync { .. }
            | ServerMessage::CursorUpdate { .. }
            | ServerMessage::CursorRemove { .. }
            | ServerMessage::TypingUsers { .. }
            | ServerMessage::EditingUsers { .. }
            | ServerMessage::RoomBroadcast { .. } => (FrameKind::Room, None, None),
            ServerMessage::DocState { .. }
            | ServerMessage::DocOp { .. }
            | ServerMessage::DocField { .. }
            | ServerMessage::DocConflict { .. }
            | ServerMessage::DocLockStatus { .. } => (FrameKind::Doc, None, None),
            ServerMessage::Notification { notification, .. } => (
                FrameKind::Notification,
                Some(notification.id),
                last_field(&text, "notification"),
            ),
            ServerMessage::NotificationCount { .. } => (FrameKind::NotificationCount, None, None),
            ServerMessage::Activity { activity } => (
                FrameKind::Activity,
                Some(activity.id),
                last_field(&text, "activity"),
            ),
            ServerMessage::SystemMessage { .. } => (FrameKind::System, None, None),
        };
        Frame {
            kind,
            id,
            text,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::protocol::server::{ActivityView, NotificationView};
    use crate::protocol::Ref;

    fn notification(title: &str) -> NotificationView {
        NotificationView {
            id: 7,
            notification_type: "mention".into(),
            title: title.into(),
            message: None,
            priority: "normal".into(),
            source: None,
            action: None,
            is_read: false,
            read_at: None,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            expires_at: None,
        }
    }

    #[test]
    fn notification_frames_carry_kind_id_and_body() {
        // A title that looks like the key must not confuse the body slice.
        let n = notification(r#"see "notification":{"id":1}"#);
        for r#ref in [None, Some(Ref::Str(r#"x","notification":"#.into()))] {
            let frame = ServerMessage::Notification {
                r#ref,
                notification: n.clone(),
            }
            .to_frame();
            assert_eq!(frame.kind(), FrameKind::Notification);
            assert_eq!(frame.id(), Some(7));
            assert_eq!(
                frame.body(),
                Some(serde_json::to_string(&n).unwrap().as_str())
            );
        }
    }

    #[test]
    fn activity_frames_carry_their_body_even_with_nested_keys() {
        let a = ActivityView {
            id: 3,
            user_id: None,
            user_name: None,
            action: "created".into(),
            entity_type: "doc".into(),
            entity_id: "1".into(),
            entity_name: None,
            details: Some(serde_json::json!({"activity": {"id": 99}})),
            visibility: "team".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        let frame = ServerMessage::Activity {
            activity: a.clone(),
        }
        .to_frame();
        assert_eq!((frame.kind(), frame.id()), (FrameKind::Activity, Some(3)));
        assert_eq!(
            frame.body(),
            Some(serde_json::to_string(&a).unwrap().as_str())
        );
    }

    #[test]
    fn other_frames_have_no_id_or_body() {
        let frame = ServerMessage::NotificationCount {
            r#ref: None,
            unread: 2,
        }
        .to_frame();
        assert_eq!(frame.kind(), FrameKind::NotificationCount);
        assert_eq!((frame.id(), frame.body()), (None, None));
        assert_eq!(
            &frame.text()[..],
            r#"{"type":"notification:count","unread":2}"#
        );
    }
}
