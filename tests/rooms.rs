//! Rooms: join and leave, cursors (sync, throttle, remove), typing with
//! expiry, editing status, ephemeral broadcasts, and idle clean-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn room(kind: &str) -> Value {
    json!({"type": kind, "entity_type": "doc", "entity_id": "42"})
}

/// Connects each user (tenant `acme`) and joins the test room; returns
/// the clients, each past its `room:users`.
async fn joined(app: &TestApp, users: &[&str]) -> Vec<WsClient> {
    let mut clients = Vec::new();
    for u in users {
        let mut c = app.connect_ready(u, "acme").await;
        let users = c.request(room("room:join"), "j").await;
        assert_eq!(users["type"], "room:users", "{users}");
        clients.push(c);
    }
    clients
}

fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

#[actix_web::test]
async fn join_and_leave_are_announced_with_members_and_devices() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    let users = alice.request(room("room:join"), "j1").await;
    assert_eq!(users["type"], "room:users");
    assert_eq!(users["users"][0]["user_id"], "alice");
    assert_eq!(alice.recv_type("cursor:sync").await["cursors"], json!([]));

    let users = bob.request(room("room:join"), "j2").await;
    // A small room lists everyone: the total, and no next page.
    assert_eq!(users["total_users"], 2, "{users}");
    assert!(users.get("next_after").is_none(), "{users}");
    let ids: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["alice", "bob"]);
    let joined = alice.recv_type("room:user_joined").await;
    assert_eq!(joined["user"]["user_id"], "bob");
    assert_eq!(joined["user"]["devices"].as_array().unwrap().len(), 1);
    assert_eq!(joined["entity_id"], "42");

    let ack = bob.request(room("room:leave"), "l").await;
    assert_eq!(ack["type"], "ack");
    let left = alice.recv_type("room:user_left").await;
    assert_eq!(
        (left["user_id"].as_str(), left["user_left"].as_bool()),
        (Some("bob"), Some(true))
    );
    let e = bob.request(room("room:leave"), "l2").await;
    assert_eq!(e["code"], "not_in_room");
}

#[actix_web::test]
async fn a_closed_socket_leaves_its_rooms() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    alice.request(room("room:join"), "j").await;
    bob.request(room("room:join"), "j").await;
    bob.request(with(room("cursor:move"), json!({"position": 3})), "c")
        .await;
    alice.recv_type("cursor:update").await;
    bob.close().await;
    let removed = alice.recv_type("cursor:remove").await;
    assert_eq!(removed["user_id"], "bob");
    let left = alice.recv_type("room:user_left").await;
    assert_eq!(left["user_id"], "bob");
}

/// A socket that closes right after asking to join never stays a member:
/// the room drops it when the join finds it gone, when it says it left, or
/// when its reply is dropped unhandled (a close between the room's reply
/// and the socket's handling of it; the unit test
/// `a_reply_never_handled_leaves_the_room_and_a_handled_one_does_not`
/// forces that window, this test checks that no path leaves a ghost
/// member).
#[actix_web::test]
async fn sockets_closed_right_after_joining_never_stay_members() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await;
    alice.request(room("room:join"), "j").await;
    for i in 0..20 {
        let mut c = app.connect_ready(&format!("u{i}"), "acme").await;
        c.send(with(room("room:join"), json!({"ref": "j"}))).await;
        if i % 2 == 1 {
            // Half close only once the room's reply has arrived.
            c.recv_where("the join's reply", |m| {
                m["type"] == "room:users" && m["ref"] == "j"
            })
            .await;
        }
        c.close().await;
    }
    // Every socket is gone on the server first (an event the registry
    // counts); then the room's count is polled until a deadline, because
    // no frame tells alice about members that were never announced.
    app.wait_stats(|s| s.connections == 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut attempt = 0;
    let total = loop {
        attempt += 1;
        let page = alice
            .request(room("room:members"), &format!("m{attempt}"))
            .await;
        assert_eq!(page["type"], "room:members", "{page}");
        let total = page["total_users"].as_u64();
        if total == Some(1) || tokio::time::Instant::now() >= deadline {
            break total;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(total, Some(1), "members outlived their sockets");
}

#[actix_web::test]
async fn requests_for_a_room_not_joined_are_refused() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await;
    for msg in [
        with(room("cursor:move"), json!({"position": 1})),
        room("typing:start"),
        with(room("editing:start"), json!({"field": "title"})),
        with(room("room:broadcast"), json!({"event": "x"})),
    ] {
        let e = alice.request(msg, "r").await;
        assert_eq!(e["code"], "not_in_room");
    }
}

#[actix_web::test]
async fn joiner_gets_every_current_cursor_and_moves_are_relayed() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    alice.request(room("room:join"), "j").await;
    let sel = json!({"start": {"line": 1, "column": 2}, "end": {"line": 1, "column": 9}});
    alice
        .request(
            with(
                room("cursor:move"),
                json!({"position": {"line": 1, "column": 9}, "selection": sel, "field": "body"}),
            ),
            "c",
        )
        .await;
    // Cursor state is applied by the room asynchronously to the ack.
    let (users, sync) = bob
        .join_until_cursors(room("room:join"), |s| s["cursors"][0].is_object())
        .await;
    let alice_color = users["users"][0]["color"].clone();
    let cursor = &sync["cursors"][0];
    assert_eq!(cursor["user_id"], "alice");
    assert_eq!(cursor["position"], json!({"line": 1, "column": 9}));
    assert_eq!(cursor["selection"], sel);
    assert_eq!(cursor["field"], "body");
    assert_eq!(
        cursor["color"], alice_color,
        "a user's colour is the same everywhere"
    );

    alice
        .request(
            with(
                room("cursor:move"),
                json!({"position": {"line": 2, "column": 0}}),
            ),
            "c2",
        )
        .await;
    let update = bob.recv_type("cursor:update").await;
    assert_eq!(
        update["cursor"]["position"],
        json!({"line": 2, "column": 0})
    );
    // The mover does not get its own cursor back.
    let own = alice
        .collect_type("cursor:update", Duration::from_millis(300))
        .await;
    assert!(own.is_empty(), "{own:?}");
}

#[actix_web::test]
async fn cursor_moves_are_throttled_and_the_latest_position_wins() {
    let app = spawn_app_with(|s| s.rooms.cursor_rate_per_second = 5).await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    alice.request(room("room:join"), "j").await;
    bob.request(room("room:join"), "j").await;
    let started = std::time::Instant::now();
    for i in 0..50 {
        alice
            .send(with(room("cursor:move"), json!({"position": i})))
            .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent_for = started.elapsed();
    let updates = bob
        .collect_type("cursor:update", Duration::from_millis(800))
        .await;
    let positions: Vec<i64> = updates
        .iter()
        .map(|u| u["cursor"]["position"].as_i64().unwrap())
        .collect();
    // 5 per second over the sending time, plus the first and the final flush.
    let allowed = (sent_for.as_secs_f64() * 5.0).ceil() as usize + 2;
    assert!(
        positions.len() <= allowed,
        "{} updates for {sent_for:?}: {positions:?}",
        positions.len()
    );
    assert!(positions.len() >= 3, "{positions:?}");
    assert_eq!(
        *positions.last().unwrap(),
        49,
        "the final position is always delivered"
    );
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in order: {positions:?}"
    );
}

#[actix_web::test]
async fn typing_expires_without_renewal_and_stops_explicitly() {
    let app = spawn_app_with(|s| s.rooms.typing_timeout_secs = 1).await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    alice.request(room("room:join"), "j").await;
    bob.request(room("room:join"), "j").await;

    alice
        .request(with(room("typing:start"), json!({"field": "comment"})), "t")
        .await;
    let typing = bob.recv_type("typing:users").await;
    assert_eq!(
        typing["users"],
        json!([{"user_id": "alice", "name": "alice name", "field": "comment"}])
    );
    let started = std::time::Instant::now();
    let expired = bob.recv_type("typing:users").await;
    assert_eq!(expired["users"], json!([]));
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "expired too early: {:?}",
        started.elapsed()
    );

    alice.request(room("typing:start"), "t2").await;
    assert_eq!(
        bob.recv_type("typing:users").await["users"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    alice.request(room("typing:stop"), "t3").await;
    assert_eq!(bob.recv_type("typing:users").await["users"], json!([]));
}

#[actix_web::test]
async fn renewed_typing_does_not_expire() {
    let app = spawn_app_with(|s| s.rooms.typing_timeout_secs = 1).await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    alice.request(room("room:join"), "j").await;
    bob.request(room("room:join"), "j").await;
    alice.request(room("typing:start"), "t").await;
    bob.recv_type("typing:users").await;
    // This test shows that nothing happens: five renewals 400 ms apart keep
    // typing on for 2 s, twice the 1 s timeout, and then 300 ms more pass
    // without a `typing:users` change. The waits are the point of the test.
    for i in 0..5 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        alice.request(room("typing:start"), &format!("r{i}")).await;
    }
    let changes = bob
        .collect_type("typing:users", Duration::from_millis(300))
        .await;
    assert!(
        changes.is_empty(),
        "renewal keeps typing on without churn: {changes:?}"
    );
}

#[actix_web::test]
async fn editing_status_names_the_field() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    alice.request(room("room:join"), "j").await;
    bob.request(room("room:join"), "j").await;
    alice
        .request(with(room("editing:start"), json!({"field": "amount"})), "e")
        .await;
    let editing = bob.recv_type("editing:users").await;
    assert_eq!(
        editing["editors"],
        json!([{"user_id": "alice", "name": "alice name", "field": "amount"}])
    );
    // A late joiner sees the editors in room:users.
    let mut carol = app.connect_ready("carol", "acme").await;
    let users = carol.request(room("room:join"), "j").await;
    assert_eq!(users["editors"][0]["field"], "amount");
    alice
        .request(with(room("editing:stop"), json!({"field": "amount"})), "e2")
        .await;
    assert_eq!(bob.recv_type("editing:users").await["editors"], json!([]));
}

#[actix_web::test]
async fn broadcast_reaches_only_the_other_members() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    let mut outsider = app.connect_ready("carol", "acme").await;
    alice.request(room("room:join"), "j").await;
    bob.request(room("room:join"), "j").await;
    outsider
        .request(
            json!({"type": "room:join", "entity_type": "doc", "entity_id": "43"}),
            "j",
        )
        .await;
    let ack = alice
        .request(
            with(
                room("room:broadcast"),
                json!({"event": "confetti", "payload": {"n": 1}}),
            ),
            "b",
        )
        .await;
    assert_eq!(ack["type"], "ack");
    let got = bob.recv_type("room:broadcast").await;
    assert_eq!(
        (got["event"].as_str(), got["from_user_id"].as_str()),
        (Some("confetti"), Some("alice"))
    );
    assert_eq!(got["payload"], json!({"n": 1}));
    assert!(alice
        .collect_type("room:broadcast", Duration::from_millis(300))
        .await
        .is_empty());
    assert!(outsider
        .collect_type("room:broadcast", Duration::from_millis(300))
        .await
        .is_empty());
}

#[actix_web::test]
async fn empty_rooms_are_cleaned_up() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await;
    alice.request(room("room:join"), "j").await;
    alice
        .request(
            json!({"type": "room:join", "entity_type": "doc", "entity_id": "other"}),
            "j2",
        )
        .await;
    assert_eq!(app.stats().await.rooms, 2);
    alice.request(room("room:leave"), "l").await;
    app.wait_stats(|s| s.rooms == 1).await;
    // Rejoining after clean-up creates a fresh room that works.
    let users = alice.request(room("room:join"), "j3").await;
    assert_eq!(users["users"][0]["user_id"], "alice");
    alice.close().await;
    app.wait_stats(|s| s.rooms == 0 && s.connections == 0).await;
}

#[actix_web::test]
async fn rooms_per_connection_are_capped() {
    let app = spawn_app_with(|s| s.rooms.max_rooms_per_connection = 2).await;
    let mut alice = app.connect_ready("alice", "acme").await;
    for i in 0..2 {
        let r = alice
            .request(
                json!({"type": "room:join", "entity_type": "doc", "entity_id": i.to_string()}),
                "j",
            )
            .await;
        assert_eq!(r["type"], "room:users");
    }
    let e = alice
        .request(
            json!({"type": "room:join", "entity_type": "doc", "entity_id": "3"}),
            "j",
        )
        .await;
    assert_eq!(e["code"], "too_many_rooms");
}

#[actix_web::test]
async fn joins_inside_one_window_are_announced_together_and_never_overtaken() {
    // A long window makes "inside one window" certain on a slow machine.
    let app = spawn_app_with(|s| s.rooms.join_batch_ms = 1500).await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    watcher.request(room("room:join"), "j").await;
    let users = ["u1", "u2", "u3", "u4"];
    let _open = joined(&app, &users).await;
    let mut announcements = Vec::new();
    while let Some(v) = watcher.try_recv(Duration::from_secs(3)).await {
        if v["type"] == "room:user_joined" || v["type"] == "room:users_joined" {
            announcements.push(v);
        }
    }
    assert_eq!(
        announcements.len(),
        1,
        "one frame for the window: {announcements:?}"
    );
    let ids: Vec<&str> = announcements[0]["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, users);
    // A join is announced before anything else the joiner does in the room.
    let mut late = app.connect_ready("late", "acme").await;
    late.request(room("room:join"), "j").await;
    late.request(with(room("cursor:move"), json!({"position": 1})), "c")
        .await;
    let first = watcher
        .recv_where("late", |v| v.to_string().contains("\"late\""))
        .await;
    assert_eq!(first["type"], "room:user_joined", "{first}");
    let next = watcher.recv_type("cursor:update").await;
    assert_eq!(next["cursor"]["user_id"], "late");
}

/// A room above `rooms.users_list_max` lists its first users in
/// `room:users` with the total and `next_after`; `room:members` pages
/// through the rest; bad pages are refused. Its joins and leaves are
/// counted (`room:count`), not listed, until it is down to half the limit:
/// then every member gets the whole list again, and joins are listed.
#[actix_web::test]
async fn a_large_room_lists_its_first_users_counts_changes_and_lists_again_when_small() {
    let app = spawn_app_with(|s| {
        s.rooms.users_list_max = 4;
        s.rooms.count_interval_ms = 50;
    })
    .await;
    // Up to 4 members everyone is listed; the fifth gets a cut list.
    let mut clients = joined(&app, &["u1", "u2", "u3", "u4"]).await;
    let mut u5 = app.connect_ready("u5", "acme").await;
    let users = u5.request(room("room:join"), "j5").await;
    let ids: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    // The first four, and the joiner itself.
    assert_eq!(ids, vec!["u1", "u2", "u3", "u4", "u5"], "{users}");
    assert_eq!(users["total_users"], 5);
    assert_eq!(users["next_after"], "u4");
    // The others hear of the join as a count: no room frame names u5.
    let counted = clients[0]
        .recv_where("the count after u5's join", |v| {
            v["type"] == "room:count"
                || (v["type"].as_str().is_some_and(|t| t.starts_with("room:"))
                    && v.to_string().contains(r#""user_id":"u5""#))
        })
        .await;
    assert_eq!(
        (counted["type"].as_str(), counted["total_users"].as_u64()),
        (Some("room:count"), Some(5)),
        "{counted}"
    );
    let own = u5.recv_type("room:count").await;
    assert_eq!(own["total_users"], 5, "{own}");
    // The rest, page by page.
    let page = u5
        .request(
            with(room("room:members"), json!({"after": "u4", "limit": 1})),
            "m1",
        )
        .await;
    assert_eq!(page["type"], "room:members");
    assert_eq!(page["users"][0]["user_id"], "u5");
    assert_eq!(page["users"].as_array().unwrap().len(), 1);
    assert_eq!(page["total_users"], 5);
    assert!(page.get("next_after").is_none(), "last page: {page}");
    let first = u5
        .request(with(room("room:members"), json!({"limit": 2})), "m2")
        .await;
    assert_eq!(first["users"][1]["user_id"], "u2");
    assert_eq!(first["next_after"], "u2");
    // A second device of a listed user is not another user: the count does
    // not change, so nothing is sent for its join or its leave.
    let mut u1b = app.connect_ready("u1", "acme").await;
    let users = u1b.request(room("room:join"), "j6").await;
    assert_eq!(users["total_users"], 5);
    u1b.close().await;
    let ack = clients[2].request(room("room:leave"), "l").await;
    assert_eq!(ack["type"], "ack");
    let after_leave = u5.recv_type("room:count").await;
    assert_eq!(after_leave["total_users"], 4, "{after_leave}");
    // Still above half the limit: counted.
    clients[1].request(room("room:leave"), "l").await;
    let after_leave = u5.recv_type("room:count").await;
    assert_eq!(after_leave["total_users"], 3, "{after_leave}");
    // Down to half: every member gets the whole list (no ref), to replace theirs.
    clients[3].request(room("room:leave"), "l").await;
    for c in [&mut clients[0], &mut u5] {
        // (Counts of 3 or more may still be waiting to be read.)
        let listed = c
            .recv_where("the list again", |v| {
                v["type"] == "room:users" || (v["type"] == "room:count" && v["total_users"] == 2)
            })
            .await;
        assert_eq!(listed["type"], "room:users", "{listed}");
        assert!(listed.get("ref").is_none(), "{listed}");
        let ids: Vec<&str> = listed["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["u1", "u5"], "{listed}");
        assert_eq!(listed["total_users"], 2);
        assert!(listed.get("next_after").is_none(), "{listed}");
    }
    // Listed again: a join names the joiner.
    let mut u6 = app.connect_ready("u6", "acme").await;
    u6.request(room("room:join"), "j7").await;
    let joined = u5.recv_type("room:user_joined").await;
    assert_eq!(
        (
            joined["user"]["user_id"].as_str(),
            joined["total_users"].as_u64()
        ),
        (Some("u6"), Some(3))
    );
    // Refused: a bad limit, an empty after, and a room the connection is not in.
    for (bad, code) in [
        (json!({"limit": 0}), "invalid_field"),
        (json!({"limit": 501}), "invalid_field"),
        (json!({"after": ""}), "invalid_field"),
    ] {
        let e = u5.request(with(room("room:members"), bad), "bad").await;
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some(code)),
            "{e}"
        );
    }
    let e = clients[2].request(room("room:members"), "out").await;
    assert_eq!(e["code"], "not_in_room");
}

/// A connect storm into a counted room: an observer gets counts only (no
/// member views), far fewer frames than joins, and the last count is exact.
#[actix_web::test]
async fn a_connect_storm_into_a_large_room_reaches_members_as_counts() {
    let app = spawn_app_with(|s| {
        s.rooms.users_list_max = 2;
        s.rooms.count_interval_ms = 500;
    })
    .await;
    let mut watcher = joined(&app, &["w"]).await.remove(0);
    let names: Vec<String> = (0..30).map(|i| format!("s{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let _storm = joined(&app, &names).await;
    let mut frames = Vec::new();
    while let Some(v) = watcher.try_recv(Duration::from_secs(3)).await {
        let done = v["type"] == "room:count" && v["total_users"] == 31;
        frames.push(v);
        if done {
            break;
        }
    }
    let last = frames.last().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["total_users"].as_u64()),
        (Some("room:count"), Some(31)),
        "{frames:?}"
    );
    // The first joiner (the room still listed) may be named; after that,
    // nobody: only counts, one per interval at most.
    let room_frames: Vec<_> = frames
        .iter()
        .filter(|v| v["type"].as_str().is_some_and(|t| t.starts_with("room:")))
        .collect();
    let named: Vec<_> = room_frames
        .iter()
        .filter(|v| v["type"] != "room:count")
        .collect();
    assert!(
        named.len() <= 1
            && named
                .iter()
                .all(|v| v["type"] == "room:user_joined" && v["user"]["user_id"] == "s00"),
        "{named:?}"
    );
    let counts = room_frames.len() - named.len();
    assert!(counts < 30, "{counts} counts for 30 joins");
}

/// Leaves in one window reach the others as one `room:users_left`, in
/// order, with the total after them; a leave followed by a join of the same
/// user is announced leave first.
#[actix_web::test]
async fn leaves_in_one_window_are_one_frame_and_keep_their_order_with_joins() {
    // A wide window, so the three closes land in one even on a slow machine.
    let app = spawn_app_with(|s| s.rooms.join_batch_ms = 1000).await;
    let mut watcher = app.connect_ready("w", "acme").await;
    watcher.request(room("room:join"), "j").await;
    let others = joined(&app, &["a", "b", "c"]).await;
    watcher
        .recv_where("all three joins", |v| {
            v["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("room:user"))
                && v["total_users"] == 4
        })
        .await;
    for c in others {
        c.close().await;
    }
    let left = watcher.recv_type("room:users_left").await;
    let users: Vec<&str> = left["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users.len(), 3, "{left}");
    assert!(["a", "b", "c"].iter().all(|u| users.contains(u)), "{left}");
    assert!(left["left"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["user_left"] == true));
    assert_eq!(left["total_users"], 1);
    // A leave and a rejoin inside one window: the leave is announced first.
    let mut a = app.connect_ready("a", "acme").await;
    a.request(room("room:join"), "j").await;
    watcher.recv_type("room:user_joined").await;
    a.request(room("room:leave"), "l").await;
    a.request(room("room:join"), "j2").await;
    let first = watcher
        .recv_where("a's leave or join", |v| {
            v["type"] == "room:user_left" || v["type"] == "room:user_joined"
        })
        .await;
    assert_eq!(first["type"], "room:user_left", "{first}");
    assert_eq!(
        (first["user_left"].as_bool(), first["total_users"].as_u64()),
        (Some(true), Some(1))
    );
    let then = watcher.recv_type("room:user_joined").await;
    assert_eq!(
        (
            then["user"]["user_id"].as_str(),
            then["total_users"].as_u64()
        ),
        (Some("a"), Some(2))
    );
}
