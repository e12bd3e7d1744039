//! Admin: `system:message` to every connection of a tenant, or of every
//! tenant (platform operators only). It reaches WebSocket connections and
//! SSE streams (`event: system`); Yjs sockets speak a binary protocol
//! without a place for it.

use super::{Admin, TenantQuery};
use crate::actors::registry::admin::PublishToTenants;
use crate::actors::Services;
use crate::http::error::{ApiError, ErrorCode};
use crate::protocol::ServerMessage;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Body of `POST /api/v1/admin/system-message`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemMessageBody {
    /// The text (1 to 2000 bytes).
    pub message: String,
    /// `info` (default), `warning` or `critical`.
    pub level: Option<String>,
    /// Send to every tenant (platform operators only; then omit `?tenant=`).
    #[serde(default)]
    pub all: bool,
}

/// `POST /api/v1/admin/system-message`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/system-message",
    tag = "admin",
    summary = "Send system:message to every connection of a tenant, or of every tenant (platform operators)",
    params(TenantQuery),
    request_body(content = SystemMessageBody),
    responses(
        (status = 202, description = "`{scope, tenants}`: handed to the tenants' connections", body = serde_json::Value),
        (status = 400, description = "`invalid_body`, `invalid_field` or `missing_tenant`", body = crate::http::error::ErrorBody),
        (status = 401, description = "Bad token or X-Admin-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin, another tenant, or `all` from a tenant admin", body = crate::http::error::ErrorBody)
    ),
    security(("bearer" = []), ("admin_key" = []))
)]
pub async fn send(
    admin: Admin,
    query: web::Query<TenantQuery>,
    body: web::Json<SystemMessageBody>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.message.is_empty() || body.message.len() > 2000 {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            "`message` must be 1 to 2000 bytes".into(),
        ));
    }
    let level = body.level.unwrap_or_else(|| "info".into());
    if !matches!(level.as_str(), "info" | "warning" | "critical") {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            "`level` must be info, warning or critical".into(),
        ));
    }
    let tenant = match (&admin, body.all) {
        (Admin::Tenant(_), true) => {
            return Err(ApiError::Forbidden(
                ErrorCode::Forbidden,
                "only a platform operator (X-Admin-Key) sends to every tenant".into(),
            ))
        }
        (Admin::Platform { .. }, true) if query.tenant.is_some() => {
            return Err(ApiError::BadRequest(
                ErrorCode::InvalidField,
                "`all` sends to every tenant: omit ?tenant=".into(),
            ))
        }
        (Admin::Platform { .. }, true) => None,
        (_, false) => Some(admin.tenant(query.tenant.as_deref())?),
    };
    let scope = if tenant.is_some() { "tenant" } else { "all" };
    let frame = ServerMessage::SystemMessage {
        level: level.clone(),
        message: body.message.clone(),
        scope: scope.into(),
        sent_at: crate::clock::now_rfc3339(),
    }
    .to_frame();
    let tenants = services
        .registry
        .send(PublishToTenants {
            tenant: tenant.clone(),
            frame,
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    metrics::counter!("tandem_system_messages_total", "scope" => scope).increment(1);
    admin
        .record(
            &services,
            tenant.as_ref(),
            "system_message.send",
            json!({ "scope": scope, "level": level, "message": body.message, "tenants": tenants }),
        )
        .await?;
    Ok(HttpResponse::Accepted().json(json!({ "scope": scope, "tenants": tenants })))
}
