//! Several nodes for the cluster tests: in-process nodes sharing one
//! PostgreSQL database and the real Redis at `TANDEM_TEST_REDIS_URL`, each
//! test under its own `redis.key_prefix` (so parallel tests never hear each
//! other), and nodes as real processes that can die with SIGKILL.

use super::*;
use deadpool_redis::redis;
use tandem::broker::Topic;

/// The Redis the tests use.
pub fn redis_url() -> String {
    std::env::var("TANDEM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A prefix no other test uses.
pub fn prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// Starts `n` nodes on one database and Redis prefix; `redis_urls[i]`
/// overrides node i's Redis URL (a proxy); `tweak` applies to every node.
pub async fn cluster_with(
    n: usize,
    prefix: &str,
    redis_urls: &[Option<String>],
    tweak: impl Fn(&mut Settings),
) -> Vec<TestApp> {
    let db = Arc::new(TestDb::create().await);
    let mut nodes = Vec::new();
    for i in 0..n {
        let mut s = test_settings(&db);
        s.auth.api_keys = vec![Secret::new(API_KEY)];
        let url = redis_urls
            .get(i)
            .cloned()
            .flatten()
            .unwrap_or_else(redis_url);
        s.redis.url = Secret::new(url);
        s.redis.key_prefix = prefix.to_owned();
        s.redis.reconnect_max_ms = 500;
        tweak(&mut s);
        nodes.push(spawn_app_on(s, db.clone()).await);
    }
    nodes
}

/// [`cluster_with`] with every node on the real Redis and no tweak.
pub async fn cluster(n: usize, prefix: &str) -> Vec<TestApp> {
    cluster_with(n, prefix, &[], |_| {}).await
}

/// A proxy to the test Redis that a test can cut, and the URL to give a
/// node instead of the real one.
pub fn redis_proxy() -> (cut_proxy::CutProxy, String) {
    let upstream = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = cut_proxy::CutProxy::start(upstream);
    let url = format!("redis://{}", proxy.addr);
    (proxy, url)
}

/// A connection to the test Redis.
pub async fn redis_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at TANDEM_TEST_REDIS_URL (see scripts/services.sh)")
}

/// How many nodes listen to a topic's channel.
pub async fn listeners(prefix: &str, topic: &Topic) -> i64 {
    let channel = tandem::cluster::channel(prefix, topic);
    let mut conn = redis_conn().await;
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&channel)
        .query_async(&mut conn)
        .await
        .unwrap();
    n
}

/// Waits (at most 10 s) until `n` nodes listen to `topic`.
pub async fn wait_listeners(prefix: &str, topic: &Topic, n: i64) {
    for _ in 0..400 {
        if listeners(prefix, topic).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{topic:?}: {} listeners, expected {n}",
        listeners(prefix, topic).await
    );
}

/// A request about the document of room (acme) invoice 7, the room the
/// document tests share; `extra`'s fields are added.
pub fn doc(kind: &str, extra: Value) -> Value {
    let mut v = json!({"type": kind, "entity_type": "invoice", "entity_id": "7"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// Joins invoice 7 and waits for `room:users`.
pub async fn join(c: &mut WsClient) {
    let users = c
        .request(
            json!({"type": "room:join", "entity_type": "invoice", "entity_id": "7"}),
            "join",
        )
        .await;
    assert_eq!(users["type"], "room:users", "{users}");
}

/// A user of acme connected to `node` and joined to invoice 7.
pub async fn joined(node: &TestApp, user: &str) -> WsClient {
    let mut c = node.connect_ready(user, "acme").await;
    join(&mut c).await;
    c
}

/// A node as a real `tandem` process (so it can die with SIGKILL, leaving
/// its Redis lease and subscriptions behind); killed on drop.
pub struct Process {
    child: std::process::Child,
    /// Where it listens.
    pub port: u16,
    config: std::path::PathBuf,
}

impl Process {
    pub fn start(db_url: &str, prefix: &str, lease_ms: u64, max_per_user: usize) -> Process {
        use std::io::BufRead;
        let config = std::env::temp_dir().join(format!(
            "tandem-cluster-{}-{}.toml",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let text = format!(
            r#"[server]
host = "127.0.0.1"
port = 0
workers = 1

[database]
url = "{db_url}"
pool_size = 4

[redis]
url = "{}"
key_prefix = "{prefix}"
document_lease_ms = {lease_ms}
node_ttl_ms = 3000

[websocket]
max_connections_per_user = {max_per_user}

[auth]
secret = "{SECRET}"
leeway_secs = 0
"#,
            redis_url()
        );
        std::fs::write(&config, text).unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("TANDEM_CONFIG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("TANDEM__") {
                cmd.env_remove(name);
            }
        }
        let mut child = cmd.spawn().expect("start the tandem binary");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.split("listening on port ").nth(1) {
                    let _ = tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .expect("the tandem process reports its port");
        Process {
            child,
            port,
            config,
        }
    }

    pub async fn connect(&self, settings: &tandem::config::Settings, user: &str) -> WsClient {
        let token = token_with(settings, user, "acme", None, 3600);
        let url = format!("ws://127.0.0.1:{}/ws", self.port);
        let mut c = WsClient::connect(&url, &[("Authorization", format!("Bearer {token}"))])
            .await
            .unwrap();
        c.recv_type("welcome").await;
        c
    }

    /// SIGKILL: no graceful cleanup of any kind.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}
