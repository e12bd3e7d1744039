//! `/healthz` (the process is up), `/readyz` (the database answers and the
//! migrations are applied). Node statistics are in `admin.rs`.

use super::error::{ApiError, ErrorCode};
use crate::db::Db;
use actix_web::{web, HttpResponse};

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
    responses((status = 200, description = "`{\"status\": \"ready\"}`", body = serde_json::Value), (status = 503, description = "`not_ready`", body = crate::http::error::ErrorBody))
)]
pub async fn readyz(db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    db.check_ready()
        .await
        .map_err(|e| ApiError::Unavailable(ErrorCode::NotReady, e.to_string()))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}
