//! Load benchmarks: `cargo bench --bench load`.
//!
//! Starts the release `tandem` binary (a fresh server per scenario) against a
//! fresh PostgreSQL database and drives it over loopback WebSockets:
//!
//! - **fan-out**: `BENCH_RECEIVERS` (200) receivers and one sender in one
//!   room; the sender sends `BENCH_MESSAGES` (2000) `room:broadcast` messages
//!   at `BENCH_RATE` (200) per second, each carrying its send time; reports
//!   delivery latency percentiles and the server's CPU time per delivery.
//! - **idle memory**: `BENCH_IDLE` (2000) idle authenticated sockets
//!   (`BENCH_IDLE_PER_USER`, default 16, per user; one tenant per user);
//!   reports the server's RSS and descriptor growth per socket, then the server's CPU
//!   (utime + stime from /proc/<pid>/stat) over `BENCH_IDLE_SECS` (30)
//!   seconds of idleness, as a percentage of one core (pings answered).
//! - **document edits**: one editor sends `BENCH_EDITS` (1000) sequential
//!   `doc:edit` ops, each waiting for its ack (stored in PostgreSQL first),
//!   while an observer receives them; then `BENCH_EDITORS` (4) editors
//!   share `BENCH_EDITS` edits concurrently on one field.
//! - **many documents** (`manydocs`): `BENCH_DOCS` (100) documents with
//!   `BENCH_DOC_EDITORS` (5) editors each (one tenant per document), every
//!   editor keeping one edit in flight for `BENCH_DOC_SECS` (10) seconds;
//!   reports acked edits/s over all documents, ack p50/p99, server CPU per
//!   edit, and checks every document's final revision against its acks.
//!
//! - **presence storm**: `BENCH_STORM` (2000) users connect into ONE tenant
//!   (100 at a time), each counting the frames it receives; reports
//!   connections/s, server CPU per connect, frames per connection, RSS per
//!   connection; then every socket closes and reconnects at once (a reconnect
//!   storm: time to reconnect, and whether a watcher saw anyone go offline);
//!   then all leave, and the server's RSS is read again (memory given back).
//!   `BENCH_ROSTER_MAX` sets `presence.tenant_roster_max` (default 500);
//!   `BENCH_STORM_ROOM=1` makes every user also join one shared room (and
//!   rejoin it in the reconnect storm); `BENCH_ROOM_WATCH_MAX` and
//!   `BENCH_USERS_LIST_MAX` set `presence.room_watch_max` and
//!   `rooms.users_list_max` (default 100 each, as shipped).
//!
//! - **rooms** (`rooms`, not in the default list): the actor pool under room
//!   fan-out, for each of `BENCH_ACTOR_THREADS` (`1,2,0`; passed to the
//!   server as `TANDEM__SERVER__ACTOR_THREADS`): one room of
//!   `BENCH_BIG_ROOM` (1000) members at `BENCH_BIG_RATE` (20) broadcasts/s,
//!   and `BENCH_ROOMS` (500) rooms of `BENCH_ROOM_SIZE` (20) members at
//!   `BENCH_ROOM_RATE` (2) broadcasts/s each (`BENCH_ROOMS_PER_SOCKET`, 4,
//!   rooms share each socket), for `BENCH_ROOMS_SECS` (10)
//!   seconds; reports deliveries/s, latency p50/p99 and server CPU
//!   (`load/rooms.rs`).
//!
//! - **cluster**: the Redis hop (`load/cluster.rs` says how): team activity
//!   to `BENCH_MEMBERS` (1000) sockets on one node, then spread over 3 nodes.
//!
//! Other knobs: `BENCH_SCENARIOS` (`fanout,idle,docs,manydocs,presence,cluster`;
//! add `rooms` to run it),
//! `BENCH_PING_SECS` (30, the default `websocket.ping_interval_secs`; the client
//! timeout is three times that, at least the default 45 s),
//! `BENCH_TANDEM` (the server binary to start; default the one cargo built,
//! so an older build can be measured with the same bench),
//! `TANDEM_BENCH_DATABASE_URL` (a role that may create databases; else
//! `TANDEM_TEST_DATABASE_URL`, else
//! `postgres://tandem:tandem@127.0.0.1:5432/postgres`), `RUST_LOG` for the
//! server (default `info`). Results are printed and written to
//! `$CARGO_TARGET_DIR/bench-results.md` (default `target/`).
//!
//! Without the `--bench` argument (`cargo test --all-targets` runs this
//! binary too) every scenario runs once with tiny sizes, as a smoke test,
//! and no results file is written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "load/cluster.rs"]
mod cluster;
#[path = "load/rooms.rs"]
mod rooms;

type Ws = Framed<BoxedSocket, Codec>;

/// The HS256 secret of the bench server.
const SECRET: &str = "bench-secret-0123456789abcdef0123456789";

// ---------------------------------------------------------------- clocks --

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds on a monotonic clock shared by the whole bench process.
fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Clock ticks per second for /proc/<pid>/stat.
fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat_cpu_ticks(&stat).unwrap() as f64 / clk_tck()
}

/// utime + stime, in clock ticks, from the text of a `/proc/<pid>/stat`.
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name may contain spaces: fields start after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let field = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(field(11)? + field(12)?)
}

/// CPU seconds of every process named `postgres` on this machine (the
/// database the server writes to shares its cores), skipping any that exit
/// while being read.
fn postgres_cpu_secs() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if stat.get(open + 1..close) == Some("postgres") {
            ticks += stat_cpu_ticks(&stat).unwrap_or(0);
        }
    }
    ticks as f64 / clk_tck()
}

/// VmRSS of a process, in KiB.
fn rss_kb(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Open file descriptors of a process.
fn open_fds(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

// ---------------------------------------------------------------- params --

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}")),
        Err(_) => default,
    }
}

struct Params {
    quick: bool,
    receivers: usize,
    messages: usize,
    rate: usize,
    idle: usize,
    idle_per_user: usize,
    idle_secs: usize,
    edits: usize,
    editors: usize,
    docs: usize,
    doc_editors: usize,
    doc_secs: usize,
    storm: usize,
    roster_max: usize,
    /// Storm users also join one shared room (`BENCH_STORM_ROOM=1`).
    storm_room: bool,
    /// `presence.room_watch_max` for the storm (`BENCH_ROOM_WATCH_MAX`).
    room_watch_max: usize,
    /// `rooms.users_list_max` for the storm (`BENCH_USERS_LIST_MAX`).
    users_list_max: usize,
    actor_threads: Vec<usize>,
    big_room: usize,
    big_rate: usize,
    rooms: usize,
    room_size: usize,
    room_rate: usize,
    rooms_per_socket: usize,
    rooms_secs: usize,
    scenarios: Vec<String>,
}

impl Params {
    /// `quick`: tiny sizes and short pauses (a smoke run under `cargo test`).
    fn from_env(quick: bool) -> Params {
        let size = |full: usize, small: usize| if quick { small } else { full };
        Params {
            quick,
            receivers: env_usize("BENCH_RECEIVERS", size(200, 5)),
            messages: env_usize("BENCH_MESSAGES", size(2000, 20)),
            rate: env_usize("BENCH_RATE", 200).max(1),
            idle: env_usize("BENCH_IDLE", size(2000, 20)),
            idle_per_user: env_usize("BENCH_IDLE_PER_USER", 16).max(1),
            idle_secs: env_usize("BENCH_IDLE_SECS", size(30, 1)).max(1),
            edits: env_usize("BENCH_EDITS", size(1000, 20)),
            editors: env_usize("BENCH_EDITORS", 4).max(1),
            docs: env_usize("BENCH_DOCS", size(100, 2)).max(1),
            doc_editors: env_usize("BENCH_DOC_EDITORS", size(5, 2)).max(1),
            doc_secs: env_usize("BENCH_DOC_SECS", size(10, 1)).max(1),
            storm: env_usize("BENCH_STORM", size(2000, 12)),
            storm_room: env_usize("BENCH_STORM_ROOM", 0) != 0,
            room_watch_max: env_usize("BENCH_ROOM_WATCH_MAX", 100).max(1),
            users_list_max: env_usize("BENCH_USERS_LIST_MAX", 100).max(1),
            roster_max: env_usize("BENCH_ROSTER_MAX", if quick { 5 } else { 500 }),
            actor_threads: std::env::var("BENCH_ACTOR_THREADS")
                .unwrap_or_else(|_| if quick { "2".into() } else { "1,2,0".into() })
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("BENCH_ACTOR_THREADS: not a number: {s:?}"))
                })
                .collect(),
            big_room: env_usize("BENCH_BIG_ROOM", size(1000, 5)).max(2),
            big_rate: env_usize("BENCH_BIG_RATE", 20).max(1),
            rooms: env_usize("BENCH_ROOMS", size(500, 3)).max(1),
            room_size: env_usize("BENCH_ROOM_SIZE", size(20, 3)).max(2),
            room_rate: env_usize("BENCH_ROOM_RATE", 2).max(1),
            rooms_per_socket: env_usize("BENCH_ROOMS_PER_SOCKET", size(4, 2)).max(1),
            rooms_secs: env_usize("BENCH_ROOMS_SECS", size(10, 1)).max(1),
            scenarios: std::env::var("BENCH_SCENARIOS")
                .unwrap_or_else(|_| "fanout,idle,docs,manydocs,presence,cluster".into())
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }

    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }

    /// Waits for traffic to settle (a tenth of it in a smoke run).
    async fn settle(&self, secs: u64) {
        let d = Duration::from_secs(secs);
        tokio::time::sleep(if self.quick { d / 10 } else { d }).await;
    }
}

// -------------------------------------------------------------- database --

fn admin_url() -> String {
    std::env::var("TANDEM_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("TANDEM_TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://tandem:tandem@127.0.0.1:5432/postgres".into())
}

fn db_url(name: &str) -> String {
    let admin = admin_url();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin);
    format!("{base}/{name}")
}

async fn admin_exec(sql: &str) -> Result<(), String> {
    let mut conn = AsyncPgConnection::establish(&admin_url())
        .await
        .map_err(|e| format!("connect to {}: {e} (is PostgreSQL running?)", admin_url()))?;
    diesel::sql_query(sql)
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| format!("{sql}: {e}"))
}

/// A fresh, empty database (the server migrates it); dropped on drop.
struct BenchDb {
    name: String,
}

impl BenchDb {
    async fn create() -> BenchDb {
        let name = format!("tandem_bench_{}", uuid::Uuid::new_v4().simple());
        admin_exec(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        BenchDb { name }
    }

    fn url(&self) -> String {
        db_url(&self.name)
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await on the bench's runtime: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            if let Err(e) = rt.block_on(admin_exec(&format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            ))) {
                eprintln!("bench: could not drop database {name}: {e}");
            }
        })
        .join();
    }
}

// ---------------------------------------------------------------- server --

/// The `tandem` binary running as a child process; killed on drop.
struct Server {
    child: Child,
    pid: String,
    port: u16,
    /// WARN/ERROR lines the server logged (the first 20) and their count.
    problems: Arc<Mutex<(Vec<String>, usize)>>,
    config: PathBuf,
}

impl Server {
    fn start(db_url: &str, tag: &str) -> Server {
        Server::start_with(db_url, tag, "")
    }

    /// Starts with extra config sections appended.
    fn start_with(db_url: &str, tag: &str, extra: &str) -> Server {
        Server::start_env(db_url, tag, extra, &[])
    }

    /// Starts with extra config sections and `TANDEM__*` overrides.
    fn start_env(db_url: &str, tag: &str, extra: &str, env: &[(&str, String)]) -> Server {
        let config =
            std::env::temp_dir().join(format!("tandem-bench-{}-{tag}.toml", std::process::id()));
        let ping_secs = env_usize("BENCH_PING_SECS", 30).max(1);
        let timeout_secs = (ping_secs * 3).max(45);
        let text = format!(
            r#"[server]
host = "127.0.0.1"
port = 0
workers = 2
shutdown_grace_secs = 1

[websocket]
max_connections_per_user = 100000
outbound_queue_limit = 65536
rate_limit_burst = 100000
rate_limit_per_second = 100000
rate_limit_close_after = 1000000
ping_interval_secs = {ping_secs}
client_timeout_secs = {timeout_secs}

[database]
url = "{db_url}"
pool_size = 16

[auth]
secret = "{SECRET}"
{extra}
"#
        );
        std::fs::write(&config, text).unwrap();
        let binary =
            std::env::var_os("BENCH_TANDEM").unwrap_or_else(|| env!("CARGO_BIN_EXE_tandem").into());
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("TANDEM_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("TANDEM__") {
                cmd.env_remove(name);
            }
        }
        for (name, value) in env {
            cmd.env(name, value);
        }
        let mut child = cmd.spawn().expect("start the tandem binary");
        let stderr = child.stderr.take().unwrap();
        let problems = Arc::new(Mutex::new((Vec::new(), 0usize)));
        let (tx, rx) = mpsc::channel();
        let sink = problems.clone();
        std::thread::spawn(move || {
            // Keep reading until the server exits, or a full pipe stalls it.
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on port ").nth(1) {
                    if let Ok(port) = rest.trim().parse::<u16>() {
                        let _ = tx.send(Ok(port));
                    }
                } else if line.contains(" WARN ") || line.contains(" ERROR ") {
                    let mut p = sink.lock().unwrap();
                    p.1 += 1;
                    if p.0.len() < 20 {
                        p.0.push(line);
                    }
                } else if line.starts_with("tandem:") {
                    let _ = tx.send(Err(line));
                }
            }
        });
        let pid = child.id().to_string();
        let mut server = Server {
            child,
            pid,
            port: 0,
            problems,
            config,
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(port)) => server.port = port,
            Ok(Err(line)) => panic!("the server did not start: {line}"),
            Err(_) => panic!("the server did not report `listening on port` within 60 s"),
        }
        server
    }

    fn cpu(&self) -> f64 {
        cpu_secs(&self.pid)
    }

    fn rss_kb(&self) -> u64 {
        rss_kb(&self.pid)
    }

    /// WARN/ERROR lines logged so far.
    fn problems(&self) -> (Vec<String>, usize) {
        self.problems.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

// ---------------------------------------------------------------- client --

fn token(user: &str, tenant: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": user, "tenant_id": tenant, "name": user, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn connect(port: u16, user: &str, tenant: &str) -> Ws {
    let (_, ws) = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
        .ws(format!("ws://127.0.0.1:{port}/ws"))
        .max_frame_size(4 * 1024 * 1024)
        .set_header("Authorization", format!("Bearer {}", token(user, tenant)))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect {user}@{tenant}: {e}"));
    ws
}

async fn send(ws: &mut Ws, msg: &Value) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
}

/// Reads JSON messages (answering pings) until `pred` holds; an `error`
/// that `pred` does not accept, a close or the deadline panics.
async fn recv_until(ws: &mut Ws, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no expected message within {within:?}"))
            .unwrap_or_else(|| panic!("socket ended"));
        match frame {
            Ok(Frame::Text(bytes)) => {
                let v: Value = serde_json::from_slice(&bytes).unwrap();
                if pred(&v) {
                    return v;
                }
                if v["type"] == "error" {
                    panic!("unexpected error: {v}");
                }
            }
            Ok(Frame::Ping(p)) => {
                let _ = ws.send(Message::Pong(p)).await;
            }
            Ok(Frame::Close(reason)) => panic!("socket closed: {reason:?}"),
            Ok(_) => {}
            Err(e) => panic!("socket error: {e}"),
        }
    }
}

async fn join(ws: &mut Ws, entity_id: &str) {
    send(
        ws,
        &json!({"type": "room:join", "ref": "join", "entity_type": "document", "entity_id": entity_id}),
    )
    .await;
    recv_until(ws, Duration::from_secs(30), |v| {
        v["type"] == "room:users" && v["ref"] == "join"
    })
    .await;
}

/// Keeps a socket open: discards messages, answers pings, counts closes.
fn spawn_drain(mut ws: Ws, ended: Rc<Cell<usize>>) {
    actix_rt::spawn(async move {
        while let Some(frame) = ws.next().await {
            match frame {
                Ok(Frame::Ping(p)) => {
                    let _ = ws.send(Message::Pong(p)).await;
                }
                Ok(Frame::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        ended.set(ended.get() + 1);
    });
}

// --------------------------------------------------------------- results --

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(ns: u64) -> String {
    format!("{:.2} ms", ns as f64 / 1e6)
}

struct Report {
    rows: Vec<(String, String, String)>,
}

impl Report {
    fn add(&mut self, scenario: &str, metric: &str, value: String) {
        println!("  {metric}: {value}");
        self.rows.push((scenario.into(), metric.into(), value));
    }

    fn problems(&mut self, scenario: &str, server: &Server) {
        let (lines, count) = server.problems();
        self.add(scenario, "server WARN/ERROR log lines", count.to_string());
        for line in lines.iter().take(5) {
            println!("    {line}");
        }
    }

    fn markdown(&self) -> String {
        let mut out = String::from("| scenario | metric | value |\n|---|---|---|\n");
        for (s, m, v) in &self.rows {
            out.push_str(&format!("| {s} | {m} | {v} |\n"));
        }
        out
    }
}

// ------------------------------------------------------------- scenarios --

async fn fanout(p: &Params, db: &BenchDb, report: &mut Report) {
    let name = "fan-out";
    println!(
        "\n== {name}: {} receivers, {} messages at {}/s",
        p.receivers, p.messages, p.rate
    );
    let server = Server::start(&db.url(), "fanout");
    let port = server.port;
    let room = "fanout";
    let expected = p.receivers * p.messages;
    let latencies: Rc<RefCell<Vec<u64>>> = Rc::new(RefCell::new(Vec::with_capacity(expected)));
    let ended = Rc::new(Cell::new(0usize));
    let strays = Rc::new(Cell::new(0usize));

    let setup = Instant::now();
    let ids: Vec<usize> = (0..p.receivers).collect();
    for batch in ids.chunks(20) {
        let socks = join_all(batch.iter().map(|i| async move {
            let mut ws = connect(port, &format!("r{i}"), "fan").await;
            join(&mut ws, room).await;
            ws
        }))
        .await;
        for mut ws in socks {
            let latencies = latencies.clone();
            let ended = ended.clone();
            let strays = strays.clone();
            actix_rt::spawn(async move {
                while let Some(frame) = ws.next().await {
                    match frame {
                        Ok(Frame::Text(bytes)) => {
                            let text = std::str::from_utf8(&bytes).unwrap_or("");
                            if text.contains("\"event\":\"tick\"") {
                                let now = now_ns();
                                let sent = text
                                    .split("\"t\":")
                                    .nth(1)
                                    .map(|s| s.trim_start())
                                    .and_then(|s| {
                                        let end = s
                                            .find(|c: char| !c.is_ascii_digit())
                                            .unwrap_or(s.len());
                                        s[..end].parse::<u64>().ok()
                                    });
                                match sent {
                                    Some(t) => latencies.borrow_mut().push(now.saturating_sub(t)),
                                    None => strays.set(strays.get() + 1),
                                }
                            } else if text.contains("\"type\":\"error\"") {
                                strays.set(strays.get() + 1);
                            }
                        }
                        Ok(Frame::Ping(p)) => {
                            let _ = ws.send(Message::Pong(p)).await;
                        }
                        Ok(Frame::Close(_)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                ended.set(ended.get() + 1);
            });
        }
    }
    let mut sender = connect(port, "sender", "fan").await;
    join(&mut sender, room).await;
    println!(
        "  {} receivers joined in {:.1} s",
        p.receivers,
        setup.elapsed().as_secs_f64()
    );
    // Let the join and presence traffic settle before measuring.
    p.settle(2).await;

    let (mut sink, mut stream) = sender.split();
    let acks = Rc::new(Cell::new(0usize));
    let errors: Rc<RefCell<Vec<String>>> = Rc::default();
    {
        let (acks, errors) = (acks.clone(), errors.clone());
        actix_rt::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                if let Frame::Text(bytes) = frame {
                    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    match v["type"].as_str() {
                        Some("ack") => acks.set(acks.get() + 1),
                        Some("error") => errors.borrow_mut().push(v.to_string()),
                        _ => {}
                    }
                }
            }
        });
    }

    let pad = "x".repeat(170);
    let period = Duration::from_secs_f64(1.0 / p.rate as f64);
    let cpu0 = server.cpu();
    let self0 = cpu_secs("self");
    let start = tokio::time::Instant::now();
    for i in 0..p.messages {
        tokio::time::sleep_until(start + period * i as u32).await;
        let msg = format!(
            r#"{{"type":"room:broadcast","ref":{i},"entity_type":"document","entity_id":"{room}","event":"tick","payload":{{"t":{},"pad":"{pad}"}}}}"#,
            now_ns()
        );
        sink.send(Message::Text(msg.into())).await.unwrap();
    }
    let sent_in = start.elapsed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while latencies.borrow().len() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = start.elapsed();
    let cpu = server.cpu() - cpu0;
    let self_cpu = cpu_secs("self") - self0;

    let mut lat = latencies.borrow().clone();
    lat.sort_unstable();
    let delivered = lat.len();
    report.add(
        name,
        "receivers x messages",
        format!(
            "{} x {} (payload ~200 B, {}/s)",
            p.receivers, p.messages, p.rate
        ),
    );
    report.add(
        name,
        "deliveries",
        format!("{delivered} of {expected} in {:.1} s", wall.as_secs_f64()),
    );
    report.add(
        name,
        "send phase",
        format!(
            "{:.1} s ({:.0} deliveries/s)",
            sent_in.as_secs_f64(),
            delivered as f64 / wall.as_secs_f64()
        ),
    );
    report.add(name, "latency p50", ms(percentile(&lat, 0.50)));
    report.add(name, "latency p90", ms(percentile(&lat, 0.90)));
    report.add(name, "latency p99", ms(percentile(&lat, 0.99)));
    report.add(name, "latency max", ms(lat.last().copied().unwrap_or(0)));
    report.add(
        name,
        "server CPU per delivery",
        format!(
            "{:.2} µs ({:.2} s CPU in total)",
            cpu * 1e6 / delivered.max(1) as f64,
            cpu
        ),
    );
    report.add(
        name,
        "bench client CPU (same machine)",
        format!(
            "{:.2} s ({:.2} µs per delivery)",
            self_cpu,
            self_cpu * 1e6 / delivered.max(1) as f64
        ),
    );
    report.add(
        name,
        "sender acks / errors",
        format!("{} / {}", acks.get(), errors.borrow().len()),
    );
    report.add(
        name,
        "receiver closes / stray messages",
        format!("{} / {}", ended.get(), strays.get()),
    );
    for e in errors.borrow().iter().take(3) {
        println!("    sender error: {e}");
    }
    report.problems(name, &server);
}

async fn idle(p: &Params, db: &BenchDb, report: &mut Report) {
    let name = "idle memory";
    println!("\n== {name}: {} idle sockets", p.idle);
    let server = Server::start(&db.url(), "idle");
    let port = server.port;
    let ended = Rc::new(Cell::new(0usize));

    // Warm up the code paths (first connection, tenant, presence) first.
    for _ in 0..4 {
        spawn_drain(connect(port, "warm", "warm").await, ended.clone());
    }
    p.settle(1).await;
    let rss0 = server.rss_kb();
    let fds0 = open_fds(&server.pid);

    let start = Instant::now();
    let ids: Vec<usize> = (0..p.idle).collect();
    let per_user = p.idle_per_user;
    for batch in ids.chunks(50) {
        let socks = join_all(batch.iter().map(|i| async move {
            let user = i / per_user;
            let mut ws = connect(port, &format!("u{user}"), &format!("idle{user}")).await;
            recv_until(&mut ws, Duration::from_secs(30), |v| v["type"] == "welcome").await;
            ws
        }))
        .await;
        for ws in socks {
            spawn_drain(ws, ended.clone());
        }
    }
    let opened_in = start.elapsed();
    p.settle(3).await;
    let rss1 = server.rss_kb();
    p.settle(2).await;
    let rss2 = server.rss_kb();
    let fds2 = open_fds(&server.pid);

    // Idle CPU: nothing happens but pings, pongs and the server's timers.
    let (cpu0, t0) = (server.cpu(), Instant::now());
    tokio::time::sleep(Duration::from_secs(p.idle_secs as u64)).await;
    let idle_cpu = (server.cpu() - cpu0) / t0.elapsed().as_secs_f64();

    let per = |rss: u64| (rss as f64 - rss0 as f64) / p.idle.max(1) as f64;
    report.add(
        name,
        "sockets",
        format!(
            "{} ({} users x {per_user}, one tenant each), opened in {:.1} s",
            p.idle,
            p.idle.div_ceil(per_user),
            opened_in.as_secs_f64()
        ),
    );
    report.add(
        name,
        "server RSS before / after",
        format!("{rss0} KiB / {rss2} KiB"),
    );
    report.add(
        name,
        "RSS per idle socket",
        format!("{:.1} KiB (3 s after: {:.1} KiB)", per(rss2), per(rss1)),
    );
    report.add(
        name,
        "server descriptors per idle socket",
        format!(
            "{:.2} ({fds0} before, {fds2} after)",
            (fds2 as f64 - fds0 as f64) / p.idle.max(1) as f64
        ),
    );
    report.add(
        name,
        "server CPU while idle",
        format!("{:.2} % of a core over {} s", idle_cpu * 100.0, p.idle_secs),
    );
    report.add(
        name,
        "sockets closed by the server",
        ended.get().to_string(),
    );
    report.problems(name, &server);
}

/// A socket held open by a task that counts the text frames it receives and
/// the users listed as gone offline (`presence:diff` `left`), until told to
/// close.
struct Counted {
    close: tokio::sync::oneshot::Sender<()>,
    done: tokio::sync::oneshot::Receiver<()>,
}

fn spawn_counted(mut ws: Ws, frames: Rc<Cell<usize>>, lefts: Rc<Cell<usize>>) -> Counted {
    let (close, mut stop) = tokio::sync::oneshot::channel::<()>();
    let (finished, done) = tokio::sync::oneshot::channel::<()>();
    actix_rt::spawn(async move {
        loop {
            tokio::select! {
                frame = ws.next() => match frame {
                    Some(Ok(Frame::Text(bytes))) => {
                        frames.set(frames.get() + 1);
                        if bytes.starts_with(br#"{"type":"presence:diff""#) {
                            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                            let n = v["left"].as_array().map_or(0, Vec::len);
                            lefts.set(lefts.get() + n);
                        }
                    }
                    Some(Ok(Frame::Ping(p))) => {
                        let _ = ws.send(Message::Pong(p)).await;
                    }
                    Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
                _ = &mut stop => {
                    let _ = ws.send(Message::Close(None)).await;
                    break;
                }
            }
        }
        let _ = finished.send(());
    });
    Counted { close, done }
}

/// Connects `users` users of one tenant, 100 at a time, each waiting for
/// its `welcome`.
async fn storm_connect(
    port: u16,
    users: usize,
    room: bool,
    frames: &Rc<Cell<usize>>,
) -> Vec<Counted> {
    let mut out = Vec::with_capacity(users);
    let ids: Vec<usize> = (0..users).collect();
    for batch in ids.chunks(100) {
        let socks = join_all(batch.iter().map(|i| async move {
            let mut ws = connect(port, &format!("s{i}"), "storm").await;
            recv_until(&mut ws, Duration::from_secs(60), |v| v["type"] == "welcome").await;
            if room {
                join(&mut ws, "storm-room").await;
            }
            ws
        }))
        .await;
        for ws in socks {
            frames.set(frames.get() + 1);
            out.push(spawn_counted(ws, frames.clone(), Rc::new(Cell::new(0))));
        }
    }
    out
}

async fn close_all(socks: Vec<Counted>) {
    let mut done = Vec::with_capacity(socks.len());
    for s in socks {
        let _ = s.close.send(());
        done.push(s.done);
    }
    for d in done {
        let _ = d.await;
    }
}

async fn presence_storm(p: &Params, db: &BenchDb, report: &mut Report) {
    let name = "presence storm";
    let n = p.storm;
    println!(
        "\n== {name}: {n} users in one tenant (roster max {}){}",
        p.roster_max,
        if p.storm_room {
            ", all in one room"
        } else {
            ""
        }
    );
    let server = Server::start_with(
        &db.url(),
        "storm",
        &format!(
            "[presence]\ntenant_roster_max = {}\nroom_watch_max = {}\n[rooms]\nusers_list_max = {}\n",
            p.roster_max, p.room_watch_max, p.users_list_max
        ),
    );
    let port = server.port;
    // A watcher of the tenant sees any user going offline.
    let lefts = Rc::new(Cell::new(0usize));
    let watcher_frames = Rc::new(Cell::new(0usize));
    let watcher = spawn_counted(
        connect(port, "watcher", "storm").await,
        watcher_frames.clone(),
        lefts.clone(),
    );
    p.settle(1).await;
    let rss0 = server.rss_kb();
    let frames = Rc::new(Cell::new(0usize));
    let (cpu0, start) = (server.cpu(), Instant::now());
    let socks = storm_connect(port, n, p.storm_room, &frames).await;
    let took = start.elapsed();
    let cpu = server.cpu() - cpu0;
    p.settle(2).await;
    let rss1 = server.rss_kb();
    let per = |rss: u64| (rss as f64 - rss0 as f64) / n.max(1) as f64;
    report.add(
        name,
        "users (one tenant), tenant_roster_max, one room, room_watch_max, users_list_max",
        format!(
            "{n}, {}, {}, {}, {}",
            p.roster_max, p.storm_room, p.room_watch_max, p.users_list_max
        ),
    );
    report.add(
        name,
        "connect storm",
        format!(
            "{:.0} connections/s ({:.1} s), server CPU {:.2} ms per connect",
            n as f64 / took.as_secs_f64(),
            took.as_secs_f64(),
            cpu * 1000.0 / n.max(1) as f64
        ),
    );
    report.add(
        name,
        "frames received per connection (storm + 2 s)",
        format!("{:.1}", frames.get() as f64 / n.max(1) as f64),
    );
    report.add(name, "RSS per connection", format!("{:.1} KiB", per(rss1)));

    // Reconnect storm: everyone closes and comes back at once.
    lefts.set(0);
    let start = Instant::now();
    close_all(socks).await;
    let socks = storm_connect(port, n, p.storm_room, &frames).await;
    let took = start.elapsed();
    p.settle(6).await;
    report.add(
        name,
        "reconnect storm (close and reopen all)",
        format!(
            "{:.1} s; users the watcher saw go offline: {}",
            took.as_secs_f64(),
            lefts.get()
        ),
    );
    let rss2 = server.rss_kb();
    close_all(socks).await;
    // Past the offline grace (5 s) and a memory trim.
    p.settle(12).await;
    let rss3 = server.rss_kb();
    report.add(
        name,
        "server RSS: before / connected / after reconnect / all gone",
        format!("{rss0} / {rss1} / {rss2} / {rss3} KiB"),
    );
    let _ = watcher.close.send(());
    report.problems(name, &server);
}

/// Length change of an ot.js op.
fn op_delta(op: &Value) -> i64 {
    op.as_array()
        .map(|c| {
            c.iter()
                .map(|c| match c {
                    Value::String(s) => s.chars().count() as i64,
                    Value::Number(n) if n.as_i64().is_some_and(|n| n < 0) => {
                        n.as_i64().unwrap_or(0)
                    }
                    _ => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// An editor that inserts `"ab"` at the start of field `body`, based on the
/// latest revision it knows, and waits for each ack.
struct Editor {
    ws: Ws,
    id: String,
    room: String,
    revision: u64,
    len: usize,
    seq: u64,
    resyncs: usize,
    latencies: Vec<u64>,
}

impl Editor {
    async fn new(port: u16, id: &str, room: &str) -> Editor {
        Editor::new_in(port, id, "docs", room).await
    }

    async fn new_in(port: u16, id: &str, tenant: &str, room: &str) -> Editor {
        let mut ws = connect(port, id, tenant).await;
        join(&mut ws, room).await;
        let mut e = Editor {
            ws,
            id: id.into(),
            room: room.into(),
            revision: 0,
            len: 0,
            seq: 0,
            resyncs: 0,
            latencies: Vec::new(),
        };
        e.sync().await;
        e
    }

    async fn sync(&mut self) -> Value {
        let r = format!("{}-sync-{}", self.id, self.seq);
        send(
            &mut self.ws,
            &json!({"type": "doc:sync", "ref": r, "entity_type": "document", "entity_id": self.room}),
        )
        .await;
        let state = recv_until(&mut self.ws, Duration::from_secs(30), |v| {
            v["type"] == "doc:state" && v["ref"] == r
        })
        .await;
        let body = &state["fields"]["body"];
        self.revision = body["revision"].as_u64().unwrap_or(0);
        self.len = body["text"].as_str().map_or(0, |t| t.chars().count());
        state
    }

    /// One edit, retried after `resync_required`, until it is acked.
    async fn edit(&mut self) {
        loop {
            self.seq += 1;
            let r = format!("{}-{}", self.id, self.seq);
            let op = if self.len == 0 {
                json!(["ab"])
            } else {
                json!(["ab", self.len])
            };
            let sent = now_ns();
            send(
                &mut self.ws,
                &json!({"type": "doc:edit", "ref": r, "entity_type": "document",
                        "entity_id": self.room, "field": "body", "revision": self.revision,
                        "op": op, "client_id": self.id, "seq": self.seq}),
            )
            .await;
            loop {
                let v = recv_until(&mut self.ws, Duration::from_secs(30), |v| {
                    v["ref"] == r || v["type"] == "doc:op"
                })
                .await;
                match v["type"].as_str() {
                    Some("doc:op") => {
                        let rev = v["revision"].as_u64().unwrap_or(0);
                        if rev == self.revision + 1 {
                            self.len = (self.len as i64 + op_delta(&v["op"])) as usize;
                            self.revision = rev;
                        } else if rev > self.revision + 1 {
                            panic!(
                                "{}: doc:op revision {rev} after {}: ops out of order",
                                self.id, self.revision
                            );
                        }
                    }
                    Some("ack") => {
                        self.latencies.push(now_ns() - sent);
                        let rev = v["data"]["revision"].as_u64().unwrap();
                        assert_eq!(
                            rev,
                            self.revision + 1,
                            "{}: ack before the ops it was transformed past",
                            self.id
                        );
                        self.revision = rev;
                        self.len += 2;
                        return;
                    }
                    _ if v["code"] == "resync_required" => {
                        self.resyncs += 1;
                        self.sync().await;
                        break;
                    }
                    _ => panic!("{}: edit refused: {v}", self.id),
                }
            }
        }
    }
}

async fn docs(p: &Params, db: &BenchDb, report: &mut Report) {
    let name = "document edits";
    println!(
        "\n== {name}: {} sequential edits, then {} editors",
        p.edits, p.editors
    );
    let server = Server::start(&db.url(), "docs");
    let port = server.port;

    // One editor, one observer.
    let mut editor = Editor::new(port, "ed", "seq").await;
    let mut observer = connect(port, "observer", "docs").await;
    join(&mut observer, "seq").await;
    let seen = Rc::new(Cell::new(0usize));
    {
        let seen = seen.clone();
        actix_rt::spawn(async move {
            while let Some(Ok(frame)) = observer.next().await {
                match frame {
                    Frame::Text(bytes) if bytes.windows(8).any(|w| w == b"\"doc:op\"") => {
                        seen.set(seen.get() + 1)
                    }
                    Frame::Ping(p) => {
                        let _ = observer.send(Message::Pong(p)).await;
                    }
                    _ => {}
                }
            }
        });
    }
    let cpu0 = server.cpu();
    let start = Instant::now();
    for _ in 0..p.edits {
        editor.edit().await;
    }
    let wall = start.elapsed();
    let cpu = server.cpu() - cpu0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.get() < p.edits && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut lat = editor.latencies.clone();
    lat.sort_unstable();
    report.add(name, "sequential edits (1 editor)", p.edits.to_string());
    report.add(
        name,
        "sequential edits/s",
        format!(
            "{:.0} ({:.2} s)",
            p.edits as f64 / wall.as_secs_f64(),
            wall.as_secs_f64()
        ),
    );
    report.add(name, "sequential ack p50", ms(percentile(&lat, 0.50)));
    report.add(name, "sequential ack p99", ms(percentile(&lat, 0.99)));
    report.add(
        name,
        "sequential server CPU per edit",
        format!("{:.0} µs", cpu * 1e6 / p.edits.max(1) as f64),
    );
    report.add(
        name,
        "observer doc:op received",
        format!("{} of {}", seen.get(), p.edits),
    );

    // Several editors on one field.
    let n = p.editors;
    let mut editors = Vec::new();
    for i in 0..n {
        editors.push(Editor::new(port, &format!("ce{i}"), "conc").await);
    }
    let cpu0 = server.cpu();
    let start = Instant::now();
    let editors = join_all(editors.into_iter().enumerate().map(|(i, mut e)| {
        // Spread the edits; the first editors take the remainder.
        let count = p.edits / n + usize::from(i < p.edits % n);
        async move {
            for _ in 0..count {
                e.edit().await;
            }
            e
        }
    }))
    .await;
    let wall = start.elapsed();
    let cpu = server.cpu() - cpu0;
    let mut lat: Vec<u64> = editors
        .iter()
        .flat_map(|e| e.latencies.iter().copied())
        .collect();
    lat.sort_unstable();
    let resyncs: usize = editors.iter().map(|e| e.resyncs).sum();
    let mut check = Editor::new(port, "checker", "conc").await;
    let state = check.sync().await;
    let ok = check.revision == p.edits as u64 && check.len == 2 * p.edits;
    report.add(
        name,
        &format!("concurrent edits ({n} editors)"),
        p.edits.to_string(),
    );
    report.add(
        name,
        "concurrent edits/s (total)",
        format!(
            "{:.0} ({:.2} s)",
            p.edits as f64 / wall.as_secs_f64(),
            wall.as_secs_f64()
        ),
    );
    report.add(name, "concurrent ack p50", ms(percentile(&lat, 0.50)));
    report.add(name, "concurrent ack p99", ms(percentile(&lat, 0.99)));
    report.add(
        name,
        "concurrent server CPU per edit",
        format!("{:.0} µs", cpu * 1e6 / p.edits.max(1) as f64),
    );
    report.add(name, "resync_required retries", resyncs.to_string());
    report.add(
        name,
        "final state",
        format!(
            "revision {}, {} chars, version {} ({})",
            check.revision,
            check.len,
            state["version"],
            if ok { "consistent" } else { "MISMATCH" }
        ),
    );
    report.problems(name, &server);
    assert!(ok, "concurrent edits lost or duplicated: {state}");
}

/// `BENCH_DOCS` documents x `BENCH_DOC_EDITORS` editors, one edit in
/// flight each, for `BENCH_DOC_SECS` seconds (group commit across documents).
async fn many_docs(p: &Params, db: &BenchDb, report: &mut Report) {
    let name = "many documents";
    let (docs, per) = (p.docs, p.doc_editors);
    println!(
        "\n== {name}: {docs} documents x {per} editors, {} s",
        p.doc_secs
    );
    let server = Server::start(&db.url(), "manydocs");
    let port = server.port;
    let mut editors = Vec::new();
    for d in 0..docs {
        for e in 0..per {
            let tenant = format!("md{d}");
            editors
                .push(Editor::new_in(port, &format!("m{d}-{e}"), &tenant, &format!("md{d}")).await);
        }
    }
    let secs = p.doc_secs as u64;
    let cpu0 = server.cpu();
    let self0 = cpu_secs("self");
    let pg0 = postgres_cpu_secs();
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let editors = join_all(editors.into_iter().map(|mut e| async move {
        while Instant::now() < end {
            e.edit().await;
        }
        e
    }))
    .await;
    let wall = start.elapsed();
    let cpu = server.cpu() - cpu0;
    let self_cpu = cpu_secs("self") - self0;
    let pg_cpu = postgres_cpu_secs() - pg0;
    let acked: usize = editors.iter().map(|e| e.latencies.len()).sum();
    let mut lat: Vec<u64> = editors
        .iter()
        .flat_map(|e| e.latencies.iter().copied())
        .collect();
    lat.sort_unstable();
    let resyncs: usize = editors.iter().map(|e| e.resyncs).sum();
    let mut mismatched = 0;
    for d in 0..docs {
        let acked_here: usize = editors[d * per..(d + 1) * per]
            .iter()
            .map(|e| e.latencies.len())
            .sum();
        let mut check = Editor::new_in(port, "checker", &format!("md{d}"), &format!("md{d}")).await;
        check.sync().await;
        if check.revision != acked_here as u64 || check.len != 2 * acked_here {
            mismatched += 1;
        }
    }
    report.add(name, "documents x editors", format!("{docs} x {per}"));
    report.add(
        name,
        "acked edits/s (all documents)",
        format!(
            "{:.0} ({acked} in {:.2} s)",
            acked as f64 / wall.as_secs_f64(),
            wall.as_secs_f64()
        ),
    );
    report.add(name, "ack p50", ms(percentile(&lat, 0.50)));
    report.add(name, "ack p99", ms(percentile(&lat, 0.99)));
    report.add(
        name,
        "server CPU per edit",
        format!("{:.0} µs", cpu * 1e6 / acked.max(1) as f64),
    );
    // The client shares the server's cores: its cost bounds the figure too.
    report.add(
        name,
        "bench client CPU per edit (same machine)",
        format!("{:.0} µs", self_cpu * 1e6 / acked.max(1) as f64),
    );
    report.add(
        name,
        "PostgreSQL CPU per edit (same machine)",
        format!("{:.0} µs", pg_cpu * 1e6 / acked.max(1) as f64),
    );
    report.add(name, "resync_required retries", resyncs.to_string());
    report.add(
        name,
        "documents whose revision differs from their acks",
        mismatched.to_string(),
    );
    report.problems(name, &server);
    assert_eq!(mismatched, 0, "edits lost or duplicated");
}

fn results_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-results.md")
}

fn main() {
    now_ns();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it: then only check that every scenario still works.
    let quick = !std::env::args().any(|a| a == "--bench");
    let params = Params::from_env(quick);
    if quick {
        println!("bench: smoke run with tiny sizes (run `cargo bench --bench load` to measure)");
    }
    let mut report = Report { rows: Vec::new() };
    println!("== machine");
    report.add(
        "machine",
        "cores / load average at start",
        format!(
            "{} / {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    );
    actix_rt::System::new().block_on(async {
        let db = BenchDb::create().await;
        println!("bench: database {}", db.name);
        if params.wants("fanout") {
            fanout(&params, &db, &mut report).await;
        }
        if params.wants("idle") {
            idle(&params, &db, &mut report).await;
        }
        if params.wants("docs") {
            docs(&params, &db, &mut report).await;
        }
        if params.wants("manydocs") {
            many_docs(&params, &db, &mut report).await;
        }
        if params.wants("presence") {
            presence_storm(&params, &db, &mut report).await;
        }
        // The smoke run covers it too; a measuring run only when asked.
        if params.wants("rooms") || (quick && std::env::var("BENCH_SCENARIOS").is_err()) {
            rooms::rooms(&params, &db, &mut report).await;
        }
        if params.wants("cluster") {
            cluster::cluster(&params, &db, &mut report).await;
        }
    });
    let table = report.markdown();
    println!("\n{table}");
    let path = results_path();
    if !quick
        && std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).is_ok()
        && std::fs::write(&path, &table).is_ok()
    {
        println!("written to {}", path.display());
    }
}
