//! Room state across the nodes of a cluster: member lists, cursors, typing
//! and editing of one room span every node (`actors::room::cluster_sync`).
//! In-process nodes share one PostgreSQL database and the real Redis at
//! `TANDEM_TEST_REDIS_URL`, each test under its own `redis.key_prefix`.
//!
//! A room that opens on a node learns the other nodes' members a moment
//! after its first joiner's `room:users` (the answers to its hello), so the
//! tests follow what a client knows: `room:users` plus the
//! `room:user_joined` / `room:users_joined` that come after it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::*;
use common::*;
use deadpool_redis::redis;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn msg(kind: &str, id: &str, extra: Value) -> Value {
    let mut v = json!({"type": kind, "entity_type": "invoice", "entity_id": id});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// A client in invoice `id` of `tenant`, with the members it knows.
struct Member {
    ws: WsClient,
    /// User ids of the members it has been told of (and not of their
    /// leaving), with each one's device count as last told.
    known: std::collections::BTreeMap<String, usize>,
}

impl Member {
    async fn join(node: &TestApp, user: &str, tenant: &str, id: &str) -> (Member, Value) {
        let mut ws = node.connect_ready(user, tenant).await;
        let users = ws.request(msg("room:join", id, json!({})), "join").await;
        assert_eq!(users["type"], "room:users", "{users}");
        let mut m = Member {
            ws,
            known: Default::default(),
        };
        m.learn(&users);
        (m, users)
    }

    /// Updates `known` from a member-list message.
    fn learn(&mut self, v: &Value) {
        match v["type"].as_str() {
            Some("room:users") | Some("room:users_joined") => {
                for u in v["users"].as_array().unwrap() {
                    self.known.insert(
                        u["user_id"].as_str().unwrap().into(),
                        u["devices"].as_array().unwrap().len(),
                    );
                }
            }
            Some("room:user_joined") => {
                let u = &v["user"];
                self.known.insert(
                    u["user_id"].as_str().unwrap().into(),
                    u["devices"].as_array().unwrap().len(),
                );
            }
            Some("room:user_left") => self.forget(v),
            Some("room:users_left") => {
                for left in v["left"].as_array().unwrap() {
                    self.forget(left);
                }
            }
            _ => {}
        }
    }

    /// One leave (a `room:user_left`, or an entry of `room:users_left`).
    fn forget(&mut self, left: &Value) {
        let user = left["user_id"].as_str().unwrap();
        if left["user_left"] == true {
            self.known.remove(user);
        } else if let Some(n) = self.known.get_mut(user) {
            *n = n.saturating_sub(1);
        }
    }

    fn users(&self) -> BTreeSet<&str> {
        self.known.keys().map(String::as_str).collect()
    }

    /// Reads (learning member lists) until `pred` holds for a message,
    /// within `wait`; returns that message.
    async fn until(&mut self, what: &str, wait: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(v) = self.ws.try_recv(left).await else {
                panic!("no {what} within {wait:?}; knows {:?}", self.known);
            };
            self.learn(&v);
            if pred(&v) {
                return v;
            }
        }
    }

    /// Waits until it knows `user` with `n` devices.
    async fn wait_devices(&mut self, user: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.known.get(user) != Some(&n) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(v) = self.ws.try_recv(left).await else {
                panic!("{user} never had {n} devices: {:?}", self.known);
            };
            self.learn(&v);
        }
    }

    /// Waits until the member list it knows is exactly `users`.
    async fn wait_users(&mut self, users: &[&str]) {
        let want: BTreeSet<&str> = users.iter().copied().collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.users() != want {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(v) = self.ws.try_recv(left).await else {
                panic!("members {:?}, expected {want:?}", self.known);
            };
            self.learn(&v);
        }
    }
}

fn listed(users: &Value) -> Vec<&str> {
    users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect()
}

const WAIT: Duration = Duration::from_secs(10);

#[actix_web::test]
async fn members_of_every_node_see_each_other_join_and_leave() {
    let p = prefix();
    let nodes = cluster(3, &p).await;
    let (mut alice, _) = Member::join(&nodes[0], "alice", "acme", "7").await;
    let (mut bob, _) = Member::join(&nodes[1], "bob", "acme", "7").await;
    alice.wait_users(&["alice", "bob"]).await;
    bob.wait_users(&["alice", "bob"]).await;

    // The first joiner on C learns both; then everyone knows carol.
    let (mut carol, _) = Member::join(&nodes[2], "carol", "acme", "7").await;
    carol.wait_users(&["alice", "bob", "carol"]).await;
    alice.wait_users(&["alice", "bob", "carol"]).await;
    bob.wait_users(&["alice", "bob", "carol"]).await;

    // A later joiner on C gets every node's members in its room:users.
    let (mut dave, users) = Member::join(&nodes[2], "dave", "acme", "7").await;
    assert_eq!(listed(&users), ["alice", "bob", "carol", "dave"], "{users}");
    for m in [&mut alice, &mut bob] {
        m.wait_users(&["alice", "bob", "carol", "dave"]).await;
    }

    // bob leaves on B: A and C hear it.
    let ack = bob.ws.request(msg("room:leave", "7", json!({})), "l").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    for m in [&mut alice, &mut carol, &mut dave] {
        let left = m
            .until("bob's room:user_left", WAIT, |v| {
                v["type"] == "room:user_left" && v["user_id"] == "bob"
            })
            .await;
        assert_eq!(left["user_left"], true, "{left}");
    }
    // carol's socket closes on C: A hears it.
    carol.ws.close().await;
    let left = alice
        .until("carol's room:user_left", WAIT, |v| {
            v["type"] == "room:user_left" && v["user_id"] == "carol"
        })
        .await;
    assert_eq!(left["user_left"], true, "{left}");
    assert_eq!(alice.users(), BTreeSet::from(["alice", "dave"]));
}

/// The race of a room opening on several nodes at once: each node's hello
/// and the answers to it may be published before the other's subscription
/// reached Redis; the repeated hellos still bring every member to every
/// node, with nobody doing anything after joining.
#[actix_web::test]
async fn rooms_opening_at_once_on_three_nodes_learn_each_others_members() {
    let p = prefix();
    let nodes = cluster(3, &p).await;
    let (a, b, c) = tokio::join!(
        Member::join(&nodes[0], "alice", "acme", "7"),
        Member::join(&nodes[1], "bob", "acme", "7"),
        Member::join(&nodes[2], "carol", "acme", "7"),
    );
    for (mut m, _) in [a, b, c] {
        m.wait_users(&["alice", "bob", "carol"]).await;
    }
}

#[actix_web::test]
async fn cursors_typing_and_editing_reach_every_node() {
    let p = prefix();
    let nodes = cluster(2, &p).await;
    let (mut alice, _) = Member::join(&nodes[0], "alice", "acme", "7").await;
    let (mut bob, _) = Member::join(&nodes[1], "bob", "acme", "7").await;
    alice.wait_users(&["alice", "bob"]).await;
    bob.wait_users(&["alice", "bob"]).await;

    let mv = msg(
        "cursor:move",
        "7",
        json!({"position": 5, "selection": {"start": 2, "end": 5}, "field": "body"}),
    );
    alice.ws.send(mv).await;
    let cursor = bob
        .until("alice's cursor", WAIT, |v| v["type"] == "cursor:update")
        .await;
    assert_eq!(cursor["cursor"]["user_id"], "alice", "{cursor}");
    assert_eq!(cursor["cursor"]["position"], 5, "{cursor}");
    assert_eq!(cursor["cursor"]["selection"], json!({"start": 2, "end": 5}));

    // typing:users merges the typers of both nodes.
    bob.ws.send(msg("typing:start", "7", json!({}))).await;
    let typing = alice
        .until("bob typing", WAIT, |v| v["type"] == "typing:users")
        .await;
    assert_eq!(typing["users"][0]["user_id"], "bob", "{typing}");
    alice
        .ws
        .send(msg("typing:start", "7", json!({"field": "body"})))
        .await;
    let both = bob
        .until("two typers", WAIT, |v| {
            v["type"] == "typing:users" && v["users"].as_array().unwrap().len() == 2
        })
        .await;
    let mut typers: Vec<&str> = both["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    typers.sort();
    assert_eq!(typers, ["alice", "bob"], "{both}");
    alice
        .ws
        .send(msg("editing:start", "7", json!({"field": "title"})))
        .await;
    let editors = bob
        .until("alice editing", WAIT, |v| v["type"] == "editing:users")
        .await;
    assert_eq!(
        editors["editors"],
        json!([{"user_id": "alice", "name": editors["editors"][0]["name"], "field": "title"}])
    );

    // A joiner on B gets alice's cursor, typing and editing from A.
    let (mut carol, users) = Member::join(&nodes[1], "carol", "acme", "7").await;
    let typing: BTreeSet<&str> = users["typing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(typing, BTreeSet::from(["alice", "bob"]), "{users}");
    assert_eq!(users["editors"][0]["user_id"], "alice", "{users}");
    let sync = carol.ws.recv_type("cursor:sync").await;
    let cursors = sync["cursors"].as_array().unwrap();
    assert_eq!(cursors.len(), 1, "{sync}");
    assert_eq!(
        (
            cursors[0]["user_id"].as_str(),
            cursors[0]["position"].as_u64()
        ),
        (Some("alice"), Some(5))
    );

    // alice stops typing, then leaves: B hears each step.
    alice.ws.send(msg("typing:stop", "7", json!({}))).await;
    let typing = bob
        .until("alice stopped typing", WAIT, |v| {
            v["type"] == "typing:users" && v["users"].as_array().unwrap().len() == 1
        })
        .await;
    assert_eq!(typing["users"][0]["user_id"], "bob", "{typing}");
    alice.ws.send(msg("room:leave", "7", json!({}))).await;
    let removed = bob
        .until("alice's cursor:remove", WAIT, |v| {
            v["type"] == "cursor:remove"
        })
        .await;
    assert_eq!(removed["user_id"], "alice", "{removed}");
    let editors = bob
        .until("editing:users", WAIT, |v| v["type"] == "editing:users")
        .await;
    assert_eq!(editors["editors"], json!([]), "{editors}");
    let left = bob
        .until("room:user_left", WAIT, |v| v["type"] == "room:user_left")
        .await;
    assert_eq!(
        (left["user_id"].as_str(), left["user_left"].as_bool()),
        (Some("alice"), Some(true))
    );
}

#[actix_web::test]
async fn the_same_user_on_two_nodes_is_one_member_until_its_last_connection_leaves() {
    let p = prefix();
    let nodes = cluster(2, &p).await;
    let (mut bob, _) = Member::join(&nodes[0], "bob", "acme", "7").await;
    let (mut alice_a, _) = Member::join(&nodes[0], "alice", "acme", "7").await;
    let (mut alice_b, _) = Member::join(&nodes[1], "alice", "acme", "7").await;
    // bob (on A) learns alice's second device, on B; alice on B learns bob
    // and her device on A.
    bob.wait_devices("alice", 2).await;
    alice_b.wait_devices("alice", 2).await;
    alice_b.wait_users(&["alice", "bob"]).await;

    // One member with two devices in a joiner's list.
    let (_dan, users) = Member::join(&nodes[1], "dan", "acme", "7").await;
    assert_eq!(listed(&users), ["alice", "bob", "dan"], "{users}");
    let devices = users["users"][0]["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2, "{users}");

    // Leaving on B: alice is still in the room (on A).
    alice_b
        .ws
        .request(msg("room:leave", "7", json!({})), "l")
        .await;
    let left = bob
        .until("alice's first leave", WAIT, |v| {
            v["type"] == "room:user_left"
        })
        .await;
    assert_eq!(
        (left["user_id"].as_str(), left["user_left"].as_bool()),
        (Some("alice"), Some(false)),
        "{left}"
    );
    // Leaving on A too: now she left.
    alice_a
        .ws
        .request(msg("room:leave", "7", json!({})), "l")
        .await;
    let left = bob
        .until("alice's last leave", WAIT, |v| {
            v["type"] == "room:user_left"
        })
        .await;
    assert_eq!(
        (left["user_id"].as_str(), left["user_left"].as_bool()),
        (Some("alice"), Some(true)),
        "{left}"
    );
    assert_eq!(bob.users(), BTreeSet::from(["bob", "dan"]));
}

#[actix_web::test]
async fn a_dead_nodes_members_leave_within_the_ttl_and_return_with_it() {
    const NODE_TTL_MS: u64 = 3000;
    let p = prefix();
    let (proxy, url) = redis_proxy();
    let urls = [None, Some(url)];
    let nodes = cluster_with(2, &p, &urls, |s| s.redis.node_ttl_ms = NODE_TTL_MS).await;
    let (mut alice, _) = Member::join(&nodes[0], "alice", "acme", "7").await;
    let (mut bob, _) = Member::join(&nodes[1], "bob", "acme", "7").await;
    bob.ws
        .send(msg("cursor:move", "7", json!({"position": 1})))
        .await;
    alice.wait_users(&["alice", "bob"]).await;
    bob.wait_users(&["alice", "bob"]).await;
    alice
        .until("bob's cursor", WAIT, |v| v["type"] == "cursor:update")
        .await;

    // B loses Redis: to A it is dead once its heartbeat expires; A drops
    // bob (cursor first) within the ttl plus A's 2 s check.
    proxy.set_up(false);
    let cut = Instant::now();
    let bound = Duration::from_millis(NODE_TTL_MS) + Duration::from_secs(2);
    let removed = alice
        .until("bob's cursor:remove", bound + Duration::from_secs(3), |v| {
            v["type"] == "cursor:remove"
        })
        .await;
    assert_eq!(removed["user_id"], "bob", "{removed}");
    let left = alice
        .until("bob's room:user_left", WAIT, |v| {
            v["type"] == "room:user_left"
        })
        .await;
    assert_eq!(
        (left["user_id"].as_str(), left["user_left"].as_bool()),
        (Some("bob"), Some(true))
    );
    let took = cut.elapsed();
    // The slack covers the test's own scheduling on a loaded machine.
    assert!(took < bound + Duration::from_secs(2), "took {took:?}");

    // B is not dead to itself: while Redis is unreachable it keeps what A
    // said, so a joiner on B still sees alice.
    let (_carl, users) = Member::join(&nodes[1], "carl", "acme", "7").await;
    assert_eq!(listed(&users), ["alice", "bob", "carl"], "{users}");

    // Redis is back: B says hello again and A sees B's members again.
    proxy.set_up(true);
    alice.wait_users(&["alice", "bob", "carl"]).await;
}

#[actix_web::test]
async fn rooms_of_another_tenant_or_entity_hear_nothing() {
    let p = prefix();
    let nodes = cluster(2, &p).await;
    let (mut eve, _) = Member::join(&nodes[1], "eve", "other", "7").await;
    let (mut carol, _) = Member::join(&nodes[1], "carol", "acme", "8").await;
    for m in [&mut eve, &mut carol] {
        let sync = m.ws.recv_type("cursor:sync").await;
        assert_eq!(sync["cursors"], json!([]), "{sync}");
    }
    let (mut alice, _) = Member::join(&nodes[0], "alice", "acme", "7").await;
    let (mut bob, _) = Member::join(&nodes[1], "bob", "acme", "7").await;
    alice.wait_users(&["alice", "bob"]).await;
    bob.wait_users(&["alice", "bob"]).await;
    alice
        .ws
        .send(msg("cursor:move", "7", json!({"position": 3})))
        .await;
    alice.ws.send(msg("typing:start", "7", json!({}))).await;
    bob.until("alice typing", WAIT, |v| v["type"] == "typing:users")
        .await;
    // Nothing must arrive: a fixed wait is the only way to show that.
    for (m, me) in [(&mut eve, "eve"), (&mut carol, "carol")] {
        let until = Instant::now() + Duration::from_millis(500);
        while let Some(v) =
            m.ws.try_recv(until.saturating_duration_since(Instant::now()))
                .await
        {
            // Presence is tenant-wide; anything about a room is not.
            assert!(v.get("entity_type").is_none(), "{me} heard {v}");
        }
        assert_eq!(m.users(), BTreeSet::from([me]));
    }
}

/// Another node played by the test on Redis itself, to make the races
/// deterministic: it sees exactly what the rooms publish on the room's
/// channel and publishes what it wants, when it wants.
struct FakeNode {
    id: String,
    channel: String,
    conn: redis::aio::MultiplexedConnection,
    messages: std::pin::Pin<Box<dyn futures_util::Stream<Item = redis::Msg>>>,
}

impl FakeNode {
    /// Listens to invoice `id` of acme under `prefix`, with a live heartbeat.
    async fn start(prefix: &str, id: &str) -> FakeNode {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let node = format!("fake{}", uuid::Uuid::new_v4().simple());
        let _: () = redis::cmd("SET")
            .arg(tandem::cluster::slots::node_key(prefix, &node))
            .arg(1)
            .arg("PX")
            .arg(60_000)
            .query_async(&mut conn)
            .await
            .unwrap();
        let room = tandem::ids::RoomId::new(tandem::ids::TenantId::new("acme"), "invoice", id);
        let channel = tandem::cluster::channel(prefix, &tandem::broker::Topic::Room(room));
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub.subscribe(&channel).await.unwrap();
        FakeNode {
            id: node,
            channel,
            conn,
            messages: Box::pin(pubsub.into_on_message()),
        }
    }

    /// The next `room.*` message a node published, within `wait`.
    async fn next(&mut self, wait: Duration) -> Value {
        use futures_util::StreamExt;
        let msg = tokio::time::timeout(wait, self.messages.next())
            .await
            .expect("a room message")
            .unwrap();
        let env = tandem::cluster::envelope::decode(msg.get_payload_bytes()).unwrap();
        serde_json::from_str(env.frame.text()).unwrap()
    }

    /// Skips messages until one of type `t` (within 5 s).
    async fn next_of(&mut self, t: &str) -> Value {
        self.next_where(t, |v| v["t"] == t).await
    }

    /// Skips messages until one matching `pred` (within 5 s).
    async fn next_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {what} within 5 s");
            let v = self.next(left).await;
            if pred(&v) {
                return v;
            }
        }
    }

    async fn publish(&mut self, mut body: Value) {
        body["node"] = json!(self.id);
        body["inst"] = json!(1);
        let frame = tandem::protocol::Frame::cluster(body.to_string());
        let payload = tandem::cluster::envelope::encode(&self.id, &frame);
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .query_async(&mut self.conn)
            .await
            .unwrap();
    }

    async fn die(&mut self, prefix: &str) {
        let _: i64 = redis::cmd("DEL")
            .arg(tandem::cluster::slots::node_key(prefix, &self.id))
            .query_async(&mut self.conn)
            .await
            .unwrap();
    }
}

fn fake_member(conn: u64, user: &str) -> Value {
    json!({"conn": conn, "user": user, "name": user.to_uppercase(), "device_type": "desktop"})
}

/// The answer to a room's first hello is lost (as when it is published
/// before the room's subscription reached Redis): the room says hello again
/// and learns the other node's members from the answer to a later one. A
/// gap in a node's messages makes the room ask that node alone; a node
/// whose heartbeat lapses loses its members; a room that closes says so.
#[actix_web::test]
async fn a_lost_answer_a_gap_and_a_lapsed_heartbeat_are_recovered_from() {
    let p = prefix();
    let nodes = cluster(1, &p).await;
    let mut fake = FakeNode::start(&p, "7").await;
    let (mut alice, _) = Member::join(&nodes[0], "alice", "acme", "7").await;

    // Node A's room says hello when it opens: not answered.
    let first = fake.next_of("room.hello").await;
    assert_eq!(first["to"], Value::Null, "{first}");
    let joined = fake.next_of("room.joined").await;
    assert_eq!(joined["member"]["user"], "alice", "{joined}");
    assert_eq!(joined["seq"], first["seq"].as_u64().unwrap() + 1);
    // It says hello again, with alice: answered this time.
    let again = fake.next_of("room.hello").await;
    assert_eq!(again["members"][0]["user"], "alice", "{again}");
    fake.publish(json!({"t": "room.state", "seq": 1, "members": [fake_member(1, "fred")]}))
        .await;
    alice.wait_users(&["alice", "fred"]).await;

    // A message from the fake node is missed (seq 2 never sent): A applies
    // seq 3 and asks the fake node alone for its state.
    fake.publish(json!({"t": "room.cursor", "seq": 3, "conn": 1, "cursor": {"position": 4}}))
        .await;
    let cursor = alice
        .until("fred's cursor", WAIT, |v| v["type"] == "cursor:update")
        .await;
    assert_eq!(
        (
            cursor["cursor"]["user_id"].as_str(),
            cursor["cursor"]["position"].as_u64()
        ),
        (Some("fred"), Some(4))
    );
    let me = fake.id.clone();
    let ask = fake
        .next_where("a hello to the fake node", |v| {
            v["t"] == "room.hello" && v["to"] == me.as_str()
        })
        .await;
    assert_eq!(ask["members"][0]["user"], "alice", "{ask}");
    let both = json!([fake_member(1, "fred"), fake_member(2, "freya")]);
    fake.publish(json!({"t": "room.state", "seq": 4, "members": both}))
        .await;
    alice.wait_users(&["alice", "fred", "freya"]).await;

    // The fake node's heartbeat lapses: its members leave within A's check.
    fake.die(&p).await;
    let gone = Instant::now();
    alice.wait_users(&["alice"]).await;
    assert!(
        gone.elapsed() < Duration::from_secs(4),
        "{:?}",
        gone.elapsed()
    );

    // alice leaves: the other nodes hear it, then that A's room closed
    // (after rooms.idle_stop_secs).
    let conn = joined["member"]["conn"].clone();
    alice
        .ws
        .request(msg("room:leave", "7", json!({})), "l")
        .await;
    let left = fake.next_of("room.left").await;
    assert_eq!(left["conn"], conn, "{left}");
    let closed = fake.next_of("room.closed").await;
    assert_eq!(closed["inst"], first["inst"], "{closed}");
}
