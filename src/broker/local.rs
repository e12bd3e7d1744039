//! In-process broker: topic subscriptions held by N shard actors, one on
//! each actor thread, so notifications and activity for different tenants
//! fan out in parallel and no single broker thread is a bottleneck.
//!
//! A topic belongs to the shard its tenant hashes to: a tenant's topics
//! (`Tenant`, and every `User` of it) share one shard, so what one caller
//! publishes to them keeps its order, as with a single broker. A connection
//! only subscribes to its own tenant's topics, so it lives in one shard;
//! [`LocalBroker`] remembers which shards each connection used (a bit mask,
//! touched on subscribe and close only, never on publish), and
//! `unsubscribe_all` and `send_to` go to exactly those, which keeps
//! `send_to` in order with the caller's earlier publishes.
//!
//! Every request goes through [`LocalBroker`], which counts it into a shared
//! counter that the shard counts back out when it handles it: the mailbox
//! depth `/metrics` reports (one relaxed atomic add on each side).

use super::{Broker, ConnectionHandle, Frame, Topic};
use crate::ids::{ConnectionId, TenantId};
use actix::{Actor, Addr, Context, Handler, Message};
use actix_rt::ArbiterHandle;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// Subscribe a connection to a topic.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe(pub Topic, pub ConnectionHandle);

/// Unsubscribe a connection from a topic.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe(pub Topic, pub ConnectionId);

/// Unsubscribe a connection from everything.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UnsubscribeAll(pub ConnectionId);

/// Deliver a frame to a topic's subscribers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    /// Target.
    pub topic: Topic,
    /// Serialized once.
    pub frame: Frame,
    /// A connection to skip (usually the sender).
    pub except: Option<ConnectionId>,
    /// When it was published (fan-out latency is measured from here).
    pub at: std::time::Instant,
}

/// Deliver a frame to one connection, after everything queued before it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SendTo(pub ConnectionHandle, pub Frame);

/// Count subscribers of a topic (tests and admin).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountSubscribers(pub Topic);

/// A topic's subscribers. Most topics (a user's, a tenant with one
/// connection) have one, kept without a map: a map's smallest table costs
/// about a hundred bytes more per topic, and every socket has two topics.
enum Subscribers {
    One(ConnectionId, ConnectionHandle),
    /// Boxed: the topic table holds one of these per topic, and a map
    /// inline would double the size of every one-subscriber entry.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<ConnectionId, ConnectionHandle>>),
}

impl Subscribers {
    /// Adds or replaces `id`'s handle; true when `id` is new here.
    fn insert(&mut self, id: ConnectionId, handle: ConnectionHandle) -> bool {
        match self {
            Subscribers::One(only, h) if *only == id => {
                *h = handle;
                false
            }
            Subscribers::One(only, h) => {
                let mut map = HashMap::with_capacity(2);
                map.insert(*only, h.clone());
                map.insert(id, handle);
                *self = Subscribers::Many(Box::new(map));
                true
            }
            Subscribers::Many(map) => map.insert(id, handle).is_none(),
        }
    }

    /// Removes `id`; true when nobody is left.
    fn remove(&mut self, id: ConnectionId) -> bool {
        match self {
            Subscribers::One(only, _) => *only == id,
            Subscribers::Many(map) => {
                map.remove(&id);
                let last = if map.len() == 1 {
                    map.drain().next()
                } else {
                    None
                };
                let empty = map.is_empty();
                if let Some((only, h)) = last {
                    *self = Subscribers::One(only, h);
                    return false;
                }
                empty
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Subscribers::One(..) => 1,
            Subscribers::Many(map) => map.len(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(ConnectionId, &ConnectionHandle)) {
        match self {
            Subscribers::One(id, h) => f(*id, h),
            Subscribers::Many(map) => map.iter().for_each(|(id, h)| f(*id, h)),
        }
    }
}

/// Holds the subscriptions of one shard.
#[derive(Default)]
pub struct BrokerActor {
    topics: HashMap<Topic, Subscribers>,
    by_connection: HashMap<ConnectionId, Vec<Topic>>,
    /// Requests sent through [`LocalBroker`] and not handled yet.
    pending: Arc<AtomicI64>,
}

impl BrokerActor {
    /// One request sent through [`LocalBroker`] was handled.
    fn handled(&self) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Actor for BrokerActor {
    type Context = Context<Self>;
}

impl Handler<Subscribe> for BrokerActor {
    type Result = ();
    fn handle(&mut self, Subscribe(topic, handle): Subscribe, _: &mut Context<Self>) {
        self.handled();
        let id = handle.id;
        let new = match self.topics.entry(topic.clone()) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Subscribers::One(id, handle));
                true
            }
            std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().insert(id, handle),
        };
        if new {
            // A socket has two or three topics: grown one at a time, not
            // to a `Vec`'s first four.
            let topics = self.by_connection.entry(id).or_default();
            topics.reserve_exact(1);
            topics.push(topic);
        }
    }
}

impl Handler<Unsubscribe> for BrokerActor {
    type Result = ();
    fn handle(&mut self, Unsubscribe(topic, id): Unsubscribe, _: &mut Context<Self>) {
        self.handled();
        self.remove(&topic, id);
        if let Some(topics) = self.by_connection.get_mut(&id) {
            topics.retain(|t| t != &topic);
            if topics.is_empty() {
                self.by_connection.remove(&id);
            }
        }
    }
}

impl Handler<UnsubscribeAll> for BrokerActor {
    type Result = ();
    fn handle(&mut self, UnsubscribeAll(id): UnsubscribeAll, _: &mut Context<Self>) {
        self.handled();
        for topic in self.by_connection.remove(&id).unwrap_or_default() {
            self.remove(&topic, id);
        }
    }
}

impl Handler<Publish> for BrokerActor {
    type Result = ();
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) {
        self.handled();
        if let Some(subs) = self.topics.get(&msg.topic) {
            subs.for_each(|id, handle| {
                if Some(id) != msg.except {
                    handle.deliver_published(msg.frame.clone(), Some(msg.at));
                }
            });
        }
    }
}

impl Handler<SendTo> for BrokerActor {
    type Result = ();
    fn handle(&mut self, SendTo(handle, frame): SendTo, _: &mut Context<Self>) {
        self.handled();
        handle.deliver(frame);
    }
}

impl Handler<CountSubscribers> for BrokerActor {
    type Result = usize;
    fn handle(
        &mut self,
        CountSubscribers(topic): CountSubscribers,
        _: &mut Context<Self>,
    ) -> usize {
        self.topics.get(&topic).map_or(0, Subscribers::len)
    }
}

impl BrokerActor {
    fn remove(&mut self, topic: &Topic, id: ConnectionId) {
        if let Some(subs) = self.topics.get_mut(topic) {
            if subs.remove(id) {
                self.topics.remove(topic);
            }
        }
    }
}

/// The in-process [`Broker`]: routes each request to its shard.
#[derive(Clone)]
pub struct LocalBroker {
    shards: Arc<[Addr<BrokerActor>]>,
    /// Per connection, the shards it subscribed in (bit `i`: shard `i`).
    used: Arc<Mutex<HashMap<ConnectionId, u64>>>,
    pending: Arc<AtomicI64>,
}

impl LocalBroker {
    /// One shard on the current arbiter.
    pub fn start() -> Self {
        let pending = Arc::new(AtomicI64::new(0));
        let actor = BrokerActor {
            pending: pending.clone(),
            ..BrokerActor::default()
        };
        Self::with_shards(vec![actor.start()], pending)
    }

    /// One shard on each of `arbiters` (at most 64 are used).
    pub fn start_sharded(arbiters: &[ArbiterHandle]) -> Self {
        if arbiters.is_empty() {
            return Self::start();
        }
        let pending = Arc::new(AtomicI64::new(0));
        let shards = arbiters
            .iter()
            .take(64)
            .map(|arbiter| {
                let pending = pending.clone();
                BrokerActor::start_in_arbiter(arbiter, move |_| BrokerActor {
                    pending,
                    ..BrokerActor::default()
                })
            })
            .collect();
        Self::with_shards(shards, pending)
    }

    fn with_shards(shards: Vec<Addr<BrokerActor>>, pending: Arc<AtomicI64>) -> Self {
        LocalBroker {
            shards: shards.into(),
            used: Arc::default(),
            pending,
        }
    }

    /// Counts a request into the mailbox.
    fn sent(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// The shard a topic lives in.
    fn shard_index(&self, topic: &Topic) -> usize {
        let tenant: &TenantId = match topic {
            Topic::Tenant(t) | Topic::User(t, _) | Topic::Roster(t) | Topic::Yjs(t, _) => t,
            Topic::Room(room) => &room.tenant,
        };
        crate::ids::shard_of(tenant, self.shards.len())
    }

    /// The shard actors, for queries (a topic's shard: [`Self::shard_for`]).
    pub fn shards(&self) -> &[Addr<BrokerActor>] {
        &self.shards
    }

    /// The shard holding `topic`.
    pub fn shard_for(&self, topic: &Topic) -> &Addr<BrokerActor> {
        &self.shards[self.shard_index(topic)]
    }

    /// The shards a connection subscribed in (`remove`: forget them).
    fn shards_of(&self, connection: ConnectionId, remove: bool) -> u64 {
        let Ok(mut used) = self.used.lock() else {
            // A panic while holding the lock: reach every shard.
            return u64::MAX;
        };
        if remove {
            used.remove(&connection).unwrap_or(0)
        } else {
            used.get(&connection).copied().unwrap_or(0)
        }
    }

    fn each_shard(&self, mask: u64) -> impl Iterator<Item = &Addr<BrokerActor>> {
        self.shards
            .iter()
            .enumerate()
            .filter(move |(i, _)| mask & (1u64 << i) != 0)
            .map(|(_, shard)| shard)
    }
}

impl Broker for LocalBroker {
    fn subscribe(&self, topic: Topic, handle: ConnectionHandle) {
        let shard = self.shard_index(&topic);
        if let Ok(mut used) = self.used.lock() {
            *used.entry(handle.id).or_insert(0) |= 1u64 << shard;
        }
        self.sent();
        self.shards[shard].do_send(Subscribe(topic, handle));
    }
    fn unsubscribe(&self, topic: Topic, connection: ConnectionId) {
        self.sent();
        self.shard_for(&topic)
            .do_send(Unsubscribe(topic, connection));
    }
    fn unsubscribe_all(&self, connection: ConnectionId) {
        for shard in self.each_shard(self.shards_of(connection, true)) {
            self.sent();
            shard.do_send(UnsubscribeAll(connection));
        }
    }
    fn publish(&self, topic: Topic, frame: Frame, except: Option<ConnectionId>) {
        self.sent();
        self.shard_for(&topic).do_send(Publish {
            topic,
            frame,
            except,
            at: std::time::Instant::now(),
        });
    }
    fn send_to(&self, handle: &ConnectionHandle, frame: Frame) {
        // Through the shard of the connection's topics (its tenant's), after
        // what was published there; a connection with no topic has nothing
        // to be ordered against.
        let mask = self.shards_of(handle.id, false);
        let shard = if mask == 0 {
            crate::ids::shard_of(&handle.id, self.shards.len())
        } else {
            mask.trailing_zeros() as usize
        };
        self.sent();
        self.shards[shard].do_send(SendTo(handle.clone(), frame));
    }
    fn mailbox_depth(&self) -> Option<usize> {
        Some(usize::try_from(self.pending.load(Ordering::Relaxed)).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// An actor that takes frames and closes and does nothing with them.
    struct Sink;
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<crate::broker::Deliver> for Sink {
        type Result = ();
        fn handle(&mut self, _: crate::broker::Deliver, _: &mut Context<Self>) {}
    }
    impl Handler<crate::broker::CloseSocket> for Sink {
        type Result = ();
        fn handle(&mut self, _: crate::broker::CloseSocket, _: &mut Context<Self>) {}
    }

    async fn handle(id: u64) -> ConnectionHandle {
        let sink = Sink.start();
        ConnectionHandle::new(
            ConnectionId(id),
            sink.clone().recipient(),
            sink.recipient(),
            16,
            std::time::Duration::from_secs(1),
            None,
        )
    }

    fn ids(subs: &Subscribers) -> Vec<ConnectionId> {
        let mut out = Vec::new();
        subs.for_each(|id, _| out.push(id));
        out.sort();
        out
    }

    #[actix_rt::test]
    async fn subscribers_grow_from_one_to_a_map_and_shrink_back() {
        let (a, b) = (ConnectionId(1), ConnectionId(2));
        let mut subs = Subscribers::One(a, handle(1).await);
        assert!(!subs.insert(a, handle(1).await), "the same one again");
        assert_eq!(subs.len(), 1);
        assert!(subs.insert(b, handle(2).await));
        assert!(matches!(subs, Subscribers::Many(_)));
        assert_eq!(ids(&subs), vec![a, b]);
        assert!(!subs.remove(ConnectionId(9)), "not a subscriber");
        assert!(!subs.remove(a));
        assert!(matches!(subs, Subscribers::One(id, _) if id == b));
        assert!(!subs.remove(a), "already gone");
        assert!(subs.remove(b), "nobody left");
    }
}
