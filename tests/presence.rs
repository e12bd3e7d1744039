//! Presence: devices, grace on disconnect, idle away, chosen status, tenant
//! isolation, REST, and the presence log rows in PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use std::time::Duration;

/// The user came online in this `presence:diff`.
fn joined(v: &Value, user: &str) -> bool {
    v["type"] == "presence:diff"
        && v["joined"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["user_id"] == user))
}

/// The user is listed under `key` (`left`, `unwatched`) in this `presence:diff`.
fn listed(v: &Value, key: &str, user: &str) -> bool {
    v["type"] == "presence:diff"
        && v[key]
            .as_array()
            .is_some_and(|a| a.iter().any(|u| u == user))
}

/// The user's entry is under `key` (`joined`, `updated`) in this `presence:diff`.
fn listed_entry(v: &Value, key: &str, user: &str) -> bool {
    v["type"] == "presence:diff"
        && v[key]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["user_id"] == user))
}

/// The diff mentions the user at all.
fn mentions(v: &Value, user: &str) -> bool {
    entry(v, user).is_some() || listed(v, "left", user) || listed(v, "unwatched", user)
}

/// The user ids of a `presence:list`.
fn ids(list: &Value) -> Vec<&str> {
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect()
}

#[actix_web::test]
async fn joining_user_is_announced_and_listed() {
    let app = spawn_app().await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let _alice = app.connect_ready("alice", "acme").await;
    let diff = watcher
        .recv_where("alice joined", |v| joined(v, "alice"))
        .await;
    let alice = entry(&diff, "alice").unwrap();
    assert_eq!(alice["status"], "online");
    assert_eq!(alice["name"], "alice name");
    assert!(alice["color"].as_str().unwrap().starts_with('#'));
    assert_eq!(
        alice["devices"],
        json!([{"device_type": "desktop", "browser": null}])
    );
    let list = watcher.request(json!({"type": "presence:list"}), "l").await;
    assert_eq!(list["mode"], "all");
    assert_eq!(ids(&list), vec!["alice", "watcher"]);
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
            entry(v, "alice").is_some_and(|e| e["devices"].as_array().is_some_and(|d| d.len() == 2))
        })
        .await;
    let two = entry(&two, "alice").unwrap();
    let types: Vec<&str> = two["devices"]
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
            entry(v, "alice").is_some_and(|e| e["devices"].as_array().is_some_and(|d| d.len() == 1))
        })
        .await;
    assert!(listed_entry(&one, "updated", "alice"), "{one}");
    assert_eq!(entry(&one, "alice").unwrap()["status"], "online");
    let left = watcher
        .collect_type("presence:diff", Duration::from_secs(1))
        .await;
    assert!(
        left.iter().all(|v| !listed(v, "left", "alice")),
        "no offline while a device remains: {left:?}"
    );
}

#[actix_web::test]
async fn reload_within_grace_produces_no_offline_event_but_leaving_does() {
    let app = spawn_app_with(|s| s.presence.offline_grace_ms = 800).await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let alice = app.connect_ready("alice", "acme").await;
    watcher
        .recv_where("alice joined", |v| joined(v, "alice"))
        .await;
    alice.close().await;
    let alice = app.connect_ready("alice", "acme").await;
    // Others see nothing at all: no offline, and no change (presence
    // devices name no connection, so the new one looks the same).
    let events = watcher
        .collect_type("presence:diff", Duration::from_millis(1500))
        .await;
    assert!(
        events.iter().all(|v| !mentions(v, "alice")),
        "a reload must show nothing: {events:?}"
    );
    alice.close().await;
    watcher
        .recv_where("alice left", |v| listed(v, "left", "alice"))
        .await;
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
            entry(v, "alice").is_some_and(|e| e["status"] == "away")
        })
        .await;
    assert!(listed_entry(&away, "updated", "alice"), "{away}");
    alice
        .request(json!({"type": "presence:location", "page": "/invoices/7", "entity_type": "invoice", "entity_id": "7"}), "loc")
        .await;
    let back = watcher
        .recv_where("alice online", |v| {
            entry(v, "alice").is_some_and(|e| e["status"] == "online")
        })
        .await;
    assert!(listed_entry(&back, "updated", "alice"), "{back}");
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
            entry(v, "alice").is_some_and(|e| e["status"] == "busy")
        })
        .await;
    // Idle time passes: still busy.
    let changes = watcher
        .collect_type("presence:diff", Duration::from_millis(1800))
        .await;
    assert!(
        changes
            .iter()
            .all(|v| entry(v, "alice").is_none_or(|e| e["status"] == "busy")),
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
            entry(v, "alice").is_some_and(|e| e["status"] == "online")
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
            entry(v, "alice").is_some_and(|e| e["status"] == "away")
        })
        .await;
    alice
        .request(json!({"type": "presence:status", "status": "busy"}), "s")
        .await;
    let first = watcher
        .recv_where("alice changed", |v| mentions(v, "alice"))
        .await;
    assert_eq!(entry(&first, "alice").unwrap()["status"], "busy", "{first}");
    // Nothing else follows (an `online` would have come before `busy`; this
    // waits 500 ms more for a stray one).
    let more = watcher
        .collect_type("presence:diff", Duration::from_millis(500))
        .await;
    assert!(more.iter().all(|v| !mentions(v, "alice")), "{more:?}");
}

#[actix_web::test]
async fn other_tenants_see_nothing() {
    let app = spawn_app().await;
    let mut outsider = app.connect_ready("eve", "other-tenant").await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let mut alice = app.connect_ready("alice", "acme").await;
    watcher
        .recv_where("alice joined", |v| joined(v, "alice"))
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
    assert_eq!(ids(&list), vec!["eve"]);
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

#[actix_web::test]
async fn joins_inside_one_window_reach_a_watcher_as_one_frame() {
    // A long window makes "inside one window" certain on a slow machine.
    let app = spawn_app_with(|s| s.presence.diff_interval_ms = 1500).await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let users = ["u1", "u2", "u3", "u4", "u5"];
    let clients =
        futures_util::future::join_all(users.iter().map(|u| app.connect_ready(u, "acme"))).await;
    let mut frames = Vec::new();
    while frames.len() < 5 {
        let Some(v) = watcher.try_recv(Duration::from_secs(3)).await else {
            break;
        };
        if v["type"] == "presence:diff" && users.iter().any(|u| mentions(&v, u)) {
            frames.push(v);
        }
    }
    assert_eq!(frames.len(), 1, "one frame for the window: {frames:?}");
    for u in users {
        assert!(joined(&frames[0], u), "{u} in {}", frames[0]);
    }
    drop(clients);
}

#[actix_web::test]
async fn a_change_undone_inside_the_window_is_not_sent() {
    let app = spawn_app_with(|s| s.presence.diff_interval_ms = 1000).await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let mut alice = app.connect_ready("alice", "acme").await;
    watcher
        .recv_where("alice joined", |v| joined(v, "alice"))
        .await;
    alice
        .request(json!({"type": "presence:status", "status": "busy"}), "s1")
        .await;
    alice
        .request(json!({"type": "presence:status", "status": "online"}), "s2")
        .await;
    let diffs = watcher
        .collect_type("presence:diff", Duration::from_millis(2500))
        .await;
    assert!(
        diffs.iter().all(|v| !mentions(v, "alice")),
        "busy and back within a window sends nothing: {diffs:?}"
    );
    // A change that is not undone is sent.
    alice
        .request(json!({"type": "presence:status", "status": "busy"}), "s3")
        .await;
    watcher
        .recv_where("busy", |v| {
            entry(v, "alice").is_some_and(|e| e["status"] == "busy")
        })
        .await;
}

#[actix_web::test]
async fn presence_none_gets_no_roster_and_only_what_it_watches() {
    let app = spawn_app().await;
    let _bob = app.connect_ready("bob", "acme").await;
    let mut alice = app.connect_interest("alice", "acme").await;
    // Its own user arrives in a diff; no presence:list, and bob is not sent.
    let mut seen = Vec::new();
    while let Some(v) = alice.try_recv(Duration::from_millis(800)).await {
        seen.push(v);
    }
    assert!(
        seen.iter().all(|v| v["type"] != "presence:list"),
        "{seen:?}"
    );
    assert!(seen.iter().any(|v| joined(v, "alice")), "{seen:?}");
    assert!(seen.iter().all(|v| !mentions(v, "bob")), "{seen:?}");
    // Subscribing brings bob, as `updated` (he did not just come online).
    let ack = alice
        .request(
            json!({"type": "presence:subscribe", "user_ids": ["bob"]}),
            "s",
        )
        .await;
    assert_eq!(ack["data"], json!({"subscribed": 1}));
    let d = alice.recv_where("bob", |v| mentions(v, "bob")).await;
    assert!(listed_entry(&d, "updated", "bob"), "{d}");
    // presence:list asked for is the interest list.
    let list = alice.request(json!({"type": "presence:list"}), "l").await;
    assert_eq!(list["mode"], "interest");
    assert_eq!(ids(&list), vec!["alice", "bob"]);
    // Unsubscribing drops him.
    alice
        .request(
            json!({"type": "presence:unsubscribe", "user_ids": ["bob"]}),
            "u",
        )
        .await;
    let d = alice
        .recv_where("bob dropped", |v| mentions(v, "bob"))
        .await;
    assert!(listed(&d, "unwatched", "bob"), "{d}");
    // A bad value is refused before the upgrade.
    let (status, body) = app
        .refused_upgrade(
            &format!("/ws?token={}&presence=some", app.token("x", "acme")),
            &[],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_field"))
    );
}

#[actix_web::test]
async fn subscriptions_are_validated_and_bounded() {
    let app = spawn_app_with(|s| s.presence.max_subscriptions = 2).await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let e = alice
        .request(json!({"type": "presence:subscribe", "user_ids": []}), "e")
        .await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("invalid_field"))
    );
    let long = "x".repeat(257);
    let e = alice
        .request(
            json!({"type": "presence:subscribe", "user_ids": [long]}),
            "l",
        )
        .await;
    assert_eq!(e["code"], "invalid_field");
    let ok = alice
        .request(
            json!({"type": "presence:subscribe", "user_ids": ["a", "b"]}),
            "ok",
        )
        .await;
    assert_eq!(ok["data"]["subscribed"], 2);
    let e = alice
        .request(
            json!({"type": "presence:subscribe", "user_ids": ["c"]}),
            "over",
        )
        .await;
    assert_eq!(e["code"], "too_many_subscriptions", "{e}");
    let ok = alice
        .request(
            json!({"type": "presence:unsubscribe", "user_ids": ["a"]}),
            "un",
        )
        .await;
    assert_eq!(ok["data"]["subscribed"], 1);
}

#[actix_web::test]
async fn above_the_threshold_connections_see_only_what_they_watch() {
    let app = spawn_app_with(|s| {
        s.presence.tenant_roster_max = 2;
        s.presence.offline_grace_ms = 200;
    })
    .await;
    let mut outsider = app.connect_interest("eve", "other").await;
    outsider
        .request(
            json!({"type": "presence:subscribe", "user_ids": ["a", "b", "watcher"]}),
            "s",
        )
        .await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let mut a = app.connect_ready("a", "acme").await;
    let mut b = app.connect_ready("b", "acme").await;
    // Three users online > 2: the watcher is switched to interest mode with
    // a fresh list holding only itself.
    let list = watcher
        .recv_where("interest list", |v| {
            v["type"] == "presence:list" && v["mode"] == "interest"
        })
        .await;
    assert_eq!(ids(&list), vec!["watcher"]);
    // A new connection gets the interest list on connect.
    let mut c = app.connect("c", "acme").await;
    c.recv_type("welcome").await;
    let list = c.recv_type("presence:list").await;
    // The list is what was last sent: c's own arrival may follow in a diff.
    assert_eq!(list["mode"], "interest");
    assert!(ids(&list).iter().all(|u| *u == "c"), "{list}");
    if ids(&list).is_empty() {
        c.recv_where("c itself", |v| joined(v, "c")).await;
    }
    // Subscribed users are watched; others are not sent.
    watcher
        .request(
            json!({"type": "presence:subscribe", "user_ids": ["a"]}),
            "s",
        )
        .await;
    watcher
        .recv_where("a", |v| listed_entry(v, "updated", "a"))
        .await;
    b.request(json!({"type": "presence:status", "status": "busy"}), "b1")
        .await;
    a.request(json!({"type": "presence:status", "status": "busy"}), "a1")
        .await;
    let d = watcher
        .recv_where("a busy", |v| {
            entry(v, "a").is_some_and(|e| e["status"] == "busy")
        })
        .await;
    assert!(!mentions(&d, "b"), "{d}");
    // Room members are watched while they share a room.
    let join = json!({"type": "room:join", "entity_type": "doc", "entity_id": "1"});
    watcher.request(join.clone(), "j").await;
    b.request(join.clone(), "j").await;
    let d = watcher.recv_where("b via room", |v| mentions(v, "b")).await;
    assert_eq!(entry(&d, "b").unwrap()["status"], "busy", "{d}");
    b.request(
        json!({"type": "room:leave", "entity_type": "doc", "entity_id": "1"}),
        "l",
    )
    .await;
    let d = watcher
        .recv_where("b unwatched", |v| mentions(v, "b"))
        .await;
    assert!(listed(&d, "unwatched", "b"), "{d}");
    // Back at or below the threshold: the whole roster again.
    c.close().await;
    b.close().await;
    let list = watcher
        .recv_where("all list", |v| {
            v["type"] == "presence:list" && v["mode"] == "all"
        })
        .await;
    assert_eq!(ids(&list), vec!["a", "watcher"]);
    a.request(json!({"type": "presence:status", "status": "online"}), "a2")
        .await;
    watcher
        .recv_where("a online", |v| {
            entry(v, "a").is_some_and(|e| e["status"] == "online")
        })
        .await;
    // The other tenant subscribed to the same ids and saw none of them.
    let mut seen = Vec::new();
    while let Some(v) = outsider.try_recv(Duration::from_millis(300)).await {
        seen.push(v);
    }
    assert!(
        seen.iter()
            .all(|v| !mentions(v, "a") && !mentions(v, "b") && !mentions(v, "watcher")),
        "tenant leak: {seen:?}"
    );
}

#[actix_web::test]
async fn rest_presence_pages_through_the_tenant() {
    let app = spawn_app().await;
    let mut clients = Vec::new();
    for u in ["a", "b", "c", "d", "e"] {
        clients.push(app.connect_ready(u, "acme").await);
    }
    let token = app.token("a", "acme");
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/presence?limit=2&after={a}"),
            None => "/api/v1/presence?limit=2".to_owned(),
        };
        let (status, body) = app.get(&path, Some(&token)).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        seen.extend(ids(&body).into_iter().map(str::to_owned));
        match body["next_after"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!((pages, seen.join(",")), (3, "a,b,c,d,e".to_owned()));
    for bad in ["limit=0", "limit=1001", "limit=x", "limt=2"] {
        let (status, body) = app
            .get(&format!("/api/v1/presence?{bad}"), Some(&token))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_field")),
            "{bad}"
        );
    }
    drop(clients);
}

/// In interest mode a room above `presence.room_watch_max` members stops
/// making its members watch each other (they are told `unwatched`), a
/// member's change then reaches nobody through the room, a subscription
/// still works, and the room watches again once it is small.
#[actix_web::test]
async fn members_of_a_large_room_stop_watching_each_other_until_it_shrinks() {
    let app = spawn_app_with(|s| {
        s.presence.room_watch_max = 3;
        s.presence.offline_grace_ms = 200;
    })
    .await;
    let join = json!({"type": "room:join", "entity_type": "doc", "entity_id": "big"});
    let leave = json!({"type": "room:leave", "entity_type": "doc", "entity_id": "big"});
    let mut w = app.connect_interest("w", "acme").await;
    let mut a = app.connect_interest("a", "acme").await;
    let mut b = app.connect_interest("b", "acme").await;
    for c in [&mut w, &mut a, &mut b] {
        c.request(join.clone(), "j").await;
    }
    let (mut saw_a, mut saw_b) = (false, false);
    while !(saw_a && saw_b) {
        let v = w
            .recv_where("a or b via the room", |v| {
                entry(v, "a").is_some() || entry(v, "b").is_some()
            })
            .await;
        saw_a |= entry(&v, "a").is_some();
        saw_b |= entry(&v, "b").is_some();
    }
    // A fourth member: the room is large, w no longer watches a and b.
    let mut c = app.connect_interest("c", "acme").await;
    c.request(join.clone(), "j").await;
    let d = w
        .recv_where("a unwatched", |v| listed(v, "unwatched", "a"))
        .await;
    assert!(listed(&d, "unwatched", "b"), "{d}");
    assert!(!mentions(&d, "c"), "{d}");
    // a's change reaches a itself, and not w.
    a.request(json!({"type": "presence:status", "status": "busy"}), "s")
        .await;
    a.recv_where("a busy", |v| {
        entry(v, "a").is_some_and(|e| e["status"] == "busy")
    })
    .await;
    w.request(
        json!({"type": "presence:subscribe", "user_ids": ["c"]}),
        "sub",
    )
    .await;
    let mut frames = Vec::new();
    loop {
        let v = w.recv().await;
        let done = listed_entry(&v, "updated", "c");
        frames.push(v);
        if done {
            break;
        }
    }
    assert!(
        frames.iter().all(|v| !mentions(v, "a")),
        "a reached w through a large room: {frames:?}"
    );
    // Back to 3 members: w watches a (busy) and b again.
    c.request(leave.clone(), "l").await;
    let d = w
        .recv_where("a watched again", |v| listed_entry(v, "updated", "a"))
        .await;
    assert_eq!(entry(&d, "a").unwrap()["status"], "busy", "{d}");
    assert!(
        listed_entry(&d, "updated", "b"),
        "one switch, one diff: {d}"
    );
}
