//! `GET /metrics` against the real server: the values move with real
//! traffic, and the endpoint is guarded by `metrics.token`.
//!
//! The Prometheus recorder is global to a process, so only one test in this
//! file opens sockets (the others only read).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use tandem::config::Secret;

const TOKEN: &str = "metrics-token-0123456789";

async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut req = awc::Client::new().get(app.url("/metrics"));
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let mut resp = req.send().await.unwrap();
    let body = resp.body().limit(4 << 20).await.unwrap();
    (
        resp.status().as_u16(),
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// The value of one series (`name{labels}` exactly as rendered), 0 if absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

/// Scrapes until `check` holds on the text (at most 10 s).
async fn wait_for(app: &TestApp, what: &str, check: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        let (status, text) = scrape(app, Some(TOKEN)).await;
        assert_eq!(status, 200);
        if check(&text) {
            return text;
        }
        last = text;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("metrics never showed {what}:\n{last}");
}

const WS: &str = r#"tandem_connections{transport="ws"}"#;

#[actix_web::test]
async fn metrics_move_with_real_traffic() {
    let app = spawn_app_with(|s| s.metrics.token = Secret::new(TOKEN)).await;
    let (status, before) = scrape(&app, Some(TOKEN)).await;
    assert_eq!(status, 200);
    let open_before = value(&before, WS);
    let heartbeats_before = value(&before, r#"tandem_messages_in_total{type="heartbeat"}"#);
    let welcomes_before = value(&before, r#"tandem_messages_out_total{type="welcome"}"#);

    // Open 10 sockets (10 users in 2 tenants), see 10.
    let mut clients = Vec::new();
    for i in 0..10 {
        let tenant = if i % 2 == 0 { "acme" } else { "globex" };
        clients.push(app.connect_ready(&format!("u{i}"), tenant).await);
    }
    let text = wait_for(&app, "10 more ws connections", |t| {
        value(t, WS) == open_before + 10.0
    })
    .await;
    assert_eq!(value(&text, "tandem_tenants"), 2.0, "{text}");
    assert_eq!(value(&text, "tandem_users"), 10.0, "{text}");
    assert!(
        value(&text, r#"tandem_messages_out_total{type="welcome"}"#) >= welcomes_before + 10.0,
        "{text}"
    );

    // Messages in by type.
    for c in clients.iter_mut() {
        c.send(json!({"type": "heartbeat", "ref": 1})).await;
        c.recv_type("heartbeat_ack").await;
    }
    let text = scrape(&app, Some(TOKEN)).await.1;
    assert_eq!(
        value(&text, r#"tandem_messages_in_total{type="heartbeat"}"#),
        heartbeats_before + 10.0,
        "{text}"
    );

    // Rate limiting shows up: a burst far over the bucket.
    let limited_before = value(&text, r#"tandem_rate_limited_total{transport="ws"}"#);
    let burst = app.settings.websocket.rate_limit_burst as usize;
    for _ in 0..burst + 5 {
        clients[0]
            .send(json!({"type": "heartbeat", "ref": 2}))
            .await;
    }
    clients[0]
        .recv_where("rate_limited error", |m| m["code"] == "rate_limited")
        .await;
    let text = scrape(&app, Some(TOKEN)).await.1;
    assert!(
        value(&text, r#"tandem_rate_limited_total{transport="ws"}"#) > limited_before,
        "{text}"
    );

    // Fan-out latency moves with broadcasts: two members of a room, one
    // moves its typing status, the other receives it through the broker.
    let fanout = "tandem_fanout_delivery_seconds_count";
    let fanout_before = value(&text, fanout);
    let room = json!({"type": "room:join", "entity_type": "invoice", "entity_id": "m"});
    clients[2].request(room.clone(), "j").await;
    clients[4].request(room, "j").await;
    clients[2]
        .send(json!({"type": "typing:start", "entity_type": "invoice", "entity_id": "m"}))
        .await;
    clients[4].recv_type("typing:users").await;
    let text = wait_for(&app, "fan-out deliveries", |t| {
        value(t, fanout) > fanout_before
    })
    .await;
    assert!(
        text.contains("tandem_fanout_delivery_seconds_bucket{le="),
        "{text}"
    );
    // Mailboxes are sampled at the scrape: the broker's depth, the probes'
    // round trips (a room now exists, so its probe ran).
    assert!(
        text.contains(r#"tandem_mailbox_depth{actor="broker"}"#),
        "{text}"
    );
    for actor in ["registry", "room", "document"] {
        assert!(
            text.contains(&format!(
                r#"tandem_mailbox_wait_seconds{{actor="{actor}"}}"#
            )),
            "{actor}: {text}"
        );
    }
    assert!(
        value(&text, r#"tandem_mailbox_wait_seconds{actor="room"}"#) > 0.0,
        "{text}"
    );
    // Queries are timed (the server has run migrations' checks, presence
    // logs, ...); Redis is not configured.
    assert!(
        value(&text, r#"tandem_db_query_seconds_count{outcome="ok"}"#) >= 1.0,
        "{text}"
    );
    assert!(text.contains("tandem_db_pool_in_use"), "{text}");
    assert!(text.contains("tandem_redis_up 0"), "{text}");

    // Close 4: the gauge comes down.
    for c in clients.drain(..4) {
        c.close().await;
    }
    wait_for(&app, "6 more ws connections", |t| {
        value(t, WS) == open_before + 6.0
    })
    .await;

    // HTTP requests are counted by route pattern, not raw path.
    let (status, _) = app.get("/api/v1/presence/someone", None).await;
    assert_eq!(status, 401);
    let text = scrape(&app, Some(TOKEN)).await.1;
    assert!(
        value(
            &text,
            r#"tandem_http_requests_total{method="GET",route="/api/v1/presence/{user_id}",status="401"}"#
        ) >= 1.0,
        "{text}"
    );
    assert!(!text.contains("someone"), "raw paths must not be labels");
    // The database pool is reported.
    assert!(value(&text, "tandem_db_pool_size") >= 1.0, "{text}");
    assert!(text.contains("tandem_db_acquire_seconds_bucket"), "{text}");
}

#[actix_web::test]
async fn metrics_need_the_token() {
    let app = spawn_app_with(|s| s.metrics.token = Secret::new(TOKEN)).await;
    let (status, body) = scrape(&app, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_token"));
    let (status, _) = scrape(&app, Some("wrong-token-0123456789abcd")).await;
    assert_eq!(status, 401);
    let (status, text) = scrape(&app, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE tandem_db_pool_size gauge"), "{text}");
}

#[actix_web::test]
async fn metrics_are_off_without_a_token() {
    let app = spawn_app().await;
    let (status, body) = scrape(&app, Some("anything")).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("metrics.token"), "{body}");
}
