//! The room's link to the other nodes of a cluster. While a room actor
//! runs on a clustered node it subscribes to its room's topic
//! ([`Topic::Room`]) as a relay handle of its own. On that topic:
//! - each `room:broadcast` a local member sends is also published, and the
//!   room delivers the broadcasts of the other nodes' members to its local
//!   members (the frame crosses Redis once per node with the room open);
//! - internal [`FrameKind::Cluster`] frames (JSON, never written to a
//!   socket) carry state between the nodes' rooms and document sessions;
//!   the [`Deliver`] handler dispatches them on their `"t"` field: `doc.*`
//!   is the document's (`doc_relay`), `room.*` member state
//!   (`cluster_sync`).

use super::RoomActor;
use crate::broker::{CloseSocket, ConnectionHandle, Deliver, Frame, FrameKind, Topic};
use actix::prelude::*;

impl RoomActor {
    /// Subscribes the room to its topic (a clustered node only).
    pub(super) fn start_relay(&mut self, ctx: &mut Context<Self>) {
        if self.services.broker.cluster().is_none() {
            return;
        }
        let handle = ConnectionHandle::relay(ctx.address().recipient(), ctx.address().recipient());
        let id = handle.id;
        self.services
            .broker
            .subscribe(Topic::Room(self.id.clone()), handle.clone());
        self.relay = Some(handle);
        self.start_sync(ctx, id.0);
    }

    /// Unsubscribes (the room stopped).
    pub(super) fn stop_relay(&mut self) {
        if let Some(h) = self.relay.take() {
            self.services.broker.unsubscribe_all(h.id);
        }
    }

    /// Publishes a frame for the other nodes' rooms (a local member's
    /// broadcast, or a cluster frame).
    pub(super) fn relay(&self, frame: Frame) {
        if let Some(h) = &self.relay {
            self.services
                .broker
                .publish(Topic::Room(self.id.clone()), frame, Some(h.id));
        }
    }
}

impl Handler<Deliver> for RoomActor {
    type Result = ();

    /// From another node's room: a broadcast of one of its members goes to
    /// every local member; a cluster frame goes where its `"t"` says.
    fn handle(&mut self, Deliver(frame, _): Deliver, ctx: &mut Context<Self>) {
        if let Some(h) = &self.relay {
            h.dequeued();
        }
        if frame.kind() != FrameKind::Cluster {
            self.deliver(frame, None);
            return;
        }
        if let Some(doc) = crate::actors::document::wire::DocWire::parse(frame.text()) {
            self.on_doc_wire(doc);
            return;
        }
        let value: serde_json::Value = match serde_json::from_str(frame.text()) {
            Ok(value) => value,
            Err(e) => {
                log::warn!("room {}: malformed cluster frame: {e}", self.id);
                return;
            }
        };
        match value.get("t").and_then(|t| t.as_str()) {
            Some(t) if t.starts_with("room.") => self.on_sync(value, ctx),
            other => log::warn!("room {}: unknown cluster frame {other:?}", self.id),
        }
    }
}

impl Handler<CloseSocket> for RoomActor {
    type Result = ();

    /// The relay fell too far behind: it stops relaying (local members are
    /// unaffected, the other nodes' members are dropped as their state can
    /// no longer be followed); the next room for this key subscribes afresh.
    fn handle(&mut self, _: CloseSocket, ctx: &mut Context<Self>) {
        log::warn!(
            "room {}: relay from other nodes fell behind; stopped",
            self.id
        );
        self.sync_closed();
        self.sync_forget(ctx);
        self.stop_relay();
    }
}
