//! The actor tree of one node.
//!
//! ```text
//! RegistryActor (one per node: admits, creates, finds, reaps, restarts)
//! │   registry/{mod: lifecycle, reaping: rooms and presence, queries: presence routing,
//! │             supervision: replaces rooms and presence actors that stopped unexpectedly}
//! ├── ConnectionActor  one per WebSocket (the only actor that touches the socket)
//! │     connection/{mod: socket actor, dispatch: wire → typed messages, inbox: notifications}
//! ├── SseConnectionActor  one per Server-Sent Events stream (notifications, activity)
//! ├── PresenceActor    one per (tenant, user): devices, status, activity, location
//! ├── RosterActor      one per tenant: who is online; publishes presence diffs
//! └── RoomActor        one per (tenant, entity_type, entity_id): members, cursors, typing
//!     │ room/{mod: membership, events: cursors, typing, editing, broadcasts, queries}
//!     └── DocumentActor  the room's document session: OT fields, values, locks, persistence
//!           document/{mod: state and handlers, commands, write_queue: ordered storage}
//! BrokerActor          topic subscriptions; every delivery to other connections
//! LogWriterActor       batches user_presence_log rows off the hot path
//! YjsRegistryActor     y-websocket: a YjsDocActor per (tenant, document), a YjsConnectionActor per socket
//! shell                not an actor: the socket shell ConnectionActor and YjsConnectionActor
//!                      share (rate limit, flood, liveness, token expiry, reassembly, close)
//! ```
//!
//! Connections reach rooms directly once joined (the registry only routes the
//! join); rooms and rosters reach connections through the broker. A
//! connection that finds its room's address dead forgets it and answers
//! `not_in_room`, so the client's rejoin reaches the fresh room.

pub mod connection;
pub mod document;
pub mod log_writer;
pub mod presence;
pub mod registry;
pub mod room;
pub mod roster;
pub mod shell;
pub mod sse;
pub mod yjs_connection;
pub mod yjs_doc;
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
}
