//! Presence over REST, always scoped to the caller's tenant.

use super::error::{ApiError, ErrorCode};
use crate::actors::presence::SetStatus;
use crate::actors::registry::{GetPresence, ListPresence, SetStatusFor};
use crate::actors::Services;
use crate::auth::Principal;
use crate::ids::UserId;
use crate::protocol::client::ChosenStatus;
use crate::protocol::server::PresenceView;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

/// `GET /api/v1/presence`: online users of my tenant.
#[utoipa::path(
    get,
    path = "/api/v1/presence",
    tag = "presence",
    summary = "Online users of my tenant",
    responses((status = 200, description = "The roster", body = PresenceList), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list(
    principal: Principal,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let users = services
        .registry
        .send(ListPresence(principal.tenant))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(PresenceList { users }))
}

/// `GET /api/v1/presence/{user_id}`: one user; offline users answer with status offline.
#[utoipa::path(
    get,
    path = "/api/v1/presence/{user_id}",
    tag = "presence",
    summary = "One user's presence (offline users answer with status offline)",
    params(("user_id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user's presence; a user who is offline gets only `user_id`, `status: offline` and empty `devices`", body = PresenceView), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_one(
    principal: Principal,
    path: web::Path<String>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    let view = services
        .registry
        .send(GetPresence {
            tenant: principal.tenant,
            user: UserId::new(user_id.as_str()),
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(match view {
        Some(view) => HttpResponse::Ok().json(view),
        None => HttpResponse::Ok()
            .json(serde_json::json!({ "user_id": user_id, "status": "offline", "devices": [] })),
    })
}

/// Response of `GET /api/v1/presence`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PresenceList {
    /// Users online (or in their offline grace period) in my tenant.
    pub users: Vec<PresenceView>,
}

/// Body of `PUT /api/v1/presence/status`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// `online`, `busy` or `away`.
    #[schema(value_type = String, example = "busy")]
    pub status: ChosenStatus,
}

/// `PUT /api/v1/presence/status`: set my status (I must be connected).
#[utoipa::path(
    put,
    path = "/api/v1/presence/status",
    tag = "presence",
    summary = "Set my own status (I must be connected)",
    request_body(content = StatusBody),
    responses((status = 204, description = "Set"), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 404, description = "`not_connected`", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn set_status(
    principal: Principal,
    body: web::Json<StatusBody>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let found = services
        .registry
        .send(SetStatusFor {
            tenant: principal.tenant,
            user: principal.user,
            status: SetStatus(body.status),
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if !found {
        return Err(ApiError::NotFound(
            ErrorCode::NotConnected,
            "the user has no open connection; status applies to connected users".into(),
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}
