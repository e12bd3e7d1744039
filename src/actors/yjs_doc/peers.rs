//! The document's sockets and their awareness states: sending, relaying,
//! forgetting closed sockets, and which socket owns which awareness id.

use super::{YjsDocActor, MAX_AWARENESS_IDS_PER_SOCKET, REMOTE_OWNER_TTL};
use crate::actors::yjs_peer::YjsConnId;
use actix::prelude::*;
use actix_web::web::Bytes;
use std::time::Instant;
use yrs::sync::{AwarenessUpdate, Message};
use yrs::updates::encoder::Encode;
use yrs::ClientID;

impl YjsDocActor {
    /// Sends a frame to one socket; false when it is gone.
    pub(super) fn send_to(&self, conn: YjsConnId, frame: Bytes) -> bool {
        self.peers
            .get(&conn)
            .is_some_and(|entry| entry.peer.send(frame))
    }

    /// Sends a frame to every socket except `except`, then drops the dead ones.
    pub(super) fn broadcast(
        &mut self,
        frame: &Bytes,
        except: Option<YjsConnId>,
        ctx: &mut Context<Self>,
    ) {
        let dead: Vec<YjsConnId> = self
            .peers
            .iter()
            .filter(|(id, _)| Some(**id) != except)
            .filter(|(_, entry)| !entry.peer.send(frame.clone()))
            .map(|(id, _)| *id)
            .collect();
        self.remove_peers(dead, ctx);
    }

    /// Forgets sockets, removes their awareness states and tells the others.
    pub(super) fn remove_peers(&mut self, mut gone: Vec<YjsConnId>, ctx: &mut Context<Self>) {
        while let Some(conn) = gone.pop() {
            let Some(entry) = self.peers.remove(&conn) else {
                continue;
            };
            let clients: Vec<ClientID> = entry.clients.into_iter().collect();
            for client in &clients {
                self.owners.remove(client);
                self.awareness.remove_state(*client);
            }
            if !clients.is_empty() {
                if let Ok(update) = self.awareness.update_with_clients(clients) {
                    let frame = Bytes::from(Message::Awareness(update).encode_v1());
                    self.publish('a', &frame);
                    for (id, entry) in &self.peers {
                        if !entry.peer.send(frame.clone()) {
                            gone.push(*id);
                        }
                    }
                }
            }
        }
        if self.peers.is_empty() && self.idle_timer.is_none() {
            self.arm_idle(ctx);
        }
    }

    /// Applies awareness states the socket may set, then relays the changes
    /// to every socket of the document (the sender too: y-websocket clients
    /// treat a socket that receives nothing for 30 s as dead, and their own
    /// awareness renewal is what a lone client receives).
    pub(super) fn on_awareness(
        &mut self,
        conn: YjsConnId,
        mut update: AwarenessUpdate,
        ctx: &mut Context<Self>,
    ) {
        let Some(entry) = self.peers.get(&conn) else {
            return;
        };
        let mut owned = entry.clients.len();
        let now = Instant::now();
        update
            .clients
            .retain(|client, _| match self.owners.get(client) {
                Some(owner) => *owner == conn,
                // A socket on another node set it: not this socket's to set.
                None if self.owned_elsewhere(*client, now) => false,
                None if owned < MAX_AWARENESS_IDS_PER_SOCKET => {
                    owned += 1;
                    true
                }
                None => false,
            });
        if update.clients.is_empty() {
            return;
        }
        // A client that reconnects announces its state with the clock it had;
        // the removal of its old socket's state bumped ours past it, so the
        // announcement is ignored. Sending it our tombstone makes it bump its
        // clock and announce again (y-protocols never lets a peer remove its
        // own local state), instead of staying invisible until its renewal.
        let stale: Vec<ClientID> = update
            .clients
            .iter()
            .filter(|(client, entry)| {
                &*entry.json != "null"
                    && !self.owners.contains_key(*client)
                    && self
                        .awareness
                        .meta(**client)
                        .is_some_and(|(clock, _)| clock >= entry.clock)
            })
            .map(|(client, _)| *client)
            .collect();
        if !stale.is_empty() {
            if let Ok(tombstones) = self.awareness.update_with_clients(stale) {
                let frame = Bytes::from(Message::Awareness(tombstones).encode_v1());
                if !self.send_to(conn, frame) {
                    self.remove_peers(vec![conn], ctx);
                    return;
                }
            }
        }
        let summary = match self.awareness.apply_update_summary(update) {
            Ok(Some(summary)) => summary,
            Ok(None) => return,
            Err(e) => {
                log::debug!("yjs {}: awareness from {conn} refused: {e}", self.id);
                return;
            }
        };
        if let Some(entry) = self.peers.get_mut(&conn) {
            for client in summary.added.iter().chain(&summary.updated) {
                entry.clients.insert(*client);
                self.owners.insert(*client, conn);
                self.remote_owned.remove(client);
            }
            for client in &summary.removed {
                entry.clients.remove(client);
                self.owners.remove(client);
            }
        }
        if let Ok(relay) = self.awareness.update_with_clients(summary.all_changes()) {
            let frame = Bytes::from(Message::Awareness(relay).encode_v1());
            self.publish('a', &frame);
            self.broadcast(&frame, None, ctx);
        }
    }

    /// True while a socket on another node owns the awareness id `client`:
    /// it set it less than [`REMOTE_OWNER_TTL`] ago and has not removed it.
    fn owned_elsewhere(&self, client: ClientID, now: Instant) -> bool {
        self.remote_owned
            .get(&client)
            .is_some_and(|set| now.saturating_duration_since(*set) < REMOTE_OWNER_TTL)
    }

    /// The current awareness states, or None when nobody has one.
    pub(super) fn awareness_frame(&self) -> Option<Bytes> {
        let update = self.awareness.update().ok()?;
        if update.clients.is_empty() {
            return None;
        }
        Some(Bytes::from(Message::Awareness(update).encode_v1()))
    }

    /// Drops sockets whose actor stopped without a `Leave` reaching us.
    pub(super) fn sweep(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.remote_owned
            .retain(|_, set| now.saturating_duration_since(*set) < REMOTE_OWNER_TTL);
        let dead: Vec<YjsConnId> = self
            .peers
            .iter()
            .filter(|(_, entry)| !entry.peer.is_alive())
            .map(|(id, _)| *id)
            .collect();
        if !dead.is_empty() {
            self.remove_peers(dead, ctx);
        }
    }
}
