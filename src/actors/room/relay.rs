//! `room:broadcast` across the nodes of a cluster. While a room actor runs
//! on a clustered node it subscribes to its room's topic
//! ([`Topic::Room`]) as a relay handle of its own; each broadcast a local
//! member sends is also published there, and the room delivers the
//! broadcasts of the other nodes' members to its local members. The frame
//! crosses Redis once per node with the room open. `room:broadcast` and the
//! document's messages (`doc_relay.rs`) cross: member lists, cursors,
//! typing and editing stay per node.

use super::RoomActor;
use crate::broker::{CloseSocket, ConnectionHandle, Deliver, Frame, Topic};
use crate::ids::ConnectionId;
use actix::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Relay handles take ids from the top of the range, far from the
/// registry's connection ids (which count up from 1).
static NEXT_RELAY_ID: AtomicU64 = AtomicU64::new(u64::MAX / 2);

/// Frames from other nodes a room may have queued before it drops more.
const RELAY_QUEUE: usize = 65_536;

impl RoomActor {
    /// Subscribes the room to its topic (a clustered node only).
    pub(super) fn start_relay(&mut self, ctx: &mut Context<Self>) {
        if self.services.broker.cluster().is_none() {
            return;
        }
        let id = ConnectionId(NEXT_RELAY_ID.fetch_add(1, Ordering::Relaxed));
        let handle = ConnectionHandle::new(
            id,
            ctx.address().recipient(),
            ctx.address().recipient(),
            RELAY_QUEUE,
            Duration::from_secs(1),
            None,
        );
        self.services
            .broker
            .subscribe(Topic::Room(self.id.clone()), handle.clone());
        self.relay = Some(handle);
    }

    /// Unsubscribes (the room stopped).
    pub(super) fn stop_relay(&mut self) {
        if let Some(h) = self.relay.take() {
            self.services.broker.unsubscribe_all(h.id);
        }
    }

    /// Publishes a local member's broadcast for the other nodes.
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

    /// A broadcast from another node's member: to every local member. A
    /// cluster frame is a message between nodes' rooms and sessions
    /// (`doc.*`: `doc_relay.rs`).
    fn handle(&mut self, Deliver(frame, _): Deliver, _: &mut Context<Self>) {
        if let Some(h) = &self.relay {
            h.dequeued();
        }
        if frame.kind() == crate::protocol::FrameKind::Cluster {
            if let Some(doc) = crate::actors::document::wire::DocWire::parse(frame.text()) {
                self.on_doc_wire(doc);
            }
            return;
        }
        self.deliver(frame, None);
    }
}

impl Handler<CloseSocket> for RoomActor {
    type Result = ();

    /// The relay fell too far behind: it stops relaying (local members are
    /// unaffected); the next room for this key subscribes afresh.
    fn handle(&mut self, _: CloseSocket, _: &mut Context<Self>) {
        log::warn!(
            "room {}: relay from other nodes fell behind; stopped",
            self.id
        );
        self.stop_relay();
    }
}
