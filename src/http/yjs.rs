//! `GET /yjs/{document}`: the y-websocket endpoint. Checks Origin and the
//! token exactly like `/ws` (a browser's `WebsocketProvider` sends it as
//! `?token=`), validates the document name and the per-user cap, then
//! upgrades. Every rejection happens before the upgrade, as a JSON error.
//! The document is scoped to the token's tenant. After the upgrade the
//! socket belongs to the Yjs connection actor.

use super::error::{ApiError, ErrorCode};
use crate::actors::yjs_connection::YjsConnectionActor;
use crate::actors::yjs_doc::YjsDocId;
use crate::actors::yjs_registry::{Admit, ConnClosed};
use crate::actors::Services;
use crate::auth::TokenSource;
use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::Arc;

/// Longest document name, in bytes.
pub const MAX_DOCUMENT_NAME_BYTES: usize = 256;

/// The upgrade handler.
#[utoipa::path(
    get,
    path = "/yjs/{document}",
    tag = "sockets",
    summary = "y-websocket upgrade for a Yjs document",
    params(("document" = String, Path, description = "Document name (may contain `/`), at most 256 bytes"), ("token" = Option<String>, Query, description = "JWT")),
    responses((status = 101, description = "Switching protocols"), (status = 400, description = "`not_a_websocket` or a bad document name", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`origin_not_allowed`", body = crate::http::error::ErrorBody), (status = 429, description = "`too_many_connections`", body = crate::http::error::ErrorBody), (status = 503, description = "`shutting_down`, or `server_at_capacity` (the open-files budget is spent; with `retry_after_ms`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn upgrade(
    req: HttpRequest,
    document: web::Path<String>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let settings = &services.settings;
    if let Some(refused) = super::handshake::refusal(&req) {
        return Ok(refused);
    }
    let (principal, source) = super::ws::authorize_upgrade(&req, &services)?;
    let name = document.into_inner();
    if name.is_empty() || name.len() > MAX_DOCUMENT_NAME_BYTES {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidDocument,
            format!("the document name must be 1 to {MAX_DOCUMENT_NAME_BYTES} bytes"),
        ));
    }
    super::ws::check_handshake(&req)?;
    let id = super::admission::admit(
        &services.yjs,
        Admit {
            tenant: principal.tenant.clone(),
            user: principal.user.clone(),
        },
        settings.websocket.max_connections_per_user,
    )
    .await?;
    let doc = YjsDocId {
        tenant: principal.tenant.clone(),
        name: name.into(),
    };
    let home = services.pool.pick(&id).clone();
    let (socket, guard) = super::ws::socket_of(&req, &home);
    let (tenant, user) = (principal.tenant.clone(), principal.user.clone());
    let actor = YjsConnectionActor::new(id, principal, doc, services.get_ref().clone(), socket);
    let yjs = services.yjs.clone();
    Ok(crate::transport::accept(
        &req,
        source == TokenSource::Subprotocol,
        actor,
        settings.websocket.max_frame_bytes,
        guard,
        home,
        move || yjs.do_send(ConnClosed { id, tenant, user }),
    ))
}
