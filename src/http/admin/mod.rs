//! The admin REST API (`/api/v1/admin/*`): who may use it, and its
//! read-only endpoints.
//!
//! Two kinds of admin:
//! - a **tenant admin**: a JWT with `role: admin`. It administers its own
//!   tenant only; naming another tenant (`?tenant=`) is `403 forbidden`.
//! - a **platform operator**: `X-Admin-Key` with a key from
//!   `admin.api_keys`. It administers every tenant; endpoints about one
//!   tenant need `?tenant=` (else `400 missing_tenant`).
//!
//! Every call is an admin action: it is logged (target `tandem::admin`) and
//! stored in `admin_actions`, which `GET /api/v1/admin/actions` lists.

pub mod connections;
pub mod rooms;
pub mod system;

use super::error::{ApiError, ErrorCode};
use crate::actors::registry::{GetStats, ListPresence};
use crate::actors::Services;
use crate::auth::{Principal, Role};
use crate::db::schema::admin_actions;
use crate::ids::TenantId;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Who is calling the admin API.
#[derive(Debug, Clone)]
pub enum Admin {
    /// A token with `role: admin`: its own tenant only.
    Tenant(Principal),
    /// `X-Admin-Key`: every tenant. `key` is the key's position in
    /// `admin.api_keys` (the key itself is never stored or logged).
    Platform {
        /// Index into `admin.api_keys`.
        key: usize,
    },
}

impl Admin {
    /// The actor as stored: the user id, or `platform-key-N`.
    pub fn actor(&self) -> String {
        match self {
            Admin::Tenant(p) => p.user.as_str().to_owned(),
            Admin::Platform { key } => format!("platform-key-{key}"),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Admin::Tenant(_) => "tenant_admin",
            Admin::Platform { .. } => "platform",
        }
    }

    /// The tenant a request is about: a tenant admin's own (another one named
    /// in `asked` is refused); for a platform operator, `asked`, required.
    pub fn tenant(&self, asked: Option<&str>) -> Result<TenantId, ApiError> {
        match (self, asked) {
            (Admin::Tenant(p), None) => Ok(p.tenant.clone()),
            (Admin::Tenant(p), Some(t)) if t == p.tenant.as_str() => Ok(p.tenant.clone()),
            (Admin::Tenant(_), Some(_)) => Err(ApiError::Forbidden(
                ErrorCode::Forbidden,
                "a tenant admin administers only its own tenant".into(),
            )),
            (Admin::Platform { .. }, Some(t)) if !t.is_empty() && t.len() <= 256 => {
                Ok(TenantId::new(t))
            }
            (Admin::Platform { .. }, _) => Err(ApiError::BadRequest(
                ErrorCode::MissingTenant,
                "a platform operator names the tenant: ?tenant=<id> (1-256 bytes)".into(),
            )),
        }
    }

    /// The tenant a listing is about: `None` (every tenant) for a platform
    /// operator who names none; otherwise as [`Admin::tenant`].
    pub fn scope(&self, asked: Option<&str>) -> Result<Option<TenantId>, ApiError> {
        match (self, asked) {
            (Admin::Platform { .. }, None) => Ok(None),
            _ => self.tenant(asked).map(Some),
        }
    }

    /// Logs and stores one admin action.
    async fn record(
        &self,
        services: &Services,
        tenant: Option<&TenantId>,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        log::info!(
            target: "tandem::admin",
            "{} {} tenant={} {action} {detail}",
            self.kind(),
            self.actor(),
            tenant.map(|t| t.as_str()).unwrap_or("*"),
        );
        metrics::counter!("tandem_admin_actions_total", "action" => crate::telemetry::intern(action))
            .increment(1);
        let mut conn = services.db.conn().await?;
        diesel::insert_into(admin_actions::table)
            .values((
                admin_actions::actor.eq(self.actor()),
                admin_actions::actor_kind.eq(self.kind()),
                admin_actions::tenant_id.eq(tenant.map(|t| t.as_str().to_owned())),
                admin_actions::action.eq(action),
                admin_actions::detail.eq(detail),
            ))
            .execute(&mut conn)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(())
    }
}

fn key_matches(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if let Some(given) = req.headers().get("x-admin-key") {
            let keys = req
                .app_data::<web::Data<Arc<Services>>>()
                .map(|s| s.settings.admin.api_keys.clone())
                .unwrap_or_default();
            let found = keys
                .iter()
                .position(|k| key_matches(given.as_bytes(), k.expose().as_bytes()));
            return Box::pin(async move {
                match found {
                    Some(key) => Ok(Admin::Platform { key }),
                    None => Err(ApiError::Unauthorized(
                        ErrorCode::InvalidApiKey,
                        "X-Admin-Key is not one of admin.api_keys".into(),
                    )),
                }
            });
        }
        let principal = Principal::from_request(req, payload);
        Box::pin(async move {
            let principal = principal.await?;
            if principal.role != Role::Admin {
                return Err(ApiError::Forbidden(
                    ErrorCode::Forbidden,
                    "admin role required (a token with role admin, or X-Admin-Key)".into(),
                ));
            }
            Ok(Admin::Tenant(principal))
        })
    }
}

/// When this process started serving (for `uptime_secs`).
pub fn mark_started() {
    started();
}

fn started() -> Instant {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

/// `?tenant=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// The tenant (platform operators: required; tenant admins: their own, or omit).
    pub tenant: Option<String>,
}

/// `GET /api/v1/admin/stats`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/stats",
    tag = "admin",
    summary = "Counts and uptime: node-wide for a platform operator, the caller's tenant for a tenant admin",
    params(TenantQuery),
    responses(
        (status = 200, description = "Counts and uptime_secs", body = serde_json::Value),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, or another tenant", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn stats(
    admin: Admin,
    query: web::Query<TenantQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let uptime_secs = started().elapsed().as_secs();
    let body = match (&admin, query.tenant.as_deref()) {
        (Admin::Platform { .. }, None) => {
            let stats = services
                .registry
                .send(GetStats)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            admin.record(&services, None, "stats", json!({})).await?;
            json!({
                "scope": "node",
                "connections": stats.connections,
                "streams": stats.streams,
                "users": stats.users,
                "tenants": stats.tenants,
                "rooms": stats.rooms,
                "uptime_secs": uptime_secs,
            })
        }
        (_, asked) => {
            let tenant = admin.tenant(asked)?;
            let users = services
                .registry
                .send(ListPresence(tenant.clone()))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let connections: usize = users.iter().map(|u| u.devices.len()).sum();
            admin
                .record(&services, Some(&tenant), "stats", json!({}))
                .await?;
            json!({
                "scope": "tenant",
                "tenant_id": tenant.as_str(),
                "connections": connections,
                "users": users.len(),
                "uptime_secs": uptime_secs,
            })
        }
    };
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/admin/presence`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/presence",
    tag = "admin",
    summary = "The tenant's presence roster",
    params(TenantQuery),
    responses(
        (status = 200, description = "`{tenant_id, users: [...]}`", body = serde_json::Value),
        (status = 400, description = "`missing_tenant` (platform operator)", body = crate::http::error::ErrorBody),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, or another tenant", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn presence(
    admin: Admin,
    query: web::Query<TenantQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let tenant = admin.tenant(query.tenant.as_deref())?;
    let users = services
        .registry
        .send(ListPresence(tenant.clone()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    admin
        .record(&services, Some(&tenant), "presence.list", json!({}))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "tenant_id": tenant.as_str(), "users": users })))
}

/// Query of `GET /api/v1/admin/actions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActionsQuery {
    /// The tenant (platform operators: omit for every tenant's and the
    /// platform's own actions).
    pub tenant: Option<String>,
    /// Page size, 1-200 (default 50).
    pub limit: Option<i64>,
    /// Only actions with a smaller id (the next page).
    pub before_id: Option<i64>,
}

/// One stored admin action.
#[derive(Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = admin_actions)]
pub struct AdminAction {
    /// Id (newest first).
    pub id: i64,
    /// The user id of a tenant admin, or `platform-key-N`.
    pub actor: String,
    /// `tenant_admin` or `platform`.
    pub actor_kind: String,
    /// The tenant acted on (none: node-wide).
    pub tenant_id: Option<String>,
    /// What, e.g. `presence.list`.
    pub action: String,
    /// Parameters.
    pub detail: serde_json::Value,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /api/v1/admin/actions`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/actions",
    tag = "admin",
    summary = "Admin actions, newest first (tenant admins: their tenant's only)",
    params(ActionsQuery),
    responses(
        (status = 200, description = "`{actions: [...], next_before_id}`", body = serde_json::Value),
        (status = 400, description = "`invalid_field`: limit out of range", body = crate::http::error::ErrorBody),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, or another tenant", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn actions(
    admin: Admin,
    query: web::Query<ActionsQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            "`limit` must be 1 to 200".into(),
        ));
    }
    let tenant = match (&admin, query.tenant.as_deref()) {
        (Admin::Platform { .. }, None) => None,
        (_, asked) => Some(admin.tenant(asked)?),
    };
    // Record first, so the listing shows this call too.
    admin
        .record(
            &services,
            tenant.as_ref(),
            "actions.list",
            json!({ "limit": limit, "before_id": query.before_id }),
        )
        .await?;
    let mut q = admin_actions::table
        .select(AdminAction::as_select())
        .order(admin_actions::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(t) = &tenant {
        q = q.filter(admin_actions::tenant_id.eq(t.as_str().to_owned()));
    }
    if let Some(before) = query.before_id {
        q = q.filter(admin_actions::id.lt(before));
    }
    let mut conn = services.db.conn().await?;
    let rows: Vec<AdminAction> = q
        .load(&mut conn)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "actions": rows, "next_before_id": next })))
}
