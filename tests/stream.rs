//! Server-Sent Events (`GET /api/v1/stream`): authentication, event ids,
//! keep-alive comments, gap-free resume with `Last-Event-ID`, replay
//! limits, the per-user connection cap, and token expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {token}"))]
}

#[actix_web::test]
async fn the_stream_needs_a_token_and_a_valid_last_event_id() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/stream");
    let (status, body) = SseClient::connect(&url, &[]).await.err().unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing_token"))
    );
    let (status, body) = SseClient::connect(&format!("{url}?token=garbage"), &[])
        .await
        .err()
        .unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let token = app.token("alice", "acme");
    let (status, body) = SseClient::connect(&format!("{url}?token={token}&last_event_id=12"), &[])
        .await
        .err()
        .unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_last_event_id"))
    );
    let mut headers = bearer(&token);
    headers.push(("Last-Event-ID", "n-1.n-2".into()));
    let (status, _) = SseClient::connect(&url, &headers).await.err().unwrap();
    assert_eq!(status, 400);

    let s = app.sse(&format!("?token={token}"), &[]).await;
    assert_eq!(s.headers.get("content-type").unwrap(), "text/event-stream");
    assert_eq!(s.headers.get("cache-control").unwrap(), "no-cache");
}

#[actix_web::test]
async fn events_carry_positions_and_keep_alives_flow() {
    let app = spawn_app_with(|s| s.sse.keepalive_secs = 1).await;
    // Earlier history sets the starting position.
    let before = app.notify("acme", "alice", "before").await;
    let mut s = app.sse("", &bearer(&app.token("alice", "acme"))).await;
    let (id, ready) = s.next_named("ready").await;
    assert_eq!(id.as_deref(), Some(format!("n-{before}.a-0").as_str()));
    assert_eq!(ready["notification_id"], before);
    assert_eq!(ready["replayed"], 0);

    // Presence traffic on the tenant is not part of the stream.
    let _bob = app.connect_ready("bob", "acme").await;
    let n = app.notify("acme", "alice", "Hello").await;
    let (id, name, data) = s.next_event().await;
    assert_eq!(name, "notification");
    assert_eq!(id.as_deref(), Some(format!("n-{n}.a-0").as_str()));
    assert_eq!(
        (data["id"].as_i64(), data["title"].as_str()),
        (Some(n), Some("Hello"))
    );
    let (_, b) = app
        .post_activity(
            "acme",
            json!({"action": "created", "entity_type": "invoice", "entity_id": "1"}),
        )
        .await;
    let a = b["id"].as_i64().unwrap();
    let (id, name, data) = s.next_event().await;
    assert_eq!(name, "activity");
    assert_eq!(id.as_deref(), Some(format!("n-{n}.a-{a}").as_str()));
    assert_eq!(data["entity_id"], "1");
    // Someone else's notification is not in alice's stream.
    app.notify("acme", "bob", "for bob").await;
    let mut keep_alive = false;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
    while tokio::time::Instant::now() < deadline {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match s.next_item(left).await {
            Some(SseItem::Comment(c)) if c == "keep-alive" => {
                keep_alive = true;
                break;
            }
            Some(SseItem::Comment(_)) => {}
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    assert!(keep_alive, "a keep-alive comment within 2.5 s");
}

#[actix_web::test]
async fn resuming_with_last_event_id_gets_exactly_what_was_missed_then_live_events() {
    let app = spawn_app_with(|s| s.sse.keepalive_secs = 1).await;
    let token = app.token("alice", "acme");
    let mut s = app.sse("", &bearer(&token)).await;
    s.next_named("ready").await;
    app.notify("acme", "alice", "seen 1").await;
    app.notify("acme", "alice", "seen 2").await;
    s.next_named("notification").await;
    let (last_id, _) = s.next_named("notification").await;
    let last_id = last_id.unwrap();
    drop(s);

    // While away: three notifications and a team activity for alice, and
    // things she must never get.
    let mut missed = Vec::new();
    for i in 0..3 {
        missed.push(app.notify("acme", "alice", &format!("missed {i}")).await);
    }
    app.notify("acme", "bob", "bob's").await;
    app.notify("globex", "alice", "other tenant").await;
    let (_, b) = app
        .post_activity(
            "acme",
            json!({"action": "created", "entity_type": "invoice", "entity_id": "9"}),
        )
        .await;
    let activity = b["id"].as_i64().unwrap();
    app.post_activity(
        "acme",
        json!({"action": "x", "entity_type": "i", "entity_id": "1", "visibility": "private", "visible_to": ["bob"]}),
    )
    .await;
    app.post_activity(
        "globex",
        json!({"action": "x", "entity_type": "i", "entity_id": "1"}),
    )
    .await;

    let mut headers = bearer(&token);
    headers.push(("Last-Event-ID", last_id.clone()));
    let mut s = app.sse("", &headers).await;
    let mut got = Vec::new();
    let ready_id = loop {
        let (id, name, data) = s.next_event().await;
        match name.as_str() {
            "ready" => break id.unwrap(),
            "notification" => got.push(("n", data["id"].as_i64().unwrap(), id.unwrap())),
            "activity" => got.push(("a", data["id"].as_i64().unwrap(), id.unwrap())),
            other => panic!("unexpected event {other}"),
        }
    };
    let kinds: Vec<(&str, i64)> = got.iter().map(|(k, i, _)| (*k, *i)).collect();
    assert_eq!(
        kinds,
        vec![
            ("n", missed[0]),
            ("n", missed[1]),
            ("n", missed[2]),
            ("a", activity)
        ],
        "exactly the missed events"
    );
    assert_eq!(got[3].2, format!("n-{}.a-{activity}", missed[2]));
    assert_eq!(ready_id, got[3].2);

    // Then live, continuing from the same position, without duplicates.
    let live = app.notify("acme", "alice", "live").await;
    let (id, name, data) = s.next_event().await;
    assert_eq!(
        (name.as_str(), data["id"].as_i64()),
        ("notification", Some(live))
    );
    assert_eq!(id.unwrap(), format!("n-{live}.a-{activity}"));
    assert!(s.try_next_event(Duration::from_millis(500)).await.is_none());

    // The query-string form resumes the same way.
    let mut q = app
        .sse(
            &format!("?token={token}&last_event_id=n-{}.a-{activity}", missed[2]),
            &[],
        )
        .await;
    let (_, name, data) = q.next_event().await;
    assert_eq!(
        (name.as_str(), data["id"].as_i64()),
        ("notification", Some(live))
    );
    assert_eq!(q.next_event().await.1, "ready");
}

#[actix_web::test]
async fn a_long_backlog_is_replayed_in_pieces_across_reconnects() {
    let app = spawn_app_with(|s| s.sse.replay_limit = 2).await;
    let token = app.token("alice", "acme");
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(app.notify("acme", "alice", &format!("n{i}")).await);
    }
    let mut position = "n-0.a-0".to_owned();
    let mut got = Vec::new();
    loop {
        let mut headers = bearer(&token);
        headers.push(("Last-Event-ID", position.clone()));
        let mut s = app.sse("", &headers).await;
        let mut finished = false;
        while let Some((id, name, data)) = s.try_next_event(RECV_TIMEOUT).await {
            position = id.unwrap();
            if name == "ready" {
                finished = true;
                break;
            }
            got.push(data["id"].as_i64().unwrap());
        }
        if finished {
            break;
        }
        assert!(got.len() <= made.len(), "no progress");
    }
    assert_eq!(got, made);
}

#[actix_web::test]
async fn a_stream_takes_a_connection_slot_but_is_not_presence() {
    let app = spawn_app_with(|s| {
        s.websocket.max_connections_per_user = 1;
        s.sse.keepalive_secs = 1;
    })
    .await;
    let token = app.token("alice", "acme");
    let mut s = app.sse("", &bearer(&token)).await;
    s.next_named("ready").await;
    let (status, body) = app.refused_upgrade("/ws", &bearer(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("too_many_connections"))
    );
    let (status, body) = SseClient::connect(&app.url("/api/v1/stream"), &bearer(&token))
        .await
        .err()
        .unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("too_many_connections"))
    );
    let (_, presence) = app
        .get("/api/v1/presence", Some(&app.token("bob", "acme")))
        .await;
    assert_eq!(presence["users"], json!([]), "SSE readers are not online");
    assert_eq!(app.stats().await.connections, 0);

    // When the reader goes away, the slot is freed (noticed at the next keep-alive).
    drop(s);
    let mut freed = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match SseClient::connect(&app.url("/api/v1/stream"), &bearer(&token)).await {
            Ok(_) => {
                freed = true;
                break;
            }
            Err((429, _)) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(freed, "the slot was released");
}

#[actix_web::test]
async fn the_stream_ends_when_the_token_expires() {
    let app = spawn_app().await;
    let token = token_with(&app.settings, "alice", "acme", None, 2);
    let mut s = app.sse("", &bearer(&token)).await;
    s.next_named("ready").await;
    assert!(s.ended(Duration::from_secs(6)).await);
}

#[actix_web::test]
async fn shutdown_ends_open_streams_without_waiting_out_the_grace_period() {
    let app = spawn_app_with(|s| s.server.shutdown_grace_secs = 8).await;
    let token = app.token("alice", "acme");
    let mut s = app.sse(&format!("?token={token}"), &[]).await;
    app.wait_stats(|st| st.streams == 1).await;
    let started = std::time::Instant::now();
    app.shutdown.shutdown().await;
    // The stream ends (no more items, end of body) well before the grace period.
    while s.next_item(Duration::from_secs(6)).await.is_some() {}
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "shutdown waited {:?}",
        started.elapsed()
    );
    // The registry stopped with the actor threads it runs on.
    assert!(
        app.services
            .registry
            .send(tandem::actors::registry::GetStats)
            .await
            .is_err(),
        "the registry outlived the shutdown"
    );
}
