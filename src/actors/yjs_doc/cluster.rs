//! A Yjs document across the nodes of a cluster. A Yjs document is a CRDT:
//! updates commute and applying one twice changes nothing, so every node
//! that has the document open serves its own sockets, stores what its
//! sockets change (its own `yjs_updates` rows), and tells the other nodes;
//! there is no single writer to elect and nothing can fork.
//!
//! - While open on a clustered node, the document's actor subscribes to its
//!   [`Topic::Yjs`] with a handle of its own. A change a local socket made
//!   is published there once it is stored (store before relay holds across
//!   nodes too); awareness changes are published as they are applied.
//! - A change from another node is applied and sent to the local sockets,
//!   not stored again (its node stored it before publishing it).
//! - Catch-up: the subscription reaches Redis a moment after the actor
//!   loaded the document, frames are lost while Redis is unreachable, and a
//!   relay that falls behind is cut. So the actor re-reads the stored rows
//!   ([`CATCH_UP_AFTER`] after it loaded, within 5 s (its sweep) of the
//!   node reconnecting to Redis, when the
//!   relay was cut, and when a change from another node depends on one it
//!   does not have) and sends its sockets whatever that added.
//! - Awareness states of other nodes' sockets are relayed like local ones,
//!   and the ids they set are that node's: no socket here may set one until
//!   it is removed or has not been renewed for 30 s (its node died), and
//!   another node may not set an id a socket here owns.
//!   After its first catch-up a node asks the others for their sockets'
//!   states (`q`), which it could have missed the same way. A state whose
//!   node died without removing it ages out on the clients (y-protocols
//!   drops states not renewed for 30 s).
//!
//! Frames between nodes are [`Frame::cluster`] text: one tag letter (`u`
//! update, `a` awareness, `q` a query for awareness states) and the
//! y-websocket message, base64.

use super::apply::{self, Applied};
use super::{DocState, YjsDocActor};
use crate::broker::{Broker, CloseSocket, ConnectionHandle, Deliver, Topic};
use crate::protocol::{Frame, FrameKind};
use actix::prelude::*;
use actix_web::web::Bytes;
use base64::Engine;
use std::sync::Arc;
use std::time::{Duration, Instant};
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::Update;

/// How long after loading the document is read again, to pick up what
/// other nodes stored before this node's subscription reached Redis.
pub(super) const CATCH_UP_AFTER: Duration = Duration::from_secs(2);

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The document's link to the other nodes.
pub(super) struct ClusterLink {
    broker: Arc<dyn Broker>,
    handle: Option<ConnectionHandle>,
    /// The subscriber sessions seen ([`crate::broker::ClusterStatus::sessions`]):
    /// a new one means frames may have been missed, and a catch-up follows.
    sessions: u64,
    /// A catch-up read is running or scheduled.
    catching_up: bool,
    /// The other nodes were asked for their awareness states.
    asked: bool,
}

impl ClusterLink {
    /// A link over `broker` (a clustered node's broker).
    pub(super) fn new(broker: Arc<dyn Broker>) -> Self {
        ClusterLink {
            broker,
            handle: None,
            sessions: 0,
            catching_up: false,
            asked: false,
        }
    }
}

/// What a frame from another node carries.
#[derive(Debug, PartialEq)]
enum Remote {
    Update(Vec<u8>),
    Awareness(Bytes),
    Query,
}

/// Encodes a y-websocket message for the other nodes.
fn encode(tag: char, message: &[u8]) -> Frame {
    let mut text = String::with_capacity(1 + message.len() * 4 / 3 + 4);
    text.push(tag);
    B64.encode_string(message, &mut text);
    Frame::cluster(text)
}

/// Decodes a frame from another node; `None` for anything else.
fn decode(frame: &Frame) -> Option<Remote> {
    if frame.kind() != FrameKind::Cluster {
        return None;
    }
    let text: &str = frame.text();
    let tag = text.chars().next()?;
    let bytes = B64.decode(text.get(1..)?).ok()?;
    match tag {
        'u' => match Message::decode_v1(&bytes).ok()? {
            Message::Sync(SyncMessage::Update(update)) => Some(Remote::Update(update)),
            _ => None,
        },
        'a' => matches!(Message::decode_v1(&bytes).ok()?, Message::Awareness(_))
            .then(|| Remote::Awareness(Bytes::from(bytes))),
        'q' => bytes.is_empty().then_some(Remote::Query),
        _ => None,
    }
}

impl YjsDocActor {
    fn topic(&self) -> Topic {
        Topic::Yjs(self.id.tenant.clone(), self.id.name.clone())
    }

    /// Subscribes to the document's topic (a clustered node only).
    pub(super) fn join_cluster(&mut self, ctx: &mut Context<Self>) {
        let topic = self.topic();
        let Some(link) = self.cluster.as_mut() else {
            return;
        };
        let handle = ConnectionHandle::relay(ctx.address().recipient(), ctx.address().recipient());
        link.broker.subscribe(topic, handle.clone());
        link.handle = Some(handle);
        link.sessions = link.broker.cluster().map_or(0, |c| c.sessions);
    }

    /// Unsubscribes (the actor stopped, or its relay was cut).
    pub(super) fn leave_cluster(&mut self) {
        if let Some(link) = self.cluster.as_mut() {
            if let Some(h) = link.handle.take() {
                link.broker.unsubscribe_all(h.id);
            }
        }
    }

    /// Tells the other nodes about a stored change (the y-websocket update
    /// message the local sockets got) or an awareness change.
    pub(super) fn publish(&self, tag: char, message: &[u8]) {
        let Some(ClusterLink {
            broker,
            handle: Some(h),
            ..
        }) = &self.cluster
        else {
            return;
        };
        broker.publish(self.topic(), encode(tag, message), Some(h.id));
    }

    /// Part of the sweep: a catch-up once the node reconnected to Redis
    /// (what other nodes published meanwhile never reached it).
    pub(super) fn watch_redis(&mut self, ctx: &mut Context<Self>) {
        let Some(link) = self.cluster.as_mut() else {
            return;
        };
        let Some(status) = link.broker.cluster() else {
            return;
        };
        let reconnected = status.redis_up && status.sessions != link.sessions;
        if reconnected {
            link.sessions = status.sessions;
            self.catch_up(Duration::ZERO, ctx);
        }
    }

    /// Reads the stored rows again after `delay` and sends the local
    /// sockets what they add (what other nodes stored that this node's
    /// relay did not bring).
    pub(super) fn catch_up(&mut self, delay: Duration, ctx: &mut Context<Self>) {
        let Some(link) = self.cluster.as_mut() else {
            return;
        };
        if link.catching_up {
            return;
        }
        link.catching_up = true;
        ctx.run_later(delay, |act, ctx| {
            let (db, id) = (act.db.clone(), act.id.clone());
            ctx.spawn(
                async move { super::persist::load(&db, &id).await }
                    .into_actor(act)
                    .map(|rows, act, ctx| {
                        let mut ask = false;
                        if let Some(link) = act.cluster.as_mut() {
                            link.catching_up = false;
                            ask = !std::mem::replace(&mut link.asked, true);
                        }
                        if ask {
                            act.publish('q', &[]);
                        }
                        match rows {
                            Ok(rows) => act.caught_up(rows, ctx),
                            Err(e) => log::warn!("yjs {}: catch-up read failed: {e}", act.id),
                        }
                    }),
            );
        });
    }

    /// Applies rows read again; what they add goes to the local sockets.
    fn caught_up(&mut self, rows: Vec<(i64, Vec<u8>)>, ctx: &mut Context<Self>) {
        if self.state != DocState::Ready {
            return;
        }
        let payloads: Vec<&[u8]> = rows.iter().map(|(_, p)| p.as_slice()).collect();
        let out = apply::apply_rows(self.awareness.doc(), &payloads);
        if out.panicked {
            log::error!("yjs {}: yrs panicked catching up", self.id);
            self.fail(DocState::Poisoned);
            return;
        }
        if !out.changes.is_empty() {
            log::debug!(
                "yjs {}: catch-up found {} changes",
                self.id,
                out.changes.len()
            );
        }
        for change in out.changes {
            self.remote_changed(change, ctx);
        }
    }

    /// A change another node stored: applied and sent to the local sockets.
    fn on_remote_update(&mut self, update: Vec<u8>, ctx: &mut Context<Self>) {
        let Ok(update) = Update::decode_v1(&update) else {
            return;
        };
        match apply::apply_update(self.awareness.doc(), update) {
            Applied::Accepted(change) => {
                if let Some(change) = change {
                    self.remote_changed(change, ctx);
                }
            }
            Applied::Refused { error, partial } => {
                // It depends on a change this node missed; the rows hold both.
                log::debug!("yjs {}: change from another node refused: {error}", self.id);
                if let Some(partial) = partial {
                    self.remote_changed(partial, ctx);
                }
                self.catch_up(Duration::ZERO, ctx);
            }
            Applied::Panicked => {
                log::error!("yjs {}: yrs panicked on another node's change", self.id);
                self.fail(DocState::Poisoned);
            }
        }
    }

    fn remote_changed(&mut self, change: Vec<u8>, ctx: &mut Context<Self>) {
        self.size.grew(change.len());
        let frame = Bytes::from(Message::Sync(SyncMessage::Update(change)).encode_v1());
        // Behind writes of this node's own sockets' changes, so a socket
        // never sees a later change before an earlier one it depends on.
        self.after_stored(self.written, super::Held::Relay { frame, from: None }, ctx);
    }

    /// Another node asked: the states of this node's sockets.
    fn publish_local_awareness(&self) {
        let clients: Vec<yrs::ClientID> = self.owners.keys().copied().collect();
        if clients.is_empty() {
            return;
        }
        if let Ok(update) = self.awareness.update_with_clients(clients) {
            self.publish('a', &Message::Awareness(update).encode_v1());
        }
    }

    /// Awareness changes of another node's sockets: applied and relayed,
    /// and the ids they set remembered as that node's. An id a socket here
    /// owns stays this node's: another node's socket may not set it (the
    /// mirror of `on_awareness`, which refuses a socket here an id another
    /// node's socket set).
    fn on_remote_awareness(&mut self, message: Bytes, ctx: &mut Context<Self>) {
        let Ok(Message::Awareness(mut update)) = Message::decode_v1(&message) else {
            return;
        };
        let sent = update.clients.len();
        update
            .clients
            .retain(|client, _| !self.owners.contains_key(client));
        let kept_all = update.clients.len() == sent;
        if update.clients.is_empty() {
            return;
        }
        let summary = match self.awareness.apply_update_summary(update) {
            Ok(Some(summary)) => summary,
            Ok(None) => return,
            Err(e) => {
                log::debug!("yjs {}: awareness from another node refused: {e}", self.id);
                return;
            }
        };
        let now = Instant::now();
        for client in summary.added.iter().chain(&summary.updated) {
            self.remote_owned.insert(*client, now);
        }
        for client in &summary.removed {
            self.remote_owned.remove(client);
        }
        if kept_all {
            self.broadcast(&message, None, ctx);
        } else if let Ok(relay) = self.awareness.update_with_clients(summary.all_changes()) {
            let frame = Bytes::from(Message::Awareness(relay).encode_v1());
            self.broadcast(&frame, None, ctx);
        }
    }
}

impl Handler<Deliver> for YjsDocActor {
    type Result = ();

    /// A frame from another node.
    fn handle(&mut self, Deliver(frame, _): Deliver, ctx: &mut Context<Self>) {
        if let Some(h) = self.cluster.as_ref().and_then(|l| l.handle.as_ref()) {
            h.dequeued();
        }
        if self.state != DocState::Ready {
            // Loading: the load (and its catch-up) brings what this was.
            return;
        }
        match decode(&frame) {
            Some(Remote::Update(update)) => self.on_remote_update(update, ctx),
            Some(Remote::Awareness(message)) => self.on_remote_awareness(message, ctx),
            Some(Remote::Query) => self.publish_local_awareness(),
            None => log::warn!("yjs {}: malformed frame from another node", self.id),
        }
    }
}

impl Handler<CloseSocket> for YjsDocActor {
    type Result = ();

    /// The relay fell too far behind: subscribe afresh and read the rows
    /// again for what was dropped.
    fn handle(&mut self, _: CloseSocket, ctx: &mut Context<Self>) {
        log::warn!(
            "yjs {}: relay from other nodes fell behind; resubscribing",
            self.id
        );
        self.leave_cluster();
        self.join_cluster(ctx);
        self.catch_up(CATCH_UP_AFTER, ctx);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_between_nodes_round_trip() {
        let update = Message::Sync(SyncMessage::Update(vec![1, 2, 3])).encode_v1();
        assert_eq!(
            decode(&encode('u', &update)),
            Some(Remote::Update(vec![1, 2, 3]))
        );
        let awareness = Message::Awareness(yrs::sync::AwarenessUpdate {
            clients: Default::default(),
        })
        .encode_v1();
        assert_eq!(
            decode(&encode('a', &awareness)),
            Some(Remote::Awareness(Bytes::from(awareness.clone())))
        );
        // A tag that does not match its message, another tag, bad base64.
        assert_eq!(decode(&encode('u', &awareness)), None);
        assert_eq!(decode(&encode('x', &update)), None);
        assert_eq!(decode(&encode('q', &[])), Some(Remote::Query));
        assert_eq!(decode(&encode('q', &[1])), None);
        assert_eq!(decode(&Frame::cluster("u!!")), None);
        assert_eq!(decode(&Frame::cluster("")), None);
    }
}
