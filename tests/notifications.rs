//! Notifications end to end: publishing (service role only), live delivery
//! and counts on every socket, offline users and resume by id, the REST
//! inbox, read marks over REST and WebSocket, settings, expiry, tenant
//! isolation; and the backend room broadcast.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use std::time::Duration;

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {token}"))]
}

/// Reads messages until `notification:count`, returning the notifications
/// seen before it and the count.
async fn notifications_then_count(c: &mut WsClient) -> (Vec<Value>, i64) {
    let mut seen = Vec::new();
    loop {
        let m = c.recv().await;
        match m["type"].as_str() {
            Some("notification") => seen.push(m),
            Some("notification:count") => return (seen, m["unread"].as_i64().unwrap()),
            _ => {}
        }
    }
}

#[actix_web::test]
async fn an_online_user_gets_it_and_the_count_on_every_socket() {
    let app = spawn_app().await;
    let mut laptop = app.connect_ready("bob", "acme").await;
    let mut phone = app.connect_ready("bob", "acme").await;
    let mut other = app.connect_ready("alice", "acme").await;
    let (status, body) = app
        .post_notification(
            "acme",
            json!({
                "user_ids": ["bob"], "type": "payment_received", "title": "Payment received",
                "message": "Invoice #1234 was paid", "priority": "high",
                "source_type": "invoice", "source_id": "1234",
                "action_url": "/invoices/1234", "action_label": "Open",
                "expires_at": "2999-01-01T00:00:00Z"
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["ids"][0].as_i64().unwrap();
    assert_eq!(
        body["notifications"][0],
        json!({"id": id, "user_id": "bob"})
    );
    for c in [&mut laptop, &mut phone] {
        let (seen, unread) = notifications_then_count(c).await;
        assert_eq!(seen.len(), 1, "the notification comes before the count");
        let n = &seen[0]["notification"];
        assert_eq!(n["id"], id);
        assert_eq!(n["type"], "payment_received");
        assert_eq!(n["title"], "Payment received");
        assert_eq!(n["message"], "Invoice #1234 was paid");
        assert_eq!(n["priority"], "high");
        assert_eq!(n["source"], json!({"type": "invoice", "id": "1234"}));
        assert_eq!(
            n["action"],
            json!({"url": "/invoices/1234", "label": "Open"})
        );
        assert_eq!(n["is_read"], false);
        assert!(n["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(n["expires_at"], "2999-01-01T00:00:00.000Z");
        assert!(seen[0].get("ref").is_none());
        assert_eq!(unread, 1);
    }
    // Not for alice.
    while let Some(m) = other.try_recv(Duration::from_millis(500)).await {
        assert!(
            !m["type"].as_str().unwrap().starts_with("notification"),
            "{m}"
        );
    }
    // Bob was connected: the row records WebSocket delivery.
    let mut conn = app.db.conn().await;
    use diesel::{ExpressionMethods, QueryDsl};
    use tandem::db::schema::realtime_notifications::dsl as n;
    let mut delivered = false;
    for _ in 0..50 {
        delivered = n::realtime_notifications
            .filter(n::id.eq(id))
            .select(n::delivered_websocket)
            .first::<bool>(&mut conn)
            .await
            .unwrap();
        if delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(delivered);
}

/// The connect-time count in a tenant (or a node) without unread
/// notifications comes from the node's memory (no query); a notification
/// created after that must still be counted on the next connect, in its
/// tenant whether seen before or not, and reading it brings the count back
/// to 0.
#[actix_web::test]
async fn a_tenant_known_to_have_nothing_unread_still_counts_a_new_notification() {
    let app = spawn_app().await;
    let count_in = |user: &'static str, tenant: &'static str| {
        let app = &app;
        async move {
            let mut c = app.connect(user, tenant).await;
            c.recv_type("welcome").await;
            let n = c.recv_type("notification:count").await["unread"]
                .as_i64()
                .unwrap();
            (c, n)
        }
    };
    // The first connect's count is the probe's answer (nobody anywhere has
    // an unread notification), settled before the count is sent: the next
    // connects skip the query.
    let (_a, n) = count_in("ann", "quiet").await;
    assert_eq!(n, 0);
    let (_b, n) = count_in("ben", "quiet").await;
    assert_eq!(n, 0);
    // The probe marked the whole node: a tenant never seen before must
    // still count its first.
    app.notify("fresh", "eve", "New tenant's first").await;
    let (_e, n) = count_in("eve", "fresh").await;
    assert_eq!(n, 1, "a creation unmarks the node");

    app.notify("quiet", "cat", "First one in this tenant").await;
    let (mut c, n) = count_in("cat", "quiet").await;
    assert_eq!(n, 1, "a creation unmarks the tenant");
    c.send(json!({"type": "notification:read", "all": true, "ref": "r"}))
        .await;
    c.recv_where("the read ack", |m| m["type"] == "ack" && m["ref"] == "r")
        .await;
    let (_d, n) = count_in("cat", "quiet").await;
    assert_eq!(n, 0);

    // Another tenant's notification is its own.
    app.notify("other", "cat", "Elsewhere").await;
    let (_e, n) = count_in("dan", "quiet").await;
    assert_eq!(n, 0);
}

#[actix_web::test]
async fn an_offline_user_gets_it_on_connect_sync_and_rest() {
    let app = spawn_app().await;
    let id = app.notify("acme", "carol", "While you were away").await;
    let mut c = app.connect("carol", "acme").await;
    c.recv_type("welcome").await;
    let count = c.recv_type("notification:count").await;
    assert_eq!(count["unread"], 1, "the count is sent on connect");
    c.recv_type("presence:list").await;

    c.send(json!({"type": "notification:sync", "after_id": 0, "ref": "s"}))
        .await;
    let n = c.recv().await;
    assert_eq!(
        (n["type"].as_str(), n["ref"].as_str()),
        (Some("notification"), Some("s"))
    );
    assert_eq!(n["notification"]["id"], id);
    let count = c.recv().await;
    assert_eq!(count["type"], "notification:count");
    assert_eq!(
        (count["unread"].as_i64(), count["ref"].as_str()),
        (Some(1), Some("s"))
    );
    let ack = c.recv().await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(
        ack["data"],
        json!({"count": 1, "last_id": id, "has_more": false})
    );

    let token = app.token("carol", "acme");
    let (status, list) = app.get("/api/v1/notifications", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(list["notifications"][0]["id"], id);
    assert_eq!(list["notifications"][0]["title"], "While you were away");

    // Carol was offline: no WebSocket delivery recorded.
    let mut conn = app.db.conn().await;
    use diesel::{ExpressionMethods, QueryDsl};
    use tandem::db::schema::realtime_notifications::dsl as n;
    let delivered: bool = n::realtime_notifications
        .filter(n::id.eq(id))
        .select(n::delivered_websocket)
        .first(&mut conn)
        .await
        .unwrap();
    assert!(!delivered);
}

#[actix_web::test]
async fn reconnecting_with_the_last_id_gets_exactly_the_missed_ones_in_order() {
    let app = spawn_app().await;
    let mut c = app.connect_ready("dave", "acme").await;
    let mut last_seen = 0;
    for i in 0..3 {
        app.notify("acme", "dave", &format!("early {i}")).await;
    }
    for _ in 0..3 {
        let n = c.recv_type("notification").await;
        last_seen = n["notification"]["id"].as_i64().unwrap();
    }
    let r = c
        .request(json!({"type": "notification:read", "all": true}), "ra")
        .await;
    assert_eq!(r["data"]["unread"], 0);
    c.close().await;

    let mut missed = Vec::new();
    for i in 0..4 {
        missed.push(app.notify("acme", "dave", &format!("missed {i}")).await);
    }
    // Someone else's notification is never part of dave's sync.
    app.notify("acme", "erin", "not dave's").await;

    let mut c = app.connect_ready("dave", "acme").await;
    c.send(json!({"type": "notification:sync", "after_id": last_seen, "ref": 9}))
        .await;
    let (seen, unread) = notifications_then_count(&mut c).await;
    let ids: Vec<i64> = seen
        .iter()
        .map(|m| m["notification"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, missed, "exactly the missed ones, in order");
    let titles: Vec<&str> = seen
        .iter()
        .map(|m| m["notification"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["missed 0", "missed 1", "missed 2", "missed 3"]);
    assert_eq!(unread, 4);
    let ack = c.recv_type("ack").await;
    assert_eq!(ack["ref"], 9);
    assert_eq!(ack["data"]["last_id"], missed[3]);
    assert_eq!(ack["data"]["has_more"], false);
}

#[actix_web::test]
async fn websocket_read_marks_update_every_socket() {
    let app = spawn_app().await;
    let mut a = app.connect_ready("bob", "acme").await;
    let mut b = app.connect_ready("bob", "acme").await;
    let first = app.notify("acme", "bob", "one").await;
    app.notify("acme", "bob", "two").await;
    for c in [&mut a, &mut b] {
        c.recv_where("count 2", |m| {
            m["type"] == "notification:count" && m["unread"] == 2
        })
        .await;
    }
    let ack = a
        .request(json!({"type": "notification:read", "id": first}), "r1")
        .await;
    assert_eq!(
        (ack["type"].as_str(), ack["data"]["unread"].as_i64()),
        (Some("ack"), Some(1))
    );
    let count = b.recv_type("notification:count").await;
    assert_eq!(count["unread"], 1, "the other socket hears the new count");
    // Reading it again is fine; an unknown id is not.
    let again = a
        .request(json!({"type": "notification:read", "id": first}), "r2")
        .await;
    assert_eq!(again["type"], "ack");
    let e = a
        .request(json!({"type": "notification:read", "id": 999_999}), "r3")
        .await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("not_found"))
    );
    let e = a
        .request(
            json!({"type": "notification:read", "id": first, "all": true}),
            "r4",
        )
        .await;
    assert_eq!(e["code"], "invalid_field");
    let e = a.request(json!({"type": "notification:read"}), "r5").await;
    assert_eq!(e["code"], "invalid_field");
    let e = a
        .request(json!({"type": "notification:sync", "after_id": -1}), "r6")
        .await;
    assert_eq!(e["code"], "invalid_field");
    let ack = a
        .request(json!({"type": "notification:read", "all": true}), "r7")
        .await;
    assert_eq!(ack["data"]["unread"], 0);
    b.recv_where("count 0", |m| {
        m["type"] == "notification:count" && m["unread"] == 0
    })
    .await;
}

#[actix_web::test]
async fn the_rest_inbox_lists_counts_marks_and_deletes() {
    let app = spawn_app().await;
    let token = app.token("alice", "acme");
    let t = Some(token.as_str());
    let mut ids = Vec::new();
    for (i, kind) in ["mention", "comment", "mention", "task_assigned", "mention"]
        .iter()
        .enumerate()
    {
        let (s, b) = app
            .post_notification(
                "acme",
                json!({"user_ids": ["alice"], "type": kind, "title": format!("n{i}")}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        ids.push(b["ids"][0].as_i64().unwrap());
    }
    let mut socket = app.connect_ready("alice", "acme").await;

    let (s, all) = app.get("/api/v1/notifications", t).await;
    assert_eq!(s, 200);
    let got: Vec<i64> = all["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(got, newest_first);
    assert_eq!(all["has_more"], false);

    let (_, page) = app.get("/api/v1/notifications?limit=2", t).await;
    assert_eq!(page["notifications"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    let (_, older) = app
        .get(
            &format!("/api/v1/notifications?limit=2&before_id={}", ids[3]),
            t,
        )
        .await;
    let older: Vec<i64> = older["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    assert_eq!(older, vec![ids[2], ids[1]]);
    let (_, after) = app
        .get(&format!("/api/v1/notifications?after_id={}", ids[2]), t)
        .await;
    let after: Vec<i64> = after["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    assert_eq!(after, vec![ids[3], ids[4]], "after_id lists oldest first");
    let (_, mentions) = app.get("/api/v1/notifications?type=mention", t).await;
    assert_eq!(mentions["notifications"].as_array().unwrap().len(), 3);
    let (s, e) = app.get("/api/v1/notifications?limit=0", t).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_query")));
    let (s, e) = app.get("/api/v1/notifications?type=a%20b", t).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_query")));

    let (s, c) = app.get("/api/v1/notifications/unread-count", t).await;
    assert_eq!((s, c["unread"].as_i64()), (200, Some(5)));

    let (s, r) = app
        .send_json(
            "POST",
            &format!("/api/v1/notifications/{}/read", ids[0]),
            t,
            &json!({}),
        )
        .await;
    assert_eq!((s, r["unread"].as_i64()), (200, Some(4)));
    let count = socket.recv_type("notification:count").await;
    assert_eq!(count["unread"], 4, "REST read marks reach the sockets");
    let (_, unread) = app.get("/api/v1/notifications?unread=true", t).await;
    assert_eq!(unread["notifications"].as_array().unwrap().len(), 4);
    let (_, listed) = app.get("/api/v1/notifications", t).await;
    let first = listed["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == ids[0])
        .unwrap()
        .clone();
    assert_eq!(first["is_read"], true);
    assert!(first["read_at"].is_string());

    let (s, r) = app
        .send_json("POST", "/api/v1/notifications/read-all", t, &json!({}))
        .await;
    assert_eq!(
        (s, r["updated"].as_i64(), r["unread"].as_i64()),
        (200, Some(4), Some(0))
    );
    assert_eq!(socket.recv_type("notification:count").await["unread"], 0);

    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/notifications/{}", ids[1]),
            &bearer(&token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, e) = app
        .call(
            "DELETE",
            &format!("/api/v1/notifications/{}", ids[1]),
            &bearer(&token),
            None,
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (404, Some("not_found")));
    let (s, e) = app
        .send_json("POST", "/api/v1/notifications/999999/read", t, &json!({}))
        .await;
    assert_eq!((s, e["error"].as_str()), (404, Some("not_found")));
    let (s, e) = app
        .send_json("POST", "/api/v1/notifications/abc/read", t, &json!({}))
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_path")));
    let (_, listed) = app.get("/api/v1/notifications", t).await;
    assert_eq!(listed["notifications"].as_array().unwrap().len(), 4);
}

#[actix_web::test]
async fn settings_are_per_user_and_type() {
    let app = spawn_app().await;
    let token = app.token("alice", "acme");
    let t = Some(token.as_str());
    let (s, body) = app.get("/api/v1/notifications/settings", t).await;
    assert_eq!((s, &body), (200, &json!({"settings": {}})));
    let on = json!({"websocket": true, "web_push": false, "fcm": true, "email": true});
    let (s, body) = app
        .send_json(
            "PUT",
            "/api/v1/notifications/settings",
            t,
            &json!({"mention": on, "comment": {"websocket": false, "web_push": false, "fcm": false, "email": false}}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["settings"]["mention"], on);
    assert_eq!(body["settings"]["comment"]["websocket"], false);
    // Another user of the tenant and the same user id elsewhere see nothing.
    let (_, other) = app
        .get(
            "/api/v1/notifications/settings",
            Some(&app.token("bob", "acme")),
        )
        .await;
    assert_eq!(other["settings"], json!({}));
    let (_, other) = app
        .get(
            "/api/v1/notifications/settings",
            Some(&app.token("alice", "globex")),
        )
        .await;
    assert_eq!(other["settings"], json!({}));
    // null goes back to the defaults.
    let (s, body) = app
        .send_json(
            "PUT",
            "/api/v1/notifications/settings",
            t,
            &json!({"comment": null}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["settings"], json!({"mention": on}));
    // Bad bodies.
    let (s, e) = app
        .send_json(
            "PUT",
            "/api/v1/notifications/settings",
            t,
            &json!({"mention": {"websocket": true}}),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_body")));
    assert!(e["message"].as_str().unwrap().contains("mention"), "{e}");
    let (s, e) = app
        .send_json(
            "PUT",
            "/api/v1/notifications/settings",
            t,
            &json!({"bad type": null}),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_field")));
    let (s, e) = app
        .send_json("PUT", "/api/v1/notifications/settings", t, &json!({}))
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_body")));

    // websocket off for `comment`: stored and counted, not pushed live.
    app.send_json(
        "PUT",
        "/api/v1/notifications/settings",
        t,
        &json!({"comment": {"websocket": false, "web_push": false, "fcm": false, "email": false}}),
    )
    .await;
    let mut c = app.connect_ready("alice", "acme").await;
    let quiet = notify_typed(&app, "acme", "alice", "comment").await;
    let count = c.recv_type("notification:count").await;
    assert_eq!(count["unread"], 1);
    let loud = notify_typed(&app, "acme", "alice", "mention").await;
    let n = c.recv_type("notification").await;
    assert_eq!(
        n["notification"]["id"], loud,
        "the comment was not sent live"
    );
    let (_, list) = app.get("/api/v1/notifications", t).await;
    assert_eq!(list["notifications"][1]["id"], quiet);
}

async fn notify_typed(app: &TestApp, tenant: &str, user: &str, kind: &str) -> i64 {
    let (s, b) = app
        .post_notification(
            tenant,
            json!({"user_ids": [user], "type": kind, "title": kind}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["ids"][0].as_i64().unwrap()
}

#[actix_web::test]
async fn expired_notifications_are_not_listed_counted_or_synced() {
    let app = spawn_app().await;
    let token = app.token("alice", "acme");
    let t = Some(token.as_str());
    let gone = app.notify("acme", "alice", "soon gone").await;
    let kept = app.notify("acme", "alice", "kept").await;
    let mut conn = app.db.conn().await;
    diesel::sql_query(format!(
        "UPDATE realtime_notifications SET expires_at = now() - interval '1 second' WHERE id = {gone}"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let (_, list) = app.get("/api/v1/notifications", t).await;
    let ids: Vec<i64> = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![kept]);
    let (_, c) = app.get("/api/v1/notifications/unread-count", t).await;
    assert_eq!(c["unread"], 1);
    let (s, _) = app
        .send_json(
            "POST",
            &format!("/api/v1/notifications/{gone}/read"),
            t,
            &json!({}),
        )
        .await;
    assert_eq!(s, 404);
    let mut ws = app.connect_ready("alice", "acme").await;
    ws.send(json!({"type": "notification:sync", "after_id": 0, "ref": "s"}))
        .await;
    let (seen, unread) = notifications_then_count(&mut ws).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["notification"]["id"], kept);
    assert_eq!(unread, 1);
}

#[actix_web::test]
async fn only_services_publish_and_bad_bodies_get_400_naming_the_field() {
    let app = spawn_app_with_api_key(|_| {}).await;
    let good = json!({"user_ids": ["bob"], "type": "mention", "title": "Hi"});
    for role in [None, Some("admin")] {
        let token = token_with(&app.settings, "mallory", "acme", role, 60);
        let (s, e) = app
            .send_json("POST", "/api/v1/notifications", Some(&token), &good)
            .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (403, Some("forbidden")),
            "{role:?}"
        );
        // Forbidden comes before the body is looked at.
        let (s, _) = app
            .send_json(
                "POST",
                "/api/v1/notifications",
                Some(&token),
                &json!({"x": 1}),
            )
            .await;
        assert_eq!(s, 403);
    }
    let (s, e) = app
        .send_json("POST", "/api/v1/notifications", None, &good)
        .await;
    assert_eq!((s, e["error"].as_str()), (401, Some("missing_token")));

    // The API key works for its X-Tenant-Id.
    let key = vec![
        ("X-Api-Key", API_KEY.to_owned()),
        ("X-Tenant-Id", "acme".to_owned()),
    ];
    let (s, b) = app
        .call("POST", "/api/v1/notifications", &key, Some(&good))
        .await;
    assert_eq!(s, 201, "{b}");
    let bad_key = vec![
        ("X-Api-Key", "nope".to_owned()),
        ("X-Tenant-Id", "acme".to_owned()),
    ];
    let (s, e) = app
        .call("POST", "/api/v1/notifications", &bad_key, Some(&good))
        .await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_api_key")));

    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"type": "mention", "title": "x"}),
            "invalid_body",
            "user_ids",
        ),
        (
            json!({"user_ids": [1], "type": "mention", "title": "x"}),
            "invalid_body",
            "user_ids[0]",
        ),
        (
            json!({"user_ids": ["a"], "type": "mention", "title": "x", "tenant_id": "globex"}),
            "invalid_body",
            "tenant_id",
        ),
        (
            json!({"user_ids": [], "type": "mention", "title": "x"}),
            "invalid_field",
            "user_ids",
        ),
        (
            json!({"user_ids": ["a"], "type": "not ok", "title": "x"}),
            "invalid_field",
            "type",
        ),
        (
            json!({"user_ids": ["a"], "type": "mention", "title": ""}),
            "invalid_field",
            "title",
        ),
        (
            json!({"user_ids": ["a"], "type": "mention", "title": "x", "priority": "asap"}),
            "invalid_field",
            "priority",
        ),
        (
            json!({"user_ids": ["a"], "type": "mention", "title": "x", "expires_at": "2001-01-01T00:00:00Z"}),
            "invalid_field",
            "expires_at",
        ),
        (
            json!({"user_ids": ["a"], "type": "mention", "title": "x", "action_url": "javascript:alert(1)"}),
            "invalid_field",
            "action_url",
        ),
    ];
    let token = app.service_token("acme");
    for (body, code, field) in cases {
        let (s, e) = app
            .send_json("POST", "/api/v1/notifications", Some(&token), &body)
            .await;
        assert_eq!((s, e["error"].as_str()), (400, Some(code)), "{body}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(field),
            "{body}: {e}"
        );
    }
    let many: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    let (s, e) = app
        .post_notification(
            "acme",
            json!({"user_ids": many, "type": "mention", "title": "x"}),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_field")));
    // 1000 is fine, in one request.
    let many: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
    let (s, b) = app
        .post_notification(
            "acme",
            json!({"user_ids": many, "type": "mention", "title": "x"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(b["ids"].as_array().unwrap().len(), 1000);
}

#[actix_web::test]
async fn tenants_never_see_each_others_notifications() {
    let app = spawn_app_with_api_key(|_| {}).await;
    // The same user id exists in two tenants.
    let mut acme_bob = app.connect_ready("bob", "acme").await;
    let mut globex_bob = app.connect_ready("bob", "globex").await;
    let key = vec![
        ("X-Api-Key", API_KEY.to_owned()),
        ("X-Tenant-Id", "acme".to_owned()),
    ];
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/notifications",
            &key,
            Some(&json!({"user_ids": ["bob"], "type": "mention", "title": "acme only"})),
        )
        .await;
    assert_eq!(s, 201);
    let id = b["ids"][0].as_i64().unwrap();
    assert_eq!(
        acme_bob.recv_type("notification").await["notification"]["id"],
        id
    );
    while let Some(m) = globex_bob.try_recv(Duration::from_millis(700)).await {
        assert!(
            !m["type"].as_str().unwrap().starts_with("notification"),
            "{m}"
        );
    }

    let token = app.token("bob", "globex");
    let t = Some(token.as_str());
    let (_, list) = app.get("/api/v1/notifications", t).await;
    assert_eq!(list["notifications"], json!([]));
    let (_, list) = app.get("/api/v1/notifications?after_id=0", t).await;
    assert_eq!(list["notifications"], json!([]));
    let (_, c) = app.get("/api/v1/notifications/unread-count", t).await;
    assert_eq!(c["unread"], 0);
    let (s, _) = app
        .send_json(
            "POST",
            &format!("/api/v1/notifications/{id}/read"),
            t,
            &json!({}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/notifications/{id}"),
            &bearer(&token),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (_, r) = app
        .send_json("POST", "/api/v1/notifications/read-all", t, &json!({}))
        .await;
    assert_eq!(r["updated"], 0);
    let e = globex_bob
        .request(json!({"type": "notification:read", "id": id}), "r")
        .await;
    assert_eq!(e["code"], "not_found");
    globex_bob
        .send(json!({"type": "notification:sync", "after_id": 0, "ref": "s"}))
        .await;
    let (seen, unread) = notifications_then_count(&mut globex_bob).await;
    assert!(seen.is_empty());
    assert_eq!(unread, 0);
    // Another user of the same tenant cannot touch it either.
    let alice = app.token("alice", "acme");
    let (s, _) = app
        .send_json(
            "POST",
            &format!("/api/v1/notifications/{id}/read"),
            Some(&alice),
            &json!({}),
        )
        .await;
    assert_eq!(s, 404);
    // Still unread for its owner.
    let (_, c) = app
        .get(
            "/api/v1/notifications/unread-count",
            Some(&app.token("bob", "acme")),
        )
        .await;
    assert_eq!(c["unread"], 1);
}

#[actix_web::test]
async fn a_backend_broadcast_reaches_the_rooms_members_only() {
    let app = spawn_app_with_api_key(|_| {}).await;
    let room = |t: &str| json!({"type": t, "entity_type": "doc", "entity_id": "1"});
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    let mut carol = app.connect_ready("carol", "acme").await;
    let mut eve = app.connect_ready("eve", "globex").await;
    alice.request(room("room:join"), "j").await;
    bob.request(room("room:join"), "j").await;
    eve.request(room("room:join"), "j").await;
    let token = app.service_token("acme");
    let (s, b) = app
        .send_json(
            "POST",
            "/api/v1/rooms/doc/1/broadcast",
            Some(&token),
            &json!({"event": "invoice:paid", "payload": {"amount": 10}}),
        )
        .await;
    assert_eq!((s, &b), (202, &json!({"delivered_to_room": true})));
    for c in [&mut alice, &mut bob] {
        let m = c.recv_type("room:broadcast").await;
        assert_eq!(m["from_user_id"], "service");
        assert_eq!(m["event"], "invoice:paid");
        assert_eq!(m["payload"], json!({"amount": 10}));
        assert_eq!(
            (m["entity_type"].as_str(), m["entity_id"].as_str()),
            (Some("doc"), Some("1"))
        );
    }
    for c in [&mut carol, &mut eve] {
        assert!(c
            .collect_type("room:broadcast", Duration::from_millis(500))
            .await
            .is_empty());
    }
    // The API key form, a room nobody is in, and refusals.
    let key = vec![
        ("X-Api-Key", API_KEY.to_owned()),
        ("X-Tenant-Id", "acme".to_owned()),
    ];
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/rooms/doc/2/broadcast",
            &key,
            Some(&json!({"event": "x"})),
        )
        .await;
    assert_eq!((s, &b), (202, &json!({"delivered_to_room": false})));
    let user = app.token("alice", "acme");
    let (s, e) = app
        .send_json(
            "POST",
            "/api/v1/rooms/doc/1/broadcast",
            Some(&user),
            &json!({"event": "x"}),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (403, Some("forbidden")));
    let (s, e) = app
        .send_json(
            "POST",
            "/api/v1/rooms/doc/1/broadcast",
            Some(&token),
            &json!({"event": ""}),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_field")));
    let (s, e) = app
        .send_json(
            "POST",
            "/api/v1/rooms/doc/1/broadcast",
            Some(&token),
            &json!({"payload": 1}),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_body")));
    assert!(alice
        .collect_type("room:broadcast", Duration::from_millis(300))
        .await
        .is_empty());
}
