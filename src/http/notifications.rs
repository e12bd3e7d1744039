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
#[derive(Debug, Deserialize)]
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
pub async fn unread_count(
    principal: Principal,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let unread =
        notifications::unread_count(&services.db, &principal.tenant, &principal.user).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "unread": unread })))
}

/// `POST /api/v1/notifications/{id}/read`: 404 unless it is mine.
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
