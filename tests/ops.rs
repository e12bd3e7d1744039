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

fn check_config(config: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.args(["check-config", "--config"]).arg(config);
    for var in [
        "TANDEM__AUTH__SECRET",
        "TANDEM__SERVER__ENVIRONMENT",
        "DATABASE_URL",
        "TANDEM_CONFIG",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn check_config_prints_effective_values_with_secrets_masked() {
    let dir = temp_dir();
    let config = dir.0.join("config.toml");
    let secret = "a-very-private-secret-0123456789abcdef";
    std::fs::write(
        &config,
        format!(
            "[server]\nport = 9123\n[database]\nurl = \"postgres://tandem:db-password@db/tandem\"\n\
             [auth]\nsecret = \"{secret}\"\napi_keys = [\"service-key-0123\"]\n"
        ),
    )
    .unwrap();
    let out = check_config(&config, &[("TANDEM__WEBSOCKET__RATE_LIMIT_BURST", "77")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("port: 9123"), "{stdout}");
    // Environment overrides are part of the effective values.
    assert!(stdout.contains("rate_limit_burst: 77"), "{stdout}");
    assert!(stdout.contains("Production"), "{stdout}");
    for hidden in [secret, "db-password", "service-key-0123"] {
        assert!(!stdout.contains(hidden), "{hidden} printed: {stdout}");
    }
    assert!(stdout.contains("Secret(***)"), "{stdout}");
}

#[test]
fn check_config_exits_2_naming_the_bad_key() {
    let dir = temp_dir();
    let config = dir.0.join("config.toml");
    std::fs::write(
        &config,
        "[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\n[rooms]\nidle_stop_secs = -1\n",
    )
    .unwrap();
    let out = check_config(&config, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rooms.idle_stop_secs"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// The config.toml shipped in the repository says development; the same
/// file in production is refused, by `check-config` and by `serve`, until a
/// fresh secret is set.
#[test]
fn shipped_development_secret_is_refused_outside_development() {
    let shipped = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"));
    let out = check_config(shipped, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Development"));

    let production = [("TANDEM__SERVER__ENVIRONMENT", "\"production\"")];
    let out = check_config(shipped, &production);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("auth.secret") && stderr.contains("development"),
        "{stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--config"])
        .arg(shipped)
        .env("TANDEM__SERVER__ENVIRONMENT", "\"production\"")
        .env("TANDEM__SERVER__PORT", "0")
        .env_remove("TANDEM__AUTH__SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth.secret"));

    let fresh = [
        ("TANDEM__SERVER__ENVIRONMENT", "\"production\""),
        ("TANDEM__WEB__DEV_TOKENS", "false"),
        (
            "TANDEM__AUTH__SECRET",
            "a-fresh-production-secret-0123456789",
        ),
    ];
    let out = check_config(shipped, &fresh);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every HTTP worker thread registers itself for the watchdog's check as it
/// builds its services, once per thread, and the check (registry, actor
/// threads, HTTP workers) passes on a healthy server. The unit tests in
/// `watchdog` show a blocked worker failing it.
#[actix_web::test]
async fn the_watchdog_checks_every_http_worker() {
    let db = TestDb::create().await;
    let mut settings = test_settings(&db);
    settings.server.workers = 3;
    let app = tandem::startup::Application::build(settings)
        .await
        .expect("server builds");
    let (port, services, workers) = (app.port(), app.services(), app.http_workers());
    actix_rt::spawn(app.run_until_stopped());
    // Workers start with the server; poll, with a deadline, until all three
    // have registered (no event tells the test).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while workers.len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(workers.len(), 3);
    // Requests on every worker build nothing new.
    for _ in 0..6 {
        let status = awc::Client::new()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    assert_eq!(workers.len(), 3);
    tandem::watchdog::answers(&services, &workers, Duration::from_secs(5))
        .await
        .unwrap();
    services.pool.stop();
}
