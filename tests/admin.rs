//! The admin REST API's permission model against the real server: a tenant
//! admin (role admin) never sees another tenant; a platform operator
//! (X-Admin-Key) sees any; every call is stored in admin_actions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use tandem::config::Secret;

const PLATFORM_KEY: &str = "platform-operator-key-0123456789";

async fn get_with_key(app: &TestApp, path: &str, key: &str) -> (u16, Value) {
    let mut resp = awc::Client::new()
        .get(app.url(path))
        .insert_header(("X-Admin-Key", key))
        .send()
        .await
        .unwrap();
    let body = resp.body().await.unwrap();
    (
        resp.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn user_ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[actix_web::test]
async fn a_tenant_admin_never_sees_another_tenant() {
    let app = spawn_app_with(|s| s.admin.api_keys = vec![Secret::new(PLATFORM_KEY)]).await;
    let _alice = app.connect_ready("alice", "acme").await;
    let _bob = app.connect_ready("bob", "globex").await;
    let _carol = app.connect_ready("carol", "globex").await;
    let acme_admin = token_with(&app.settings, "root-a", "acme", Some("admin"), 300);
    let globex_admin = token_with(&app.settings, "root-g", "globex", Some("admin"), 300);
    let user = app.token("alice", "acme");

    // Not admins.
    let (status, body) = app.get("/api/v1/admin/presence", Some(&user)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let (status, body) = get_with_key(&app, "/api/v1/admin/presence?tenant=acme", "wrong").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_api_key"))
    );

    // A tenant admin: its own roster, and nothing of another tenant's.
    let (status, body) = app.get("/api/v1/admin/presence", Some(&acme_admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(user_ids(&body), ["alice"]);
    assert_eq!(body["tenant_id"], "acme");
    let (status, body) = app
        .get("/api/v1/admin/presence?tenant=globex", Some(&acme_admin))
        .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let (status, body) = app
        .get("/api/v1/admin/presence?tenant=acme", Some(&acme_admin))
        .await;
    assert_eq!((status, user_ids(&body)), (200, vec!["alice".to_owned()]));

    // Stats are the tenant's own, with uptime.
    let (status, body) = app.get("/api/v1/admin/stats", Some(&acme_admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "tenant");
    assert_eq!(
        (body["users"].as_u64(), body["connections"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(body["uptime_secs"].is_u64());
    assert!(
        body.get("tenants").is_none(),
        "no cross-tenant counts: {body}"
    );
    let (status, _) = app
        .get("/api/v1/admin/stats?tenant=globex", Some(&acme_admin))
        .await;
    assert_eq!(status, 403);

    // The platform operator: any tenant, named; node-wide stats.
    let (status, body) = get_with_key(&app, "/api/v1/admin/presence", PLATFORM_KEY).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("missing_tenant"))
    );
    let (status, body) =
        get_with_key(&app, "/api/v1/admin/presence?tenant=globex", PLATFORM_KEY).await;
    assert_eq!(
        (status, user_ids(&body)),
        (200, vec!["bob".to_owned(), "carol".to_owned()])
    );
    let (status, body) = get_with_key(&app, "/api/v1/admin/stats", PLATFORM_KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "node");
    assert_eq!(
        (body["connections"].as_u64(), body["tenants"].as_u64()),
        (Some(3), Some(2))
    );

    // The globex admin acts too.
    let (status, _) = app.get("/api/v1/admin/presence", Some(&globex_admin)).await;
    assert_eq!(status, 200);

    // Every call above by an admin is an action; a tenant admin lists only
    // its tenant's, never another tenant's nor the platform's node-wide ones.
    let (status, body) = app.get("/api/v1/admin/actions", Some(&acme_admin)).await;
    assert_eq!(status, 200, "{body}");
    let actions = body["actions"].as_array().unwrap();
    assert!(actions.iter().all(|a| a["tenant_id"] == "acme"), "{body}");
    let mine: Vec<_> = actions
        .iter()
        .map(|a| (a["actor"].as_str().unwrap(), a["action"].as_str().unwrap()))
        .collect();
    // Newest first: this listing, stats, presence (twice); the refused
    // calls (403) are not actions.
    assert_eq!(
        mine,
        [
            ("root-a", "actions.list"),
            ("root-a", "stats"),
            ("root-a", "presence.list"),
            ("root-a", "presence.list"),
        ]
    );
    assert!(actions.iter().all(|a| a["actor_kind"] == "tenant_admin"));
    let (status, _) = app
        .get("/api/v1/admin/actions?tenant=globex", Some(&acme_admin))
        .await;
    assert_eq!(status, 403);

    let (_, body) = app.get("/api/v1/admin/actions", Some(&globex_admin)).await;
    let actions = body["actions"].as_array().unwrap();
    assert!(!actions.is_empty());
    assert!(actions.iter().all(|a| a["tenant_id"] == "globex"), "{body}");
    // The platform operator's globex read is globex's record too.
    assert!(actions
        .iter()
        .any(|a| a["actor"] == "platform-key-0" && a["action"] == "presence.list"));

    // The platform operator lists everything, node-wide rows included.
    let (status, body) = get_with_key(&app, "/api/v1/admin/actions?limit=200", PLATFORM_KEY).await;
    assert_eq!(status, 200);
    let actions = body["actions"].as_array().unwrap();
    assert!(actions.iter().any(|a| a["tenant_id"] == "acme"));
    assert!(actions.iter().any(|a| a["tenant_id"] == "globex"));
    assert!(actions
        .iter()
        .any(|a| a["tenant_id"].is_null() && a["action"] == "stats"));
    let (status, body) = get_with_key(&app, "/api/v1/admin/actions?limit=0", PLATFORM_KEY).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_field"))
    );
}
