//! Connection-slot admission for every socket entry point: `/ws` and
//! `/api/v1/stream` take a slot from the node's shared table in place
//! ([`admit_socket`]), `/yjs/{document}` asks the Yjs registry ([`admit`]).
//! A refusal maps to the REST error. Before that, every socket is refused
//! once the node's open-files budget is spent (`503 server_at_capacity`,
//! see `fds`).

use super::error::{ApiError, ErrorCode};
use crate::actors::registry::slots::SocketSlots;
use crate::actors::registry::AdmitError;
use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, Message};

/// Takes one of the user's slots for a `/ws` socket or an SSE stream (the
/// registry gives it back when the socket ends); returns the new socket's id.
pub fn admit_socket(
    slots: &SocketSlots,
    tenant: &crate::ids::TenantId,
    user: &crate::ids::UserId,
    max_per_user: usize,
) -> Result<crate::ids::ConnectionId, ApiError> {
    if !crate::fds::has_room() {
        return Err(at_capacity());
    }
    slots
        .admit(tenant, user)
        .map_err(|e| refused(e, max_per_user))
}

/// Reserves a slot with `admit` at `table` (the Yjs registry for `/yjs`);
/// returns the new socket's id.
pub async fn admit<A, M, T>(table: &Addr<A>, admit: M, max_per_user: usize) -> Result<T, ApiError>
where
    A: Actor + Handler<M>,
    A::Context: ToEnvelope<A, M>,
    M: Message<Result = Result<T, AdmitError>> + Send + 'static,
    T: Send + 'static,
{
    if !crate::fds::has_room() {
        return Err(at_capacity());
    }
    table
        .send(admit)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| refused(e, max_per_user))
}

/// Seconds a client refused for lack of descriptors is told to wait.
const AT_CAPACITY_RETRY_MS: u64 = 5_000;

/// The REST error when the node's open-files budget is spent (`fds`).
fn at_capacity() -> ApiError {
    log::debug!(
        "socket refused: {} connections open, at the open-files budget",
        crate::fds::open_connections()
    );
    ApiError::RetryLater(
        ErrorCode::ServerAtCapacity,
        "the server holds as many connections as its open-files limit allows; retry later".into(),
        AT_CAPACITY_RETRY_MS,
    )
}

/// In a cluster, takes one of the user's slots counted over every node
/// (before the node's own admission, whose refusal drops the guard and so
/// gives the slot back). When Redis does not answer, the node's own count
/// alone applies.
pub async fn cluster_slot(
    slots: Option<&crate::cluster::slots::Slots>,
    tenant: &crate::ids::TenantId,
    user: &crate::ids::UserId,
    max_per_user: usize,
) -> Result<Option<crate::cluster::slots::SlotGuard>, ApiError> {
    let Some(slots) = slots else {
        return Ok(None);
    };
    match slots.reserve(tenant, user, max_per_user).await {
        Ok(Some(guard)) => Ok(Some(guard)),
        Ok(None) => Err(refused(AdmitError::TooManyConnections, max_per_user)),
        Err(e) => {
            log::warn!("cluster connection count unavailable, counting this node only: {e}");
            Ok(None)
        }
    }
}

/// The REST error for a refused slot.
fn refused(e: AdmitError, max_per_user: usize) -> ApiError {
    match e {
        AdmitError::TooManyConnections => ApiError::TooManyRequests(
            ErrorCode::TooManyConnections,
            format!(
                "at most {max_per_user} connections per user \
                 (websocket.max_connections_per_user)"
            ),
        ),
        AdmitError::ShuttingDown => ApiError::Unavailable(ErrorCode::ShuttingDown, e.to_string()),
    }
}
