//! The Yjs registry's admin queries: list Yjs sockets, and close one or
//! every socket of a user with 4003 (`http::admin` checks who may ask).

use super::{Socket, YjsRegistryActor};
use crate::actors::registry::admin::{ConnectionInfo, KICKED_REASON};
use crate::ids::{TenantId, UserId};
use crate::protocol::close_code;
use actix::prelude::*;

/// Yjs sockets by id, optionally one tenant's or one user's.
#[derive(Message)]
#[rtype(result = "Vec<ConnectionInfo>")]
pub struct ListYjsSockets {
    /// Only this tenant's.
    pub tenant: Option<TenantId>,
    /// Only this user's.
    pub user: Option<UserId>,
}

/// Close Yjs sockets with 4003: one (`id`), or every one of `user`.
#[derive(Message)]
#[rtype(result = "Vec<ConnectionInfo>")]
pub struct DisconnectYjs {
    /// Only in this tenant (always set for a user).
    pub tenant: Option<TenantId>,
    /// Every socket of this user.
    pub user: Option<UserId>,
    /// Or this one socket (`y<n>`).
    pub id: Option<u64>,
}

fn info(s: &Socket) -> ConnectionInfo {
    let stats = &s.peer.stats;
    ConnectionInfo {
        connection_id: s.peer.id.to_string(),
        tenant_id: s.tenant.to_string(),
        user_id: s.user.to_string(),
        transport: stats.transport.to_owned(),
        device_type: None,
        browser: None,
        ip: None,
        connected_at: stats
            .connected_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        rooms: stats.rooms(),
        messages_in: stats.messages_in(),
        messages_out: stats.messages_out(),
        queue_depth: s.peer.queued(),
    }
}

impl YjsRegistryActor {
    fn matching<'a>(
        &'a self,
        tenant: &'a Option<TenantId>,
        user: &'a Option<UserId>,
    ) -> Vec<&'a Socket> {
        let mut found: Vec<&Socket> = self
            .sockets
            .values()
            .filter(|s| {
                tenant.as_ref().is_none_or(|t| *t == s.tenant)
                    && user.as_ref().is_none_or(|u| *u == s.user)
            })
            .collect();
        found.sort_by_key(|s| s.peer.id);
        found
    }
}

impl Handler<ListYjsSockets> for YjsRegistryActor {
    type Result = MessageResult<ListYjsSockets>;

    /// The matching sockets, by id.
    fn handle(&mut self, msg: ListYjsSockets, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.matching(&msg.tenant, &msg.user)
                .into_iter()
                .map(info)
                .collect(),
        )
    }
}

impl Handler<DisconnectYjs> for YjsRegistryActor {
    type Result = MessageResult<DisconnectYjs>;

    /// Closes the matching sockets with 4003; answers which.
    fn handle(&mut self, msg: DisconnectYjs, _: &mut Context<Self>) -> Self::Result {
        if msg.user.is_none() && msg.id.is_none() {
            return MessageResult(Vec::new());
        }
        let closed: Vec<ConnectionInfo> = self
            .matching(&msg.tenant, &msg.user)
            .into_iter()
            .filter(|s| msg.id.is_none_or(|id| s.peer.id.0 == id))
            .map(|s| {
                s.peer.close(close_code::KICKED, KICKED_REASON);
                info(s)
            })
            .collect();
        metrics::counter!("tandem_admin_disconnects_total").increment(closed.len() as u64);
        MessageResult(closed)
    }
}
