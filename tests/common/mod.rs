//! Test harness: the real server on port 0 against a fresh PostgreSQL
//! database per test (cloned from a migrated template), and real WebSocket
//! and HTTP clients.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod cluster;
pub mod cut_proxy;
pub mod yjs;

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tandem::actors::registry::{GetStats, RegistryStats};
use tandem::actors::Services;
use tandem::auth::{Authenticator, Claims};
use tandem::config::{Secret, Settings};
use tandem::startup::{Application, ShutdownHandle};
use tokio::sync::OnceCell;

/// The HS256 secret every test server uses.
pub const SECRET: &str = "test-secret-0123456789abcdef0123456789";

/// Admin URL for creating databases (role with CREATEDB).
pub fn admin_url() -> String {
    std::env::var("TANDEM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://tandem:tandem@127.0.0.1:5432/postgres".into())
}

/// The URL of database `name` on the same server as [`admin_url`].
pub fn db_url(name: &str) -> String {
    let admin = admin_url();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin);
    format!("{base}/{name}")
}

/// Runs one statement on the admin database.
pub async fn admin_exec(sql: &str) -> Result<(), diesel::result::Error> {
    let mut conn = AsyncPgConnection::establish(&admin_url())
        .await
        .expect("connect to the admin database (is PostgreSQL running? see scripts/services.sh)");
    diesel::sql_query(sql).execute(&mut conn).await.map(|_| ())
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A migrated template database, created once per test process and reused
/// by later runs while the migrations are unchanged.
async fn template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            // The role is part of the key: a database cloned from another
            // role's template holds tables this role may not write.
            let mut hash: u64 = 0xcbf29ce484222325;
            for byte in admin_url().bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3);
            }
            let mut dirs: Vec<_> =
                std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
            dirs.sort();
            for dir in dirs {
                // The directory name carries the version diesel records.
                let name = dir.file_name().unwrap().to_string_lossy().into_owned();
                for byte in name
                    .bytes()
                    .chain(std::fs::read(dir.join("up.sql")).unwrap_or_default())
                {
                    hash = (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3);
                }
            }
            let name = format!("tandem_tpl_{hash:016x}");
            let mut conn = AsyncPgConnection::establish(&admin_url())
                .await
                .expect("admin connection");
            #[derive(diesel::QueryableByName)]
            struct Exists {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                exists: bool,
            }
            let found: Exists = diesel::sql_query(format!(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}') AS exists"
            ))
            .get_result(&mut conn)
            .await
            .unwrap();
            if !found.exists {
                let tmp = format!("{name}_build_{}", std::process::id());
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {tmp}"))
                    .execute(&mut conn)
                    .await;
                diesel::sql_query(format!("CREATE DATABASE {tmp}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let db =
                    tandem::db::Db::new(&Secret::new(db_url(&tmp)), 1, Duration::from_secs(10))
                        .unwrap();
                db.run_migrations().await.unwrap();
                drop(db);
                // Another process may have won the race; then use theirs.
                let renamed = retry(
                    || diesel::sql_query(format!("ALTER DATABASE {tmp} RENAME TO {name}")),
                    &mut conn,
                )
                .await;
                if renamed.is_err() {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {tmp} WITH (FORCE)"))
                            .execute(&mut conn)
                            .await;
                }
            }
            name
        })
        .await
        .clone()
}

/// Runs a statement, retrying while the source database still has sessions.
async fn retry<F>(make: F, conn: &mut AsyncPgConnection) -> Result<(), diesel::result::Error>
where
    F: Fn() -> diesel::query_builder::SqlQuery,
{
    let mut last = None;
    for _ in 0..50 {
        match make().execute(conn).await {
            Ok(_) => return Ok(()),
            Err(e) if e.to_string().contains("being accessed by other users") => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(diesel::result::Error::NotFound))
}

/// A fresh database cloned from the template; dropped when the guard drops.
pub struct TestDb {
    /// Database name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

impl TestDb {
    /// Creates the database.
    pub async fn create() -> TestDb {
        let template = template().await;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = AsyncPgConnection::establish(&admin_url()).await.unwrap();
        let sql = format!("CREATE DATABASE {name} TEMPLATE {template}");
        retry(|| diesel::sql_query(sql.clone()), &mut conn)
            .await
            .unwrap();
        TestDb {
            url: db_url(&name),
            name,
        }
    }

    /// A connection to it.
    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop on a separate thread: Drop cannot await on the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let _ = admin_exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
            });
        })
        .join();
    }
}

/// Settings for a test server: port 0, one worker, short timeouts.
pub fn test_settings(db: &TestDb) -> Settings {
    let mut s = Settings::default();
    s.server.port = 0;
    s.server.workers = 1;
    s.server.allowed_origins = vec!["http://allowed.example".into()];
    s.server.shutdown_grace_secs = 5;
    s.database.url = Secret::new(db.url.clone());
    s.database.pool_size = 4;
    s.auth.secret = Secret::new(SECRET);
    s.auth.leeway_secs = 0;
    s.presence.offline_grace_ms = 300;
    s.rooms.idle_stop_secs = 1;
    s
}

/// A running server.
pub struct TestApp {
    /// Bound port.
    pub port: u16,
    /// Its settings.
    pub settings: Settings,
    /// Node services (registry statistics).
    pub services: Arc<Services>,
    /// Triggers a graceful shutdown.
    pub shutdown: ShutdownHandle,
    /// Its database (dropped with the last app using it).
    pub db: Arc<TestDb>,
}

/// Starts a server with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `tweak` adjusts the settings.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let db = Arc::new(TestDb::create().await);
    let mut settings = test_settings(&db);
    tweak(&mut settings);
    spawn_app_on(settings, db).await
}

/// Starts a server on an existing database (a restart keeps the data).
pub async fn spawn_app_on(settings: Settings, db: Arc<TestDb>) -> TestApp {
    let _ = env_logger::builder().is_test(true).try_init();
    settings.validate().expect("test settings valid");
    let app = Application::build(settings.clone())
        .await
        .expect("server builds");
    let port = app.port();
    let services = app.services();
    let shutdown = app.shutdown_handle();
    actix_rt::spawn(app.run_until_stopped());
    TestApp {
        port,
        settings,
        services,
        shutdown,
        db,
    }
}

impl Drop for TestApp {
    /// Stops the server's actor threads: their actors hold the services, so
    /// they would otherwise outlive the test's actix system.
    fn drop(&mut self) {
        self.services.pool.stop();
    }
}

impl TestApp {
    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// `ws://127.0.0.1:port/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// A token for a user of a tenant, valid `ttl` seconds.
    pub fn token(&self, user: &str, tenant: &str) -> String {
        token_with(&self.settings, user, tenant, None, 3600)
    }

    /// Connects a user with a token in the Authorization header.
    pub async fn connect(&self, user: &str, tenant: &str) -> WsClient {
        let token = self.token(user, tenant);
        WsClient::connect(
            &self.ws_url(),
            &[("Authorization", format!("Bearer {token}"))],
        )
        .await
        .unwrap_or_else(|e| panic!("connect failed: {e}"))
    }

    /// Connects and reads `welcome` and the initial `presence:list`.
    pub async fn connect_ready(&self, user: &str, tenant: &str) -> WsClient {
        let mut c = self.connect(user, tenant).await;
        c.recv_type("welcome").await;
        c.recv_type("presence:list").await;
        c
    }

    /// Connects with `?presence=none` (interest mode: no roster on
    /// connect) and reads the welcome.
    pub async fn connect_interest(&self, user: &str, tenant: &str) -> WsClient {
        let token = self.token(user, tenant);
        let mut c = WsClient::connect(
            &format!("{}?token={token}&presence=none", self.ws_url()),
            &[],
        )
        .await
        .unwrap();
        c.recv_type("welcome").await;
        c
    }

    /// Registry counts.
    pub async fn stats(&self) -> RegistryStats {
        self.services.registry.send(GetStats).await.unwrap()
    }

    /// Polls `check` on the registry stats until it holds (at most 10 s).
    pub async fn wait_stats(&self, check: impl Fn(&RegistryStats) -> bool) -> RegistryStats {
        for _ in 0..200 {
            let s = self.stats().await;
            if check(&s) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("stats never matched: {:?}", self.stats().await);
    }

    /// A GET with an optional bearer token; returns status and JSON body.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = awc::Client::new().get(self.url(path));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let mut resp = req.send().await.unwrap();
        let body = resp.body().await.unwrap();
        (
            resp.status().as_u16(),
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    }

    /// A request with a JSON body.
    pub async fn send_json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = awc::Client::new().request(method, self.url(path));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let mut resp = req.send_json(body).await.unwrap();
        let body = resp.body().await.unwrap();
        (
            resp.status().as_u16(),
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    }

    /// An upgrade attempt over a raw TCP socket (so no client rewrites the
    /// headers): the status, and the JSON body when it was refused.
    pub async fn refused_upgrade(
        &self,
        path_and_query: &str,
        headers: &[(&str, String)],
    ) -> (u16, Value) {
        refused_upgrade_at(self.port, path_and_query, headers).await
    }
}

/// [`TestApp::refused_upgrade`] on a server at `port` (a spawned binary).
pub async fn refused_upgrade_at(
    port: u16,
    path_and_query: &str,
    headers: &[(&str, String)],
) -> (u16, Value) {
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut req = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            port
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = tokio::time::timeout(RECV_TIMEOUT, stream.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "connection closed before a response");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = tokio::time::timeout(RECV_TIMEOUT, stream.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "connection closed inside the body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
        (status, body)
    }
}

/// Signs a token for the test secret.
pub fn token_with(
    settings: &Settings,
    user: &str,
    tenant: &str,
    role: Option<&str>,
    ttl: i64,
) -> String {
    let claims = Claims {
        sub: user.into(),
        tenant_id: tenant.into(),
        name: Some(format!("{user} name")),
        role: role.map(Into::into),
        exp: Some(tandem::auth::now_secs() + ttl),
        iat: None,
        iss: settings.auth.issuer.clone(),
        aud: settings.auth.audience.clone(),
    };
    Authenticator::issue(&settings.auth, &claims).unwrap()
}

/// How long a receive waits before the test fails.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// A WebSocket client speaking the JSON protocol.
pub struct WsClient {
    framed: Framed<BoxedSocket, Codec>,
    /// Response headers of the upgrade.
    pub headers: awc::http::header::HeaderMap,
}

/// How a socket ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    /// A close frame with this code.
    Close(Option<u16>),
    /// The stream ended or failed without a close frame.
    Eof,
}

impl WsClient {
    /// Opens a socket with extra headers.
    pub async fn connect(
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<WsClient, awc::error::WsClientError> {
        let mut req = awc::Client::builder()
            .timeout(Duration::from_secs(10))
            .finish()
            .ws(url)
            .max_frame_size(4 * 1024 * 1024);
        for (k, v) in headers {
            req = req.set_header(*k, v.as_str());
        }
        let (resp, framed) = req.connect().await?;
        Ok(WsClient {
            framed,
            headers: resp.headers().clone(),
        })
    }

    /// Sends a JSON value as a text frame.
    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends a JSON value; false when the server has already closed the
    /// connection (a flood test keeps sending until then).
    pub async fn send_unless_closed(&mut self, value: Value) -> bool {
        self.framed
            .send(Message::Text(value.to_string().into()))
            .await
            .is_ok()
    }

    /// Sends JSON values as text frames in one write, so the server reads
    /// them together (no server-side work can run between them).
    pub async fn send_together(&mut self, values: &[Value]) {
        for v in values {
            self.framed
                .feed(Message::Text(v.to_string().into()))
                .await
                .unwrap();
        }
        self.framed.flush().await.unwrap();
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.framed
            .send(Message::Text(text.to_owned().into()))
            .await
            .unwrap();
    }

    /// Sends one fragment of a fragmented message; the bytes are sent as
    /// given (a text fragment need not be valid UTF-8).
    pub async fn send_fragment(&mut self, item: actix_http::ws::Item) {
        self.framed.send(Message::Continuation(item)).await.unwrap();
    }

    /// Writes one complete, masked frame with this opcode and payload
    /// straight to the socket, bypassing the codec (which only sends text
    /// that is valid UTF-8).
    pub async fn send_raw_frame(&mut self, opcode: u8, payload: &[u8]) {
        use actix_codec::AsyncWrite;
        use std::pin::Pin;
        assert!(payload.len() < 126, "short frames only");
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        let io = self.framed.io_mut();
        let mut written = 0;
        while written < frame.len() {
            written += futures_util::future::poll_fn(|cx| {
                Pin::new(&mut *io).poll_write(cx, &frame[written..])
            })
            .await
            .unwrap();
        }
        futures_util::future::poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx))
            .await
            .unwrap();
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.framed
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .unwrap();
    }

    /// Next binary frame (answering pings; text frames are skipped), or
    /// panics when the socket closes or after the timeout.
    pub async fn recv_binary(&mut self) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.framed.next())
                .await
                .unwrap_or_else(|_| panic!("no binary frame within {RECV_TIMEOUT:?}"))
                .expect("socket ended");
            match frame {
                Ok(Frame::Binary(bytes)) => return bytes.to_vec(),
                Ok(Frame::Ping(p)) => {
                    let _ = self.framed.send(Message::Pong(p)).await;
                }
                Ok(Frame::Close(reason)) => panic!("socket closed: {reason:?}"),
                Ok(_) => {}
                Err(e) => panic!("socket error: {e}"),
            }
        }
    }

    /// Next binary frame within `wait` (answering pings; text frames are
    /// skipped), or None; panics when the socket closes.
    pub async fn try_recv_binary(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.framed.next())
                .await
                .ok()?
                .expect("socket ended");
            match frame {
                Ok(Frame::Binary(bytes)) => return Some(bytes.to_vec()),
                Ok(Frame::Ping(p)) => {
                    let _ = self.framed.send(Message::Pong(p)).await;
                }
                Ok(Frame::Close(reason)) => panic!("socket closed: {reason:?}"),
                Ok(_) => {}
                Err(e) => panic!("socket error: {e}"),
            }
        }
    }

    /// Next JSON message (answering pings), or panics after the timeout.
    pub async fn recv(&mut self) -> Value {
        self.try_recv(RECV_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("no message within {RECV_TIMEOUT:?}"))
    }

    /// Next text frame as it was sent (answering pings).
    pub async fn recv_text(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.framed.next())
                .await
                .unwrap_or_else(|_| panic!("no message within {RECV_TIMEOUT:?}"))
                .expect("socket ended");
            match frame {
                Ok(Frame::Text(bytes)) => return String::from_utf8(bytes.to_vec()).unwrap(),
                Ok(Frame::Ping(p)) => {
                    let _ = self.framed.send(Message::Pong(p)).await;
                }
                Ok(Frame::Close(reason)) => panic!("socket closed: {reason:?}"),
                Ok(_) => {}
                Err(e) => panic!("socket error: {e}"),
            }
        }
    }

    /// Reads for `wait` (answering pings, skipping messages); the number of
    /// pings the server sent in that time.
    pub async fn pings_within(&mut self, wait: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + wait;
        let mut pings = 0;
        while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, self.framed.next()).await {
            match frame {
                Ok(Frame::Ping(p)) => {
                    pings += 1;
                    let _ = self.framed.send(Message::Pong(p)).await;
                }
                Ok(Frame::Close(reason)) => panic!("socket closed: {reason:?}"),
                Ok(_) => {}
                Err(e) => panic!("socket error: {e}"),
            }
        }
        pings
    }

    /// Next JSON message within `wait`, or None.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.framed.next())
                .await
                .ok()??;
            match frame {
                Ok(Frame::Text(bytes)) => return Some(serde_json::from_slice(&bytes).unwrap()),
                Ok(Frame::Ping(p)) => {
                    let _ = self.framed.send(Message::Pong(p)).await;
                }
                Ok(Frame::Close(reason)) => panic!("socket closed: {reason:?}"),
                Ok(_) => {}
                Err(e) => panic!("socket error: {e}"),
            }
        }
    }

    /// Reads until a message of `kind` arrives (others are skipped).
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_recv(left).await {
                Some(v) if v["type"] == kind => return v,
                Some(_) => {}
                None => panic!("no `{kind}` within {RECV_TIMEOUT:?}"),
            }
        }
    }

    /// Reads until a message matching `pred` arrives.
    pub async fn recv_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.recv_where_within(what, RECV_TIMEOUT, pred).await
    }

    /// The first message matching `pred` within `wait` (others are skipped);
    /// panics naming `what` when none comes.
    pub async fn recv_where_within(
        &mut self,
        what: &str,
        wait: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_recv(left).await {
                Some(v) if pred(&v) => return v,
                Some(_) => {}
                None => panic!("no message matching {what} within {wait:?}"),
            }
        }
    }

    /// Collects every message of `kind` arriving within `wait`.
    pub async fn collect_type(&mut self, kind: &str, wait: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return out;
            }
            match self.try_recv(left).await {
                Some(v) if v["type"] == kind => out.push(v),
                Some(_) => {}
                None => return out,
            }
        }
    }

    /// A request with a `ref`; returns the reply carrying that ref.
    pub async fn request(&mut self, mut msg: Value, r#ref: &str) -> Value {
        msg["ref"] = json!(r#ref);
        self.send(msg).await;
        self.recv_where(&format!("ref {ref}"), |v| v["ref"] == r#ref)
            .await
    }

    /// Joins a room until its `cursor:sync` satisfies `ready`, leaving and
    /// joining again while it does not (state another connection changed is
    /// applied by the room after that connection's ack, so a join may come
    /// first). Returns the `room:users` reply and the `cursor:sync`.
    pub async fn join_until_cursors(
        &mut self,
        join: Value,
        ready: impl Fn(&Value) -> bool,
    ) -> (Value, Value) {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        let mut leave = join.clone();
        leave["type"] = json!("room:leave");
        for attempt in 0.. {
            let users = self.request(join.clone(), &format!("join-{attempt}")).await;
            let sync = self.recv_type("cursor:sync").await;
            if ready(&sync) {
                return (users, sync);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "cursor:sync never became ready: {sync}"
            );
            self.request(leave.clone(), &format!("leave-{attempt}"))
                .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        unreachable!("the loop returns or panics")
    }

    /// The next JSON message, or how the socket ended (pings answered).
    pub async fn recv_or_end(&mut self, wait: Duration) -> Result<Value, Ended> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Err(_) => panic!("nothing within {wait:?}"),
                Ok(None) | Ok(Some(Err(_))) => return Err(Ended::Eof),
                Ok(Some(Ok(Frame::Close(reason)))) => {
                    return Err(Ended::Close(reason.map(|r| u16::from(r.code))))
                }
                Ok(Some(Ok(Frame::Text(bytes)))) => {
                    return Ok(serde_json::from_slice(&bytes).unwrap())
                }
                Ok(Some(Ok(Frame::Ping(p)))) => {
                    let _ = self.framed.send(Message::Pong(p)).await;
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Reads (discarding messages, answering nothing) until the socket ends.
    pub async fn ended(&mut self, wait: Duration) -> Ended {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Err(_) => panic!("socket still open after {wait:?}"),
                Ok(None) | Ok(Some(Err(_))) => return Ended::Eof,
                Ok(Some(Ok(Frame::Close(reason)))) => {
                    return Ended::Close(reason.map(|r| u16::from(r.code)))
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Closes normally.
    pub async fn close(mut self) {
        let _ = self.framed.send(Message::Close(None)).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(f)) = self.framed.next().await {
                if matches!(f, Frame::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

// ---- Notifications, activity, SSE and service calls ----

/// The API key [`spawn_app_with_api_key`] configures.
pub const API_KEY: &str = "test-api-key-0123456789";

/// Starts a server that also accepts [`API_KEY`] as a service API key.
pub async fn spawn_app_with_api_key(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.auth.api_keys = vec![Secret::new(API_KEY)];
        tweak(s);
    })
    .await
}

impl TestApp {
    /// A token with role `service` for a tenant.
    pub fn service_token(&self, tenant: &str) -> String {
        token_with(
            &self.settings,
            "billing-service",
            tenant,
            Some("service"),
            3600,
        )
    }

    /// Any request with extra headers and an optional JSON body; returns
    /// the status and the JSON body (Null when empty or not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = awc::Client::new().request(method, self.url(path));
        for (k, v) in headers {
            req = req.insert_header((*k, v.as_str()));
        }
        let mut resp = match body {
            Some(b) => req.send_json(b).await.unwrap(),
            None => req.send().await.unwrap(),
        };
        let bytes = resp.body().limit(16 * 1024 * 1024).await.unwrap();
        (
            resp.status().as_u16(),
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// `POST /api/v1/notifications` as a service of `tenant`.
    pub async fn post_notification(&self, tenant: &str, body: Value) -> (u16, Value) {
        let token = self.service_token(tenant);
        self.send_json("POST", "/api/v1/notifications", Some(&token), &body)
            .await
    }

    /// Creates a notification for one user and returns its id (asserts 201).
    pub async fn notify(&self, tenant: &str, user: &str, title: &str) -> i64 {
        let (status, body) = self
            .post_notification(
                tenant,
                json!({"user_ids": [user], "type": "mention", "title": title}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["ids"][0].as_i64().unwrap()
    }

    /// `POST /api/v1/activity` as a service of `tenant`.
    pub async fn post_activity(&self, tenant: &str, body: Value) -> (u16, Value) {
        let token = self.service_token(tenant);
        self.send_json("POST", "/api/v1/activity", Some(&token), &body)
            .await
    }

    /// Opens `GET /api/v1/stream{query}` with extra headers.
    pub async fn sse(&self, query: &str, headers: &[(&str, String)]) -> SseClient {
        SseClient::connect(&self.url(&format!("/api/v1/stream{query}")), headers)
            .await
            .unwrap_or_else(|(status, body)| panic!("stream refused: {status} {body}"))
    }
}

/// One item of an event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum SseItem {
    /// An event.
    Event {
        /// `id:` field, if any.
        id: Option<String>,
        /// `event:` field (`message` when absent).
        event: String,
        /// `data:` lines joined with `\n`.
        data: String,
    },
    /// A comment line (`: keep-alive`).
    Comment(String),
}

/// A Server-Sent Events reader over awc's streaming body.
pub struct SseClient {
    resp: awc::ClientResponse,
    buf: Vec<u8>,
    /// Response headers.
    pub headers: awc::http::header::HeaderMap,
    items: std::collections::VecDeque<SseItem>,
}

impl SseClient {
    /// Connects; `Err((status, json))` when the server refused.
    pub async fn connect(url: &str, headers: &[(&str, String)]) -> Result<SseClient, (u16, Value)> {
        let client = awc::Client::builder().disable_timeout().finish();
        let mut req = client
            .get(url)
            .insert_header(("Accept", "text/event-stream"));
        for (k, v) in headers {
            req = req.insert_header((*k, v.as_str()));
        }
        let mut resp = req.send().await.unwrap();
        if resp.status().as_u16() != 200 {
            let body = resp.body().await.unwrap_or_default();
            return Err((
                resp.status().as_u16(),
                serde_json::from_slice(&body).unwrap_or(Value::Null),
            ));
        }
        Ok(SseClient {
            headers: resp.headers().clone(),
            resp,
            buf: Vec::new(),
            items: Default::default(),
        })
    }

    fn parse_blocks(&mut self) {
        while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = self.buf.drain(..end + 2).collect();
            let text = String::from_utf8(block).unwrap();
            let (mut id, mut event, mut data): (Option<String>, Option<String>, Vec<String>) =
                (None, None, Vec::new());
            for line in text.lines() {
                if let Some(c) = line.strip_prefix(':') {
                    self.items.push_back(SseItem::Comment(c.trim().to_owned()));
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim_start().to_owned());
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim_start().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.trim_start().to_owned());
                }
            }
            if !data.is_empty() {
                self.items.push_back(SseItem::Event {
                    id,
                    event: event.unwrap_or_else(|| "message".into()),
                    data: data.join("\n"),
                });
            }
        }
    }

    /// The next item within `wait`; None on timeout or end of stream.
    pub async fn next_item(&mut self, wait: Duration) -> Option<SseItem> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(item) = self.items.pop_front() {
                return Some(item);
            }
            match tokio::time::timeout_at(deadline, self.resp.next()).await {
                Ok(Some(Ok(chunk))) => {
                    self.buf.extend_from_slice(&chunk);
                    self.parse_blocks();
                }
                Ok(Some(Err(_))) | Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next event (comments skipped) as (id, event, JSON data); panics
    /// after [`RECV_TIMEOUT`].
    pub async fn next_event(&mut self) -> (Option<String>, String, Value) {
        self.try_next_event(RECV_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("no SSE event within {RECV_TIMEOUT:?}"))
    }

    /// The next event within `wait`, comments skipped.
    pub async fn try_next_event(
        &mut self,
        wait: Duration,
    ) -> Option<(Option<String>, String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_item(left).await? {
                SseItem::Event { id, event, data } => {
                    return Some((id, event, serde_json::from_str(&data).unwrap()))
                }
                SseItem::Comment(_) => {}
            }
        }
    }

    /// Reads events until one named `event` arrives (others skipped).
    pub async fn next_named(&mut self, event: &str) -> (Option<String>, Value) {
        loop {
            let (id, name, data) = self.next_event().await;
            if name == event {
                return (id, data);
            }
        }
    }

    /// True when the stream ends (EOF) within `wait`.
    pub async fn ended(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.resp.next()).await {
                Ok(Some(Ok(chunk))) => {
                    self.buf.extend_from_slice(&chunk);
                    self.parse_blocks();
                }
                Ok(Some(Err(_))) | Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }
}

/// The user's entry in a `presence:diff` (`joined` or `updated`).
pub fn entry(v: &Value, user: &str) -> Option<Value> {
    if v["type"] != "presence:diff" {
        return None;
    }
    ["joined", "updated"].iter().find_map(|k| {
        v[*k]
            .as_array()?
            .iter()
            .find(|e| e["user_id"] == user)
            .cloned()
    })
}

/// The user went offline in this `presence:diff`.
pub fn left(v: &Value, user: &str) -> bool {
    v["type"] == "presence:diff"
        && v["left"]
            .as_array()
            .is_some_and(|a| a.iter().any(|u| u == user))
}
