//! `POST /api/v1/rooms/{entity_type}/{entity_id}/broadcast`: a backend
//! service sends an ephemeral `room:broadcast` (from user `service`) to the
//! members of a room in its tenant. Nothing is stored, and a room with no
//! members on this node gets nothing (`delivered_to_room: false`).

use super::error::{ApiError, ErrorCode};
use super::notifications::ServicePrincipal;
use crate::actors::registry::BroadcastToRoom;
use crate::actors::Services;
use crate::ids::RoomId;
use crate::notify::from_json;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

/// The body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastBody {
    /// App-defined event name, 1 to 64 bytes.
    pub event: String,
    /// App-defined payload (any JSON, at most `websocket.max_message_bytes`).
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// The handler: 202 `{"delivered_to_room": bool}`.
#[utoipa::path(
    post,
    path = "/api/v1/rooms/{entity_type}/{entity_id}/broadcast",
    tag = "rooms",
    summary = "An ephemeral room:broadcast to the room's members (role service)",
    params(("entity_type" = String, Path, description = "Entity type, e.g. `document`"), ("entity_id" = String, Path, description = "Entity id")),
    request_body(content = BroadcastBody),
    responses((status = 202, description = "`{\"delivered_to_room\": bool}`", body = serde_json::Value), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`forbidden`: the caller's role may not do this", body = crate::http::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn broadcast(
    ServicePrincipal(principal): ServicePrincipal,
    path: web::Path<(String, String)>,
    body: web::Json<serde_json::Value>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let (entity_type, entity_id) = path.into_inner();
    if entity_type.is_empty() || entity_type.len() > 64 {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidPath,
            "`entity_type` must be 1 to 64 bytes".into(),
        ));
    }
    if entity_id.is_empty() || entity_id.len() > 256 {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidPath,
            "`entity_id` must be 1 to 256 bytes".into(),
        ));
    }
    let body: BroadcastBody = from_json(body.into_inner())?;
    if body.event.is_empty() || body.event.len() > 64 {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            "`event` must be 1 to 64 bytes".into(),
        ));
    }
    let max = services.settings.websocket.max_message_bytes;
    if body.payload.to_string().len() > max {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            format!("`payload` must be at most {max} bytes of JSON"),
        ));
    }
    let delivered = services
        .registry
        .send(BroadcastToRoom {
            room: RoomId::new(principal.tenant, &entity_type, &entity_id),
            event: body.event,
            payload: body.payload,
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "delivered_to_room": delivered })))
}
