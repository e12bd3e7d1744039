//! `GET /metrics`: refreshes the gauges that mirror node state and renders
//! the recorder of [`crate::telemetry`] in the Prometheus text format.

use crate::actors::registry::admin::ListRooms;
use crate::actors::registry::GetStats;
use crate::actors::room::{GetDocumentInfo, GetMembers};
use crate::actors::Services;
use crate::http::error::{ApiError, ErrorCode};
use crate::telemetry::install;
use ::metrics::gauge;
use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::Arc;
use std::time::Instant;

/// Rooms (and their documents) whose mailboxes are probed per scrape.
const PROBED_ROOMS: usize = 32;

/// Refreshes the gauges that mirror node state, then renders the text format.
pub async fn render(services: &Services) -> Option<String> {
    let handle = install()?;
    let asked = Instant::now();
    if let Ok(stats) = services.registry.send(GetStats).await {
        gauge!("tandem_mailbox_wait_seconds", "actor" => "registry")
            .set(asked.elapsed().as_secs_f64());
        gauge!("tandem_users").set(stats.users as f64);
        gauge!("tandem_tenants").set(stats.tenants as f64);
        gauge!("tandem_rooms").set(stats.rooms as f64);
    }
    sample_rooms(services).await;
    if let Some(depth) = services.broker.mailbox_depth() {
        gauge!("tandem_mailbox_depth", "actor" => "broker").set(depth as f64);
    }
    let pool = services.db.pool_status();
    gauge!("tandem_db_pool_size").set(pool.size as f64);
    gauge!("tandem_db_pool_available").set(pool.available as f64);
    gauge!("tandem_db_pool_in_use").set(pool.size.saturating_sub(pool.available) as f64);
    gauge!("tandem_db_pool_waiting").set(pool.waiting as f64);
    // 0: not configured (a node alone); 1 up; -1 configured but unreachable.
    let redis_up = match services.broker.cluster() {
        None => 0.0,
        Some(c) if c.redis_up => 1.0,
        Some(_) => -1.0,
    };
    gauge!("tandem_redis_up").set(redis_up);
    Some(handle.render())
}

/// Probes the mailboxes of up to [`PROBED_ROOMS`] rooms and their document
/// sessions with a cheap query each, and keeps the slowest round trip: a
/// sample at scrape time, never a cost on the message path.
async fn sample_rooms(services: &Services) {
    let Ok(rooms) = services.registry.send(ListRooms(None)).await else {
        return;
    };
    let (mut room_wait, mut doc_wait) = (0f64, 0f64);
    for (_, addr) in rooms.into_iter().take(PROBED_ROOMS) {
        let asked = Instant::now();
        if addr.send(GetMembers).await.is_err() {
            continue;
        }
        let room = asked.elapsed().as_secs_f64();
        room_wait = room_wait.max(room);
        let asked = Instant::now();
        if let Ok(Some(_)) = addr.send(GetDocumentInfo).await {
            // Through the room's mailbox to the session's.
            doc_wait = doc_wait.max(asked.elapsed().as_secs_f64());
        }
    }
    gauge!("tandem_mailbox_wait_seconds", "actor" => "room").set(room_wait);
    gauge!("tandem_mailbox_wait_seconds", "actor" => "document").set(doc_wait);
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
