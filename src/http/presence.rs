//! Presence over REST, always scoped to the caller's tenant.

use super::error::{ApiError, ErrorCode};
use crate::actors::presence::SetStatus;
use crate::actors::registry::{GetPresence, ListPresencePage, SetStatusFor};
use crate::actors::Services;
use crate::auth::Principal;
use crate::ids::UserId;
use crate::protocol::client::ChosenStatus;
use crate::protocol::server::PresenceView;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

/// Most users in one page of `GET /api/v1/presence`.
pub const MAX_PAGE: usize = 1000;
/// Users in a page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 500;

/// Query of `GET /api/v1/presence`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<usize>,
    after: Option<String>,
    /// Read by the `Principal` extractor (a token may come in the query).
    #[serde(rename = "token")]
    _token: Option<String>,
}

/// `GET /api/v1/presence`: online users of my tenant, one page at a time
/// (by user id; `next_after` is the `after` of the next page).
#[utoipa::path(
    get,
    path = "/api/v1/presence",
    tag = "presence",
    summary = "Online users of my tenant, paged by user id",
    params(("limit" = Option<usize>, Query, description = "Users per page, 1 to 1000 (default 500)"), ("after" = Option<String>, Query, description = "Start after this user id (the previous page's `next_after`)")),
    responses((status = 200, description = "One page of the roster", body = PresenceList), (status = 400, description = "`invalid_field` (a bad `limit` or an unknown parameter)", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list(
    req: actix_web::HttpRequest,
    principal: Principal,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<PageQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(ErrorCode::InvalidField, e.to_string()))?
        .into_inner();
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            format!("`limit` must be 1 to {MAX_PAGE}"),
        ));
    }
    let page = services
        .registry
        .send(ListPresencePage {
            tenant: principal.tenant,
            after: query.after,
            limit,
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let next_after = page
        .more
        .then(|| page.users.last().map(|u| u.user_id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(PresenceList {
        users: page.users,
        next_after,
    }))
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
    /// Users online (or in their offline grace period) in my tenant, by user id.
    pub users: Vec<PresenceView>,
    /// Present when more users follow: pass it as `after` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Body of `PUT /api/v1/presence/status`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// `online`, `busy` or `away`.
    #[schema(value_type = String, example = "busy")]
    pub status: ChosenStatus,
}

/// `PUT /api/v1/presence/status`: set my status (I must be connected, to
/// any node of the cluster).
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
            tenant: principal.tenant.clone(),
            user: principal.user.clone(),
            status: SetStatus(body.status),
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // In a cluster the user may be connected to other nodes only.
    let found = match (&services.nodes, found) {
        (Some(nodes), false) => crate::cluster::presence::forward_status(
            nodes,
            services.broker.as_ref(),
            &principal.tenant,
            &principal.user,
            body.status,
        )
        .await
        .map_err(|e| ApiError::Internal(format!("presence unavailable: {e}")))?,
        _ => found,
    };
    if !found {
        return Err(ApiError::NotFound(
            ErrorCode::NotConnected,
            "the user has no open connection; status applies to connected users".into(),
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}
