//! PostgreSQL goes away for 10 s under OT edits and Yjs updates, and comes
//! back: nothing acknowledged or relayed is lost.
//!
//! The shared PostgreSQL is never stopped (other test processes use it).
//! The server under test reaches its database through a TCP proxy started
//! here; "PostgreSQL down" is the proxy cutting every open connection and
//! refusing new ones (accepted and closed at once), which the server sees as
//! it would see a stopped PostgreSQL. The other side of the test (checking
//! what was stored) talks to PostgreSQL directly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tandem::collab::ot::TextOperation;
use tandem::config::Secret;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{GetString, ReadTxn, Text, Transact, Update};

/// How long PostgreSQL is unreachable.
const OUTAGE: Duration = Duration::from_secs(10);

/// The `host:port` of a `postgres://user@host:port/db` URL, and the URL
/// with it replaced by `via`.
fn split_url(url: &str, via: SocketAddr) -> (String, String) {
    let (head, path) = url.rsplit_once('/').unwrap();
    let (prefix, hostport) = match head.rsplit_once('@') {
        Some((prefix, hostport)) => (format!("{prefix}@"), hostport),
        None => {
            let (scheme, hostport) = head.split_once("://").unwrap();
            (format!("{scheme}://"), hostport)
        }
    };
    let upstream = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    (upstream, format!("{prefix}{via}/{path}"))
}

fn doc_msg(kind: &str, extra: Value) -> Value {
    let mut v = json!({"type": kind, "entity_type": "invoice", "entity_id": "7"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// Sends edit `seq`: inserts `<seq>;` at the start of a text of `len`
/// characters at `revision` (the server transforms it past the edits it
/// does not know about).
async fn send_edit(c: &mut WsClient, revision: u64, len: usize, seq: u64) {
    let mut op = TextOperation::new();
    op.insert(&format!("{seq};")).retain(len);
    c.send(doc_msg(
        "doc:edit",
        json!({"field": "body", "revision": revision, "op": op,
               "client_id": "client-ann", "seq": seq, "ref": format!("e{seq}")}),
    ))
    .await;
}

/// A y-websocket update frame appending `text` to `doc`'s `content`.
fn yjs_insert(doc: &yrs::Doc, text: &str) -> Vec<u8> {
    let content = doc.get_or_insert_text("content");
    let before = doc.transact().state_vector();
    {
        let mut txn = doc.transact_mut();
        let len = content.len(&txn);
        content.insert(&mut txn, len, text);
    }
    let update = doc.transact().encode_state_as_update_v1(&before);
    Message::Sync(SyncMessage::Update(update)).encode_v1()
}

/// Applies a relayed update frame to `doc`; true if it was one.
fn apply_relayed(doc: &yrs::Doc, frame: &[u8]) -> bool {
    match Message::decode_v1(frame) {
        Ok(Message::Sync(SyncMessage::Update(u))) => {
            doc.transact_mut()
                .apply_update(Update::decode_v1(&u).unwrap())
                .unwrap();
            true
        }
        _ => false,
    }
}

#[derive(diesel::QueryableByName)]
struct Seq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
}

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Binary)]
    payload: Vec<u8>,
}

#[actix_web::test]
async fn a_10_s_postgres_outage_loses_no_acknowledged_edit_and_no_relayed_update() {
    let db = std::sync::Arc::new(TestDb::create().await);
    let proxy =
        common::cut_proxy::CutProxy::start(split_url(&db.url, "127.0.0.1:1".parse().unwrap()).0);
    let proxied = split_url(&db.url, proxy.addr).1;
    let mut settings = test_settings(&db);
    settings.database.url = Secret::new(proxied);
    settings.database.connect_timeout_secs = 2;
    let app = spawn_app_on(settings, db.clone()).await;

    // OT: ann edits, ben watches. Yjs: alice updates, bob receives.
    let mut ann = app.connect_ready("ann", "acme").await;
    let mut ben = app.connect_ready("ben", "acme").await;
    for c in [&mut ann, &mut ben] {
        let users = c.request(doc_msg("room:join", json!({})), "j").await;
        assert_eq!(users["type"], "room:users", "{users}");
    }
    let yjs_url = |user: &str| {
        format!(
            "ws://127.0.0.1:{}/yjs/outage?token={}",
            app.port,
            app.token(user, "acme")
        )
    };
    let mut alice = WsClient::connect(&yjs_url("alice"), &[]).await.unwrap();
    let mut bob = WsClient::connect(&yjs_url("bob"), &[]).await.unwrap();
    // Both Yjs sockets are in the document (their sync is answered).
    for c in [&mut alice, &mut bob] {
        c.send_binary(
            &Message::Sync(SyncMessage::SyncStep1(yrs::StateVector::default())).encode_v1(),
        )
        .await;
        loop {
            let frame = c.recv_binary().await;
            if let Ok(Message::Sync(SyncMessage::SyncStep2(_))) = Message::decode_v1(&frame) {
                break;
            }
        }
    }
    let writer = yrs::Doc::with_client_id(11);
    let seen = yrs::Doc::new();
    let seen_text = seen.get_or_insert_text("content");

    // Before the outage: one edit and one update go through.
    send_edit(&mut ann, 0, 0, 1).await;
    let ack = ann.recv_where("ack e1", |m| m["ref"] == "e1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let base_revision = ack["data"]["revision"].as_u64().unwrap();
    let base_len = "1;".len();
    alice.send_binary(&yjs_insert(&writer, "y0;")).await;
    while !apply_relayed(&seen, &bob.recv_binary().await) {}

    // PostgreSQL "stops": edits and updates keep coming every 250 ms.
    proxy.set_up(false);
    let down_since = Instant::now();
    let mut seq = 1;
    let mut y = 0;
    let mut acked: BTreeSet<u64> = BTreeSet::from([1]);
    while down_since.elapsed() < OUTAGE {
        seq += 1;
        send_edit(&mut ann, base_revision, base_len, seq).await;
        y += 1;
        alice
            .send_binary(&yjs_insert(&writer, &format!("y{y};")))
            .await;
        // Nothing can be acknowledged or relayed while nothing can be stored.
        while let Some(m) = ann.try_recv(Duration::from_millis(125)).await {
            assert_ne!(m["type"], "ack", "acked while PostgreSQL is down: {m}");
            assert_ne!(m["type"], "error", "{m}");
        }
        if let Some(frame) = bob.try_recv_binary(Duration::from_millis(125)).await {
            assert!(
                !apply_relayed(&seen, &frame),
                "an update was relayed while PostgreSQL is down"
            );
        }
    }
    let last_seq = seq;
    let last_y = y;
    // Ben saw no op of the outage either.
    while let Some(m) = ben.try_recv(Duration::from_millis(10)).await {
        assert!(
            !(m["type"] == "doc:op" && m["seq"].as_u64().is_some_and(|s| s > 1)),
            "an op was broadcast while PostgreSQL is down: {m}"
        );
    }

    // PostgreSQL is back: every edit is acknowledged (the write queue
    // retries every 500 ms) and every update relayed (the Yjs writer's
    // backoff is at most 5 s), within a generous wait.
    proxy.set_up(true);
    let mut final_version = 0;
    while acked.len() < usize::try_from(last_seq).unwrap() {
        let m = ann
            .try_recv(Duration::from_secs(30))
            .await
            .expect("an edit was never answered after PostgreSQL came back");
        if m["type"] == "ack" {
            let r = m["ref"].as_str().unwrap();
            acked.insert(r.trim_start_matches('e').parse().unwrap());
            final_version = final_version.max(m["data"]["version"].as_u64().unwrap());
        } else {
            assert_ne!(m["type"], "error", "{m}");
        }
    }
    let expected_yjs: String = (0..=last_y).map(|k| format!("y{k};")).collect();
    while seen_text.get_string(&seen.transact()) != expected_yjs {
        let frame = bob
            .try_recv_binary(Duration::from_secs(30))
            .await
            .expect("an update was never relayed after PostgreSQL came back");
        apply_relayed(&seen, &frame);
    }

    // Every acknowledged edit is stored: its event row, and the document
    // rebuilt from the database (REST replays the stored rows) holds it.
    let mut conn = db.conn().await;
    let stored: BTreeSet<u64> = diesel::sql_query(
        "SELECT client_seq AS seq FROM collaboration_events \
         WHERE client_id = 'client-ann' AND client_seq IS NOT NULL",
    )
    .load::<Seq>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|r| u64::try_from(r.seq).unwrap())
    .collect();
    assert_eq!(
        stored, acked,
        "acknowledged edits missing from the database"
    );
    let (status, doc) = app
        .get(
            &format!("/api/v1/collaboration/invoice/7/versions/{final_version}"),
            Some(&app.token("ann", "acme")),
        )
        .await;
    assert_eq!(status, 200, "{doc}");
    let text = doc["fields"]["body"]["text"].as_str().unwrap().to_owned();
    for s in &acked {
        assert!(text.contains(&format!("{s};")), "edit {s} missing: {text}");
    }

    // Every relayed update is stored: the rows rebuild bob's text.
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT payload FROM yjs_updates WHERE document_name = 'outage' ORDER BY id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let rebuilt = yrs::Doc::new();
    let rebuilt_text = rebuilt.get_or_insert_text("content");
    for row in rows {
        rebuilt
            .transact_mut()
            .apply_update(Update::decode_v1(&row.payload).unwrap())
            .unwrap();
    }
    assert_eq!(rebuilt_text.get_string(&rebuilt.transact()), expected_yjs);
}
