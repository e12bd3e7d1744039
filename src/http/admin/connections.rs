//! Admin: connections and users. List connections (WebSocket, SSE, Yjs),
//! close one, close every connection of a user and optionally refuse the
//! user's tokens until a time (a revocation, stored in `user_revocations`
//! and checked wherever a token is verified), and lift a revocation.
//!
//! Closed sockets get close code 4003 (`disconnected by an admin`), which
//! clients must treat as "do not reconnect"; SSE streams simply end.

use super::{Admin, TenantQuery};
use crate::actors::registry::admin::{
    ConnectionInfo, DisconnectConnection, DisconnectUser, ListConnections, KICKED_REASON,
};
use crate::actors::yjs_registry::admin::{DisconnectYjs, ListYjsSockets};
use crate::actors::Services;
use crate::http::error::{ApiError, ErrorCode};
use crate::ids::{ConnectionId, TenantId, UserId};
use crate::protocol::close_code;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The longest revocation: 30 days.
pub const MAX_REVOKE_SECS: u64 = 30 * 24 * 3600;

/// Query of `GET /api/v1/admin/connections`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectionsQuery {
    /// The tenant (platform operators: omit for every tenant; tenant admins:
    /// their own, or omit).
    pub tenant: Option<String>,
    /// Only this user's connections.
    pub user_id: Option<String>,
    /// Only connections after this id (`next_after` of the previous page).
    pub after: Option<String>,
    /// Page size, 1-500 (default 100).
    pub limit: Option<usize>,
}

/// A connection id from a path or cursor: `c<n>` (WebSocket, SSE) or `y<n>` (Yjs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ConnRef {
    Socket(u64),
    Yjs(u64),
}

impl ConnRef {
    fn parse(s: &str) -> Option<ConnRef> {
        let (kind, n) = s.split_at_checked(1)?;
        let n: u64 = n.parse().ok()?;
        match kind {
            "c" => Some(ConnRef::Socket(n)),
            "y" => Some(ConnRef::Yjs(n)),
            _ => None,
        }
    }

    fn of(info: &ConnectionInfo) -> Option<ConnRef> {
        ConnRef::parse(&info.connection_id)
    }
}

fn bad_id(what: &str) -> ApiError {
    ApiError::BadRequest(
        ErrorCode::InvalidField,
        format!("`{what}` must be a connection id: c<n> (WebSocket, SSE) or y<n> (Yjs)"),
    )
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    if raw.is_empty() || raw.len() > 256 {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidPath,
            "user id must be 1 to 256 bytes".into(),
        ));
    }
    Ok(UserId::new(raw))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// `GET /api/v1/admin/connections`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/connections",
    tag = "admin",
    summary = "Open connections (ws, sse, yjs), paged by id, filtered by tenant and user",
    params(ConnectionsQuery),
    responses(
        (status = 200, description = "`{connections: [...], next_after}`", body = serde_json::Value),
        (status = 400, description = "`invalid_field`: bad `after` or `limit`", body = crate::http::error::ErrorBody),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, or another tenant", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn list(
    admin: Admin,
    query: web::Query<ConnectionsQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            "`limit` must be 1 to 500".into(),
        ));
    }
    let after = match query.after.as_deref() {
        Some(a) => Some(ConnRef::parse(a).ok_or_else(|| bad_id("after"))?),
        None => None,
    };
    let tenant = admin.scope(query.tenant.as_deref())?;
    let user = query.user_id.as_deref().map(user_id).transpose()?;
    let sockets = services
        .registry
        .send(ListConnections {
            tenant: tenant.clone(),
            user: user.clone(),
        })
        .await
        .map_err(internal)?;
    let yjs = services
        .yjs
        .send(ListYjsSockets {
            tenant: tenant.clone(),
            user: user.clone(),
        })
        .await
        .map_err(internal)?;
    let mut all: Vec<(ConnRef, ConnectionInfo)> = sockets
        .into_iter()
        .chain(yjs)
        .filter_map(|c| ConnRef::of(&c).map(|r| (r, c)))
        .filter(|(r, _)| after.is_none_or(|a| *r > a))
        .collect();
    all.sort_by_key(|(r, _)| *r);
    let more = all.len() > limit;
    all.truncate(limit);
    let next_after = more
        .then(|| all.last().map(|(_, c)| c.connection_id.clone()))
        .flatten();
    admin
        .record(
            &services,
            tenant.as_ref(),
            "connections.list",
            json!({ "user_id": query.user_id, "after": query.after, "limit": limit }),
        )
        .await?;
    let connections: Vec<ConnectionInfo> = all.into_iter().map(|(_, c)| c).collect();
    Ok(HttpResponse::Ok().json(json!({ "connections": connections, "next_after": next_after })))
}

/// `DELETE /api/v1/admin/connections/{connection_id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/connections/{connection_id}",
    tag = "admin",
    summary = "Close one connection with 4003 (disconnected by an admin)",
    params(("connection_id" = String, Path, description = "`c<n>` or `y<n>`"), TenantQuery),
    responses(
        (status = 200, description = "`{closed: {...connection}, close_code: 4003}`", body = serde_json::Value),
        (status = 400, description = "`invalid_field`: not a connection id", body = crate::http::error::ErrorBody),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, or another tenant", body = crate::http::error::ErrorBody),
        (status = 404, description = "`not_found`: no such connection (in the tenant)", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn disconnect(
    admin: Admin,
    path: web::Path<String>,
    query: web::Query<TenantQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let id = ConnRef::parse(&path).ok_or_else(|| bad_id("connection_id"))?;
    let tenant = admin.scope(query.tenant.as_deref())?;
    let closed = match id {
        ConnRef::Socket(n) => services
            .registry
            .send(DisconnectConnection {
                tenant: tenant.clone(),
                id: ConnectionId(n),
            })
            .await
            .map_err(internal)?,
        ConnRef::Yjs(n) => services
            .yjs
            .send(DisconnectYjs {
                tenant: tenant.clone(),
                user: None,
                id: Some(n),
            })
            .await
            .map_err(internal)?
            .into_iter()
            .next(),
    };
    // A tenant admin cannot tell another tenant's connection from none.
    let closed = closed
        .ok_or_else(|| ApiError::NotFound(ErrorCode::NotFound, "no such connection".into()))?;
    let tenant = TenantId::new(closed.tenant_id.as_str());
    admin
        .record(
            &services,
            Some(&tenant),
            "connection.disconnect",
            json!({ "connection_id": closed.connection_id, "user_id": closed.user_id }),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "closed": closed,
        "close_code": close_code::KICKED,
        "reason": KICKED_REASON,
    })))
}

/// Body of `POST /api/v1/admin/users/{user_id}/disconnect` (may be empty).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectBody {
    /// Also refuse every token of the user for this many seconds
    /// (1 to 2592000); omitted: close only, new connections are accepted.
    pub revoke_secs: Option<u64>,
    /// Why (stored with the revocation and in the admin action; up to 256 bytes).
    pub reason: Option<String>,
}

/// `POST /api/v1/admin/users/{user_id}/disconnect`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{user_id}/disconnect",
    tag = "admin",
    summary = "Close every connection of a user with 4003, optionally refusing their tokens for a while",
    params(("user_id" = String, Path, description = "User id"), TenantQuery),
    request_body(content = Option<DisconnectBody>),
    responses(
        (status = 200, description = "`{tenant_id, user_id, closed, close_code: 4003, revoked_until}`", body = serde_json::Value),
        (status = 400, description = "`invalid_body`, `invalid_field` or `missing_tenant`", body = crate::http::error::ErrorBody),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, or another tenant", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn disconnect_user(
    admin: Admin,
    path: web::Path<String>,
    query: web::Query<TenantQuery>,
    body: Result<web::Json<DisconnectBody>, actix_web::Error>,
    req: HttpRequest,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, actix_web::Error> {
    let body = match body {
        Ok(b) => b.into_inner(),
        Err(_) if crate::http::collaboration::has_no_body(&req) => DisconnectBody::default(),
        Err(e) => return Err(e),
    };
    Ok(disconnect_user_inner(admin, &path, &query, body, &services).await?)
}

async fn disconnect_user_inner(
    admin: Admin,
    user: &str,
    query: &TenantQuery,
    body: DisconnectBody,
    services: &Services,
) -> Result<HttpResponse, ApiError> {
    let user = user_id(user)?;
    let tenant = admin.tenant(query.tenant.as_deref())?;
    if body
        .revoke_secs
        .is_some_and(|s| s == 0 || s > MAX_REVOKE_SECS)
    {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            format!("`revoke_secs` must be 1 to {MAX_REVOKE_SECS}"),
        ));
    }
    if body.reason.as_ref().is_some_and(|r| r.len() > 256) {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            "`reason` must be at most 256 bytes".into(),
        ));
    }
    // Revoke first: a client reconnecting the moment its socket closes is
    // already refused.
    let revoked_until = match body.revoke_secs {
        Some(secs) => {
            let until = chrono::Utc::now()
                + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX));
            let mut conn = services.db.conn().await?;
            crate::db::revocations::upsert(
                &mut conn,
                tenant.as_str(),
                user.as_str(),
                until,
                body.reason.as_deref(),
                &admin.actor(),
            )
            .await?;
            services
                .auth
                .revoke(tenant.clone(), user.clone(), until.timestamp());
            Some(until)
        }
        None => None,
    };
    let sockets = services
        .registry
        .send(DisconnectUser {
            tenant: tenant.clone(),
            user: user.clone(),
        })
        .await
        .map_err(internal)?;
    let yjs = services
        .yjs
        .send(DisconnectYjs {
            tenant: Some(tenant.clone()),
            user: Some(user.clone()),
            id: None,
        })
        .await
        .map_err(internal)?
        .len();
    let revoked_until = revoked_until.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    admin
        .record(
            services,
            Some(&tenant),
            "user.disconnect",
            json!({
                "user_id": user.as_str(),
                "closed": sockets + yjs,
                "revoked_until": revoked_until,
                "reason": body.reason,
            }),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "tenant_id": tenant.as_str(),
        "user_id": user.as_str(),
        "closed": sockets + yjs,
        "close_code": close_code::KICKED,
        "reason": KICKED_REASON,
        "revoked_until": revoked_until,
    })))
}

/// `DELETE /api/v1/admin/users/{user_id}/revocation`.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{user_id}/revocation",
    tag = "admin",
    summary = "Lift a user's revocation: their tokens are accepted again",
    params(("user_id" = String, Path, description = "User id"), TenantQuery),
    responses(
        (status = 204, description = "Lifted"),
        (status = 400, description = "`missing_tenant` (platform operator)", body = crate::http::error::ErrorBody),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, or another tenant", body = crate::http::error::ErrorBody),
        (status = 404, description = "`not_found`: no revocation in force", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn lift_revocation(
    admin: Admin,
    path: web::Path<String>,
    query: web::Query<TenantQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let user = user_id(&path)?;
    let tenant = admin.tenant(query.tenant.as_deref())?;
    let mut conn = services.db.conn().await?;
    let stored = crate::db::revocations::delete(&mut conn, tenant.as_str(), user.as_str()).await?;
    let live = services.auth.unrevoke(&tenant, &user);
    admin
        .record(
            &services,
            Some(&tenant),
            "user.revocation_lift",
            json!({ "user_id": user.as_str(), "was_revoked": stored || live }),
        )
        .await?;
    if stored || live {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(
            ErrorCode::NotFound,
            "no revocation in force for this user".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_parse_and_order_sockets_before_yjs() {
        assert_eq!(ConnRef::parse("c12"), Some(ConnRef::Socket(12)));
        assert_eq!(ConnRef::parse("y3"), Some(ConnRef::Yjs(3)));
        for bad in ["", "c", "x1", "c-1", "12", "c1 ", "é1"] {
            assert_eq!(ConnRef::parse(bad), None, "{bad:?}");
        }
        assert!(ConnRef::Socket(99) < ConnRef::Yjs(1));
        assert!(ConnRef::Socket(2) < ConnRef::Socket(10));
    }
}
