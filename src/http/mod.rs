//! HTTP: REST handlers grouped by resource, health checks, and the
//! WebSocket upgrade (`ws.rs` only upgrades; the socket is the connection actor's).

pub mod activity;
pub mod admin;
pub mod admission;
pub mod broadcast;
pub mod collaboration;
pub mod content_type;
pub mod error;
pub mod handshake;
pub mod health;
pub mod metrics;
pub mod notifications;
pub mod openapi;
pub mod presence;
pub mod principal;
pub mod push;
pub mod stream;
pub mod webapp;
pub mod ws;
pub mod yjs;

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, Responder};

/// Receives the route table: [`Mount`] registers each route with actix, and
/// [`route_list`] only records it. Both read the same [`table`], so the
/// router and the OpenAPI drift test (tests/openapi.rs) see the same routes.
pub trait RouteSink {
    /// One route: method, path (actix syntax) and handler.
    fn add<F, Args>(&mut self, method: Method, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static;
}

/// Registers routes on an actix [`web::ServiceConfig`].
pub struct Mount<'a>(pub &'a mut web::ServiceConfig);

impl RouteSink for Mount<'_> {
    fn add<F, Args>(&mut self, method: Method, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.0.route(path, web::method(method).to(handler));
    }
}

struct Record(Vec<(Method, &'static str)>);

impl RouteSink for Record {
    fn add<F, Args>(&mut self, method: Method, path: &'static str, _handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.0.push((method, path));
    }
}

/// Every route of the table, as (method, actix path).
pub fn route_list() -> Vec<(Method, &'static str)> {
    let mut record = Record(Vec::new());
    table(&mut record);
    record.0
}

/// Every HTTP route Tandem serves except the Swagger UI pages under `/docs`.
/// Each one is described in the OpenAPI spec ([`openapi::ApiDoc`]).
pub fn table(r: &mut impl RouteSink) {
    use Method as M;
    r.add(M::GET, "/healthz", health::healthz);
    r.add(M::GET, "/readyz", health::readyz);
    r.add(M::GET, "/ws", ws::upgrade);
    r.add(M::GET, "/yjs/{document:.*}", yjs::upgrade);
    r.add(M::GET, "/api/v1/openapi.json", openapi::spec);
    r.add(M::GET, "/metrics", self::metrics::endpoint);
    r.add(M::GET, "/api/v1/presence", presence::list);
    r.add(M::PUT, "/api/v1/presence/status", presence::set_status);
    r.add(M::GET, "/api/v1/presence/{user_id}", presence::get_one);
    r.add(
        M::GET,
        "/api/v1/push/vapid-public-key",
        push::vapid_public_key,
    );
    r.add(M::POST, "/api/v1/push/subscribe", push::subscribe);
    r.add(M::DELETE, "/api/v1/push/unsubscribe", push::unsubscribe);
    r.add(M::GET, "/api/v1/push/subscriptions", push::list);
    r.add(M::POST, "/api/v1/push/test", push::test);
    r.add(M::GET, "/api/v1/push/email", push::get_email);
    r.add(M::PUT, "/api/v1/push/email", push::set_email);
    r.add(M::DELETE, "/api/v1/push/email", push::delete_email);
    r.add(M::GET, "/api/v1/admin/stats", admin::stats);
    r.add(M::GET, "/api/v1/admin/presence", admin::presence);
    r.add(M::GET, "/api/v1/admin/actions", admin::actions);
    r.add(
        M::GET,
        "/api/v1/admin/connections",
        admin::connections::list,
    );
    r.add(
        M::DELETE,
        "/api/v1/admin/connections/{connection_id}",
        admin::connections::disconnect,
    );
    r.add(
        M::POST,
        "/api/v1/admin/users/{user_id}/disconnect",
        admin::connections::disconnect_user,
    );
    r.add(
        M::DELETE,
        "/api/v1/admin/users/{user_id}/revocation",
        admin::connections::lift_revocation,
    );
    r.add(M::GET, "/api/v1/admin/rooms", admin::rooms::list);
    r.add(
        M::GET,
        "/api/v1/admin/rooms/{entity_type}/{entity_id}",
        admin::rooms::show,
    );
    r.add(M::GET, "/api/v1/admin/documents", admin::rooms::documents);
    r.add(
        M::DELETE,
        "/api/v1/admin/documents/{entity_type}/{entity_id}/lock",
        admin::rooms::force_unlock,
    );
    r.add(M::POST, "/api/v1/admin/system-message", admin::system::send);
    r.add(M::POST, "/api/v1/notifications", notifications::create);
    r.add(M::GET, "/api/v1/notifications", notifications::list);
    r.add(
        M::GET,
        "/api/v1/notifications/unread-count",
        notifications::unread_count,
    );
    r.add(
        M::POST,
        "/api/v1/notifications/read-all",
        notifications::read_all,
    );
    r.add(
        M::GET,
        "/api/v1/notifications/settings",
        notifications::get_settings,
    );
    r.add(
        M::PUT,
        "/api/v1/notifications/settings",
        notifications::put_settings,
    );
    r.add(
        M::POST,
        "/api/v1/notifications/{id}/read",
        notifications::read_one,
    );
    r.add(
        M::DELETE,
        "/api/v1/notifications/{id}",
        notifications::delete,
    );
    r.add(M::POST, "/api/v1/activity", activity::create);
    r.add(M::GET, "/api/v1/activity", activity::list);
    r.add(
        M::GET,
        "/api/v1/activity/entity/{entity_type}/{entity_id}",
        activity::for_entity,
    );
    r.add(M::GET, "/api/v1/stream", stream::stream);
    r.add(
        M::POST,
        "/api/v1/rooms/{entity_type}/{entity_id}/broadcast",
        broadcast::broadcast,
    );
    r.add(
        M::GET,
        "/api/v1/collaboration/sessions",
        collaboration::sessions,
    );
    r.add(
        M::GET,
        "/api/v1/collaboration/{entity_type}/{entity_id}",
        collaboration::info,
    );
    r.add(
        M::POST,
        "/api/v1/collaboration/{entity_type}/{entity_id}/lock",
        collaboration::lock,
    );
    r.add(
        M::DELETE,
        "/api/v1/collaboration/{entity_type}/{entity_id}/lock",
        collaboration::unlock,
    );
    r.add(
        M::GET,
        "/api/v1/collaboration/{entity_type}/{entity_id}/versions/{version}",
        collaboration::as_of,
    );
}

/// Mounts every route, the offline Swagger UI at `/docs`, and the JSON 404.
pub fn routes(cfg: &mut web::ServiceConfig) {
    table(&mut Mount(cfg));
    openapi::swagger_ui(cfg);
    cfg.default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound(
        error::ErrorCode::NotFound,
        "no such route".into(),
    ))
}
