//! `[database]` and `[redis]`.

use super::*;

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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// Redis URL; empty means this node runs alone. `REDIS_URL` overrides it.
    pub url: Secret,
    /// Prefix of every Redis key and channel this cluster uses (several
    /// clusters, or parallel tests, can share one Redis).
    pub key_prefix: String,
    /// Most milliseconds to wait before reconnecting after Redis went away
    /// (the wait doubles from 100 ms up to this).
    pub reconnect_max_ms: u64,
    /// Lifetime of a document lease (one writer per document in the
    /// cluster); its holder renews it every third of this. After a node dies,
    /// its documents open elsewhere within this time.
    pub document_lease_ms: u64,
    /// Lifetime of the node's heartbeat key, refreshed every third of
    /// this: a dead node's sockets stop counting toward
    /// `websocket.max_connections_per_user` within this time.
    pub node_ttl_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: Secret::new(""),
            key_prefix: "tandem:".into(),
            reconnect_max_ms: 5000,
            document_lease_ms: 10_000,
            node_ttl_ms: 10_000,
        }
    }
}

impl RedisSettings {
    /// The lease must outlive a few renewals (one a second at best).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.document_lease_ms < 3000 {
            return Err(ConfigError::invalid(
                "redis.document_lease_ms",
                "must be at least 3000",
            ));
        }
        if self.node_ttl_ms < 3000 {
            return Err(ConfigError::invalid(
                "redis.node_ttl_ms",
                "must be at least 3000",
            ));
        }
        if self.reconnect_max_ms < 100 {
            return Err(ConfigError::invalid(
                "redis.reconnect_max_ms",
                "must be at least 100",
            ));
        }
        if !self.url.expose().is_empty() && self.key_prefix.is_empty() {
            return Err(ConfigError::invalid(
                "redis.key_prefix",
                "must not be empty when redis.url is set",
            ));
        }
        Ok(())
    }
}
