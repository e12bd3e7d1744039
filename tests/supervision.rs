//! Supervision: a room actor that stops unexpectedly (killed here with the
//! test-only `StopRoomForTest`) is replaced by the registry. Its members get
//! `not_in_room` until they rejoin; after the rejoin, broadcasts flow again
//! and the document, reloaded from PostgreSQL, takes further edits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use tandem::actors::registry::FindRoom;
use tandem::actors::room::StopRoomForTest;
use tandem::collab::ot::TextOperation;
use tandem::ids::{RoomId, TenantId};

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
