//! Yjs over y-websocket (`GET /yjs/{document}`), driven by the real `yjs`
//! and `y-websocket` npm packages (tests/js, Node 20): convergence of
//! concurrent edits, persistence across a restart and across idle reaping,
//! tenant isolation, awareness, malformed frames, and the pre-upgrade checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::yjs::*;
use common::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use std::time::Duration;
use tandem::actors::yjs_registry::{GetYjsStats, YjsStats};
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::Transact;

async fn yjs_stats(app: &TestApp) -> YjsStats {
    app.services.yjs.send(GetYjsStats).await.unwrap()
}

/// Waits (at most 10 s) until no document actor or writer is left.
async fn wait_all_docs_stopped(app: &TestApp) {
    for _ in 0..200 {
        let s = yjs_stats(app).await;
        if s.documents == 0 && s.retiring == 0 && s.connections == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("documents never stopped: {:?}", yjs_stats(app).await);
}

#[derive(diesel::QueryableByName, Debug)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tenant_id: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_snapshot: bool,
}

async fn stored_rows(app: &TestApp, document: &str) -> Vec<Row> {
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "SELECT tenant_id, is_snapshot FROM yjs_updates WHERE document_name = $1 ORDER BY id",
    )
    .bind::<diesel::sql_types::Text, _>(document)
    .load(&mut conn)
    .await
    .unwrap()
}

#[actix_web::test]
async fn two_clients_editing_concurrently_converge() {
    let app = spawn_app().await;
    // y-websocket puts the room name in the path as is: spaces and slashes too.
    let room = "team notes/2026 Q1";
    let a = with(
        client(&app, "edit", room, "alice", "acme"),
        json!({"prefix": "A", "inserts": 6, "expect": ["A6;", "B6;"]}),
    );
    let b = with(
        client(&app, "edit", room, "bob", "acme"),
        json!({"prefix": "B", "inserts": 6, "expect": ["A6;", "B6;"]}),
    );
    let (ra, rb) = tokio::join!(node(a), node(b));
    let (ta, tb) = (ra["text"].as_str().unwrap(), rb["text"].as_str().unwrap());
    assert_eq!(ta, tb, "clients diverged");
    for i in 1..=6 {
        assert!(ta.contains(&format!("A{i};")), "{ta}");
        assert!(ta.contains(&format!("B{i};")), "{ta}");
    }
    assert_eq!(ta.len(), 2 * 6 * 3);

    // The server holds the same state, under the decoded name.
    let mut raw = raw_client(&app, "team%20notes/2026%20Q1", "carol", "acme").await;
    raw.send_binary(&step1_empty()).await;
    assert_eq!(text_from_step2(&mut raw).await, ta);
    raw.close().await;
}

#[actix_web::test]
async fn a_document_survives_a_restart() {
    let app = spawn_app().await;
    for part in ["persisted ", "across restarts"] {
        node(with(
            client(&app, "write", "plan", "alice", "acme"),
            json!({"text": part}),
        ))
        .await;
    }

    app.shutdown.shutdown().await;
    // The shutdown flush compacted the document into one snapshot row.
    let rows = stored_rows(&app, "plan").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].is_snapshot);

    let app2 = spawn_app_on(app.settings.clone(), app.db.clone()).await;
    let read = node(client(&app2, "read", "plan", "bob", "acme")).await;
    assert_eq!(read["text"], "persisted across restarts");
}

#[actix_web::test]
async fn an_idle_document_is_compacted_stopped_and_reloaded() {
    let app = spawn_app().await;
    for part in ["one ", "two ", "three"] {
        node(with(
            client(&app, "write", "idle-doc", "alice", "acme"),
            json!({"text": part}),
        ))
        .await;
    }
    // rooms.idle_stop_secs = 1 in tests: the actor persists, stops and its writer finishes.
    wait_all_docs_stopped(&app).await;
    let rows = stored_rows(&app, "idle-doc").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].is_snapshot);
    let read = node(client(&app, "read", "idle-doc", "bob", "acme")).await;
    assert_eq!(read["text"], "one two three");
}

#[actix_web::test]
async fn tenants_never_share_a_document() {
    let app = spawn_app().await;
    node(with(
        client(&app, "write", "shared-name", "alice", "acme"),
        json!({"text": "acme secret"}),
    ))
    .await;
    let other = node(client(&app, "read", "shared-name", "eve", "globex")).await;
    assert_eq!(other["text"], "");
    // Writing in the other tenant leaves the first one untouched.
    node(with(
        client(&app, "write", "shared-name", "eve", "globex"),
        json!({"text": "globex text"}),
    ))
    .await;
    let mine = node(client(&app, "read", "shared-name", "bob", "acme")).await;
    assert_eq!(mine["text"], "acme secret");
    wait_all_docs_stopped(&app).await;
    let tenants: Vec<String> = stored_rows(&app, "shared-name")
        .await
        .into_iter()
        .map(|r| r.tenant_id)
        .collect();
    assert_eq!(tenants.len(), 2);
    assert!(tenants.contains(&"acme".to_owned()) && tenants.contains(&"globex".to_owned()));
}

#[actix_web::test]
async fn text_that_is_not_utf8_closes_with_1007() {
    use actix_http::ws::Item;
    let app = spawn_app().await;
    // One text frame with a byte that is never UTF-8.
    let mut c = raw_client(&app, "utf8", "mallory", "acme").await;
    c.send_raw_frame(0x1, b"{\"a\":\"\xff\"}").await;
    assert_eq!(
        c.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(1007))
    );
    // The first fragment of a text message already shows it.
    let mut c = raw_client(&app, "utf8", "mallory", "acme").await;
    c.send_fragment(Item::FirstText(vec![b'{', 0xC0, 0x80].into()))
        .await;
    assert_eq!(
        c.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(1007))
    );
    // Valid text is still refused as unsupported data (1003).
    let mut c = raw_client(&app, "utf8", "mallory", "acme").await;
    c.send_raw_frame(0x1, "{\"é\":1}".as_bytes()).await;
    assert_eq!(
        c.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(1003))
    );
}

#[actix_web::test]
async fn awareness_is_relayed_removed_on_close_and_restored_on_reconnect() {
    let app = spawn_app().await;
    let out = node(client(&app, "awareness", "aware", "alice", "acme")).await;
    assert_eq!(out, json!({"seen": "alice", "removed": true, "back": true}));
}

#[actix_web::test]
async fn malformed_frames_close_only_that_socket() {
    let app = spawn_app().await;
    node(with(
        client(&app, "write", "fragile", "alice", "acme"),
        json!({"text": "still here"}),
    ))
    .await;
    // A healthy raw client stays connected to the same document throughout.
    let mut healthy = raw_client(&app, "fragile", "bob", "acme").await;
    healthy.send_binary(&step1_empty()).await;
    assert_eq!(text_from_step2(&mut healthy).await, "still here");

    let bad_frames: [&[u8]; 5] = [
        &[0, 2, 0xff, 0xff],                // truncated varint length
        &[0, 2, 3, 1, 2],                   // buffer shorter than its length
        &[0, 1, 4, 0xde, 0xad, 0xbe, 0xef], // not an update
        &[9, 9, 9],                         // unknown message type
        &[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ],
    ];
    for bad in bad_frames {
        let mut c = raw_client(&app, "fragile", "mallory", "acme").await;
        c.send_binary(bad).await;
        assert_eq!(
            c.ended(Duration::from_secs(5)).await,
            Ended::Close(Some(1003)),
            "{bad:?}"
        );
    }
    let mut texty = raw_client(&app, "fragile", "mallory", "acme").await;
    texty.send_text("{\"type\":\"heartbeat\"}").await;
    assert_eq!(
        texty.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(1003))
    );

    // The document still serves: a real client writes, the raw one receives it.
    node(with(
        client(&app, "write", "fragile", "alice", "acme"),
        json!({"text": " and well"}),
    ))
    .await;
    healthy.send_binary(&step1_empty()).await;
    assert_eq!(text_from_step2(&mut healthy).await, "still here and well");
    let read = node(client(&app, "read", "fragile", "carol", "acme")).await;
    assert_eq!(read["text"], "still here and well");
    healthy.close().await;
}

#[actix_web::test]
async fn upgrades_are_checked_before_the_socket_opens() {
    let app = spawn_app().await;
    let token = app.token("alice", "acme");

    let (status, body) = app.refused_upgrade("/yjs/doc", &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing_token"))
    );

    let (status, body) = app.refused_upgrade("/yjs/doc?token=not-a-jwt", &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );

    let (status, body) = app
        .refused_upgrade(
            &format!("/yjs/doc?token={token}"),
            &[("Origin", "http://evil.example".into())],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("origin_not_allowed"))
    );

    let (status, body) = app
        .refused_upgrade(&format!("/yjs/?token={token}"), &[])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_document"))
    );
    let long = "x".repeat(257);
    let (status, body) = app
        .refused_upgrade(&format!("/yjs/{long}?token={token}"), &[])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_document"))
    );

    // The allowed Origin with the token in the query string upgrades.
    let url = format!("{}/doc?token={token}", yjs_url(&app));
    let c = WsClient::connect(&url, &[("Origin", "http://allowed.example".into())])
        .await
        .unwrap();
    c.close().await;
}

/// An update that decodes but made yrs panic (found by fuzzing yrs 0.28:
/// its missing predecessors leave pending structs whose encoding fails).
/// Now the pending part (structs whose origins the document does not have)
/// is dropped and the update refused after its first character, which
/// integrates.
const POISON_UPDATE: &[u8] = &[
    1, 5, 7, 0, 4, 1, 7, 99, 111, 110, 116, 101, 110, 116, 1, 104, 130, 132, 7, 125, 0, 1, 101,
    145, 129, 7, 1, 3, 132, 7, 4, 6, 32, 119, 111, 114, 108, 100, 196, 7, 0, 7, 1, 3, 120, 121,
    122, 1, 7, 1, 2, 3,
];

#[actix_web::test]
async fn an_update_yrs_would_fail_on_closes_only_its_sender() {
    let app = spawn_app().await;
    node(with(
        client(&app, "write", "poisoned", "alice", "acme"),
        json!({"text": "safe text"}),
    ))
    .await;
    let mut bystander = raw_client(&app, "poisoned", "bob", "acme").await;
    let mut attacker = raw_client(&app, "poisoned", "mallory", "acme").await;
    let mut frame = Message::Sync(SyncMessage::Update(POISON_UPDATE.to_vec())).encode_v1();
    frame.extend(step1_empty());
    attacker.send_binary(&frame).await;
    // Refused part-way (1003): only the sender is closed; the document and
    // its other sockets carry on, with the part that integrated (one
    // character, a legitimate edit) relayed and stored like any change.
    assert_eq!(
        attacker.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(1003))
    );
    bystander.send_binary(&step1_empty()).await;
    let seen = text_from_step2(&mut bystander).await;
    assert_eq!(seen, "hsafe text");
    let read = node(client(&app, "read", "poisoned", "carol", "acme")).await;
    assert_eq!(read["text"], seen.as_str());
}

#[actix_web::test]
async fn a_snapshot_only_replaces_rows_the_document_holds() {
    let app = spawn_app().await;
    // Keep the document open on this node.
    let mut raw = raw_client(&app, "shared-writes", "bob", "acme").await;
    raw.send_binary(&step1_empty()).await;
    assert_eq!(text_from_step2(&mut raw).await, "");
    // Another writer (say another node) stores a row this node never loaded.
    let other = yrs::Doc::new();
    let text = other.get_or_insert_text("content");
    let foreign = {
        let mut txn = other.transact_mut();
        yrs::Text::insert(&text, &mut txn, 0, "zzz");
        txn.encode_update_v1()
    };
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "INSERT INTO yjs_updates (tenant_id, document_name, payload) VALUES ('acme', 'shared-writes', $1)",
    )
    .bind::<diesel::sql_types::Bytea, _>(foreign)
    .execute(&mut conn)
    .await
    .unwrap();
    for part in ["a", "b"] {
        node(with(
            client(&app, "write", "shared-writes", "alice", "acme"),
            json!({"text": part}),
        ))
        .await;
    }
    raw.close().await;
    wait_all_docs_stopped(&app).await;
    // The idle snapshot replaced this node's two rows, not the foreign one.
    let rows = stored_rows(&app, "shared-writes").await;
    let snapshots = rows.iter().filter(|r| r.is_snapshot).count();
    assert_eq!((rows.len(), snapshots), (2, 1), "{rows:?}");
    let read = node(client(&app, "read", "shared-writes", "carol", "acme")).await;
    let text = read["text"].as_str().unwrap();
    assert!(text.contains("ab") && text.contains("zzz"), "{text}");
}
