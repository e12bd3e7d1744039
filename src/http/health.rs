//! `/healthz` (the process is up), `/readyz` (the database answers and the
//! migrations are applied) and node statistics for admins.

use super::error::{ApiError, ErrorCode};
use crate::actors::registry::GetStats;
use crate::actors::Services;
use crate::auth::{Principal, Role};
use crate::db::Db;
use actix_web::{web, HttpResponse};
use std::sync::Arc;

/// 200 while the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// 200 when PostgreSQL answers and every migration is applied, else 503.
pub async fn readyz(db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    db.check_ready()
        .await
        .map_err(|e| ApiError::Unavailable(ErrorCode::NotReady, e.to_string()))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

/// Live actor counts on this node (admins only).
pub async fn stats(
    principal: Principal,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    if principal.role != Role::Admin {
        return Err(ApiError::Forbidden(
            ErrorCode::Forbidden,
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
