//! Delivery to connections. Everything sent to a connection other than the
//! one that asked goes through the [`Broker`] trait: rooms, rosters and
//! services publish a frame to a [`Topic`]; the broker hands it to every
//! subscribed [`ConnectionHandle`]. [`local::LocalBroker`] does it in process;
//! a Redis bridge implements the same trait to reach other nodes.
//!
//! A frame is serialized once and shared (`ByteString` clones are cheap).
//! Each handle bounds its connection's outbound queue: past
//! `websocket.outbound_queue_limit` the connection is a slow consumer and is
//! closed with 4008 without holding anyone else up.

pub mod local;

use crate::actors::connection::{CloseSocket, Deliver};
use crate::ids::{ConnectionId, RoomId, TenantId, UserId};
use crate::protocol::close_code;
use actix::Recipient;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A serialized server message.
pub type Frame = bytestring::ByteString;

/// Who a published frame is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Every connection of a tenant (presence diffs, team activity).
    Tenant(TenantId),
    /// Every connection of one user (notifications).
    User(TenantId, UserId),
    /// Every member connection of a room.
    Room(RoomId),
}

/// The delivery interface. Implementations must not block: they enqueue.
pub trait Broker: Send + Sync + 'static {
    /// Adds a connection to a topic.
    fn subscribe(&self, topic: Topic, handle: ConnectionHandle);
    /// Removes a connection from a topic.
    fn unsubscribe(&self, topic: Topic, connection: ConnectionId);
    /// Removes a connection from every topic (it closed).
    fn unsubscribe_all(&self, connection: ConnectionId);
    /// Sends a frame to every subscriber of `topic`, except `except`.
    fn publish(&self, topic: Topic, frame: Frame, except: Option<ConnectionId>);
    /// Sends a frame to one connection, in order with everything the same
    /// caller published before (a reply must not overtake an earlier broadcast).
    fn send_to(&self, handle: &ConnectionHandle, frame: Frame);
}

/// Shared between a connection actor and everyone holding its handle.
struct Outbound {
    /// Frames handed to the actor and not yet written to its socket.
    queued: AtomicUsize,
    /// Set once the connection is being closed as a slow consumer.
    closing: AtomicBool,
    /// Last time (ms since process start) the actor ran its liveness tick.
    last_tick_ms: AtomicI64,
    /// Queue bound.
    limit: usize,
    /// How long the close frame may take before the TCP stream is cut.
    grace: Duration,
    /// A duplicate of the TCP socket, used to cut a connection whose actor
    /// cannot run because its peer stopped reading.
    socket: Option<Arc<std::net::TcpStream>>,
}

/// A cheap, cloneable way to send frames to one connection.
#[derive(Clone)]
pub struct ConnectionHandle {
    /// The connection.
    pub id: ConnectionId,
    deliver: Recipient<Deliver>,
    close: Recipient<CloseSocket>,
    outbound: Arc<Outbound>,
}

impl std::fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnectionHandle({})", self.id)
    }
}

impl ConnectionHandle {
    /// Builds the handle for a connection actor.
    pub fn new(
        id: ConnectionId,
        deliver: Recipient<Deliver>,
        close: Recipient<CloseSocket>,
        limit: usize,
        grace: Duration,
        socket: Option<Arc<std::net::TcpStream>>,
    ) -> Self {
        ConnectionHandle {
            id,
            deliver,
            close,
            outbound: Arc::new(Outbound {
                queued: AtomicUsize::new(0),
                closing: AtomicBool::new(false),
                last_tick_ms: AtomicI64::new(crate::clock::monotonic_ms()),
                limit,
                grace,
                socket,
            }),
        }
    }

    /// Queues a frame; false when the connection is gone or too far behind
    /// (it is then being closed as a slow consumer).
    pub fn deliver(&self, frame: Frame) -> bool {
        if self.outbound.closing.load(Ordering::Relaxed) {
            return false;
        }
        let queued = self.outbound.queued.fetch_add(1, Ordering::AcqRel) + 1;
        if queued > self.outbound.limit {
            self.outbound.queued.fetch_sub(1, Ordering::AcqRel);
            self.cut(
                close_code::SLOW_CONSUMER,
                "slow consumer: outbound queue full",
            );
            return false;
        }
        self.deliver.do_send(Deliver(frame));
        true
    }

    /// False once the connection actor has stopped.
    pub fn is_alive(&self) -> bool {
        self.deliver.connected()
    }

    /// Called by the connection actor when it took a frame off its queue.
    pub fn dequeued(&self) {
        self.outbound.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// True once the connection is being cut as a slow consumer.
    pub fn is_closing(&self) -> bool {
        self.outbound.closing.load(Ordering::Relaxed)
    }

    /// Frames waiting for this connection.
    pub fn queued(&self) -> usize {
        self.outbound.queued.load(Ordering::Relaxed)
    }

    /// Records that the actor is running (its periodic tick).
    pub fn tick(&self) {
        self.outbound
            .last_tick_ms
            .store(crate::clock::monotonic_ms(), Ordering::Relaxed);
    }

    /// Milliseconds since the actor last ran its tick.
    pub fn stalled_for_ms(&self) -> i64 {
        crate::clock::monotonic_ms() - self.outbound.last_tick_ms.load(Ordering::Relaxed)
    }

    /// Asks the actor to close with `code`, and cuts the TCP connection after
    /// the grace period in case the actor cannot run (its peer stopped
    /// reading, so its writes never complete).
    pub fn cut(&self, code: u16, reason: &'static str) {
        if self.outbound.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        log::info!("closing connection {} with {code}: {reason}", self.id);
        self.close.do_send(CloseSocket { code, reason });
        if let Some(socket) = self.outbound.socket.clone() {
            let grace = self.outbound.grace;
            actix_rt::spawn(async move {
                tokio::time::sleep(grace).await;
                let _ = socket.shutdown(std::net::Shutdown::Both);
            });
        }
    }
}
