//! The activity feed: publishing (service role only), live delivery by
//! visibility over WebSocket and SSE, listing with the same rule, filters
//! and paging, tenant isolation, and `notify::activity::record` for
//! in-process callers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use tandem::ids::TenantId;
use tandem::notify::activity::{record, ActivityInput, Visibility};

fn ids(list: &Value) -> Vec<i64> {
    list["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect()
}

/// Asserts no `activity` message arrives within `wait`.
async fn no_activity(c: &mut WsClient, wait: Duration) {
    let got = c.collect_type("activity", wait).await;
    assert!(got.is_empty(), "unexpected activity: {got:?}");
}

#[actix_web::test]
async fn team_activity_reaches_the_tenant_and_never_another_tenant() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    let mut eve = app.connect_ready("eve", "globex").await;
    let mut eve_stream = app
        .sse(
            "",
            &[(
                "Authorization",
                format!("Bearer {}", app.token("eve", "globex")),
            )],
        )
        .await;
    eve_stream.next_named("ready").await;
    let (s, b) = app
        .post_activity(
            "acme",
            json!({
                "user_id": "alice", "user_name": "Alice", "action": "created",
                "entity_type": "invoice", "entity_id": "1234", "entity_name": "Invoice #1234",
                "details": {"amount": 1200}
            }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_i64().unwrap();
    assert_eq!(b["activity"]["visibility"], "team");
    for c in [&mut alice, &mut bob] {
        let m = c.recv_type("activity").await;
        let a = &m["activity"];
        assert_eq!(a["id"], id);
        assert_eq!(a["user_id"], "alice");
        assert_eq!(a["user_name"], "Alice");
        assert_eq!(a["action"], "created");
        assert_eq!(a["entity_type"], "invoice");
        assert_eq!(a["entity_id"], "1234");
        assert_eq!(a["entity_name"], "Invoice #1234");
        assert_eq!(a["details"], json!({"amount": 1200}));
        assert_eq!(a["visibility"], "team");
        assert!(a.get("visible_to").is_none());
    }
    no_activity(&mut eve, Duration::from_millis(500)).await;
    assert!(eve_stream
        .try_next_event(Duration::from_millis(300))
        .await
        .is_none());

    let (_, list) = app
        .get("/api/v1/activity", Some(&app.token("bob", "acme")))
        .await;
    assert_eq!(ids(&list), vec![id]);
    let (_, list) = app
        .get("/api/v1/activity", Some(&app.token("eve", "globex")))
        .await;
    assert_eq!(list["activity"], json!([]));
    let (_, list) = app
        .get(
            "/api/v1/activity/entity/invoice/1234",
            Some(&app.token("alice", "globex")),
        )
        .await;
    assert_eq!(list["activity"], json!([]), "same user id, other tenant");
    // A public entry also reaches the whole tenant only.
    let (s, b) = app
        .post_activity(
            "acme",
            json!({"action": "published", "entity_type": "page", "entity_id": "p", "visibility": "public"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(alice.recv_type("activity").await["activity"]["id"], b["id"]);
    no_activity(&mut eve, Duration::from_millis(300)).await;
}

#[actix_web::test]
async fn private_activity_never_reaches_users_outside_visible_to() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await; // the actor
    let mut bob = app.connect_ready("bob", "acme").await; // named
    let mut carol = app.connect_ready("carol", "acme").await; // neither
    let carol_token = app.token("carol", "acme");
    let mut carol_stream = app.sse(&format!("?token={carol_token}"), &[]).await;
    carol_stream.next_named("ready").await;
    let mut bob_stream = app
        .sse(
            "",
            &[(
                "Authorization",
                format!("Bearer {}", app.token("bob", "acme")),
            )],
        )
        .await;
    bob_stream.next_named("ready").await;

    let (s, b) = app
        .post_activity(
            "acme",
            json!({
                "user_id": "alice", "action": "commented", "entity_type": "invoice",
                "entity_id": "7", "visibility": "private", "visible_to": ["bob"],
                "details": {"text": "secret"}
            }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let private_id = b["id"].as_i64().unwrap();
    assert_eq!(
        bob.recv_type("activity").await["activity"]["id"],
        private_id
    );
    assert_eq!(
        alice.recv_type("activity").await["activity"]["id"],
        private_id
    );
    let (_, name, data) = bob_stream.next_event().await;
    assert_eq!(
        (name.as_str(), data["id"].as_i64()),
        ("activity", Some(private_id))
    );

    // A team entry afterwards: carol's first activity must be this one.
    let (_, b) = app
        .post_activity(
            "acme",
            json!({"action": "created", "entity_type": "invoice", "entity_id": "8"}),
        )
        .await;
    let team_id = b["id"].as_i64().unwrap();
    let first = carol.recv_type("activity").await;
    assert_eq!(
        first["activity"]["id"], team_id,
        "carol never sees the private one"
    );
    let (_, name, data) = carol_stream.next_event().await;
    assert_eq!(
        (name.as_str(), data["id"].as_i64()),
        ("activity", Some(team_id))
    );
    assert!(!data.to_string().contains("secret"));

    // REST applies the same rule, in the feed and per entity.
    let (_, list) = app.get("/api/v1/activity", Some(&carol_token)).await;
    assert_eq!(ids(&list), vec![team_id]);
    let (_, list) = app
        .get("/api/v1/activity/entity/invoice/7", Some(&carol_token))
        .await;
    assert_eq!(list["activity"], json!([]));
    for who in ["alice", "bob"] {
        let (_, list) = app
            .get("/api/v1/activity", Some(&app.token(who, "acme")))
            .await;
        assert_eq!(ids(&list), vec![team_id, private_id], "{who}");
        let (_, list) = app
            .get(
                "/api/v1/activity/entity/invoice/7",
                Some(&app.token(who, "acme")),
            )
            .await;
        assert_eq!(ids(&list), vec![private_id], "{who}");
    }
    // Carol resuming her stream from the start gets only the team entry.
    let mut resumed = app
        .sse(&format!("?token={carol_token}&last_event_id=n-0.a-0"), &[])
        .await;
    let (_, name, data) = resumed.next_event().await;
    assert_eq!(
        (name.as_str(), data["id"].as_i64()),
        ("activity", Some(team_id))
    );
    let (_, name, _) = resumed.next_event().await;
    assert_eq!(name, "ready");
}

#[actix_web::test]
async fn listing_filters_and_pages() {
    let app = spawn_app().await;
    let mut made = Vec::new();
    for (user, action, kind, entity) in [
        ("alice", "created", "invoice", "1"),
        ("bob", "updated", "invoice", "1"),
        ("alice", "commented", "task", "9"),
        ("bob", "completed", "task", "9"),
        ("alice", "updated", "invoice", "2"),
    ] {
        let (s, b) = app
            .post_activity(
                "acme",
                json!({"user_id": user, "action": action, "entity_type": kind, "entity_id": entity}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        made.push(b["id"].as_i64().unwrap());
    }
    let token = app.token("zoe", "acme");
    let t = Some(token.as_str());
    let (_, all) = app.get("/api/v1/activity", t).await;
    let mut newest_first = made.clone();
    newest_first.reverse();
    assert_eq!(ids(&all), newest_first);
    let (_, l) = app.get("/api/v1/activity?entity_type=invoice", t).await;
    assert_eq!(ids(&l), vec![made[4], made[1], made[0]]);
    let (_, l) = app.get("/api/v1/activity?user_id=bob", t).await;
    assert_eq!(ids(&l), vec![made[3], made[1]]);
    let (_, l) = app.get("/api/v1/activity?action=updated", t).await;
    assert_eq!(ids(&l), vec![made[4], made[1]]);
    let (_, l) = app.get("/api/v1/activity?limit=2", t).await;
    assert_eq!(
        (ids(&l), l["has_more"].as_bool()),
        (vec![made[4], made[3]], Some(true))
    );
    let (_, l) = app
        .get(
            &format!("/api/v1/activity?limit=2&before_id={}", made[3]),
            t,
        )
        .await;
    assert_eq!(ids(&l), vec![made[2], made[1]]);
    let (_, l) = app
        .get(&format!("/api/v1/activity?after_id={}", made[2]), t)
        .await;
    assert_eq!(ids(&l), vec![made[3], made[4]], "after_id is oldest first");
    let (_, l) = app.get("/api/v1/activity/entity/invoice/1", t).await;
    assert_eq!(ids(&l), vec![made[1], made[0]]);
    let (_, l) = app.get("/api/v1/activity/entity/task/9?limit=1", t).await;
    assert_eq!(
        (ids(&l), l["has_more"].as_bool()),
        (vec![made[3]], Some(true))
    );
    let (s, e) = app.get("/api/v1/activity?limit=500", t).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_query")));
    let (s, e) = app.get("/api/v1/activity?before_id=x", t).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_query")));
    let (s, _) = app.get("/api/v1/activity", None).await;
    assert_eq!(s, 401);
}

#[actix_web::test]
async fn only_services_record_and_bad_bodies_get_400() {
    let app = spawn_app_with_api_key(|_| {}).await;
    let good = json!({"action": "created", "entity_type": "invoice", "entity_id": "1"});
    let user = app.token("alice", "acme");
    let (s, e) = app
        .send_json("POST", "/api/v1/activity", Some(&user), &good)
        .await;
    assert_eq!((s, e["error"].as_str()), (403, Some("forbidden")));
    let key = vec![
        ("X-Api-Key", API_KEY.to_owned()),
        ("X-Tenant-Id", "acme".to_owned()),
    ];
    let (s, b) = app
        .call("POST", "/api/v1/activity", &key, Some(&good))
        .await;
    assert_eq!(s, 201, "{b}");
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"entity_type": "i", "entity_id": "1"}),
            "invalid_body",
            "action",
        ),
        (
            json!({"action": "x", "entity_type": "i", "entity_id": "1", "tenant_id": "globex"}),
            "invalid_body",
            "tenant_id",
        ),
        (
            json!({"action": "x", "entity_type": "i", "entity_id": 1}),
            "invalid_body",
            "entity_id",
        ),
        (
            json!({"action": "x", "entity_type": "i", "entity_id": "1", "visibility": "private"}),
            "invalid_field",
            "visible_to",
        ),
        (
            json!({"action": "x", "entity_type": "i", "entity_id": "1", "visibility": "private", "visible_to": []}),
            "invalid_field",
            "visible_to",
        ),
        (
            json!({"action": "x", "entity_type": "i", "entity_id": "1", "visible_to": ["a"]}),
            "invalid_field",
            "visible_to",
        ),
        (
            json!({"action": "x", "entity_type": "i", "entity_id": "1", "visibility": "everyone"}),
            "invalid_field",
            "visibility",
        ),
        (
            json!({"action": "no spaces", "entity_type": "i", "entity_id": "1"}),
            "invalid_field",
            "action",
        ),
        (
            json!({"action": "x", "entity_type": "", "entity_id": "1"}),
            "invalid_field",
            "entity_type",
        ),
        (
            json!({"action": "x", "entity_type": "i", "entity_id": "1", "details": {"x": "y".repeat(20_000)}}),
            "invalid_field",
            "details",
        ),
    ];
    let token = app.service_token("acme");
    for (body, code, field) in cases {
        let (s, e) = app
            .send_json("POST", "/api/v1/activity", Some(&token), &body)
            .await;
        assert_eq!((s, e["error"].as_str()), (400, Some(code)), "{body}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(field),
            "{body}: {e}"
        );
    }
}

#[actix_web::test]
async fn record_is_callable_in_process() {
    let app = spawn_app().await;
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    let view = record(
        &app.services.notify,
        ActivityInput {
            tenant: TenantId::new("acme"),
            user_id: Some("alice".into()),
            user_name: Some("Alice".into()),
            action: "locked".into(),
            entity_type: "doc".into(),
            entity_id: "42".into(),
            entity_name: None,
            details: Some(json!({"field": "title"})),
            visibility: Visibility::Private,
            visible_to: vec!["alice".into()],
        },
    )
    .await
    .unwrap();
    assert_eq!(alice.recv_type("activity").await["activity"]["id"], view.id);
    no_activity(&mut bob, Duration::from_millis(400)).await;
    // Invalid input is refused, not stored.
    let err = record(
        &app.services.notify,
        ActivityInput {
            tenant: TenantId::new("acme"),
            user_id: None,
            user_name: None,
            action: String::new(),
            entity_type: "doc".into(),
            entity_id: "42".into(),
            entity_name: None,
            details: None,
            visibility: Visibility::Team,
            visible_to: vec![],
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("action"), "{err}");
}
