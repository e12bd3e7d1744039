//! HTTP: REST handlers grouped by resource, health checks, and the
//! WebSocket upgrade (`ws.rs` only upgrades; the socket is the connection actor's).

pub mod error;
pub mod health;
pub mod presence;
pub mod ws;

use actix_web::web;

/// Mounts every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/ws", web::get().to(ws::upgrade))
        .service(
            web::scope("/api/v1")
                .route("/presence", web::get().to(presence::list))
                .route("/presence/status", web::put().to(presence::set_status))
                .route("/presence/{user_id}", web::get().to(presence::get_one))
                .route("/admin/stats", web::get().to(health::stats)),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound(
        "not_found",
        "no such route".into(),
    ))
}
