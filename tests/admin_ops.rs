//! The admin API's operations against the real server and real sockets:
//! connection listing (transport, rooms, counters), kicking and revoking a
//! user (close code 4003, refused until the time, across a restart),
//! closing one connection, rooms and document sessions, forced lock
//! release, and system messages; each route's tenant scoping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use tandem::config::Secret;

const PLATFORM_KEY: &str = "platform-operator-key-0123456789";

fn platform() -> Vec<(&'static str, String)> {
    vec![("X-Admin-Key", PLATFORM_KEY.to_owned())]
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {token}"))]
}

async fn app() -> TestApp {
    spawn_app_with(|s| s.admin.api_keys = vec![Secret::new(PLATFORM_KEY)]).await
}

fn admin_of(app: &TestApp, tenant: &str) -> String {
    token_with(
        &app.settings,
        &format!("root-{tenant}"),
        tenant,
        Some("admin"),
        300,
    )
}

fn room(kind: &str) -> Value {
    json!({"type": kind, "entity_type": "invoice", "entity_id": "7"})
}

fn with(mut v: Value, extra: Value) -> Value {
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn ids(body: &Value) -> Vec<String> {
    body["connections"]
        .as_array()
        .unwrap_or_else(|| panic!("no connections: {body}"))
        .iter()
        .map(|c| c["connection_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Lists until `check` holds (the registries learn of sockets asynchronously).
async fn list_until(
    app: &TestApp,
    path: &str,
    headers: &[(&str, String)],
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let (status, body) = app.call("GET", path, headers, None).await;
        assert_eq!(status, 200, "{body}");
        if check(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never matched: {last}");
}

#[actix_web::test]
async fn connections_show_transport_rooms_and_counters_within_the_tenant() {
    let app = app().await;
    let acme = admin_of(&app, "acme");
    let mut alice = app.connect_ready("alice", "acme").await;
    alice.request(room("room:join"), "j").await;
    alice.request(json!({"type": "heartbeat"}), "h").await;
    let _stream = app.sse("", &bearer(&app.token("alice", "acme"))).await;
    let yjs_url = format!(
        "ws://127.0.0.1:{}/yjs/notes?token={}",
        app.port,
        app.token("alice", "acme")
    );
    let _yjs = WsClient::connect(&yjs_url, &[]).await.unwrap();
    let _bob = app.connect_ready("bob", "globex").await;

    // A tenant admin sees its tenant's connections of every transport.
    let body = list_until(&app, "/api/v1/admin/connections", &bearer(&acme), |b| {
        ids(b).len() == 3
    })
    .await;
    let conns = body["connections"].as_array().unwrap();
    assert!(
        conns
            .iter()
            .all(|c| c["tenant_id"] == "acme" && c["user_id"] == "alice"),
        "{body}"
    );
    let transports: Vec<&str> = conns
        .iter()
        .map(|c| c["transport"].as_str().unwrap())
        .collect();
    assert_eq!(transports, ["ws", "sse", "yjs"], "{body}");
    let ws = &conns[0];
    assert_eq!(ws["rooms"], json!(["invoice:7"]), "{body}");
    // In: room:join and heartbeat. Out: welcome, presence lists, room:users... .
    assert_eq!(ws["messages_in"], 2, "{body}");
    assert!(ws["messages_out"].as_u64().unwrap() >= 4, "{body}");
    assert!(ws["queue_depth"].is_u64());
    assert!(ws["connected_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ws["device_type"], "desktop");
    assert_eq!(conns[2]["rooms"], json!(["yjs:notes"]), "{body}");
    assert_eq!(conns[1]["rooms"], json!([]), "{body}");

    // Another tenant is refused, not filtered.
    let (status, body) = app
        .call(
            "GET",
            "/api/v1/admin/connections?tenant=globex",
            &bearer(&acme),
            None,
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let (status, _) = app
        .call(
            "GET",
            "/api/v1/admin/connections",
            &bearer(&app.token("alice", "acme")),
            None,
        )
        .await;
    assert_eq!(status, 403);

    // The platform operator: every tenant, or one; filtered by user; paged.
    let all = list_until(&app, "/api/v1/admin/connections", &platform(), |b| {
        ids(b).len() == 4
    })
    .await;
    let (_, globex) = app
        .call(
            "GET",
            "/api/v1/admin/connections?tenant=globex",
            &platform(),
            None,
        )
        .await;
    assert_eq!(globex["connections"][0]["user_id"], "bob", "{globex}");
    assert_eq!(ids(&globex).len(), 1);
    let (_, bobs) = app
        .call(
            "GET",
            "/api/v1/admin/connections?user_id=bob",
            &platform(),
            None,
        )
        .await;
    assert_eq!(ids(&bobs), ids(&globex));
    let (_, page1) = app
        .call(
            "GET",
            "/api/v1/admin/connections?limit=3",
            &platform(),
            None,
        )
        .await;
    let next = page1["next_after"].as_str().unwrap().to_owned();
    let (_, page2) = app
        .call(
            "GET",
            &format!("/api/v1/admin/connections?limit=3&after={next}"),
            &platform(),
            None,
        )
        .await;
    assert_eq!(page2["next_after"], Value::Null);
    let paged: Vec<String> = ids(&page1).into_iter().chain(ids(&page2)).collect();
    assert_eq!(paged, ids(&all));
    let (status, body) = app
        .call(
            "GET",
            "/api/v1/admin/connections?after=zz",
            &platform(),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_field"))
    );

    // Listing is an admin action.
    let (_, actions) = app.get("/api/v1/admin/actions", Some(&acme)).await;
    assert!(
        actions["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "connections.list"),
        "{actions}"
    );
}

#[actix_web::test]
async fn kicking_a_user_closes_every_socket_with_4003_and_the_revocation_holds() {
    let app = app().await;
    let acme = admin_of(&app, "acme");
    let globex = admin_of(&app, "globex");
    let mut phone = app.connect_ready("alice", "acme").await;
    let mut laptop = app.connect_ready("alice", "acme").await;
    let mut stream = app.sse("", &bearer(&app.token("alice", "acme"))).await;
    let yjs_url = format!(
        "ws://127.0.0.1:{}/yjs/notes?token={}",
        app.port,
        app.token("alice", "acme")
    );
    let mut yjs = WsClient::connect(&yjs_url, &[]).await.unwrap();
    let mut bob = app.connect_ready("bob", "acme").await;
    app.wait_stats(|s| s.connections == 3 && s.streams == 1)
        .await;
    list_until(
        &app,
        "/api/v1/admin/connections?user_id=alice",
        &bearer(&acme),
        |b| ids(b).len() == 4,
    )
    .await;

    // Another tenant's admin cannot reach alice of acme.
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/admin/users/alice/disconnect?tenant=acme",
            &bearer(&globex),
            Some(&json!({"revoke_secs": 60})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/admin/users/alice/disconnect",
            &bearer(&globex),
            Some(&json!({})),
        )
        .await;
    assert_eq!((status, body["closed"].as_u64()), (200, Some(0)), "{body}");
    assert_eq!(
        app.stats().await.connections,
        3,
        "globex's alice is not acme's"
    );

    // Bad input is refused.
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/admin/users/alice/disconnect",
            &bearer(&acme),
            Some(&json!({"revoke_secs": 0})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_field"))
    );

    let (status, body) = app
        .call(
            "POST",
            "/api/v1/admin/users/alice/disconnect",
            &bearer(&acme),
            Some(&json!({"revoke_secs": 3600, "reason": "offboarding"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["closed"].as_u64(), body["close_code"].as_u64()),
        (Some(4), Some(4003))
    );
    assert!(body["revoked_until"].is_string());
    assert_eq!(phone.ended(RECV_TIMEOUT).await, Ended::Close(Some(4003)));
    assert_eq!(laptop.ended(RECV_TIMEOUT).await, Ended::Close(Some(4003)));
    assert_eq!(yjs.ended(RECV_TIMEOUT).await, Ended::Close(Some(4003)));
    assert!(stream.ended(RECV_TIMEOUT).await, "the SSE stream ends");
    // Bob stays.
    let ack = bob.request(json!({"type": "heartbeat"}), "still").await;
    assert_eq!(ack["type"], "heartbeat_ack", "{ack}");

    // Every way back in is refused until the time.
    let token = app.token("alice", "acme");
    let (status, body) = app.refused_upgrade("/ws", &bearer(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("token_revoked")),
        "{body}"
    );
    let (status, body) = app.get("/api/v1/presence", Some(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("token_revoked"))
    );
    let refused = SseClient::connect(&app.url("/api/v1/stream"), &bearer(&token)).await;
    assert_eq!(refused.err().map(|(s, _)| s), Some(403));
    // A fresh token does not help.
    let fresh = token_with(&app.settings, "alice", "acme", None, 7200);
    let (status, _) = app.refused_upgrade("/ws", &bearer(&fresh)).await;
    assert_eq!(status, 403);
    let (status, body) = app.refused_upgrade("/yjs/notes", &bearer(&fresh)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("token_revoked"))
    );
    // The same user id in another tenant is someone else.
    let _other_alice = app.connect_ready("alice", "globex").await;

    // The revocation is stored: a restarted server still refuses.
    let restarted = spawn_app_on(app.settings.clone(), app.db.clone()).await;
    let (status, body) = restarted.refused_upgrade("/ws", &bearer(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("token_revoked"))
    );

    // Lifting it (same tenant only) lets alice back in.
    let (status, _) = app
        .call(
            "DELETE",
            "/api/v1/admin/users/alice/revocation?tenant=acme",
            &bearer(&globex),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(
            "DELETE",
            "/api/v1/admin/users/alice/revocation",
            &bearer(&acme),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .call(
            "DELETE",
            "/api/v1/admin/users/alice/revocation",
            &bearer(&acme),
            None,
        )
        .await;
    assert_eq!(status, 404);
    app.connect_ready("alice", "acme").await;

    // A short revocation ends by itself.
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/admin/users/carol/disconnect",
            &bearer(&acme),
            Some(&json!({"revoke_secs": 1})),
        )
        .await;
    assert_eq!(status, 200);
    let carol = app.token("carol", "acme");
    let (status, _) = app.refused_upgrade("/ws", &bearer(&carol)).await;
    assert_eq!(status, 403);
    // The 1 s revocation runs out (whole seconds are compared): poll the
    // upgrade until it is accepted, within a deadline.
    let mut accepted = false;
    for _ in 0..50 {
        let (status, _) = app.refused_upgrade("/ws", &bearer(&carol)).await;
        if status == 101 {
            accepted = true;
            break;
        }
        assert_eq!(status, 403, "refused only by the revocation");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "the revocation never ran out");
    app.connect_ready("carol", "acme").await;

    let (_, actions) = app.get("/api/v1/admin/actions", Some(&acme)).await;
    let kick = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "user.disconnect" && a["detail"]["user_id"] == "alice")
        .unwrap_or_else(|| panic!("{actions}"))
        .clone();
    assert_eq!(kick["detail"]["closed"], 4);
    assert_eq!(kick["detail"]["reason"], "offboarding");
    assert_eq!(kick["actor"], "root-acme");
}

#[actix_web::test]
async fn closing_one_connection_leaves_the_others_and_stays_in_the_tenant() {
    let app = app().await;
    let acme = admin_of(&app, "acme");
    let globex = admin_of(&app, "globex");
    let mut first = app.connect("alice", "acme").await;
    let welcome = first.recv_type("welcome").await;
    let id = welcome["connection_id"].as_str().unwrap().to_owned();
    let mut second = app.connect_ready("alice", "acme").await;
    app.wait_stats(|s| s.connections == 2).await;

    let (status, body) = app
        .call(
            "DELETE",
            &format!("/api/v1/admin/connections/{id}"),
            &bearer(&globex),
            None,
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _) = app
        .call(
            "DELETE",
            "/api/v1/admin/connections/nope",
            &bearer(&acme),
            None,
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = app
        .call(
            "DELETE",
            &format!("/api/v1/admin/connections/{id}"),
            &bearer(&acme),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["closed"]["connection_id"], id.as_str());
    assert_eq!(first.ended(RECV_TIMEOUT).await, Ended::Close(Some(4003)));
    let ack = second.request(json!({"type": "heartbeat"}), "h").await;
    assert_eq!(ack["type"], "heartbeat_ack");
    // No revocation: the user may connect again.
    app.connect_ready("alice", "acme").await;
}

#[actix_web::test]
async fn rooms_documents_and_a_forced_lock_release_reach_the_room() {
    let app = app().await;
    let acme = admin_of(&app, "acme");
    let globex = admin_of(&app, "globex");
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut bob = app.connect_ready("bob", "acme").await;
    alice.request(room("room:join"), "j1").await;
    bob.request(room("room:join"), "j2").await;
    let ack = alice
        .request(
            with(room("doc:lock"), json!({"field": "title", "mode": "hard"})),
            "l",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    alice.recv_type("doc:lock_status").await;
    bob.recv_type("doc:lock_status").await;
    alice
        .send(with(room("cursor:move"), json!({"position": {"line": 3}})))
        .await;
    alice.send(room("typing:start")).await;
    bob.recv_type("typing:users").await;
    let _elsewhere = app.connect_ready("carol", "globex").await;

    // Rooms of the tenant, with member counts.
    let (status, body) = app.get("/api/v1/admin/rooms", Some(&acme)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["rooms"],
        json!([{"tenant_id": "acme", "entity_type": "invoice", "entity_id": "7",
                "users": 2, "connections": 2, "document_session": true}])
    );
    let (_, body) = app.get("/api/v1/admin/rooms", Some(&globex)).await;
    assert_eq!(
        body["rooms"],
        json!([]),
        "another tenant's rooms are not listed"
    );

    // One room: members, cursors, typing and the document session.
    let (status, body) = app.get("/api/v1/admin/rooms/invoice/7", Some(&acme)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["members"].as_array().unwrap().len(), 2);
    assert_eq!(body["typing"][0]["user_id"], "alice", "{body}");
    assert_eq!(body["document"]["locks"][0]["user_id"], "alice", "{body}");
    assert!(body["document"]["revision"].is_u64());
    let cursors = list_until(&app, "/api/v1/admin/rooms/invoice/7", &bearer(&acme), |b| {
        b["cursors"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;
    assert_eq!(cursors["cursors"][0]["position"], json!({"line": 3}));
    let (status, _) = app
        .get("/api/v1/admin/rooms/invoice/7?tenant=globex", Some(&acme))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .get("/api/v1/admin/rooms/invoice/7", Some(&globex))
        .await;
    assert_eq!(status, 404, "globex has no such room");

    // Document sessions.
    let (status, body) = app.get("/api/v1/admin/documents", Some(&acme)).await;
    assert_eq!(status, 200, "{body}");
    let docs = body["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 1, "{body}");
    assert_eq!(docs[0]["locks"][0]["field"], "title");
    assert_eq!(docs[0]["editors"], json!(["alice", "bob"]));
    let (_, body) = app.get("/api/v1/admin/documents", Some(&globex)).await;
    assert_eq!(body["documents"], json!([]));

    // Another tenant cannot release it; a wrong field is not locked.
    let (status, _) = app
        .call(
            "DELETE",
            "/api/v1/admin/documents/invoice/7/lock?field=title&tenant=acme",
            &bearer(&globex),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(
            "DELETE",
            "/api/v1/admin/documents/invoice/7/lock?field=title",
            &bearer(&globex),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .call(
            "DELETE",
            "/api/v1/admin/documents/invoice/7/lock?field=body",
            &bearer(&acme),
            None,
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_locked")));

    // The platform operator releases it; the holder and the room see it.
    let (status, body) = app
        .call(
            "DELETE",
            "/api/v1/admin/documents/invoice/7/lock?field=title&tenant=acme",
            &platform(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["released"]["user_id"], "alice");
    for c in [&mut alice, &mut bob] {
        let status = c
            .recv_where("doc:lock_status without locks", |m| {
                m["type"] == "doc:lock_status" && m["locks"] == json!([])
            })
            .await;
        assert_eq!(status["entity_id"], "7");
    }
    // Bob may now take it.
    let ack = bob
        .request(with(room("doc:lock"), json!({"field": "title"})), "l2")
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let (_, actions) = app.get("/api/v1/admin/actions", Some(&acme)).await;
    assert!(
        actions["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| { a["action"] == "lock.force_release" && a["actor"] == "platform-key-0" }),
        "{actions}"
    );
}

#[actix_web::test]
async fn a_system_message_reaches_its_tenant_only() {
    let app = app().await;
    let acme = admin_of(&app, "acme");
    let mut alice = app.connect_ready("alice", "acme").await;
    let mut stream = app.sse("", &bearer(&app.token("alice", "acme"))).await;
    let mut bob = app.connect_ready("bob", "globex").await;
    app.wait_stats(|s| s.connections == 2 && s.streams == 1)
        .await;

    let (status, body) = app
        .call(
            "POST",
            "/api/v1/admin/system-message",
            &bearer(&acme),
            Some(&json!({"message": "Maintenance at 22:00", "level": "warning"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let msg = alice.recv_type("system:message").await;
    assert_eq!(
        (
            msg["message"].as_str(),
            msg["level"].as_str(),
            msg["scope"].as_str()
        ),
        (
            Some("Maintenance at 22:00"),
            Some("warning"),
            Some("tenant")
        )
    );
    let (_, data) = stream.next_named("system").await;
    assert_eq!(data["message"], "Maintenance at 22:00");
    assert!(
        bob.collect_type("system:message", Duration::from_millis(300))
            .await
            .is_empty(),
        "another tenant hears nothing"
    );

    // Everyone: platform operators only.
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/admin/system-message",
            &bearer(&acme),
            Some(&json!({"message": "hi", "all": true})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/admin/system-message",
            &platform(),
            Some(&json!({"message": "x", "level": "loud"})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_field"))
    );
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/admin/system-message",
            &platform(),
            Some(&json!({"message": "Upgrading", "all": true})),
        )
        .await;
    assert_eq!((status, body["tenants"].as_u64()), (202, Some(2)), "{body}");
    assert_eq!(bob.recv_type("system:message").await["scope"], "all");
    assert_eq!(
        alice.recv_type("system:message").await["message"],
        "Upgrading"
    );
}

#[actix_web::test]
async fn every_new_route_refuses_non_admins_bad_keys_and_other_tenants() {
    let app = app().await;
    let user = app.token("alice", "acme");
    let acme = admin_of(&app, "acme");
    let routes: [(&str, &str, Option<Value>); 9] = [
        ("GET", "/api/v1/admin/connections", None),
        ("DELETE", "/api/v1/admin/connections/c1", None),
        (
            "POST",
            "/api/v1/admin/users/bob/disconnect",
            Some(json!({})),
        ),
        ("DELETE", "/api/v1/admin/users/bob/revocation", None),
        ("GET", "/api/v1/admin/rooms", None),
        ("GET", "/api/v1/admin/rooms/invoice/7", None),
        ("GET", "/api/v1/admin/documents", None),
        ("DELETE", "/api/v1/admin/documents/invoice/7/lock", None),
        (
            "POST",
            "/api/v1/admin/system-message",
            Some(json!({"message": "hi"})),
        ),
    ];
    for (method, path, body) in &routes {
        let (status, reply) = app.call(method, path, &bearer(&user), body.as_ref()).await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (403, Some("forbidden")),
            "{method} {path} as a user"
        );
        let (status, reply) = app
            .call(
                method,
                path,
                &[("X-Admin-Key", "wrong".into())],
                body.as_ref(),
            )
            .await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (401, Some("invalid_api_key")),
            "{method} {path} with a wrong key"
        );
        let other = format!("{path}?tenant=globex");
        let (status, reply) = app
            .call(method, &other, &bearer(&acme), body.as_ref())
            .await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (403, Some("forbidden")),
            "{method} {other} as acme's admin"
        );
    }
    // Refused calls are not actions.
    let (_, actions) = app.get("/api/v1/admin/actions", Some(&acme)).await;
    assert_eq!(
        actions["actions"].as_array().unwrap().len(),
        1,
        "only the listing itself: {actions}"
    );
}
