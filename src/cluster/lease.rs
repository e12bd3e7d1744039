//! Document leases: at most one node of a cluster holds a document session
//! (and so writes the document) at a time. A lease is a Redis key set with
//! `SET NX PX` to `<node>:<session>`, renewed by its holder and deleted when
//! the session stops; when the holder dies, the key expires after
//! `redis.document_lease_ms` and another node may take the document.

use crate::ids::RoomId;
use deadpool_redis::redis;
use std::time::Duration;

/// How long one lease command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Renews the key only while it still holds our token.
const RENEW: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end"#;

/// Deletes the key only while it still holds our token.
const RELEASE: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1]) else return 0 end"#;

/// Takes the key when it is free or held by another session of this node
/// (one that is still closing: the node itself keeps one session per
/// document live). Returns 1 when taken.
const ACQUIRE: &str = r#"local held = redis.call("GET", KEYS[1])
if (not held) or string.sub(held, 1, string.len(ARGV[3])) == ARGV[3] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2]) return 1 end
return 0"#;

/// The node's lease client.
#[derive(Clone)]
pub struct Leases {
    pool: deadpool_redis::Pool,
    node: String,
    prefix: String,
    ttl: Duration,
}

/// A lease this session holds.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The Redis key.
    pub key: String,
    /// The value that proves it is ours.
    pub token: String,
}

/// Why a lease could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another node holds the document.
    #[error("the document is open on another node")]
    HeldElsewhere,
    /// Redis did not answer: the node cannot prove it is the only writer.
    #[error("Redis unreachable: {0}")]
    Unreachable(String),
}

impl Leases {
    /// Leases of `ttl` for `node`, under `prefix`.
    pub fn new(pool: deadpool_redis::Pool, node: String, prefix: String, ttl: Duration) -> Self {
        Leases {
            pool,
            node,
            prefix,
            ttl,
        }
    }

    /// This node's id (the first part of the tokens it writes).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The lease lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The lease key of a document (lengths keep the parts apart).
    pub fn key(&self, room: &RoomId) -> String {
        let (t, ty, id) = (room.tenant.as_str(), &*room.entity_type, &*room.entity_id);
        format!("{}doc:{}:{t}:{}:{ty}:{id}", self.prefix, t.len(), ty.len())
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    async fn eval(&self, script: &str, key: &str, args: &[&str]) -> Result<i64, LeaseError> {
        let run = async {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|e| LeaseError::Unreachable(e.to_string()))?;
            let mut eval = redis::cmd("EVAL");
            eval.arg(script).arg(1).arg(key);
            for a in args {
                eval.arg(*a);
            }
            eval.query_async::<i64>(&mut conn)
                .await
                .map_err(|e| LeaseError::Unreachable(e.to_string()))
        };
        tokio::time::timeout(COMMAND_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| Err(LeaseError::Unreachable("timed out".into())))
    }

    /// Takes the lease of `room` for a new session.
    pub async fn acquire(&self, room: &RoomId) -> Result<Lease, LeaseError> {
        let key = self.key(room);
        let mine = format!("{}:", self.node);
        let token = format!("{mine}{}", uuid::Uuid::new_v4().simple());
        let ttl = self.ttl_ms().to_string();
        match self.eval(ACQUIRE, &key, &[&token, &ttl, &mine]).await? {
            1 => Ok(Lease { key, token }),
            _ => Err(LeaseError::HeldElsewhere),
        }
    }

    /// The node holding `room`'s lease, if any (a token is `<node>:<session>`).
    pub async fn holder(&self, room: &RoomId) -> Result<Option<String>, LeaseError> {
        let key = self.key(room);
        let run = async {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|e| LeaseError::Unreachable(e.to_string()))?;
            redis::cmd("GET")
                .arg(&key)
                .query_async::<Option<String>>(&mut conn)
                .await
                .map_err(|e| LeaseError::Unreachable(e.to_string()))
        };
        let token = tokio::time::timeout(COMMAND_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| Err(LeaseError::Unreachable("timed out".into())))?;
        Ok(token.map(|t| match t.split_once(':') {
            Some((node, _)) => node.to_owned(),
            None => t,
        }))
    }

    /// Extends a lease; `Ok(false)` when it is no longer ours.
    pub async fn renew(&self, lease: &Lease) -> Result<bool, LeaseError> {
        let ttl = self.ttl_ms().to_string();
        Ok(self.eval(RENEW, &lease.key, &[&lease.token, &ttl]).await? == 1)
    }

    /// Gives a lease up (best effort: it expires anyway).
    pub async fn release(&self, lease: &Lease) {
        if let Err(e) = self.eval(RELEASE, &lease.key, &[&lease.token]).await {
            log::warn!("could not release document lease {}: {e}", lease.key);
        }
    }
}
