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
