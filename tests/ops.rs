//! Operating Tandem with the real binary: the systemd notify sequence, the
//! refusal of the shipped development secret outside development, and
//! `tandem check-config`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A file or directory removed on drop.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_dir() -> TempPath {
    let dir = std::env::temp_dir().join(format!("tandem-ops-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    TempPath(dir)
}

/// Kills a child process when dropped; forget it once the child is reaped.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

fn recv_state(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .expect("a notification before the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[actix_web::test]
async fn sd_notify_sends_ready_then_watchdog_pings_then_stopping() {
    let db = TestDb::create().await;
    let dir = temp_dir();
    let config = dir.0.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nport = 0\nworkers = 1\nshutdown_grace_secs = 2\n\
             [database]\nurl = \"{}\"\n[auth]\nsecret = \"{SECRET}\"\n",
            db.url
        ),
    )
    .unwrap();
    let notify_path = dir.0.join("notify");
    let socket = UnixDatagram::bind(&notify_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        // Ping every 150 ms.
        .env("WATCHDOG_USEC", "300000")
        .env_remove("WATCHDOG_PID")
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reaper = KillOnDrop(child.id());

    let ready = recv_state(&socket);
    assert!(ready.lines().any(|l| l == "READY=1"), "first: {ready:?}");
    let port: u16 = ready
        .lines()
        .find_map(|l| l.strip_prefix("STATUS=listening on port "))
        .expect("STATUS with the port")
        .parse()
        .unwrap();
    // READY means the listener is up and the migrated database reachable.
    let (status, body) = {
        let mut resp = awc::Client::new()
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.body().await.unwrap())
    };
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    for _ in 0..3 {
        assert_eq!(recv_state(&socket), "WATCHDOG=1");
    }

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    // Pings may still arrive until draining starts; nothing else may.
    let stopping = loop {
        let state = recv_state(&socket);
        if state != "WATCHDOG=1" {
            break state;
        }
    };
    assert!(
        stopping.lines().any(|l| l == "STOPPING=1"),
        "after SIGTERM: {stopping:?}"
    );
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    std::mem::forget(reaper);
    assert_eq!(exit.code(), Some(0));
}
