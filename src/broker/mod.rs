//! Delivery to connections. Tenant- and user-wide frames (presence,
//! notifications, activity) go through the [`Broker`] trait: rosters and
//! services publish a frame to a [`Topic`]; the broker hands it to every
//! subscribed [`ConnectionHandle`]. [`local::LocalBroker`] does it in process;
//! `cluster::bridge::RedisBroker` wraps it to reach the other nodes of a cluster
//! (when `redis.url` is set). A room
//! delivers to its members itself, through the same handles (it owns its
//! member list; `actors::room` says why).
//!
//! A [`Frame`] is serialized once and shared (its text is a `ByteString`,
//! cheap to clone); it carries its kind and id, so no receiver parses it.
//! Each handle bounds its connection's outbound queue: past
//! `websocket.outbound_queue_limit` the connection is a slow consumer and is
//! closed with 4008 without holding anyone else up.

pub mod local;
pub mod outbound;
pub mod stats;

pub use outbound::Outbound;
pub use stats::ConnectionStats;

use crate::ids::{ConnectionId, TenantId, UserId};
use crate::protocol::close_code;
use actix::{Message, Recipient};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::protocol::{Frame, FrameKind};

/// A frame for a connection actor to write to its socket, with when it was
/// published (for the fan-out latency histogram; `None` when not timed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Frame, pub Option<Instant>);

/// Asks a connection actor to close its socket with a code (shutdown, slow consumer, ...).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseSocket {
    /// WebSocket close code (see `protocol::close_code`).
    pub code: u16,
    /// Short reason sent in the close frame.
    pub reason: &'static str,
}

/// Who a published frame is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Every connection of a tenant (presence diffs, team activity).
    Tenant(TenantId),
    /// Every connection of one user (notifications).
    User(TenantId, UserId),
    /// In a cluster, the rosters of one tenant on every node (presence
    /// across nodes; carries [`crate::protocol::FrameKind::Cluster`] frames).
    Roster(TenantId),
    /// In a cluster, the actors of one Yjs document (tenant, name) on every
    /// node (updates and awareness across nodes; `actors::yjs_doc::cluster`).
    Yjs(TenantId, std::sync::Arc<str>),
    /// In a cluster, the room actors of one room key on every node
    /// (`room:broadcast` across nodes; `actors::room::relay`).
    Room(crate::ids::RoomId),
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
    /// Requests waiting in the broker's mailbox, when it counts them (`/metrics`).
    fn mailbox_depth(&self) -> Option<usize> {
        None
    }
    /// Sends a frame to every tenant: `local` are the tenants with a
    /// connection on this node. A clustered broker also reaches the tenants
    /// connected to the other nodes.
    fn publish_all_tenants(&self, local: &[TenantId], frame: Frame) {
        for tenant in local {
            self.publish(Topic::Tenant(tenant.clone()), frame.clone(), None);
        }
    }
    /// The node's place in a cluster; `None` for a node that runs alone.
    fn cluster(&self) -> Option<ClusterStatus> {
        None
    }
    /// Stops talking to other nodes (graceful shutdown).
    fn stop(&self) {}
}

/// A clustered node's link to the others (`/readyz`, admin stats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    /// This node's id.
    pub node: String,
    /// Redis answers both the subscriber and the publisher.
    pub redis_up: bool,
    /// Times the node's subscriber connection to Redis came up: a change
    /// means the node may have missed frames from other nodes meanwhile
    /// (actors that keep state learned from them read it again).
    pub sessions: u64,
}

/// A cheap, cloneable way to send frames to one connection.
///
/// The broker's topics, the registry, the roster, the presence actor and
/// every room the connection is in each keep a clone: a clone is the id and
/// one reference count, not two more mailbox senders (each a heap box).
#[derive(Clone)]
pub struct ConnectionHandle {
    /// The connection.
    pub id: ConnectionId,
    inner: Arc<HandleInner>,
}

/// What every clone of a [`ConnectionHandle`] shares.
#[derive(Clone)]
struct HandleInner {
    deliver: Recipient<Deliver>,
    close: Recipient<CloseSocket>,
    outbound: Arc<Outbound>,
    stats: Arc<ConnectionStats>,
    /// A WebSocket's shared output: frames are written there directly
    /// instead of going through the actor's mailbox (`transport::sink`).
    sink: Option<Arc<crate::transport::sink::Sink>>,
}

impl std::fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnectionHandle({})", self.id)
    }
}

/// Frames from other nodes a relay handle may have queued before it is cut.
pub const RELAY_QUEUE: usize = 65_536;

/// Relay handles take ids from the top half of the range, far from the
/// registry's connection ids (which count up from 1), one counter for
/// every kind of relay: `unsubscribe_all` of one must never reach another.
static NEXT_RELAY_ID: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(u64::MAX / 2);

impl ConnectionHandle {
    /// A handle for an actor that listens to a topic for other nodes'
    /// frames (a room, roster or Yjs document of a clustered node), with an
    /// id no connection or other relay has. Past [`RELAY_QUEUE`] frames
    /// queued, the actor gets [`CloseSocket`].
    pub fn relay(deliver: Recipient<Deliver>, close: Recipient<CloseSocket>) -> Self {
        let id = ConnectionId(NEXT_RELAY_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        ConnectionHandle::new(
            id,
            deliver,
            close,
            RELAY_QUEUE,
            Duration::from_secs(1),
            None,
        )
    }

    /// Builds the handle for a connection actor.
    pub fn new(
        id: ConnectionId,
        deliver: Recipient<Deliver>,
        close: Recipient<CloseSocket>,
        limit: usize,
        grace: Duration,
        socket: Option<crate::transport::socket::SocketRef>,
    ) -> Self {
        ConnectionHandle {
            id,
            inner: Arc::new(HandleInner {
                deliver,
                close,
                outbound: Arc::new(Outbound::new(limit, grace, socket)),
                stats: Arc::new(ConnectionStats::new("ws")),
                sink: None,
            }),
        }
    }

    /// Delivers through the socket's shared output instead of the mailbox
    /// (set before the handle is handed out; clones made earlier keep the
    /// mailbox).
    pub fn with_sink(mut self, sink: Arc<crate::transport::sink::Sink>) -> Self {
        Arc::make_mut(&mut self.inner).sink = Some(sink);
        self
    }

    /// The same handle for another transport (`sse`): shown by the admin API.
    pub fn with_transport(mut self, transport: &'static str) -> Self {
        Arc::make_mut(&mut self.inner).stats = Arc::new(ConnectionStats::new(transport));
        self
    }

    /// The connection's admin-visible facts (transport, rooms, counters).
    pub fn stats(&self) -> &ConnectionStats {
        &self.inner.stats
    }

    /// Queues a frame; false when the connection is gone or too far behind
    /// (it is then being closed as a slow consumer).
    pub fn deliver(&self, frame: Frame) -> bool {
        self.deliver_published(frame, None)
    }

    /// [`Self::deliver`] for a frame published at `published`: the connection
    /// actor records the time from then to its write as fan-out latency.
    pub fn deliver_published(&self, frame: Frame, published: Option<Instant>) -> bool {
        if self.inner.outbound.is_closing() {
            return false;
        }
        if let Some(sink) = &self.inner.sink {
            return self.write_to(sink, frame, published);
        }
        if !self.inner.outbound.reserve() {
            metrics::counter!("tandem_slow_consumer_closes_total", "transport" => "ws")
                .increment(1);
            self.cut(
                close_code::SLOW_CONSUMER,
                "slow consumer: outbound queue full",
            );
            return false;
        }
        self.inner.deliver.do_send(Deliver(frame, published));
        true
    }

    /// [`Self::deliver_published`] straight into the socket's output: what
    /// the connection actor does with a [`Deliver`], on the sender's thread.
    fn write_to(
        &self,
        sink: &Arc<crate::transport::sink::Sink>,
        frame: Frame,
        published: Option<Instant>,
    ) -> bool {
        use crate::transport::sink::Pushed;
        if frame.kind() == FrameKind::Cluster {
            // Cluster frames are for the node's relays, never for a socket.
            return true;
        }
        let text = frame.into_text();
        match sink.push_text(text.as_bytes()) {
            Pushed::Closed => return false,
            Pushed::Written => {}
            Pushed::Queued(frames) if frames > self.inner.outbound.limit() => {
                metrics::counter!("tandem_slow_consumer_closes_total", "transport" => "ws")
                    .increment(1);
                self.cut(
                    close_code::SLOW_CONSUMER,
                    "slow consumer: outbound queue full",
                );
            }
            Pushed::Queued(_) => {}
        }
        self.sent(&text, published);
        true
    }

    /// Counts a frame written to the connection's socket (the admin
    /// counters, the outbound metrics, the fan-out latency of a frame
    /// published at `published`).
    pub fn sent(&self, text: &str, published: Option<Instant>) {
        self.inner.stats.sent();
        crate::telemetry::message_out(text);
        if let Some(at) = published {
            crate::telemetry::fanout_latency(at.elapsed());
        }
    }

    /// False once the connection actor has stopped.
    pub fn is_alive(&self) -> bool {
        self.inner.deliver.connected()
    }

    /// Called by the connection actor when it took a frame off its queue.
    pub fn dequeued(&self) {
        self.inner.outbound.release();
    }

    /// True once the connection is being closed.
    pub fn is_closing(&self) -> bool {
        self.inner.outbound.is_closing()
    }

    /// Frames waiting for this connection.
    pub fn queued(&self) -> usize {
        self.inner.outbound.queued()
    }

    /// Records that the actor is running (its periodic tick).
    pub fn tick(&self) {
        self.inner.outbound.tick();
    }

    /// Milliseconds from the actor's last tick to `now` (a
    /// [`crate::clock::monotonic_ms`] reading shared by a sweep).
    pub fn stalled_at(&self, now: i64) -> i64 {
        self.inner.outbound.stalled_at(now)
    }

    /// Asks the actor to close with `code`, and cuts the TCP connection after
    /// the grace period in case the actor cannot run (its peer stopped
    /// reading, so its writes never complete).
    pub fn cut(&self, code: u16, reason: &'static str) {
        if !self.inner.outbound.begin_close() {
            return;
        }
        log::info!("closing connection {} with {code}: {reason}", self.id);
        self.inner.close.do_send(CloseSocket { code, reason });
        let deliver = self.inner.deliver.clone();
        self.inner
            .outbound
            .cut_after_grace(move || deliver.connected());
    }
}
