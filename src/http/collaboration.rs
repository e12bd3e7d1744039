//! Collaborative documents over REST: edit locks, live sessions, session
//! facts and the document as of a version. Scoped to the caller's tenant.

use super::error::{ApiError, ErrorCode};
use crate::actors::document::{LockRefused, RestLock};
use crate::actors::registry::{FindRoom, LockDocument};
use crate::actors::room::GetDocumentInfo;
use crate::actors::Services;
use crate::auth::Principal;
use crate::collab::document::Document;
use crate::collab::locks::LockMode;
use crate::db::documents::{self as q, DocKey};
use crate::ids::RoomId;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

/// Path `{entity_type}/{entity_id}`.
#[derive(Deserialize)]
pub struct EntityPath {
    entity_type: String,
    entity_id: String,
}

impl EntityPath {
    fn room(&self, principal: &Principal) -> Result<RoomId, ApiError> {
        if self.entity_type.is_empty() || self.entity_type.len() > 64 {
            return Err(ApiError::BadRequest(
                ErrorCode::InvalidPath,
                "entity type must be 1 to 64 bytes".into(),
            ));
        }
        if self.entity_id.is_empty() || self.entity_id.len() > 256 {
            return Err(ApiError::BadRequest(
                ErrorCode::InvalidPath,
                "entity id must be 1 to 256 bytes".into(),
            ));
        }
        Ok(RoomId::new(
            principal.tenant.clone(),
            &self.entity_type,
            &self.entity_id,
        ))
    }

    fn key(&self, principal: &Principal) -> DocKey {
        DocKey {
            tenant_id: principal.tenant.to_string(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id.clone(),
        }
    }
}

/// Body of `POST .../lock`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockBody {
    /// Field; omitted locks the whole entity.
    #[serde(default)]
    field: Option<String>,
    /// `soft` (default) or `hard`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "soft")]
    mode: Option<LockMode>,
    /// Lifetime in seconds.
    #[serde(default)]
    ttl_secs: Option<u64>,
    /// Why.
    #[serde(default)]
    reason: Option<String>,
}

/// Query of `DELETE .../lock`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnlockQuery {
    #[serde(default)]
    field: Option<String>,
}

pub(crate) fn refused(e: LockRefused) -> ApiError {
    match e {
        LockRefused::Held(_) => ApiError::Conflict(ErrorCode::LockConflict, e.to_string()),
        LockRefused::NotHeld => ApiError::NotFound(ErrorCode::NotLocked, e.to_string()),
        LockRefused::Unavailable(m) => ApiError::Unavailable(ErrorCode::DocumentUnavailable, m),
        LockRefused::StorageBehind { retry_after_ms } => {
            ApiError::RetryLater(ErrorCode::Unavailable, e.to_string(), retry_after_ms)
        }
    }
}

pub(crate) async fn lock_request(
    services: &Services,
    room: RoomId,
    request: RestLock,
) -> Result<Option<crate::protocol::server::LockView>, ApiError> {
    services
        .registry
        .send(LockDocument { room, request })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(refused)
}

/// True when the request carries no body at all.
pub(crate) fn has_no_body(req: &actix_web::HttpRequest) -> bool {
    use actix_web::http::header;
    match req.headers().get(header::CONTENT_LENGTH) {
        Some(len) => len.as_bytes() == b"0",
        None => !req.headers().contains_key(header::TRANSFER_ENCODING),
    }
}

/// `POST /api/v1/collaboration/{entity_type}/{entity_id}/lock`: take or renew a lock.
#[utoipa::path(
    post,
    path = "/api/v1/collaboration/{entity_type}/{entity_id}/lock",
    tag = "collaboration",
    summary = "Take or renew an edit lock",
    params(("entity_type" = String, Path, description = "Entity type, e.g. `document`"), ("entity_id" = String, Path, description = "Entity id")),
    request_body(content = Option<LockBody>),
    responses((status = 201, description = "The lock, taken or renewed", body = serde_json::Value), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 409, description = "Held by someone else", body = crate::http::error::ErrorBody), (status = 503, description = "`unavailable`: the document's storage is behind (`documents.max_pending_writes` writes queued); nothing changed, retry after `retry_after_ms` (also `Retry-After`). `document_unavailable`: the document could not be loaded", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn lock(
    principal: Principal,
    path: web::Path<EntityPath>,
    body: Result<web::Json<LockBody>, actix_web::Error>,
    req: actix_web::HttpRequest,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, actix_web::Error> {
    // No body takes the defaults; a body that is not a valid LockBody
    // (`"ttl_secs": -5`, unknown fields, not JSON) is refused, not ignored.
    let body = match body {
        Ok(b) => b.into_inner(),
        Err(_) if has_no_body(&req) => LockBody::default(),
        Err(e) => return Err(e),
    };
    if body
        .field
        .as_ref()
        .is_some_and(|f| f.is_empty() || f.len() > 128)
    {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            "`field` must be 1 to 128 bytes".into(),
        )
        .into());
    }
    let room = path.room(&principal)?;
    let view = lock_request(
        &services,
        room,
        RestLock {
            user: principal.user.clone(),
            name: principal.name.clone(),
            field: body.field,
            acquire: Some((
                body.mode.unwrap_or(LockMode::Soft),
                body.ttl_secs,
                body.reason,
            )),
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(view))
}

/// `DELETE /api/v1/collaboration/{entity_type}/{entity_id}/lock?field=`: release my lock.
#[utoipa::path(
    delete,
    path = "/api/v1/collaboration/{entity_type}/{entity_id}/lock",
    tag = "collaboration",
    summary = "Release my lock",
    params(("entity_type" = String, Path, description = "Entity type, e.g. `document`"), ("entity_id" = String, Path, description = "Entity id"), UnlockQuery),
    responses((status = 204, description = "Released"), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 404, description = "`not_locked`", body = crate::http::error::ErrorBody), (status = 503, description = "`unavailable`: the document's storage is behind; the lock is still held, retry after `retry_after_ms` (also `Retry-After`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn unlock(
    principal: Principal,
    path: web::Path<EntityPath>,
    query: web::Query<UnlockQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let room = path.room(&principal)?;
    lock_request(
        &services,
        room,
        RestLock {
            user: principal.user.clone(),
            name: principal.name.clone(),
            field: query.into_inner().field,
            acquire: None,
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/collaboration/sessions`: open document sessions of my tenant.
#[utoipa::path(
    get,
    path = "/api/v1/collaboration/sessions",
    tag = "collaboration",
    summary = "Open document sessions of my tenant",
    responses((status = 200, description = "Sessions", body = serde_json::Value), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn sessions(
    principal: Principal,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = services.db.conn().await?;
    let rows = q::open_sessions(&mut conn, principal.tenant.as_str()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "sessions": rows })))
}

/// `GET /api/v1/collaboration/{entity_type}/{entity_id}`: active users,
/// version, locks, and the counts of edits and conflicts resolved.
#[utoipa::path(
    get,
    path = "/api/v1/collaboration/{entity_type}/{entity_id}",
    tag = "collaboration",
    summary = "Active users, version, locks and edit/conflict counts of a document",
    params(("entity_type" = String, Path, description = "Entity type, e.g. `document`"), ("entity_id" = String, Path, description = "Entity id")),
    responses((status = 200, description = "The session", body = serde_json::Value), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 404, description = "`not_found`", body = crate::http::error::ErrorBody)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn info(
    principal: Principal,
    path: web::Path<EntityPath>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let room = path.room(&principal)?;
    let key = path.key(&principal);
    let live = match services.registry.send(FindRoom(room)).await {
        Ok(Some(addr)) => addr.send(GetDocumentInfo).await.ok().flatten(),
        _ => None,
    };
    let mut conn = services.db.conn().await?;
    let (edits, conflicts) = q::session_totals(&mut conn, &key).await?;
    let body = match live {
        Some(info) => serde_json::json!({
            "entity_type": key.entity_type,
            "entity_id": key.entity_id,
            "live": true,
            "version": info.version,
            "active_users": info.active_users,
            "locks": info.locks,
            "total_edits": edits.max(info.session_edits),
            "total_conflicts_resolved": conflicts.max(info.session_conflicts_resolved),
        }),
        None => {
            let (snapshot, changes) = q::load(&mut conn, &key, None).await?;
            let version = snapshot.map_or(0, |s| s.version) + changes.len() as u64;
            let locks: Vec<serde_json::Value> = q::load_locks(&mut conn, &key)
                .await?
                .into_iter()
                .map(|l| {
                    serde_json::json!({
                        "field": (!l.field_name.is_empty()).then_some(l.field_name),
                        "user_id": l.user_id,
                        "name": l.user_name.unwrap_or(l.user_id),
                        "mode": l.lock_type,
                        "reason": l.reason,
                        "acquired_at": l.acquired_at,
                        "expires_at": l.expires_at,
                    })
                })
                .collect();
            serde_json::json!({
                "entity_type": key.entity_type,
                "entity_id": key.entity_id,
                "live": false,
                "version": version,
                "active_users": [],
                "locks": locks,
                "total_edits": edits,
                "total_conflicts_resolved": conflicts,
            })
        }
    };
    Ok(HttpResponse::Ok().json(body))
}

/// Path `{entity_type}/{entity_id}/versions/{version}`.
#[derive(Deserialize)]
pub struct VersionPath {
    entity_type: String,
    entity_id: String,
    version: u64,
}

/// `GET /api/v1/collaboration/{entity_type}/{entity_id}/versions/{version}`:
/// the stored document as of that version.
#[utoipa::path(
    get,
    path = "/api/v1/collaboration/{entity_type}/{entity_id}/versions/{version}",
    tag = "collaboration",
    summary = "The stored document as of a version",
    params(("entity_type" = String, Path, description = "Entity type, e.g. `document`"), ("entity_id" = String, Path, description = "Entity id"), ("version" = u64, Path, description = "Version")),
    responses((status = 200, description = "The document", body = serde_json::Value), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 404, description = "`not_found`", body = crate::http::error::ErrorBody)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn as_of(
    principal: Principal,
    path: web::Path<VersionPath>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let key = DocKey {
        tenant_id: principal.tenant.to_string(),
        entity_type: path.entity_type,
        entity_id: path.entity_id,
    };
    let wanted = i64::try_from(path.version)
        .map_err(|_| ApiError::BadRequest(ErrorCode::InvalidPath, "version out of range".into()))?;
    let mut conn = services.db.conn().await?;
    let (snapshot, changes) = q::load(&mut conn, &key, Some(wanted)).await?;
    let max_history = services.settings.documents.max_history;
    let mut doc = match snapshot {
        Some(s) => Document::restore(s, max_history),
        None => Document::new(max_history),
    };
    for (change, author) in &changes {
        doc.replay(change, author)
            .map_err(|e| ApiError::Internal(format!("stored change does not replay: {e}")))?;
    }
    if doc.version() < path.version {
        return Err(ApiError::NotFound(
            ErrorCode::NoSuchVersion,
            format!("the document is stored up to version {}", doc.version()),
        ));
    }
    let snapshot = doc.snapshot();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "entity_type": key.entity_type,
        "entity_id": key.entity_id,
        "version": snapshot.version,
        "fields": snapshot.texts,
        "values": snapshot.values,
    })))
}
