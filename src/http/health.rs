//! `/healthz` (the process is up), `/readyz` (the database answers and the
//! migrations are applied; a clustered node without Redis is `degraded`).
//! Node statistics are in `admin.rs`.

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
/// A node of a cluster (`redis.url` set) that cannot reach Redis still
/// answers 200, with `"status": "degraded"`: it serves its own sockets, but
/// nothing reaches or leaves the other nodes (README "Running several nodes").
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "The database answers and every migration is applied",
    responses((status = 200, description = "`{\"status\": \"ready\"}`, or `{\"status\": \"degraded\", \"redis\": \"unreachable\"}` for a clustered node cut off from Redis; clustered nodes add `\"node\"`", body = serde_json::Value), (status = 503, description = "`not_ready`", body = crate::http::error::ErrorBody))
)]
pub async fn readyz(
    db: web::Data<Db>,
    services: web::Data<std::sync::Arc<crate::actors::Services>>,
) -> Result<HttpResponse, ApiError> {
    db.check_ready()
        .await
        .map_err(|e| ApiError::Unavailable(ErrorCode::NotReady, e.to_string()))?;
    let body = match services.broker.cluster() {
        None => serde_json::json!({ "status": "ready" }),
        Some(c) if c.redis_up => serde_json::json!({ "status": "ready", "node": c.node }),
        Some(c) => {
            serde_json::json!({ "status": "degraded", "node": c.node, "redis": "unreachable" })
        }
    };
    Ok(HttpResponse::Ok().json(body))
}
