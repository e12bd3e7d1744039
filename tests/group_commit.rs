//! Group commit: the edits of every document on the node are stored by one
//! writer in multi-row inserts. Over real sockets and real PostgreSQL:
//! many editors on several documents at once get every acked edit stored,
//! in revision order per document, with rows of one transaction shared
//! across edits (and documents); a write that fails (a constraint that
//! refuses one document's rows, or PostgreSQL unreachable behind a TCP
//! proxy) acknowledges nothing, and the edits are acked once they store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tandem::collab::ot::TextOperation;
use tandem::db::documents::{insert_events, NewEvent};

fn doc(kind: &str, id: &str, extra: Value) -> Value {
    let mut v = json!({"type": kind, "entity_type": "invoice", "entity_id": id});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// Every edit inserts one "x" at 0, so the text at revision `r` is `r` long.
fn insert_x(revision: u64) -> TextOperation {
    let mut op = TextOperation::new();
    op.insert("x").retain(usize::try_from(revision).unwrap());
    op
}

fn edit_msg(id: &str, client: &str, revision: u64, seq: u64) -> Value {
    doc(
        "doc:edit",
        id,
        json!({"field": "body", "revision": revision, "op": insert_x(revision),
               "client_id": client, "seq": seq, "ref": format!("{client}-{seq}")}),
    )
}

#[derive(diesel::QueryableByName, Debug)]
struct Row {
    #[diesel(sql_type = Text)]
    entity_id: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
    #[diesel(sql_type = BigInt)]
    tx: i64,
}

/// Stored edit rows in insertion order, with the transaction that wrote each.
async fn stored(conn: &mut AsyncPgConnection) -> Vec<Row> {
    diesel::sql_query(
        "SELECT entity_id, version, xmin::text::bigint AS tx FROM collaboration_events \
         WHERE event_type = 'edit' ORDER BY id",
    )
    .load(conn)
    .await
    .unwrap()
}

/// Versions stored per document, in insertion order.
fn versions_by_doc(rows: &[Row]) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in rows {
        out.entry(r.entity_id.clone()).or_default().push(r.version);
    }
    out
}

/// One editor: `edits` edits, one in flight, each based on its last ack.
/// Returns the versions acked to it.
async fn editor(mut c: WsClient, id: String, client: String, edits: u64) -> Vec<i64> {
    let mut revision = 0;
    let mut acked = Vec::new();
    for seq in 1..=edits {
        c.send(edit_msg(&id, &client, revision, seq)).await;
        let r#ref = format!("{client}-{seq}");
        let ack = c.recv_where(&r#ref, |m| m["ref"] == r#ref.as_str()).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        revision = ack["data"]["revision"].as_u64().unwrap();
        acked.push(ack["data"]["version"].as_i64().unwrap());
    }
    acked
}

#[actix_web::test]
async fn many_editors_on_several_documents_have_every_acked_edit_stored_in_order() {
    const DOCS: usize = 6;
    const EDITORS: usize = 3;
    const EDITS: u64 = 15;
    let app = spawn_app_with(|s| s.database.pool_size = 8).await;
    let mut runs = Vec::new();
    for d in 0..DOCS {
        for e in 0..EDITORS {
            let mut c = app.connect_ready(&format!("u{d}-{e}"), "acme").await;
            let id = format!("gc{d}");
            let joined = c.request(doc("room:join", &id, json!({})), "j").await;
            assert_ne!(joined["type"], "error", "{joined}");
            runs.push(editor(c, id, format!("c{d}-{e}"), EDITS));
        }
    }
    let acked = futures_util::future::join_all(runs).await;

    let rows = stored(&mut app.db.conn().await).await;
    let by_doc = versions_by_doc(&rows);
    assert_eq!(by_doc.len(), DOCS);
    let total = DOCS * EDITORS * usize::try_from(EDITS).unwrap();
    for (id, versions) in &by_doc {
        // Every acked edit is stored once, in revision order.
        let expected: Vec<i64> = (1..=i64::try_from(EDITORS as u64 * EDITS).unwrap()).collect();
        assert_eq!(versions, &expected, "document {id}");
    }
    for (i, versions) in acked.iter().enumerate() {
        let id = format!("gc{}", i / EDITORS);
        for v in versions {
            assert!(by_doc[&id].contains(v), "acked {id} v{v} stored");
        }
    }
    assert_eq!(rows.len(), total);
    // Group commit: fewer transactions than rows (one insert each before),
    // and at least one transaction holding rows of several documents.
    let mut docs_per_tx: BTreeMap<i64, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for r in &rows {
        docs_per_tx.entry(r.tx).or_default().insert(&r.entity_id);
    }
    assert!(
        docs_per_tx.len() < rows.len(),
        "{} transactions for {} rows",
        docs_per_tx.len(),
        rows.len()
    );
    let shared = docs_per_tx.values().filter(|d| d.len() > 1).count();
    assert!(shared > 0, "no transaction stored rows of two documents");
}

/// A constraint that refuses one document's rows: that document's edits
/// are not acknowledged while it holds, the other document's edits (in the
/// same flushes) are; once it is dropped, the refused edits are retried,
/// acknowledged and stored in order.
#[actix_web::test]
async fn a_refused_write_acks_nothing_and_other_documents_go_on() {
    let app = spawn_app().await;
    let mut admin = app.db.conn().await;
    admin
        .batch_execute(
            "ALTER TABLE collaboration_events ADD CONSTRAINT test_refuse \
             CHECK (entity_id <> 'refused')",
        )
        .await
        .unwrap();
    let mut bad = app.connect_ready("bad", "acme").await;
    let mut good = app.connect_ready("good", "acme").await;
    bad.request(doc("room:join", "refused", json!({})), "j")
        .await;
    good.request(doc("room:join", "fine", json!({})), "j").await;

    // Both send at once, so their rows meet in the writer's batches.
    for seq in 1..=5u64 {
        bad.send(edit_msg("refused", "bad", seq - 1, seq)).await;
        good.send(edit_msg("fine", "good", seq - 1, seq)).await;
    }
    for seq in 1..=5u64 {
        let r#ref = format!("good-{seq}");
        let ack = good
            .recv_where(&r#ref, |m| m["ref"] == r#ref.as_str())
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        assert_eq!(ack["data"]["revision"], seq);
    }
    while let Some(m) = bad.try_recv(Duration::from_millis(1500)).await {
        assert_ne!(m["type"], "ack", "nothing refused by storage is acked: {m}");
    }
    let rows = stored(&mut admin).await;
    let by_doc = versions_by_doc(&rows);
    assert_eq!(by_doc.get("fine"), Some(&vec![1, 2, 3, 4, 5]));
    assert_eq!(by_doc.get("refused"), None);

    admin
        .batch_execute("ALTER TABLE collaboration_events DROP CONSTRAINT test_refuse")
        .await
        .unwrap();
    for seq in 1..=5u64 {
        let r#ref = format!("bad-{seq}");
        let ack = bad.recv_where(&r#ref, |m| m["ref"] == r#ref.as_str()).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        assert_eq!(ack["data"]["revision"], seq);
    }
    let by_doc = versions_by_doc(&stored(&mut admin).await);
    assert_eq!(by_doc.get("refused"), Some(&vec![1, 2, 3, 4, 5]));
}

/// The change rows of one document, versions `versions`, as the writer
/// stores them.
fn rows(entity: &str, versions: std::ops::RangeInclusive<i64>) -> Vec<std::sync::Arc<NewEvent>> {
    versions
        .map(|v| {
            std::sync::Arc::new(NewEvent {
                tenant_id: "acme".into(),
                entity_type: "doc".into(),
                entity_id: entity.into(),
                session_id: None,
                user_id: "u".into(),
                client_id: Some("c".into()),
                client_seq: Some(v),
                event_type: "edit".into(),
                field_name: Some("body".into()),
                event_data: format!(r#"{{"kind":"text","seq":{v}}}"#),
                version: v,
                parent_version: Some(v - 1),
            })
        })
        .collect()
}

/// A retry after a commit whose answer was lost sends rows that are stored
/// already, mixed with new ones (here of two documents in one batch): the
/// stored ones are skipped, the new ones stored, nothing twice; the JSON
/// text arrives as `jsonb`.
#[actix_web::test]
async fn rows_stored_already_are_skipped_and_the_rest_stored() {
    let db = TestDb::create().await;
    let mut conn = db.conn().await;
    insert_events(&mut conn, &rows("a", 1..=2)).await.unwrap();
    let mut batch = rows("a", 1..=4);
    batch.extend(rows("b", 1..=2));
    insert_events(&mut conn, &batch).await.unwrap();
    insert_events(&mut conn, &rows("b", 2..=2)).await.unwrap();
    let by_doc = versions_by_doc(&stored(&mut conn).await);
    assert_eq!(by_doc.get("a"), Some(&vec![1, 2, 3, 4]));
    assert_eq!(by_doc.get("b"), Some(&vec![1, 2]));
    #[derive(diesel::QueryableByName)]
    struct Kind {
        #[diesel(sql_type = Text)]
        kind: String,
    }
    let kinds: Vec<Kind> =
        diesel::sql_query("SELECT DISTINCT event_data->>'kind' AS kind FROM collaboration_events")
            .load(&mut conn)
            .await
            .unwrap();
    assert_eq!(kinds.len(), 1);
    assert_eq!(kinds[0].kind, "text");
}

/// A TCP proxy to PostgreSQL; aborting the task closes its listener (new
/// connections are refused) and every connection through it.
async fn proxy(port: u16, upstream: String) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let upstream = upstream.clone();
            conns.spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    (port, task)
}

/// PostgreSQL goes away (connection refused through a proxy): edits are
/// applied in memory but none is acknowledged; when it comes back, they are
/// acknowledged in order and stored in revision order.
#[actix_web::test]
async fn edits_are_not_acked_while_postgres_is_unreachable() {
    let db = std::sync::Arc::new(TestDb::create().await);
    let mut settings = test_settings(&db);
    let url = settings.database.url.expose().to_owned();
    let rest = url.split_once('@').unwrap().1;
    let (hostport, _) = rest.split_once('/').unwrap();
    let (port, task) = proxy(0, hostport.to_owned()).await;
    settings.database.url = tandem::config::Secret::new(url.replacen(
        &format!("@{hostport}/"),
        &format!("@127.0.0.1:{port}/"),
        1,
    ));
    settings.database.connect_timeout_secs = 2;
    let app = spawn_app_on(settings, db).await;

    let mut ann = app.connect_ready("ann", "acme").await;
    ann.request(doc("room:join", "p", json!({})), "j").await;
    ann.send(edit_msg("p", "ann", 0, 1)).await;
    let ack = ann.recv_where("ann-1", |m| m["ref"] == "ann-1").await;
    assert_eq!(ack["type"], "ack", "{ack}");

    task.abort();
    let _ = task.await;
    for seq in 2..=5u64 {
        ann.send(edit_msg("p", "ann", seq - 1, seq)).await;
    }
    while let Some(m) = ann.try_recv(Duration::from_millis(1500)).await {
        assert_ne!(
            m["type"], "ack",
            "nothing is acked while PostgreSQL is away: {m}"
        );
    }

    let (_, task) = proxy(port, hostport.to_owned()).await;
    for seq in 2..=5u64 {
        // In order: the next message carrying a ref is this one's ack.
        let ack = ann
            .recv_where("an ack", |m| {
                m["ref"].as_str().is_some_and(|r| r.starts_with("ann-"))
            })
            .await;
        assert_eq!(ack["ref"], format!("ann-{seq}"), "{ack}");
        assert_eq!(ack["type"], "ack", "{ack}");
        assert_eq!(ack["data"]["revision"], seq);
    }
    let by_doc = versions_by_doc(&stored(&mut app.db.conn().await).await);
    assert_eq!(by_doc.get("p"), Some(&vec![1, 2, 3, 4, 5]));
    task.abort();
}
