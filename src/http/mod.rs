//! HTTP: REST handlers grouped by resource, health checks, and the
//! WebSocket upgrade (`ws.rs` only upgrades; the socket is the connection actor's).

pub mod activity;
pub mod broadcast;
pub mod collaboration;
pub mod content_type;
pub mod error;
pub mod handshake;
pub mod health;
pub mod notifications;
pub mod presence;
pub mod push;
pub mod stream;
pub mod ws;
pub mod yjs;

use actix_web::web;

/// Mounts every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/ws", web::get().to(ws::upgrade))
        .route("/yjs/{document:.*}", web::get().to(yjs::upgrade))
        .service(
            web::scope("/api/v1")
                .wrap(actix_web::middleware::from_fn(content_type::json_only))
                .route("/presence", web::get().to(presence::list))
                .route("/presence/status", web::put().to(presence::set_status))
                .route("/presence/{user_id}", web::get().to(presence::get_one))
                .route(
                    "/push/vapid-public-key",
                    web::get().to(push::vapid_public_key),
                )
                .route("/push/subscribe", web::post().to(push::subscribe))
                .route("/push/unsubscribe", web::delete().to(push::unsubscribe))
                .route("/push/subscriptions", web::get().to(push::list))
                .route("/push/test", web::post().to(push::test))
                .route("/push/email", web::get().to(push::get_email))
                .route("/push/email", web::put().to(push::set_email))
                .route("/push/email", web::delete().to(push::delete_email))
                .route("/admin/stats", web::get().to(health::stats))
                .route("/notifications", web::post().to(notifications::create))
                .route("/notifications", web::get().to(notifications::list))
                .route(
                    "/notifications/unread-count",
                    web::get().to(notifications::unread_count),
                )
                .route(
                    "/notifications/read-all",
                    web::post().to(notifications::read_all),
                )
                .route(
                    "/notifications/settings",
                    web::get().to(notifications::get_settings),
                )
                .route(
                    "/notifications/settings",
                    web::put().to(notifications::put_settings),
                )
                .route(
                    "/notifications/{id}/read",
                    web::post().to(notifications::read_one),
                )
                .route(
                    "/notifications/{id}",
                    web::delete().to(notifications::delete),
                )
                .route("/activity", web::post().to(activity::create))
                .route("/activity", web::get().to(activity::list))
                .route(
                    "/activity/entity/{entity_type}/{entity_id}",
                    web::get().to(activity::for_entity),
                )
                .route("/stream", web::get().to(stream::stream))
                .route(
                    "/rooms/{entity_type}/{entity_id}/broadcast",
                    web::post().to(broadcast::broadcast),
                )
                .route(
                    "/collaboration/sessions",
                    web::get().to(collaboration::sessions),
                )
                .route(
                    "/collaboration/{entity_type}/{entity_id}",
                    web::get().to(collaboration::info),
                )
                .route(
                    "/collaboration/{entity_type}/{entity_id}/lock",
                    web::post().to(collaboration::lock),
                )
                .route(
                    "/collaboration/{entity_type}/{entity_id}/lock",
                    web::delete().to(collaboration::unlock),
                )
                .route(
                    "/collaboration/{entity_type}/{entity_id}/versions/{version}",
                    web::get().to(collaboration::as_of),
                ),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound(
        "not_found",
        "no such route".into(),
    ))
}
