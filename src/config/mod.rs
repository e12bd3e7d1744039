//! Typed configuration: `config.toml`, then `TANDEM__SECTION__KEY` environment
//! overrides, then `DATABASE_URL` / `REDIS_URL`.
//!
//! Every key has a default (documented in the shipped `config.toml`), so an
//! empty file is valid except for the auth key material. Loading fails with
//! [`ConfigError`], whose message names the offending key.

mod auth;
mod collab;
mod operations;
mod push;
mod server;
mod storage;
mod web;

pub use auth::{AuthSettings, JwtAlgorithm};
pub use collab::{DocumentSettings, PresenceSettings, RoomSettings, YjsSettings};
pub use operations::{AdminSettings, MetricsSettings};
pub use push::{EmailSettings, PushSettings, SmtpTls};
pub use server::{
    Environment, ServerSettings, SseSettings, WebSocketSettings, DEVELOPMENT_SECRET,
    MAX_ACTOR_THREADS,
};
pub use storage::{DatabaseSettings, RedisSettings};
pub use web::WebSettings;

/// The most rows `documents.batch_max_rows` may be: one statement binds 12
/// parameters per row and PostgreSQL allows 65,535 per statement (a batch
/// may pass the bound by one document's run of at most 200 rows).
pub const DOCUMENT_BATCH_MAX_ROWS: usize = 4000;

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
    /// Yjs documents (`/yjs`).
    pub yjs: YjsSettings,
    /// Server-Sent Events (`GET /api/v1/stream`).
    pub sse: SseSettings,
    /// The demo web app and its development sign-in.
    pub web: WebSettings,
    /// `GET /metrics` (Prometheus).
    pub metrics: MetricsSettings,
    /// The platform operator's access to the admin REST API.
    pub admin: AdminSettings,
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
        self.redis.validate()?;
        let ws = &self.websocket;
        if ws.max_message_bytes == 0 {
            return Err(ConfigError::invalid(
                "websocket.max_message_bytes",
                "must be greater than 0",
            ));
        }
        if self.server.actor_threads > MAX_ACTOR_THREADS {
            return Err(ConfigError::invalid(
                "server.actor_threads",
                "must be at most 64 (0 means one per core)",
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
            ("yjs.max_document_bytes", self.yjs.max_document_bytes as u64),
            ("documents.lock_ttl_secs", self.documents.lock_ttl_secs),
            (
                "documents.max_pending_writes",
                self.documents.max_pending_writes as u64,
            ),
            (
                "rooms.cursor_rate_per_second",
                u64::from(self.rooms.cursor_rate_per_second),
            ),
            (
                "presence.tenant_roster_max",
                self.presence.tenant_roster_max as u64,
            ),
            (
                "presence.room_watch_max",
                self.presence.room_watch_max as u64,
            ),
            (
                "presence.max_subscriptions",
                self.presence.max_subscriptions as u64,
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
        if !(1..=10_000).contains(&self.rooms.users_list_max) {
            return Err(ConfigError::invalid(
                "rooms.users_list_max",
                "must be 1 to 10000",
            ));
        }
        if !(1..=5000).contains(&self.rooms.join_batch_ms) {
            return Err(ConfigError::invalid(
                "rooms.join_batch_ms",
                "must be 1 to 5000",
            ));
        }
        if !(1..=60_000).contains(&self.rooms.count_interval_ms) {
            return Err(ConfigError::invalid(
                "rooms.count_interval_ms",
                "must be 1 to 60000",
            ));
        }
        if !(1..=DOCUMENT_BATCH_MAX_ROWS).contains(&self.documents.batch_max_rows) {
            return Err(ConfigError::invalid(
                "documents.batch_max_rows",
                "must be 1 to 4000",
            ));
        }
        if self.documents.batch_wait_us > 2000 {
            return Err(ConfigError::invalid(
                "documents.batch_wait_us",
                "must be at most 2000 (2 ms)",
            ));
        }
        if !(1..=5000).contains(&self.presence.diff_interval_ms) {
            return Err(ConfigError::invalid(
                "presence.diff_interval_ms",
                "must be 1 to 5000",
            ));
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
        if auth.secret.expose() == DEVELOPMENT_SECRET
            && self.server.environment != Environment::Development
        {
            return Err(ConfigError::invalid(
                "auth.secret",
                "is the public development secret shipped in config.toml: set a fresh one \
                 (TANDEM__AUTH__SECRET), or server.environment = \"development\" on a \
                 developer's machine",
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
        self.web.validate(&self.server, &self.auth)?;
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
        let text = include_str!("../../config.toml");
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
    fn actor_threads_are_bounded() {
        let s = load(SECRET, &[("TANDEM__SERVER__ACTOR_THREADS", "3")]).unwrap();
        assert_eq!(s.server.actor_threads, 3);
        assert_eq!(load(SECRET, &[]).unwrap().server.actor_threads, 0);
        let err = load(SECRET, &[("TANDEM__SERVER__ACTOR_THREADS", "65")]).unwrap_err();
        assert!(err.to_string().contains("server.actor_threads"), "{err}");
    }

    #[test]
    fn group_commit_keys_are_checked() {
        let s = load(
            &format!("{SECRET}[documents]\nbatch_max_rows = 64\nbatch_wait_us = 0\n"),
            &[],
        )
        .unwrap();
        assert_eq!(
            (s.documents.batch_max_rows, s.documents.batch_wait_us),
            (64, 0)
        );
        for (text, key) in [
            ("batch_max_rows = 0", "documents.batch_max_rows"),
            ("batch_max_rows = 4001", "documents.batch_max_rows"),
            ("batch_wait_us = 2001", "documents.batch_wait_us"),
        ] {
            let err = load(&format!("{SECRET}[documents]\n{text}\n"), &[]).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn development_secret_only_in_development() {
        let shipped = include_str!("../../config.toml");
        assert_eq!(
            load(shipped, &[]).unwrap().server.environment,
            Environment::Development
        );
        // The shipped file with production switched on is refused...
        let err = load(
            shipped,
            &[("TANDEM__SERVER__ENVIRONMENT", "\"production\"")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("auth.secret"), "{err}");
        // ...and so is a file that leaves the environment at its default.
        let dev = format!("[auth]\nsecret = \"{DEVELOPMENT_SECRET}\"\n");
        let err = load(&dev, &[]).unwrap_err();
        assert!(err.to_string().contains("development"), "{err}");
        // A fresh secret from the environment makes production start.
        let s = load(
            shipped,
            &[
                ("TANDEM__SERVER__ENVIRONMENT", "\"production\""),
                ("TANDEM__WEB__DEV_TOKENS", "false"),
                (
                    "TANDEM__AUTH__SECRET",
                    "\"a-fresh-secret-of-at-least-32-bytes!\"",
                ),
            ],
        )
        .unwrap();
        assert_eq!(s.server.environment, Environment::Production);
        let err = load(
            &format!("{SECRET}[server]\nenvironment = \"staging\"\n"),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("server.environment"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = load(SECRET, &[]).unwrap();
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
    }
}
