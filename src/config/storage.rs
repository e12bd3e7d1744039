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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// Redis URL; empty means this node runs alone. `REDIS_URL` overrides it.
    pub url: Secret,
}
