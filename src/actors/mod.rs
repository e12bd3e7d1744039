//! The actor tree of one node.
//!
//! Threads: the Yjs registry, the log writer and group commit run on the
//! System arbiter, the registry on the actor pool's first arbiter; WebSocket
//! sockets (`ConnectionActor`, `YjsConnectionActor`) on the actor pool too
//! (by connection id), SSE streams (`SseConnectionActor`) on the HTTP
//! worker that accepted them; rooms (with
//! their document session), presence actors, rosters, Yjs documents and the
//! broker's shards on the actor pool (`pool`: one arbiter per core, chosen by
//! a hash of the room, (tenant, user), tenant, document or topic tenant);
//! push on an arbiter of its own. Tagged `[pool]` below.
//!
//! ```text
//! RegistryActor (one per node: creates, finds, reaps, restarts)
//! │   registry/{mod: lifecycle, connections: sockets opening and closing,
//! │             slots: per-user socket slots and ids, taken in the upgrade handler,
//! │             reaping: rooms and presence, queries: presence routing,
//! │             supervision: replaces rooms and presence actors that stopped unexpectedly,
//! │             admin: connection listing, disconnects, room listing, system messages}
//! ├── ConnectionActor  one per WebSocket (the only actor that touches the socket)
//! │     connection/{mod: socket actor, dispatch: wire → typed messages, rooms: room and
//! │                 doc:* routing, inbox: notifications,
//! │                 presence_route: presence changes via the registry or direct}
//! ├── SseConnectionActor  one per Server-Sent Events stream (notifications, activity)
//! ├── PresenceActor    [pool] one per (tenant, user): devices, status, activity, location
//! ├── RosterActor      [pool] one per tenant: who is online; sends presence lists and batched diffs
//! │     roster/{mod: the actor, cluster: every node's users merged, announced over Redis,
//! │             dead nodes' users dropped}
//! └── RoomActor        [pool] one per (tenant, entity_type, entity_id): owns its members, delivers
//!     │                to them (its own frames and its document's), cursors, typing
//!     │ room/{mod: the actor, membership: joins and leaves, delivery: to members,
//!     │       batched join announcements, views, members: members by user with ready
//!     │       JSON (pure), events: cursors, typing, editing, broadcasts, document
//!     │       frames, queries, cursors: stored cursors (pure), relay: the room's
//!     │       topic across the nodes of a cluster (room:broadcast, and a dispatcher
//!     │       of cluster frames), cluster_state: other nodes' members, cursors,
//!     │       typing, editing (pure), cluster_sync: telling the other nodes and
//!     │       showing theirs (hello/state resync, dead-node sweep), doc_relay: its
//!     │       document's messages to and from the other nodes (doc.*)}
//!     └── DocumentActor  [pool, its room's thread] the room's document session: OT fields,
//!           values, locks, persistence;
//!           serves member connections directly, refuses others; in a cluster
//!           either owns the document or forwards to the node that does
//!           document/{mod: state and lifecycle, commands, write_queue: ordered storage,
//!                   replies: answers and lock status, room_messages: REST locks, info,
//!                   members, lease: the cluster lease (one writer per document),
//!                   forward: forwarding to the owner, serving forwarded requests,
//!                   failover, forward_rest: REST lock calls carried to the owner,
//!                   proxy: the forwarding state (pure), wire: the doc.* messages
//!                   between nodes (pure)}
//! BrokerActor          [pool] one shard per actor thread, by tenant: tenant and user topics
//!                      (notifications, activity, system messages; in a cluster wrapped by
//!                      cluster::bridge, which carries them, and room topics, to the other
//!                      nodes over Redis)
//! LogWriterActor       batches user_presence_log rows off the hot path
//! revocation_sync      not an actor: in a cluster, follows admin revocations made on other
//!                      nodes (reads them every 2 s, closes the user's sockets, refuses tokens)
//! group_commit         not an actor: one task storing every document's change rows in batches
//! YjsRegistryActor     y-websocket: a YjsDocActor [pool] per (tenant, document), a YjsConnectionActor
//!                      per socket
//!                      (yjs_registry/admin: listing and closing Yjs sockets; yjs_doc/cluster: in a
//!                      cluster each node's document relays its stored changes and awareness to the
//!                      others and catches up from the stored rows)
//! yjs_peer             not an actor: how a Yjs document reaches a socket (YjsPeer, its messages,
//!                      close codes)
//! pool                 not an actor: the actor threads and which key runs where
//! shell                not an actor: the socket shell ConnectionActor and YjsConnectionActor
//!                      share (rate limit, flood, token expiry, reassembly, close; liveness is
//!                      the transport's sweep, transport::liveness)
//! ```
//!
//! Connections reach rooms directly once joined (the registry only routes the
//! join), their presence actor directly once the registry told them its
//! address (`registry` says how order is kept), and the room's document
//! session directly once the room handed its address over (the first
//! `doc:*` request goes through the room). Rooms
//! deliver to their members themselves; rosters and services reach
//! connections through the broker. A connection that finds its room's
//! address dead forgets it (and its session's) and answers `not_in_room`, so
//! the client's rejoin reaches the fresh room.
//!
//! Imports point down the tree (connection → registry → room → document;
//! yjs_connection → yjs_registry → yjs_doc → yjs_peer): a message an actor
//! sends upward (`RoomJoined`, `DocumentOpened`, `RoomIdle`, the document's
//! `FromDocument`, the Yjs document's `DocIdle`, `DocFailed`, `DocRetired`)
//! is defined with its sender and reaches the receiver as a `Recipient`, so
//! the lower actor never imports the higher.

pub mod connection;
pub mod document;
pub mod group_commit;
pub mod log_writer;
pub mod pool;
pub mod presence;
pub mod registry;
pub mod revocation_sync;
pub mod room;
pub mod roster;
pub mod shell;
pub mod sse;
pub mod yjs_connection;
pub mod yjs_doc;
pub mod yjs_peer;
pub mod yjs_registry;

use crate::auth::Authenticator;
use crate::broker::Broker;
use crate::config::Settings;
use actix::Addr;
use std::sync::Arc;

/// What every actor of a node may use.
pub struct Services {
    /// Configuration.
    pub settings: Arc<Settings>,
    /// Delivery to connections.
    pub broker: Arc<dyn Broker>,
    /// The node's registry.
    pub registry: Addr<registry::RegistryActor>,
    /// Per-user socket slots and connection ids (`/ws` and SSE), taken in
    /// the upgrade handler itself.
    pub socket_slots: Arc<registry::slots::SocketSlots>,
    /// Token verification (for `auth:refresh`).
    pub auth: actix_web::web::Data<Authenticator>,
    /// Presence log writer.
    pub log_writer: Addr<log_writer::LogWriterActor>,
    /// Yjs documents (y-websocket): admits sockets, finds and reaps documents.
    pub yjs: Addr<yjs_registry::YjsRegistryActor>,
    /// Push, FCM and email delivery.
    pub push: actix::Recipient<crate::push::PushJob>,
    /// The database pool (REST handlers and services that write).
    pub db: crate::db::Db,
    /// The notification and activity services' dependencies.
    pub notify: crate::notify::Notifier,
    /// Stores every document's change rows in batches (group commit).
    pub group_commit: group_commit::GroupCommit,
    /// The actor threads rooms, presence, rosters and Yjs documents run on.
    pub pool: Arc<pool::ActorPool>,
    /// Document leases (one writer per document in a cluster); `None` for
    /// a node that runs alone.
    pub leases: Option<crate::cluster::lease::Leases>,
    /// Per-user connection slots across the cluster; `None` alone.
    pub slots: Option<crate::cluster::slots::Slots>,
    /// This node's id and which other nodes are alive; `None` alone.
    pub nodes: Option<crate::cluster::nodes::Nodes>,
}
