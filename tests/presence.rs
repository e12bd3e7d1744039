//! Presence: devices, grace on disconnect, idle away, chosen status, tenant
//! isolation, REST, and the presence log rows in PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use std::time::Duration;

fn is_user(v: &Value, user: &str) -> bool {
    v["user"]["user_id"] == user || v["user_id"] == user
}

#[actix_web::test]
async fn joining_user_is_announced_and_listed() {
    let app = spawn_app().await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let _alice = app.connect_ready("alice", "acme").await;
    let joined = watcher
        .recv_where("alice joined", |v| {
            v["type"] == "presence:user_joined" && is_user(v, "alice")
        })
        .await;
    assert_eq!(joined["user"]["status"], "online");
    assert_eq!(joined["user"]["name"], "alice name");
    assert!(joined["user"]["color"].as_str().unwrap().starts_with('#'));
    let list = watcher.request(json!({"type": "presence:list"}), "l").await;
    let ids: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["alice", "watcher"]);
}

#[actix_web::test]
async fn second_device_keeps_user_online_when_first_closes() {
    let app = spawn_app().await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let phone = {
        let token = app.token("alice", "acme");
        let mut c = WsClient::connect(
            &format!(
                "{}?token={token}&device=mobile&browser=safari",
                app.ws_url()
            ),
            &[],
        )
        .await
        .unwrap();
        c.recv_type("welcome").await;
        c
    };
    let _laptop = app.connect_ready("alice", "acme").await;
    let two = watcher
        .recv_where("two devices", |v| {
            is_user(v, "alice")
                && v["user"]["devices"]
                    .as_array()
                    .is_some_and(|d| d.len() == 2)
        })
        .await;
    let types: Vec<&str> = two["user"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"mobile") && types.contains(&"desktop"),
        "{types:?}"
    );
    phone.close().await;
    let one = watcher
        .recv_where("one device", |v| {
            is_user(v, "alice")
                && v["user"]["devices"]
                    .as_array()
                    .is_some_and(|d| d.len() == 1)
        })
        .await;
    assert_eq!(one["type"], "presence:update");
    assert_eq!(one["user"]["status"], "online");
    let left = watcher
        .collect_type("presence:user_left", Duration::from_secs(1))
        .await;
    assert!(
        left.is_empty(),
        "no offline while a device remains: {left:?}"
    );
}

#[actix_web::test]
async fn reload_within_grace_produces_no_offline_event_but_leaving_does() {
    let app = spawn_app_with(|s| s.presence.offline_grace_ms = 800).await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let alice = app.connect_ready("alice", "acme").await;
    watcher
        .recv_where("alice joined", |v| {
            v["type"] == "presence:user_joined" && is_user(v, "alice")
        })
        .await;
    alice.close().await;
    let alice = app.connect_ready("alice", "acme").await;
    let events = watcher
        .collect_type("presence:user_left", Duration::from_millis(1500))
        .await;
    assert!(
        events.is_empty(),
        "a reload must not show offline: {events:?}"
    );
    alice.close().await;
    let left = watcher.recv_type("presence:user_left").await;
    assert_eq!(left["user_id"], "alice");
    // The user is gone from the list and from REST.
    let list = watcher.request(json!({"type": "presence:list"}), "l").await;
    assert_eq!(list["users"].as_array().unwrap().len(), 1);
    let (status, body) = app
        .get(
            "/api/v1/presence/alice",
            Some(&app.token("watcher", "acme")),
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("offline")));
    app.wait_stats(|s| s.users == 1).await;
}

#[actix_web::test]
async fn idle_user_becomes_away_then_online_on_activity() {
    let app = spawn_app_with(|s| s.presence.away_after_secs = 1).await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let mut alice = app.connect_ready("alice", "acme").await;
    // Heartbeats and presence queries are not activity: alice sends them
    // every 300 ms for 1.5 s (past the 1 s idle limit) and still goes away.
    for i in 0..5 {
        alice
            .request(json!({"type": "heartbeat"}), &format!("hb{i}"))
            .await;
        alice
            .request(json!({"type": "presence:list"}), &format!("pl{i}"))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let away = watcher
        .recv_where("alice away", |v| {
            is_user(v, "alice") && v["user"]["status"] == "away"
        })
        .await;
    assert_eq!(away["type"], "presence:update");
    alice
        .request(json!({"type": "presence:location", "page": "/invoices/7", "entity_type": "invoice", "entity_id": "7"}), "loc")
        .await;
    let back = watcher
        .recv_where("alice online", |v| {
            is_user(v, "alice") && v["user"]["status"] == "online"
        })
        .await;
    assert_eq!(back["type"], "presence:update");
}

#[actix_web::test]
async fn busy_is_kept_until_changed_over_websocket_and_rest() {
    let app = spawn_app_with(|s| s.presence.away_after_secs = 1).await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let ack = alice
        .request(json!({"type": "presence:status", "status": "busy"}), "s")
        .await;
    assert_eq!(ack["type"], "ack");
    watcher
        .recv_where("busy", |v| {
            is_user(v, "alice") && v["user"]["status"] == "busy"
        })
        .await;
    // Idle time passes: still busy.
    let changes = watcher
        .collect_type("presence:update", Duration::from_millis(1800))
        .await;
    assert!(
        changes
            .iter()
            .all(|v| !is_user(v, "alice") || v["user"]["status"] == "busy"),
        "{changes:?}"
    );
    let token = app.token("alice", "acme");
    let (status, _) = app
        .send_json(
            "PUT",
            "/api/v1/presence/status",
            Some(&token),
            &json!({"status": "online"}),
        )
        .await;
    assert_eq!(status, 204);
    watcher
        .recv_where("online", |v| {
            is_user(v, "alice") && v["user"]["status"] == "online"
        })
        .await;
    let (status, body) = app.get("/api/v1/presence/alice", Some(&token)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("online")));
    let (status, body) = app.get("/api/v1/presence", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(body["users"].as_array().unwrap().len(), 2);
    // A user with no connection cannot set a status.
    let ghost = app.token("ghost", "acme");
    let (status, body) = app
        .send_json(
            "PUT",
            "/api/v1/presence/status",
            Some(&ghost),
            &json!({"status": "busy"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_connected"))
    );
}

#[actix_web::test]
async fn viewers_of_an_entity_are_listed() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    alice
        .request(
            json!({"type": "presence:location", "entity_type": "invoice", "entity_id": "7"}),
            "a",
        )
        .await;
    bob.request(
        json!({"type": "presence:location", "entity_type": "invoice", "entity_id": "8"}),
        "b",
    )
    .await;
    // Location changes are applied asynchronously; poll.
    for _ in 0..50 {
        let reply = bob
            .request(
                json!({"type": "presence:viewers", "entity_type": "invoice", "entity_id": "7"}),
                "v",
            )
            .await;
        let users = reply["users"].as_array().unwrap();
        if users.len() == 1 {
            assert_eq!(users[0]["user_id"], "alice");
            assert_eq!(users[0]["location"]["entity_id"], "7");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("alice never listed as a viewer of invoice 7");
}

#[actix_web::test]
async fn a_user_whose_newest_device_is_elsewhere_is_not_a_viewer() {
    let app = spawn_app().await;
    let mut laptop = app.connect_ready("alice", "acme").await;
    let mut phone = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    laptop
        .request(
            json!({"type": "presence:location", "entity_type": "invoice", "entity_id": "7"}),
            "a",
        )
        .await;
    phone
        .request(
            json!({"type": "presence:location", "entity_type": "invoice", "entity_id": "9"}),
            "b",
        )
        .await;
    let viewers =
        |id: &str| json!({"type": "presence:viewers", "entity_type": "invoice", "entity_id": id});
    // Location changes are applied asynchronously: wait until invoice 9
    // (the newest) lists alice, then invoice 7 (the laptop's) must not.
    let mut listed = false;
    for i in 0..50 {
        let reply = bob.request(viewers("9"), &format!("v9-{i}")).await;
        if reply["users"].as_array().unwrap().len() == 1 {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(listed, "alice never listed as a viewer of invoice 9");
    let reply = bob.request(viewers("7"), "v7").await;
    assert_eq!(reply["users"], json!([]), "{reply}");
}

#[actix_web::test]
async fn an_idle_away_user_choosing_busy_sends_one_update() {
    let app = spawn_app_with(|s| s.presence.away_after_secs = 1).await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let mut alice = app.connect_ready("alice", "acme").await;
    watcher
        .recv_where("alice away", |v| {
            is_user(v, "alice") && v["user"]["status"] == "away"
        })
        .await;
    alice
        .request(json!({"type": "presence:status", "status": "busy"}), "s")
        .await;
    let first = watcher
        .recv_where("alice changed", |v| is_user(v, "alice"))
        .await;
    assert_eq!(first["user"]["status"], "busy", "{first}");
    // Nothing else follows (an `online` would have come before `busy`; this
    // waits 500 ms more for a stray one).
    let more = watcher
        .collect_type("presence:update", Duration::from_millis(500))
        .await;
    assert!(more.iter().all(|v| !is_user(v, "alice")), "{more:?}");
}

#[actix_web::test]
async fn other_tenants_see_nothing() {
    let app = spawn_app().await;
    let mut outsider = app.connect_ready("eve", "other-tenant").await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let mut alice = app.connect_ready("alice", "acme").await;
    watcher
        .recv_where("alice joined", |v| {
            v["type"] == "presence:user_joined" && is_user(v, "alice")
        })
        .await;
    alice
        .request(json!({"type": "presence:status", "status": "busy"}), "s")
        .await;
    alice
        .request(
            json!({"type": "room:join", "entity_type": "doc", "entity_id": "1"}),
            "j",
        )
        .await;
    alice
        .request(json!({"type": "room:broadcast", "entity_type": "doc", "entity_id": "1", "event": "secret", "payload": {"x": 1}}), "b")
        .await;
    // Eve joins the "same" room id: it is her tenant's room, not acme's.
    let users = outsider
        .request(
            json!({"type": "room:join", "entity_type": "doc", "entity_id": "1"}),
            "j",
        )
        .await;
    assert_eq!(users["type"], "room:users");
    let members: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(members, vec!["eve"]);
    alice
        .request(json!({"type": "room:broadcast", "entity_type": "doc", "entity_id": "1", "event": "secret", "payload": {"x": 2}}), "b2")
        .await;
    alice.close().await;
    let mut seen = Vec::new();
    while let Some(m) = outsider.try_recv(Duration::from_millis(1500)).await {
        seen.push(m);
    }
    assert!(
        seen.iter().all(|m| !m.to_string().contains("alice")
            && !m.to_string().contains("watcher")
            && m["event"] != "secret"),
        "tenant leak: {seen:?}"
    );
    let list = outsider
        .request(json!({"type": "presence:list"}), "l")
        .await;
    let ids: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["eve"]);
    let (_, body) = app
        .get(
            "/api/v1/presence/alice",
            Some(&app.token("eve", "other-tenant")),
        )
        .await;
    assert_eq!(
        body["status"], "offline",
        "another tenant's user is invisible"
    );
}

#[actix_web::test]
async fn presence_log_rows_are_written() {
    use tandem::db::schema::user_presence_log::dsl as l;
    let app = spawn_app().await;
    let token = app.token("alice", "acme");
    let mut c = WsClient::connect(
        &format!(
            "{}?token={token}&device=tablet&browser=firefox",
            app.ws_url()
        ),
        &[],
    )
    .await
    .unwrap();
    c.recv_type("welcome").await;
    c.request(json!({"type": "presence:status", "status": "busy"}), "s")
        .await;
    c.close().await;
    let mut conn = app.db.conn().await;
    type Row = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        bool,
        bool,
    );
    let mut rows: Vec<Row> = Vec::new();
    for _ in 0..100 {
        rows = l::user_presence_log
            .filter(l::tenant_id.eq("acme").and(l::user_id.eq("alice")))
            .order(l::id.asc())
            .select((
                l::event,
                l::status,
                l::connection_id,
                l::device_type,
                l::browser,
                l::ip_address,
                l::connected_at.is_not_null(),
                l::disconnected_at.is_not_null(),
            ))
            .load(&mut conn)
            .await
            .unwrap();
        if rows.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events: Vec<(&str, &str)> = rows.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    assert_eq!(
        events,
        vec![
            ("connect", "online"),
            ("status", "busy"),
            ("disconnect", "offline")
        ]
    );
    let connect = &rows[0];
    assert_eq!(connect.3.as_deref(), Some("tablet"));
    assert_eq!(connect.4.as_deref(), Some("firefox"));
    assert_eq!(connect.5.as_deref(), Some("127.0.0.1"));
    assert!(connect.6 && !connect.7);
    assert!(rows[2].6 && rows[2].7, "disconnect row has both times");
}
