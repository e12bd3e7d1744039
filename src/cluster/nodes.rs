//! Which nodes of the cluster are alive. Every node keeps its heartbeat
//! key (`cluster::slots::node_key`) set with a `redis.node_ttl_ms` expiry
//! ([`heartbeat`], started by `cluster::bridge`, renews it every third of
//! that); a node whose key is gone has died or lost Redis for longer than
//! the ttl. Actors that keep state learned from other nodes (rosters,
//! rooms) ask [`Nodes::alive`] now and then and drop what a dead node told
//! them.

use super::slots::node_key;
use deadpool_redis::redis;
use std::time::Duration;

/// How long one liveness check may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// This node's view of the cluster: its own id and a way to ask which
/// other nodes are alive. Cheap to clone.
#[derive(Clone)]
pub struct Nodes {
    pool: deadpool_redis::Pool,
    node: String,
    prefix: String,
    ttl: Duration,
}

impl Nodes {
    /// The cluster seen by `node` under `prefix`, whose heartbeat keys
    /// live `ttl`.
    pub fn new(pool: deadpool_redis::Pool, node: String, prefix: String, ttl: Duration) -> Self {
        Nodes {
            pool,
            node,
            prefix,
            ttl,
        }
    }

    /// This node's id (what it tags its frames and state with).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The key prefix of the cluster (`redis.key_prefix`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A pool for Redis commands.
    pub fn pool(&self) -> &deadpool_redis::Pool {
        &self.pool
    }

    /// `redis.node_ttl_ms`: a node that died is seen as dead within this
    /// long, plus the period of whoever checks.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// For each of `nodes`, whether its heartbeat key exists. This node is
    /// always alive. `Err` when Redis did not answer: the caller keeps
    /// what it has (a node cut off from Redis must not forget everyone).
    pub async fn alive(&self, nodes: &[String]) -> Result<Vec<bool>, String> {
        if nodes.iter().all(|n| *n == self.node) {
            return Ok(vec![true; nodes.len()]);
        }
        let mut pipe = redis::pipe();
        for n in nodes {
            pipe.cmd("EXISTS").arg(node_key(&self.prefix, n));
        }
        let run = async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            pipe.query_async::<Vec<i64>>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        let found = tokio::time::timeout(COMMAND_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| Err("timed out".into()))?;
        Ok(nodes
            .iter()
            .zip(found)
            .map(|(n, f)| *n == self.node || f == 1)
            .collect())
    }
}

/// Keeps this node's heartbeat key (`key`) set with a `ttl` expiry,
/// renewing it every third of `ttl` until `stop`, so other nodes see the
/// node dead within `ttl` of its death.
pub async fn heartbeat(
    pool: deadpool_redis::Pool,
    key: String,
    ttl: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let mut tick = tokio::time::interval(ttl / 3);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let set = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            redis::cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        let done = tokio::time::timeout(COMMAND_TIMEOUT, set)
            .await
            .unwrap_or_else(|_| Err("timed out".into()));
        if let Err(e) = done {
            log::warn!("Redis heartbeat failed: {e}");
        }
    }
}
