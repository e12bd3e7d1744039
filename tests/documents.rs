//! Collaborative documents: concurrent OT edits converge, resync and
//! resend paths, structured fields with conflicts, undo/redo, locks (modes,
//! expiry, release on disconnect, REST), persistence across a restart,
//! history by version, and remote cursors moved by edits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use tandem::collab::ot::TextOperation;

fn doc(kind: &str, extra: Value) -> Value {
    let mut v = json!({"type": kind, "entity_type": "invoice", "entity_id": "7"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

async fn joined(app: &TestApp, user: &str) -> WsClient {
    let mut c = app.connect_ready(user, "acme").await;
    c.request(
        json!({"type": "room:join", "entity_type": "invoice", "entity_id": "7"}),
        "join",
    )
    .await;
    c
}

/// A minimal ot.js-style client: the text, the revision it is based on, one
/// op in flight and a buffer, transforming incoming ops as ot.js does.
struct OtClient {
    ws: WsClient,
    id: String,
    text: String,
    revision: u64,
    inflight: Option<(TextOperation, u64)>,
    buffer: Option<TextOperation>,
    seq: u64,
}

impl OtClient {
    async fn new(app: &TestApp, user: &str) -> OtClient {
        let mut ws = joined(app, user).await;
        let state = ws.request(doc("doc:sync", json!({})), "sync").await;
        let field = &state["fields"]["body"];
        OtClient {
            ws,
            id: format!("client-{user}"),
            text: field["text"].as_str().unwrap_or("").to_owned(),
            revision: field["revision"].as_u64().unwrap_or(0),
            inflight: None,
            buffer: None,
            seq: 0,
        }
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// A local edit: insert `s` at `pos`.
    async fn insert(&mut self, pos: usize, s: &str) {
        let mut op = TextOperation::new();
        op.retain(pos).insert(s).retain(self.len() - pos);
        self.text = op.apply(&self.text).unwrap();
        match (&self.inflight, &self.buffer) {
            (None, _) => self.send(op).await,
            (Some(_), None) => self.buffer = Some(op),
            (Some(_), Some(b)) => self.buffer = Some(b.compose(&op).unwrap()),
        }
    }

    async fn send(&mut self, op: TextOperation) {
        self.seq += 1;
        let msg = doc(
            "doc:edit",
            json!({"field": "body", "revision": self.revision, "op": op, "client_id": self.id,
                   "seq": self.seq, "ref": format!("{}-{}", self.id, self.seq)}),
        );
        self.ws.send(msg).await;
        self.inflight = Some((op, self.seq));
    }

    /// Handles one server message; true when it was relevant.
    async fn handle(&mut self, m: &Value) {
        match m["type"].as_str() {
            Some("ack")
                if self
                    .inflight
                    .as_ref()
                    .is_some_and(|(_, s)| m["ref"] == format!("{}-{}", self.id, s)) =>
            {
                self.revision = m["data"]["revision"].as_u64().unwrap();
                self.inflight = None;
                if let Some(b) = self.buffer.take() {
                    self.send(b).await;
                }
            }
            Some("doc:op") if m["field"] == "body" => {
                let mut op: TextOperation = serde_json::from_value(m["op"].clone()).unwrap();
                self.revision = m["revision"].as_u64().unwrap();
                if let Some((inflight, seq)) = self.inflight.take() {
                    let (a, b) = TextOperation::transform(&op, &inflight).unwrap();
                    op = a;
                    self.inflight = Some((b, seq));
                }
                if let Some(buffer) = self.buffer.take() {
                    let (a, b) = TextOperation::transform(&op, &buffer).unwrap();
                    op = a;
                    self.buffer = Some(b);
                }
                self.text = op.apply(&self.text).unwrap();
            }
            Some("error") => panic!("{}: unexpected error {m}", self.id),
            _ => {}
        }
    }

    fn settled(&self) -> bool {
        self.inflight.is_none() && self.buffer.is_none()
    }
}

#[actix_web::test]
async fn concurrent_editors_converge_to_the_servers_text() {
    let app = spawn_app().await;
    let mut clients = Vec::new();
    for user in ["ann", "ben", "cat"] {
        clients.push(OtClient::new(&app, user).await);
    }
    // Each client types 15 times at varying positions, without waiting.
    for round in 0..15 {
        for (i, c) in clients.iter_mut().enumerate() {
            let pos = (round * 7 + i * 3) % (c.len() + 1);
            let s = ["é", "🌍", "ab"][i];
            c.insert(pos, s).await;
        }
        // Let some messages through between rounds.
        for c in clients.iter_mut() {
            while let Some(m) = c.ws.try_recv(Duration::from_millis(5)).await {
                c.handle(&m).await;
            }
        }
    }
    // Drain until every client is settled and quiet.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut quiet = true;
        for c in clients.iter_mut() {
            while let Some(m) = c.ws.try_recv(Duration::from_millis(100)).await {
                quiet = false;
                c.handle(&m).await;
            }
        }
        if quiet && clients.iter().all(OtClient::settled) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "clients never settled"
        );
    }
    let state = clients[0]
        .ws
        .request(doc("doc:sync", json!({})), "final")
        .await;
    let server_text = state["fields"]["body"]["text"].as_str().unwrap().to_owned();
    // Every insert is in the text: 15 rounds of "é", "🌍" and "ab".
    assert_eq!(server_text.chars().count(), 15 * 4, "{server_text}");
    // Buffered local edits compose into one op, so there are between 3
    // revisions (everything buffered behind each client's first op: how
    // many depends on how fast acks come back) and 45.
    let server_revision = state["fields"]["body"]["revision"].as_u64().unwrap();
    assert!((3..=45).contains(&server_revision), "{server_revision}");
    for c in &clients {
        assert_eq!(c.text, server_text, "{} diverged", c.id);
        assert_eq!(c.revision, server_revision);
    }
    assert_eq!(server_text.chars().filter(|&ch| ch == '🌍').count(), 15);
    assert_eq!(server_text.chars().filter(|&ch| ch == 'é').count(), 15);
}

#[actix_web::test]
async fn stale_and_future_revisions_must_resync_and_resends_apply_once() {
    let app = spawn_app_with(|s| s.documents.max_history = 2).await;
    let mut ann = joined(&app, "ann").await;
    let mut ben = joined(&app, "ben").await;
    let edit = |rev: u64, op: Value, seq: u64| {
        doc(
            "doc:edit",
            json!({"field": "body", "revision": rev, "op": op, "client_id": "c1", "seq": seq}),
        )
    };
    let ack = ann.request(edit(0, json!(["abc"]), 1), "e1").await;
    assert_eq!(ack["data"]["revision"], 1);
    // The same op again (a resend after a lost ack) is applied once.
    let again = ann.request(edit(0, json!(["abc"]), 1), "e1-again").await;
    assert_eq!(
        (again["type"].as_str(), again["data"]["revision"].as_u64()),
        (Some("ack"), Some(1))
    );
    let e = ann.request(edit(5, json!([3, "x"]), 2), "e2").await;
    assert_eq!(e["code"], "resync_required");
    ann.request(edit(1, json!([3, "d"]), 2), "e3").await;
    ann.request(edit(2, json!([4, "e"]), 3), "e4").await;
    ann.request(edit(3, json!([5, "f"]), 4), "e5").await;
    // Revision 0 is older than the two kept ops.
    let e = ann.request(edit(0, json!(["z"]), 5), "e6").await;
    assert_eq!(e["code"], "resync_required");
    let e = ann.request(edit(4, json!([99, "z"]), 6), "e7").await;
    assert_eq!(e["code"], "invalid_op");
    let e = ann
        .request(
            doc(
                "doc:edit",
                json!({"field": "body", "revision": 4, "op": [1, 0], "client_id": "c", "seq": 1}),
            ),
            "bad",
        )
        .await;
    assert_eq!(e["code"], "invalid_field", "a zero in an op is malformed");
    // Ben saw exactly one op per applied edit.
    let ops = ben.collect_type("doc:op", Duration::from_millis(500)).await;
    assert_eq!(ops.len(), 4, "{ops:?}");
    let state = ben.request(doc("doc:sync", json!({})), "s").await;
    assert_eq!(
        state["fields"]["body"],
        json!({"text": "abcdef", "revision": 4})
    );
}

#[actix_web::test]
async fn structured_fields_report_conflicts_and_resolve_by_resending() {
    let app = spawn_app().await;
    let mut ann = joined(&app, "ann").await;
    let mut ben = joined(&app, "ben").await;
    let set = |value: Value, version: u64| {
        doc(
            "doc:set",
            json!({"field": "amount", "value": value, "version": version}),
        )
    };
    let ack = ann.request(set(json!(100), 0), "a1").await;
    assert_eq!(ack["data"]["field_version"], 1);
    let seen = ben.recv_type("doc:field").await;
    assert_eq!(
        (seen["value"].as_i64(), seen["user_id"].as_str()),
        (Some(100), Some("ann"))
    );
    // Ben set from version 0 too: conflict, with both values and who changed it.
    let conflict = ben.request(set(json!(250), 0), "b1").await;
    assert_eq!(conflict["type"], "doc:conflict");
    assert_eq!(conflict["your_value"], 250);
    assert_eq!(conflict["current_value"], 100);
    assert_eq!(conflict["current_version"], 1);
    assert_eq!(conflict["changed_by"], "ann");
    let ack = ben.request(set(json!(250), 1), "b2").await;
    assert_eq!(
        (ack["type"].as_str(), ack["data"]["field_version"].as_u64()),
        (Some("ack"), Some(2))
    );
    assert_eq!(ann.recv_type("doc:field").await["value"], 250);
    let token = app.token("ann", "acme");
    let (_, info) = app
        .get("/api/v1/collaboration/invoice/7", Some(&token))
        .await;
    assert_eq!(info["total_conflicts_resolved"], 1);
    assert_eq!(info["total_edits"], 2);
    assert_eq!(info["live"], true);
    let users: Vec<&str> = info["active_users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(users, vec!["ann", "ben"]);
    // A text edit on a structured field is refused.
    let e = ann
        .request(
            doc(
                "doc:edit",
                json!({"field": "amount", "revision": 0, "op": ["x"], "client_id": "c", "seq": 1}),
            ),
            "k",
        )
        .await;
    assert_eq!(e["code"], "wrong_field_kind");
}

#[actix_web::test]
async fn undo_and_redo_own_edits_after_others_edited() {
    let app = spawn_app().await;
    let mut ann = joined(&app, "ann").await;
    let mut ben = joined(&app, "ben").await;
    let edit = |rev: u64, op: Value, client: &str, seq: u64| {
        doc(
            "doc:edit",
            json!({"field": "body", "revision": rev, "op": op, "client_id": client, "seq": seq}),
        )
    };
    ann.request(edit(0, json!(["hello"]), "a", 1), "1").await;
    ben.request(edit(1, json!([5, " world"]), "b", 1), "2")
        .await;
    let ack = ann
        .request(doc("doc:undo", json!({"field": "body"})), "u")
        .await;
    assert_eq!(ack["data"]["revision"], 3);
    // The undo is sent to everyone, the undoer too.
    let op = ann
        .recv_where("undo op", |m| m["type"] == "doc:op" && m["kind"] == "undo")
        .await;
    assert_eq!(op["op"], json!([-5, 6]));
    let state = ben.request(doc("doc:sync", json!({})), "s").await;
    assert_eq!(state["fields"]["body"]["text"], " world");
    ann.request(doc("doc:redo", json!({"field": "body"})), "r")
        .await;
    let state = ben.request(doc("doc:sync", json!({})), "s2").await;
    assert_eq!(state["fields"]["body"]["text"], "hello world");
    let e = ben
        .request(doc("doc:redo", json!({"field": "body"})), "r2")
        .await;
    assert_eq!(e["code"], "nothing_to_undo");
}

#[actix_web::test]
async fn hard_locks_reject_soft_locks_warn_and_status_is_broadcast() {
    let app = spawn_app().await;
    let mut ann = joined(&app, "ann").await;
    let mut ben = joined(&app, "ben").await;
    let ack = ann
        .request(
            doc(
                "doc:lock",
                json!({"field": "title", "mode": "hard", "reason": "rewording"}),
            ),
            "l1",
        )
        .await;
    assert_eq!(
        (ack["type"].as_str(), ack["data"]["mode"].as_str()),
        (Some("ack"), Some("hard"))
    );
    let status = ben.recv_type("doc:lock_status").await;
    assert_eq!(status["locks"][0]["user_id"], "ann");
    assert_eq!(status["locks"][0]["reason"], "rewording");

    let e = ben
        .request(
            doc(
                "doc:edit",
                json!({"field": "title", "revision": 0, "op": ["x"], "client_id": "b", "seq": 1}),
            ),
            "e",
        )
        .await;
    assert_eq!(e["code"], "locked");
    let e = ben
        .request(doc("doc:lock", json!({"field": "title"})), "l2")
        .await;
    assert_eq!(e["code"], "lock_conflict");
    let e = ben.request(doc("doc:lock", json!({})), "l3").await;
    assert_eq!(
        e["code"], "lock_conflict",
        "the entity lock overlaps every field lock"
    );
    let ok = ann
        .request(
            doc(
                "doc:edit",
                json!({"field": "title", "revision": 0, "op": ["x"], "client_id": "a", "seq": 1}),
            ),
            "e2",
        )
        .await;
    assert_eq!(ok["type"], "ack", "the holder edits freely");

    ann.request(
        doc("doc:lock", json!({"field": "notes", "mode": "soft"})),
        "l4",
    )
    .await;
    let warned = ben
        .request(
            doc(
                "doc:edit",
                json!({"field": "notes", "revision": 0, "op": ["y"], "client_id": "b", "seq": 2}),
            ),
            "e3",
        )
        .await;
    assert_eq!(warned["type"], "ack");
    assert_eq!(warned["data"]["warning"]["locked_by"], "ann");

    let e = ben
        .request(doc("doc:unlock", json!({"field": "title"})), "u1")
        .await;
    assert_eq!(e["code"], "not_locked");
    ann.request(doc("doc:unlock", json!({"field": "title"})), "u2")
        .await;
    let ok = ben.request(doc("doc:edit", json!({"field": "title", "revision": 1, "op": [1, "z"], "client_id": "b", "seq": 3})), "e4").await;
    assert_eq!(ok["type"], "ack");
}

#[actix_web::test]
async fn locks_expire_and_are_released_when_the_holders_last_connection_goes() {
    let app = spawn_app().await;
    let mut ann = joined(&app, "ann").await;
    let mut ben = joined(&app, "ben").await;
    ann.request(
        doc(
            "doc:lock",
            json!({"field": "title", "mode": "hard", "ttl_secs": 1}),
        ),
        "l",
    )
    .await;
    ben.recv_where("locked", |m| {
        m["type"] == "doc:lock_status" && m["locks"].as_array().unwrap().len() == 1
    })
    .await;
    let started = std::time::Instant::now();
    ben.recv_where("expired", |m| {
        m["type"] == "doc:lock_status" && m["locks"].as_array().unwrap().is_empty()
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "expired early"
    );

    // Renewal keeps it; a second device keeps it; the last disconnect releases it.
    ann.request(
        doc(
            "doc:lock",
            json!({"field": "title", "mode": "hard", "ttl_secs": 60}),
        ),
        "l2",
    )
    .await;
    let ann2 = joined(&app, "ann").await;
    ann.close().await;
    // The server has taken ann's first connection off (ben and ann2 remain).
    app.wait_stats(|s| s.connections == 2).await;
    let e = ben
        .request(
            doc(
                "doc:edit",
                json!({"field": "title", "revision": 0, "op": ["x"], "client_id": "b", "seq": 1}),
            ),
            "e",
        )
        .await;
    assert_eq!(
        e["code"], "locked",
        "ann still has a connection in the room"
    );
    ann2.close().await;
    ben.recv_where("released", |m| {
        m["type"] == "doc:lock_status" && m["locks"].as_array().unwrap().is_empty()
    })
    .await;
    let ok = ben
        .request(
            doc(
                "doc:edit",
                json!({"field": "title", "revision": 0, "op": ["x"], "client_id": "b", "seq": 2}),
            ),
            "e2",
        )
        .await;
    assert_eq!(ok["type"], "ack");
}

#[actix_web::test]
async fn rest_locks_are_visible_to_members_and_tenant_scoped() {
    let app = spawn_app().await;
    let mut ben = joined(&app, "ben").await;
    let ann = app.token("ann", "acme");
    let (status, lock) = app
        .send_json(
            "POST",
            "/api/v1/collaboration/invoice/7/lock",
            Some(&ann),
            &json!({"field": "total", "mode": "hard"}),
        )
        .await;
    assert_eq!(status, 201, "{lock}");
    assert_eq!(lock["field"], "total");
    ben.recv_where("rest lock", |m| {
        m["type"] == "doc:lock_status" && m["locks"][0]["user_id"] == "ann"
    })
    .await;
    let (status, body) = app
        .send_json(
            "POST",
            "/api/v1/collaboration/invoice/7/lock",
            Some(&app.token("ben", "acme")),
            &json!({"field": "total"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("lock_conflict"))
    );
    // Another tenant's invoice 7 is a different document.
    let eve = app.token("eve", "other");
    let (status, _) = app
        .send_json(
            "POST",
            "/api/v1/collaboration/invoice/7/lock",
            Some(&eve),
            &json!({"field": "total"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, info) = app.get("/api/v1/collaboration/invoice/7", Some(&eve)).await;
    assert_eq!(info["locks"].as_array().unwrap().len(), 1);
    assert_eq!(info["locks"][0]["user_id"], "eve");
    let (_, sessions) = app.get("/api/v1/collaboration/sessions", Some(&ann)).await;
    let sessions = sessions["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["entity_id"], "7");
    let (status, _) = app
        .send_json(
            "DELETE",
            "/api/v1/collaboration/invoice/7/lock?field=total",
            Some(&ann),
            &json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = app
        .send_json(
            "DELETE",
            "/api/v1/collaboration/invoice/7/lock?field=total",
            Some(&ann),
            &json!({}),
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_locked")));
}

#[actix_web::test]
async fn remote_cursors_are_moved_by_edits() {
    let app = spawn_app().await;
    let mut ann = joined(&app, "ann").await;
    ann.request(doc("doc:edit", json!({"field": "body", "revision": 0, "op": ["hello world"], "client_id": "a", "seq": 1})), "e").await;
    // Ann's cursor sits before "world" (index 6).
    ann.request(
        json!({"type": "cursor:move", "entity_type": "invoice", "entity_id": "7", "position": 6,
                       "selection": {"start": 6, "end": 11}, "field": "body"}),
        "c",
    )
    .await;
    ann.request(
        doc(
            "doc:edit",
            json!({"field": "body", "revision": 1, "op": ["big ", 11], "client_id": "a", "seq": 2}),
        ),
        "e2",
    )
    .await;
    let mut ben = app.connect_ready("ben", "acme").await;
    // The cursor is moved by the second edit after its ack.
    let (_, sync) = ben
        .join_until_cursors(
            json!({"type": "room:join", "entity_type": "invoice", "entity_id": "7"}),
            |s| s["cursors"][0]["position"] != 6,
        )
        .await;
    assert_eq!(sync["cursors"][0]["position"], 10, "still before \"world\"");
    assert_eq!(
        sync["cursors"][0]["selection"],
        json!({"start": 10, "end": 15})
    );
}

fn join_msg() -> Value {
    json!({"type": "room:join", "entity_type": "invoice", "entity_id": "7"})
}

fn cursor_of<'a>(sync: &'a Value, user: &str) -> &'a Value {
    sync["cursors"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["user_id"] == user))
        .unwrap_or_else(|| panic!("no cursor of {user} in {sync}"))
}

#[actix_web::test]
async fn a_cursor_moved_right_after_an_edit_is_moved_once() {
    let app = spawn_app().await;
    let mut ann = joined(&app, "ann").await;
    let mut ben = joined(&app, "ben").await;
    let ack = ann.request(doc("doc:edit", json!({"field": "body", "revision": 0, "op": ["hello world"], "client_id": "a", "seq": 1})), "e1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    // Ben has the text before he places his cursor (the op may reach him
    // after Ann's ack; left unread, it would be taken for the second op).
    let first = ben
        .recv_where("doc:op revision 1", |v| v["type"] == "doc:op")
        .await;
    assert_eq!(first["revision"], 1, "{first}");
    // Ben's cursor is on the first "l" (index 2).
    ben.request(
        json!({"type": "cursor:move", "entity_type": "invoice", "entity_id": "7", "position": 2, "field": "body"}),
        "bc",
    )
    .await;
    // Ann inserts "XX" at the start and at once puts her cursor after
    // "hello" in her own text (index 7, selecting "hello"): the move is in
    // coordinates that already have her edit. One write, so the server reads
    // both before anything else runs.
    ann.send_together(&[
        doc("doc:edit", json!({"field": "body", "revision": 1, "op": ["XX", 11], "client_id": "a", "seq": 2, "ref": "e2"})),
        json!({"type": "cursor:move", "ref": "c2", "entity_type": "invoice", "entity_id": "7",
               "position": 7, "selection": {"start": 2, "end": 7}, "field": "body"}),
    ])
    .await;
    // Both acks, in either order (the move's comes without waiting for storage).
    let mut acked = Vec::new();
    while acked.len() < 2 {
        let ack = ann
            .recv_where("ack e2 or c2", |v| v["ref"] == "e2" || v["ref"] == "c2")
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        acked.push(ack["ref"].clone());
    }
    // Others see the op, and Ann's cursor where she put it (the cursor is
    // relayed at once, the op once stored: either may come first).
    let (mut op, mut update) = (None, None);
    while op.is_none() || update.is_none() {
        let m = ben
            .recv_where("doc:op or cursor:update", |v| {
                v["type"] == "doc:op" || v["type"] == "cursor:update"
            })
            .await;
        if m["type"] == "doc:op" {
            op = Some(m);
        } else {
            update = Some(m);
        }
    }
    let (op, update) = (op.unwrap(), update.unwrap());
    assert_eq!(op["op"], json!(["XX", 11]), "{op}");
    assert_eq!(update["cursor"]["user_id"], "ann", "{update}");
    assert_eq!(update["cursor"]["position"], 7, "{update}");
    // A joiner gets both on the characters they were on: Ann's was not moved
    // by her own edit a second time, Ben's was moved once.
    let mut cat = app.connect_ready("cat", "acme").await;
    cat.request(join_msg(), "join").await;
    let sync = cat.recv_type("cursor:sync").await;
    let ann_cursor = cursor_of(&sync, "ann");
    assert_eq!(ann_cursor["position"], 7, "after \"hello\": {sync}");
    assert_eq!(ann_cursor["selection"], json!({"start": 2, "end": 7}));
    assert_eq!(
        cursor_of(&sync, "ben")["position"],
        4,
        "on the first \"l\": {sync}"
    );
}

#[actix_web::test]
async fn a_connection_removed_from_the_room_cannot_edit() {
    use tandem::actors::registry::FindRoom;
    use tandem::actors::room::LeaveRoom;
    use tandem::ids::{ConnectionId, RoomId, TenantId};

    let app = spawn_app().await;
    let mut ann = app.connect_ready("ann", "acme").await;
    let users = ann.request(join_msg(), "join").await;
    let conn_id = users["users"][0]["devices"][0]["connection_id"]
        .as_str()
        .and_then(|c| c.strip_prefix('c'))
        .and_then(|c| c.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no connection id in {users}"));
    let mut ben = joined(&app, "ben").await;
    let ack = ann.request(doc("doc:edit", json!({"field": "body", "revision": 0, "op": ["hello"], "client_id": "a", "seq": 1})), "e1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    // Ann's later requests go to the document session directly.
    let state = ann.request(doc("doc:sync", json!({})), "s1").await;
    assert_eq!(state["fields"]["body"]["text"], "hello", "{state}");

    // The room drops Ann's connection (as a kick would) while her connection
    // still believes it is a member.
    let room = app
        .services
        .registry
        .send(FindRoom(RoomId::new(TenantId::new("acme"), "invoice", "7")))
        .await
        .unwrap()
        .expect("the room is live");
    room.send(LeaveRoom {
        connection: ConnectionId(conn_id),
    })
    .await
    .unwrap();
    let left = ben.recv_type("room:user_left").await;
    assert_eq!(left["user_id"], "ann", "{left}");

    // The session refuses her edits, locks and reads.
    for (r, msg) in [
        (
            "e2",
            doc(
                "doc:edit",
                json!({"field": "body", "revision": 1, "op": [5, "!"], "client_id": "a", "seq": 2}),
            ),
        ),
        (
            "l2",
            doc("doc:lock", json!({"field": "body", "mode": "hard"})),
        ),
        ("s2", doc("doc:sync", json!({}))),
    ] {
        let reply = ann.request(msg, r).await;
        assert_eq!(
            (reply["type"].as_str(), reply["code"].as_str()),
            (Some("error"), Some("not_in_room")),
            "{r}: {reply}"
        );
    }
    let state = ben.request(doc("doc:sync", json!({})), "s3").await;
    assert_eq!(state["fields"]["body"]["text"], "hello", "{state}");
    assert_eq!(state["locks"], json!([]), "{state}");

    // Joining again makes her a member of the session again.
    let users = ann.request(join_msg(), "join2").await;
    assert_eq!(users["type"], "room:users", "{users}");
    let ack = ann
        .request(
            doc(
                "doc:edit",
                json!({"field": "body", "revision": 1, "op": [5, "!"], "client_id": "a", "seq": 3}),
            ),
            "e3",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
}

#[actix_web::test]
async fn a_restarted_server_has_the_document_at_the_same_revision() {
    let db = std::sync::Arc::new(TestDb::create().await);
    let settings = test_settings(&db);
    let (text, revision, version) = {
        let app = spawn_app_on(settings.clone(), db.clone()).await;
        let mut ann = joined(&app, "ann").await;
        for (i, piece) in ["one ", "two ", "three"].iter().enumerate() {
            let len = ["", "one ", "one two "][i].chars().count();
            ann.request(
                doc("doc:edit", json!({"field": "body", "revision": i, "op": if len == 0 { json!([piece]) } else { json!([len, piece]) },
                                       "client_id": "a", "seq": i + 1})),
                &format!("e{i}"),
            )
            .await;
        }
        ann.request(
            doc(
                "doc:set",
                json!({"field": "status", "value": "sent", "version": 0}),
            ),
            "s",
        )
        .await;
        let state = ann.request(doc("doc:sync", json!({})), "sync").await;
        app.shutdown.shutdown().await;
        (
            state["fields"]["body"]["text"].clone(),
            state["fields"]["body"]["revision"].clone(),
            state["version"].clone(),
        )
    };
    assert_eq!(text, "one two three");
    let app = spawn_app_on(settings, db.clone()).await;
    let mut ben = joined(&app, "ben").await;
    let state = ben.request(doc("doc:sync", json!({})), "sync").await;
    assert_eq!(state["fields"]["body"]["text"], text);
    assert_eq!(state["fields"]["body"]["revision"], revision);
    assert_eq!(state["version"], version);
    assert_eq!(state["values"]["status"]["value"], "sent");
    // Editing continues from the same revision.
    let ack = ben
        .request(doc("doc:edit", json!({"field": "body", "revision": 3, "op": [13, "!"], "client_id": "b", "seq": 1})), "e")
        .await;
    assert_eq!(ack["data"]["revision"], 4);
    // History by version: version 2 had "one two ".
    let token = app.token("ben", "acme");
    let (status, old) = app
        .get("/api/v1/collaboration/invoice/7/versions/2", Some(&token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(old["fields"]["body"]["text"], "one two ");
    let (status, body) = app
        .get("/api/v1/collaboration/invoice/7/versions/99", Some(&token))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("no_such_version"))
    );
    drop(db);
}

/// A client whose ack was lost resends its op after the document was
/// stored and reloaded from a snapshot (the server restarted): the resend
/// is acknowledged with its first revision and applied once.
/// (Before snapshots kept each client's last `seq`, it was applied twice.)
#[actix_web::test]
async fn a_resend_after_a_reload_from_a_snapshot_is_applied_once() {
    let db = std::sync::Arc::new(TestDb::create().await);
    let mut settings = test_settings(&db);
    // A snapshot after every change: the reload replays no event.
    settings.documents.snapshot_every = 1;
    {
        let app = spawn_app_on(settings.clone(), db.clone()).await;
        let mut ann = joined(&app, "ann").await;
        for (i, op) in [json!(["one "]), json!([4, "two"])].into_iter().enumerate() {
            let ack = ann
                .request(
                    doc("doc:edit", json!({"field": "body", "revision": i, "op": op, "client_id": "tab-a", "seq": i + 1})),
                    &format!("e{i}"),
                )
                .await;
            assert_eq!(ack["type"], "ack", "{ack}");
        }
        app.shutdown.shutdown().await;
    }
    let app = spawn_app_on(settings, db.clone()).await;
    let mut ann = joined(&app, "ann").await;
    let ack = ann
        .request(
            doc("doc:edit", json!({"field": "body", "revision": 1, "op": [4, "two"], "client_id": "tab-a", "seq": 2})),
            "again",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["data"]["revision"], 2, "{ack}");
    let state = ann.request(doc("doc:sync", json!({})), "sync").await;
    assert_eq!(state["fields"]["body"]["text"], "one two", "{state}");
    assert_eq!(state["fields"]["body"]["revision"], 2, "{state}");
    drop(db);
}

/// An `edited` activity is published only once the edit it reports is
/// stored: a member sees the edit's `doc:op` (sent after the write) first.
/// (Before, the activity was recorded when the edit was applied and raced
/// the edit's own write.)
#[actix_web::test]
async fn an_edit_reaches_the_activity_feed_only_after_it_is_stored() {
    let app = spawn_app().await;
    let mut watcher = joined(&app, "wendy").await;
    let editors = ["ann", "bob", "cid", "dan", "eve", "fay"];
    for (revision, user) in editors.iter().enumerate() {
        let mut c = joined(&app, user).await;
        let op = if revision == 0 {
            json!(["x"])
        } else {
            json!([revision, "x"])
        };
        let ack = c
            .request(
                doc("doc:edit", json!({"field": "body", "revision": revision, "op": op, "client_id": user, "seq": 1})),
                &format!("e{revision}"),
            )
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let mut ops_seen = std::collections::HashSet::new();
    let mut activities = 0;
    while activities < editors.len() {
        let m = watcher.recv().await;
        match m["type"].as_str() {
            Some("doc:op") => {
                ops_seen.insert(m["user_id"].as_str().unwrap().to_owned());
            }
            Some("activity") if m["activity"]["action"] == "edited" => {
                let user = m["activity"]["user_id"].as_str().unwrap();
                assert!(
                    ops_seen.contains(user),
                    "the activity of {user}'s edit came before its doc:op: {m}"
                );
                activities += 1;
            }
            _ => {}
        }
    }
}

#[actix_web::test]
async fn edits_and_new_locks_are_recorded_in_the_activity_feed() {
    let app = spawn_app().await;
    let mut ann = joined(&app, "ann").await;
    let mut ben = app.connect_ready("ben", "acme").await;
    ann.request(
        doc(
            "doc:edit",
            json!({"field": "body", "revision": 0, "op": ["hi"], "client_id": "a", "seq": 1}),
        ),
        "e1",
    )
    .await;
    ann.request(
        doc(
            "doc:edit",
            json!({"field": "body", "revision": 1, "op": [2, "!"], "client_id": "a", "seq": 2}),
        ),
        "e2",
    )
    .await;
    ann.request(doc("doc:lock", json!({"field": "body"})), "l1")
        .await;
    ann.request(doc("doc:lock", json!({"field": "body"})), "l2-renewal")
        .await;
    // Team activity reaches the tenant live.
    let live = ben
        .recv_where("locked activity", |m| {
            m["type"] == "activity" && m["activity"]["action"] == "locked"
        })
        .await;
    assert!(live.to_string().contains("invoice"), "{live}");
    let token = app.token("ben", "acme");
    let mut actions = Vec::new();
    for _ in 0..50 {
        let (status, body) = app
            .get("/api/v1/activity/entity/invoice/7", Some(&token))
            .await;
        assert_eq!(status, 200);
        actions = body["activity"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap().to_owned())
            .collect();
        if actions.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    actions.sort();
    assert_eq!(
        actions,
        vec!["edited", "locked"],
        "one `edited` per user per period, one `locked` per new lock"
    );
}
