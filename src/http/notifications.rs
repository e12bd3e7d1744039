//! Notifications over REST. Backend services publish
//! (`POST /api/v1/notifications`); users list, count, mark, delete their
//! own notifications and set their channels. The tenant always comes from
//! the credential, never from a body.

use super::error::{ApiError, ErrorCode};
use super::principal::authenticate;
use crate::actors::Services;
use crate::auth::{Principal, Role};
use crate::notify::channels::ChannelSettings;
use crate::notify::notifications::{self, CreateNotifications, ListFilter};
use crate::notify::{check_name_query, from_json, page_limit};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::future::{ready, Ready};
use std::sync::Arc;

/// A caller with role `service` (a service JWT, or `X-Api-Key` with
/// `X-Tenant-Id`). Anyone else gets 403 `forbidden`, before the body is read.
pub struct ServicePrincipal(pub Principal);

impl FromRequest for ServicePrincipal {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|p| {
            if p.role == Role::Service {
                Ok(ServicePrincipal(p))
            } else {
                Err(ApiError::Forbidden(
                    ErrorCode::Forbidden,
                    "this endpoint is for backend services (role `service` or X-Api-Key)".into(),
                ))
            }
        }))
    }
}

/// `POST /api/v1/notifications`: store, then deliver; 201 with the ids.
#[utoipa::path(
    post,
    path = "/api/v1/notifications",
    tag = "notifications",
    summary = "Store and deliver a notification to 1-1000 users (role service)",
    request_body(content = serde_json::Value, description = "user_ids, notification_type, title, body, data, priority, channels: see docs/rest.md"),
    responses((status = 201, description = "The ids", body = serde_json::Value), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`forbidden`: the caller's role may not do this", body = crate::http::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create(
    ServicePrincipal(principal): ServicePrincipal,
    body: web::Json<serde_json::Value>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateNotifications = from_json(body.into_inner())?;
    let draft = body.validate(chrono::Utc::now())?;
    let created = notifications::create(services.notify.clone(), principal.tenant, draft).await?;
    let ids: Vec<i64> = created.iter().map(|c| c.id).collect();
    Ok(HttpResponse::Created().json(serde_json::json!({
        "ids": ids,
        "notifications": created,
    })))
}

/// Query of `GET /api/v1/notifications`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only unread ones.
    #[serde(default)]
    pub unread: Option<bool>,
    /// Only this type.
    #[serde(default, rename = "type")]
    pub notification_type: Option<String>,
    /// Page size (1 to 200, default 50).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Older than this id (newest first).
    #[serde(default)]
    pub before_id: Option<i64>,
    /// Newer than this id (oldest first).
    #[serde(default)]
    pub after_id: Option<i64>,
}

/// `GET /api/v1/notifications`: my notifications, paged.
#[utoipa::path(
    get,
    path = "/api/v1/notifications",
    tag = "notifications",
    summary = "My notifications, paged",
    params(ListQuery),
    responses((status = 200, description = "A page of notifications", body = serde_json::Value), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    principal: Principal,
    query: web::Query<ListQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    if let Some(t) = &q.notification_type {
        check_name_query("type", t)?;
    }
    let filter = ListFilter {
        unread_only: q.unread.unwrap_or(false),
        notification_type: q.notification_type,
        before_id: q.before_id,
        after_id: q.after_id,
        limit: page_limit(q.limit)?,
    };
    let (rows, more) =
        notifications::list(&services.db, &principal.tenant, &principal.user, &filter).await?;
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "notifications": views,
        "has_more": more,
    })))
}

/// `GET /api/v1/notifications/unread-count`.
#[utoipa::path(
    get,
    path = "/api/v1/notifications/unread-count",
    tag = "notifications",
    summary = "My unread count",
    responses((status = 200, description = "`{\"unread\": n}`", body = serde_json::Value), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn unread_count(
    principal: Principal,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let unread =
        notifications::unread_count(&services.db, &principal.tenant, &principal.user).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "unread": unread })))
}

/// `POST /api/v1/notifications/{id}/read`: 404 unless it is mine.
#[utoipa::path(
    post,
    path = "/api/v1/notifications/{id}/read",
    tag = "notifications",
    summary = "Mark one of mine read",
    params(("id" = i64, Path, description = "Notification id")),
    responses((status = 200, description = "Marked", body = serde_json::Value), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 404, description = "`not_found`", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn read_one(
    principal: Principal,
    path: web::Path<i64>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    notifications::mark_read(&services.db, &principal.tenant, &principal.user, id).await?;
    let unread =
        notifications::refresh_count(&services.notify, &principal.tenant, &principal.user).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": id, "unread": unread })))
}

/// `POST /api/v1/notifications/read-all`.
#[utoipa::path(
    post,
    path = "/api/v1/notifications/read-all",
    tag = "notifications",
    summary = "Mark all of mine read",
    responses((status = 200, description = "How many were marked", body = serde_json::Value), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn read_all(
    principal: Principal,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let updated =
        notifications::mark_all_read(&services.db, &principal.tenant, &principal.user).await?;
    let unread =
        notifications::refresh_count(&services.notify, &principal.tenant, &principal.user).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "updated": updated, "unread": unread })))
}

/// `DELETE /api/v1/notifications/{id}`: 204, or 404 unless it is mine.
#[utoipa::path(
    delete,
    path = "/api/v1/notifications/{id}",
    tag = "notifications",
    summary = "Delete one of mine",
    params(("id" = i64, Path, description = "Notification id")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 404, description = "`not_found`", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn delete(
    principal: Principal,
    path: web::Path<i64>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    notifications::delete(&services.db, &principal.tenant, &principal.user, id).await?;
    notifications::refresh_count(&services.notify, &principal.tenant, &principal.user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/notifications/settings`: my stored per-type channels.
#[utoipa::path(
    get,
    path = "/api/v1/notifications/settings",
    tag = "notifications",
    summary = "My channels per notification type",
    responses((status = 200, description = "Stored settings", body = serde_json::Value), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_settings(
    principal: Principal,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let settings =
        notifications::settings(&services.db, &principal.tenant, &principal.user).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "settings": settings })))
}

/// `PUT /api/v1/notifications/settings`: `{type: {websocket, web_push,
/// fcm, email} | null}`; answers with every stored setting.
#[utoipa::path(
    put,
    path = "/api/v1/notifications/settings",
    tag = "notifications",
    summary = "Set or clear channels per notification type",
    request_body(content = serde_json::Value, description = "`{type: {websocket, web_push, fcm, email} | null}`"),
    responses((status = 200, description = "Every stored setting", body = serde_json::Value), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn put_settings(
    principal: Principal,
    body: web::Json<serde_json::Value>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let update: BTreeMap<String, Option<ChannelSettings>> = from_json(body.into_inner())?;
    notifications::validate_settings(&update)?;
    notifications::put_settings(&services.db, &principal.tenant, &principal.user, update).await?;
    get_settings(principal, services).await
}
