//! Yjs documents across the nodes of a cluster: in-process nodes sharing one
//! PostgreSQL database and the real Redis at `TANDEM_TEST_REDIS_URL` (each
//! test under its own `redis.key_prefix`), driven by the real `yjs` and
//! `y-websocket` npm packages and by raw sync-protocol sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::*;
use common::yjs::*;
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{GetString, Transact, Update};

/// Longer than the catch-up read a document does 2 s after it loaded.
const CATCH_UP_PAST: Duration = Duration::from_secs(3);

/// `n` nodes on one database under a prefix no other test uses;
/// `redis_urls[i]` overrides node i's Redis URL (a proxy).
async fn yjs_cluster(n: usize, redis_urls: &[Option<String>]) -> Vec<TestApp> {
    cluster_with(n, &prefix(), redis_urls, |_| {}).await
}

/// Reads update frames from a raw client until its copy of the document
/// (`doc`) has `content` holding `want`, within 15 s.
async fn until_text_has(c: &mut WsClient, doc: &yrs::Doc, want: &str) -> String {
    let text = doc.get_or_insert_text("content");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = text.get_string(&doc.transact());
        if now.contains(want) {
            return now;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(frame) = c.try_recv_binary(left).await else {
            panic!("{want:?} never arrived; the text is {now:?}");
        };
        if let Ok(Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u))) =
            Message::decode_v1(&frame)
        {
            doc.transact_mut()
                .apply_update(Update::decode_v1(&u).unwrap())
                .unwrap();
        }
    }
}

/// Two real y-websocket clients on two nodes edit one document at once:
/// each sees the other's inserts live, they converge, and a third node
/// serves the same state.
#[actix_web::test]
async fn edits_on_two_nodes_converge() {
    let nodes = yjs_cluster(3, &[]).await;
    let a = with(
        client(&nodes[0], "edit", "plan", "alice", "acme"),
        json!({"prefix": "A", "inserts": 6, "expect": ["A6;", "B6;"], "timeoutMs": 20000}),
    );
    let b = with(
        client(&nodes[1], "edit", "plan", "bob", "acme"),
        json!({"prefix": "B", "inserts": 6, "expect": ["A6;", "B6;"], "timeoutMs": 20000}),
    );
    let (ra, rb) = tokio::join!(node(a), node(b));
    let (ta, tb) = (ra["text"].as_str().unwrap(), rb["text"].as_str().unwrap());
    assert_eq!(ta, tb, "the two nodes' clients diverged");
    assert_eq!(ta.len(), 2 * 6 * 3, "{ta}");

    let mut raw = raw_client(&nodes[2], "plan", "carol", "acme").await;
    raw.send_binary(&step1_empty()).await;
    assert_eq!(text_from_step2(&mut raw).await, ta);
    raw.close().await;
}

/// A socket on one node sees, live, what a client writes on another; a
/// document of another tenant with the same name hears nothing.
#[actix_web::test]
async fn a_change_on_one_node_reaches_sockets_on_another_live() {
    let nodes = yjs_cluster(2, &[]).await;
    let mut watcher = raw_client(&nodes[1], "notes", "bob", "acme").await;
    watcher.send_binary(&step1_empty()).await;
    assert_eq!(text_from_step2(&mut watcher).await, "");
    let mut other_tenant = raw_client(&nodes[1], "notes", "eve", "globex").await;
    other_tenant.send_binary(&step1_empty()).await;
    assert_eq!(text_from_step2(&mut other_tenant).await, "");
    // Fixed wait: past the catch-up read that follows the load, so what
    // arrives below can only have come over the relay.
    tokio::time::sleep(CATCH_UP_PAST).await;

    node(with(
        client(&nodes[0], "write", "notes", "alice", "acme"),
        json!({"text": "hello from A"}),
    ))
    .await;
    let doc = yrs::Doc::new();
    until_text_has(&mut watcher, &doc, "hello from A").await;

    let mut again = raw_client(&nodes[1], "notes", "eve", "globex").await;
    again.send_binary(&step1_empty()).await;
    assert_eq!(text_from_step2(&mut again).await, "", "tenants never share");
    let heard = other_tenant
        .try_recv_binary(Duration::from_millis(300))
        .await;
    assert!(
        heard.is_none_or(|f| !matches!(
            Message::decode_v1(&f),
            Ok(Message::Sync(SyncMessage::Update(_)))
        )),
        "another tenant's document got an update"
    );
}

/// Awareness crosses nodes: B (on node 2) sees A's state (set on node 1),
/// sees it removed when A's socket is cut, and again when A reconnects.
#[actix_web::test]
async fn awareness_crosses_nodes() {
    let nodes = yjs_cluster(2, &[]).await;
    let out = node(with(
        client(&nodes[0], "awareness", "aware", "alice", "acme"),
        json!({"peerUrl": yjs_url(&nodes[1]), "timeoutMs": 20000}),
    ))
    .await;
    assert_eq!(out, json!({"seen": "alice", "removed": true, "back": true}));
}

/// A node cut off from Redis misses what another node's clients write; once
/// Redis is back it reads the stored rows again and sends its sockets what
/// they missed.
#[actix_web::test]
async fn a_node_cut_off_from_redis_catches_up_when_it_is_back() {
    let (proxy, url) = redis_proxy();
    let nodes = yjs_cluster(2, &[None, Some(url)]).await;
    let mut watcher = raw_client(&nodes[1], "cut", "bob", "acme").await;
    watcher.send_binary(&step1_empty()).await;
    assert_eq!(text_from_step2(&mut watcher).await, "");
    // Fixed wait: past the catch-up read that follows the load, so only the
    // catch-up after the reconnection can bring the change.
    tokio::time::sleep(CATCH_UP_PAST).await;

    proxy.set_up(false);
    node(with(
        client(&nodes[0], "write", "cut", "alice", "acme"),
        json!({"text": "written while B was cut off"}),
    ))
    .await;
    proxy.set_up(true);
    let doc = yrs::Doc::new();
    let text = until_text_has(&mut watcher, &doc, "written while B was cut off").await;
    assert_eq!(text, "written while B was cut off");
}

/// An awareness message that sets `client`'s state to `json` at `clock`.
fn awareness(client: u64, clock: u32, json: &str) -> Vec<u8> {
    let mut clients = std::collections::HashMap::new();
    clients.insert(
        yrs::ClientID::new(client),
        yrs::sync::awareness::AwarenessUpdateEntry {
            clock,
            json: json.into(),
        },
    );
    Message::Awareness(yrs::sync::AwarenessUpdate { clients }).encode_v1()
}

/// Reads awareness states from `c` until `client` holds one containing
/// `want`; returns every state seen on the way, as `(client, json)`.
async fn awareness_until(c: &mut WsClient, client: u64, want: &str) -> Vec<(u64, String)> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(frame) = c.try_recv_binary(left).await else {
            panic!("no state with {want:?} for {client}; saw {seen:?}");
        };
        let Ok(Message::Awareness(update)) = Message::decode_v1(&frame) else {
            continue;
        };
        let mut done = false;
        for (id, entry) in update.clients {
            let id = id.get();
            done |= id == client && entry.json.contains(want);
            seen.push((id, entry.json.to_string()));
        }
        if done {
            return seen;
        }
    }
}

/// A raw socket of acme on `app` that has synced the document `aware-own`.
async fn synced(app: &TestApp, user: &str) -> WsClient {
    let mut c = raw_client(app, "aware-own", user, "acme").await;
    c.send_binary(&step1_empty()).await;
    text_from_step2(&mut c).await;
    c
}

/// An awareness id belongs to the socket that set it, across nodes too: a
/// socket on another node cannot set it (nobody, on either node, sees the
/// forged state) while the owner's own states keep going through.
#[actix_web::test]
async fn an_awareness_id_set_on_one_node_cannot_be_taken_on_another() {
    let nodes = yjs_cluster(2, &[]).await;
    let mut alice = synced(&nodes[0], "alice").await;
    let mut watch_a = synced(&nodes[0], "wendy").await;
    let mut mallory = synced(&nodes[1], "mallory").await;
    let mut watch_b = synced(&nodes[1], "walter").await;

    alice
        .send_binary(&awareness(77, 1, r#"{"user":"alice"}"#))
        .await;
    // Node 2 has applied alice's state once its socket sees it (over the
    // relay, or from node 1's answer to node 2's query for states).
    awareness_until(&mut watch_b, 77, "alice").await;
    mallory
        .send_binary(&awareness(77, 9, r#"{"user":"mallory"}"#))
        .await;
    // Mallory's own id goes through, after the forged state would have.
    mallory
        .send_binary(&awareness(88, 1, r#"{"user":"mallory-own"}"#))
        .await;
    for watcher in [&mut watch_b, &mut watch_a] {
        let seen = awareness_until(watcher, 88, "mallory-own").await;
        assert!(
            !seen.iter().any(|(_, json)| json.contains(r#""mallory""#)),
            "a forged state was relayed: {seen:?}"
        );
    }
    // The owner's next state reaches the other node.
    alice
        .send_binary(&awareness(77, 2, r#"{"user":"alice-2"}"#))
        .await;
    let seen = awareness_until(&mut watch_b, 77, "alice-2").await;
    assert!(!seen.iter().any(|(_, json)| json.contains(r#""mallory""#)));
    // A socket that joins node 2 now gets alice's state for the id.
    let mut late = raw_client(&nodes[1], "aware-own", "lena", "acme").await;
    late.send_binary(&step1_empty()).await;
    // A socket that joins is sent every awareness state.
    let seen = awareness_until(&mut late, 77, "alice-2").await;
    assert!(!seen.iter().any(|(_, json)| json.contains(r#""mallory""#)));
}
