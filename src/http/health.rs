//! `/healthz` (the process is up), `/readyz` (the database answers and the
//! migrations are applied) and node statistics for admins.

use super::error::ApiError;
use crate::actors::registry::GetStats;
use crate::actors::Services;
use crate::auth::{Principal, Role};
use crate::db::Db;
use actix_web::{web, HttpResponse};
use std::sync::Arc;

/// 200 while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    summary = "The process is up",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = serde_json::Value))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// 200 when PostgreSQL answers and every migration is applied, else 503.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "The database answers and every migration is applied",
    responses((status = 200, description = "`{\"status\": \"ready\"}`", body = serde_json::Value), (status = 503, description = "`not_ready`", body = crate::http::openapi::ErrorBody))
)]
pub async fn readyz(db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    db.check_ready()
        .await
        .map_err(|e| ApiError::Unavailable("not_ready", e.to_string()))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

/// Live actor counts on this node (admins only).
#[utoipa::path(
    get,
    path = "/api/v1/admin/stats",
    tag = "health",
    summary = "Live actor counts on this node (role admin)",
    responses((status = 200, description = "Counts: connections, users, tenants, rooms, ...", body = serde_json::Value), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::openapi::ErrorBody), (status = 403, description = "`forbidden`: the caller's role may not do this", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn stats(
    principal: Principal,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    if principal.role != Role::Admin {
        return Err(ApiError::Forbidden(
            "forbidden",
            "admin role required".into(),
        ));
    }
    let stats = services
        .registry
        .send(GetStats)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(stats))
}
