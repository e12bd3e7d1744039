//! Admin revocations across the nodes of a cluster (not an actor: one task
//! per node, started only when `redis.url` is set).
//!
//! The admin API revokes a user on the node it reaches: it stores the row in
//! `user_revocations`, refuses the user's tokens there and closes the user's
//! sockets there. Every other node follows the table: every
//! [`SYNC_EVERY`] it reads the revocations in force, refuses the tokens of
//! each user newly revoked (or revoked again until a later time) and closes
//! that user's WebSocket, SSE and Yjs connections with 4003, and lifts the
//! ones that were lifted or lapsed. So within [`SYNC_EVERY`] (plus a query)
//! a revoked user is off every node. PostgreSQL rather than Redis carries
//! it: the row is the record anyway, and a node that missed a Redis message
//! (Redis down, just started) would never learn of it, while the table is
//! read again on the next tick.

use super::registry::admin::DisconnectUser;
use super::registry::RegistryActor;
use super::yjs_registry::admin::DisconnectYjs;
use super::yjs_registry::YjsRegistryActor;
use crate::auth::Authenticator;
use crate::db::Db;
use crate::ids::{TenantId, UserId};
use actix::Addr;
use std::collections::HashMap;
use std::time::Duration;

/// How often a node reads the revocations in force.
pub const SYNC_EVERY: Duration = Duration::from_secs(2);

/// Starts the task on the current arbiter.
pub fn start(
    db: Db,
    auth: actix_web::web::Data<Authenticator>,
    registry: Addr<RegistryActor>,
    yjs: Addr<YjsRegistryActor>,
) {
    actix_rt::spawn(async move {
        let mut known: HashMap<(String, String), i64> = HashMap::new();
        let mut tick = tokio::time::interval(SYNC_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !registry.connected() {
                return;
            }
            let rows = match db.conn().await {
                Ok(mut conn) => crate::db::revocations::active(&mut conn).await,
                Err(e) => Err(e),
            };
            let rows = match rows {
                Ok(rows) => rows,
                Err(e) => {
                    log::warn!("revocations not synchronised (retried in {SYNC_EVERY:?}): {e}");
                    continue;
                }
            };
            let now: HashMap<(String, String), i64> = rows
                .into_iter()
                .map(|(t, u, until)| ((t, u), until.timestamp()))
                .collect();
            for ((tenant, user), until) in &now {
                let key = (tenant.clone(), user.clone());
                if known.get(&key) == Some(until) {
                    continue;
                }
                let (tenant, user) = (TenantId::new(tenant.as_str()), UserId::new(user.as_str()));
                auth.revoke(tenant.clone(), user.clone(), *until);
                registry.do_send(DisconnectUser {
                    tenant: tenant.clone(),
                    user: user.clone(),
                });
                yjs.do_send(DisconnectYjs {
                    tenant: Some(tenant),
                    user: Some(user),
                    id: None,
                });
            }
            for (tenant, user) in known.keys() {
                if !now.contains_key(&(tenant.clone(), user.clone())) {
                    auth.unrevoke(&TenantId::new(tenant.as_str()), &UserId::new(user.as_str()));
                }
            }
            known = now;
        }
    });
}
