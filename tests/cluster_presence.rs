//! Presence across the nodes of a cluster: in-process nodes sharing one
//! PostgreSQL database and the real Redis at `TANDEM_TEST_REDIS_URL`, each
//! test under its own `redis.key_prefix`. A user's devices on every node
//! make one presence; lists, diffs, viewers and REST see every node's
//! users; a node that dies loses its users on the others within
//! `redis.node_ttl_ms` + 2 s.
//!
//! A roster hears other nodes once its subscription to the tenant's roster
//! channel reached Redis; tests wait for that (`PUBSUB NUMSUB`) before the
//! other node's user connects (a roster that starts later reads the
//! others' users from the Redis hash instead).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::*;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tandem::broker::Topic;
use tandem::ids::TenantId;

/// Waits (at most 10 s) until `n` nodes' rosters of `tenant` listen.
async fn wait_rosters(prefix: &str, tenant: &str, n: i64) {
    wait_listeners(prefix, &Topic::Roster(TenantId::new(tenant)), n).await;
}

/// The user ids of a `presence:list` or a REST page.
fn ids(list: &Value) -> Vec<String> {
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Asks `presence:list` until `check` holds (at most 10 s); returns it.
async fn list_until(c: &mut WsClient, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    for i in 0..200 {
        let list = c
            .request(json!({"type": "presence:list"}), &format!("l{i}"))
            .await;
        if check(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("presence:list never showed {what}");
}

/// `GET /api/v1/presence` on `node` until `check` holds (at most 10 s).
async fn rest_until(node: &TestApp, tenant: &str, what: &str, check: impl Fn(&Value) -> bool) {
    let token = node.token("reader", tenant);
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, body) = node.get("/api/v1/presence", Some(&token)).await;
        assert_eq!(status, 200, "{body}");
        if check(&body) {
            return;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("REST presence never showed {what}: {last}");
}

/// Connects with a device type.
async fn connect_device(node: &TestApp, user: &str, tenant: &str, device: &str) -> WsClient {
    let token = node.token(user, tenant);
    let mut c = WsClient::connect(
        &format!("{}?token={token}&device={device}", node.ws_url()),
        &[],
    )
    .await
    .unwrap_or_else(|e| panic!("connect failed: {e}"));
    c.recv_type("welcome").await;
    c.recv_type("presence:list").await;
    c
}

#[actix_web::test]
async fn a_user_on_one_node_is_listed_and_diffed_on_the_others() {
    let p = prefix();
    let nodes = cluster(3, &p).await;
    let mut bob = nodes[1].connect_ready("bob", "acme").await;
    wait_rosters(&p, "acme", 1).await;
    let mut alice = nodes[0].connect_ready("alice", "acme").await;

    let diff = bob
        .recv_where("alice joined", |v| entry(v, "alice").is_some())
        .await;
    let e = entry(&diff, "alice").unwrap();
    assert_eq!(e["status"], "online");
    assert_eq!(e["name"], "alice name");
    assert_eq!(e["devices"].as_array().unwrap().len(), 1);
    let list = list_until(&mut bob, "alice", |l| ids(l).contains(&"alice".into())).await;
    assert_eq!(ids(&list), vec!["alice", "bob"]);
    // Node A's roster started after bob announced himself: it read him
    // from the Redis hash.
    let list = list_until(&mut alice, "bob", |l| ids(l).contains(&"bob".into())).await;
    assert_eq!(ids(&list), vec!["alice", "bob"]);

    // Node C has no connection of acme: REST reads every node's users.
    assert_eq!(nodes[2].stats().await.tenants, 0);
    rest_until(&nodes[2], "acme", "alice and bob", |b| {
        ids(b) == vec!["alice", "bob"]
    })
    .await;
    let token = nodes[2].token("reader", "acme");
    let (status, one) = nodes[2].get("/api/v1/presence/alice", Some(&token)).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["status"], "online");

    // Alice leaves: offline on B after her grace, and gone from C's REST.
    alice.close().await;
    bob.recv_where("alice left", |v| left(v, "alice")).await;
    let list = bob.request(json!({"type": "presence:list"}), "after").await;
    assert_eq!(ids(&list), vec!["bob"]);
    rest_until(&nodes[2], "acme", "bob alone", |b| ids(b) == vec!["bob"]).await;
}

#[actix_web::test]
async fn a_user_with_devices_on_two_nodes_is_one_presence() {
    let p = prefix();
    let nodes = cluster(3, &p).await;
    let mut carol = nodes[2].connect_ready("carol", "acme").await;
    wait_rosters(&p, "acme", 1).await;
    let laptop = connect_device(&nodes[0], "alice", "acme", "desktop").await;
    let mut phone = connect_device(&nodes[1], "alice", "acme", "mobile").await;

    let diff = carol
        .recv_where("alice on two devices", |v| {
            entry(v, "alice").is_some_and(|e| e["devices"].as_array().unwrap().len() == 2)
        })
        .await;
    let e = entry(&diff, "alice").unwrap();
    let types: Vec<&str> = e["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["desktop", "mobile"]);
    let list = list_until(&mut carol, "alice with two devices", |l| {
        l["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user_id"] == "alice" && u["devices"].as_array().unwrap().len() == 2)
    })
    .await;
    assert_eq!(ids(&list), vec!["alice", "carol"], "alice is listed once");

    // A status chosen on one node is the merged status.
    let ack = phone
        .request(json!({"type": "presence:status", "status": "busy"}), "s")
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    carol
        .recv_where("alice busy", |v| {
            entry(v, "alice").is_some_and(|e| e["status"] == "busy")
        })
        .await;

    // Closing the laptop keeps her online with the phone.
    laptop.close().await;
    let diff = carol
        .recv_where("alice with one device", |v| {
            entry(v, "alice").is_some_and(|e| e["devices"].as_array().unwrap().len() == 1)
        })
        .await;
    let e = entry(&diff, "alice").unwrap();
    assert_eq!(e["devices"][0]["device_type"], "mobile");
    assert_eq!(e["status"], "busy");
    assert!(!left(&diff, "alice"));
    // Nothing else follows: she is not reported offline (a fixed wait,
    // since this checks that something does NOT happen; the grace is 300 ms).
    let later = carol
        .collect_type("presence:diff", Duration::from_millis(1000))
        .await;
    assert!(
        later.iter().all(|v| !left(v, "alice")),
        "alice went offline: {later:?}"
    );
    phone.close().await;
    carol.recv_where("alice left", |v| left(v, "alice")).await;
}

#[actix_web::test]
async fn viewers_are_found_on_every_node() {
    let p = prefix();
    let nodes = cluster(2, &p).await;
    let mut bob = nodes[1].connect_ready("bob", "acme").await;
    wait_rosters(&p, "acme", 1).await;
    let mut alice = nodes[0].connect_ready("alice", "acme").await;
    let ack = alice
        .request(
            json!({"type": "presence:location", "page": "/invoices/7", "entity_type": "invoice", "entity_id": "7"}),
            "loc",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let viewers =
        |id: &str| json!({"type": "presence:viewers", "entity_type": "invoice", "entity_id": id});
    for i in 0..200 {
        let reply = bob.request(viewers("7"), &format!("v{i}")).await;
        if ids(&reply) == vec!["alice"] {
            assert_eq!(reply["users"][0]["location"]["entity_id"], "7");
            let other = bob.request(viewers("8"), "v8").await;
            assert!(ids(&other).is_empty(), "{other}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("alice on node A never listed as a viewer of invoice 7 on node B");
}

#[actix_web::test]
async fn a_dead_nodes_users_are_dropped_within_the_bound() {
    let p = prefix();
    let (proxy, url) = redis_proxy();
    let urls = [None, Some(url), None];
    let ttl_ms = 3000;
    let nodes = cluster_with(3, &p, &urls, |s| s.redis.node_ttl_ms = ttl_ms).await;
    let mut bob = nodes[0].connect_ready("bob", "acme").await;
    wait_rosters(&p, "acme", 1).await;
    let _alice = nodes[1].connect_ready("alice", "acme").await;
    bob.recv_where("alice joined", |v| entry(v, "alice").is_some())
        .await;
    rest_until(&nodes[2], "acme", "alice and bob", |b| {
        ids(b) == vec!["alice", "bob"]
    })
    .await;

    // Node B loses Redis for good, as a killed node would: its heartbeat
    // lapses and nobody hears from it again.
    let cut = Instant::now();
    proxy.set_up(false);
    let deadline = Duration::from_millis(ttl_ms) + Duration::from_secs(2);
    let mut left_at = None;
    while cut.elapsed() < deadline + Duration::from_secs(3) {
        if let Some(v) = bob.try_recv(Duration::from_millis(100)).await {
            if left(&v, "alice") {
                left_at = Some(cut.elapsed());
                break;
            }
        }
    }
    let left_at = left_at.expect("alice never dropped from node A's roster");
    // ttl + the 2 s check, plus the diff window and scheduling slack.
    assert!(
        left_at <= deadline + Duration::from_millis(1500),
        "dropped after {left_at:?}"
    );
    let list = bob.request(json!({"type": "presence:list"}), "after").await;
    assert_eq!(ids(&list), vec!["bob"]);
    rest_until(&nodes[2], "acme", "bob alone", |b| ids(b) == vec!["bob"]).await;
}

#[actix_web::test]
async fn another_tenants_users_never_show_up() {
    let p = prefix();
    let nodes = cluster(3, &p).await;
    let mut bob = nodes[0].connect_ready("bob", "acme").await;
    wait_rosters(&p, "acme", 1).await;
    let _eve = nodes[1].connect_ready("eve", "globex").await;
    let _alice = nodes[1].connect_ready("alice", "acme").await;
    bob.recv_where("alice joined", |v| entry(v, "alice").is_some())
        .await;
    let list = list_until(&mut bob, "alice", |l| ids(l).contains(&"alice".into())).await;
    assert_eq!(ids(&list), vec!["alice", "bob"]);
    rest_until(&nodes[2], "globex", "eve alone", |b| ids(b) == vec!["eve"]).await;
    rest_until(&nodes[2], "acme", "alice and bob", |b| {
        ids(b) == vec!["alice", "bob"]
    })
    .await;
    // A fixed wait: this checks that eve does NOT reach acme's watchers.
    let diffs = bob
        .collect_type("presence:diff", Duration::from_millis(500))
        .await;
    assert!(diffs.iter().all(|v| entry(v, "eve").is_none()), "{diffs:?}");
}

#[actix_web::test]
async fn a_node_back_on_redis_announces_its_users_again() {
    let p = prefix();
    let (proxy, url) = redis_proxy();
    let urls = [None, Some(url)];
    let nodes = cluster_with(2, &p, &urls, |s| s.redis.node_ttl_ms = 3000).await;
    let mut bob = nodes[0].connect_ready("bob", "acme").await;
    wait_rosters(&p, "acme", 1).await;
    let mut alice = nodes[1].connect_ready("alice", "acme").await;
    bob.recv_where("alice joined", |v| entry(v, "alice").is_some())
        .await;

    proxy.set_up(false);
    bob.recv_where_within(
        "alice dropped while her node was cut off",
        Duration::from_secs(10),
        |v| left(v, "alice"),
    )
    .await;
    // Node B kept what it had: bob is still on its list.
    let list = alice.request(json!({"type": "presence:list"}), "cut").await;
    assert_eq!(ids(&list), vec!["alice", "bob"]);

    proxy.set_up(true);
    bob.recv_where_within(
        "alice announced again after Redis came back",
        Duration::from_secs(10),
        |v| entry(v, "alice").is_some(),
    )
    .await;
    let list = list_until(&mut bob, "alice again", |l| {
        ids(l) == vec!["alice".to_owned(), "bob".to_owned()]
    })
    .await;
    assert_eq!(list["users"][0]["status"], "online");
}

/// Whether notification `id` is recorded as delivered over WebSocket.
async fn delivered_websocket(node: &TestApp, id: i64) -> bool {
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    use tandem::db::schema::realtime_notifications::dsl as n;
    let mut conn = node.db.conn().await;
    n::realtime_notifications
        .filter(n::id.eq(id))
        .select(n::delivered_websocket)
        .first::<bool>(&mut conn)
        .await
        .unwrap()
}

#[actix_web::test]
async fn notification_delivery_sees_sockets_on_other_nodes() {
    let p = prefix();
    let nodes = cluster(2, &p).await;
    let mut alice = nodes[0].connect_ready("alice", "acme").await;
    rest_until(&nodes[1], "acme", "alice", |b| ids(b) == vec!["alice"]).await;

    // Posted through node B, which has no connection of acme: alice's
    // socket on node A counts as connected.
    let id = nodes[1].notify("acme", "alice", "Across").await;
    let m = alice.recv_type("notification").await;
    assert_eq!(m["notification"]["id"], id);
    assert!(delivered_websocket(&nodes[1], id).await);

    // Offline everywhere: not delivered over WebSocket.
    alice.close().await;
    rest_until(&nodes[1], "acme", "nobody", |b| ids(b).is_empty()).await;
    let id = nodes[1].notify("acme", "alice", "Nobody home").await;
    assert!(!delivered_websocket(&nodes[1], id).await);
}

#[actix_web::test]
async fn a_status_set_over_rest_on_any_node_holds_where_the_user_is() {
    let p = prefix();
    let nodes = cluster(3, &p).await;
    let mut bob = nodes[1].connect_ready("bob", "acme").await;
    wait_rosters(&p, "acme", 1).await;
    let _alice = nodes[0].connect_ready("alice", "acme").await;
    wait_rosters(&p, "acme", 2).await;
    bob.recv_where("alice joined", |v| entry(v, "alice").is_some())
        .await;
    rest_until(&nodes[2], "acme", "alice", |b| {
        ids(b).contains(&"alice".to_owned())
    })
    .await;

    // Through node C, where alice has no connection.
    let token = nodes[2].token("alice", "acme");
    let (status, body) = nodes[2]
        .send_json(
            "PUT",
            "/api/v1/presence/status",
            Some(&token),
            &json!({"status": "busy"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    bob.recv_where("alice busy", |v| {
        entry(v, "alice").is_some_and(|e| e["status"] == "busy")
    })
    .await;

    // A user connected nowhere is still refused.
    let ghost = nodes[2].token("ghost", "acme");
    let (status, body) = nodes[2]
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
async fn a_node_killed_with_sigkill_loses_its_users_within_the_bound() {
    let p = prefix();
    let nodes = cluster(1, &p).await;
    let mut bob = nodes[0].connect_ready("bob", "acme").await;
    wait_rosters(&p, "acme", 1).await;
    let mut dead = Process::start(&nodes[0].db.url, &p, 10_000, 16);
    let _carol = dead.connect(&nodes[0].settings, "carol").await;
    bob.recv_where("carol joined", |v| entry(v, "carol").is_some())
        .await;

    dead.kill();
    let killed = Instant::now();
    bob.recv_where_within(
        "carol dropped after her node was killed",
        Duration::from_secs(10),
        |v| left(v, "carol"),
    )
    .await;
    let left_at = killed.elapsed();
    // node_ttl_ms (3 s) + the 2 s check, plus the diff window and slack.
    assert!(
        left_at <= Duration::from_millis(3000 + 2000 + 1500),
        "dropped {left_at:?} after the kill"
    );
    let list = bob.request(json!({"type": "presence:list"}), "after").await;
    assert_eq!(ids(&list), vec!["bob"]);
}

#[actix_web::test]
async fn a_subscription_follows_a_user_on_another_node() {
    let p = prefix();
    let nodes = cluster(2, &p).await;
    let mut bob = nodes[0].connect_interest("bob", "acme").await;
    let ack = bob
        .request(
            json!({"type": "presence:subscribe", "user_ids": ["alice"]}),
            "s",
        )
        .await;
    assert_eq!(ack["data"]["subscribed"], 1, "{ack}");
    wait_rosters(&p, "acme", 1).await;
    let _carol = nodes[1].connect_ready("carol", "acme").await;
    let alice = nodes[1].connect_ready("alice", "acme").await;
    let diff = bob
        .recv_where("alice", |v| entry(v, "alice").is_some())
        .await;
    assert!(entry(&diff, "carol").is_none(), "{diff}");
    alice.close().await;
    let diff = bob.recv_where("alice left", |v| left(v, "alice")).await;
    assert!(!left(&diff, "carol"), "{diff}");
    let list = bob.request(json!({"type": "presence:list"}), "l").await;
    assert_eq!(list["mode"], "interest");
    assert_eq!(ids(&list), vec!["bob"]);
}

#[actix_web::test]
async fn a_departure_lost_in_a_short_redis_outage_is_repaired() {
    let p = prefix();
    let (proxy, url) = redis_proxy();
    let urls = [None, Some(url)];
    // The default 10 s heartbeat: node B never counts as dead here.
    let nodes = cluster_with(2, &p, &urls, |_| {}).await;
    let mut bob = nodes[0].connect_ready("bob", "acme").await;
    wait_rosters(&p, "acme", 1).await;
    let _carol = nodes[1].connect_ready("carol", "acme").await;
    let alice = nodes[1].connect_ready("alice", "acme").await;
    bob.recv_where("alice joined", |v| entry(v, "alice").is_some())
        .await;

    // Alice leaves node B while it cannot reach Redis: her departure is
    // neither written nor announced.
    proxy.set_up(false);
    alice.close().await;
    // A fixed wait: her grace (300 ms) runs out while Redis is away.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.set_up(true);

    bob.recv_where_within(
        "alice's departure on node A",
        Duration::from_secs(10),
        |v| left(v, "alice"),
    )
    .await;
    let list = bob.request(json!({"type": "presence:list"}), "l").await;
    assert_eq!(ids(&list), vec!["bob", "carol"]);
}

/// Interest mode shows a room's members on other nodes like local ones: a
/// `presence=none` watcher on A in a room gets the presence of a member who
/// joined the room on B (and not of B's users elsewhere), and loses it when
/// that member leaves the room.
#[actix_web::test]
async fn interest_mode_counts_room_members_on_other_nodes() {
    let p = prefix();
    let nodes = cluster(2, &p).await;
    let mut bob = nodes[0].connect_interest("bob", "acme").await;
    let join = json!({"type": "room:join", "entity_type": "doc", "entity_id": "7"});
    let users = bob.request(join.clone(), "j").await;
    assert_eq!(users["type"], "room:users", "{users}");
    wait_rosters(&p, "acme", 1).await;
    let _carol = nodes[1].connect_ready("carol", "acme").await;
    let mut alice = nodes[1].connect_ready("alice", "acme").await;
    let users = alice.request(join, "j").await;
    assert_eq!(users["type"], "room:users", "{users}");
    let diff = bob
        .recv_where("alice's presence", |v| entry(v, "alice").is_some())
        .await;
    assert!(entry(&diff, "carol").is_none(), "{diff}");
    let list = bob.request(json!({"type": "presence:list"}), "l").await;
    assert_eq!(ids(&list), vec!["alice", "bob"]);

    let left = alice
        .request(
            json!({"type": "room:leave", "entity_type": "doc", "entity_id": "7"}),
            "l",
        )
        .await;
    assert_eq!(left["type"], "ack", "{left}");
    bob.recv_where("alice unwatched", |v| {
        v["type"] == "presence:diff"
            && v["unwatched"]
                .as_array()
                .is_some_and(|u| u.iter().any(|x| x == "alice"))
    })
    .await;
    let list = bob.request(json!({"type": "presence:list"}), "l2").await;
    assert_eq!(ids(&list), vec!["bob"]);
}
