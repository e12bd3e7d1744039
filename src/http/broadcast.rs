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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastBody {
    /// App-defined event name, 1 to 64 bytes.
    pub event: String,
    /// App-defined payload (any JSON, at most `websocket.max_message_bytes`).
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// The handler: 202 `{"delivered_to_room": bool}`.
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
