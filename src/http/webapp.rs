//! The demo web app: the files of `web.dir` served at `/` (when
//! `web.enabled`), and the development sign-in `POST /dev/token` (when
//! `web.dev_tokens`; config validation allows that only with the shipped
//! development secret, and the handler only answers loopback peers).

use super::error::{ApiError, ErrorCode};
use crate::actors::Services;
use crate::auth::{Authenticator, Claims};
use crate::config::WebSettings;
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Longest dev token lifetime, and the default.
const MAX_DEV_TTL_SECS: i64 = 24 * 3600;
const DEFAULT_DEV_TTL_SECS: i64 = 3600;

/// Mounts the web app and the dev sign-in after every other route, so the
/// catch-all file route never hides an API path.
pub fn routes(cfg: &mut web::ServiceConfig, settings: &WebSettings) {
    if settings.dev_tokens {
        cfg.route("/dev/token", web::post().to(dev_token));
    }
    if settings.enabled {
        let dir = PathBuf::from(&settings.dir);
        if !dir.join("index.html").is_file() {
            log::warn!(
                "web.enabled but {}/index.html is missing; not serving the web app",
                dir.display()
            );
            return;
        }
        let root = web::Data::new(WebRoot(dir));
        cfg.app_data(root)
            .route("/", web::get().to(file))
            .route("/{path:.*}", web::get().to(file));
    }
}

/// The directory the web app is served from.
struct WebRoot(PathBuf);

/// Maps a request path to a file under `root`: only plain path segments
/// (no `..`, no hidden files, no backslashes), directories mean `index.html`.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if seg.starts_with('.') || seg.contains('\\') || seg.contains('\0') {
            return None;
        }
        out.push(seg);
    }
    if out.is_dir() {
        out.push("index.html");
    }
    out.is_file().then_some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn file(req: HttpRequest, root: web::Data<WebRoot>) -> Result<HttpResponse, ApiError> {
    let path = req.match_info().get("path").unwrap_or("").to_owned();
    let not_found = || ApiError::NotFound(ErrorCode::NotFound, "no such route".into());
    let Some(file) = resolve(&root.0, &path) else {
        return Err(not_found());
    };
    let body = web::block({
        let file = file.clone();
        move || std::fs::read(file)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("reading {}: {e}", file.display())))?
    .map_err(|_| not_found())?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type(&file)))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body))
}

/// `POST /dev/token` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DevTokenRequest {
    user_id: String,
    tenant_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    ttl_secs: Option<i64>,
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Mints a development token for any user and tenant (role `user`).
async fn dev_token(
    req: HttpRequest,
    body: web::Json<DevTokenRequest>,
    services: web::Data<Arc<Services>>,
) -> Result<HttpResponse, ApiError> {
    let loopback = req
        .peer_addr()
        .map(|a| a.ip().is_loopback())
        .unwrap_or(false);
    let proxied =
        req.headers().contains_key("forwarded") || req.headers().contains_key("x-forwarded-for");
    if !loopback || proxied {
        return Err(ApiError::Forbidden(
            ErrorCode::Forbidden,
            "development sign-in answers loopback clients only".into(),
        ));
    }
    let body = body.into_inner();
    if !valid_id(&body.user_id) || !valid_id(&body.tenant_id) {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            "`user_id` and `tenant_id` must be 1 to 64 letters, digits, `_`, `-` or `.`".into(),
        ));
    }
    let name = body
        .name
        .map(|n| n.trim().chars().take(64).collect::<String>())
        .filter(|n| !n.is_empty());
    let ttl = body.ttl_secs.unwrap_or(DEFAULT_DEV_TTL_SECS);
    if !(10..=MAX_DEV_TTL_SECS).contains(&ttl) {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidField,
            format!("`ttl_secs` must be 10 to {MAX_DEV_TTL_SECS}"),
        ));
    }
    let settings = &services.settings;
    let now = crate::auth::now_secs();
    let claims = Claims {
        sub: body.user_id,
        tenant_id: body.tenant_id,
        name,
        role: Some("user".into()),
        exp: Some(now + ttl),
        iat: Some(now),
        iss: settings.auth.issuer.clone(),
        aud: settings.auth.audience.clone(),
    };
    let token = Authenticator::issue(&settings.auth, &claims).map_err(ApiError::Internal)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "token": token,
        "expires_at": now + ttl,
    })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn resolve_refuses_escapes_and_hidden_files() {
        let dir = std::env::temp_dir().join(format!("tandem-web-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("css")).unwrap();
        std::fs::write(dir.join("index.html"), "x").unwrap();
        std::fs::write(dir.join("css/app.css"), "x").unwrap();
        std::fs::write(dir.join(".secret"), "x").unwrap();
        assert_eq!(resolve(&dir, ""), Some(dir.join("index.html")));
        assert_eq!(resolve(&dir, "css/app.css"), Some(dir.join("css/app.css")));
        assert_eq!(resolve(&dir, "../etc/passwd"), None);
        assert_eq!(resolve(&dir, "css/../../x"), None);
        assert_eq!(resolve(&dir, ".secret"), None);
        assert_eq!(resolve(&dir, "missing.js"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dev_tokens_need_development_and_its_secret() {
        use crate::config::{Settings, DEVELOPMENT_SECRET};
        let load = |environment: &str, secret: &str| {
            let toml = format!(
                "[server]\nenvironment = \"{environment}\"\n[auth]\nsecret = \"{secret}\"\n\
                 [web]\ndev_tokens = true\n"
            );
            Settings::from_toml_str(&toml, Path::new("t.toml"), Vec::new())
        };
        assert!(load("development", DEVELOPMENT_SECRET).is_ok());
        let err = load("development", "a-production-secret-0123456789abcdef").unwrap_err();
        assert!(err.to_string().contains("web.dev_tokens"), "{err}");
        let err = load("production", "a-production-secret-0123456789abcdef").unwrap_err();
        assert!(err.to_string().contains("web.dev_tokens"), "{err}");
        // Off by default, whatever the secret.
        let toml = "[auth]\nsecret = \"a-production-secret-0123456789abcdef\"\n";
        let s = Settings::from_toml_str(toml, Path::new("t.toml"), Vec::new()).unwrap();
        assert!(!s.web.dev_tokens);
        assert!(s.web.enabled);
    }

    #[test]
    fn ids_are_checked() {
        assert!(valid_id("alice"));
        assert!(valid_id("t-1.a_b"));
        assert!(!valid_id(""));
        assert!(!valid_id("a b"));
        assert!(!valid_id(&"a".repeat(65)));
    }
}
