//! How the session answers: replies and member frames handed to the room
//! (so a reply never overtakes an earlier broadcast), errors, and the lock
//! status it publishes.

use super::*;

impl DocumentActor {
    pub(super) fn entity(&self) -> (String, String) {
        (self.key.entity_type.clone(), self.key.entity_id.clone())
    }

    /// Replies go through the room so they never overtake a broadcast
    /// sent before them (a client must see ops in revision order).
    pub(super) fn reply(&self, to: &Option<ConnectionHandle>, msg: &ServerMessage) {
        if let Some(h) = to {
            self.send_reply(h.clone(), msg.to_frame());
        }
    }

    pub(super) fn send_reply(&self, to: ConnectionHandle, frame: Frame) {
        if !self.room_addr.connected() {
            // The room stopped (this session is closing): nothing it sends
            // can overtake this any more, and the author still learns that
            // its change was stored.
            to.deliver(frame);
            return;
        }
        self.room_addr.do_send(FromDocument {
            to: Audience::One(to),
            frame,
            applied: None,
        });
    }

    pub(super) fn send_members(
        &self,
        frame: Frame,
        except: Option<ConnectionId>,
        applied: Option<AppliedOp>,
    ) {
        self.room_addr.do_send(FromDocument {
            to: Audience::Members { except },
            frame,
            applied,
        });
    }

    pub(super) fn error(
        &self,
        to: &Option<ConnectionHandle>,
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
