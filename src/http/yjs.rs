//! `GET /yjs/{document}`: the y-websocket endpoint. Checks Origin and the
//! token exactly like `/ws` (a browser's `WebsocketProvider` sends it as
//! `?token=`), validates the document name and the per-user cap, then
//! upgrades. Every rejection happens before the upgrade, as a JSON error.
//! The document is scoped to the token's tenant. After the upgrade the
//! socket belongs to the Yjs connection actor.

use super::error::ApiError;
use super::ws::SocketDup;
use crate::actors::yjs_connection::YjsConnectionActor;
use crate::actors::yjs_doc::YjsDocId;
use crate::actors::yjs_registry::{Admit, ConnClosed};
use crate::actors::Services;
use crate::auth::TokenSource;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use std::sync::Arc;

/// Longest document name, in bytes.
pub const MAX_DOCUMENT_NAME_BYTES: usize = 256;

/// The upgrade handler.
pub async fn upgrade(
    req: HttpRequest,
    document: web::Path<String>,
    stream: web::Payload,
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
            "invalid_document",
            format!("the document name must be 1 to {MAX_DOCUMENT_NAME_BYTES} bytes"),
        ));
    }
    if let Err(e) = ws::handshake(&req) {
        return Err(ApiError::BadRequest("not_a_websocket", e.to_string()));
    }
    let id = services
        .yjs
        .send(Admit {
            tenant: principal.tenant.clone(),
            user: principal.user.clone(),
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| {
            super::error::admission_refused(e, settings.websocket.max_connections_per_user)
        })?;
    let doc = YjsDocId {
        tenant: principal.tenant.clone(),
        name: name.into(),
    };
    let socket = req.conn_data::<SocketDup>().map(|s| s.0.clone());
    let (tenant, user) = (principal.tenant.clone(), principal.user.clone());
    let actor = YjsConnectionActor::new(id, principal, doc, services.get_ref().clone(), socket);
    let mut builder = ws::WsResponseBuilder::new(actor, &req, stream)
        .frame_size(settings.websocket.max_frame_bytes);
    if source == TokenSource::Subprotocol {
        builder = builder.protocols(&["bearer"]);
    }
    builder.start().map_err(|e| {
        services.yjs.do_send(ConnClosed { id, tenant, user });
        ApiError::BadRequest("not_a_websocket", e.to_string())
    })
}
