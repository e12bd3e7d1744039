//! The registry's admin queries and commands: list connections (WebSocket
//! and SSE), disconnect one or every connection of a user, list rooms, and
//! hand a `system:message` to tenants. The HTTP layer (`http::admin`)
//! checks who may ask; these handlers only filter by what they are given.

use super::RegistryActor;
use crate::actors::room::RoomActor;
use crate::broker::{ConnectionHandle, Frame, Topic};
use crate::ids::{ConnectionId, RoomId, TenantId, UserId};
use crate::protocol::close_code;
use actix::prelude::*;
use std::collections::BTreeSet;

/// The reason sent with [`close_code::KICKED`].
pub const KICKED_REASON: &str = "disconnected by an admin";

/// WebSocket and SSE connections, by id, optionally one tenant's or one
/// user's (the HTTP layer merges Yjs sockets in and pages).
#[derive(Message)]
#[rtype(result = "Vec<ConnectionInfo>")]
pub struct ListConnections {
    /// Only this tenant's (none: every tenant, platform operators).
    pub tenant: Option<TenantId>,
    /// Only this user's.
    pub user: Option<UserId>,
}

/// One connection as the admin API shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ConnectionInfo {
    /// `c<n>` (as in `welcome`) for WebSocket and SSE, `y<n>` for Yjs.
    pub connection_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// `ws`, `sse` or `yjs`.
    pub transport: String,
    /// Device type (`ws` only).
    pub device_type: Option<String>,
    /// Browser (`ws` only).
    pub browser: Option<String>,
    /// Peer address (`ws` only).
    pub ip: Option<String>,
    /// When it connected (RFC 3339).
    pub connected_at: String,
    /// Rooms it is in (`entity_type:entity_id`; for Yjs, `yjs:<document>`).
    pub rooms: Vec<String>,
    /// Messages received from the client.
    pub messages_in: u64,
    /// Messages written to the client.
    pub messages_out: u64,
    /// Frames queued for it and not yet written.
    pub queue_depth: usize,
}

/// Close one connection with 4003 (if it is in `tenant`, when given).
#[derive(Message)]
#[rtype(result = "Option<ConnectionInfo>")]
pub struct DisconnectConnection {
    /// Its tenant must be this one (tenant admins).
    pub tenant: Option<TenantId>,
    /// Which.
    pub id: ConnectionId,
}

/// Close every WebSocket and SSE connection of a user with 4003.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct DisconnectUser {
    /// Tenant.
    pub tenant: TenantId,
    /// User.
    pub user: UserId,
}

/// Live rooms, optionally of one tenant.
#[derive(Message)]
#[rtype(result = "Vec<(RoomId, Addr<RoomActor>)>")]
pub struct ListRooms(pub Option<TenantId>);

/// Publish a frame to every connection of a tenant, or of every tenant
/// with a connection on this node. Returns the tenants it went to.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct PublishToTenants {
    /// One tenant, or all.
    pub tenant: Option<TenantId>,
    /// The serialized `system:message`.
    pub frame: Frame,
}

/// The admin view of a connection.
pub fn info(
    handle: &ConnectionHandle,
    tenant: &TenantId,
    user: &UserId,
    device: Option<&crate::actors::connection::DeviceInfo>,
) -> ConnectionInfo {
    let stats = handle.stats();
    ConnectionInfo {
        connection_id: handle.id.to_string(),
        tenant_id: tenant.to_string(),
        user_id: user.to_string(),
        transport: stats.transport.to_owned(),
        device_type: device.map(|d| d.device_type.clone()),
        browser: device.and_then(|d| d.browser.clone()),
        ip: device.and_then(|d| d.ip.clone()),
        connected_at: stats
            .connected_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        rooms: stats.rooms(),
        messages_in: stats.messages_in(),
        messages_out: stats.messages_out(),
        queue_depth: handle.queued(),
    }
}

impl RegistryActor {
    /// Every connection and stream as (handle, tenant, user, device).
    fn all_connections(
        &self,
    ) -> impl Iterator<
        Item = (
            &ConnectionHandle,
            &TenantId,
            &UserId,
            Option<&crate::actors::connection::DeviceInfo>,
        ),
    > {
        self.connections
            .values()
            .map(|e| {
                (
                    &e.handle,
                    &e.principal.tenant,
                    &e.principal.user,
                    Some(&e.device),
                )
            })
            .chain(
                self.streams
                    .values()
                    .map(|(h, p)| (h, &p.tenant, &p.user, None)),
            )
    }
}

impl Handler<ListConnections> for RegistryActor {
    type Result = MessageResult<ListConnections>;

    /// The matching connections, by id.
    fn handle(&mut self, msg: ListConnections, _: &mut Context<Self>) -> Self::Result {
        let mut matching: Vec<_> = self
            .all_connections()
            .filter(|(_, t, u, _)| {
                msg.tenant.as_ref().is_none_or(|want| want == *t)
                    && msg.user.as_ref().is_none_or(|want| want == *u)
            })
            .collect();
        matching.sort_by_key(|(h, ..)| h.id);
        MessageResult(
            matching
                .into_iter()
                .map(|(h, t, u, d)| info(h, t, u, d))
                .collect(),
        )
    }
}

impl Handler<DisconnectConnection> for RegistryActor {
    type Result = Option<ConnectionInfo>;

    /// Closes it with 4003; `None` when there is no such connection (in that tenant).
    fn handle(&mut self, msg: DisconnectConnection, _: &mut Context<Self>) -> Self::Result {
        let (handle, tenant, user, device) = self.all_connections().find(|(h, t, ..)| {
            h.id == msg.id && msg.tenant.as_ref().is_none_or(|want| want == *t)
        })?;
        let found = info(handle, tenant, user, device);
        handle.cut(close_code::KICKED, KICKED_REASON);
        metrics::counter!("tandem_admin_disconnects_total").increment(1);
        Some(found)
    }
}

impl Handler<DisconnectUser> for RegistryActor {
    type Result = usize;

    /// Closes every socket and stream of the user with 4003.
    fn handle(&mut self, msg: DisconnectUser, _: &mut Context<Self>) -> usize {
        let mut closed = 0;
        for (handle, tenant, user, _) in self.all_connections() {
            if *tenant == msg.tenant && *user == msg.user {
                handle.cut(close_code::KICKED, KICKED_REASON);
                closed += 1;
            }
        }
        metrics::counter!("tandem_admin_disconnects_total").increment(closed as u64);
        closed
    }
}

impl Handler<ListRooms> for RegistryActor {
    type Result = Vec<(RoomId, Addr<RoomActor>)>;

    /// Live rooms (a dead one is left out; supervision forgets it).
    fn handle(&mut self, ListRooms(tenant): ListRooms, _: &mut Context<Self>) -> Self::Result {
        let mut rooms: Vec<(RoomId, Addr<RoomActor>)> = self
            .rooms
            .iter()
            .filter(|(id, e)| e.addr.connected() && tenant.as_ref().is_none_or(|t| *t == id.tenant))
            .map(|(id, e)| (id.clone(), e.addr.clone()))
            .collect();
        rooms.sort_by(|a, b| {
            (a.0.tenant.as_str(), &*a.0.entity_type, &*a.0.entity_id).cmp(&(
                b.0.tenant.as_str(),
                &*b.0.entity_type,
                &*b.0.entity_id,
            ))
        });
        rooms
    }
}

impl Handler<PublishToTenants> for RegistryActor {
    type Result = usize;

    /// Publishes to each tenant's topic (every socket and stream of it).
    fn handle(&mut self, msg: PublishToTenants, _: &mut Context<Self>) -> usize {
        let Some(services) = self.services() else {
            return 0;
        };
        match msg.tenant {
            Some(tenant) => {
                services
                    .broker
                    .publish(Topic::Tenant(tenant), msg.frame, None);
                1
            }
            None => {
                let tenants: BTreeSet<TenantId> =
                    self.all_connections().map(|(_, t, ..)| t.clone()).collect();
                let tenants: Vec<TenantId> = tenants.into_iter().collect();
                services.broker.publish_all_tenants(&tenants, msg.frame);
                tenants.len()
            }
        }
    }
}
