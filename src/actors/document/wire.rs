//! What document sessions on different nodes say to each other over their
//! room's topic (`Topic::Room`), as [`FrameKind::Cluster`] JSON told apart
//! by its `"t"` field (pure: built and read here, carried by the rooms):
//! - `doc.req`: a forwarding session hands its member's request to the node
//!   holding the document's lease (`to`), with the member's node and
//!   connection and a forward id;
//! - `doc.reply`: the owner's reply to that member (or `gone`: the owner has
//!   no open session), addressed to (node, connection), carrying the id;
//! - `doc.out`: a frame the owner delivers to every member (`doc:op`,
//!   `doc:field`, `doc:lock_status`), with its author to skip and the text
//!   op stored cursors move with;
//! - `doc.ping`: a forwarding session checks that the owner's answers
//!   reach it before its first request (answered with a `doc.reply` with
//!   no frame);
//! - `doc.rest_lock` / `doc.rest_reply`: a REST lock call made on a
//!   forwarding node, and the owner's result;
//! - `doc.left`: a user has no connection left in a forwarding node's room
//!   (the owner releases their locks once no node has them);
//! - `doc.closed`: the owner's session stopped and gave its lease up.
//!
//! Every frame of one owner goes out on one Redis channel from one
//! publisher, so each member gets its reply and the broadcasts in the order
//! the owner sent them.

use super::{DocCommand, LockRefused};
use crate::collab::locks::LockMode;
use crate::collab::ot::TextOperation;
use crate::protocol::server::LockView;
use crate::protocol::{Frame, FrameKind, Ref};
use serde::{Deserialize, Serialize};

/// A member connection on another node, and the request it is owed a
/// reply for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteMember {
    /// The member's node.
    pub node: String,
    /// Its connection id on that node.
    pub connection: u64,
    /// The forward id of the request (echoed in the reply).
    pub id: u64,
}

/// `doc.req`: a member's request for the owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardedRequest {
    /// The node meant to serve it (the lease holder, as last seen).
    pub to: String,
    /// Who asks and where the reply goes.
    pub from: RemoteMember,
    /// The user.
    pub user: String,
    /// Their display name.
    pub name: String,
    /// The request's `ref`, exactly as the client wrote it (read back with
    /// [`crate::protocol::peek_ref`] from the whole text).
    #[serde(
        rename = "ref",
        skip_deserializing,
        skip_serializing_if = "Option::is_none"
    )]
    pub r#ref: Option<Ref>,
    /// What.
    pub command: DocCommand,
    /// `doc:edit` requests the connection had sent (cursor bookkeeping).
    pub sent_edits: u64,
}

/// `doc.reply`: the owner's answer to one forwarded request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardedReply {
    /// The member it answers.
    pub to: RemoteMember,
    /// The frame's kind ([`FrameKind::code`]) and text, or none for `gone`.
    pub frame: Option<(u8, String)>,
    /// The owner has no open session: the forwarder should take the lease.
    #[serde(default)]
    pub gone: bool,
}

/// A text op as it moves cursors on another node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireOp {
    /// The field.
    pub field: String,
    /// The op as applied.
    pub op: TextOperation,
    /// For a `doc:edit`: the author's node, connection and sent edits.
    pub author: Option<(String, u64, u64)>,
}

/// `doc.out`: a frame for every member on every node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembersFrame {
    /// The frame's kind ([`FrameKind::code`]) and text.
    pub frame: (u8, String),
    /// The author's (node, connection), skipped on its node.
    pub except: Option<(String, u64)>,
    /// The text op it carries, if any.
    pub applied: Option<WireOp>,
}

/// `doc.ping`: answered like a request, with no frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ping {
    /// The owner it is for.
    pub to: String,
    /// Where the answer goes (connection 0: the session itself).
    pub from: RemoteMember,
}

/// `doc.rest_lock`: a REST lock call for the owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestLockRequest {
    /// The owner it is for.
    pub to: String,
    /// Where the result goes (connection 0: the session itself).
    pub from: RemoteMember,
    /// The caller.
    pub user: String,
    /// Their name.
    pub name: String,
    /// Field or the entity.
    pub field: Option<String>,
    /// `Some((mode, ttl, reason))` to take, `None` to release.
    pub acquire: Option<(LockMode, Option<u64>, Option<String>)>,
}

/// `doc.rest_reply`: the owner's result for a `doc.rest_lock`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestLockReply {
    /// The request it answers.
    pub to: RemoteMember,
    /// The result.
    pub result: Result<Option<LockView>, LockRefused>,
}

/// `doc.left`: `user` has no connection left in `node`'s room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserLeftNode {
    /// The owner it is for.
    pub to: String,
    /// The forwarding node.
    pub node: String,
    /// The user.
    pub user: String,
}

/// `doc.closed`: the owner on `node` stopped and released the lease.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwnerClosed {
    /// The node.
    pub node: String,
}

/// A document message between nodes.
#[derive(Debug, Clone)]
pub enum DocWire {
    /// `doc.req`.
    Request(Box<ForwardedRequest>),
    /// `doc.reply`.
    Reply(ForwardedReply),
    /// `doc.out`.
    Members(MembersFrame),
    /// `doc.ping`.
    Ping(Ping),
    /// `doc.rest_lock`.
    RestLock(Box<RestLockRequest>),
    /// `doc.rest_reply`.
    RestReply(Box<RestLockReply>),
    /// `doc.left`.
    Left(UserLeftNode),
    /// `doc.closed`.
    Closed(OwnerClosed),
}

#[derive(Serialize)]
struct Tagged<'a, T> {
    t: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Deserialize)]
struct Tag {
    t: String,
}

fn tagged<T: Serialize>(t: &str, body: &T) -> Frame {
    let text = serde_json::to_string(&Tagged { t, body }).unwrap_or_default();
    Frame::cluster(text)
}

/// A frame's kind and text, to carry it.
pub fn carry(frame: &Frame) -> (u8, String) {
    (frame.kind().code(), frame.text().to_string())
}

/// The frame [`carry`] carried (`None` for an unknown kind).
pub fn rebuild((kind, text): (u8, String)) -> Option<Frame> {
    let kind = FrameKind::from_code(kind)?;
    // Never a cluster frame: only client frames are carried.
    (kind != FrameKind::Cluster).then(|| Frame::from_parts(kind, None, text.into(), None))
}

impl DocWire {
    /// The cluster frame that carries it.
    pub fn to_frame(&self) -> Frame {
        match self {
            DocWire::Request(r) => tagged("doc.req", r.as_ref()),
            DocWire::Reply(r) => tagged("doc.reply", r),
            DocWire::Members(m) => tagged("doc.out", m),
            DocWire::Ping(p) => tagged("doc.ping", p),
            DocWire::RestLock(r) => tagged("doc.rest_lock", r.as_ref()),
            DocWire::RestReply(r) => tagged("doc.rest_reply", r.as_ref()),
            DocWire::Left(l) => tagged("doc.left", l),
            DocWire::Closed(c) => tagged("doc.closed", c),
        }
    }

    /// Reads a cluster frame's text: `None` when it is not a document
    /// message (another `"t"`) or is malformed.
    pub fn parse(text: &str) -> Option<DocWire> {
        let tag: Tag = serde_json::from_str(text).ok()?;
        match tag.t.as_str() {
            "doc.req" => {
                let mut r: ForwardedRequest = serde_json::from_str(text).ok()?;
                r.r#ref = crate::protocol::peek_ref(text);
                Some(DocWire::Request(Box::new(r)))
            }
            "doc.reply" => serde_json::from_str(text).ok().map(DocWire::Reply),
            "doc.out" => serde_json::from_str(text).ok().map(DocWire::Members),
            "doc.ping" => serde_json::from_str(text).ok().map(DocWire::Ping),
            "doc.rest_lock" => serde_json::from_str(text)
                .ok()
                .map(|r| DocWire::RestLock(Box::new(r))),
            "doc.rest_reply" => serde_json::from_str(text)
                .ok()
                .map(|r| DocWire::RestReply(Box::new(r))),
            "doc.left" => serde_json::from_str(text).ok().map(DocWire::Left),
            "doc.closed" => serde_json::from_str(text).ok().map(DocWire::Closed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::protocol::ServerMessage;

    fn member() -> RemoteMember {
        RemoteMember {
            node: "b".into(),
            connection: 7,
            id: 3,
        }
    }

    fn round_trip(w: &DocWire) -> DocWire {
        let frame = w.to_frame();
        assert_eq!(frame.kind(), FrameKind::Cluster);
        DocWire::parse(frame.text()).expect("parses back")
    }

    #[test]
    fn a_request_keeps_its_command_and_its_ref_exactly() {
        let op: TextOperation = serde_json::from_str(r#"[3, "x", -1]"#).unwrap();
        // A numeric ref must come back as the client wrote it.
        let r#ref = crate::protocol::peek_ref(r#"{"ref": 1.50}"#);
        assert!(r#ref.is_some());
        let req = DocWire::Request(Box::new(ForwardedRequest {
            to: "a".into(),
            from: member(),
            user: "bob".into(),
            name: "Bob".into(),
            r#ref: r#ref.clone(),
            command: DocCommand::Edit {
                field: "body".into(),
                revision: 4,
                op: op.clone(),
                client_id: "c".into(),
                seq: 9,
            },
            sent_edits: 2,
        }));
        let DocWire::Request(back) = round_trip(&req) else {
            panic!("a request")
        };
        assert_eq!(back.r#ref, r#ref);
        assert_eq!(back.from, member());
        assert_eq!((back.to.as_str(), back.sent_edits), ("a", 2));
        match back.command {
            DocCommand::Edit {
                field,
                revision,
                op: back_op,
                client_id,
                seq,
            } => {
                assert_eq!((field.as_str(), revision, seq), ("body", 4, 9));
                assert_eq!((back_op, client_id.as_str()), (op, "c"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reply_and_a_members_frame_carry_the_client_frame_unchanged() {
        let frame = ServerMessage::error(None, crate::protocol::ErrorCode::Locked, "no").to_frame();
        let reply = DocWire::Reply(ForwardedReply {
            to: member(),
            frame: Some(carry(&frame)),
            gone: false,
        });
        let DocWire::Reply(back) = round_trip(&reply) else {
            panic!("a reply")
        };
        assert_eq!(back.to, member());
        assert!(!back.gone);
        assert_eq!(rebuild(back.frame.unwrap()), Some(frame.clone()));

        let out = DocWire::Members(MembersFrame {
            frame: carry(&frame),
            except: Some(("b".into(), 7)),
            applied: Some(WireOp {
                field: "body".into(),
                op: serde_json::from_str(r#"["hi"]"#).unwrap(),
                author: Some(("b".into(), 7, 1)),
            }),
        });
        let DocWire::Members(back) = round_trip(&out) else {
            panic!("a members frame")
        };
        assert_eq!(back.except, Some(("b".into(), 7)));
        assert_eq!(back.applied.unwrap().author, Some(("b".into(), 7, 1)));
        assert_eq!(rebuild(back.frame), Some(frame));
    }

    #[test]
    fn other_messages_and_garbage_are_not_document_messages() {
        assert!(DocWire::parse(r#"{"t": "room.join", "node": "a"}"#).is_none());
        assert!(DocWire::parse(r#"{"t": "doc.req", "to": 3}"#).is_none());
        assert!(DocWire::parse("not json").is_none());
        // A carried frame never becomes a cluster frame again.
        assert!(rebuild((FrameKind::Cluster.code(), "{}".into())).is_none());
        assert!(rebuild((200, "{}".into())).is_none());
        let closed = DocWire::Closed(OwnerClosed { node: "a".into() });
        assert!(matches!(round_trip(&closed), DocWire::Closed(c) if c.node == "a"));
        let ping = DocWire::Ping(Ping {
            to: "a".into(),
            from: member(),
        });
        assert!(matches!(round_trip(&ping), DocWire::Ping(p) if p.to == "a" && p.from == member()));
        let refused = DocWire::RestReply(Box::new(RestLockReply {
            to: member(),
            result: Err(LockRefused::Held("alice".into())),
        }));
        assert!(matches!(round_trip(&refused),
            DocWire::RestReply(r) if matches!(&r.result, Err(LockRefused::Held(u)) if u == "alice")));
        let lock = DocWire::RestLock(Box::new(RestLockRequest {
            to: "a".into(),
            from: member(),
            user: "carol".into(),
            name: "Carol".into(),
            field: Some("title".into()),
            acquire: Some((LockMode::Hard, Some(60), None)),
        }));
        let DocWire::RestLock(back) = round_trip(&lock) else {
            panic!("a REST lock")
        };
        assert_eq!(back.acquire, Some((LockMode::Hard, Some(60), None)));
        let left = DocWire::Left(UserLeftNode {
            to: "a".into(),
            node: "b".into(),
            user: "bob".into(),
        });
        assert!(matches!(round_trip(&left),
            DocWire::Left(l) if (l.to.as_str(), l.node.as_str(), l.user.as_str()) == ("a", "b", "bob")));
    }
}
