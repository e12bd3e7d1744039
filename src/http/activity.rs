//! The activity feed over REST: services record entries; users list what
//! they may see (private entries only when they are the actor or named in
//! `visible_to`), always within their own tenant.

use super::error::{ApiError, ErrorCode};
use super::notifications::ServicePrincipal;
use crate::actors::Services;
use crate::auth::Principal;
use crate::notify::activity::{self, ActivityFilter, CreateActivity};
use crate::notify::{check_name_query, from_json, page_limit, NotifyError};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

/// `POST /api/v1/activity`: store and publish; 201 with the id.
#[utoipa::path(
    post,
    path = "/api/v1/activity",
    tag = "activity",
    summary = "Record an activity-feed entry (role service)",
    request_body(content = serde_json::Value, description = "user_id, action, entity_type, entity_id, data, visibility: see docs/rest.md"),
    responses((status = 201, description = "Its id", body = serde_json::Value), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`forbidden`: the caller's role may not do this", body = crate::http::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create(
    ServicePrincipal(principal): ServicePrincipal,
    body: web::Json<serde_json::Value>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateActivity = from_json(body.into_inner())?;
    let input = body.into_input(principal.tenant)?;
    let view = activity::record(&services.notify, input).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "id": view.id, "activity": view })))
}

/// Query of `GET /api/v1/activity`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this entity type.
    #[serde(default)]
    pub entity_type: Option<String>,
    /// Only this actor.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only this action.
    #[serde(default)]
    pub action: Option<String>,
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

/// Query of `GET /api/v1/activity/entity/{type}/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
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

fn too_long(field: &str, value: &Option<String>, max: usize) -> Result<(), NotifyError> {
    match value {
        Some(v) if v.is_empty() || v.len() > max => Err(NotifyError::Invalid(
            crate::notify::InvalidKind::Query,
            format!("`{field}` must be 1 to {max} bytes"),
        )),
        _ => Ok(()),
    }
}

async fn page(
    principal: &Principal,
    services: &Services,
    filter: ActivityFilter,
) -> Result<HttpResponse, ApiError> {
    let (rows, more) =
        activity::list(&services.db, &principal.tenant, &principal.user, &filter).await?;
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "activity": views, "has_more": more })))
}

/// `GET /api/v1/activity`: the tenant's feed as the caller may see it.
#[utoipa::path(
    get,
    path = "/api/v1/activity",
    tag = "activity",
    summary = "The tenant's feed as I may see it",
    params(ListQuery),
    responses((status = 200, description = "A page of entries", body = serde_json::Value), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    principal: Principal,
    query: web::Query<ListQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    too_long("entity_type", &q.entity_type, 64)?;
    too_long("user_id", &q.user_id, 256)?;
    if let Some(a) = &q.action {
        check_name_query("action", a)?;
    }
    let filter = ActivityFilter {
        entity_type: q.entity_type,
        entity_id: None,
        user_id: q.user_id,
        action: q.action,
        before_id: q.before_id,
        after_id: q.after_id,
        limit: page_limit(q.limit)?,
    };
    page(&principal, &services, filter).await
}

/// `GET /api/v1/activity/entity/{entity_type}/{entity_id}`.
#[utoipa::path(
    get,
    path = "/api/v1/activity/entity/{entity_type}/{entity_id}",
    tag = "activity",
    summary = "The feed of one entity",
    params(("entity_type" = String, Path, description = "Entity type, e.g. `document`"), ("entity_id" = String, Path, description = "Entity id"), PageQuery),
    responses((status = 200, description = "A page of entries", body = serde_json::Value), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn for_entity(
    principal: Principal,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let (entity_type, entity_id) = path.into_inner();
    if entity_type.len() > 64 || entity_id.len() > 256 {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidPath,
            "entity_type is at most 64 bytes and entity_id at most 256".into(),
        ));
    }
    let q = query.into_inner();
    let filter = ActivityFilter {
        entity_type: Some(entity_type),
        entity_id: Some(entity_id),
        before_id: q.before_id,
        after_id: q.after_id,
        limit: page_limit(q.limit)?,
        ..ActivityFilter::default()
    };
    page(&principal, &services, filter).await
}
