//! The roster across the nodes of a cluster (`services.nodes` is `Some`).
//! Every change of a local user goes through [`RosterActor::local_change`]:
//! it is merged with what the other nodes reported (`roster_state::merge`)
//! and, in a cluster, announced to them (`cluster::presence::Announce` as a
//! `Frame::cluster` on [`Topic::Roster`]) and written to the tenant's
//! presence hash. The roster subscribes to that topic with a relay handle
//! of its own (as rooms do, `actors::room::relay`) and merges what other
//! nodes announce; diffs for their changes go through the same window.
//!
//! - A starting roster reads the hash (a snapshot), and again a second
//!   later (covering announcements made before its subscription reached
//!   Redis); entries are ordered by their node's sequence numbers.
//! - Every [`CHECK_EVERY`] a roster with other nodes' users asks which of
//!   those nodes are alive and drops the users of dead ones (and their hash
//!   fields): a node killed without cleanup loses its users within
//!   `redis.node_ttl_ms` + [`CHECK_EVERY`]. While Redis does not answer,
//!   nobody is dropped.
//! - A status set over REST on a node where the user has no connection
//!   arrives as `RosterMessage::SetStatus`; the roster hands it to the
//!   registry, which applies it if the user is connected here.
//! - When Redis comes back after being unreachable (or a write to the hash
//!   failed), the roster writes its local users again (replacing this
//!   node's fields), announces them, reads a fresh snapshot, and once the
//!   hash is rewritten tells the other rosters to read it again
//!   (`RosterMessage::Resync`: they forget users who left meanwhile).

use super::RosterActor;
use crate::actors::presence::SetStatus;
use crate::actors::registry::SetStatusFor;
use crate::broker::{CloseSocket, ConnectionHandle, Deliver, Topic};
use crate::cluster::nodes::Nodes;
use crate::cluster::presence::{self, Announce, RosterMessage, Stored, Write};
use crate::ids::UserId;
use crate::protocol::server::PresenceView;
use crate::protocol::{Frame, FrameKind};
use crate::roster_state::merge::{Applied, NodeView};
use actix::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a roster checks that the nodes whose users it shows are alive.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// When a starting roster reads the hash a second time.
const SECOND_SNAPSHOT: Duration = Duration::from_secs(1);

/// A roster's link to the other nodes.
pub(super) struct Link {
    nodes: Nodes,
    relay: ConnectionHandle,
    writes: mpsc::Sender<Write>,
    /// Set by the writer when a write was lost.
    failed: Arc<AtomicBool>,
    /// A liveness check is in flight.
    checking: bool,
    /// Redis was reachable at the last check.
    redis_up: bool,
}

impl RosterActor {
    /// Joins the cluster's presence (a clustered node only).
    pub(super) fn start_cluster(&mut self, ctx: &mut Context<Self>) {
        let Some(nodes) = self.services.nodes.clone() else {
            return;
        };
        self.node = nodes.node().to_owned();
        let relay = self.subscribe_relay(ctx);
        let failed = Arc::new(AtomicBool::new(false));
        let writes = presence::spawn_writer(
            nodes.pool().clone(),
            presence::key(nodes.prefix(), &self.tenant),
            failed.clone(),
        );
        self.cluster = Some(Link {
            nodes,
            relay,
            writes,
            failed,
            checking: false,
            redis_up: true,
        });
        self.snapshot(ctx);
        ctx.run_later(SECOND_SNAPSHOT, |act, ctx| act.snapshot(ctx));
        ctx.run_interval(CHECK_EVERY, |act, ctx| act.check_nodes(ctx));
    }

    /// Subscribes a new relay handle to the tenant's roster topic.
    fn subscribe_relay(&self, ctx: &mut Context<Self>) -> ConnectionHandle {
        let relay = ConnectionHandle::relay(ctx.address().recipient(), ctx.address().recipient());
        self.services
            .broker
            .subscribe(Topic::Roster(self.tenant.clone()), relay.clone());
        relay
    }

    /// Leaves the topic (the roster stopped).
    pub(super) fn stop_cluster(&mut self) {
        if let Some(link) = self.cluster.take() {
            self.services.broker.unsubscribe_all(link.relay.id);
        }
    }

    /// A local user changed (`None`: went offline here): merged, shown,
    /// and announced to the other nodes.
    pub(super) fn local_change(
        &mut self,
        user: &str,
        entry: Option<NodeView>,
        ctx: &mut Context<Self>,
    ) {
        let seq = presence::next_seq();
        let node = self.node.clone();
        if let Applied::Now(view) = self.merged.apply(&node, user, seq, entry.clone()) {
            self.show(user, view, ctx);
        }
        self.announce(user, seq, entry);
    }

    /// Puts a user's merged view in the roster (`None`: offline).
    fn show(&mut self, user: &str, view: Option<PresenceView>, ctx: &mut Context<Self>) {
        let changed = match view {
            Some(v) => self.roster.upsert(v),
            None => self.roster.remove(user),
        };
        if changed {
            self.schedule(ctx);
        }
    }

    /// Writes a local change to the hash and publishes it.
    fn announce(&self, user: &str, seq: u64, entry: Option<NodeView>) {
        let Some(link) = &self.cluster else {
            return;
        };
        let field = presence::field(&self.node, user);
        let write = match &entry {
            Some(e) => {
                let stored = Stored {
                    seq,
                    entry: e.clone(),
                };
                match serde_json::to_string(&stored) {
                    Ok(json) => Write::Set(field, json),
                    Err(e) => {
                        log::warn!("presence of {user} not stored: {e}");
                        return;
                    }
                }
            }
            None => Write::Del(field),
        };
        if link.writes.try_send(write).is_err() {
            log::warn!("presence hash of {}: write queue full", self.tenant);
        }
        let announce = RosterMessage::Change(Box::new(Announce {
            node: self.node.clone(),
            user: user.to_owned(),
            seq,
            entry,
        }));
        match serde_json::to_string(&announce) {
            Ok(json) => self.services.broker.publish(
                Topic::Roster(self.tenant.clone()),
                Frame::cluster(json),
                Some(link.relay.id),
            ),
            Err(e) => log::warn!("presence of {user} not announced: {e}"),
        }
    }

    /// Reads the hash and reconciles with it.
    fn snapshot(&mut self, ctx: &mut Context<Self>) {
        let Some(link) = &self.cluster else {
            return;
        };
        let (nodes, tenant) = (link.nodes.clone(), self.tenant.clone());
        let asked = self.merged.begin_snapshot();
        let read = async move { presence::live_snapshot(&nodes, &tenant).await };
        ctx.spawn(read.into_actor(self).map(move |res, act, ctx| {
            let entries = res
                .map_err(|e| log::warn!("presence of {}: no snapshot: {e}", act.tenant))
                .ok();
            let node = act.node.clone();
            for (user, view) in act.merged.apply_snapshot(&node, asked, entries) {
                act.show(&user, view, ctx);
            }
        }));
    }

    /// The periodic check: republishes after Redis came back, and drops
    /// the users of dead nodes.
    fn check_nodes(&mut self, ctx: &mut Context<Self>) {
        let up = self.services.broker.cluster().is_some_and(|c| c.redis_up);
        let Some(link) = self.cluster.as_mut() else {
            return;
        };
        // Back after Redis was unreachable, or a write was lost: what this
        // node sent meanwhile may be lost too.
        let back = up && (!link.redis_up || link.failed.swap(false, Ordering::Relaxed));
        link.redis_up = up;
        if back {
            self.republish();
            self.snapshot(ctx);
        }
        let others = self.merged.nodes_except(&self.node);
        let Some(link) = self.cluster.as_mut() else {
            return;
        };
        if link.checking || others.is_empty() {
            return;
        }
        link.checking = true;
        let nodes = link.nodes.clone();
        let ask = async move {
            let alive = nodes.alive(&others).await;
            (others, alive)
        };
        ctx.spawn(ask.into_actor(self).map(|(others, alive), act, ctx| {
            if let Some(link) = act.cluster.as_mut() {
                link.checking = false;
            }
            let Ok(alive) = alive else {
                // Redis did not answer: keep everyone.
                return;
            };
            for (node, _) in others.iter().zip(alive).filter(|(_, a)| !*a) {
                log::info!(
                    "presence of {}: node {node} is gone; dropping its users",
                    act.tenant
                );
                for (user, view) in act.merged.drop_node(node) {
                    if let Some(link) = &act.cluster {
                        let _ = link
                            .writes
                            .try_send(Write::Del(presence::field(node, &user)));
                    }
                    act.show(&user, view, ctx);
                }
            }
        }));
    }

    /// Writes and announces every local user again (Redis came back: what
    /// was sent meanwhile was lost, and other nodes may have dropped us).
    fn republish(&mut self) {
        let users = self.merged.users_of(&self.node);
        let mut fields = Vec::new();
        let mut entries = Vec::new();
        for user in users {
            let Some(entry) = self.merged.get(&self.node, &user).cloned() else {
                continue;
            };
            let seq = presence::next_seq();
            let stored = Stored {
                seq,
                entry: entry.clone(),
            };
            if let Ok(json) = serde_json::to_string(&stored) {
                fields.push((presence::field(&self.node, &user), json));
            }
            entries.push((user, seq, entry));
        }
        let Some(link) = &self.cluster else {
            return;
        };
        // Once the hash holds them, the other rosters read it again (so
        // they also forget the users who left meanwhile).
        let (broker, topic) = (
            self.services.broker.clone(),
            Topic::Roster(self.tenant.clone()),
        );
        let resync = serde_json::to_string(&RosterMessage::Resync {
            node: self.node.clone(),
        });
        let relay = link.relay.id;
        let replace = Write::Replace {
            node: self.node.clone(),
            fields,
            then: Box::new(move || {
                if let Ok(json) = resync {
                    broker.publish(topic, Frame::cluster(json), Some(relay));
                }
            }),
        };
        if link.writes.try_send(replace).is_err() {
            log::warn!("presence hash of {}: write queue full", self.tenant);
        }
        for (user, seq, entry) in entries {
            let announce = RosterMessage::Change(Box::new(Announce {
                node: self.node.clone(),
                user,
                seq,
                entry: Some(entry),
            }));
            if let Ok(json) = serde_json::to_string(&announce) {
                self.services.broker.publish(
                    Topic::Roster(self.tenant.clone()),
                    Frame::cluster(json),
                    Some(link.relay.id),
                );
            }
        }
    }
}

impl Handler<Deliver> for RosterActor {
    type Result = ();

    /// Another node's announcement.
    fn handle(&mut self, Deliver(frame, _): Deliver, ctx: &mut Context<Self>) {
        if let Some(link) = &self.cluster {
            link.relay.dequeued();
        }
        if frame.kind() != FrameKind::Cluster {
            return;
        }
        let announce = match serde_json::from_str(frame.text()) {
            Ok(RosterMessage::Change(a)) => *a,
            Ok(RosterMessage::Resync { node }) => {
                if node != self.node {
                    self.snapshot(ctx);
                }
                return;
            }
            Ok(RosterMessage::SetStatus { user, status }) => {
                self.services.registry.do_send(SetStatusFor {
                    tenant: self.tenant.clone(),
                    user: UserId::new(user.as_str()),
                    status: SetStatus(status),
                });
                return;
            }
            Err(e) => {
                log::warn!("presence of {}: bad announcement: {e}", self.tenant);
                return;
            }
        };
        if announce.node == self.node {
            return;
        }
        if let Applied::Now(view) =
            self.merged
                .apply(&announce.node, &announce.user, announce.seq, announce.entry)
        {
            self.show(&announce.user, view, ctx);
        }
    }
}

impl Handler<CloseSocket> for RosterActor {
    type Result = ();

    /// The relay fell too far behind: it resubscribes and reads a fresh
    /// snapshot (local users are unaffected).
    fn handle(&mut self, _: CloseSocket, ctx: &mut Context<Self>) {
        log::warn!(
            "presence of {}: announcements from other nodes fell behind; resyncing",
            self.tenant
        );
        if self.cluster.is_none() {
            return;
        }
        let relay = self.subscribe_relay(ctx);
        if let Some(link) = self.cluster.as_mut() {
            let old = std::mem::replace(&mut link.relay, relay);
            self.services.broker.unsubscribe_all(old.id);
        }
        self.snapshot(ctx);
    }
}
