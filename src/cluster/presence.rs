//! Presence across the nodes of a cluster, on Redis. Each node's roster of
//! a tenant announces its own users' changes ([`Announce`], as a
//! `Frame::cluster` on `Topic::Roster`) and keeps them in one Redis hash
//! per tenant ([`key`]; field `{node}\t{user}`, value a [`Stored`] entry),
//! written in order by one task per roster ([`spawn_writer`]). The hash is
//! what a roster starting on another node reads ([`live_snapshot`], which
//! skips and deletes dead nodes' users), and what a node with no roster for
//! the tenant answers presence queries from ([`read_merged`]). The merge itself is
//! `roster_state::merge`.

use super::nodes::Nodes;
use crate::broker::{Broker, Topic};
use crate::ids::{TenantId, UserId};
use crate::protocol::client::ChosenStatus;
use crate::protocol::server::PresenceView;
use crate::protocol::Frame;
use crate::roster_state::merge::{merge, NodeView};
use deadpool_redis::redis;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long one Redis command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Writes queued before new ones are dropped (the roster republishes its
/// whole state after Redis comes back).
const WRITE_QUEUE: usize = 65_536;
/// Writes in one pipeline at most.
const WRITE_BATCH: usize = 512;
/// A tenant's hash expires this long after its last write (a cluster that
/// stops entirely leaves nothing behind for long).
const HASH_TTL_MS: u64 = 86_400_000;

/// Sequence numbers of this process's entries (ordered per node).
static SEQ: AtomicU64 = AtomicU64::new(1);

/// The next sequence number for an entry of this node.
pub fn next_seq() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// The tenant's presence hash (the tenant's length first, so a `:` in a
/// tenant id cannot make two tenants share it).
pub fn key(prefix: &str, tenant: &TenantId) -> String {
    format!(
        "{prefix}presence:{}:{}",
        tenant.as_str().len(),
        tenant.as_str()
    )
}

/// The hash field of a node's user.
pub fn field(node: &str, user: &str) -> String {
    format!("{node}\t{user}")
}

/// What the rosters of a tenant tell each other on `Topic::Roster`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RosterMessage {
    /// A node's user changed.
    Change(Box<Announce>),
    /// A status chosen over REST on a node where the user has no
    /// connection: each node where the user has one applies it.
    SetStatus {
        /// The user.
        user: String,
        /// The status.
        status: ChosenStatus,
    },
    /// A node rewrote its fields after losing writes or announcements:
    /// every other roster reads the hash again.
    Resync {
        /// The node.
        node: String,
    },
}

/// One node's change of one user, as announced to the other nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announce {
    /// The node.
    pub node: String,
    /// The user.
    pub user: String,
    /// The node's sequence number for this change.
    pub seq: u64,
    /// The user on that node now; `None`: gone from that node.
    pub entry: Option<NodeView>,
}

/// A hash value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    /// The node's sequence number for it.
    pub seq: u64,
    /// The user on that node.
    pub entry: NodeView,
}

/// A write to the tenant's hash.
pub enum Write {
    /// HSET field value.
    Set(String, String),
    /// HDEL field.
    Del(String),
    /// This node's fields are exactly these (after Redis came back): its
    /// other fields are deleted.
    Replace {
        /// This node.
        node: String,
        /// Field → value.
        fields: Vec<(String, String)>,
        /// Run once the hash holds them (tells the other nodes).
        then: Box<dyn FnOnce()>,
    },
}

/// Starts the task that applies `writes` to the hash `key`, in order,
/// pipelining what is queued; `failed` is set when a write was lost (the
/// roster then rewrites its fields). Ends when every sender is dropped.
pub fn spawn_writer(
    pool: deadpool_redis::Pool,
    key: String,
    failed: Arc<AtomicBool>,
) -> mpsc::Sender<Write> {
    let (tx, mut rx) = mpsc::channel::<Write>(WRITE_QUEUE);
    actix_rt::spawn(async move {
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        let mut after: Vec<Box<dyn FnOnce()>> = Vec::new();
        while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
            let mut pipe = redis::pipe();
            for w in batch.drain(..) {
                match w {
                    Write::Set(f, v) => {
                        pipe.cmd("HSET").arg(&key).arg(f).arg(v).ignore();
                    }
                    Write::Del(f) => {
                        pipe.cmd("HDEL").arg(&key).arg(f).ignore();
                    }
                    Write::Replace { node, fields, then } => {
                        // What is queued before it goes first.
                        if !pipe.is_empty() {
                            if let Err(e) = run::<()>(&pool, &pipe).await {
                                failed.store(true, Ordering::Relaxed);
                                log::warn!("presence hash {key}: write failed: {e}");
                            }
                            pipe = redis::pipe();
                        }
                        replace(&pool, &key, &node, &fields, &mut pipe).await;
                        after.push(then);
                    }
                }
            }
            pipe.cmd("PEXPIRE").arg(&key).arg(HASH_TTL_MS).ignore();
            if let Err(e) = run::<()>(&pool, &pipe).await {
                failed.store(true, Ordering::Relaxed);
                log::warn!("presence hash {key}: write failed: {e}");
            }
            for then in after.drain(..) {
                then();
            }
        }
    });
    tx
}

/// Queues the deletion of `node`'s fields not in `fields`, then `fields`.
async fn replace(
    pool: &deadpool_redis::Pool,
    key: &str,
    node: &str,
    fields: &[(String, String)],
    pipe: &mut redis::Pipeline,
) {
    let mut keys = redis::pipe();
    keys.cmd("HKEYS").arg(key);
    let keep: HashSet<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
    let prefix = format!("{node}\t");
    match run::<(Vec<String>,)>(pool, &keys).await {
        Ok((existing,)) => {
            for f in existing {
                if f.starts_with(&prefix) && !keep.contains(f.as_str()) {
                    pipe.cmd("HDEL").arg(key).arg(f).ignore();
                }
            }
        }
        Err(e) => log::warn!("presence hash {key}: reading it failed: {e}"),
    }
    for (f, v) in fields {
        pipe.cmd("HSET").arg(key).arg(f).arg(v).ignore();
    }
}

/// Every entry of the tenant's hash: (node, user, seq, view). Malformed
/// fields are skipped.
pub async fn snapshot(
    nodes: &Nodes,
    tenant: &TenantId,
) -> Result<Vec<(String, String, u64, NodeView)>, String> {
    let mut pipe = redis::pipe();
    pipe.cmd("HGETALL").arg(key(nodes.prefix(), tenant));
    let (all,): (Vec<(String, String)>,) = run(nodes.pool(), &pipe).await?;
    Ok(all
        .into_iter()
        .filter_map(|(f, v)| {
            let (node, user) = f.split_once('\t')?;
            let stored: Stored = serde_json::from_str(&v)
                .map_err(|e| log::warn!("presence hash: skipping field {f:?}: {e}"))
                .ok()?;
            Some((node.to_owned(), user.to_owned(), stored.seq, stored.entry))
        })
        .collect())
}

/// The entries of the tenant's hash whose node is alive (see
/// [`snapshot`]); the fields of dead nodes are deleted on the way.
pub async fn live_snapshot(
    nodes: &Nodes,
    tenant: &TenantId,
) -> Result<Vec<(String, String, u64, NodeView)>, String> {
    let entries = snapshot(nodes, tenant).await?;
    let mut names: Vec<String> = entries.iter().map(|e| e.0.clone()).collect();
    names.sort();
    names.dedup();
    let alive = nodes.alive(&names).await?;
    let dead: HashSet<String> = names
        .into_iter()
        .zip(alive)
        .filter(|(_, a)| !*a)
        .map(|(n, _)| n)
        .collect();
    if dead.is_empty() {
        return Ok(entries);
    }
    let key = key(nodes.prefix(), tenant);
    let mut del = redis::pipe();
    for (node, user, _, _) in entries.iter().filter(|e| dead.contains(&e.0)) {
        del.cmd("HDEL").arg(&key).arg(field(node, user)).ignore();
    }
    if let Err(e) = run::<()>(nodes.pool(), &del).await {
        log::warn!("presence hash {key}: dropping dead nodes' users failed: {e}");
    }
    Ok(entries
        .into_iter()
        .filter(|e| !dead.contains(&e.0))
        .collect())
}

/// The tenant's users on every live node, merged, by user id (for a node
/// with no roster for the tenant).
pub async fn read_merged(nodes: &Nodes, tenant: &TenantId) -> Result<Vec<PresenceView>, String> {
    let mut users: BTreeMap<String, BTreeMap<String, NodeView>> = BTreeMap::new();
    for (node, user, _, view) in live_snapshot(nodes, tenant).await? {
        users.entry(user).or_default().insert(node, view);
    }
    Ok(users.values().filter_map(|m| merge(m.values())).collect())
}

/// A status chosen over REST for a user with no connection on this node:
/// when the user is connected to another live node, the status is sent to
/// the tenant's rosters there (which apply it) and this returns true.
pub async fn forward_status(
    nodes: &Nodes,
    broker: &dyn Broker,
    tenant: &TenantId,
    user: &UserId,
    status: ChosenStatus,
) -> Result<bool, String> {
    let present = live_snapshot(nodes, tenant)
        .await?
        .iter()
        .any(|e| e.1 == user.as_str());
    if !present {
        return Ok(false);
    }
    let msg = RosterMessage::SetStatus {
        user: user.as_str().to_owned(),
        status,
    };
    let json = serde_json::to_string(&msg).map_err(|e| e.to_string())?;
    broker.publish(Topic::Roster(tenant.clone()), Frame::cluster(json), None);
    Ok(true)
}

/// Runs a pipeline on a pooled connection within [`COMMAND_TIMEOUT`].
async fn run<T: redis::FromRedisValue>(
    pool: &deadpool_redis::Pool,
    pipe: &redis::Pipeline,
) -> Result<T, String> {
    tokio::time::timeout(COMMAND_TIMEOUT, async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        pipe.query_async::<T>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|_| Err("timed out".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn roster_messages_round_trip_and_unknown_statuses_are_refused() {
        let gone = r#"{"kind":"change","node":"n","user":"u","seq":3,"entry":null}"#;
        let RosterMessage::Change(a) = serde_json::from_str(gone).unwrap() else {
            panic!("a change");
        };
        assert_eq!((a.seq, a.entry.is_none()), (3, true));
        let bad = r##"{"kind":"change","node":"n","user":"u","seq":4,"entry":{"view":{"user_id":"u","name":"U","status":"sleeping","color":"#000000","last_activity_at":"t","location":null,"devices":[]}}}"##;
        assert!(serde_json::from_str::<RosterMessage>(bad).is_err());
        let good = bad.replace("sleeping", "busy");
        let RosterMessage::Change(a) = serde_json::from_str(&good).unwrap() else {
            panic!("a change");
        };
        let entry = a.entry.clone().unwrap();
        assert_eq!(entry.view.status, "busy");
        assert_eq!(entry.choice, None);
        let again = serde_json::to_string(&RosterMessage::Change(a)).unwrap();
        let RosterMessage::Change(b) = serde_json::from_str(&again).unwrap() else {
            panic!("a change");
        };
        assert_eq!(b.entry, Some(entry));
        let set = serde_json::to_string(&RosterMessage::SetStatus {
            user: "u".into(),
            status: ChosenStatus::Away,
        })
        .unwrap();
        assert_eq!(set, r#"{"kind":"set_status","user":"u","status":"away"}"#);
    }

    #[test]
    fn keys_of_different_tenants_differ() {
        assert_ne!(
            key("p:", &TenantId::new("a:1")),
            key("p:", &TenantId::new("a"))
        );
        assert_eq!(field("n", "u:1"), "n\tu:1");
    }
}
