//! Smaller hardening findings, each against the real server: lock bodies
//! that do not parse are refused, only `application/json` is a JSON body,
//! two Origin headers are refused, numeric `ref`s come back unchanged, a
//! push endpoint belongs to whoever holds its keys, and a stored lock keeps
//! its holder's name and `acquired_at` across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use tandem::config::Secret;

#[actix_web::test]
async fn a_rest_lock_with_a_negative_ttl_is_refused() {
    let app = spawn_app().await;
    let ann = app.token("ann", "acme");
    for body in [
        json!({"ttl_secs": -5}),
        json!({"ttl_secs": "10"}),
        json!({"field": "total", "bogus": 1}),
    ] {
        let (status, resp) = app
            .send_json(
                "POST",
                "/api/v1/collaboration/invoice/7/lock",
                Some(&ann),
                &body,
            )
            .await;
        assert_eq!(
            (status, resp["error"].as_str()),
            (400, Some("invalid_body")),
            "{body}: {resp}"
        );
    }
    // No body still takes the defaults.
    let (status, lock) = app
        .call(
            "POST",
            "/api/v1/collaboration/invoice/7/lock",
            &[("authorization", format!("Bearer {ann}"))],
            None,
        )
        .await;
    assert_eq!(status, 201, "{lock}");
}

#[actix_web::test]
async fn only_application_json_is_a_json_body() {
    let app = spawn_app_with_api_key(|_| {}).await;
    let token = app.service_token("t1");
    let body = json!({"user_ids": ["ana"], "type": "mention", "title": "Hi"});
    for (content_type, expected) in [
        ("application/vnd.evil+json", 400),
        ("application/merge-patch+json", 400),
        ("text/plain", 400),
        ("application/json; charset=utf-8", 201),
        ("application/json", 201),
    ] {
        let mut resp = awc::Client::new()
            .post(app.url("/api/v1/notifications"))
            .bearer_auth(&token)
            .insert_header(("content-type", content_type))
            .send_body(body.to_string())
            .await
            .unwrap();
        let bytes = resp.body().await.unwrap();
        assert_eq!(
            resp.status().as_u16(),
            expected,
            "{content_type}: {bytes:?}"
        );
    }
}

#[actix_web::test]
async fn two_origin_headers_are_refused() {
    let app = spawn_app().await;
    let token = app.token("ann", "acme");
    let (status, body) = app
        .refused_upgrade(
            &format!("/ws?token={token}"),
            &[
                ("Origin", "http://allowed.example".into()),
                ("Origin", "http://evil.example".into()),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("origin_not_allowed")),
        "{body}"
    );
}

#[actix_web::test]
async fn a_numeric_ref_is_echoed_as_written() {
    let app = spawn_app().await;
    let mut c = app.connect_ready("ann", "acme").await;
    let big = "9".repeat(300);
    for token in [big.as_str(), "1.50", "-7"] {
        c.send_text(&format!(r#"{{"type":"no:such","ref":{token}}}"#))
            .await;
        let raw = c.recv_text().await;
        assert!(
            raw.contains(&format!(r#""ref":{token}"#)),
            "{token} came back as {raw}"
        );
    }
}

const P256DH: &str =
    "BLMbF9ffKBiWQLCKvTHb6LO8Nb6dcUh6TItC455vu2kElga6PQvUmaFyCdykxY2nOSSL3yKgfbmFLRTUaGv4yV8";
const AUTH: &str = "xS03Fi5ErfTNH_l9WHE9Ig";
const OTHER_AUTH: &str = "AAAAAAAAAAAAAAAAAAAAAA";

#[actix_web::test]
async fn a_push_endpoint_belongs_to_whoever_holds_its_keys() {
    let app = spawn_app_with(|s| {
        s.push.vapid_private_key = Secret::new("IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY");
        s.push.vapid_subject = "mailto:push-tests@tandem.example".into();
        s.push.insecure_endpoint_hosts = vec!["127.0.0.1".into()];
        s.push.allow_private_endpoints = true;
    })
    .await;
    let (ana, bob) = (app.token("ana", "t1"), app.token("bob", "t1"));
    let endpoint = "http://127.0.0.1:9/wp/ana-browser";
    let sub = |auth: &str| json!({"endpoint": endpoint, "keys": {"p256dh": P256DH, "auth": auth}});
    let (status, resp) = app
        .send_json("POST", "/api/v1/push/subscribe", Some(&ana), &sub(AUTH))
        .await;
    assert_eq!((status, &resp["took_over"]), (201, &json!(false)), "{resp}");
    // Bob knows the endpoint but not the browser's keys: refused, Ana keeps it.
    let (status, resp) = app
        .send_json(
            "POST",
            "/api/v1/push/subscribe",
            Some(&bob),
            &sub(OTHER_AUTH),
        )
        .await;
    assert_eq!(
        (status, resp["error"].as_str()),
        (409, Some("endpoint_taken")),
        "{resp}"
    );
    let (_, list) = app.get("/api/v1/push/subscriptions", Some(&ana)).await;
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1, "{list}");
    // The same browser (same keys) signed in as Bob takes it over.
    let (status, resp) = app
        .send_json("POST", "/api/v1/push/subscribe", Some(&bob), &sub(AUTH))
        .await;
    assert_eq!((status, &resp["took_over"]), (201, &json!(true)), "{resp}");
    let (_, list) = app.get("/api/v1/push/subscriptions", Some(&ana)).await;
    assert_eq!(list["subscriptions"], json!([]));
}

#[actix_web::test]
async fn a_stored_lock_keeps_its_holders_name_and_acquired_at_after_a_restart() {
    let db = std::sync::Arc::new(TestDb::create().await);
    let settings = test_settings(&db);
    let path = "/api/v1/collaboration/invoice/7/lock";
    let body = json!({"field": "total", "mode": "hard", "ttl_secs": 300});
    let first = {
        let app = spawn_app_on(settings.clone(), db.clone()).await;
        let ann = app.token("ann", "acme");
        let (status, lock) = app.send_json("POST", path, Some(&ann), &body).await;
        assert_eq!(status, 201, "{lock}");
        assert_eq!(lock["name"], "ann name");
        app.shutdown.shutdown().await;
        lock
    };
    let app = spawn_app_on(settings, db.clone()).await;
    // The holder renews it: the reloaded lock is the stored one.
    let (status, renewed) = app
        .send_json("POST", path, Some(&app.token("ann", "acme")), &body)
        .await;
    assert_eq!(status, 201, "{renewed}");
    assert_eq!(renewed["name"], "ann name", "{renewed}");
    assert_eq!(renewed["acquired_at"], first["acquired_at"], "{renewed}");
}

/// Sends a raw upgrade request; returns the status and the response head.
async fn raw_upgrade(app: &TestApp, path: &str, http: &str, extra: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let req = format!(
        "GET {path} {http}\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{extra}\r\n"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(RECV_TIMEOUT, stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head)
}

#[actix_web::test]
async fn handshakes_follow_rfc_6455() {
    let app = spawn_app().await;
    let token = app.token("ann", "acme");
    const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    for path in [
        format!("/ws?token={token}"),
        format!("/yjs/doc-1?token={token}"),
    ] {
        // A good handshake upgrades.
        let (status, _) = raw_upgrade(
            &app,
            &path,
            "HTTP/1.1",
            &format!("Sec-WebSocket-Version: 13\r\n{KEY}"),
        )
        .await;
        assert_eq!(status, 101, "{path}");
        // An unsupported version: 426 naming the one we speak.
        let (status, head) = raw_upgrade(
            &app,
            &path,
            "HTTP/1.1",
            &format!("Sec-WebSocket-Version: 8\r\n{KEY}"),
        )
        .await;
        assert_eq!(status, 426, "{path}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-version: 13"),
            "{head}"
        );
        // A key that is not 16 bytes of base64.
        for key in ["c2hvcnQ=", "not base64!", "dGhlIHNhbXBsZSBub25jZTEx"] {
            let (status, head) = raw_upgrade(
                &app,
                &path,
                "HTTP/1.1",
                &format!("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"),
            )
            .await;
            assert_eq!(status, 400, "{path} {key}: {head}");
            assert!(head.contains("bad_handshake"), "{head}");
        }
        // HTTP/1.0 has no upgrade.
        let (status, head) = raw_upgrade(
            &app,
            &path,
            "HTTP/1.0",
            &format!("Sec-WebSocket-Version: 13\r\n{KEY}"),
        )
        .await;
        assert_eq!(status, 400, "{path}: {head}");
    }
}
