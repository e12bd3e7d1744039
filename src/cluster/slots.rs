//! Per-user connection slots counted across the cluster
//! (`websocket.max_connections_per_user`): a Redis hash per user holds each
//! node's count of that user's sockets (WebSocket and SSE). A count only
//! counts while its node's heartbeat key lives, so a dead node's sockets
//! stop counting within `redis.node_ttl_ms`. A socket holds its slot as a
//! [`SlotGuard`]; dropping it (the socket actor stopped) gives it back.
//!
//! The script reads the heartbeat keys of the nodes it finds in the hash,
//! so it needs a single Redis (not Redis Cluster).

use crate::ids::{TenantId, UserId};
use deadpool_redis::redis;
use std::time::Duration;

/// How long one slot command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Counts live nodes' slots; takes one when below the limit (returns 1).
const RESERVE: &str = r#"local total = 0
local fields = redis.call("HGETALL", KEYS[1])
for i = 1, #fields, 2 do
  local node, n = fields[i], tonumber(fields[i + 1])
  if node == ARGV[1] or redis.call("EXISTS", ARGV[3] .. node) == 1 then
    total = total + n
  else
    redis.call("HDEL", KEYS[1], node)
  end
end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call("HINCRBY", KEYS[1], ARGV[1], 1)
redis.call("PEXPIRE", KEYS[1], 86400000)
return 1"#;

/// Gives one slot back.
const RELEASE: &str = r#"local n = redis.call("HINCRBY", KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call("HDEL", KEYS[1], ARGV[1]) end
return n"#;

/// The node's slot client.
#[derive(Clone)]
pub struct Slots {
    pool: deadpool_redis::Pool,
    node: String,
    prefix: String,
}

/// One reserved slot; released when dropped.
pub struct SlotGuard {
    slots: Slots,
    key: String,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let (slots, key) = (self.slots.clone(), std::mem::take(&mut self.key));
        // Dropped on an arbiter (a socket actor stopped). Outside any
        // runtime (a process tearing down) the slot lapses with the node's
        // heartbeat instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = slots.eval(RELEASE, &key, &[&slots.node]).await {
                    log::warn!("could not give back a connection slot ({key}): {e}");
                }
            });
        }
    }
}

/// The heartbeat key of a node.
pub fn node_key(prefix: &str, node: &str) -> String {
    format!("{prefix}node:{node}")
}

impl Slots {
    /// Slots of `node` under `prefix`.
    pub fn new(pool: deadpool_redis::Pool, node: String, prefix: String) -> Self {
        Slots { pool, node, prefix }
    }

    fn key(&self, tenant: &TenantId, user: &UserId) -> String {
        let t = tenant.as_str();
        format!("{}conns:{}:{t}:{}", self.prefix, t.len(), user.as_str())
    }

    async fn eval(&self, script: &str, key: &str, args: &[&str]) -> Result<i64, String> {
        let run = async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            let mut eval = redis::cmd("EVAL");
            eval.arg(script).arg(1).arg(key);
            for a in args {
                eval.arg(*a);
            }
            eval.query_async::<i64>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        tokio::time::timeout(COMMAND_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| Err("timed out".into()))
    }

    /// Takes a slot for the user: `Ok(Some)` when the cluster has fewer
    /// than `max` of the user's sockets, `Ok(None)` when it is full, `Err`
    /// when Redis did not answer (the caller admits on the node's own
    /// count alone).
    pub async fn reserve(
        &self,
        tenant: &TenantId,
        user: &UserId,
        max: usize,
    ) -> Result<Option<SlotGuard>, String> {
        let key = self.key(tenant, user);
        let max = max.to_string();
        let nodes = node_key(&self.prefix, "");
        match self
            .eval(RESERVE, &key, &[&self.node, &max, &nodes])
            .await?
        {
            1 => Ok(Some(SlotGuard {
                slots: self.clone(),
                key,
            })),
            _ => Ok(None),
        }
    }
}
