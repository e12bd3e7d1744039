//! The Redis bridge: a [`Broker`] that wraps the node's local broker and
//! carries tenant and user topics to the other nodes over Redis pub/sub.
//!
//! - Local subscribers are served by the wrapped broker as before; a frame
//!   published here is delivered locally at once, and also published to the
//!   topic's Redis channel (`cluster::channel`), tagged with this node's id.
//! - One subscriber connection per node listens to the channels of the
//!   topics that have local subscribers (`cluster::interest`), so a frame
//!   crosses Redis once per node that needs it. Frames this node published
//!   come back on that connection and are skipped.
//! - Publishing goes through a deadpool-redis pool from one task that
//!   pipelines whatever is queued, in publish order.
//! - When Redis is unreachable the node keeps delivering locally, drops the
//!   frames meant for other nodes (notifications stay stored; clients catch
//!   up from the REST list or the SSE replay), reports itself degraded, and
//!   reconnects with a doubling backoff up to `redis.reconnect_max_ms`.

use crate::broker::{Broker, ClusterStatus, ConnectionHandle, Frame, Topic};
use crate::cluster::{self, envelope, interest::Interest, lease::Leases, slots::Slots};
use crate::config::RedisSettings;
use crate::ids::ConnectionId;
use deadpool_redis::redis;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

/// Frames waiting to be published to Redis before new ones are dropped.
const PUBLISH_QUEUE: usize = 65_536;
/// Channels in one SUBSCRIBE or UNSUBSCRIBE at most.
const SUBSCRIBE_BATCH: usize = 1000;
/// Frames sent in one pipeline at most.
const PUBLISH_BATCH: usize = 512;
/// How long one Redis command may take before the connection counts as lost.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the subscriber connection is pinged (a silent network cut is
/// noticed within this plus [`COMMAND_TIMEOUT`]).
const PING_EVERY: Duration = Duration::from_secs(1);

/// State shared by the broker and its two tasks.
struct Shared {
    node: String,
    prefix: String,
    /// Frames for every tenant (`system:message` with `all`); every node
    /// listens to it.
    all_channel: String,
    local: Arc<dyn Broker>,
    interest: Mutex<Interest>,
    /// Channel name → topic, for the channels with local subscribers.
    channels: Mutex<HashMap<String, Topic>>,
    /// Channels whose wanted state changed since the subscriber task last
    /// looked.
    dirty: Mutex<HashSet<String>>,
    /// The subscriber task should bring its subscriptions up to date.
    changed: Notify,
    subscriber_up: AtomicBool,
    publisher_up: AtomicBool,
    /// Times the subscriber connection came up (`ClusterStatus::sessions`).
    sessions: AtomicU64,
    stop: CancellationToken,
}

impl Shared {
    fn interest(&self) -> MutexGuard<'_, Interest> {
        self.interest.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn channels(&self) -> MutexGuard<'_, HashMap<String, Topic>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// A topic gained its first or lost its last local subscriber: the
    /// subscriber task (un)subscribes its channel (only the changed
    /// channels, so a connection storm costs one check per topic).
    fn interest_changed(&self, topic: &Topic, wanted: bool) {
        let channel = cluster::channel(&self.prefix, topic);
        if wanted {
            self.channels().insert(channel.clone(), topic.clone());
        } else {
            self.channels().remove(&channel);
        }
        self.dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(channel);
        self.changed.notify_one();
    }
}

/// The [`Broker`] of a node in a cluster.
pub struct RedisBroker {
    shared: Arc<Shared>,
    publish: mpsc::Sender<(String, Vec<u8>)>,
    pool: deadpool_redis::Pool,
}

impl RedisBroker {
    /// Wraps `local` and starts the subscriber and publisher tasks on the
    /// current arbiter. Redis need not be up yet (the node starts degraded
    /// and connects in the background); a malformed URL is an error.
    pub fn start(local: Arc<dyn Broker>, settings: &RedisSettings) -> Result<Self, String> {
        let url = settings.url.expose();
        let client =
            redis::Client::open(url).map_err(|e| format!("redis.url is not usable: {e}"))?;
        let mut config = deadpool_redis::Config::from_url(url);
        let mut pool_config = deadpool_redis::PoolConfig::new(4);
        pool_config.timeouts = deadpool_redis::Timeouts {
            wait: Some(COMMAND_TIMEOUT),
            create: Some(COMMAND_TIMEOUT),
            recycle: Some(COMMAND_TIMEOUT),
        };
        config.pool = Some(pool_config);
        let pool = config
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .map_err(|e| format!("redis.url is not usable: {e}"))?;
        let shared = Arc::new(Shared {
            node: uuid::Uuid::new_v4().simple().to_string(),
            prefix: settings.key_prefix.clone(),
            all_channel: format!("{}all", settings.key_prefix),
            local,
            interest: Mutex::new(Interest::default()),
            channels: Mutex::new(HashMap::new()),
            dirty: Mutex::new(HashSet::new()),
            changed: Notify::new(),
            subscriber_up: AtomicBool::new(false),
            publisher_up: AtomicBool::new(true),
            sessions: AtomicU64::new(0),
            stop: CancellationToken::new(),
        });
        log::info!(
            "cluster node {} (Redis prefix {:?})",
            shared.node,
            shared.prefix
        );
        let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
        let max_backoff = Duration::from_millis(settings.reconnect_max_ms.max(100));
        actix_rt::spawn(subscriber(shared.clone(), client, max_backoff));
        actix_rt::spawn(publisher(shared.clone(), pool.clone(), rx, max_backoff));
        let node_ttl = Duration::from_millis(settings.node_ttl_ms);
        actix_rt::spawn(cluster::nodes::heartbeat(
            pool.clone(),
            cluster::slots::node_key(&shared.prefix, &shared.node),
            node_ttl,
            shared.stop.clone(),
        ));
        Ok(RedisBroker {
            shared,
            publish: tx,
            pool,
        })
    }

    /// Document leases of this node, `ttl` long.
    pub fn leases(&self, ttl: Duration) -> Leases {
        Leases::new(
            self.pool.clone(),
            self.shared.node.clone(),
            self.shared.prefix.clone(),
            ttl,
        )
    }

    /// Per-user connection slots counted across the cluster.
    pub fn slots(&self) -> Slots {
        Slots::new(
            self.pool.clone(),
            self.shared.node.clone(),
            self.shared.prefix.clone(),
        )
    }

    /// This node's view of which nodes are alive (heartbeats `ttl` long).
    pub fn nodes(&self, ttl: Duration) -> crate::cluster::nodes::Nodes {
        crate::cluster::nodes::Nodes::new(
            self.pool.clone(),
            self.shared.node.clone(),
            self.shared.prefix.clone(),
            ttl,
        )
    }

    /// This node's id in the cluster.
    pub fn node(&self) -> &str {
        &self.shared.node
    }
}

impl Broker for RedisBroker {
    fn subscribe(&self, topic: Topic, handle: ConnectionHandle) {
        let id = handle.id;
        self.shared.local.subscribe(topic.clone(), handle);
        let mut interest = self.shared.interest();
        if interest.subscribe(topic.clone(), id) {
            self.shared.interest_changed(&topic, true);
        }
    }

    fn unsubscribe(&self, topic: Topic, connection: ConnectionId) {
        self.shared.local.unsubscribe(topic.clone(), connection);
        let mut interest = self.shared.interest();
        if interest.unsubscribe(&topic, connection) {
            self.shared.interest_changed(&topic, false);
        }
    }

    fn unsubscribe_all(&self, connection: ConnectionId) {
        self.shared.local.unsubscribe_all(connection);
        let mut interest = self.shared.interest();
        for topic in interest.unsubscribe_all(connection) {
            self.shared.interest_changed(&topic, false);
        }
    }

    fn publish(&self, topic: Topic, frame: Frame, except: Option<ConnectionId>) {
        let channel = cluster::channel(&self.shared.prefix, &topic);
        let payload = envelope::encode(&self.shared.node, &frame);
        self.shared.local.publish(topic, frame, except);
        if self.publish.try_send((channel, payload)).is_err() {
            metrics::counter!("tandem_redis_dropped_total", "reason" => "queue_full").increment(1);
        }
    }

    fn send_to(&self, handle: &ConnectionHandle, frame: Frame) {
        self.shared.local.send_to(handle, frame);
    }

    fn publish_all_tenants(&self, local: &[crate::ids::TenantId], frame: Frame) {
        let payload = envelope::encode(&self.shared.node, &frame);
        for tenant in local {
            self.shared
                .local
                .publish(Topic::Tenant(tenant.clone()), frame.clone(), None);
        }
        let channel = self.shared.all_channel.clone();
        if self.publish.try_send((channel, payload)).is_err() {
            metrics::counter!("tandem_redis_dropped_total", "reason" => "queue_full").increment(1);
        }
    }

    fn mailbox_depth(&self) -> Option<usize> {
        self.shared.local.mailbox_depth()
    }

    fn cluster(&self) -> Option<ClusterStatus> {
        Some(ClusterStatus {
            node: self.shared.node.clone(),
            redis_up: self.shared.subscriber_up.load(Ordering::Relaxed)
                && self.shared.publisher_up.load(Ordering::Relaxed),
            sessions: self.shared.sessions.load(Ordering::Relaxed),
        })
    }

    fn stop(&self) {
        self.shared.stop.cancel();
        // Graceful: the node's sockets stop counting at once, not after
        // `redis.node_ttl_ms`.
        let key = cluster::slots::node_key(&self.shared.prefix, &self.shared.node);
        let mut del = redis::pipe();
        del.cmd("DEL").arg(key).ignore();
        let pool = self.pool.clone();
        actix_rt::spawn(async move {
            let _ = run(&pool, &del).await;
        });
    }
}

/// Keeps one subscriber connection, reconnecting with backoff.
async fn subscriber(shared: Arc<Shared>, client: redis::Client, max_backoff: Duration) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = tokio::select! {
            _ = shared.stop.cancelled() => return,
            r = listen(&shared, &client) => r,
        };
        shared.subscriber_up.store(false, Ordering::Relaxed);
        match connected {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => log::warn!("Redis subscriber: {e}; retrying in {backoff:?}"),
        }
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(max_backoff);
    }
}

/// Runs one subscriber connection until it fails. `Ok` when it had been up
/// (the backoff restarts from its minimum).
async fn listen(shared: &Shared, client: &redis::Client) -> Result<(), String> {
    let pubsub = tokio::time::timeout(COMMAND_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let (mut sink, mut stream) = pubsub.split();
    tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(&shared.all_channel))
        .await
        .map_err(|_| "SUBSCRIBE timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let mut subscribed: HashSet<String> = HashSet::new();
    sync(shared, &mut sink, &mut subscribed).await?;
    shared.subscriber_up.store(true, Ordering::Relaxed);
    shared.sessions.fetch_add(1, Ordering::Relaxed);
    log::info!("Redis subscriber connected");
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            _ = shared.changed.notified() => {
                if let Err(e) = sync(shared, &mut sink, &mut subscribed).await {
                    log::warn!("Redis subscriber lost: {e}");
                    return Ok(());
                }
            }
            _ = ping.tick() => {
                let pong = tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await;
                if !matches!(pong, Ok(Ok(_))) {
                    log::warn!("Redis subscriber lost: no answer to PING");
                    return Ok(());
                }
            }
            msg = stream.next() => match msg {
                Some(msg) => receive(shared, msg.get_channel_name(), msg.get_payload_bytes()),
                None => {
                    log::warn!("Redis subscriber lost: connection closed");
                    return Ok(());
                }
            },
        }
    }
}

/// Brings the subscriber connection's channels up to date: every wanted
/// channel on a fresh connection (`subscribed` empty), else the channels
/// that changed since the last look.
async fn sync(
    shared: &Shared,
    sink: &mut redis::aio::PubSubSink,
    subscribed: &mut HashSet<String>,
) -> Result<(), String> {
    let changed: Vec<String> = {
        let mut dirty = shared.dirty.lock().unwrap_or_else(|p| p.into_inner());
        if subscribed.is_empty() {
            dirty.clear();
            shared.channels().keys().cloned().collect()
        } else {
            dirty.drain().collect()
        }
    };
    let (add, drop): (Vec<String>, Vec<String>) = {
        let wanted = shared.channels();
        let add = changed
            .iter()
            .filter(|c| wanted.contains_key(*c) && !subscribed.contains(*c))
            .cloned()
            .collect();
        let drop = changed
            .iter()
            .filter(|c| !wanted.contains_key(*c) && subscribed.contains(*c))
            .cloned()
            .collect();
        (add, drop)
    };
    for chunk in add.chunks(SUBSCRIBE_BATCH) {
        tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(chunk))
            .await
            .map_err(|_| "SUBSCRIBE timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        subscribed.extend(chunk.iter().cloned());
    }
    for chunk in drop.chunks(SUBSCRIBE_BATCH) {
        tokio::time::timeout(COMMAND_TIMEOUT, sink.unsubscribe(chunk))
            .await
            .map_err(|_| "UNSUBSCRIBE timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        for c in chunk {
            subscribed.remove(c);
        }
    }
    Ok(())
}

/// A message from another node: delivered to the local subscribers of its
/// topic, unless this node published it or no longer listens to it.
fn receive(shared: &Shared, channel: &str, payload: &[u8]) {
    let Some(env) = envelope::decode(payload) else {
        metrics::counter!("tandem_redis_dropped_total", "reason" => "malformed").increment(1);
        log::warn!("dropping a malformed frame from Redis channel {channel}");
        return;
    };
    if env.node == shared.node {
        return;
    }
    if channel == shared.all_channel {
        // Every tenant with a connection here.
        let tenants: Vec<Topic> = shared
            .interest()
            .topics()
            .filter(|t| matches!(t, Topic::Tenant(_)))
            .cloned()
            .collect();
        metrics::counter!("tandem_redis_received_total").increment(1);
        for topic in tenants {
            shared.local.publish(topic, env.frame.clone(), None);
        }
        return;
    }
    let Some(topic) = shared.channels().get(channel).cloned() else {
        return;
    };
    metrics::counter!("tandem_redis_received_total").increment(1);
    shared.local.publish(topic, env.frame, None);
}

/// Publishes queued frames in order, pipelining what is queued. After a
/// failure it pings Redis with backoff, dropping what is queued meanwhile,
/// until Redis answers again.
async fn publisher(
    shared: Arc<Shared>,
    pool: deadpool_redis::Pool,
    mut rx: mpsc::Receiver<(String, Vec<u8>)>,
    max_backoff: Duration,
) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut backoff = Duration::from_millis(100);
    loop {
        if !shared.publisher_up.load(Ordering::Relaxed) {
            tokio::select! {
                _ = shared.stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            let mut dropped = 0u64;
            while rx.try_recv().is_ok() {
                dropped += 1;
            }
            metrics::counter!("tandem_redis_dropped_total", "reason" => "unreachable")
                .increment(dropped);
            let mut ping = redis::pipe();
            ping.cmd("PING").ignore();
            if run(&pool, &ping).await.is_ok() {
                shared.publisher_up.store(true, Ordering::Relaxed);
                backoff = Duration::from_millis(100);
                log::info!("Redis publishing again");
            } else {
                backoff = (backoff * 2).min(max_backoff);
            }
            continue;
        }
        let n = tokio::select! {
            _ = shared.stop.cancelled() => return,
            n = rx.recv_many(&mut batch, PUBLISH_BATCH) => n,
        };
        if n == 0 {
            return;
        }
        let mut pipe = redis::pipe();
        for (channel, payload) in &batch {
            pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
        }
        batch.clear();
        match run(&pool, &pipe).await {
            Ok(()) => metrics::counter!("tandem_redis_published_total").increment(n as u64),
            Err(e) => {
                metrics::counter!("tandem_redis_dropped_total", "reason" => "unreachable")
                    .increment(n as u64);
                shared.publisher_up.store(false, Ordering::Relaxed);
                log::warn!("Redis publish failed, frames for other nodes dropped: {e}");
            }
        }
    }
}

/// Runs a pipeline on a pooled connection within [`COMMAND_TIMEOUT`].
async fn run(pool: &deadpool_redis::Pool, pipe: &redis::Pipeline) -> Result<(), String> {
    tokio::time::timeout(COMMAND_TIMEOUT, async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|_| Err("timed out".into()))
}
