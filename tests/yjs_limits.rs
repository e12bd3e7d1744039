//! Yjs document size limit (`yjs.max_document_bytes`), driven by raw
//! y-websocket frames built with `yrs` over real sockets, PostgreSQL and the
//! real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use diesel_async::RunQueryDsl;
use std::time::Duration;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{GetString, ReadTxn, StateVector, Text, Transact, Update};

async fn raw_client(app: &TestApp, doc: &str, user: &str) -> WsClient {
    let url = format!(
        "ws://127.0.0.1:{}/yjs/{doc}?token={}",
        app.port,
        app.token(user, "acme")
    );
    WsClient::connect(&url, &[]).await.unwrap()
}

/// A y-websocket update frame inserting `text` at the end of `content`,
/// written by `doc`'s client.
fn insert_frame(doc: &yrs::Doc, text: &str) -> Vec<u8> {
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

/// Asks for the whole state and returns the document's text.
async fn synced_text(c: &mut WsClient) -> String {
    c.send_binary(&Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1())
        .await;
    loop {
        let frame = c.recv_binary().await;
        if let Ok(Message::Sync(SyncMessage::SyncStep2(update))) = Message::decode_v1(&frame) {
            let doc = yrs::Doc::new();
            let text = doc.get_or_insert_text("content");
            doc.transact_mut()
                .apply_update(Update::decode_v1(&update).unwrap())
                .unwrap();
            return text.get_string(&doc.transact());
        }
    }
}

/// Syncs until the document's text is `expected` (another socket's update
/// reaches the document actor in its own time); returns the last text seen.
async fn text_becomes(c: &mut WsClient, expected: &str) -> String {
    let mut seen = String::new();
    for _ in 0..100 {
        seen = synced_text(c).await;
        if seen == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn stored_bytes(app: &TestApp, document: &str) -> (i64, i64) {
    let mut conn = app.db.conn().await;
    let rows: Vec<Count> = diesel::sql_query(
        "SELECT count(*) AS n FROM yjs_updates WHERE document_name = $1 \
         UNION ALL SELECT coalesce(sum(length(payload)), 0)::bigint FROM yjs_updates WHERE document_name = $1",
    )
    .bind::<diesel::sql_types::Text, _>(document)
    .load(&mut conn)
    .await
    .unwrap();
    (rows[0].n, rows[1].n)
}

#[actix_web::test]
async fn an_update_past_the_document_limit_closes_only_its_sender_and_is_not_kept() {
    let app = spawn_app_with(|s| s.yjs.max_document_bytes = 4096).await;
    let writer = yrs::Doc::with_client_id(7);
    let mut alice = raw_client(&app, "bounded", "alice").await;
    let mut bob = raw_client(&app, "bounded", "bob").await;
    // Both sockets are in the document before anything is sent.
    assert_eq!(synced_text(&mut alice).await, "");
    assert_eq!(synced_text(&mut bob).await, "");

    let first = "a".repeat(2500);
    alice.send_binary(&insert_frame(&writer, &first)).await;
    assert_eq!(text_becomes(&mut bob, &first).await, first);
    let accepted_state = writer
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    // Stored once the writer got to it.
    let mut stored = stored_bytes(&app, "bounded").await;
    for _ in 0..100 {
        if stored.0 == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        stored = stored_bytes(&app, "bounded").await;
    }
    assert_eq!(stored.0, 1, "the first update is stored");

    // 2500 + 2500 bytes would pass 4096: refused, sender closed with 4413.
    alice
        .send_binary(&insert_frame(&writer, &"b".repeat(2500)))
        .await;
    assert_eq!(
        alice.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(4413))
    );
    // Bob stays connected and the document is unchanged in memory, for a
    // newcomer, and in the database.
    assert_eq!(synced_text(&mut bob).await, first);
    let mut carol = raw_client(&app, "bounded", "carol").await;
    assert_eq!(synced_text(&mut carol).await, first);
    assert_eq!(stored_bytes(&app, "bounded").await, stored);

    // A small update still fits, from anyone.
    let other = yrs::Doc::with_client_id(8);
    other
        .transact_mut()
        .apply_update(Update::decode_v1(&accepted_state).unwrap())
        .unwrap();
    carol.send_binary(&insert_frame(&other, "!")).await;
    let expected = format!("{first}!");
    assert_eq!(text_becomes(&mut bob, &expected).await, expected);
    bob.close().await;
    carol.close().await;
}

/// The y-websocket update carried by a frame, if it is one.
fn update_of(frame: &[u8]) -> Option<Vec<u8>> {
    match Message::decode_v1(frame) {
        Ok(Message::Sync(SyncMessage::Update(u))) => Some(u),
        _ => None,
    }
}

/// Store before relay, with a bound: while the document's writes are
/// blocked (the `yjs_updates` table is locked from a second connection), an
/// update is applied but reaches no other socket; with
/// `documents.max_pending_writes` writes outstanding the next update closes
/// its sender with 1013 and is not applied. Once storage is back the held
/// updates are relayed in order and the refused one is nowhere. Before the
/// fix bob received every update at once, and nothing bounded the queue.
#[actix_web::test]
async fn yjs_updates_are_relayed_only_once_stored_and_refused_past_the_write_bound() {
    use diesel_async::SimpleAsyncConnection;
    let app = spawn_app_with(|s| s.documents.max_pending_writes = 2).await;
    let writer = yrs::Doc::with_client_id(7);
    let mut alice = raw_client(&app, "held", "alice").await;
    let mut bob = raw_client(&app, "held", "bob").await;
    assert_eq!(synced_text(&mut alice).await, "");
    assert_eq!(synced_text(&mut bob).await, "");

    let mut blocker = app.db.conn().await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE yjs_updates IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    // The first write is running (blocked) and the second waits behind it:
    // two outstanding, so the third update is refused.
    alice.send_binary(&insert_frame(&writer, "a")).await;
    alice.send_binary(&insert_frame(&writer, "b")).await;
    let refused = insert_frame(&writer, "c");
    alice.send_binary(&refused).await;
    assert_eq!(
        alice.ended(Duration::from_secs(5)).await,
        Ended::Close(Some(1013))
    );
    // Nothing was relayed while it was not stored (bob's socket is idle:
    // there is nothing else the server could send it).
    let early = bob.try_recv_binary(Duration::from_millis(500)).await;
    assert!(
        early.as_deref().and_then(update_of).is_none(),
        "an unstored update was relayed"
    );
    // A newcomer's sync waits for the same writes.
    let mut carol = raw_client(&app, "held", "carol").await;
    carol
        .send_binary(&Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1())
        .await;
    let early = carol.try_recv_binary(Duration::from_millis(300)).await;
    assert!(early.is_none(), "sync answered before storage: {early:?}");

    blocker.batch_execute("COMMIT").await.unwrap();
    let seen = yrs::Doc::new();
    let text = seen.get_or_insert_text("content");
    while text.get_string(&seen.transact()) != "ab" {
        if let Some(update) = update_of(&bob.recv_binary().await) {
            seen.transact_mut()
                .apply_update(Update::decode_v1(&update).unwrap())
                .unwrap();
        }
    }
    let mut answer = None;
    while answer.is_none() {
        if let Ok(Message::Sync(SyncMessage::SyncStep2(u))) =
            Message::decode_v1(&carol.recv_binary().await)
        {
            answer = Some(u);
        }
    }
    let joined = yrs::Doc::new();
    let joined_text = joined.get_or_insert_text("content");
    joined
        .transact_mut()
        .apply_update(Update::decode_v1(&answer.unwrap()).unwrap())
        .unwrap();
    assert_eq!(joined_text.get_string(&joined.transact()), "ab");
    assert_eq!(
        synced_text(&mut bob).await,
        "ab",
        "the refused update was applied"
    );
    assert_eq!(stored_bytes(&app, "held").await.0, 2);
    bob.close().await;
    carol.close().await;
}
