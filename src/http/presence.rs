//! Presence over REST, always scoped to the caller's tenant.

use super::error::{ApiError, ErrorCode};
use crate::actors::presence::SetStatus;
use crate::actors::registry::{GetPresence, ListPresence, SetStatusFor};
use crate::actors::Services;
use crate::auth::Principal;
use crate::ids::UserId;
use crate::protocol::client::ChosenStatus;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

/// `GET /api/v1/presence`: online users of my tenant.
pub async fn list(
    principal: Principal,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let users = services
        .registry
        .send(ListPresence(principal.tenant))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "users": users })))
}

/// `GET /api/v1/presence/{user_id}`: one user; offline users answer with status offline.
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

/// Body of `PUT /api/v1/presence/status`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// `online`, `busy` or `away`.
    pub status: ChosenStatus,
}

/// `PUT /api/v1/presence/status`: set my status (I must be connected).
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
