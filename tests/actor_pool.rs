//! The actor pool (`server.actor_threads`): rooms run on several threads,
//! each document session on its room's thread, presence changes reach the
//! presence actor, and every room keeps one order of its messages while
//! many rooms and senders run at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use tandem::actors::pool::current_thread;
use tandem::actors::registry::FindRoom;
use tandem::actors::room::ThreadsForTest;
use tandem::ids::{RoomId, TenantId};

fn room(kind: &str, id: &str) -> Value {
    json!({"type": kind, "entity_type": "sheet", "entity_id": id})
}

#[actix_web::test]
async fn rooms_spread_over_the_actor_threads_and_sessions_follow_their_room() {
    let app = spawn_app_with(|s| s.server.actor_threads = 3).await;
    let mut ann = app.connect_ready("ann", "acme").await;
    let rooms: Vec<String> = (0..24).map(|i| format!("r{i}")).collect();
    for id in &rooms {
        let users = ann.request(room("room:join", id), "j").await;
        assert_eq!(users["type"], "room:users", "{users}");
        // Opens the room's document session.
        let state = ann.request(room("doc:sync", id), "s").await;
        assert_eq!(state["type"], "doc:state", "{state}");
    }
    let test_thread = current_thread();
    let mut threads = HashSet::new();
    for id in &rooms {
        let key = RoomId::new(TenantId::new("acme"), "sheet", id);
        let addr = app
            .services
            .registry
            .send(FindRoom(key))
            .await
            .unwrap()
            .expect("the room is live");
        let (room_thread, doc_thread) = addr.send(ThreadsForTest).await.unwrap();
        assert_ne!(
            room_thread, test_thread,
            "room {id} runs on the System thread"
        );
        assert_eq!(
            doc_thread.as_deref(),
            Some(room_thread.as_str()),
            "room {id}: its session runs on another thread"
        );
        threads.insert(room_thread);
    }
    // 24 rooms hashed over 3 threads use all of them (the hash is fixed).
    assert_eq!(threads.len(), 3, "{threads:?}");
}

#[actix_web::test]
async fn presence_changes_reach_the_presence_actor_directly() {
    let app = spawn_app_with(|s| s.server.actor_threads = 2).await;
    let mut ann = app.connect_ready("ann", "acme").await;
    let mut ben = app.connect_ready("ben", "acme").await;
    // Several changes in a row: the first ones may go through the registry,
    // the later ones go straight to the actor; the last one wins.
    for status in ["busy", "online", "busy", "online", "away"] {
        let ack = ann
            .request(json!({"type": "presence:status", "status": status}), "p")
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    ben.recv_where("ann away", |v| {
        let lists: &[&str] = match v["type"].as_str() {
            Some("presence:diff") => &["joined", "updated"],
            Some("presence:list") => &["users"],
            _ => &[],
        };
        lists.iter().any(|k| {
            v[*k].as_array().is_some_and(|users| {
                users
                    .iter()
                    .any(|u| u["user_id"] == "ann" && u["status"] == "away")
            })
        })
    })
    .await;
    let (status, body) = app
        .get("/api/v1/presence/ann", Some(&app.token("ben", "acme")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "away", "{body}");
}

/// Each room: three senders send numbered broadcasts at once; two observers
/// must see the same sequence, and each sender's numbers in order.
#[actix_web::test]
async fn every_room_keeps_one_order_under_concurrent_senders() {
    const ROOMS: usize = 12;
    const SENDERS: usize = 3;
    const EACH: usize = 25;
    let app = spawn_app_with(|s| s.server.actor_threads = 4).await;
    let mut senders = Vec::new();
    let mut observers = Vec::new();
    for r in 0..ROOMS {
        let id = format!("o{r}");
        for k in 0..SENDERS + 2 {
            let mut c = app.connect_ready(&format!("u{r}-{k}"), "acme").await;
            let users = c.request(room("room:join", &id), "j").await;
            assert_eq!(users["type"], "room:users", "{users}");
            if k < SENDERS {
                senders.push((id.clone(), k, c));
            } else {
                observers.push((id.clone(), c));
            }
        }
    }
    // Everyone sends at once, across every room.
    let sends = senders.iter_mut().map(|(id, k, c)| {
        let id = id.clone();
        let k = *k;
        async move {
            for seq in 0..EACH {
                let mut msg = room("room:broadcast", &id);
                msg["event"] = json!("n");
                msg["payload"] = json!({"sender": k, "seq": seq});
                c.send(msg).await;
            }
        }
    });
    futures_util::future::join_all(sends).await;

    let mut seen: HashMap<String, Vec<Vec<(u64, u64)>>> = HashMap::new();
    for (id, c) in &mut observers {
        let mut order = Vec::new();
        while order.len() < SENDERS * EACH {
            let b = c.recv_type("room:broadcast").await;
            assert_eq!(b["entity_id"], json!(id), "{b}");
            let p = &b["payload"];
            order.push((p["sender"].as_u64().unwrap(), p["seq"].as_u64().unwrap()));
        }
        seen.entry(id.clone()).or_default().push(order);
    }
    assert_eq!(seen.len(), ROOMS);
    for (id, orders) in &seen {
        assert_eq!(orders.len(), 2);
        assert_eq!(orders[0], orders[1], "room {id}: observers disagree");
        for k in 0..SENDERS as u64 {
            let seqs: Vec<u64> = orders[0]
                .iter()
                .filter(|(s, _)| *s == k)
                .map(|(_, n)| *n)
                .collect();
            let expected: Vec<u64> = (0..EACH as u64).collect();
            assert_eq!(seqs, expected, "room {id}: sender {k} out of order");
        }
    }
}

/// Notifications go through the broker's shards (by tenant): every user of
/// tenants spread over several shards gets exactly their own, in order.
#[actix_web::test]
async fn notifications_reach_their_users_through_every_broker_shard() {
    let app = spawn_app_with_api_key(|s| s.server.actor_threads = 3).await;
    let tenants: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
    let shards: HashSet<usize> = tenants
        .iter()
        .map(|t| tandem::ids::shard_of(&TenantId::new(t.as_str()), 3))
        .collect();
    assert!(
        shards.len() >= 2,
        "the tenants must span shards: {shards:?}"
    );
    let mut clients = Vec::new();
    for t in &tenants {
        for u in ["ann", "ben"] {
            clients.push((t.clone(), u, app.connect_ready(u, t).await));
        }
    }
    for i in 0..2 {
        for t in &tenants {
            for u in ["ann", "ben"] {
                app.notify(t, u, &format!("{t}/{u}/{i}")).await;
            }
        }
    }
    for (t, u, c) in &mut clients {
        for i in 0..2 {
            let n = c.recv_type("notification").await;
            assert_eq!(
                n["notification"]["title"],
                json!(format!("{t}/{u}/{i}")),
                "{n}"
            );
        }
    }
}
