//! `[server]`, `[websocket]` and `[sse]`: listening, origins, socket limits and liveness, SSE streams.

use super::*;

/// Most threads `server.actor_threads` may ask for (the broker tracks a
/// connection's shards in a 64-bit mask).
pub const MAX_ACTOR_THREADS: usize = 64;

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// HTTP worker threads (REST, SSE, WebSocket handshakes); 0 means one
    /// per core. Upgraded WebSockets run on the actor threads.
    pub workers: usize,
    /// Threads (actix arbiters) that run WebSockets, rooms, document sessions, presence,
    /// rosters, Yjs documents and the broker's shards; 0 means one per core.
    /// Each actor stays on the thread its key hashes to.
    pub actor_threads: usize,
    /// Origins allowed to open a WebSocket. A request without an Origin
    /// header (a non-browser client) is always allowed; `"*"` allows any.
    pub allowed_origins: Vec<String>,
    /// Seconds to finish in-flight work after SIGTERM/SIGINT before exiting.
    pub shutdown_grace_secs: u64,
    /// Open files kept free for PostgreSQL, Redis, files and the runtime:
    /// socket upgrades get `503 server_at_capacity` once the connections
    /// reach the open-files limit minus this, and the accept loop pauses at
    /// the limit minus half of it (`fds`).
    pub fd_reserve: usize,
    /// `development` allows the development secret shipped in config.toml;
    /// `production` (the default) refuses to start with it.
    pub environment: Environment,
}

/// `server.environment`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine: the shipped development secret is accepted.
    Development,
    /// Anything else: secrets must be set for this deployment.
    #[default]
    Production,
}

/// The HS256 secret in the shipped config.toml. It is public, so the server
/// refuses it unless `server.environment = "development"`, and
/// `web.dev_tokens` only works with it: the sign-in endpoint can never mint
/// tokens that a production server (which must use its own secret) accepts.
pub const DEVELOPMENT_SECRET: &str = "dev-only-secret-change-me-0123456789abcdef";

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            host: "127.0.0.1".into(),
            port: 8080,
            workers: 0,
            actor_threads: 0,
            allowed_origins: vec![
                "http://localhost:3000".into(),
                "http://127.0.0.1:3000".into(),
            ],
            shutdown_grace_secs: 10,
            fd_reserve: 256,
            environment: Environment::Production,
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
    /// Messages arriving before their advertised `retry_after_ms`, within 10
    /// seconds, after which the socket is closed (4029).
    pub rate_limit_close_after: u32,
}

impl Default for WebSocketSettings {
    fn default() -> Self {
        WebSocketSettings {
            max_message_bytes: 64 * 1024,
            max_frame_bytes: 1024 * 1024,
            ping_interval_secs: 30,
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
