//! Push delivery end to end: the real server against real PostgreSQL, and
//! fakes of the third-party services (tests/fakes/push_fake.py) that verify
//! what they receive: VAPID signatures and `aud`, aes128gcm payloads
//! (decrypted with the subscription's private key), the OAuth2 JWT-bearer
//! assertion, FCM bearer tokens and message bodies, and SMTP messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app_with, TestApp};
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tandem::config::{Secret, Settings, SmtpTls};
use tandem::ids::{TenantId, UserId};
use tandem::push::{Channels, Priority, PushJob};

const SUBJECT: &str = "mailto:push-tests@tandem.example";
const SERVICE_KEY: &str = "svc-key-0123456789";

/// The fake services, one Python process per test.
struct Fake {
    child: Child,
    port: u16,
    smtp_port: u16,
    vapid_private: String,
    vapid_public: String,
    service_account_path: PathBuf,
    /// Keys the fake does not trust: `{vapid_private_key, vapid_public_key, service_account}`.
    decoy: Value,
}

impl Fake {
    fn start() -> Fake {
        let python = std::env::var("TANDEM_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fakes/push_fake.py");
        let mut child = Command::new(&python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python} {script}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            !line.is_empty(),
            "the push fake exited at start; install its packages with \
             `python3 -m pip install -r tests/fakes/requirements.txt` (scripts/test.sh does)"
        );
        let ready: Value = serde_json::from_str(&line).unwrap();
        let service_account_path =
            std::env::temp_dir().join(format!("tandem-sa-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(
            &service_account_path,
            serde_json::to_vec(&ready["service_account"]).unwrap(),
        )
        .unwrap();
        Fake {
            child,
            port: ready["http_port"].as_u64().unwrap() as u16,
            smtp_port: ready["smtp_port"].as_u64().unwrap() as u16,
            vapid_private: ready["vapid_private_key"].as_str().unwrap().into(),
            vapid_public: ready["vapid_public_key"].as_str().unwrap().into(),
            service_account_path,
            decoy: ready["decoy"].clone(),
        }
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Points the server's push and email settings at this fake.
    fn configure(&self, s: &mut Settings) {
        s.push.vapid_private_key = Secret::new(self.vapid_private.clone());
        s.push.vapid_public_key = self.vapid_public.clone();
        s.push.vapid_subject = SUBJECT.into();
        s.push.fcm_service_account_path = Some(self.service_account_path.clone());
        s.push.fcm_base_url = self.origin();
        s.push.fcm_token_url = format!("{}/token", self.origin());
        s.push.insecure_endpoint_hosts = vec!["127.0.0.1".into()];
        s.push.allow_private_endpoints = true;
        s.push.max_retries = 3;
        s.push.retry_base_delay_ms = 100;
        s.push.request_timeout_secs = 5;
        s.email.enabled = true;
        s.email.smtp_host = "127.0.0.1".into();
        s.email.smtp_port = self.smtp_port;
        s.email.tls = SmtpTls::None;
        s.email.from = "Tandem <noreply@tandem.example>".into();
        s.auth.api_keys = vec![Secret::new(SERVICE_KEY)];
    }

    async fn get(&self, path: &str) -> Value {
        let mut resp = awc::Client::new()
            .get(format!("{}{path}", self.origin()))
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&resp.body().await.unwrap()).unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let mut resp = awc::Client::new()
            .post(format!("{}{path}", self.origin()))
            .send_json(&body)
            .await
            .unwrap();
        let bytes = resp.body().await.unwrap();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// A new browser-like subscription: `{id, path, endpoint, p256dh, auth}`.
    async fn web_push_subscription(&self) -> Value {
        self.post("/_control/webpush_subscription", json!({})).await
    }

    /// Makes the fake answer requests for `key` with `responses`, in order.
    async fn script(&self, key: &str, responses: Value) {
        self.post(
            "/_control/script",
            json!({ "key": key, "responses": responses }),
        )
        .await;
    }

    async fn requests(&self) -> Vec<Value> {
        self.get("/_control/requests").await["requests"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Waits until `n` requests matching `pred` arrived; returns them.
    async fn wait_requests(&self, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        eventually(&format!("{n} matching requests at the fake"), async || {
            let found: Vec<Value> = self.requests().await.into_iter().filter(&pred).collect();
            (found.len() >= n).then_some(found)
        })
        .await
    }

    async fn mails(&self) -> Vec<Value> {
        self.get("/_control/mails").await["mails"]
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.service_account_path);
    }
}

/// Polls `probe` until it returns `Some` (at most 15 s).
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start() -> (Fake, TestApp) {
    let fake = Fake::start();
    let app = spawn_app_with(|s| fake.configure(s)).await;
    (fake, app)
}

fn all_channels() -> Channels {
    Channels {
        web_push: true,
        fcm: true,
        email: true,
    }
}

fn job(notification_id: i64, tenant: &str, user: &str, channels: Channels) -> PushJob {
    PushJob {
        notification_id,
        tenant: TenantId::new(tenant),
        user: UserId::new(user),
        notification_type: "payment_received".into(),
        title: "Payment received".into(),
        message: Some("Invoice 42 was paid: €120".into()),
        action_url: Some("https://app.example/invoices/42".into()),
        priority: Priority::High,
        channels,
    }
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(diesel::QueryableByName, Debug)]
struct Flags {
    #[diesel(sql_type = Bool)]
    delivered_push: bool,
    #[diesel(sql_type = Bool)]
    delivered_email: bool,
}

#[derive(diesel::QueryableByName, Debug)]
struct SubRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    endpoint: String,
    #[diesel(sql_type = Bool)]
    used: bool,
}

/// Stores a notification the way the notification service would.
async fn insert_notification(app: &TestApp, tenant: &str, user: &str) -> i64 {
    let mut conn = app.db.conn().await;
    let row: Id = diesel::sql_query(
        "INSERT INTO realtime_notifications (tenant_id, user_id, notification_type, title, priority) \
         VALUES ($1, $2, 'payment_received', 'Payment received', 'high') RETURNING id",
    )
    .bind::<Text, _>(tenant)
    .bind::<Text, _>(user)
    .get_result(&mut conn)
    .await
    .unwrap();
    row.id
}

async fn flags(app: &TestApp, id: i64) -> Flags {
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "SELECT delivered_push, delivered_email FROM realtime_notifications WHERE id = $1",
    )
    .bind::<BigInt, _>(id)
    .get_result(&mut conn)
    .await
    .unwrap()
}

async fn subscriptions_in_db(app: &TestApp) -> Vec<SubRow> {
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "SELECT id, user_id, endpoint, last_used_at IS NOT NULL AS used \
         FROM push_subscriptions ORDER BY id",
    )
    .load(&mut conn)
    .await
    .unwrap()
}

/// Subscribes the fake subscription `sub` for `user` in the browser's
/// `PushSubscription.toJSON()` shape.
async fn subscribe_web(app: &TestApp, token: &str, sub: &Value) -> (u16, Value) {
    app.send_json(
        "POST",
        "/api/v1/push/subscribe",
        Some(token),
        &json!({
            "endpoint": sub["endpoint"],
            "expirationTime": null,
            "keys": { "p256dh": sub["p256dh"], "auth": sub["auth"] },
            "device_type": "desktop",
            "browser": "Firefox",
        }),
    )
    .await
}

async fn subscribe_fcm(app: &TestApp, token: &str, fcm_token: &str) -> (u16, Value) {
    app.send_json(
        "POST",
        "/api/v1/push/subscribe",
        Some(token),
        &json!({ "kind": "fcm", "token": fcm_token, "device_type": "android", "device_name": "Pixel" }),
    )
    .await
}

#[actix_rt::test]
async fn web_push_arrives_signed_and_encrypted_and_marks_the_notification() {
    let (fake, app) = start().await;
    let (status, body) = app.get("/api/v1/push/vapid-public-key", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["public_key"], fake.vapid_public);

    let ana = app.token("ana", "t1");
    let sub = fake.web_push_subscription().await;
    let (status, body) = subscribe_web(&app, &ana, &sub).await;
    assert_eq!(status, 201, "{body}");
    let sub_id = body["id"].as_i64().unwrap();
    assert_eq!(body["created"], true);

    let id = insert_notification(&app, "t1", "ana").await;
    app.services.push.do_send(job(
        id,
        "t1",
        "ana",
        Channels {
            web_push: true,
            ..Channels::default()
        },
    ));
    let path = sub["path"].as_str().unwrap().to_owned();
    let got = fake.wait_requests(1, |r| r["path"] == path).await;
    let r = &got[0];
    assert_eq!(r["errors"], json!([]), "the fake refused the push: {r}");
    assert_eq!(r["status"], 201);
    assert_eq!(r["content_encoding"], "aes128gcm");
    assert_eq!(r["urgency"], "high");
    assert_eq!(r["ttl"], "86400");
    assert_eq!(r["claims"]["aud"], fake.origin());
    assert_eq!(r["claims"]["sub"], SUBJECT);
    assert_eq!(
        r["payload"],
        json!({
            "title": "Payment received",
            "body": "Invoice 42 was paid: €120",
            "url": "https://app.example/invoices/42",
            "type": "payment_received",
            "notification_id": id,
            "priority": "high",
        })
    );
    eventually("delivered_push", async || {
        flags(&app, id).await.delivered_push.then_some(())
    })
    .await;
    let rows = subscriptions_in_db(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, sub_id);
    assert!(rows[0].used, "last_used_at is set after a delivery");
    assert!(!flags(&app, id).await.delivered_email);

    // A low-priority push uses urgency low and a shorter TTL.
    let mut low = job(0, "t1", "ana", all_channels());
    low.priority = Priority::Low;
    app.services.push.do_send(low);
    let got = fake.wait_requests(2, |r| r["path"] == path).await;
    assert_eq!(got[1]["errors"], json!([]));
    assert_eq!(got[1]["urgency"], "low");
    assert_eq!(got[1]["ttl"], "3600");
    assert_eq!(got[1]["payload"]["priority"], "low");
}

#[actix_rt::test]
async fn subscriptions_are_validated_and_belong_to_their_user() {
    let (fake, app) = start().await;
    let ana = app.token("ana", "t1");
    let bob = app.token("bob", "t1");
    let ana_other_tenant = app.token("ana", "t2");
    let sub = fake.web_push_subscription().await;

    // Validation.
    let mut bad = Vec::new();
    bad.push(json!({"endpoint": "http://push.example/x", "keys": {"p256dh": sub["p256dh"], "auth": sub["auth"]}}));
    bad.push(json!({"endpoint": sub["endpoint"], "keys": {"p256dh": "AAAA", "auth": sub["auth"]}}));
    bad.push(
        json!({"endpoint": sub["endpoint"], "keys": {"p256dh": sub["p256dh"], "auth": "AAAA"}}),
    );
    bad.push(json!({"endpoint": sub["endpoint"]}));
    bad.push(json!({"kind": "fcm"}));
    bad.push(json!({"kind": "apns", "token": "x"}));
    bad.push(json!({"endpoint": sub["endpoint"], "keys": {"p256dh": sub["p256dh"], "auth": sub["auth"]}, "bogus": 1}));
    for body in bad {
        let (status, resp) = app
            .send_json("POST", "/api/v1/push/subscribe", Some(&ana), &body)
            .await;
        assert_eq!(status, 400, "{body} -> {resp}");
        assert!(resp["error"].is_string(), "{resp}");
    }
    let (status, _) = app
        .send_json(
            "POST",
            "/api/v1/push/subscribe",
            None,
            &json!({"token": "t"}),
        )
        .await;
    assert_eq!(status, 401);

    // Ana subscribes a browser and a phone; re-subscribing refreshes.
    let (status, first) = subscribe_web(&app, &ana, &sub).await;
    assert_eq!(status, 201);
    let (status, again) = subscribe_web(&app, &ana, &sub).await;
    assert_eq!(status, 201);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["created"], false);
    let (status, fcm) = subscribe_fcm(&app, &ana, "ana-phone-token").await;
    assert_eq!(status, 201, "{fcm}");
    assert_eq!(fcm["kind"], "fcm");
    let (status, _) = subscribe_fcm(&app, &bob, "bob-phone-token").await;
    assert_eq!(status, 201);
    let (status, _) = subscribe_fcm(&app, &ana_other_tenant, "ana-t2-token").await;
    assert_eq!(status, 201);

    let (status, list) = app.get("/api/v1/push/subscriptions", Some(&ana)).await;
    assert_eq!(status, 200);
    let list = list["subscriptions"].as_array().unwrap();
    let endpoints: Vec<&str> = list
        .iter()
        .map(|s| s["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(endpoints.len(), 2, "{list:?}");
    assert!(endpoints.contains(&"ana-phone-token"));
    assert!(endpoints.contains(&sub["endpoint"].as_str().unwrap()));
    for s in list {
        assert!(
            s.get("p256dh_key").is_none() && s.get("auth_key").is_none(),
            "{s}"
        );
    }
    let web = list.iter().find(|s| s["kind"] == "web_push").unwrap();
    assert_eq!(web["device_type"], "desktop");
    assert_eq!(web["browser"], "Firefox");

    // Bob cannot remove Ana's subscription; Ana can, once.
    let (status, _) = app
        .send_json(
            "DELETE",
            "/api/v1/push/unsubscribe",
            Some(&bob),
            &json!({"token": "ana-phone-token"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .send_json(
            "DELETE",
            "/api/v1/push/unsubscribe",
            Some(&ana),
            &json!({"token": "ana-phone-token"}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .send_json(
            "DELETE",
            "/api/v1/push/unsubscribe",
            Some(&ana),
            &json!({"token": "ana-phone-token"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .send_json(
            "DELETE",
            "/api/v1/push/unsubscribe",
            Some(&ana),
            &json!({"endpoint": sub["endpoint"], "token": "x"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .send_json(
            "DELETE",
            "/api/v1/push/unsubscribe",
            Some(&ana),
            &json!({"endpoint": sub["endpoint"]}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, list) = app.get("/api/v1/push/subscriptions", Some(&ana)).await;
    assert_eq!(list["subscriptions"], json!([]));
    // The same user id in another tenant kept theirs.
    let (_, list) = app
        .get("/api/v1/push/subscriptions", Some(&ana_other_tenant))
        .await;
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1);

    // A browser that changes hands: Bob subscribing Ana's endpoint takes it over.
    subscribe_web(&app, &ana, &sub).await;
    let (status, _) = subscribe_web(&app, &bob, &sub).await;
    assert_eq!(status, 201);
    let owners: Vec<String> = subscriptions_in_db(&app)
        .await
        .into_iter()
        .filter(|r| r.endpoint == sub["endpoint"].as_str().unwrap())
        .map(|r| r.user_id)
        .collect();
    assert_eq!(owners, vec!["bob".to_owned()]);

    // Services hold no subscriptions.
    let mut resp = awc::Client::new()
        .get(app.url("/api/v1/push/subscriptions"))
        .insert_header(("X-Api-Key", SERVICE_KEY))
        .insert_header(("X-Tenant-Id", "t1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let _ = resp.body().await;
}

#[actix_rt::test]
async fn gone_subscriptions_are_deleted_and_the_test_push_reports_each() {
    let (fake, app) = start().await;
    let ana = app.token("ana", "t1");
    let gone_404 = fake.web_push_subscription().await;
    let gone_410 = fake.web_push_subscription().await;
    let healthy = fake.web_push_subscription().await;
    for sub in [&gone_404, &gone_410, &healthy] {
        assert_eq!(subscribe_web(&app, &ana, sub).await.0, 201);
    }
    assert_eq!(subscribe_fcm(&app, &ana, "unregistered-token").await.0, 201);
    assert_eq!(subscribe_fcm(&app, &ana, "live-token").await.0, 201);
    fake.script(gone_404["path"].as_str().unwrap(), json!([{"status": 404}]))
        .await;
    fake.script(gone_410["path"].as_str().unwrap(), json!([{"status": 410}]))
        .await;
    fake.script(
        "fcm:unregistered-token",
        json!([{"status": 404, "body": {"error": {
            "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                         "errorCode": "UNREGISTERED"}]}}}]),
    )
    .await;

    let (status, report) = app
        .send_json("POST", "/api/v1/push/test", Some(&ana), &json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["sent"], 5, "{report}");
    assert_eq!(report["delivered"], 2, "{report}");
    let results = report["results"].as_array().unwrap();
    let by_kind = |kind: &str, result: &str| {
        results
            .iter()
            .filter(|r| r["kind"] == kind && r["result"] == result)
            .count()
    };
    assert_eq!(by_kind("web_push", "removed"), 2, "{report}");
    assert_eq!(by_kind("web_push", "delivered"), 1, "{report}");
    assert_eq!(by_kind("fcm", "removed"), 1, "{report}");
    assert_eq!(by_kind("fcm", "delivered"), 1, "{report}");

    // Every request passed the fakes' checks before the scripted answer.
    for r in fake.requests().await {
        assert_eq!(r["errors"], json!([]), "{r}");
    }
    let healthy_path = healthy["path"].as_str().unwrap().to_owned();
    let got = fake.wait_requests(1, |r| r["path"] == healthy_path).await;
    assert_eq!(got[0]["payload"]["title"], "Test notification");
    assert_eq!(got[0]["payload"]["type"], "test");

    let left: Vec<String> = subscriptions_in_db(&app)
        .await
        .into_iter()
        .map(|r| r.endpoint)
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&healthy["endpoint"].as_str().unwrap().to_owned()));
    assert!(left.contains(&"live-token".to_owned()));
    let (_, list) = app.get("/api/v1/push/subscriptions", Some(&ana)).await;
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 2);

    // A user with nothing subscribed gets an empty report.
    let bob = app.token("bob", "t1");
    let (status, report) = app
        .send_json("POST", "/api/v1/push/test", Some(&bob), &json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(report["sent"], 0);
}

#[actix_rt::test]
async fn fcm_uses_one_cached_oauth_token_for_two_sends() {
    let (fake, app) = start().await;
    let ana = app.token("ana", "t1");
    assert_eq!(subscribe_fcm(&app, &ana, "ana-phone").await.0, 201);
    let first = insert_notification(&app, "t1", "ana").await;
    let second = insert_notification(&app, "t1", "ana").await;
    let fcm_only = Channels {
        fcm: true,
        ..Channels::default()
    };
    app.services.push.do_send(job(first, "t1", "ana", fcm_only));
    fake.wait_requests(1, |r| r["kind"] == "fcm").await;
    app.services
        .push
        .do_send(job(second, "t1", "ana", fcm_only));
    let sends = fake.wait_requests(2, |r| r["kind"] == "fcm").await;
    for send in &sends {
        assert_eq!(send["errors"], json!([]), "{send}");
        assert_eq!(send["status"], 200);
        let m = &send["message"];
        assert_eq!(m["token"], "ana-phone");
        assert_eq!(m["notification"]["title"], "Payment received");
        assert_eq!(m["notification"]["body"], "Invoice 42 was paid: €120");
        assert_eq!(m["android"]["priority"], "HIGH");
        assert_eq!(m["data"]["type"], "payment_received");
    }
    assert_eq!(
        sends[0]["message"]["data"]["notification_id"],
        first.to_string()
    );
    assert_eq!(
        sends[1]["message"]["data"]["notification_id"],
        second.to_string()
    );
    let tokens: Vec<Value> = fake
        .requests()
        .await
        .into_iter()
        .filter(|r| r["kind"] == "token")
        .collect();
    assert_eq!(tokens.len(), 1, "the token is fetched once: {tokens:?}");
    assert_eq!(tokens[0]["errors"], json!([]), "{}", tokens[0]);
    assert_eq!(sends[0]["bearer"], sends[1]["bearer"]);
    for id in [first, second] {
        eventually("delivered_push", async || {
            flags(&app, id).await.delivered_push.then_some(())
        })
        .await;
    }
}

#[actix_rt::test]
async fn a_revoked_fcm_token_is_refreshed() {
    let (fake, app) = start().await;
    let ana = app.token("ana", "t1");
    assert_eq!(subscribe_fcm(&app, &ana, "ana-phone").await.0, 201);
    // The first send is refused as if the access token were revoked.
    fake.script(
        "fcm:ana-phone",
        json!([{"status": 401, "body": {"error": {"code": 401, "status": "UNAUTHENTICATED"}}}]),
    )
    .await;
    let (status, report) = app
        .send_json("POST", "/api/v1/push/test", Some(&ana), &json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(report["results"][0]["result"], "delivered", "{report}");
    assert_eq!(report["results"][0]["attempts"], 2, "{report}");
    let tokens = fake.wait_requests(2, |r| r["kind"] == "token").await;
    assert_eq!(tokens.len(), 2, "a new token after the 401");
}

#[actix_rt::test]
async fn a_429_is_retried_after_retry_after_then_delivered() {
    let (fake, app) = start().await;
    let ana = app.token("ana", "t1");
    let sub = fake.web_push_subscription().await;
    assert_eq!(subscribe_web(&app, &ana, &sub).await.0, 201);
    let path = sub["path"].as_str().unwrap().to_owned();
    fake.script(
        &path,
        json!([{"status": 429, "headers": {"Retry-After": "1"}}]),
    )
    .await;
    let id = insert_notification(&app, "t1", "ana").await;
    app.services
        .push
        .do_send(job(id, "t1", "ana", all_channels()));
    let got = fake.wait_requests(2, |r| r["path"] == path).await;
    assert_eq!(got[0]["status"], 429);
    assert_eq!(got[1]["status"], 201);
    for r in &got {
        assert_eq!(r["errors"], json!([]), "{r}");
    }
    let gap = got[1]["time"].as_f64().unwrap() - got[0]["time"].as_f64().unwrap();
    assert!(gap >= 1.0, "retried {gap:.3} s after a Retry-After of 1 s");
    assert!(gap < 5.0, "retry took {gap:.3} s");
    eventually("delivered_push", async || {
        flags(&app, id).await.delivered_push.then_some(())
    })
    .await;
    assert_eq!(got[1]["payload"]["notification_id"], id);
}

#[actix_rt::test]
async fn a_failing_push_service_is_given_up_after_max_retries() {
    let (fake, app) = start().await;
    let ana = app.token("ana", "t1");
    let sub = fake.web_push_subscription().await;
    assert_eq!(subscribe_web(&app, &ana, &sub).await.0, 201);
    let path = sub["path"].as_str().unwrap().to_owned();
    fake.script(&path, json!([{"status": 503}, {"status": 503}, {"status": 500}, {"status": 502}, {"status": 503}]))
        .await;
    let id = insert_notification(&app, "t1", "ana").await;
    app.services
        .push
        .do_send(job(id, "t1", "ana", all_channels()));
    // One attempt and max_retries (3) retries, then it gives up.
    fake.wait_requests(4, |r| r["path"] == path).await;
    // This shows that nothing happens: a fifth attempt would come 800 ms
    // after the fourth (the test's backoff), so waiting 1.5 s (almost twice
    // that) would see it. The job goes to the dispatcher directly, not
    // through the outbox, so there is no "given up" row to wait for.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = fake.requests().await;
    assert_eq!(got.iter().filter(|r| r["path"] == path).count(), 4);
    assert!(!flags(&app, id).await.delivered_push);
    // The subscription stays: a 5xx says nothing about it.
    assert_eq!(subscriptions_in_db(&app).await.len(), 1);
}

#[actix_rt::test]
async fn email_goes_to_the_address_the_user_set() {
    let (fake, app) = start().await;
    let ana = app.token("ana", "t1");
    let (status, _) = app.get("/api/v1/push/email", Some(&ana)).await;
    assert_eq!(status, 404);
    let (status, resp) = app
        .send_json(
            "PUT",
            "/api/v1/push/email",
            Some(&ana),
            &json!({"email": "not-an-address"}),
        )
        .await;
    assert_eq!(
        (status, resp["error"].as_str()),
        (400, Some("invalid_email"))
    );
    let (status, resp) = app
        .send_json(
            "PUT",
            "/api/v1/push/email",
            Some(&ana),
            &json!({"email": "ana@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    let (status, resp) = app.get("/api/v1/push/email", Some(&ana)).await;
    assert_eq!(
        (status, resp["email"].as_str()),
        (200, Some("ana@example.com"))
    );

    let id = insert_notification(&app, "t1", "ana").await;
    app.services.push.do_send(job(
        id,
        "t1",
        "ana",
        Channels {
            email: true,
            ..Channels::default()
        },
    ));
    let mail = eventually("a mail at the sink", async || fake.mails().await.pop()).await;
    assert_eq!(mail["rcpt_tos"], json!(["ana@example.com"]));
    assert_eq!(mail["to"], "ana@example.com");
    assert_eq!(mail["subject"], "Payment received");
    assert_eq!(mail["from"], "Tandem <noreply@tandem.example>");
    let body = mail["body"].as_str().unwrap();
    assert!(body.contains("Invoice 42 was paid: €120"), "{body}");
    assert!(body.contains("https://app.example/invoices/42"), "{body}");
    eventually("delivered_email", async || {
        flags(&app, id).await.delivered_email.then_some(())
    })
    .await;
    assert!(!flags(&app, id).await.delivered_push);

    // Bob has no address: his email job sends nothing.
    let bob_id = insert_notification(&app, "t1", "bob").await;
    app.services
        .push
        .do_send(job(bob_id, "t1", "bob", all_channels()));
    // This shows that nothing happens: ana's mail above arrived within
    // milliseconds of its job, so 1 s is ample for a mail to bob to show up
    // if his job sent one. The job has no outbox row to wait on (it goes to
    // the dispatcher directly).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(fake.mails().await.len(), 1);
    assert!(!flags(&app, bob_id).await.delivered_email);

    let (status, _) = app
        .send_json("DELETE", "/api/v1/push/email", Some(&ana), &json!({}))
        .await;
    assert_eq!(status, 204);
    let (status, _) = app.get("/api/v1/push/email", Some(&ana)).await;
    assert_eq!(status, 404);
}

#[actix_rt::test]
async fn the_fakes_refuse_wrong_keys_and_wrong_secrets() {
    let fake = Fake::start();
    // A server with a VAPID key and a service-account key the fakes do not trust.
    let decoy_sa = std::env::temp_dir().join(format!("tandem-sa-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(
        &decoy_sa,
        serde_json::to_vec(&fake.decoy["service_account"]).unwrap(),
    )
    .unwrap();
    let app = spawn_app_with(|s| {
        fake.configure(s);
        s.push.vapid_private_key = Secret::new(fake.decoy["vapid_private_key"].as_str().unwrap());
        s.push.vapid_public_key = String::new();
        s.push.fcm_service_account_path = Some(decoy_sa.clone());
    })
    .await;
    let ana = app.token("ana", "t1");
    let sub = fake.web_push_subscription().await;
    assert_eq!(subscribe_web(&app, &ana, &sub).await.0, 201);
    assert_eq!(subscribe_fcm(&app, &ana, "ana-phone").await.0, 201);
    let (status, report) = app
        .send_json("POST", "/api/v1/push/test", Some(&ana), &json!({}))
        .await;
    let _ = std::fs::remove_file(&decoy_sa);
    assert_eq!(status, 200);
    assert_eq!(report["delivered"], 0, "{report}");
    for r in report["results"].as_array().unwrap() {
        assert_eq!(r["result"], "failed", "{report}");
        assert_eq!(r["attempts"], 1, "400s are not retried: {report}");
    }
    let requests = fake.requests().await;
    let web = requests.iter().find(|r| r["kind"] == "webpush").unwrap();
    let errors = web["errors"].to_string();
    assert!(
        errors.contains("VAPID signature does not verify"),
        "{errors}"
    );
    assert!(
        errors.contains("k= is not the configured VAPID public key"),
        "{errors}"
    );
    let token = requests.iter().find(|r| r["kind"] == "token").unwrap();
    assert!(
        token["errors"]
            .to_string()
            .contains("assertion signature does not verify"),
        "{token}"
    );
    assert!(
        requests.iter().all(|r| r["kind"] != "fcm"),
        "no send without a token"
    );

    // The right keys, but a subscription whose auth secret is not the
    // browser's: the payload cannot be decrypted.
    let app = spawn_app_with(|s| fake.configure(s)).await;
    let mut wrong = fake.web_push_subscription().await;
    wrong["auth"] = json!("AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(subscribe_web(&app, &ana, &wrong).await.0, 201);
    let (_, report) = app
        .send_json("POST", "/api/v1/push/test", Some(&ana), &json!({}))
        .await;
    assert_eq!(report["results"][0]["result"], "failed", "{report}");
    let path = wrong["path"].as_str().unwrap().to_owned();
    let got = fake.wait_requests(1, |r| r["path"] == path).await;
    assert!(
        got[0]["errors"].to_string().contains("does not decrypt"),
        "{}",
        got[0]
    );
}

#[actix_rt::test]
async fn a_slow_push_service_does_not_hold_up_other_deliveries() {
    let (fake, app) = start().await;
    let ana = app.token("ana", "t1");
    let slow = fake.web_push_subscription().await;
    let fast = fake.web_push_subscription().await;
    assert_eq!(subscribe_web(&app, &ana, &slow).await.0, 201);
    assert_eq!(subscribe_web(&app, &ana, &fast).await.0, 201);
    let slow_path = slow["path"].as_str().unwrap().to_owned();
    let fast_path = fast["path"].as_str().unwrap().to_owned();
    fake.script(&slow_path, json!([{"status": 201, "delay_ms": 3000}]))
        .await;
    let started = Instant::now();
    app.services
        .push
        .do_send(job(0, "t1", "ana", all_channels()));
    fake.wait_requests(1, |r| r["path"] == fast_path).await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the fast subscription waited for the slow one: {:?}",
        started.elapsed()
    );
    // Meanwhile the REST API answers at once.
    let t = Instant::now();
    let (status, _) = app.get("/api/v1/push/subscriptions", Some(&ana)).await;
    assert_eq!(status, 200);
    assert!(t.elapsed() < Duration::from_millis(1000));
    let got = fake.wait_requests(1, |r| r["path"] == slow_path).await;
    assert_eq!(got[0]["errors"], json!([]));
}
