//! `GET /metrics`: refreshes the gauges that mirror node state and renders
//! the recorder of [`crate::telemetry`] in the Prometheus text format.

use crate::actors::registry::GetStats;
use crate::actors::Services;
use crate::http::error::{ApiError, ErrorCode};
use crate::telemetry::install;
use ::metrics::gauge;
use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::Arc;

/// Refreshes the gauges that mirror node state, then renders the text format.
pub async fn render(services: &Services) -> Option<String> {
    let handle = install()?;
    if let Ok(stats) = services.registry.send(GetStats).await {
        gauge!("tandem_users").set(stats.users as f64);
        gauge!("tandem_tenants").set(stats.tenants as f64);
        gauge!("tandem_rooms").set(stats.rooms as f64);
    }
    let pool = services.db.pool_status();
    gauge!("tandem_db_pool_size").set(pool.size as f64);
    gauge!("tandem_db_pool_available").set(pool.available as f64);
    gauge!("tandem_db_pool_waiting").set(pool.waiting as f64);
    Some(handle.render())
}

/// `GET /metrics`: Prometheus text format, with `Authorization: Bearer
/// <metrics.token>`. 404 when no token is configured, 401 on a wrong one.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    summary = "Prometheus metrics (text format 0.0.4)",
    responses(
        (status = 200, description = "Metrics", content_type = "text/plain"),
        (status = 401, description = "`invalid_token`: not the metrics.token", body = crate::http::error::ErrorBody),
        (status = 404, description = "`not_found`: metrics.token is not set", body = crate::http::error::ErrorBody)
    ),
    security(("metrics_token" = []))
)]
pub async fn endpoint(
    req: HttpRequest,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let expected = services.settings.metrics.token.expose();
    if expected.is_empty() {
        return Err(ApiError::NotFound(
            ErrorCode::NotFound,
            "metrics are off: set metrics.token".into(),
        ));
    }
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::Unauthorized(
            ErrorCode::InvalidToken,
            "GET /metrics needs Authorization: Bearer <metrics.token>".into(),
        ));
    }
    let body = render(&services)
        .await
        .ok_or_else(|| ApiError::Internal("metrics recorder not installed".into()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
