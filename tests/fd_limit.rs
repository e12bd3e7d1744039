//! Connections against the open-files limit, with the real binary under a
//! low `ulimit -n`: one descriptor per connection, a clean `503
//! server_at_capacity` before the upgrade once the budget is spent, open
//! sockets unaffected, no accept-loop spin, and recovery when sockets close.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A file or directory removed on drop.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kills a child process when dropped.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

/// The open-files limit the server runs under, and the reserve it keeps.
const ULIMIT: usize = 256;
const RESERVE: usize = 128;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Polls `check` every 20 ms until it holds (at most 10 s).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn at_the_open_files_limit_sockets_are_refused_with_503_and_the_server_recovers() {
    let db = TestDb::create().await;
    let settings = test_settings(&db);
    let dir =
        TempPath(std::env::temp_dir().join(format!("tandem-fd-{}", uuid::Uuid::new_v4().simple())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let config = dir.0.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nport = 0\nworkers = 1\nfd_reserve = {RESERVE}\n\
             [websocket]\nmax_connections_per_user = 1000\n\
             [database]\nurl = \"{}\"\n[auth]\nsecret = \"{SECRET}\"\n",
            db.url
        ),
    )
    .unwrap();
    let notify_path = dir.0.join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let log_path = dir.0.join("stderr.log");
    // `ulimit -n` sets the soft and the hard limit: the server cannot raise it.
    let mut child = Command::new("sh")
        .args([
            "-c",
            &format!("ulimit -n {ULIMIT}; exec \"$0\" serve --config \"$1\""),
            env!("CARGO_BIN_EXE_tandem"),
        ])
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _reaper = KillOnDrop(pid);
    let port: u16 = loop {
        let mut buf = [0u8; 4096];
        let n = notify.recv(&mut buf).expect("READY before the timeout");
        let state = String::from_utf8_lossy(&buf[..n]).into_owned();
        if let Some(port) = state
            .lines()
            .find_map(|l| l.strip_prefix("STATUS=listening on port "))
        {
            break port.parse().unwrap();
        }
    };
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        log().contains(&format!("open files limit: {ULIMIT}")),
        "the limit is logged at start: {}",
        log()
    );

    let url = |user: &str| {
        let token = token_with(&settings, user, "fd-tenant", None, 3600);
        format!("ws://127.0.0.1:{port}/ws?token={token}&presence=none")
    };
    let before = open_fds(pid);
    let mut clients = Vec::new();
    let refused = loop {
        let user = format!("u{}", clients.len());
        match WsClient::connect(&url(&user), &[]).await {
            Ok(mut c) => {
                c.recv_type("welcome").await;
                clients.push(c);
            }
            Err(awc::error::WsClientError::InvalidResponseStatus(s)) => break s.as_u16(),
            Err(e) => panic!("connection {} failed: {e}", clients.len()),
        }
        assert!(clients.len() < ULIMIT, "never refused");
        if clients.len() == 64 {
            // One descriptor per connection (two would be 128 or more; the
            // slack is for database connections the pool opens meanwhile).
            let grown = open_fds(pid) - before;
            assert!(grown < 64 + 32, "64 connections hold {grown} descriptors");
        }
    };
    assert_eq!(refused, 503);
    let held = clients.len();
    eprintln!(
        "refused after {held} sockets; server descriptors {before} -> {}",
        open_fds(pid)
    );
    assert!(
        (ULIMIT - RESERVE - 16..=ULIMIT - RESERVE).contains(&held),
        "refused after {held} connections"
    );

    // The refusal is a JSON error with a code, before the upgrade.
    let token = token_with(&settings, "late", "fd-tenant", None, 3600);
    let (status, body) = refused_upgrade_at(port, &format!("/ws?token={token}"), &[]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "server_at_capacity", "{body}");
    assert!(body["retry_after_ms"].as_u64().unwrap() > 0, "{body}");

    // Connections past the budget but under the accept cap are plain HTTP:
    // still answered.
    let health = awc::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);

    // The sockets already open keep working.
    let first = clients.first_mut().unwrap();
    let ack = first
        .request(json!({"type": "heartbeat"}), "hb-first")
        .await;
    assert_eq!(ack["type"], "heartbeat_ack");
    let last = clients.last_mut().unwrap();
    let ack = last.request(json!({"type": "heartbeat"}), "hb-last").await;
    assert_eq!(ack["type"], "heartbeat_ack");

    // Close some: the server takes connections again.
    let fds_full = open_fds(pid);
    clients.truncate(held - 10);
    eventually("the closed sockets' descriptors to be released", || {
        open_fds(pid) <= fds_full - 10
    })
    .await;
    let mut again = WsClient::connect(&url("after"), &[]).await.unwrap();
    again.recv_type("welcome").await;
    let ack = again
        .request(json!({"type": "heartbeat"}), "hb-again")
        .await;
    assert_eq!(ack["type"], "heartbeat_ack");

    // The accept loop never ran into `EMFILE` and spun logging it.
    let log = log();
    assert!(
        log.matches("Too many open files").count() <= 1,
        "accept errors: {log}"
    );
    drop(clients);
    drop(again);
    child.kill().unwrap();
    child.wait().unwrap();
}
