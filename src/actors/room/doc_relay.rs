//! The room's part in documents across nodes (`document::forward` says how
//! they work): it publishes what its session sends the other nodes
//! ([`Audience::Nodes`]) on the room's topic, and hands what arrives there
//! on: `doc.req`, `doc.ping` and `doc.rest_lock` for this node to its session (or answers
//! `gone` when it has none), `doc.reply` to the member it is for (then tells
//! its session the request was answered; `doc.rest_reply` to the session),
//! `doc.out` to every local member
//! (moving stored cursors through the op it carries), `doc.left` and
//! `doc.closed` to its session. The room of an owner that serves other
//! nodes' members stays open while their requests keep coming (until
//! `rooms.idle_stop_secs` after the last one).

use super::*;
use crate::actors::document::wire::{DocWire, ForwardedReply, RemoteMember};
use crate::actors::document::{
    ForwardAnswered, Forwarded, ForwardedRest, OwnerGone, Pinged, RemoteUserLeft, RestAnswered,
};

impl RoomActor {
    /// Tells a forwarding member's node that this node has no open session
    /// (it should take the lease).
    fn answer_gone(&self, to: RemoteMember) {
        let reply = ForwardedReply {
            to,
            frame: None,
            gone: true,
        };
        self.relay(DocWire::Reply(reply).to_frame());
    }

    /// A document message from another node's room.
    pub(super) fn on_doc_wire(&mut self, msg: DocWire) {
        let Some(me) = self.services.leases.as_ref().map(|l| l.node().to_owned()) else {
            return;
        };
        match msg {
            DocWire::Request(req) if req.to == me => {
                self.remote_documents_seen = Some(Instant::now());
                match self.live_document() {
                    Some(doc) => doc.do_send(Forwarded(req)),
                    None => self.answer_gone(req.from),
                }
            }
            DocWire::Ping(ping) if ping.to == me => {
                self.remote_documents_seen = Some(Instant::now());
                match self.live_document() {
                    Some(doc) => doc.do_send(Pinged(ping.from)),
                    None => self.answer_gone(ping.from),
                }
            }
            DocWire::RestLock(req) if req.to == me => {
                self.remote_documents_seen = Some(Instant::now());
                match self.live_document() {
                    Some(doc) => doc.do_send(ForwardedRest(req)),
                    None => self.answer_gone(req.from),
                }
            }
            DocWire::RestReply(reply) if reply.to.node == me => {
                if let Some(doc) = self.live_document() {
                    doc.do_send(RestAnswered(reply));
                }
            }
            DocWire::Reply(reply) if reply.to.node == me => {
                let frame = reply.frame.and_then(crate::actors::document::wire::rebuild);
                if let (Some(frame), Some(m)) =
                    (frame, self.members.get(&ConnectionId(reply.to.connection)))
                {
                    m.handle.deliver(frame);
                }
                if let Some(doc) = self.live_document() {
                    doc.do_send(ForwardAnswered {
                        id: reply.to.id,
                        gone: reply.gone,
                    });
                }
            }
            DocWire::Members(out) => {
                let Some(frame) = crate::actors::document::wire::rebuild(out.frame) else {
                    return;
                };
                let here = |(node, id): (String, u64)| (node == me).then_some(ConnectionId(id));
                if let Some(op) = out.applied {
                    self.move_cursors(&AppliedOp {
                        field: op.field,
                        op: op.op,
                        author: op
                            .author
                            .and_then(|(node, id, sent)| here((node, id)).map(|id| (id, sent))),
                    });
                }
                self.deliver(frame, out.except.and_then(here));
            }
            DocWire::Left(left) if left.to == me => {
                if let Some(doc) = self.live_document() {
                    doc.do_send(RemoteUserLeft(left));
                }
            }
            DocWire::Closed(closed) if closed.node != me => {
                if let Some(doc) = self.live_document() {
                    doc.do_send(OwnerGone { node: closed.node });
                }
            }
            _ => {}
        }
    }

    /// Moves every stored cursor through a text op (exactly once, see
    /// `cursors.rs`).
    pub(super) fn move_cursors(&mut self, applied: &AppliedOp) {
        for (id, m) in &mut self.members {
            if let Some(cursor) = m.cursor.as_mut() {
                cursor.apply(*id, applied);
            }
        }
    }

    /// Another node's members used this room's document lately (within
    /// `idle`): the room stays open for them.
    pub(super) fn serves_other_nodes(&self, idle: Duration) -> bool {
        self.remote_documents_seen
            .is_some_and(|seen| seen.elapsed() < idle)
    }
}
