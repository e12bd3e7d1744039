//! Admin: rooms and document sessions. List a tenant's rooms with member
//! counts; show one room (members, cursors, typing, editors, document
//! session); list live document sessions (revision, editors, locks); and
//! force-release a lock, which reaches the room and the holder as
//! `doc:lock_status` through the session's usual lock path.

use super::{Admin, TenantQuery};
use crate::actors::document::{DocumentInfo, RestLock};
use crate::actors::registry::admin::ListRooms;
use crate::actors::registry::FindRoom;
use crate::actors::room::admin::GetRoomSnapshot;
use crate::actors::room::{GetDocumentInfo, RoomActor};
use crate::actors::Services;
use crate::http::error::{ApiError, ErrorCode};
use crate::ids::{RoomId, TenantId, UserId};
use actix::Addr;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Path `{entity_type}/{entity_id}`.
#[derive(Debug, Deserialize)]
pub struct RoomPath {
    entity_type: String,
    entity_id: String,
}

impl RoomPath {
    fn room(&self, tenant: TenantId) -> Result<RoomId, ApiError> {
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
        Ok(RoomId::new(tenant, &self.entity_type, &self.entity_id))
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

async fn rooms(
    services: &Services,
    tenant: Option<TenantId>,
) -> Result<Vec<(RoomId, Addr<RoomActor>)>, ApiError> {
    services
        .registry
        .send(ListRooms(tenant))
        .await
        .map_err(internal)
}

/// Asks every live room (of `tenant`, or of every tenant) the same
/// question at once; a room that stopped meanwhile is left out.
async fn ask_rooms<M>(
    services: &Services,
    tenant: Option<TenantId>,
    question: impl Fn() -> M,
) -> Result<Vec<(RoomId, M::Result)>, ApiError>
where
    M: actix::Message + Send + 'static,
    M::Result: Send,
    RoomActor: actix::Handler<M>,
{
    let asked = rooms(services, tenant)
        .await?
        .into_iter()
        .map(|(id, addr)| {
            let sent = addr.send(question());
            async move { (id, sent.await) }
        });
    Ok(futures_util::future::join_all(asked)
        .await
        .into_iter()
        .filter_map(|(id, answer)| Some((id, answer.ok()?)))
        .collect())
}

fn document_json(info: &DocumentInfo) -> serde_json::Value {
    json!({
        "revision": info.version,
        "editors": info.active_users,
        "locks": info.locks,
        "session_edits": info.session_edits,
        "session_conflicts_resolved": info.session_conflicts_resolved,
    })
}

/// `GET /api/v1/admin/rooms`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/rooms",
    tag = "admin",
    summary = "Live rooms with member counts (platform operators: every tenant unless ?tenant=)",
    params(TenantQuery),
    responses(
        (status = 200, description = "`{rooms: [{tenant_id, entity_type, entity_id, users, connections, document_session}]}`", body = serde_json::Value),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, or another tenant", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn list(
    admin: Admin,
    query: web::Query<TenantQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let tenant = admin.scope(query.tenant.as_deref())?;
    let out: Vec<serde_json::Value> = ask_rooms(&services, tenant.clone(), || GetRoomSnapshot)
        .await?
        .into_iter()
        .map(|(id, snapshot)| {
            json!({
                "tenant_id": id.tenant.as_str(),
                "entity_type": &*id.entity_type,
                "entity_id": &*id.entity_id,
                "users": snapshot.members.len(),
                "connections": snapshot.connections,
                "document_session": snapshot.document_session,
            })
        })
        .collect();
    admin
        .record(&services, tenant.as_ref(), "rooms.list", json!({}))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "rooms": out })))
}

/// `GET /api/v1/admin/rooms/{entity_type}/{entity_id}`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/rooms/{entity_type}/{entity_id}",
    tag = "admin",
    summary = "One live room: members, cursors, typing, editors and its document session",
    params(("entity_type" = String, Path, description = "Entity type"), ("entity_id" = String, Path, description = "Entity id"), TenantQuery),
    responses(
        (status = 200, description = "`{members, cursors, typing, editors, document}`", body = serde_json::Value),
        (status = 400, description = "`invalid_path` or `missing_tenant`", body = crate::http::error::ErrorBody),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, or another tenant", body = crate::http::error::ErrorBody),
        (status = 404, description = "`not_found`: no live room", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn show(
    admin: Admin,
    path: web::Path<RoomPath>,
    query: web::Query<TenantQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let tenant = admin.tenant(query.tenant.as_deref())?;
    let room = path.room(tenant.clone())?;
    admin
        .record(
            &services,
            Some(&tenant),
            "room.show",
            json!({ "entity_type": &*room.entity_type, "entity_id": &*room.entity_id }),
        )
        .await?;
    let not_found = || ApiError::NotFound(ErrorCode::NotFound, "no live room".into());
    let addr = services
        .registry
        .send(FindRoom(room.clone()))
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    let snapshot = addr.send(GetRoomSnapshot).await.map_err(|_| not_found())?;
    let document = match addr.send(GetDocumentInfo).await {
        Ok(Some(info)) => document_json(&info),
        _ => serde_json::Value::Null,
    };
    Ok(HttpResponse::Ok().json(json!({
        "tenant_id": tenant.as_str(),
        "entity_type": &*room.entity_type,
        "entity_id": &*room.entity_id,
        "members": snapshot.members,
        "connections": snapshot.connections,
        "cursors": snapshot.cursors,
        "typing": snapshot.typing,
        "editors": snapshot.editors,
        "document": document,
    })))
}

/// `GET /api/v1/admin/documents`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/documents",
    tag = "admin",
    summary = "Live document sessions: revision, editors, locks (platform operators: every tenant unless ?tenant=)",
    params(TenantQuery),
    responses(
        (status = 200, description = "`{documents: [{tenant_id, entity_type, entity_id, revision, editors, locks, ...}]}`", body = serde_json::Value),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, or another tenant", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn documents(
    admin: Admin,
    query: web::Query<TenantQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let tenant = admin.scope(query.tenant.as_deref())?;
    let out: Vec<serde_json::Value> = ask_rooms(&services, tenant.clone(), || GetDocumentInfo)
        .await?
        .into_iter()
        .filter_map(|(id, info)| {
            let info = info?;
            let mut doc = document_json(&info);
            doc["tenant_id"] = json!(id.tenant.as_str());
            doc["entity_type"] = json!(&*id.entity_type);
            doc["entity_id"] = json!(&*id.entity_id);
            Some(doc)
        })
        .collect();
    admin
        .record(&services, tenant.as_ref(), "documents.list", json!({}))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "documents": out })))
}

/// Query of `DELETE /api/v1/admin/documents/{entity_type}/{entity_id}/lock`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForceUnlockQuery {
    /// The tenant (platform operators: required).
    pub tenant: Option<String>,
    /// The locked field; omitted: the whole-entity lock.
    pub field: Option<String>,
    /// The holder; omitted: whoever holds that lock in the live session.
    pub user_id: Option<String>,
}

/// `DELETE /api/v1/admin/documents/{entity_type}/{entity_id}/lock`.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/documents/{entity_type}/{entity_id}/lock",
    tag = "admin",
    summary = "Force-release a lock: the room (and the holder in it) get doc:lock_status",
    params(("entity_type" = String, Path, description = "Entity type"), ("entity_id" = String, Path, description = "Entity id"), ForceUnlockQuery),
    responses(
        (status = 200, description = "`{released: {field, user_id}}`", body = serde_json::Value),
        (status = 400, description = "`invalid_path`, `invalid_field` or `missing_tenant`", body = crate::http::error::ErrorBody),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, or another tenant", body = crate::http::error::ErrorBody),
        (status = 404, description = "`not_locked`: no such lock", body = crate::http::error::ErrorBody),
        (status = 503, description = "`document_unavailable`", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn force_unlock(
    admin: Admin,
    path: web::Path<RoomPath>,
    query: web::Query<ForceUnlockQuery>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let tenant = admin.tenant(query.tenant.as_deref())?;
    let room = path.room(tenant.clone())?;
    let field = query.field.clone();
    if field
        .as_ref()
        .is_some_and(|f| f.is_empty() || f.len() > 128)
    {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            "`field` must be 1 to 128 bytes".into(),
        ));
    }
    let not_locked = || ApiError::NotFound(ErrorCode::NotLocked, "no such lock".into());
    let holder = match query.user_id.as_deref() {
        Some(u) if !u.is_empty() && u.len() <= 256 => UserId::new(u),
        Some(_) => {
            return Err(ApiError::BadRequest(
                ErrorCode::InvalidField,
                "`user_id` must be 1 to 256 bytes".into(),
            ))
        }
        None => {
            // Whoever holds it in the live session.
            let addr = services
                .registry
                .send(FindRoom(room.clone()))
                .await
                .map_err(internal)?
                .ok_or_else(not_locked)?;
            let info = addr
                .send(GetDocumentInfo)
                .await
                .ok()
                .flatten()
                .ok_or_else(not_locked)?;
            let lock = info
                .locks
                .iter()
                .find(|l| l.field == field)
                .ok_or_else(not_locked)?;
            UserId::new(lock.user_id.as_str())
        }
    };
    crate::http::collaboration::lock_request(
        &services,
        room.clone(),
        RestLock {
            user: holder.clone(),
            name: "admin".into(),
            field: field.clone(),
            acquire: None,
        },
    )
    .await?;
    admin
        .record(
            &services,
            Some(&tenant),
            "lock.force_release",
            json!({
                "entity_type": &*room.entity_type,
                "entity_id": &*room.entity_id,
                "field": field,
                "user_id": holder.as_str(),
            }),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "released": { "field": field, "user_id": holder.as_str() },
    })))
}
