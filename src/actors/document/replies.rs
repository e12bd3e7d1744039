//! How the session answers: replies and member frames handed to the room
//! (so a reply never overtakes an earlier broadcast; a member on another
//! node is answered through the room's topic, `forward.rs`), errors, and
//! the lock status it publishes.

use super::*;

/// Where a request's reply goes: a member connection here, or one on
/// another node (through the room's topic).
#[derive(Clone)]
pub(super) enum ReplyTo {
    Local(ConnectionHandle),
    Remote(wire::RemoteMember),
}

impl ReplyTo {
    /// The connection on this node, if it is here.
    pub(super) fn local_id(&self) -> Option<ConnectionId> {
        match self {
            ReplyTo::Local(h) => Some(h.id),
            ReplyTo::Remote(_) => None,
        }
    }
}

/// A request as the commands see it (a local member's, or one forwarded
/// from another node).
pub(super) struct Request {
    pub(super) reply: Option<ReplyTo>,
    pub(super) user: UserId,
    pub(super) name: Arc<str>,
    pub(super) r#ref: Option<Ref>,
    pub(super) command: DocCommand,
    pub(super) sent_edits: u64,
}

impl From<DocRequest> for Request {
    fn from(r: DocRequest) -> Self {
        Request {
            reply: r.reply.map(ReplyTo::Local),
            user: r.user,
            name: r.name,
            r#ref: r.r#ref,
            command: r.command,
            sent_edits: r.sent_edits,
        }
    }
}

impl DocumentActor {
    pub(super) fn entity(&self) -> (String, String) {
        (self.key.entity_type.clone(), self.key.entity_id.clone())
    }

    /// Replies go through the room so they never overtake a broadcast
    /// sent before them (a client must see ops in revision order).
    pub(super) fn reply(&self, to: &Option<ReplyTo>, msg: &ServerMessage) {
        if let Some(h) = to {
            self.send_reply(h.clone(), msg.to_frame());
        }
    }

    pub(super) fn send_reply(&self, to: ReplyTo, frame: Frame) {
        let to = match to {
            ReplyTo::Local(to) => to,
            ReplyTo::Remote(member) => return self.send_remote_reply(member, Some(&frame)),
        };
        if !self.room_addr.connected() {
            // The room stopped (this session is closing): nothing it sends
            // can overtake this any more, and the author still learns that
            // its change was stored.
            to.deliver(frame);
            return;
        }
        self.to_room(DocFrame {
            to: Audience::One(to),
            frame,
            applied: None,
        });
    }

    /// A frame for every member (on every node when this session owns the
    /// document in a cluster) except `except`; `applied` is the text op
    /// stored cursors move with, and the `doc:edit` requests its author
    /// had sent.
    pub(super) fn send_members(
        &self,
        frame: Frame,
        except: Option<ReplyTo>,
        applied: Option<(AppliedOp, u64)>,
    ) {
        if self.lease.is_some() {
            self.send_other_nodes(&frame, except.as_ref(), applied.as_ref());
        }
        let local = except.as_ref().and_then(ReplyTo::local_id);
        let applied = applied.map(|(mut op, sent_edits)| {
            op.author = local.map(|id| (id, sent_edits));
            op
        });
        self.to_room(DocFrame {
            to: Audience::Members { except: local },
            frame,
            applied,
        });
    }

    /// Sends one frame to the room, or holds it for [`Self::batch_to_room`].
    pub(super) fn to_room(&self, frame: DocFrame) {
        match self.to_room.borrow_mut().as_mut() {
            Some(held) => held.push(frame),
            None => self.room_addr.do_send(FromDocument(vec![frame])),
        }
    }

    /// Runs `f`, sending the frames it has for the room as one message.
    pub(super) fn batch_to_room(&self, f: impl FnOnce()) {
        if self.to_room.borrow().is_some() {
            return f();
        }
        *self.to_room.borrow_mut() = Some(Vec::new());
        f();
        let held = self.to_room.borrow_mut().take().unwrap_or_default();
        if !held.is_empty() {
            self.room_addr.do_send(FromDocument(held));
        }
    }

    pub(super) fn error(
        &self,
        to: &Option<ReplyTo>,
        r#ref: Option<Ref>,
        code: ErrorCode,
        message: impl Into<String>,
    ) {
        self.reply(to, &ServerMessage::error(r#ref, code, message));
    }

    /// True when `documents.max_pending_writes` writes are queued: a new
    /// change is refused (not applied) until storage catches up.
    pub(super) fn storage_full(&self) -> bool {
        self.pending.len() >= self.services.settings.documents.max_pending_writes
    }

    pub(super) fn lock_views(&self) -> Vec<LockView> {
        self.locks.locks().iter().map(lock_view).collect()
    }

    pub(super) fn lock_status_frame(&self) -> Frame {
        let (entity_type, entity_id) = self.entity();
        ServerMessage::DocLockStatus {
            entity_type,
            entity_id,
            locks: self.lock_views(),
        }
        .to_frame()
    }
}
