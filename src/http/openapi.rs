//! The OpenAPI 3.1 description of every route in [`super::table`], served at
//! `GET /api/v1/openapi.json`, and the Swagger UI at `/docs`, whose assets
//! are compiled into the binary (utoipa-swagger-ui's `vendored` feature: no
//! CDN, no download at build time).
//!
//! Each handler carries its `#[utoipa::path]`; [`ApiDoc`] lists them. The
//! drift test (tests/openapi.rs) fails when the spec and the route table
//! disagree, and probes every spec path on the real server.

use super::*;
use actix_web::{web, HttpResponse};
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use super::error::ErrorBody;

/// The spec.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tandem REST API",
        description = "Presence, notifications, activity, push subscriptions, document \
                       locks and room broadcasts. The prose guide with every error code \
                       and limit is docs/rest.md; the WebSocket protocol is docs/protocol.md."
    ),
    paths(
        health::healthz,
        health::readyz,
        admin::stats,
        admin::presence,
        admin::actions,
        admin::connections::list,
        admin::connections::disconnect,
        admin::connections::disconnect_user,
        admin::connections::lift_revocation,
        admin::rooms::list,
        admin::rooms::show,
        admin::rooms::documents,
        admin::rooms::force_unlock,
        admin::system::send,
        ws::upgrade,
        yjs::upgrade,
        spec,
        crate::http::metrics::endpoint,
        presence::list,
        presence::get_one,
        presence::set_status,
        push::vapid_public_key,
        push::subscribe,
        push::unsubscribe,
        push::list,
        push::test,
        push::get_email,
        push::set_email,
        push::delete_email,
        notifications::create,
        notifications::list,
        notifications::unread_count,
        notifications::read_one,
        notifications::read_all,
        notifications::delete,
        notifications::get_settings,
        notifications::put_settings,
        activity::create,
        activity::list,
        activity::for_entity,
        stream::stream,
        broadcast::broadcast,
        collaboration::sessions,
        collaboration::info,
        collaboration::lock,
        collaboration::unlock,
        collaboration::as_of,
    ),
    components(schemas(
        ErrorBody,
        admin::AdminAction,
        admin::connections::DisconnectBody,
        admin::system::SystemMessageBody,
        crate::actors::registry::admin::ConnectionInfo
    )),
    modifiers(&Security),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "admin", description = "Tenant admins (role admin) and platform operators (X-Admin-Key)"),
        (name = "sockets", description = "WebSocket upgrades (see docs/protocol.md)"),
        (name = "presence", description = "Who is online in my tenant"),
        (name = "push", description = "Web Push / FCM subscriptions and notification email"),
        (name = "notifications", description = "Stored notifications and channel settings"),
        (name = "activity", description = "The activity feed and its event stream"),
        (name = "rooms", description = "Ephemeral room broadcasts from services"),
        (name = "collaboration", description = "Document sessions, versions and edit locks"),
        (name = "meta", description = "This specification and the Prometheus metrics"),
    )
)]
pub struct ApiDoc;

/// Adds the two ways to authenticate: a JWT bearer token, or a service
/// API key (`X-Api-Key`, with `X-Tenant-Id`).
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "A key from auth.api_keys; acts as role `service` in the tenant named by X-Tenant-Id",
            ))),
        );
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Admin-Key",
                "A platform operator's key from admin.api_keys: every tenant",
            ))),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The spec as JSON, built once.
pub fn spec_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|e| format!(r#"{{"error":"internal","message":"{e}"}}"#))
    })
}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn spec() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(spec_json())
}

/// Mounts the Swagger UI at `/docs/` (and redirects `/docs` there); it
/// loads the spec from `/api/v1/openapi.json`.
pub fn swagger_ui(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/docs",
        web::get().to(|| async {
            HttpResponse::MovedPermanently()
                .insert_header(("Location", "/docs/"))
                .finish()
        }),
    )
    .service(
        utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
            .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json")),
    );
}
