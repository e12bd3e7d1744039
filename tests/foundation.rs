//! The foundation: authentication, the protocol envelope, limits, liveness,
//! shutdown and readiness, against the real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use tandem::protocol::close_code;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {token}"))]
}

#[actix_web::test]
async fn valid_token_gets_welcome_and_heartbeat_ack_with_ref() {
    let app = spawn_app().await;
    let mut c = app.connect("alice", "acme").await;
    let welcome = c.recv_type("welcome").await;
    assert_eq!(welcome["user_id"], "alice");
    assert_eq!(welcome["tenant_id"], "acme");
    let list = c.recv_type("presence:list").await;
    assert!(list["users"].is_array());
    let ack = c.request(json!({"type": "heartbeat"}), "hb-1").await;
    assert_eq!(ack["type"], "heartbeat_ack");
    // Numeric refs come back as numbers.
    c.send(json!({"type": "heartbeat", "ref": 42})).await;
    let ack = c.recv_type("heartbeat_ack").await;
    assert_eq!(ack["ref"], 42);
}

#[actix_web::test]
async fn text_that_is_not_utf8_closes_with_1007_as_soon_as_a_fragment_shows_it() {
    use actix_http::ws::Item;
    let app = spawn_app().await;
    // One text frame with a byte that is never UTF-8.
    let mut ws = app.connect_ready("alice", "acme").await;
    ws.send_raw_frame(0x1, b"{\"type\":\"heart\xffbeat\"}")
        .await;
    assert_eq!(
        ws.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(1007))
    );

    // A fragmented message: the bad middle fragment closes the socket
    // before the last fragment is sent.
    let mut ws = app.connect_ready("alice", "acme").await;
    ws.send_fragment(Item::FirstText(b"{\"type\":".to_vec().into()))
        .await;
    ws.send_fragment(Item::Continue(vec![b'"', 0xED, 0xA0, 0x80].into()))
        .await;
    assert_eq!(
        ws.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(1007))
    );

    // A code point split across fragments is fine: "é" is C3 A9.
    let mut ws = app.connect_ready("alice", "acme").await;
    let text = "{\"type\":\"heartbeat\",\"ref\":\"caf\u{e9}\"}".as_bytes();
    let cut = text.iter().position(|&b| b == 0xC3).unwrap() + 1;
    ws.send_fragment(Item::FirstText(text[..cut].to_vec().into()))
        .await;
    ws.send_fragment(Item::Last(text[cut..].to_vec().into()))
        .await;
    let ack = ws.recv_type("heartbeat_ack").await;
    assert_eq!(ack["ref"], "caf\u{e9}");
}

#[actix_web::test]
async fn token_is_accepted_from_header_subprotocol_and_query() {
    let app = spawn_app().await;
    let token = app.token("bob", "acme");

    let mut c = WsClient::connect(&format!("{}?token={token}", app.ws_url()), &[])
        .await
        .unwrap();
    assert_eq!(c.recv_type("welcome").await["user_id"], "bob");

    let mut c = WsClient::connect(
        &app.ws_url(),
        &[("Sec-WebSocket-Protocol", format!("bearer, {token}"))],
    )
    .await
    .unwrap();
    assert_eq!(c.headers.get("sec-websocket-protocol").unwrap(), "bearer");
    assert_eq!(c.recv_type("welcome").await["user_id"], "bob");

    let mut c = WsClient::connect(&app.ws_url(), &bearer(&token))
        .await
        .unwrap();
    assert_eq!(c.recv_type("welcome").await["user_id"], "bob");
}

#[actix_web::test]
async fn bad_tokens_are_refused_before_the_upgrade() {
    let app = spawn_app_with(|s| s.auth.audience = Some("tandem".into())).await;
    let s = &app.settings;
    let good = token_with(s, "u", "t", None, 60);
    let (status, _) = app.refused_upgrade("/ws", &bearer(&good)).await;
    assert_eq!(status, 101, "a good token upgrades");

    let expired = token_with(s, "u", "t", None, -30);
    let (status, body) = app.refused_upgrade("/ws", &bearer(&expired)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("token_expired"))
    );

    let mut other = s.clone();
    other.auth.audience = Some("someone-else".into());
    let wrong_aud = token_with(&other, "u", "t", None, 60);
    let (status, body) = app.refused_upgrade("/ws", &bearer(&wrong_aud)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );

    let no_exp = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "u", "tenant_id": "t", "aud": "tandem"}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let (status, body) = app.refused_upgrade("/ws", &bearer(&no_exp)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert!(body["message"].as_str().unwrap().contains("exp"), "{body}");

    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let exp = tandem::auth::now_secs() + 60;
    let payload =
        b64(format!(r#"{{"sub":"u","tenant_id":"t","aud":"tandem","exp":{exp}}}"#).as_bytes());
    for alg_none in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        let (status, body) = app.refused_upgrade("/ws", &bearer(&alg_none)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token")),
            "{alg_none}"
        );
    }

    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    let tampered_payload =
        b64(format!(r#"{{"sub":"admin","tenant_id":"t","aud":"tandem","exp":{exp}}}"#).as_bytes());
    parts[1] = tampered_payload;
    let tampered = parts.join(".");
    let (status, body) = app.refused_upgrade("/ws", &bearer(&tampered)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );

    let (status, body) = app.refused_upgrade("/ws", &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing_token"))
    );

    // REST uses the same rules.
    let (status, body) = app.get("/api/v1/presence", Some(&expired)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("token_expired"))
    );
}

#[actix_web::test]
async fn origin_must_be_allowed() {
    let app = spawn_app().await;
    let token = app.token("u", "t");
    let mut headers = bearer(&token);
    headers.push(("Origin", "http://evil.example".into()));
    let (status, body) = app.refused_upgrade("/ws", &headers).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("origin_not_allowed"))
    );

    let mut headers = bearer(&token);
    headers.push(("Origin", "http://allowed.example".into()));
    let mut c = WsClient::connect(&app.ws_url(), &headers).await.unwrap();
    c.recv_type("welcome").await;
}

#[actix_web::test]
async fn socket_closes_with_4001_when_token_expires_without_refresh() {
    let app = spawn_app().await;
    let token = token_with(&app.settings, "u", "t", None, 2);
    let mut c = WsClient::connect(&app.ws_url(), &bearer(&token))
        .await
        .unwrap();
    c.recv_type("welcome").await;
    assert_eq!(
        c.ended(Duration::from_secs(6)).await,
        Ended::Close(Some(close_code::TOKEN_EXPIRED))
    );
}

#[actix_web::test]
async fn refresh_before_expiry_keeps_the_socket_open() {
    let app = spawn_app().await;
    let token = token_with(&app.settings, "u", "t", None, 2);
    let mut c = WsClient::connect(&app.ws_url(), &bearer(&token))
        .await
        .unwrap();
    c.recv_type("welcome").await;

    // A token for another user is refused, and changes nothing.
    let other = token_with(&app.settings, "mallory", "t", None, 60);
    let reply = c
        .request(json!({"type": "auth:refresh", "token": other}), "r0")
        .await;
    assert_eq!(reply["code"], "auth_mismatch");
    let reply = c
        .request(json!({"type": "auth:refresh", "token": "garbage"}), "r1")
        .await;
    assert_eq!(reply["code"], "invalid_token");

    let fresh = token_with(&app.settings, "u", "t", None, 60);
    let reply = c
        .request(json!({"type": "auth:refresh", "token": fresh}), "r2")
        .await;
    assert_eq!(reply["type"], "ack");
    assert!(reply["data"]["token_expires_at"].as_i64().unwrap() > tandem::auth::now_secs() + 30);
    // This shows that nothing happens: the first token expired 2 s after it
    // was issued (the test server's leeway is 0 s), so 4 s later a socket
    // that had kept the old expiry would have been closed with 4001.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let ack = c.request(json!({"type": "heartbeat"}), "after").await;
    assert_eq!(ack["type"], "heartbeat_ack");
}

#[actix_web::test]
async fn bad_input_gets_errors_with_the_ref_and_the_socket_stays_open() {
    let app = spawn_app_with(|s| s.websocket.max_message_bytes = 1024).await;
    let mut c = app.connect_ready("u", "t").await;

    c.send_text("{not json").await;
    let e = c.recv_type("error").await;
    assert_eq!(e["code"], "invalid_json");
    assert_eq!(e["ref"], Value::Null);

    c.send_text("[1,2,3]").await;
    assert_eq!(c.recv_type("error").await["code"], "invalid_message");

    let e = c.request(json!({"type": "no:such"}), "a1").await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("unknown_type"))
    );

    let e = c.request(json!({"type": "auth:refresh"}), "a2").await;
    assert_eq!(e["code"], "invalid_field", "missing field");

    let e = c
        .request(json!({"type": "auth:refresh", "token": 12}), "a3")
        .await;
    assert_eq!(e["code"], "invalid_field", "ill-typed field");

    let e = c
        .request(
            json!({"type": "room:join", "entity_type": "", "entity_id": "x"}),
            "a4",
        )
        .await;
    assert_eq!(e["code"], "invalid_field", "empty entity type");

    let big = "x".repeat(2000);
    let e = c
        .request(json!({"type": "heartbeat", "pad": big}), "a5")
        .await;
    assert_eq!(e["code"], "message_too_large");

    c.send_binary(b"\x00\x01").await;
    assert_eq!(c.recv_type("error").await["code"], "binary_not_supported");

    let ack = c.request(json!({"type": "heartbeat"}), "still-open").await;
    assert_eq!(ack["type"], "heartbeat_ack");
}

#[actix_web::test]
async fn frame_over_the_hard_limit_closes_with_1009() {
    let app = spawn_app_with(|s| {
        s.websocket.max_message_bytes = 1024;
        s.websocket.max_frame_bytes = 4096;
    })
    .await;
    let mut c = app.connect_ready("u", "t").await;
    c.send_text(&"y".repeat(10_000)).await;
    assert_eq!(
        c.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(close_code::MESSAGE_TOO_BIG))
    );
}

#[actix_web::test]
async fn rate_limit_answers_rate_limited_then_closes_sustained_floods() {
    let app = spawn_app_with(|s| {
        s.websocket.rate_limit_burst = 5;
        s.websocket.rate_limit_per_second = 1;
        s.websocket.rate_limit_close_after = 30;
    })
    .await;
    let mut c = app.connect_ready("u", "t").await;
    for i in 0..8 {
        c.send(json!({"type": "heartbeat", "ref": format!("h{i}")}))
            .await;
    }
    let mut acks = 0;
    let mut limited = None;
    for _ in 0..8 {
        let m = c.recv().await;
        match m["type"].as_str() {
            Some("heartbeat_ack") => acks += 1,
            Some("error") => {
                assert_eq!(m["code"], "rate_limited");
                assert!(m["ref"].as_str().unwrap().starts_with('h'));
                limited.get_or_insert(m);
            }
            _ => {}
        }
    }
    assert_eq!(acks, 5, "exactly the burst is admitted");
    let limited = limited.expect("a rate_limited error");
    let retry = limited["retry_after_ms"].as_u64().unwrap();
    assert!(retry > 0 && retry <= 1000, "retry hint {retry}");

    // The server closes promptly once the flood passes the limit, so a
    // send after that may find the connection gone.
    for _ in 0..60 {
        if !c.send_unless_closed(json!({"type": "heartbeat"})).await {
            break;
        }
    }
    assert_eq!(
        c.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(close_code::RATE_LIMIT_ABUSE))
    );
}

#[actix_web::test]
async fn cursor_moves_at_thirty_per_second_are_never_limited_by_default() {
    let app = spawn_app().await;
    let mut c = app.connect_ready("u", "t").await;
    c.request(
        json!({"type": "room:join", "entity_type": "doc", "entity_id": "1"}),
        "j",
    )
    .await;
    let mut interval = tokio::time::interval(Duration::from_millis(33));
    for i in 0..150 {
        interval.tick().await;
        c.send(
            json!({"type": "cursor:move", "entity_type": "doc", "entity_id": "1",
                      "position": i, "ref": format!("m{i}")}),
        )
        .await;
    }
    let mut acks = 0;
    while acks < 150 {
        let m = c.recv().await;
        assert_ne!(m["type"], "error", "{m}");
        if m["type"] == "ack" {
            acks += 1;
        }
    }
}

#[actix_web::test]
async fn connection_cap_per_user_refuses_with_429() {
    let app = spawn_app_with(|s| s.websocket.max_connections_per_user = 2).await;
    let _a = app.connect_ready("u", "t").await;
    let b = app.connect_ready("u", "t").await;
    let token = app.token("u", "t");
    let (status, body) = app.refused_upgrade("/ws", &bearer(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("too_many_connections"))
    );
    // Another user is unaffected; closing one frees a slot.
    let _other = app.connect_ready("v", "t").await;
    b.close().await;
    app.wait_stats(|s| s.connections == 2).await;
    let _c = app.connect_ready("u", "t").await;
}

/// A client that sends frames of its own is known alive and not pinged; a
/// quiet one (that only answers pings) is pinged every interval.
#[actix_web::test]
async fn only_quiet_sockets_are_pinged() {
    let app = spawn_app_with(|s| {
        s.websocket.ping_interval_secs = 1;
        s.websocket.client_timeout_secs = 3;
    })
    .await;
    let mut talker = app.connect_ready("t", "acme").await;
    let mut quiet = app.connect_ready("q", "acme").await;
    let talk = async {
        let mut pings = 0;
        for _ in 0..10 {
            talker.send(json!({"type": "heartbeat"})).await;
            pings += talker.pings_within(Duration::from_millis(250)).await;
        }
        pings
    };
    let (talked, waited) = tokio::join!(talk, quiet.pings_within(Duration::from_millis(2500)));
    assert_eq!(talked, 0, "a socket that spoke was pinged");
    assert!(waited >= 2, "a quiet socket got {waited} pings in 2.5 s");
    // Both are still open.
    talker.request(json!({"type": "heartbeat"}), "h").await;
    quiet.request(json!({"type": "heartbeat"}), "h").await;
}

#[actix_web::test]
async fn silent_client_is_closed_with_4000_and_a_live_one_stays() {
    let app = spawn_app_with(|s| {
        s.websocket.ping_interval_secs = 1;
        s.websocket.client_timeout_secs = 2;
    })
    .await;
    let mut silent = app.connect_ready("s", "t").await;
    let mut live = app.connect_ready("l", "t").await;
    // The live client reads (answering pings) and sends heartbeats.
    let live_task = async {
        for i in 0..8 {
            let ack = live
                .request(json!({"type": "heartbeat"}), &format!("l{i}"))
                .await;
            assert_eq!(ack["type"], "heartbeat_ack");
            // A heartbeat every 500 ms, well inside the 2 s timeout, for 4 s.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        live
    };
    let silent_task = async {
        // Do not answer pings and do not send anything: `ended` reads
        // without answering until the server closes (2 s timeout).
        silent.ended(Duration::from_secs(8)).await
    };
    let (mut live, ended) = futures_util::join!(live_task, silent_task);
    assert_eq!(ended, Ended::Close(Some(close_code::HEARTBEAT_TIMEOUT)));
    let ack = live.request(json!({"type": "heartbeat"}), "final").await;
    assert_eq!(ack["type"], "heartbeat_ack");
}

#[actix_web::test]
async fn slow_consumer_is_cut_and_others_are_unaffected() {
    let app = spawn_app_with(|s| {
        s.websocket.outbound_queue_limit = 64;
        s.websocket.slow_consumer_grace_ms = 300;
        s.websocket.rate_limit_burst = 10_000;
        s.websocket.rate_limit_per_second = 10_000;
        s.websocket.rate_limit_close_after = 100_000;
    })
    .await;
    let mut sender = app.connect_ready("sender", "t").await;
    let mut reader = app.connect_ready("reader", "t").await;
    let mut slow = app.connect_ready("slow", "t").await;
    for c in [&mut sender, &mut reader, &mut slow] {
        c.request(
            json!({"type": "room:join", "entity_type": "doc", "entity_id": "big"}),
            "j",
        )
        .await;
    }
    let payload = "z".repeat(32 * 1024);
    // The sender stays at most 8 messages ahead of the reader, so only
    // `slow` (which reads nothing) falls behind.
    let progress = std::sync::atomic::AtomicUsize::new(0);
    let reader_task = async {
        let mut got = 0;
        while got < 400 {
            let m = reader.recv().await;
            if m["type"] == "room:broadcast" {
                assert_eq!(m["payload"]["n"], got);
                got += 1;
                progress.store(got, std::sync::atomic::Ordering::Relaxed);
            }
        }
        got
    };
    let sender_task = async {
        for n in 0..400 {
            while n > progress.load(std::sync::atomic::Ordering::Relaxed) + 8 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            sender
                .send(
                    json!({"type": "room:broadcast", "entity_type": "doc", "entity_id": "big",
                             "event": "blob", "payload": {"n": n, "data": payload}}),
                )
                .await;
        }
    };
    // `slow` reads nothing while 12 MB are sent to it.
    let (got, ()) = futures_util::join!(reader_task, sender_task);
    assert_eq!(got, 400, "a reading member gets every message");
    app.wait_stats(|s| s.connections == 2).await;
    // Once `slow` reads again it finds the end of its connection.
    let ended = slow.ended(Duration::from_secs(10)).await;
    assert!(
        ended == Ended::Close(Some(close_code::SLOW_CONSUMER)) || ended == Ended::Eof,
        "{ended:?}"
    );
    let ack = sender.request(json!({"type": "heartbeat"}), "after").await;
    assert_eq!(ack["type"], "heartbeat_ack");
}

#[actix_web::test]
async fn readyz_reports_the_database_going_away() {
    let app = spawn_app().await;
    let (status, body) = app.get("/healthz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, _) = app.get("/readyz", None).await;
    assert_eq!(status, 200);
    admin_exec(&format!("DROP DATABASE {} WITH (FORCE)", app.db.name))
        .await
        .unwrap();
    let (status, body) = app.get("/readyz", None).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("not_ready")));
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, 200, "the process is still up");
}

#[actix_web::test]
async fn rest_errors_are_json_with_codes() {
    let app = spawn_app().await;
    let token = app.token("u", "t");
    let (status, body) = app.get("/api/v1/nope", Some(&token)).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) = app
        .send_json(
            "PUT",
            "/api/v1/presence/status",
            Some(&token),
            &json!({"status": "sleepy"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_body"))
    );
    let (status, body) = app.get("/api/v1/admin/stats", Some(&token)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let admin = token_with(&app.settings, "root", "t", Some("admin"), 60);
    let (status, body) = app.get("/api/v1/admin/stats", Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(body["connections"].is_u64());
}

/// Writes a config file for the binary.
fn write_config(db_url: &str, grace: u64) -> tempfile_path::TempConfig {
    let path = std::env::temp_dir().join(format!(
        "tandem-test-{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(
        &path,
        format!(
            "[server]\nport = 0\nworkers = 1\nshutdown_grace_secs = {grace}\n\
             [database]\nurl = \"{db_url}\"\n[auth]\nsecret = \"{SECRET}\"\nleeway_secs = 0\n"
        ),
    )
    .unwrap();
    tempfile_path::TempConfig(path)
}

/// Kills a child process when dropped; forget it once the child is reaped.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

mod tempfile_path {
    /// A config file removed on drop.
    pub struct TempConfig(pub std::path::PathBuf);
    impl Drop for TempConfig {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[actix_web::test]
async fn sigterm_closes_sockets_with_1012_and_exits_zero() {
    use std::io::{BufRead, BufReader};
    let db = TestDb::create().await;
    let config = write_config(&db.url, 5);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--config"])
        .arg(&config.0)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    // Never leave a server behind if an assertion fails.
    let pid = child.id();
    let reaper = KillOnDrop(pid);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(port) = line.split("listening on port ").nth(1) {
                let _ = tx.send(port.trim().parse::<u16>().unwrap());
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server started");
    let settings = {
        let mut s = tandem::config::Settings::default();
        s.auth.secret = tandem::config::Secret::new(SECRET);
        s
    };
    let token = token_with(&settings, "u", "t", None, 60);
    let mut c = WsClient::connect(&format!("ws://127.0.0.1:{port}/ws"), &bearer(&token))
        .await
        .unwrap();
    c.recv_type("welcome").await;
    let started = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        c.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(close_code::SERVICE_RESTART))
    );
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    // Reaped: its pid may be reused now, so never kill it again.
    std::mem::forget(reaper);
    assert_eq!(exit.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "within the grace period"
    );
}

#[actix_web::test]
async fn invalid_config_stops_the_server_naming_the_key() {
    let path =
        std::env::temp_dir().join(format!("tandem-bad-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, "[websocket]\nping_interval_secs = \"soon\"\n[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("websocket.ping_interval_secs"), "{stderr}");
}

#[actix_web::test]
async fn token_command_prints_a_token_the_server_accepts() {
    let app = spawn_app().await;
    let config = write_config(&app.db.url, 5);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "token", "--user", "zoe", "--tenant", "acme", "--name", "Zoe", "--config",
        ])
        .arg(&config.0)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let mut c = WsClient::connect(&format!("{}?token={token}", app.ws_url()), &[])
        .await
        .unwrap();
    let welcome = c.recv_type("welcome").await;
    assert_eq!(
        (welcome["user_id"].as_str(), welcome["tenant_id"].as_str()),
        (Some("zoe"), Some("acme"))
    );
}
