//! Several nodes over Redis: three in-process servers on loopback ports
//! sharing one PostgreSQL database and the real Redis at
//! `TANDEM_TEST_REDIS_URL`, each test under its own `redis.key_prefix` so
//! parallel tests never hear each other.
//!
//! A node subscribes to a topic's Redis channel shortly after its first
//! local subscriber arrives; tests wait for that (`PUBSUB NUMSUB`) before
//! publishing from another node, as a client would otherwise miss only what
//! was sent before its subscription reached Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::*;
use common::*;
use deadpool_redis::redis;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tandem::broker::Topic;
use tandem::config::Secret;
use tandem::ids::{TenantId, UserId};

fn user(tenant: &str, user: &str) -> Topic {
    Topic::User(TenantId::new(tenant), UserId::new(user))
}

fn tenant(tenant: &str) -> Topic {
    Topic::Tenant(TenantId::new(tenant))
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {token}"))]
}

async fn readyz(node: &TestApp) -> Value {
    let (status, body) = node.get("/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[actix_web::test]
async fn notifications_reach_sockets_and_streams_on_every_node() {
    let p = prefix();
    let nodes = cluster(3, &p).await;
    let mut on_a = nodes[0].connect_ready("alice", "acme").await;
    let mut on_c = nodes[2].connect_ready("alice", "acme").await;
    let mut stream = nodes[1]
        .sse("", &bearer(&nodes[1].token("alice", "acme")))
        .await;
    stream.next_named("ready").await;
    let mut bob_on_b = nodes[1].connect_ready("bob", "acme").await;
    wait_listeners(&p, &user("acme", "alice"), 3).await;

    // Posted through the node where alice only has a stream.
    let id = nodes[1].notify("acme", "alice", "Across").await;
    for c in [&mut on_a, &mut on_c] {
        let m = c.recv_type("notification").await;
        assert_eq!(m["notification"]["id"], id);
        assert_eq!(m["notification"]["title"], "Across");
        let count = c.recv_type("notification:count").await;
        assert_eq!(count["unread"], 1);
    }
    let (event_id, data) = stream.next_named("notification").await;
    assert_eq!(data["id"], id);
    assert_eq!(event_id, Some(format!("n-{id}.a-0")));

    // Posted through a node where alice has nothing: each copy once.
    let id2 = nodes[1].notify("acme", "alice", "Again").await;
    assert_eq!(nodes[1].stats().await.connections, 1);
    for c in [&mut on_a, &mut on_c] {
        let m = c.recv_type("notification").await;
        assert_eq!(m["notification"]["id"], id2);
        let rest = c
            .collect_type("notification", Duration::from_millis(300))
            .await;
        assert!(rest.is_empty(), "delivered once per socket: {rest:?}");
    }
    let (_, data) = stream.next_named("notification").await;
    assert_eq!(data["id"], id2);
    assert!(
        bob_on_b
            .collect_type("notification", Duration::from_millis(100))
            .await
            .is_empty(),
        "another user hears nothing"
    );
}

#[actix_web::test]
async fn activity_and_system_messages_reach_the_tenant_on_every_node() {
    let p = prefix();
    let nodes = cluster(3, &p).await;
    let mut alice = nodes[0].connect_ready("alice", "acme").await;
    let mut bob = nodes[2].connect_ready("bob", "acme").await;
    let mut eve = nodes[2].connect_ready("eve", "globex").await;
    wait_listeners(&p, &tenant("acme"), 2).await;
    wait_listeners(&p, &user("acme", "bob"), 1).await;

    let (status, body) = nodes[1]
        .post_activity(
            "acme",
            json!({"user_id": "alice", "action": "created", "entity_type": "invoice", "entity_id": "9"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for c in [&mut alice, &mut bob] {
        let m = c.recv_type("activity").await;
        assert_eq!(m["activity"]["id"], body["id"]);
        assert_eq!(m["activity"]["entity_id"], "9");
    }

    // Private activity: only its readers, wherever they are.
    let (status, private) = nodes[0]
        .post_activity(
            "acme",
            json!({"action": "viewed", "entity_type": "invoice", "entity_id": "10",
                   "visibility": "private", "visible_to": ["bob"]}),
        )
        .await;
    assert_eq!(status, 201, "{private}");
    let m = bob.recv_type("activity").await;
    assert_eq!(m["activity"]["id"], private["id"]);

    let admin = token_with(&nodes[1].settings, "root", "acme", Some("admin"), 300);
    let (status, body) = nodes[1]
        .call(
            "POST",
            "/api/v1/admin/system-message",
            &bearer(&admin),
            Some(&json!({"message": "Maintenance", "level": "warning"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    for c in [&mut alice, &mut bob] {
        let m = c.recv_type("system:message").await;
        assert_eq!(m["message"], "Maintenance");
    }
    let heard: Vec<Value> = alice
        .collect_type("activity", Duration::from_millis(200))
        .await;
    assert!(heard.is_empty(), "alice is no reader of the private entry");
    assert!(
        eve.collect_type("system:message", Duration::from_millis(100))
            .await
            .is_empty(),
        "another tenant hears nothing"
    );
}

#[actix_web::test]
async fn a_node_listens_to_a_topic_only_while_it_has_local_subscribers() {
    let p = prefix();
    let nodes = cluster(2, &p).await;
    let topic = tenant("acme");
    assert_eq!(listeners(&p, &topic).await, 0);
    let a1 = nodes[0].connect_ready("alice", "acme").await;
    let a2 = nodes[0].connect_ready("ann", "acme").await;
    wait_listeners(&p, &topic, 1).await;
    let b = nodes[1].connect_ready("bob", "acme").await;
    wait_listeners(&p, &topic, 2).await;
    wait_listeners(&p, &user("acme", "ann"), 1).await;
    a1.close().await;
    b.close().await;
    wait_listeners(&p, &topic, 1).await;
    a2.close().await;
    wait_listeners(&p, &topic, 0).await;
    wait_listeners(&p, &user("acme", "ann"), 0).await;
    for node in &nodes {
        let body = readyz(node).await;
        assert_eq!(body["status"], "ready", "{body}");
        assert!(body["node"].is_string(), "{body}");
    }
    assert_ne!(
        readyz(&nodes[0]).await["node"],
        readyz(&nodes[1]).await["node"]
    );
}

#[actix_web::test]
async fn a_node_alone_uses_no_redis() {
    let app = spawn_app().await;
    assert!(app.settings.redis.url.expose().is_empty());
    let body = readyz(&app).await;
    assert_eq!(body, json!({"status": "ready"}));
}

const METRICS_TOKEN: &str = "metrics-token-0123456789";

/// The node's `/metrics` text (the `tandem_redis_up` line is set per scrape).
async fn redis_up(node: &TestApp) -> String {
    let mut resp = awc::Client::new()
        .get(node.url("/metrics"))
        .insert_header(("Authorization", format!("Bearer {METRICS_TOKEN}")))
        .send()
        .await
        .unwrap();
    let body = resp.body().limit(4 << 20).await.unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

/// Waits (at most 15 s) until the node's `/readyz` status is `status`.
async fn wait_status(node: &TestApp, status: &str) {
    for _ in 0..300 {
        if readyz(node).await["status"] == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never became {status}", node.port);
}

#[actix_web::test]
async fn a_node_cut_off_from_redis_serves_locally_and_recovers() {
    let p = prefix();
    let (proxy, url) = redis_proxy();
    let urls = [None, Some(url)];
    let nodes = cluster_with(2, &p, &urls, |s| {
        s.metrics.token = Secret::new(METRICS_TOKEN);
    })
    .await;
    let mut alice_a = nodes[0].connect_ready("alice", "acme").await;
    let mut alice_b = nodes[1].connect_ready("alice", "acme").await;
    wait_listeners(&p, &user("acme", "alice"), 2).await;
    wait_status(&nodes[1], "ready").await;
    assert!(redis_up(&nodes[1]).await.contains("tandem_redis_up 1"));

    proxy.set_up(false);
    wait_status(&nodes[1], "degraded").await;
    let body = readyz(&nodes[1]).await;
    assert_eq!(body["redis"], "unreachable");
    assert!(redis_up(&nodes[1]).await.contains("tandem_redis_up -1"));
    assert_eq!(readyz(&nodes[0]).await["status"], "ready");
    wait_listeners(&p, &user("acme", "alice"), 1).await;

    // Each node still serves its own sockets, and stores everything.
    let local_b = nodes[1].notify("acme", "alice", "on b while cut").await;
    let m = alice_b.recv_type("notification").await;
    assert_eq!(m["notification"]["id"], local_b);
    let local_a = nodes[0].notify("acme", "alice", "on a while cut").await;
    let m = alice_a.recv_type("notification").await;
    assert_eq!(m["notification"]["id"], local_a);
    let mut room_b = nodes[1].connect_ready("bob", "acme").await;
    let joined = room_b
        .request(
            json!({"type": "room:join", "entity_type": "invoice", "entity_id": "1"}),
            "j",
        )
        .await;
    assert_eq!(joined["type"], "room:users", "{joined}");

    // Five seconds later Redis is back: the node reconnects and listens again.
    // A fixed wait on purpose: the outage's length is the scenario (Redis
    // down for 5 s), and nothing happens meanwhile that could be waited on.
    tokio::time::sleep(Duration::from_secs(5)).await;
    proxy.set_up(true);
    wait_status(&nodes[1], "ready").await;
    wait_listeners(&p, &user("acme", "alice"), 2).await;
    let after = nodes[0].notify("acme", "alice", "after").await;
    for c in [&mut alice_a, &mut alice_b] {
        let m = c
            .recv_where("notification after the outage", |m| {
                m["type"] == "notification" && m["notification"]["id"] == after
            })
            .await;
        assert_eq!(m["notification"]["title"], "after");
    }

    // Nothing stored was lost: alice's list has all three.
    let (status, list) = nodes[1]
        .get(
            "/api/v1/notifications",
            Some(&nodes[1].token("alice", "acme")),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<i64> = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    for id in [local_a, local_b, after] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
}

#[actix_web::test]
async fn a_document_has_one_writer_in_the_cluster() {
    let p = prefix();
    let nodes = cluster(2, &p).await;
    let mut alice = joined(&nodes[0], "alice").await;
    let state = alice.request(doc("doc:sync", json!({})), "s").await;
    assert_eq!(state["type"], "doc:state", "{state}");
    let edit = json!({"field": "body", "revision": 0, "op": ["hello"], "client_id": "a", "seq": 1});
    let ack = alice.request(doc("doc:edit", edit), "e1").await;
    assert_eq!(ack["type"], "ack", "{ack}");

    // Node A holds the lease.
    let node_a = readyz(&nodes[0]).await["node"].as_str().unwrap().to_owned();
    let mut conn = redis_conn().await;
    let holder: Option<String> = redis::cmd("GET")
        .arg(format!("{p}doc:4:acme:7:invoice:7"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        holder
            .as_deref()
            .is_some_and(|h| h.starts_with(&format!("{node_a}:"))),
        "{holder:?}"
    );

    // Node B forwards to A, the one writer: nothing is written twice.
    let mut bob = joined(&nodes[1], "bob").await;
    let room = Topic::Room(tandem::ids::RoomId::new(
        TenantId::new("acme"),
        "invoice",
        "7",
    ));
    wait_listeners(&p, &room, 2).await;
    let state = bob.request(doc("doc:sync", json!({})), "s").await;
    assert_eq!(state["type"], "doc:state", "{state}");
    assert_eq!(state["fields"]["body"]["text"], "hello", "{state}");
    let edit =
        json!({"field": "body", "revision": 1, "op": [5, " bob"], "client_id": "b", "seq": 1});
    let ack = bob.request(doc("doc:edit", edit), "e").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["data"]["revision"], 2, "{ack}");
    let op = alice.recv_type("doc:op").await;
    assert_eq!(
        (op["user_id"].as_str(), op["revision"].as_u64()),
        (Some("bob"), Some(2))
    );
    let still: Option<String> = redis::cmd("GET")
        .arg(format!("{p}doc:4:acme:7:invoice:7"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(still, holder, "A still holds the same lease");

    // A's last member leaves: its room idles out, the session stores and
    // gives the lease up, and B takes the document over.
    alice.close().await;
    let node_b = readyz(&nodes[1]).await["node"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let now: Option<String> = redis::cmd("GET")
            .arg(format!("{p}doc:4:acme:7:invoice:7"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if now.is_some_and(|h| h.starts_with(&format!("{node_b}:"))) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "B never took over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = bob.request(doc("doc:sync", json!({})), "again").await;
    assert_eq!(state["fields"]["body"]["text"], "hello bob", "{state}");
    assert_eq!(state["fields"]["body"]["revision"], 2, "{state}");
}

#[actix_web::test]
async fn when_the_writer_is_killed_another_node_takes_the_document_with_every_acked_edit() {
    const LEASE_MS: u64 = 3000;
    let p = prefix();
    let nodes = cluster(1, &p).await;
    let b = &nodes[0];
    let mut a = Process::start(&b.db.url, &p, LEASE_MS, 16);

    let mut alice = a.connect(&b.settings, "alice").await;
    let users = alice
        .request(
            json!({"type": "room:join", "entity_type": "invoice", "entity_id": "7"}),
            "join",
        )
        .await;
    assert_eq!(users["type"], "room:users", "{users}");
    let state = alice.request(doc("doc:sync", json!({})), "s").await;
    assert_eq!(state["type"], "doc:state", "{state}");
    let mut text = String::new();
    for (i, word) in ["one ", "two ", "three "].iter().enumerate() {
        let op = if text.is_empty() {
            json!([word])
        } else {
            json!([text.chars().count(), word])
        };
        let edit =
            json!({"field": "body", "revision": i, "op": op, "client_id": "a", "seq": i + 1});
        let ack = alice.request(doc("doc:edit", edit), &format!("e{i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        text.push_str(word);
    }

    // While A lives it keeps renewing: past a whole lease B still forwards
    // to A (B never loads the document itself).
    let mut bob = joined(b, "bob").await;
    let room = Topic::Room(tandem::ids::RoomId::new(
        TenantId::new("acme"),
        "invoice",
        "7",
    ));
    wait_listeners(&p, &room, 2).await;
    let served = bob.request(doc("doc:sync", json!({})), "s").await;
    assert_eq!(served["fields"]["body"]["text"], text.as_str(), "{served}");
    // A fixed wait on purpose: the test must show that nothing happens (the
    // lease does not lapse) over more than a whole lease.
    tokio::time::sleep(Duration::from_millis(LEASE_MS + 500)).await;
    let mut conn = redis_conn().await;
    let holder: Option<String> = redis::cmd("GET")
        .arg(format!("{p}doc:4:acme:7:invoice:7"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let node_b = readyz(b).await["node"].as_str().unwrap().to_owned();
    assert!(
        holder.as_deref().is_some_and(|h| !h.starts_with(&node_b)),
        "A renewed: {holder:?}"
    );
    let served = bob.request(doc("doc:sync", json!({})), "s").await;
    assert_eq!(served["type"], "doc:state", "renewed: {served}");

    // kill -9: the lease lapses and B loads every acknowledged edit.
    a.kill();
    let killed = std::time::Instant::now();
    let state = loop {
        let r = bob.request(doc("doc:sync", json!({})), "retry").await;
        if r["type"] == "doc:state" {
            break r;
        }
        assert_eq!(r["code"], "unavailable", "{r}");
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "never taken over"
        );
        tokio::time::sleep(Duration::from_millis(r["retry_after_ms"].as_u64().unwrap())).await;
    };
    // The lease, plus at most two forwarded requests that time out (2.5 s).
    assert!(
        killed.elapsed() < Duration::from_millis(LEASE_MS + 2 * 2500 + 1000),
        "taken over {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(state["fields"]["body"]["text"], text.as_str(), "{state}");
    assert_eq!(state["fields"]["body"]["revision"], 3, "{state}");

    // The revisions go on from there: no fork.
    let edit = json!({"field": "body", "revision": 3, "op": [text.chars().count(), "four"],
                      "client_id": "b", "seq": 1});
    let ack = bob.request(doc("doc:edit", edit), "e").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["data"]["revision"], 4, "{ack}");
}

/// Tries to open a socket until one is admitted (at most `within`).
async fn admitted_within(node: &TestApp, user: &str, within: Duration) -> WsClient {
    let started = std::time::Instant::now();
    loop {
        let token = node.token(user, "acme");
        match WsClient::connect(&node.ws_url(), &bearer(&token)).await {
            Ok(c) => return c,
            Err(_) if started.elapsed() < within => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("not admitted within {within:?}: {e}"),
        }
    }
}

#[actix_web::test]
async fn the_connection_cap_counts_every_node_and_forgets_a_dead_one() {
    let p = prefix();
    let nodes = cluster_with(3, &p, &[], |s| {
        s.websocket.max_connections_per_user = 2;
        s.redis.node_ttl_ms = 3000;
    })
    .await;
    let token = nodes[0].token("alice", "acme");
    let on_a = nodes[0].connect_ready("alice", "acme").await;
    let mut stream = nodes[1].sse("", &bearer(&token)).await;
    stream.next_named("ready").await;
    let (status, body) = nodes[2].refused_upgrade("/ws", &bearer(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("too_many_connections")),
        "one socket on A and a stream on B fill alice's two slots"
    );
    let (status, body) = SseClient::connect(&nodes[2].url("/api/v1/stream"), &bearer(&token))
        .await
        .err()
        .unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("too_many_connections"))
    );
    // Another user is unaffected; a closed socket gives its slot back.
    let _bob = nodes[2].connect_ready("bob", "acme").await;
    on_a.close().await;
    let _on_c = admitted_within(&nodes[2], "alice", Duration::from_secs(10)).await;

    // A node killed with alice's sockets: they stop counting once its
    // heartbeat lapses (node_ttl_ms = 3000).
    let mut dead = Process::start(&nodes[0].db.url, &p, 10_000, 2);
    let _d1 = dead.connect(&nodes[0].settings, "carol").await;
    let _d2 = dead.connect(&nodes[0].settings, "carol").await;
    let carol = nodes[0].token("carol", "acme");
    let (status, _) = nodes[0].refused_upgrade("/ws", &bearer(&carol)).await;
    assert_eq!(status, 429, "carol's two sockets on the process count");
    dead.kill();
    let killed = std::time::Instant::now();
    let _c = admitted_within(&nodes[0], "carol", Duration::from_secs(10)).await;
    assert!(
        killed.elapsed() < Duration::from_millis(3000 + 1500),
        "admitted {:?} after the kill",
        killed.elapsed()
    );
}

#[actix_web::test]
async fn a_system_message_to_all_reaches_every_tenant_on_every_node() {
    const PLATFORM_KEY: &str = "platform-key-0123456789abcdef";
    let p = prefix();
    let nodes = cluster_with(3, &p, &[], |s| {
        s.admin.api_keys = vec![Secret::new(PLATFORM_KEY)];
    })
    .await;
    let mut alice = nodes[0].connect_ready("alice", "acme").await;
    let mut eve = nodes[2].connect_ready("eve", "globex").await;
    let mut stream = nodes[2]
        .sse("", &bearer(&nodes[2].token("eve", "globex")))
        .await;
    stream.next_named("ready").await;
    let _bob = nodes[1].connect_ready("bob", "initech").await;
    wait_listeners(&p, &tenant("acme"), 1).await;
    wait_listeners(&p, &tenant("globex"), 1).await;

    // Sent through the node where only initech is connected.
    let (status, body) = nodes[1]
        .call(
            "POST",
            "/api/v1/admin/system-message",
            &[("X-Admin-Key", PLATFORM_KEY.to_owned())],
            Some(&json!({"message": "Everyone", "all": true})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["scope"], "all");
    for c in [&mut alice, &mut eve] {
        let m = c.recv_type("system:message").await;
        assert_eq!(
            (m["message"].as_str(), m["scope"].as_str()),
            (Some("Everyone"), Some("all"))
        );
        let again = c
            .collect_type("system:message", Duration::from_millis(200))
            .await;
        assert!(again.is_empty(), "once per socket: {again:?}");
    }
    let (_, data) = stream.next_named("system").await;
    assert_eq!(data["message"], "Everyone");
}

#[actix_web::test]
async fn room_broadcasts_reach_members_on_every_node() {
    let p = prefix();
    let nodes = cluster(3, &p).await;
    let mut alice = joined(&nodes[0], "alice").await;
    let mut ann = joined(&nodes[0], "ann").await;
    let mut bob = joined(&nodes[1], "bob").await;
    let mut carol = nodes[2].connect_ready("carol", "acme").await;
    let other = carol
        .request(
            json!({"type": "room:join", "entity_type": "invoice", "entity_id": "8"}),
            "join",
        )
        .await;
    assert_eq!(other["type"], "room:users");
    let room = Topic::Room(tandem::ids::RoomId::new(
        TenantId::new("acme"),
        "invoice",
        "7",
    ));
    wait_listeners(&p, &room, 2).await;

    let broadcast = json!({"type": "room:broadcast", "entity_type": "invoice", "entity_id": "7",
                           "event": "confetti", "payload": {"n": 1}});
    let ack = alice.request(broadcast, "b").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    for c in [&mut ann, &mut bob] {
        let got = c.recv_type("room:broadcast").await;
        assert_eq!(
            (got["event"].as_str(), got["from_user_id"].as_str()),
            (Some("confetti"), Some("alice"))
        );
        assert_eq!(got["payload"], json!({"n": 1}));
    }
    let broadcast = json!({"type": "room:broadcast", "entity_type": "invoice", "entity_id": "7",
                           "event": "back", "payload": {}});
    bob.request(broadcast, "b2").await;
    let got = alice.recv_type("room:broadcast").await;
    assert_eq!(
        (got["event"].as_str(), got["from_user_id"].as_str()),
        (Some("back"), Some("bob"))
    );
    for (c, who) in [
        (&mut alice, "alice"),
        (&mut bob, "bob"),
        (&mut carol, "carol"),
    ] {
        let extra = c
            .collect_type("room:broadcast", Duration::from_millis(200))
            .await;
        let own: Vec<&Value> = extra.iter().filter(|m| m["from_user_id"] == who).collect();
        assert!(
            own.is_empty(),
            "{who} never hears its own broadcast: {extra:?}"
        );
        if who == "carol" {
            assert!(extra.is_empty(), "another room hears nothing: {extra:?}");
        }
    }

    // The last member on B leaves: B's room closes and stops listening.
    bob.close().await;
    wait_listeners(&p, &room, 1).await;
}

/// An admin revokes a user through one node: the user's socket on another
/// node is closed with 4003 and that node refuses the user's tokens, within
/// the nodes' revocation sync; lifting it on the first node lets the user
/// back in on the other.
#[actix_web::test]
async fn a_revocation_made_on_one_node_holds_on_every_node() {
    let p = prefix();
    let nodes = cluster(2, &p).await;
    let mut alice = nodes[1].connect_ready("alice", "acme").await;
    let admin = token_with(&nodes[0].settings, "root-acme", "acme", Some("admin"), 300);
    let (status, body) = nodes[0]
        .call(
            "POST",
            "/api/v1/admin/users/alice/disconnect",
            &bearer(&admin),
            Some(&json!({"revoke_secs": 3600})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["closed"], 0, "alice has no socket on the admin's node");
    // Within the sync (2 s), the other node closes her socket...
    let sync = tandem::actors::revocation_sync::SYNC_EVERY;
    assert_eq!(
        alice.ended(sync * 3).await,
        Ended::Close(Some(4003)),
        "the other node closes the revoked user's socket"
    );
    // ...and refuses her tokens, fresh ones too.
    let fresh = token_with(&nodes[1].settings, "alice", "acme", None, 7200);
    let (status, body) = nodes[1].refused_upgrade("/ws", &bearer(&fresh)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("token_revoked")),
        "{body}"
    );
    // Lifted on the first node: the second lets her in again.
    let (status, body) = nodes[0]
        .call(
            "DELETE",
            "/api/v1/admin/users/alice/revocation",
            &bearer(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let deadline = Instant::now() + sync * 3;
    loop {
        let (status, _) = nodes[1].refused_upgrade("/ws", &bearer(&fresh)).await;
        if status == 101 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused after the lift: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
