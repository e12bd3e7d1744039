//! Supervision: a room actor that stops unexpectedly (killed here with the
//! test-only `StopRoomForTest`) is replaced by the registry. Its members get
//! `not_in_room` until they rejoin; after the rejoin, broadcasts flow again
//! and the document, reloaded from PostgreSQL, takes further edits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use tandem::actors::registry::{FindRoom, StopPresenceForTest};
use tandem::actors::room::StopRoomForTest;
use tandem::collab::ot::TextOperation;
use tandem::ids::{RoomId, TenantId, UserId};

fn room(kind: &str, extra: Value) -> Value {
    let mut v = json!({"type": kind, "entity_type": "invoice", "entity_id": "7"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn insert_at(len: usize, pos: usize, s: &str) -> TextOperation {
    let mut op = TextOperation::new();
    op.retain(pos).insert(s).retain(len - pos);
    op
}

async fn edit(c: &mut WsClient, revision: u64, op: TextOperation, seq: u64) -> Value {
    c.request(
        room(
            "doc:edit",
            json!({"field": "body", "revision": revision, "op": op,
                   "client_id": "client-ann", "seq": seq}),
        ),
        &format!("e{seq}"),
    )
    .await
}

#[actix_web::test]
async fn a_killed_room_is_replaced_and_members_rejoin() {
    let app = spawn_app().await;
    let mut ann = app.connect_ready("ann", "acme").await;
    let mut ben = app.connect_ready("ben", "acme").await;
    for c in [&mut ann, &mut ben] {
        let users = c.request(room("room:join", json!({})), "j1").await;
        assert_eq!(users["type"], "room:users", "{users}");
    }
    let ack = edit(&mut ann, 0, insert_at(0, 0, "hello"), 1).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["data"]["revision"], 1);

    // Kill the room behind the registry's back.
    let id = RoomId::new(TenantId::new("acme"), "invoice", "7");
    let addr = app
        .services
        .registry
        .send(FindRoom(id.clone()))
        .await
        .unwrap()
        .expect("the room is live");
    addr.send(StopRoomForTest).await.unwrap();
    let mut gone = false;
    for _ in 0..200 {
        if app
            .services
            .registry
            .send(FindRoom(id.clone()))
            .await
            .unwrap()
            .is_none()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the registry still hands out the dead room");
    assert!(!addr.connected());

    // Its members are told to rejoin instead of losing messages silently.
    let refused = ann
        .request(room("room:broadcast", json!({"event": "x"})), "b0")
        .await;
    assert_eq!(refused["code"], "not_in_room", "{refused}");

    // Rejoining goes through the registry, which starts a fresh room.
    for c in [&mut ann, &mut ben] {
        let users = c.request(room("room:join", json!({})), "j2").await;
        assert_eq!(users["type"], "room:users", "{users}");
    }
    let fresh = app
        .services
        .registry
        .send(FindRoom(id.clone()))
        .await
        .unwrap()
        .expect("a fresh room");
    assert!(fresh.connected());
    assert_eq!(app.stats().await.rooms, 1);

    let ack = ann
        .request(
            room(
                "room:broadcast",
                json!({"event": "confetti", "payload": {"n": 2}}),
            ),
            "b1",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let got = ben.recv_type("room:broadcast").await;
    assert_eq!(got["event"], "confetti");
    assert_eq!(got["payload"], json!({"n": 2}));

    // The document was reloaded from PostgreSQL and takes the next edit.
    let state = ann.request(room("doc:sync", json!({})), "s1").await;
    assert_eq!(state["fields"]["body"]["text"], "hello", "{state}");
    assert_eq!(state["fields"]["body"]["revision"], 1, "{state}");
    let ack = edit(&mut ann, 1, insert_at(5, 5, " world"), 2).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["data"]["revision"], 2);
    let op = ben
        .recv_where("doc:op", |m| m["type"] == "doc:op" && m["revision"] == 2)
        .await;
    assert_eq!(op["field"], "body");
    let state = ben.request(room("doc:sync", json!({})), "s2").await;
    assert_eq!(state["fields"]["body"]["text"], "hello world", "{state}");
}

/// While a document's writes are blocked (the events table is locked from a
/// second connection), edits queue up to `documents.max_pending_writes`;
/// past it they are refused with `unavailable` and `retry_after_ms`, none
/// is acknowledged before it is stored, and after the lock is released the
/// queued edits are acknowledged and a retried edit applies.
#[actix_web::test]
async fn a_full_write_queue_refuses_edits_until_storage_catches_up() {
    use diesel_async::SimpleAsyncConnection;
    let app = spawn_app_with(|s| s.documents.max_pending_writes = 2).await;
    let mut ann = app.connect_ready("ann", "acme").await;
    ann.request(room("room:join", json!({})), "j").await;
    let ack = edit(&mut ann, 0, insert_at(0, 0, "a"), 1).await;
    assert_eq!(ack["data"]["revision"], 1, "{ack}");

    let mut blocker = app.db.conn().await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE collaboration_events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    // Edit seq j is based on revision j - 1 and appends "b".
    let mut refused = None;
    for seq in 2..20u64 {
        let revision = seq - 1;
        let len = usize::try_from(revision).unwrap();
        ann.send(room(
            "doc:edit",
            json!({"field": "body", "revision": revision, "op": insert_at(len, len, "b"),
                   "client_id": "client-ann", "seq": seq, "ref": format!("e{seq}")}),
        ))
        .await;
        let mut reply = None;
        while let Some(m) = ann.try_recv(Duration::from_millis(300)).await {
            assert_ne!(
                m["type"], "ack",
                "nothing is acked while storage is blocked: {m}"
            );
            if m["type"] == "error" {
                reply = Some(m);
                break;
            }
        }
        if let Some(reply) = reply {
            assert_eq!(reply["code"], "unavailable", "{reply}");
            assert_eq!(reply["ref"], format!("e{seq}"));
            assert!(reply["retry_after_ms"].as_u64().unwrap() >= 1, "{reply}");
            refused = Some(seq);
            break;
        }
    }
    let refused = refused.expect("an edit past the bound is refused");
    assert!(refused >= 4, "two writes may queue behind the running one");

    blocker.batch_execute("COMMIT").await.unwrap();
    for seq in 2..refused {
        let ack = ann
            .recv_where("queued ack", |m| m["ref"] == format!("e{seq}"))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        assert_eq!(ack["data"]["revision"], seq);
    }
    // The refused edit was not applied: retried as is, it lands.
    let len = usize::try_from(refused - 1).unwrap();
    let ack = edit(&mut ann, refused - 1, insert_at(len, len, "b"), refused).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["data"]["revision"], refused);
    let state = ann.request(room("doc:sync", json!({})), "s").await;
    let expected = format!("a{}", "b".repeat(usize::try_from(refused - 1).unwrap()));
    assert_eq!(
        state["fields"]["body"]["text"],
        expected.as_str(),
        "{state}"
    );
}

/// A presence actor that stops unexpectedly is replaced with the user's
/// sockets attached again: status changes sent afterwards reach the others
/// (before supervision they vanished into the dead actor).
#[actix_web::test]
async fn a_killed_presence_actor_is_replaced() {
    let app = spawn_app().await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let mut ann = app.connect_ready("ann", "acme").await;
    let stopped = app
        .services
        .registry
        .send(StopPresenceForTest {
            tenant: TenantId::new("acme"),
            user: UserId::new("ann"),
        })
        .await
        .unwrap();
    assert!(stopped, "ann had a presence actor");

    // A change sent while the registry has not noticed yet may be lost with
    // the dead actor; one sent after the replacement must arrive.
    let mut seen = false;
    for attempt in 0..40 {
        let ack = ann
            .request(
                json!({"type": "presence:status", "status": "busy"}),
                &format!("s{attempt}"),
            )
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        while let Some(v) = watcher.try_recv(Duration::from_millis(250)).await {
            let busy = |key: &str| {
                v[key].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|e| e["user_id"] == "ann" && e["status"] == "busy")
                })
            };
            if v["type"] == "presence:diff" && (busy("joined") || busy("updated")) {
                seen = true;
                break;
            }
        }
        if seen {
            break;
        }
    }
    assert!(seen, "the status change never reached the watcher");
    assert_eq!(app.stats().await.users, 2);
}

/// A presence actor that dies while its user has no socket left (here in
/// the offline grace, made long so it cannot end on its own during the
/// test) takes the user off the tenant roster: the others get
/// `presence:user_left` and `presence:list` no longer lists the user.
/// Before the fix the registry only released the roster slot, and the user
/// stayed listed as online for as long as the tenant had anyone online.
#[actix_web::test]
async fn a_presence_actor_killed_after_its_last_socket_takes_the_user_off_the_roster() {
    let app = spawn_app_with(|s| s.presence.offline_grace_ms = 600_000).await;
    let mut watcher = app.connect_ready("watcher", "acme").await;
    let ann = app.connect_ready("ann", "acme").await;
    let in_diff = |m: &Value, key: &str| {
        m["type"] == "presence:diff"
            && m[key]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e == "ann" || e["user_id"] == "ann"))
    };
    watcher
        .recv_where("ann joined", |m| in_diff(m, "joined"))
        .await;
    ann.close().await;
    app.wait_stats(|s| s.connections == 1).await;
    // Ann is in her grace: still listed, her presence actor still alive.
    let list = watcher
        .request(json!({"type": "presence:list"}), "l0")
        .await;
    let listed = |list: &Value| {
        list["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user_id"] == "ann")
    };
    assert!(listed(&list), "{list}");
    assert_eq!(app.stats().await.users, 2);

    let stopped = app
        .services
        .registry
        .send(StopPresenceForTest {
            tenant: TenantId::new("acme"),
            user: UserId::new("ann"),
        })
        .await
        .unwrap();
    assert!(stopped, "ann had a presence actor");

    // The dying actor tells the registry (the backstop walk runs only
    // every 30 s, longer than this wait).
    let left = watcher
        .recv_where("ann left", |m| {
            in_diff(m, "left") || in_diff(m, "joined") || in_diff(m, "updated")
        })
        .await;
    assert!(in_diff(&left, "left"), "{left}");
    let list = watcher
        .request(json!({"type": "presence:list"}), "l1")
        .await;
    assert!(!listed(&list), "ann is still listed: {list}");
    let stats = app.wait_stats(|s| s.users == 1).await;
    assert_eq!(stats.tenants, 1, "the watcher keeps the roster");
}

/// A REST lock request: status, `Retry-After` header and JSON body. The
/// client waits up to a minute (awc's default 5 s would cut requests that
/// wait for storage on purpose here).
async fn rest_lock(
    url: String,
    method: &'static str,
    token: String,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let req = client
        .request(method, url)
        .insert_header(("Authorization", format!("Bearer {token}")));
    let mut resp = match body {
        Some(b) => req.send_json(&b).await.unwrap(),
        None => req.send().await.unwrap(),
    };
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.body().await.unwrap();
    (
        resp.status().as_u16(),
        retry_after,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// REST lock and unlock go through the document's write bound as the
/// WebSocket does: while the lock writes are blocked (the `edit_locks`
/// table is locked from a second connection), lock requests wait to be
/// stored up to `documents.max_pending_writes`; past it they get
/// `503 unavailable` with `retry_after_ms` and `Retry-After`, and change
/// nothing. Before the fix every request queued without bound.
#[actix_web::test]
async fn rest_locks_are_refused_with_unavailable_when_the_write_queue_is_full() {
    use diesel_async::SimpleAsyncConnection;
    let app = spawn_app_with(|s| s.documents.max_pending_writes = 2).await;
    // A member keeps the room (and its document session) open.
    let mut ann = app.connect_ready("ann", "acme").await;
    ann.request(room("room:join", json!({})), "j").await;
    let url = app.url("/api/v1/collaboration/invoice/7/lock");
    let (status, _, held) = rest_lock(
        url.clone(),
        "POST",
        app.token("ann", "acme"),
        Some(json!({"field": "held"})),
    )
    .await;
    assert_eq!(status, 201, "{held}");

    let mut blocker = app.db.conn().await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE edit_locks IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let mut waiting = Vec::new();
    let mut refused = None;
    for i in 0..20 {
        let mut task = actix_rt::spawn(rest_lock(
            url.clone(),
            "POST",
            app.token(&format!("u{i}"), "acme"),
            Some(json!({"field": format!("f{i}")})),
        ));
        match tokio::time::timeout(Duration::from_millis(300), &mut task).await {
            Err(_) => waiting.push(task),
            Ok(done) => {
                let (status, retry_after, body) = done.unwrap();
                assert_eq!(status, 503, "{body}");
                assert_eq!(body["error"], "unavailable", "{body}");
                assert_eq!(body["retry_after_ms"], 1000, "{body}");
                assert_eq!(retry_after.as_deref(), Some("1"));
                refused = Some(i);
                break;
            }
        }
    }
    let refused = refused.expect("a lock past the bound is refused");
    assert!(!waiting.is_empty(), "locks queue up to the bound first");

    // Releasing is a change too: refused while the queue is full, and the
    // lock stays held.
    let (status, _, body) = rest_lock(
        format!("{url}?field=held"),
        "DELETE",
        app.token("ann", "acme"),
        None,
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "unavailable", "{body}");

    blocker.batch_execute("COMMIT").await.unwrap();
    for task in waiting {
        let (status, _, body) = task.await.unwrap();
        assert_eq!(status, 201, "{body}");
    }
    // The refused lock was not taken; retried, it lands.
    let (status, info) = app
        .get(
            "/api/v1/collaboration/invoice/7",
            Some(&app.token("ann", "acme")),
        )
        .await;
    assert_eq!(status, 200, "{info}");
    let fields: Vec<&Value> = info["locks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["field"])
        .collect();
    assert!(fields.contains(&&json!("held")), "{info}");
    assert!(
        !fields.contains(&&json!(format!("f{refused}"))),
        "the refused lock was applied: {info}"
    );
    let (status, _, body) = rest_lock(
        url.clone(),
        "POST",
        app.token(&format!("u{refused}"), "acme"),
        Some(json!({"field": format!("f{refused}")})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = rest_lock(
        format!("{url}?field=held"),
        "DELETE",
        app.token("ann", "acme"),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
}
