//! The Web Push SSRF guard end to end: the real server refuses endpoints on
//! loopback, private and link-local addresses (in every spelling resolvers
//! accept), never connects to one even when it is already stored, and tells
//! users only `failed`, `gone` or `rejected`, never a network error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app_with, TestApp};
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use std::time::Duration;
use tandem::config::{Secret, Settings};

// A VAPID key and a browser subscription's keys (from the web-push crate's tests).
const VAPID_PRIVATE: &str = "IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY";
const P256DH: &str =
    "BLMbF9ffKBiWQLCKvTHb6LO8Nb6dcUh6TItC455vu2kElga6PQvUmaFyCdykxY2nOSSL3yKgfbmFLRTUaGv4yV8";
const AUTH: &str = "xS03Fi5ErfTNH_l9WHE9Ig";

fn web_push(s: &mut Settings, allow_private: bool) {
    s.push.vapid_private_key = Secret::new(VAPID_PRIVATE);
    s.push.vapid_subject = "mailto:push-tests@tandem.example".into();
    s.push.insecure_endpoint_hosts = vec!["127.0.0.1".into(), "localhost".into()];
    s.push.allow_private_endpoints = allow_private;
    s.push.max_retries = 0;
    s.push.request_timeout_secs = 2;
}

async fn subscribe(app: &TestApp, token: &str, endpoint: &str) -> (u16, Value) {
    app.send_json(
        "POST",
        "/api/v1/push/subscribe",
        Some(token),
        &json!({"endpoint": endpoint, "keys": {"p256dh": P256DH, "auth": AUTH}}),
    )
    .await
}

/// A port that something listens on, and a way to tell whether anyone connected.
async fn listener() -> (tokio::net::TcpListener, u16) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

async fn test_push(app: &TestApp, token: &str) -> Value {
    let (status, report) = app
        .send_json("POST", "/api/v1/push/test", Some(token), &json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    report
}

#[actix_rt::test]
async fn endpoints_on_non_public_addresses_are_refused() {
    let app = spawn_app_with(|s| web_push(s, false)).await;
    let ana = app.token("ana", "t1");
    let (l, port) = listener().await;
    for endpoint in [
        format!("http://127.0.0.1:{port}/wp/1"),
        format!("https://127.0.0.1:{port}/wp/1"),
        format!("https://[::1]:{port}/wp/1"),
        format!("https://[::ffff:127.0.0.1]:{port}/wp/1"),
        format!("https://[::ffff:7f00:1]:{port}/wp/1"),
        format!("https://0x7f000001:{port}/wp/1"),
        format!("https://2130706433:{port}/wp/1"),
        format!("https://127.1:{port}/wp/1"),
        format!("https://0177.0.0.1:{port}/wp/1"),
        format!("http://localhost:{port}/wp/1"),
        "https://10.1.2.3/wp".into(),
        "https://172.16.0.1/wp".into(),
        "https://192.168.0.1/wp".into(),
        "https://100.64.0.1/wp".into(),
        "https://169.254.169.254/latest/meta-data".into(),
        "https://[fe80::1]/wp".into(),
        "https://[fd00::1]/wp".into(),
        "https://0.0.0.0/wp".into(),
        "https://224.0.0.1/wp".into(),
    ] {
        let (status, resp) = subscribe(&app, &ana, &endpoint).await;
        assert_eq!(
            (status, resp["error"].as_str()),
            (400, Some("invalid_subscription")),
            "{endpoint} -> {resp}"
        );
    }
    let (_, list) = app.get("/api/v1/push/subscriptions", Some(&ana)).await;
    assert_eq!(list["subscriptions"], json!([]));
    // Nothing connected to the listener while the endpoints were checked.
    let accepted = tokio::time::timeout(Duration::from_millis(200), l.accept()).await;
    assert!(accepted.is_err(), "the server connected to loopback");
}

#[actix_rt::test]
async fn a_stored_private_endpoint_is_never_contacted() {
    let app = spawn_app_with(|s| web_push(s, false)).await;
    let ana = app.token("ana", "t1");
    let (l, port) = listener().await;
    // As if stored before the guard existed (or by a host that now
    // resolves to loopback).
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "INSERT INTO push_subscriptions (tenant_id, user_id, kind, endpoint, p256dh_key, auth_key) \
         VALUES ('t1', 'ana', 'web_push', $1, $2, $3)",
    )
    .bind::<Text, _>(format!("http://127.0.0.1:{port}/wp/1"))
    .bind::<Text, _>(P256DH)
    .bind::<Text, _>(AUTH)
    .execute(&mut conn)
    .await
    .unwrap();
    let report = test_push(&app, &ana).await;
    assert_eq!(
        report["results"],
        json!([{"kind": "web_push", "subscription_id": report["results"][0]["subscription_id"],
                "result": "failed", "attempts": 1, "error": "rejected"}]),
        "{report}"
    );
    let accepted = tokio::time::timeout(Duration::from_millis(200), l.accept()).await;
    assert!(accepted.is_err(), "the server connected to loopback");
}

#[actix_rt::test]
async fn delivery_errors_do_not_describe_the_network() {
    // The test-only switch lets the endpoint through; a closed port then
    // fails, and the report must not say how (refused, reset, timeout).
    let app = spawn_app_with(|s| web_push(s, true)).await;
    let ana = app.token("ana", "t1");
    let closed = {
        let (l, port) = listener().await;
        drop(l);
        port
    };
    let (status, resp) = subscribe(&app, &ana, &format!("http://127.0.0.1:{closed}/wp/1")).await;
    assert_eq!(status, 201, "{resp}");
    let report = test_push(&app, &ana).await;
    let result = &report["results"][0];
    assert_eq!(result["result"], "failed", "{report}");
    assert_eq!(result["error"], "failed", "{report}");
    assert!(result.get("status").is_none(), "{report}");
}
