//! In-process broker: one actor holding topic subscriptions.
//!
//! Every request goes through [`LocalBroker`], which counts it into a shared
//! counter that the actor counts back out when it handles it: the mailbox
//! depth `/metrics` reports (one relaxed atomic add on each side).

use super::{Broker, ConnectionHandle, Frame, Topic};
use crate::ids::ConnectionId;
use actix::{Actor, Addr, Context, Handler, Message};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

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

/// Holds the subscriptions of this node.
#[derive(Default)]
pub struct BrokerActor {
    topics: HashMap<Topic, HashMap<ConnectionId, ConnectionHandle>>,
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
        let subs = self.topics.entry(topic.clone()).or_default();
        if subs.insert(id, handle).is_none() {
            self.by_connection.entry(id).or_default().push(topic);
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
            for (id, handle) in subs {
                if Some(*id) != msg.except {
                    handle.deliver_published(msg.frame.clone(), Some(msg.at));
                }
            }
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
        self.topics.get(&topic).map_or(0, HashMap::len)
    }
}

impl BrokerActor {
    fn remove(&mut self, topic: &Topic, id: ConnectionId) {
        if let Some(subs) = self.topics.get_mut(topic) {
            subs.remove(&id);
            if subs.is_empty() {
                self.topics.remove(topic);
            }
        }
    }
}

/// The in-process [`Broker`].
#[derive(Clone)]
pub struct LocalBroker {
    addr: Addr<BrokerActor>,
    pending: Arc<AtomicI64>,
}

impl LocalBroker {
    /// Starts the broker actor on the current arbiter.
    pub fn start() -> Self {
        let actor = BrokerActor::default();
        let pending = actor.pending.clone();
        LocalBroker {
            addr: actor.start(),
            pending,
        }
    }

    /// Counts a request into the mailbox.
    fn sent(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// The actor, for queries.
    pub fn addr(&self) -> &Addr<BrokerActor> {
        &self.addr
    }
}

impl Broker for LocalBroker {
    fn subscribe(&self, topic: Topic, handle: ConnectionHandle) {
        self.sent();
        self.addr.do_send(Subscribe(topic, handle));
    }
    fn unsubscribe(&self, topic: Topic, connection: ConnectionId) {
        self.sent();
        self.addr.do_send(Unsubscribe(topic, connection));
    }
    fn unsubscribe_all(&self, connection: ConnectionId) {
        self.sent();
        self.addr.do_send(UnsubscribeAll(connection));
    }
    fn publish(&self, topic: Topic, frame: Frame, except: Option<ConnectionId>) {
        self.sent();
        self.addr.do_send(Publish {
            topic,
            frame,
            except,
            at: std::time::Instant::now(),
        });
    }
    fn send_to(&self, handle: &ConnectionHandle, frame: Frame) {
        self.sent();
        self.addr.do_send(SendTo(handle.clone(), frame));
    }
    fn mailbox_depth(&self) -> Option<usize> {
        Some(usize::try_from(self.pending.load(Ordering::Relaxed)).unwrap_or(0))
    }
}
