//! The registry: one per node. It admits connections (per-user cap),
//! creates, finds and reaps presence, roster and room actors, and is told
//! when each of them stops. It is never on the fan-out path: rooms and
//! rosters deliver through the broker.
//!
//! Supervision: an actor can stop without the registry asking (a failure,
//! or a test's `StopRoomForTest`). Every room and presence actor tells the
//! registry as it is dropped, the registry checks `Addr::connected()`
//! whenever it routes to one, and it walks them all every 30 s as a
//! backstop: a dead
//! room is forgotten and a fresh one is started on the next join or lock
//! (it reloads its document from PostgreSQL as on first load; its former
//! members get `not_in_room` and rejoin); a dead presence actor is replaced
//! at once and every live socket of its user is attached to it again.
//!
//! It is not on the hot path either. Joins and presence changes are routed
//! by the registry once, not per message: a joined connection sends to its
//! room directly, and a connection sends its presence changes to its user's
//! presence actor directly once the registry told it the address (in reply
//! to the attach, or to a change it handed over: the connection counts what
//! it sent through the registry and goes direct only when every one has been
//! handed over, so its changes keep their order). Rooms, presence actors and
//! rosters run on the actor pool (`actors::pool`), spread over every core by
//! their key; the registry itself stays one actor, because admission (the
//! per-user cap) and race-free reaping need one owner of the counts, and
//! what it does per join or per socket is a map lookup and a send. Sharding
//! it by key would split the per-user cap and the reaping counts for no
//! gain on the message path.
//!
//! Reaping without races: the registry counts what it forwarded to an actor
//! (joins, attaches). An idle actor reports how many it has seen; the
//! registry retires it only when the counts match, so a message already on
//! its way is never sent to an actor that is stopping.

pub mod admin;
mod connections;
mod queries;
mod reaping;
pub mod slots;
mod supervision;

pub use super::presence::PresenceIdle;
use super::presence::{Activity, Attach, Detach, PresenceActor, SetLocation, SetStatus};
use super::room::{Join, RoomActor, RoomIdle, RoomJoined, StopRoom};
use super::shell::DeviceInfo;
use super::Services;
use crate::actors::roster::{
    GetUser, ListPage, ListUsers, ListViewersOf, PresencePage, RoomInterest, RosterActor, SendList,
    Subscription, Unwatch, Watch,
};
use crate::auth::Principal;
use crate::broker::ConnectionHandle;
use crate::ids::{ConnectionId, RoomId, TenantId, UserId};
use crate::notify::PresenceOf;
use crate::protocol::close_code;
use crate::protocol::server::PresenceView;
use crate::protocol::Ref;
use actix::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A socket's actor started.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectionOpened {
    /// How to reach it.
    pub handle: ConnectionHandle,
    /// Who it is.
    pub principal: Principal,
    /// Its device.
    pub device: DeviceInfo,
    /// Told its user's presence actor once the socket is attached to it.
    pub presence_to: Recipient<PresenceReady>,
}

/// The registry handed a connection's presence message (or its attach) to
/// the user's presence actor, at this address (`None`: the user has none
/// here). Sent after the hand-over, so what the connection sends the actor
/// directly from now on comes after it; see `ForwardPresence`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PresenceReady(pub Option<Addr<PresenceActor>>);

/// An SSE stream started: tracked so shutdown and the admin API close it
/// too (it does not count as presence).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StreamOpened(pub ConnectionHandle, pub Principal);

/// A socket's actor stopped (or its upgrade failed after admission).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectionClosed {
    /// Which.
    pub id: ConnectionId,
    /// Tenant.
    pub tenant: TenantId,
    /// User.
    pub user: UserId,
}

/// A presence change to hand to a user's presence actor.
pub enum PresenceMsg {
    /// The user did something.
    Activity(Activity),
    /// The user chose a status.
    SetStatus(SetStatus),
    /// A connection moved in the app.
    SetLocation(SetLocation),
}

/// Forward a presence change to the user's presence actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForwardPresence {
    /// Tenant.
    pub tenant: TenantId,
    /// User.
    pub user: UserId,
    /// What changed.
    pub msg: PresenceMsg,
    /// Told the presence actor's address once the change is handed over:
    /// the connection then sends its later changes to the actor directly,
    /// without a round trip through the registry.
    pub reply_to: Option<Recipient<PresenceReady>>,
}

/// A connection asks to join a room.
#[derive(Message)]
#[rtype(result = "()")]
pub struct JoinRoom {
    /// The room (tenant from the token).
    pub room: RoomId,
    /// The joiner.
    pub handle: ConnectionHandle,
    /// Who.
    pub principal: Principal,
    /// Device.
    pub device: DeviceInfo,
    /// Echoed in `room:users`.
    pub r#ref: Option<Ref>,
    /// Told the room's address.
    pub reply_to: Recipient<RoomJoined>,
}

/// A REST lock request for a room's document (the room is created if needed).
#[derive(Message)]
#[rtype(
    result = "Result<Option<crate::protocol::server::LockView>, crate::actors::document::LockRefused>"
)]
pub struct LockDocument {
    /// The room (tenant from the credential).
    pub room: RoomId,
    /// The request.
    pub request: crate::actors::document::RestLock,
}

/// The address of a live room, if any.
#[derive(Message)]
#[rtype(result = "Option<Addr<RoomActor>>")]
pub struct FindRoom(pub RoomId);

/// Online users of a tenant.
#[derive(Message)]
#[rtype(result = "Vec<PresenceView>")]
pub struct ListPresence(pub TenantId);

/// A page of a tenant's online users (REST).
#[derive(Message)]
#[rtype(result = "PresencePage")]
pub struct ListPresencePage {
    /// The tenant.
    pub tenant: TenantId,
    /// Start after this user id.
    pub after: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// What a connection asks of its tenant's roster.
pub enum RosterRequest {
    /// Send it its `presence:list`.
    SendList(SendList),
    /// `presence:subscribe` / `presence:unsubscribe`.
    Subscription(Subscription),
    /// It entered or left a room.
    RoomInterest(RoomInterest),
    /// From a room: its members on other nodes (a cluster).
    RemoteRoomMembers(crate::actors::roster::RemoteRoomMembers),
}

/// Forward a connection's request to its tenant's roster.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ToRoster {
    /// The tenant.
    pub tenant: TenantId,
    /// The request.
    pub request: RosterRequest,
}

/// One user's presence.
#[derive(Message)]
#[rtype(result = "Option<PresenceView>")]
pub struct GetPresence {
    /// Tenant.
    pub tenant: TenantId,
    /// User.
    pub user: UserId,
}

/// Who is viewing an entity.
#[derive(Message)]
#[rtype(result = "Vec<PresenceView>")]
pub struct ListViewers {
    /// Tenant.
    pub tenant: TenantId,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
}

/// Set a user's status from REST (the presence actor must exist: the user is connected).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct SetStatusFor {
    /// Tenant.
    pub tenant: TenantId,
    /// User.
    pub user: UserId,
    /// Status.
    pub status: SetStatus,
}

/// A backend service's ephemeral event for a room's members (REST);
/// true when the room exists on this node and was handed the event.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct BroadcastToRoom {
    /// The room (tenant from the credential).
    pub room: RoomId,
    /// Event name.
    pub event: String,
    /// Payload.
    pub payload: serde_json::Value,
}

/// Close every socket with 1012 and refuse new ones.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Shutdown;

/// Test only: stops a user's presence actor behind the registry's back,
/// as if it had failed, so tests can check that it is replaced. Reachable
/// only from Rust code holding the registry's address, never from the wire.
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "bool")]
pub struct StopPresenceForTest {
    /// Tenant.
    pub tenant: TenantId,
    /// User.
    pub user: UserId,
}

/// Counts of live actors (admin, tests).
#[derive(Message)]
#[rtype(result = "RegistryStats")]
pub struct GetStats;

/// What [`GetStats`] returns.
#[derive(Debug, Clone, Copy, serde::Serialize, actix::MessageResponse)]
pub struct RegistryStats {
    /// Open sockets.
    pub connections: usize,
    /// Open SSE streams.
    pub streams: usize,
    /// Presence actors (users online or in their offline grace).
    pub users: usize,
    /// Tenant rosters.
    pub tenants: usize,
    /// Room actors.
    pub rooms: usize,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// The user is at `websocket.max_connections_per_user`.
    #[error("too many connections for this user")]
    TooManyConnections,
    /// The server is shutting down.
    #[error("server is shutting down")]
    ShuttingDown,
}

struct ConnectionEntry {
    handle: ConnectionHandle,
    /// Who, to attach the socket again to a replaced presence actor.
    principal: Principal,
    device: DeviceInfo,
}

struct RoomEntry {
    addr: Addr<RoomActor>,
    joins_forwarded: u64,
}

struct PresenceEntry {
    addr: Addr<PresenceActor>,
    attaches_forwarded: u64,
}

/// The node's registry.
pub struct RegistryActor {
    /// Shared services; weak because `Services` holds this actor's address.
    services: Weak<Services>,
    /// Admitted sockets per user, shared with the upgrade handlers; closed
    /// at shutdown (which is how the registry knows it is shutting down).
    slots: Arc<slots::SocketSlots>,
    /// Boxed: the table keeps about twice as many slots as sockets, and an
    /// entry is 160 bytes.
    connections: HashMap<ConnectionId, Box<ConnectionEntry>>,
    streams: HashMap<ConnectionId, (ConnectionHandle, Principal)>,
    presence: HashMap<(TenantId, UserId), PresenceEntry>,
    rosters: HashMap<TenantId, (Addr<RosterActor>, usize)>,
    rooms: HashMap<RoomId, RoomEntry>,
    stall_limit_ms: i64,
    /// The 1 s tick reaps stalled connections every this many ticks (a
    /// tenth of the stall limit, 1 to 10): the sweep visits every socket,
    /// and at 10,000 idle sockets a sweep every second was a sixth of the
    /// server's idle CPU.
    reap_every_ticks: u32,
    /// Ticks since the last reap.
    ticks_since_reap: u32,
    /// Ticks since the last supervision walk.
    ticks_since_supervise: u32,
    /// Returns freed memory to the OS after many sockets closed.
    trimmer: crate::memory::Trimmer,
}

impl RegistryActor {
    /// A registry; `services` is filled in once the services exist.
    pub fn new(
        services: Weak<Services>,
        slots: Arc<slots::SocketSlots>,
        stall_limit: Duration,
    ) -> Self {
        RegistryActor {
            services,
            slots,
            connections: HashMap::new(),
            streams: HashMap::new(),
            presence: HashMap::new(),
            rosters: HashMap::new(),
            rooms: HashMap::new(),
            stall_limit_ms: i64::try_from(stall_limit.as_millis()).unwrap_or(i64::MAX),
            reap_every_ticks: u32::try_from(stall_limit.as_secs() / 10)
                .unwrap_or(10)
                .clamp(1, 10),
            ticks_since_reap: 0,
            ticks_since_supervise: 0,
            trimmer: crate::memory::Trimmer::default(),
        }
    }

    fn services(&self) -> Option<Arc<Services>> {
        self.services.upgrade()
    }

    fn roster(&mut self, tenant: &TenantId) -> Option<Addr<RosterActor>> {
        if let Some((addr, _)) = self.rosters.get(tenant) {
            return Some(addr.clone());
        }
        let services = self.services()?;
        let key = tenant.clone();
        let addr = services
            .pool
            .clone()
            .start_actor(tenant, move |_| RosterActor::new(key, services));
        self.rosters.insert(tenant.clone(), (addr.clone(), 0));
        Some(addr)
    }

    fn presence_actor(&mut self, principal: &Principal) -> Option<&mut PresenceEntry> {
        let key = (principal.tenant.clone(), principal.user.clone());
        if self.presence.get(&key).is_some_and(|e| !e.addr.connected()) {
            self.restart_presence(&key);
        }
        if !self.presence.contains_key(&key) {
            let roster = self.roster(&principal.tenant)?;
            let services = self.services()?;
            let who = principal.clone();
            let addr = services
                .pool
                .clone()
                .start_actor(&key, move |_| PresenceActor::new(&who, roster, services));
            if let Some((_, users)) = self.rosters.get_mut(&principal.tenant) {
                *users += 1;
            }
            self.presence.insert(
                key.clone(),
                PresenceEntry {
                    addr,
                    attaches_forwarded: 0,
                },
            );
        }
        self.presence.get_mut(&key)
    }

    /// Cuts connections whose actor has not run for too long: their peer
    /// stopped reading, so the actor is blocked behind a full socket.
    fn reap_stalled(&mut self) {
        self.ticks_since_reap += 1;
        if self.ticks_since_reap < self.reap_every_ticks {
            return;
        }
        self.ticks_since_reap = 0;
        // One clock read for the sweep, not one per socket.
        let now = crate::clock::monotonic_ms();
        for entry in self.connections.values() {
            if !entry.handle.is_closing() && entry.handle.stalled_at(now) > self.stall_limit_ms {
                entry.handle.cut(
                    close_code::SLOW_CONSUMER,
                    "connection stalled: peer not reading",
                );
            }
        }
    }
}

impl Actor for RegistryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_secs(1), |act, _| {
            act.reap_stalled();
            act.ticks_since_supervise += 1;
            if act.ticks_since_supervise >= supervision::SUPERVISE_EVERY_TICKS {
                act.ticks_since_supervise = 0;
                act.supervise();
            }
            // Sockets, and what outlives them (presence in its offline
            // grace, rooms lingering empty): their memory is freed later.
            let live =
                act.connections.len() + act.streams.len() + act.presence.len() + act.rooms.len();
            if act.trimmer.tick(live) {
                log::debug!("returned free memory to the OS ({live} sockets and actors live)");
            }
        });
    }
}

impl Handler<Shutdown> for RegistryActor {
    type Result = usize;

    /// Closes every socket with 1012 (service restart).
    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> usize {
        self.slots.close();
        for entry in self.connections.values() {
            entry
                .handle
                .cut(close_code::SERVICE_RESTART, "server shutting down");
        }
        for (handle, _) in self.streams.values() {
            handle.cut(close_code::SERVICE_RESTART, "server shutting down");
        }
        self.connections.len() + self.streams.len()
    }
}

impl Handler<GetStats> for RegistryActor {
    type Result = RegistryStats;

    /// Current counts.
    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> RegistryStats {
        RegistryStats {
            connections: self.connections.len(),
            streams: self.streams.len(),
            users: self.presence.len(),
            tenants: self.rosters.len(),
            rooms: self.rooms.len(),
        }
    }
}
