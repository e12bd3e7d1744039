//! `GET /ws`: checks Origin, the token and the per-user cap, then upgrades.
//! Every rejection happens before the upgrade, as a JSON error with 401, 403,
//! 429 or 503. After the upgrade the socket belongs to the connection actor.

use super::error::{ApiError, ErrorCode};
use crate::actors::connection::{ConnectionActor, DeviceInfo};
use crate::actors::registry::ConnectionClosed;
use crate::actors::Services;
use crate::auth::{extract_token, AuthError, Principal, TokenSource};
use crate::transport::socket::{AcceptedFd, OpenGuard, SocketRef};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

/// Checks the WebSocket handshake of `req` (method, `Upgrade`,
/// `Connection`, version, key) and that it came through the server's
/// upgrade service, which alone can take the connection over (a request
/// that also sends a chunked body does not).
pub fn check_handshake(req: &HttpRequest) -> Result<(), ApiError> {
    actix_http::ws::verify_handshake(req.head())
        .map_err(|e| ApiError::BadRequest(ErrorCode::NotAWebsocket, e.to_string()))?;
    if !crate::transport::is_upgrading(req) {
        return Err(ApiError::BadRequest(
            ErrorCode::NotAWebsocket,
            "this request cannot be upgraded (a WebSocket handshake has no body)".into(),
        ));
    }
    Ok(())
}

/// The accepted socket of `req`, as a reference that can cut it and the
/// guard to keep in the response body (`None` when the server did not
/// record the descriptor, e.g. in a test harness without `on_connect`).
pub fn socket_of(
    req: &HttpRequest,
    owner: &actix_rt::ArbiterHandle,
) -> (Option<SocketRef>, Option<OpenGuard>) {
    match req.conn_data::<AcceptedFd>().copied() {
        Some(fd) => {
            let (socket, guard) = SocketRef::new(fd, owner.clone());
            (Some(socket), Some(guard))
        }
        None => (None, None),
    }
}

/// Optional device details in the upgrade's query string.
#[derive(Deserialize)]
struct DeviceQuery {
    device: Option<String>,
    browser: Option<String>,
    /// `all` (default): the tenant's roster on connect; `none`: no roster,
    /// presence only for what the connection watches.
    presence: Option<String>,
}

/// True when the request's Origin may open a socket. No Origin header means
/// a non-browser client, which cookies cannot be abused through. A page served
/// by this server itself (the Origin's host and port equal the `Host` header,
/// as for the demo app at `/`) is same-origin and always allowed.
/// Several Origin headers are refused: a browser sends one, and checking
/// only the first would let a second one through unchecked.
pub fn origin_allowed(req: &HttpRequest, allowed: &[String]) -> bool {
    let mut origins = req.headers().get_all(header::ORIGIN);
    match (origins.next(), origins.next()) {
        (None, _) => true,
        (Some(_), Some(_)) => false,
        (Some(origin), None) => match origin.to_str() {
            Ok(origin) => {
                allowed
                    .iter()
                    .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
                    || same_origin(req, origin)
            }
            Err(_) => false,
        },
    }
}

/// The Origin names this server's own `Host` (`http://` or `https://`).
fn same_origin(req: &HttpRequest, origin: &str) -> bool {
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    match (authority, host) {
        (Some(a), Some(h)) => !a.is_empty() && a.eq_ignore_ascii_case(h),
        _ => false,
    }
}

/// Guesses the browser from User-Agent when the client did not say.
fn browser_from_user_agent(req: &HttpRequest) -> Option<String> {
    let ua = req.headers().get(header::USER_AGENT)?.to_str().ok()?;
    ["Edg/", "Firefox/", "Chrome/", "Safari/"]
        .iter()
        .find(|b| ua.contains(*b))
        .map(|b| {
            match *b {
                "Edg/" => "edge",
                "Firefox/" => "firefox",
                "Chrome/" => "chrome",
                _ => "safari",
            }
            .to_owned()
        })
}

/// The checks every WebSocket upgrade (`/ws`, `/yjs/...`) makes before
/// anything else: an allowed Origin and a valid token.
pub fn authorize_upgrade(
    req: &HttpRequest,
    services: &Services,
) -> Result<(Principal, TokenSource), ApiError> {
    if !origin_allowed(req, &services.settings.server.allowed_origins) {
        return Err(ApiError::Forbidden(
            ErrorCode::OriginNotAllowed,
            "this Origin may not open a WebSocket (server.allowed_origins)".into(),
        ));
    }
    let (token, source) = extract_token(req, true).ok_or(AuthError::Missing)?;
    Ok((services.auth.verify(&token)?, source))
}

/// The upgrade handler.
#[utoipa::path(
    get,
    path = "/ws",
    tag = "sockets",
    summary = "WebSocket upgrade for the JSON protocol (docs/protocol.md)",
    params(("token" = Option<String>, Query, description = "JWT, when no Authorization header can be sent"), ("device" = Option<String>, Query, description = "Device label"), ("presence" = Option<String>, Query, description = "`all` (default): the tenant roster on connect; `none`: no roster, presence only for subscribed users and room members")),
    responses((status = 101, description = "Switching protocols"), (status = 400, description = "`not_a_websocket`, `invalid_field` (a bad `presence` value)", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`origin_not_allowed`", body = crate::http::error::ErrorBody), (status = 429, description = "`too_many_connections`", body = crate::http::error::ErrorBody), (status = 503, description = "`shutting_down`, or `server_at_capacity` (the open-files budget is spent; with `retry_after_ms`)", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn upgrade(
    req: HttpRequest,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let settings = &services.settings;
    if let Some(refused) = super::handshake::refusal(&req) {
        return Ok(refused);
    }
    let (principal, source) = authorize_upgrade(&req, &services)?;
    check_handshake(&req)?;
    let query = web::Query::<DeviceQuery>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or(DeviceQuery {
            device: None,
            browser: None,
            presence: None,
        });
    let wants_roster = match query.presence.as_deref() {
        None | Some("all") => true,
        Some("none") => false,
        Some(_) => {
            return Err(ApiError::BadRequest(
                ErrorCode::InvalidField,
                "`presence` must be `all` or `none`".into(),
            ))
        }
    };
    let clip = |s: Option<String>| {
        s.filter(|s| !s.is_empty())
            .map(|s| s.chars().take(32).collect::<String>())
    };
    let device = DeviceInfo {
        device_type: clip(query.device).unwrap_or_else(|| "desktop".into()),
        browser: clip(query.browser).or_else(|| browser_from_user_agent(&req)),
        ip: req.peer_addr().map(|a| a.ip().to_string()),
        wants_roster,
    };
    let slot = super::admission::cluster_slot(
        services.slots.as_ref(),
        &principal.tenant,
        &principal.user,
        settings.websocket.max_connections_per_user,
    )
    .await?;
    let id = super::admission::admit_socket(
        &services.socket_slots,
        &principal.tenant,
        &principal.user,
        settings.websocket.max_connections_per_user,
    )?;
    // The socket runs on the actor pool, next to the rooms, rosters and
    // presence actors it talks to (`transport::upgrade`).
    let home = services.pool.pick(&id).clone();
    let (socket, guard) = socket_of(&req, &home);
    let (tenant, user) = (principal.tenant.clone(), principal.user.clone());
    let actor = ConnectionActor::new(id, principal, device, services.get_ref().clone(), socket)
        .with_cluster_slot(slot);
    let registry = services.registry.clone();
    Ok(crate::transport::accept(
        &req,
        source == TokenSource::Subprotocol,
        actor,
        settings.websocket.max_frame_bytes,
        guard,
        home,
        move || registry.do_send(ConnectionClosed { id, tenant, user }),
    ))
}
