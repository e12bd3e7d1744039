//! One document edited through several nodes: the node holding the
//! document's lease owns it (its session is the only writer); the others
//! forward their members' `doc:*` requests to it over the room's Redis
//! channel and deliver its replies and broadcasts. When the owner is killed
//! (a real process, SIGKILL), another node takes the lease and loads every
//! acknowledged edit from PostgreSQL.
//!
//! Nodes share one database and the real Redis at `TANDEM_TEST_REDIS_URL`,
//! each test under its own `redis.key_prefix`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::*;
use common::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tandem::broker::Topic;
use tandem::ids::{RoomId, TenantId};

/// Waits (at most 10 s) until `n` nodes listen to the document's room topic.
async fn wait_room_listeners(prefix: &str, n: i64) {
    let topic = Topic::Room(RoomId::new(TenantId::new("acme"), "invoice", "7"));
    wait_listeners(prefix, &topic, n).await;
}

/// The length change of a wire op (`[retain, "insert", -delete]`).
fn delta(op: &Value) -> i64 {
    op.as_array()
        .unwrap()
        .iter()
        .map(|c| match c {
            Value::String(s) => s.chars().count() as i64,
            Value::Number(n) if n.as_i64().unwrap() < 0 => n.as_i64().unwrap(),
            _ => 0,
        })
        .sum()
}

/// A client's view of the `body` field: the length change of every
/// revision it learned (its own acks and the others' `doc:op`).
#[derive(Default)]
struct Editor {
    deltas: BTreeMap<u64, i64>,
    ops_seen: Vec<Value>,
}

impl Editor {
    /// The latest revision up to which every revision is known, and the
    /// text length there: what the next edit is based on.
    fn base(&self) -> (u64, i64) {
        let (mut rev, mut len) = (0, 0);
        while let Some(d) = self.deltas.get(&(rev + 1)) {
            rev += 1;
            len += d;
        }
        (rev, len)
    }

    fn saw(&mut self, m: &Value) {
        if m["type"] == "doc:op" && m["field"] == "body" {
            self.deltas
                .insert(m["revision"].as_u64().unwrap(), delta(&m["op"]));
            self.ops_seen.push(m.clone());
        }
    }

    /// Sends `count` edits appending `<tag><i>;`, each based on what the
    /// client knows when it sends it (others edit concurrently), one in
    /// flight; returns the revisions acked.
    async fn edit(&mut self, c: &mut WsClient, tag: &str, count: u64) -> Vec<u64> {
        let mut acked = Vec::new();
        for i in 1..=count {
            let (revision, len) = self.base();
            let word = format!("{tag}{i};");
            let op = if len == 0 {
                json!([word])
            } else {
                json!([len, word])
            };
            let r#ref = format!("{tag}-{i}");
            c.send(doc(
                "doc:edit",
                json!({"field": "body", "revision": revision, "op": op,
                       "client_id": tag, "seq": i, "ref": r#ref}),
            ))
            .await;
            let ack = loop {
                let m = c.recv().await;
                if m["ref"] == r#ref.as_str() {
                    break m;
                }
                self.saw(&m);
            };
            assert_eq!(ack["type"], "ack", "{ack}");
            let rev = ack["data"]["revision"].as_u64().unwrap();
            self.deltas.insert(rev, word.chars().count() as i64);
            acked.push(rev);
        }
        acked
    }

    /// Reads until every revision up to `revision` is known.
    async fn catch_up(&mut self, c: &mut WsClient, revision: u64) {
        while self.base().0 < revision {
            let m = c.recv().await;
            self.saw(&m);
        }
    }
}

#[actix_web::test]
async fn edits_sent_through_three_nodes_converge_to_one_text() {
    const EDITS: u64 = 8;
    let p = prefix();
    let nodes = cluster(3, &p).await;
    let mut alice = joined(&nodes[0], "alice").await;
    let mut bob = joined(&nodes[1], "bob").await;
    let mut carol = joined(&nodes[2], "carol").await;
    wait_room_listeners(&p, 3).await;

    // Alice's node opens the document first and owns it; the others forward.
    for c in [&mut alice, &mut bob, &mut carol] {
        let state = c.request(doc("doc:sync", json!({})), "s").await;
        assert_eq!(state["type"], "doc:state", "{state}");
        assert_eq!(state["version"], 0, "{state}");
    }

    let (mut ea, mut eb, mut ec) = (Editor::default(), Editor::default(), Editor::default());
    let (acked_a, acked_b, acked_c) = tokio::join!(
        ea.edit(&mut alice, "a", EDITS),
        eb.edit(&mut bob, "b", EDITS),
        ec.edit(&mut carol, "c", EDITS),
    );
    // One history: every revision acked once, to one author, on any node.
    let mut all: Vec<u64> = [&acked_a, &acked_b, &acked_c]
        .iter()
        .flat_map(|v| v.iter().copied())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=3 * EDITS).collect::<Vec<_>>());

    // Every client sees every other client's op, exactly once, and never
    // its own (it applied it already).
    for (e, c, tag) in [
        (&mut ea, &mut alice, "a"),
        (&mut eb, &mut bob, "b"),
        (&mut ec, &mut carol, "c"),
    ] {
        e.catch_up(c, 3 * EDITS).await;
        assert_eq!(
            e.ops_seen.len() as u64,
            2 * EDITS,
            "{tag}: {:?}",
            e.ops_seen
        );
        assert!(
            e.ops_seen.iter().all(|m| m["client_id"] != tag),
            "{tag} got its own op back"
        );
        let extra = c.collect_type("doc:op", Duration::from_millis(200)).await;
        assert!(extra.is_empty(), "{tag}: ops delivered twice: {extra:?}");
    }

    // One text, the same through every node, with every edit once.
    let mut texts = Vec::new();
    for c in [&mut alice, &mut bob, &mut carol] {
        let state = c.request(doc("doc:sync", json!({})), "end").await;
        assert_eq!(state["fields"]["body"]["revision"], 3 * EDITS, "{state}");
        texts.push(state["fields"]["body"]["text"].as_str().unwrap().to_owned());
    }
    assert!(texts.iter().all(|t| t == &texts[0]), "{texts:?}");
    for tag in ["a", "b", "c"] {
        for i in 1..=EDITS {
            let word = format!("{tag}{i};");
            assert_eq!(texts[0].matches(&word).count(), 1, "{word} in {}", texts[0]);
        }
    }
    // Each client's own edits in the order it sent them.
    for tag in ["a", "b", "c"] {
        let at: Vec<usize> = (1..=EDITS)
            .map(|i| texts[0].find(&format!("{tag}{i};")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{tag}: {}", texts[0]);
    }
}

#[actix_web::test]
async fn a_member_who_syncs_right_after_joining_on_another_node_is_served() {
    let p = prefix();
    let nodes = cluster(2, &p).await;
    let mut alice = nodes[0].connect_ready("alice", "acme").await;
    let mut bob = nodes[1].connect_ready("bob", "acme").await;
    // A fresh document each time: bob's node opens its room and at once
    // forwards the sync, while its subscription to the room's channel is
    // on its way to Redis (the session pings the owner first and holds the
    // sync until the answer shows the subscription works). With no wait for
    // listeners, unlike the other tests: every sync must be served.
    for id in 0..5 {
        let on =
            |kind: &str| json!({"type": kind, "entity_type": "memo", "entity_id": id.to_string()});
        let users = alice.request(on("room:join"), "j").await;
        assert_eq!(users["type"], "room:users", "{users}");
        let state = alice.request(on("doc:sync"), "s").await;
        assert_eq!(state["type"], "doc:state", "{state}");
        // As the protocol asks: the join confirmed (`room:users`) first.
        let users = bob.request(on("room:join"), "j").await;
        assert_eq!(users["type"], "room:users", "{users}");
        let state = bob.request(on("doc:sync"), "s").await;
        assert_eq!(state["type"], "doc:state", "document {id}: {state}");
    }
}

/// Two nodes; alice (node 0) and bob (node 1) in the document's room, both
/// nodes subscribed to it, and alice's node the owner (her sync opened the
/// session first).
async fn alice_owns_bob_joins(p: &str) -> (Vec<TestApp>, WsClient, WsClient) {
    let nodes = cluster(2, p).await;
    let mut alice = joined(&nodes[0], "alice").await;
    let bob = joined(&nodes[1], "bob").await;
    wait_room_listeners(p, 2).await;
    let state = alice.request(doc("doc:sync", json!({})), "s").await;
    assert_eq!(state["type"], "doc:state", "{state}");
    (nodes, alice, bob)
}

#[actix_web::test]
async fn locks_hold_across_nodes() {
    let p = prefix();
    let (nodes, mut alice, mut bob) = alice_owns_bob_joins(&p).await;

    // A lock taken on the owner's node is seen, and enforced, on the other.
    let ack = alice
        .request(
            doc("doc:lock", json!({"field": "title", "mode": "hard"})),
            "l1",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let status = bob.recv_type("doc:lock_status").await;
    assert_eq!(status["locks"][0]["field"], "title", "{status}");
    assert_eq!(status["locks"][0]["user_id"], "alice", "{status}");
    let refused = bob
        .request(doc("doc:lock", json!({"field": "title"})), "l2")
        .await;
    assert_eq!(refused["code"], "lock_conflict", "{refused}");
    let refused = bob
        .request(
            doc(
                "doc:edit",
                json!({"field": "title", "revision": 0, "op": ["x"], "client_id": "b", "seq": 1}),
            ),
            "e1",
        )
        .await;
    assert_eq!(refused["code"], "locked", "{refused}");
    let state = bob.request(doc("doc:sync", json!({})), "s2").await;
    assert_eq!(state["locks"][0]["user_id"], "alice", "{state}");

    // REST lock calls on the forwarding node go to the owner too.
    let carol = nodes[1].token("carol", "acme");
    let (status, body) = nodes[1]
        .send_json(
            "POST",
            "/api/v1/collaboration/invoice/7/lock",
            Some(&carol),
            &json!({"field": "title"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("lock_conflict")),
        "{body}"
    );
    let (status, body) = nodes[1]
        .send_json(
            "POST",
            "/api/v1/collaboration/invoice/7/lock",
            Some(&carol),
            &json!({"field": "other", "mode": "hard"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["field"].as_str(), body["user_id"].as_str()),
        (Some("other"), Some("carol"))
    );
    alice
        .recv_where("carol's REST lock", |m| {
            m["type"] == "doc:lock_status"
                && m["locks"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|l| l["user_id"] == "carol"))
        })
        .await;
    let (status, body) = nodes[1]
        .send_json(
            "DELETE",
            "/api/v1/collaboration/invoice/7/lock?field=other",
            Some(&carol),
            &json!({}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let state = alice.request(doc("doc:sync", json!({})), "s3").await;
    assert_eq!(state["locks"].as_array().unwrap().len(), 1, "{state}");

    // And the other way: a lock taken through the forwarding node.
    let ack = bob
        .request(
            doc("doc:lock", json!({"field": "body", "mode": "hard"})),
            "l3",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["data"]["user_id"], "bob", "{ack}");
    let status = alice
        .recv_where("bob's lock", |m| {
            m["type"] == "doc:lock_status"
                && m["locks"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|l| l["user_id"] == "bob"))
        })
        .await;
    assert_eq!(status["locks"].as_array().unwrap().len(), 2, "{status}");
    let refused = alice
        .request(doc("doc:lock", json!({"field": "body"})), "l4")
        .await;
    assert_eq!(refused["code"], "lock_conflict", "{refused}");

    // Bob releases it through his node: alice may take it.
    let ack = bob
        .request(doc("doc:unlock", json!({"field": "body"})), "u1")
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let ack = alice
        .request(doc("doc:lock", json!({"field": "body"})), "l5")
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");

    // Bob's last connection leaves the room on his node: the owner releases
    // his locks, as for a member of its own.
    let ack = bob
        .request(doc("doc:lock", json!({"field": "notes"})), "l6")
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let holds_notes = |m: &Value| {
        m["type"] == "doc:lock_status"
            && m["locks"]
                .as_array()
                .is_some_and(|l| l.iter().any(|l| l["field"] == "notes"))
    };
    alice.recv_where("bob's lock on notes", holds_notes).await;
    bob.close().await;
    let status = alice
        .recv_where("bob's locks released", |m| {
            m["type"] == "doc:lock_status" && !holds_notes(m)
        })
        .await;
    let users: Vec<&str> = status["locks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice", "alice"], "{status}");
}

#[actix_web::test]
async fn when_the_owner_leaves_another_node_takes_the_document_over() {
    let p = prefix();
    let (nodes, mut alice, mut bob) = alice_owns_bob_joins(&p).await;
    let ack = alice
        .request(
            doc(
                "doc:edit",
                json!({"field": "body", "revision": 0, "op": ["hello"], "client_id": "a", "seq": 1}),
            ),
            "e",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");

    let ack = bob
        .request(
            doc(
                "doc:edit",
                json!({"field": "body", "revision": 1, "op": [5, "!"], "client_id": "b", "seq": 1}),
            ),
            "b1",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");

    // Alice leaves and bob pauses: alice's node idles out (rooms.idle_stop_secs
    // = 1 in tests), stores, gives the lease up and says so; bob's node
    // takes the document over without waiting for a request.
    alice.close().await;
    let room = RoomId::new(TenantId::new("acme"), "invoice", "7");
    let leases = nodes[1].services.leases.clone().unwrap();
    let started = Instant::now();
    while leases.holder(&room).await.unwrap().as_deref() != Some(leases.node()) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "bob's node never took the document"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Served by bob's node now, with everything stored before.
    let ack = bob
        .request(
            doc(
                "doc:edit",
                json!({"field": "body", "revision": 2, "op": [6, "?"], "client_id": "b", "seq": 2}),
            ),
            "b2",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["data"]["revision"], 3, "{ack}");
    let state = bob.request(doc("doc:sync", json!({})), "end").await;
    assert_eq!(state["fields"]["body"]["text"], "hello!?", "{state}");
}

#[derive(diesel::QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    client_id: String,
    #[diesel(sql_type = BigInt)]
    client_seq: i64,
}

#[actix_web::test]
async fn when_the_owner_is_killed_edits_through_another_node_go_on_and_none_acked_is_lost() {
    const LEASE_MS: u64 = 3000;
    let p = prefix();
    let nodes = cluster(1, &p).await;
    let b = &nodes[0];
    let mut a = Process::start(&b.db.url, &p, LEASE_MS, 16);

    // The process opens the document first: it owns it.
    let mut alice = a.connect(&b.settings, "alice").await;
    join(&mut alice).await;
    let state = alice.request(doc("doc:sync", json!({})), "s").await;
    assert_eq!(state["type"], "doc:state", "{state}");
    let ack = alice
        .request(
            doc(
                "doc:edit",
                json!({"field": "body", "revision": 0, "op": ["start;"], "client_id": "a", "seq": 1}),
            ),
            "e",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");

    // Bob edits through the in-process node, which forwards to the process.
    let mut bob = joined(b, "bob").await;
    wait_room_listeners(&p, 2).await;
    let state = bob.request(doc("doc:sync", json!({})), "s").await;
    assert_eq!(state["fields"]["body"]["text"], "start;", "{state}");
    let mut text = "start;".to_owned();
    let mut revision = 1u64;
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut unavailable_since: Option<Instant> = None;
    let mut longest_outage = Duration::ZERO;
    let mut killed_at = None;
    let mut seq = 0u64;
    let started = Instant::now();
    // Edits go on before, across and after the kill; each is resent with
    // the same (client_id, seq) until it is acknowledged.
    while acked.len() < 30 {
        assert!(started.elapsed() < Duration::from_secs(60), "stuck");
        seq += 1;
        if seq == 6 {
            a.kill();
            killed_at = Some(Instant::now());
        }
        let word = format!("b{seq};");
        let edit = json!({"field": "body", "revision": revision,
                          "op": [text.chars().count(), word], "client_id": "b", "seq": seq});
        loop {
            let reply = bob
                .request(doc("doc:edit", edit.clone()), &format!("b{seq}"))
                .await;
            if reply["type"] == "ack" {
                if let Some(since) = unavailable_since.take() {
                    longest_outage = longest_outage.max(since.elapsed());
                }
                revision = reply["data"]["revision"].as_u64().unwrap();
                text.push_str(&word);
                acked.push((seq, word.clone()));
                break;
            }
            assert_eq!(reply["code"], "unavailable", "{reply}");
            assert!(
                killed_at.is_some(),
                "refused while the owner lives: {reply}"
            );
            unavailable_since.get_or_insert_with(Instant::now);
            let wait = reply["retry_after_ms"].as_u64().unwrap();
            assert!(wait > 0 && wait <= 2000, "{reply}");
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
    assert!(killed_at.is_some());
    // Unavailable for at most about a lease plus two forward timeouts.
    assert!(
        longest_outage < Duration::from_millis(LEASE_MS + 2 * 2500 + 3000),
        "unavailable for {longest_outage:?}"
    );

    // The final text has every acknowledged edit, once, in order.
    let state = bob.request(doc("doc:sync", json!({})), "end").await;
    assert_eq!(state["fields"]["body"]["text"], text.as_str(), "{state}");
    assert_eq!(state["fields"]["body"]["revision"], revision, "{state}");

    // And so does PostgreSQL: one stored event per acknowledged edit.
    let mut conn = b.db.conn().await;
    let rows: Vec<Stored> = diesel::sql_query(
        "SELECT client_id, client_seq FROM collaboration_events \
         WHERE entity_id = '7' AND event_type = 'edit' ORDER BY version",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let stored: Vec<(String, i64)> = rows
        .into_iter()
        .map(|r| (r.client_id, r.client_seq))
        .collect();
    let mut expected = vec![("a".to_owned(), 1)];
    expected.extend(acked.iter().map(|(s, _)| ("b".to_owned(), *s as i64)));
    assert_eq!(stored, expected);
}
