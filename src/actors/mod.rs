//! The actor tree of one node.
//!
//! ```text
//! RegistryActor (one per node: admits, creates, finds, reaps)
//! ├── ConnectionActor  one per WebSocket (the only actor that touches the socket)
//! ├── PresenceActor    one per (tenant, user): devices, status, activity, location
//! ├── RosterActor      one per tenant: who is online; publishes presence diffs
//! └── RoomActor        one per (tenant, entity_type, entity_id): members, cursors, typing
//! BrokerActor          topic subscriptions; every delivery to other connections
//! LogWriterActor       batches user_presence_log rows off the hot path
//! ```
//!
//! Connections reach rooms directly once joined (the registry only routes the
//! join); rooms and rosters reach connections through the broker.

pub mod connection;
pub mod log_writer;
pub mod presence;
pub mod registry;
pub mod room;
pub mod roster;

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
    /// Push, FCM and email delivery.
    pub push: actix::Recipient<crate::push::PushJob>,
    /// The database pool (REST handlers and services that write).
    pub db: crate::db::Db,
}
