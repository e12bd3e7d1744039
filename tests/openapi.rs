//! The OpenAPI spec against the real router: every route of the table is in
//! the served spec, every path of the spec is in the table, and the real
//! server answers each spec operation from a real route (not the JSON 404
//! fallback, not 405). The Swagger UI is served from the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

/// `/yjs/{document:.*}` (actix) is `/yjs/{document}` (OpenAPI).
fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    let mut skipping = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push(c);
            }
            ':' if in_param => skipping = true,
            '}' if in_param => {
                in_param = false;
                skipping = false;
                out.push(c);
            }
            _ if skipping => {}
            _ => out.push(c),
        }
    }
    out
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

fn spec_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                ops.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[actix_web::test]
async fn spec_and_router_describe_the_same_routes() {
    let app = spawn_app().await;
    let (status, spec) = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let in_spec = spec_operations(&spec);

    let in_router: BTreeSet<(String, String)> = tandem::http::route_list()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_owned(), normalize(p)))
        .collect();
    let missing: Vec<_> = in_router.difference(&in_spec).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the spec: {missing:?}"
    );
    let phantom: Vec<_> = in_spec.difference(&in_router).collect();
    assert!(
        phantom.is_empty(),
        "spec lists routes that do not exist: {phantom:?}"
    );

    // Every spec operation reaches a real handler on the running server:
    // unauthenticated, so each answers 101/2xx/400/401/403 or a handler's
    // 404, never the router's fallback (`no such route`) or 405.
    let client = awc::Client::new();
    let mut unrouted = Vec::new();
    let mut undocumented = Vec::new();
    for (method, path) in &in_spec {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let m = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut resp = client.request(m, app.url(&concrete)).send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value =
            serde_json::from_slice(&resp.body().await.unwrap_or_default()).unwrap_or(Value::Null);
        if status == 405 || (status == 404 && body["message"] == "no such route") {
            unrouted.push(format!("{method} {concrete} -> {status} {body}"));
        }
        // The status it answered is one the spec documents for it.
        let documented = &spec["paths"][path][method.to_lowercase()]["responses"];
        if documented.get(status.to_string()).is_none() {
            undocumented.push(format!("{method} {path} -> {status} {body}"));
        }
    }
    assert!(
        unrouted.is_empty(),
        "spec operations without a route: {unrouted:?}"
    );

    // And the fallback really is what an unknown route gets.
    let (status, body) = app.get("/api/v1/no-such-thing", None).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("no such route"))
    );
}

#[actix_web::test]
async fn spec_describes_auth_and_request_bodies() {
    let app = spawn_app().await;
    let (_, spec) = app.get("/api/v1/openapi.json", None).await;
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-Api-Key");
    let put_status = &spec["paths"]["/api/v1/presence/status"]["put"];
    assert_eq!(
        put_status["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/StatusBody"
    );
    let error = &spec["components"]["schemas"]["ErrorBody"]["properties"];
    assert!(error["error"].is_object() && error["message"].is_object());
    // Every operation but the public ones states its security.
    let public = [
        "/healthz",
        "/readyz",
        "/api/v1/openapi.json",
        "/api/v1/push/vapid-public-key",
    ];
    for (path, item) in spec["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                assert_eq!(
                    op.get("security").is_some(),
                    !public.contains(&path.as_str()),
                    "{m} {path}"
                );
            }
        }
    }
}

#[actix_web::test]
async fn swagger_ui_is_served_offline() {
    let app = spawn_app().await;
    let client = awc::Client::builder().disable_redirects().finish();
    let resp = client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 301);
    assert_eq!(resp.headers().get("location").unwrap(), "/docs/");

    let mut resp = client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let html = String::from_utf8(resp.body().await.unwrap().to_vec()).unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every asset is relative (served by us), none from a CDN.
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "{html}"
    );

    let mut resp = client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let js = String::from_utf8(resp.body().await.unwrap().to_vec()).unwrap();
    assert!(js.contains("/api/v1/openapi.json"), "{js}");
    let mut resp = client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.body().limit(8 << 20).await.unwrap().len() > 100_000);
}

/// Response shapes with a schema match what the server really sends.
#[actix_web::test]
async fn presence_schema_matches_a_real_response() {
    let app = spawn_app().await;
    let _c = app.connect_ready("ann", "acme").await;
    let _d = app.connect_ready("bob", "acme").await;
    let token = app.token("ann", "acme");
    // A first page of two, so the optional `next_after` is present too.
    let (status, body) = app.get("/api/v1/presence?limit=1", Some(&token)).await;
    assert_eq!(status, 200);
    let (_, spec) = app.get("/api/v1/openapi.json", None).await;
    let schemas = &spec["components"]["schemas"];
    let list = &spec["paths"]["/api/v1/presence"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"]["$ref"];
    assert_eq!(list, "#/components/schemas/PresenceList");
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&body), keys(&schemas["PresenceList"]["properties"]));
    let user = &body["users"][0];
    assert_eq!(keys(user), keys(&schemas["PresenceView"]["properties"]));
    let device = &user["devices"][0];
    let device_props = keys(&schemas["PresenceDeviceView"]["properties"]);
    assert!(
        keys(device).is_subset(&device_props),
        "{device} vs {device_props:?}"
    );
    let required: BTreeSet<String> = schemas["PresenceView"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(required.is_subset(&keys(user)));
}
