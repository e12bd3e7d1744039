//! Typed configuration: `config.toml`, then `TANDEM__SECTION__KEY` environment
//! overrides, then `DATABASE_URL` / `REDIS_URL`.
//!
//! Every key has a default (documented in the shipped `config.toml`), so an
//! empty file is valid except for the auth key material. Loading fails with
//! [`ConfigError`], whose message names the offending key.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration failure; its message names the key and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    /// A key has the wrong type or an unknown name.
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// A string that never prints (tokens, secrets, passwords in URLs).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Listener, origins and shutdown.
    pub server: ServerSettings,
    /// WebSocket limits and liveness.
    pub websocket: WebSocketSettings,
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// Optional Redis for multi-node fan-out.
    pub redis: RedisSettings,
    /// JWT verification.
    pub auth: AuthSettings,
    /// Presence timing.
    pub presence: PresenceSettings,
    /// Web Push, FCM and delivery limits.
    pub push: PushSettings,
    /// Notification email over SMTP.
    pub email: EmailSettings,
    /// Rooms, cursors and typing.
    pub rooms: RoomSettings,
    /// Collaborative documents and edit locks.
    pub documents: DocumentSettings,
    /// Server-Sent Events (`GET /api/v1/stream`).
    pub sse: SseSettings,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Origins allowed to open a WebSocket. A request without an Origin
    /// header (a non-browser client) is always allowed; `"*"` allows any.
    pub allowed_origins: Vec<String>,
    /// Seconds to finish in-flight work after SIGTERM/SIGINT before exiting.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            host: "127.0.0.1".into(),
            port: 8080,
            workers: 0,
            allowed_origins: vec![
                "http://localhost:3000".into(),
                "http://127.0.0.1:3000".into(),
            ],
            shutdown_grace_secs: 10,
        }
    }
}

/// `[websocket]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketSettings {
    /// Largest text message accepted, in bytes; larger ones get `message_too_large`.
    pub max_message_bytes: usize,
    /// Frames larger than this are a protocol violation and close the socket (1009).
    pub max_frame_bytes: usize,
    /// Seconds between server pings.
    pub ping_interval_secs: u64,
    /// A socket silent (no frame of any kind, pongs included) this long is closed (4000).
    pub client_timeout_secs: u64,
    /// Sockets one user may hold at once on this node; more are refused with 429.
    pub max_connections_per_user: usize,
    /// Messages waiting to be written to one socket before it is a slow consumer (4008).
    pub outbound_queue_limit: usize,
    /// After the queue limit is hit, milliseconds to wait for the close frame to be
    /// written before the TCP connection is cut.
    pub slow_consumer_grace_ms: u64,
    /// Token bucket size: messages a client may send in a burst.
    pub rate_limit_burst: u32,
    /// Token bucket refill: sustained messages per second.
    pub rate_limit_per_second: u32,
    /// Rate-limited messages within 10 seconds after which the socket is closed (4029).
    pub rate_limit_close_after: u32,
}

impl Default for WebSocketSettings {
    fn default() -> Self {
        WebSocketSettings {
            max_message_bytes: 64 * 1024,
            max_frame_bytes: 1024 * 1024,
            ping_interval_secs: 15,
            client_timeout_secs: 45,
            max_connections_per_user: 16,
            outbound_queue_limit: 1024,
            slow_consumer_grace_ms: 5000,
            rate_limit_burst: 120,
            rate_limit_per_second: 60,
            rate_limit_close_after: 200,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// PostgreSQL URL; `DATABASE_URL` overrides it.
    pub url: Secret,
    /// Pool size.
    pub pool_size: usize,
    /// Seconds to wait for a pooled connection.
    pub connect_timeout_secs: u64,
    /// Run embedded migrations at start.
    pub run_migrations: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: Secret::new("postgres://tandem:tandem@127.0.0.1:5432/tandem"),
            pool_size: 16,
            connect_timeout_secs: 5,
            run_migrations: true,
        }
    }
}

/// `[redis]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// Redis URL; empty means this node runs alone. `REDIS_URL` overrides it.
    pub url: Secret,
}

/// JWT signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 and a shared secret.
    HS256,
    /// RSA PKCS#1 v1.5 with SHA-256 and a public key.
    RS256,
    /// ECDSA P-256 with SHA-256 and a public key.
    ES256,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Signature algorithm of accepted tokens.
    pub algorithm: JwtAlgorithm,
    /// Shared secret for HS256 (at least 32 bytes).
    pub secret: Secret,
    /// PEM public key file for RS256/ES256.
    pub public_key_path: Option<PathBuf>,
    /// PEM private key file, only used by `tandem token` with RS256/ES256.
    pub private_key_path: Option<PathBuf>,
    /// Required `iss` claim, when set.
    pub issuer: Option<String>,
    /// Required `aud` claim, when set.
    pub audience: Option<String>,
    /// Clock leeway in seconds for `exp`/`nbf` (at most 5).
    pub leeway_secs: u64,
    /// API keys accepted from backend services (`X-Api-Key`) as role `service`.
    pub api_keys: Vec<Secret>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            algorithm: JwtAlgorithm::HS256,
            secret: Secret::default(),
            public_key_path: None,
            private_key_path: None,
            issuer: None,
            audience: None,
            leeway_secs: 5,
            api_keys: Vec::new(),
        }
    }
}

/// `[presence]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PresenceSettings {
    /// Seconds without activity on any connection before a user is `away`.
    pub away_after_secs: u64,
    /// Milliseconds a user with no connections stays listed before `offline`.
    pub offline_grace_ms: u64,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        PresenceSettings {
            away_after_secs: 300,
            offline_grace_ms: 5000,
        }
    }
}

/// `[rooms]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomSettings {
    /// Seconds an empty room lingers before it stops.
    pub idle_stop_secs: u64,
    /// Cursor updates per second relayed for one member (extra ones are coalesced).
    pub cursor_rate_per_second: u32,
    /// Seconds a `typing:start` lasts without renewal.
    pub typing_timeout_secs: u64,
    /// Rooms one connection may be in at once.
    pub max_rooms_per_connection: usize,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            idle_stop_secs: 30,
            cursor_rate_per_second: 20,
            typing_timeout_secs: 5,
            max_rooms_per_connection: 32,
        }
    }
}

/// `[documents]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocumentSettings {
    /// Ops kept per text field for transforming late edits; older bases must resync.
    pub max_history: usize,
    /// A snapshot is written every this many changes (and when the session closes).
    pub snapshot_every: u64,
    /// Default lock lifetime in seconds (holders renew with `doc:lock`).
    pub lock_ttl_secs: u64,
    /// Longest lock lifetime a client may ask for.
    pub max_lock_ttl_secs: u64,
    /// Largest text field, in code points.
    pub max_field_chars: usize,
}

impl Default for DocumentSettings {
    fn default() -> Self {
        DocumentSettings {
            max_history: 1000,
            snapshot_every: 100,
            lock_ttl_secs: 30,
            max_lock_ttl_secs: 600,
            max_field_chars: 1_000_000,
        }
    }
}

/// `[push]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushSettings {
    /// VAPID private key: the raw 32-byte P-256 private key, base64url
    /// (what `web-push generate-vapid-keys` and most generators print).
    /// Empty turns Web Push off.
    pub vapid_private_key: Secret,
    /// VAPID public key (base64url, 65-byte uncompressed point) served to
    /// clients. Derived from the private key when empty; must match it when set.
    pub vapid_public_key: String,
    /// VAPID `sub` claim: a `mailto:` or `https:` contact for push services.
    pub vapid_subject: String,
    /// Firebase service-account JSON key; unset turns FCM off.
    pub fcm_service_account_path: Option<PathBuf>,
    /// FCM HTTP v1 API base URL.
    pub fcm_base_url: String,
    /// OAuth2 token endpoint for the service account's JWT-bearer grant.
    pub fcm_token_url: String,
    /// Retries after a 429, a 5xx or a network error (0 = one attempt).
    pub max_retries: u32,
    /// Backoff before the first retry, doubling for each further one.
    pub retry_base_delay_ms: u64,
    /// Longest wait between attempts; a longer `Retry-After` gives up.
    pub max_retry_delay_secs: u64,
    /// Timeout of one push, token or SMTP request.
    pub request_timeout_secs: u64,
    /// Outbound push requests in flight at once.
    pub max_concurrent_requests: usize,
    /// Jobs in progress at once; more wait in the push outbox.
    pub max_queued_jobs: usize,
    /// Hosts whose plain `http://` Web Push endpoints are accepted (local
    /// test fakes only); every other endpoint must be `https://`.
    pub insecure_endpoint_hosts: Vec<String>,
    /// When not empty, Web Push endpoints must be on one of these hosts or
    /// their subdomains (e.g. `fcm.googleapis.com`, `notify.windows.com`).
    pub endpoint_host_suffixes: Vec<String>,
    /// TEST ONLY: accept and connect to Web Push endpoints on loopback and
    /// private addresses (the test suite's fake push service). Off, every
    /// endpoint must resolve to public addresses only.
    pub allow_private_endpoints: bool,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            vapid_private_key: Secret::default(),
            vapid_public_key: String::new(),
            vapid_subject: String::new(),
            fcm_service_account_path: None,
            fcm_base_url: "https://fcm.googleapis.com".into(),
            fcm_token_url: "https://oauth2.googleapis.com/token".into(),
            max_retries: 3,
            retry_base_delay_ms: 1000,
            max_retry_delay_secs: 300,
            request_timeout_secs: 10,
            max_concurrent_requests: 16,
            max_queued_jobs: 10_000,
            insecure_endpoint_hosts: Vec::new(),
            endpoint_host_suffixes: Vec::new(),
            allow_private_endpoints: false,
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a local relay or a test sink only).
    None,
    /// STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[email]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// Send notification email at all.
    pub enabled: bool,
    /// SMTP server.
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: u16,
    /// `none`, `starttls` or `tls`.
    pub tls: SmtpTls,
    /// SMTP user; empty means no authentication.
    pub username: String,
    /// SMTP password.
    pub password: Secret,
    /// The From mailbox, e.g. `Tandem <noreply@example.com>`.
    pub from: String,
    /// Seconds for each SMTP command.
    pub timeout_secs: u64,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            enabled: false,
            smtp_host: "127.0.0.1".into(),
            smtp_port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: Secret::default(),
            from: "Tandem <noreply@localhost>".into(),
            timeout_secs: 10,
        }
    }
}

/// `[sse]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SseSettings {
    /// Seconds between `: keep-alive` comments on an idle event stream.
    pub keepalive_secs: u64,
    /// Events queued for one stream before it counts as a slow consumer and is closed.
    pub queue_limit: usize,
    /// Missed notifications (and, separately, activity entries) replayed per
    /// connect; past it the stream ends after the replay and the client's
    /// automatic reconnect (with the new Last-Event-ID) fetches the rest.
    pub replay_limit: i64,
}

impl Default for SseSettings {
    fn default() -> Self {
        SseSettings {
            keepalive_secs: 15,
            queue_limit: 256,
            replay_limit: 1000,
        }
    }
}

impl Settings {
    /// Loads `path`, applies environment overrides from the process
    /// environment, and validates the result.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Settings::from_toml_str(&text, path, std::env::vars())
    }

    /// Parses TOML text, applies the given environment, validates.
    pub fn from_toml_str(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: path.to_owned(),
                    message: e.message().to_owned(),
                })?;
        apply_env(&mut table, env)?;
        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::invalid(&e.path().to_string(), e.inner().to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values serde cannot: ranges, required-by-choice keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ws = &self.websocket;
        if ws.max_message_bytes == 0 {
            return Err(ConfigError::invalid(
                "websocket.max_message_bytes",
                "must be greater than 0",
            ));
        }
        if ws.max_frame_bytes < ws.max_message_bytes {
            return Err(ConfigError::invalid(
                "websocket.max_frame_bytes",
                "must be at least websocket.max_message_bytes",
            ));
        }
        for (key, value) in [
            ("websocket.ping_interval_secs", ws.ping_interval_secs),
            ("websocket.client_timeout_secs", ws.client_timeout_secs),
            ("websocket.rate_limit_burst", u64::from(ws.rate_limit_burst)),
            (
                "websocket.rate_limit_per_second",
                u64::from(ws.rate_limit_per_second),
            ),
            (
                "websocket.max_connections_per_user",
                ws.max_connections_per_user as u64,
            ),
            (
                "websocket.outbound_queue_limit",
                ws.outbound_queue_limit as u64,
            ),
            ("database.pool_size", self.database.pool_size as u64),
            ("documents.max_history", self.documents.max_history as u64),
            ("documents.snapshot_every", self.documents.snapshot_every),
            ("documents.lock_ttl_secs", self.documents.lock_ttl_secs),
            (
                "rooms.cursor_rate_per_second",
                u64::from(self.rooms.cursor_rate_per_second),
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be greater than 0"));
            }
        }
        for (key, value) in [
            ("sse.keepalive_secs", self.sse.keepalive_secs),
            ("sse.queue_limit", self.sse.queue_limit as u64),
            ("sse.replay_limit", self.sse.replay_limit.max(0) as u64),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be greater than 0"));
            }
        }
        if ws.client_timeout_secs <= ws.ping_interval_secs {
            return Err(ConfigError::invalid(
                "websocket.client_timeout_secs",
                "must be greater than websocket.ping_interval_secs",
            ));
        }
        if self.database.url.expose().is_empty() {
            return Err(ConfigError::invalid(
                "database.url",
                "is required (or set DATABASE_URL)",
            ));
        }
        let auth = &self.auth;
        if auth.leeway_secs > 5 {
            return Err(ConfigError::invalid(
                "auth.leeway_secs",
                "must be at most 5",
            ));
        }
        match auth.algorithm {
            JwtAlgorithm::HS256 => {
                if auth.secret.expose().len() < 32 {
                    return Err(ConfigError::invalid(
                        "auth.secret",
                        "is required for HS256 and must be at least 32 bytes",
                    ));
                }
            }
            JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => {
                if auth.public_key_path.is_none() {
                    return Err(ConfigError::invalid(
                        "auth.public_key_path",
                        "is required for RS256 and ES256",
                    ));
                }
            }
        }
        if let Some(bad) =
            self.server.allowed_origins.iter().find(|o| {
                o.as_str() != "*" && !(o.starts_with("http://") || o.starts_with("https://"))
            })
        {
            return Err(ConfigError::invalid(
                "server.allowed_origins",
                format!("`{bad}` must be \"*\" or start with http:// or https://"),
            ));
        }
        self.validate_push()?;
        Ok(())
    }

    /// `[push]` and `[email]` checks (keys themselves are read at start).
    fn validate_push(&self) -> Result<(), ConfigError> {
        let push = &self.push;
        for (key, url) in [
            ("push.fcm_base_url", &push.fcm_base_url),
            ("push.fcm_token_url", &push.fcm_token_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::invalid(
                    key,
                    "must start with https:// (or http:// for a local fake)",
                ));
            }
        }
        if push.max_retries > 10 {
            return Err(ConfigError::invalid(
                "push.max_retries",
                "must be at most 10",
            ));
        }
        for (key, value) in [
            ("push.request_timeout_secs", push.request_timeout_secs),
            (
                "push.max_concurrent_requests",
                push.max_concurrent_requests as u64,
            ),
            ("push.max_queued_jobs", push.max_queued_jobs as u64),
            ("email.timeout_secs", self.email.timeout_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be greater than 0"));
            }
        }
        let has_key = !push.vapid_private_key.expose().is_empty();
        let subject_ok =
            push.vapid_subject.starts_with("mailto:") || push.vapid_subject.starts_with("https://");
        if has_key && !subject_ok {
            return Err(ConfigError::invalid(
                "push.vapid_subject",
                "is required with push.vapid_private_key and must start with mailto: or https://",
            ));
        }
        if self.email.enabled && self.email.smtp_host.trim().is_empty() {
            return Err(ConfigError::invalid(
                "email.smtp_host",
                "is required when email.enabled",
            ));
        }
        Ok(())
    }

    /// Ping interval as a duration.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.websocket.ping_interval_secs)
    }

    /// Client silence timeout as a duration.
    pub fn client_timeout(&self) -> Duration {
        Duration::from_secs(self.websocket.client_timeout_secs)
    }
}

/// Applies `TANDEM__SECTION__KEY=value`, `DATABASE_URL` and `REDIS_URL`.
/// Values are parsed as TOML (so `true`, `10` and `["a"]` keep their types),
/// falling back to a plain string.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, value) in env {
        let path: Vec<String> = if name == "DATABASE_URL" {
            vec!["database".into(), "url".into()]
        } else if name == "REDIS_URL" {
            vec!["redis".into(), "url".into()]
        } else if let Some(rest) = name.strip_prefix("TANDEM__") {
            rest.split("__").map(|s| s.to_ascii_lowercase()).collect()
        } else {
            continue;
        };
        if path.len() != 2 || path.iter().any(String::is_empty) {
            return Err(ConfigError::invalid(
                &name,
                "environment overrides take the form TANDEM__SECTION__KEY",
            ));
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value));
        let section = table
            .entry(path[0].clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match section {
            toml::Value::Table(section) => {
                section.insert(path[1].clone(), parsed);
            }
            _ => {
                return Err(ConfigError::invalid(&path[0], "must be a table"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const SECRET: &str = "[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\n";

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_toml_str(
            text,
            Path::new("test.toml"),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn shipped_config_file_is_valid() {
        let text = include_str!("../config.toml");
        load(text, &[]).unwrap();
    }

    #[test]
    fn env_overrides_keep_their_types() {
        let s = load(
            SECRET,
            &[
                ("TANDEM__SERVER__PORT", "9000"),
                ("TANDEM__SERVER__ALLOWED_ORIGINS", "[\"https://a.example\"]"),
                ("DATABASE_URL", "postgres://x@y/z"),
            ],
        )
        .unwrap();
        assert_eq!(s.server.port, 9000);
        assert_eq!(s.server.allowed_origins, vec!["https://a.example"]);
        assert_eq!(s.database.url.expose(), "postgres://x@y/z");
    }

    #[test]
    fn errors_name_the_key() {
        let err = load(SECRET, &[("TANDEM__SERVER__PORT", "\"eighty\"")]).unwrap_err();
        assert!(err.to_string().contains("server.port"), "{err}");
        let err = load("[auth]\nsecret = \"short\"\n", &[]).unwrap_err();
        assert!(err.to_string().contains("auth.secret"), "{err}");
        let err = load(&format!("{SECRET}[server]\nbogus = 1\n"), &[]).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        let err = load(&format!("{SECRET}leeway_secs = 60\n"), &[]).unwrap_err();
        assert!(err.to_string().contains("auth.leeway_secs"), "{err}");
    }

    #[test]
    fn push_and_email_keys_are_checked() {
        let s = load(SECRET, &[("TANDEM__PUSH__MAX_RETRIES", "5")]).unwrap();
        assert_eq!(s.push.max_retries, 5);
        assert!(!s.email.enabled);
        let err = load(&format!("{SECRET}[push]\nmax_retries = 11\n"), &[]).unwrap_err();
        assert!(err.to_string().contains("push.max_retries"), "{err}");
        let err = load(&format!("{SECRET}[push]\nvapid_private_key = \"k\"\n"), &[]).unwrap_err();
        assert!(err.to_string().contains("push.vapid_subject"), "{err}");
        let err = load(&format!("{SECRET}[push]\nfcm_base_url = \"fcm\"\n"), &[]).unwrap_err();
        assert!(err.to_string().contains("push.fcm_base_url"), "{err}");
        let err = load(&format!("{SECRET}[email]\ntls = \"ssl\"\n"), &[]).unwrap_err();
        assert!(err.to_string().contains("email.tls"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = load(SECRET, &[]).unwrap();
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
    }
}
