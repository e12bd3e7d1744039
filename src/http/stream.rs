//! `GET /api/v1/stream`: Server-Sent Events carrying the caller's
//! notifications (`event: notification`) and the activity they may see
//! (`event: activity`), with `: keep-alive` comments every
//! `sse.keepalive_secs`. The token comes from `Authorization: Bearer` or
//! `?token=` (EventSource cannot set headers); the resume point from
//! `Last-Event-ID` or `?last_event_id=`. The stream itself belongs to an
//! [`SseConnectionActor`].

use super::error::{ApiError, ErrorCode};
use super::principal::authenticate;
use crate::actors::sse::SseConnectionActor;
use crate::actors::Services;
use crate::notify::position::StreamPosition;
use actix::Actor;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
struct StreamQuery {
    last_event_id: Option<String>,
}

/// The handler.
#[utoipa::path(
    get,
    path = "/api/v1/stream",
    tag = "activity",
    summary = "Server-Sent Events: my notifications and visible activity",
    params(("token" = Option<String>, Query, description = "JWT (EventSource cannot send headers)"), ("last_event_id" = Option<String>, Query, description = "Resume position, as the Last-Event-ID header")),
    responses((status = 200, description = "text/event-stream; resumes from Last-Event-ID", content_type = "text/event-stream"), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 429, description = "`too_many_connections`", body = crate::http::error::ErrorBody), (status = 503, description = "`shutting_down`, or `server_at_capacity` (the open-files budget is spent; with `retry_after_ms`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn stream(
    req: HttpRequest,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let principal = authenticate(&req)?;
    let header = req
        .headers()
        .get("last-event-id")
        .map(|v| {
            v.to_str().map(str::to_owned).map_err(|_| {
                ApiError::BadRequest(
                    ErrorCode::InvalidLastEventId,
                    "Last-Event-ID is not text".into(),
                )
            })
        })
        .transpose()?;
    let query = web::Query::<StreamQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().last_event_id);
    let start = StreamPosition::parse(header.or(query).as_deref().unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(ErrorCode::InvalidLastEventId, e))?;
    let settings = &services.settings;
    let slot = super::admission::cluster_slot(
        services.slots.as_ref(),
        &principal.tenant,
        &principal.user,
        settings.websocket.max_connections_per_user,
    )
    .await?;
    let id = super::admission::admit_socket(
        &services.socket_slots,
        &principal.tenant,
        &principal.user,
        settings.websocket.max_connections_per_user,
    )?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(settings.sse.queue_limit.max(1));
    SseConnectionActor::new(id, principal, start, tx, services.get_ref().clone())
        .with_cluster_slot(slot)
        .start();
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
