//! FCM over the HTTP v1 API.
//!
//! The access token comes from the service-account key by the OAuth2
//! JWT-bearer grant (RFC 7523): an RS256 assertion signed with the key's
//! `private_key`, posted to `push.fcm_token_url`. It is cached until a minute
//! before it expires, and one refresh at a time goes out. Messages go to
//! `{push.fcm_base_url}/v1/projects/{project_id}/messages:send`.
//!
//! (The `fcm` crate, 0.9.2 and the latest, posts to the legacy endpoint
//! Google shut down in 2024 and unwraps its responses, so it is not used.
//! `gcp_auth` would bring a second HTTP and TLS stack and needs native CA
//! certificates, so the grant is done here, through the same awc client as
//! everything else, against a configurable URL that tests point at a fake.)

use super::retry::parse_retry_after;
use super::sender::{Outcome, Payload, PushSender, Target};
use super::Priority;
use crate::config::PushSettings;
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// The OAuth2 scope for sending messages.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// A cached token is replaced this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// The fields of a service-account JSON key Tandem uses.
#[derive(Deserialize)]
struct ServiceAccountKey {
    project_id: String,
    private_key: String,
    client_email: String,
    #[serde(default)]
    private_key_id: Option<String>,
}

/// FCM credentials and addresses, loaded at start.
#[derive(Clone)]
pub struct FcmConfig {
    project_id: String,
    client_email: String,
    key: EncodingKey,
    key_id: Option<String>,
    token_url: String,
    send_url: String,
}

impl std::fmt::Debug for FcmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmConfig")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl FcmConfig {
    /// Reads `push.fcm_service_account_path`; `None` when it is unset (FCM
    /// is then off). Errors name the config key.
    pub fn from_settings(s: &PushSettings) -> Result<Option<FcmConfig>, String> {
        let Some(path) = &s.fcm_service_account_path else {
            return Ok(None);
        };
        const KEY: &str = "push.fcm_service_account_path";
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("config key `{KEY}`: cannot read {}: {e}", path.display()))?;
        let sa: ServiceAccountKey = serde_json::from_str(&text).map_err(|e| {
            format!(
                "config key `{KEY}`: {} is not a service-account JSON key: {e}",
                path.display()
            )
        })?;
        if sa.project_id.is_empty()
            || !sa
                .project_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b':')
        {
            return Err(format!(
                "config key `{KEY}`: project_id `{}` is not a project id",
                sa.project_id
            ));
        }
        if sa.client_email.is_empty() {
            return Err(format!("config key `{KEY}`: client_email is empty"));
        }
        let key = EncodingKey::from_rsa_pem(sa.private_key.as_bytes())
            .map_err(|e| format!("config key `{KEY}`: private_key is not an RSA PEM key: {e}"))?;
        Ok(Some(FcmConfig {
            send_url: format!(
                "{}/v1/projects/{}/messages:send",
                s.fcm_base_url.trim_end_matches('/'),
                sa.project_id
            ),
            project_id: sa.project_id,
            client_email: sa.client_email,
            key,
            key_id: sa.private_key_id.filter(|k| !k.is_empty()),
            token_url: s.fcm_token_url.clone(),
        }))
    }

    /// The project messages are sent for.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The signed JWT-bearer assertion for a token request at `now` (seconds).
    pub fn assertion(&self, now: i64) -> Result<String, String> {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: i64,
            exp: i64,
        }
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.key_id.clone();
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_url,
            iat: now,
            exp: now + 3600,
        };
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| format!("sign: {e}"))
    }
}

/// The FCM v1 request body for one token.
pub fn message_body(token: &str, payload: &Payload) -> Value {
    let p = payload.bounded();
    let high = matches!(p.priority, Priority::High | Priority::Urgent);
    let mut data = serde_json::Map::new();
    data.insert("type".into(), json!(p.notification_type));
    data.insert(
        "notification_id".into(),
        json!(p.notification_id.to_string()),
    );
    data.insert("priority".into(), json!(p.priority.as_str()));
    if let Some(url) = &p.url {
        data.insert("url".into(), json!(url));
    }
    let (ttl, urgency) = super::webpush::ttl_and_urgency(p.priority);
    let mut webpush = json!({
        "headers": { "Urgency": urgency.to_string(), "TTL": ttl.to_string() }
    });
    // FCM only accepts https links here.
    if let Some(url) = p.url.as_deref().filter(|u| u.starts_with("https://")) {
        webpush["fcm_options"] = json!({ "link": url });
    }
    json!({
        "message": {
            "token": token,
            "notification": { "title": p.title, "body": p.body },
            "data": data,
            "android": {
                "priority": if high { "HIGH" } else { "NORMAL" },
                "ttl": format!("{ttl}s"),
            },
            "apns": { "headers": { "apns-priority": if high { "10" } else { "5" } } },
            "webpush": webpush,
        }
    })
}

/// The FCM error code (`UNREGISTERED`, `QUOTA_EXCEEDED`, ...) of an error body.
pub fn error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let error = v.get("error")?;
    error
        .get("details")
        .and_then(Value::as_array)
        .and_then(|details| {
            details.iter().find_map(|d| {
                let is_fcm = d
                    .get("@type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.ends_with("google.firebase.fcm.v1.FcmError"));
                d.get("errorCode")
                    .and_then(Value::as_str)
                    .filter(|_| is_fcm)
                    .map(str::to_owned)
            })
        })
        .or_else(|| {
            error
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
}

/// Maps an FCM answer to an outcome.
pub fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Delivered;
    }
    let code = error_code(body);
    let reason = format!(
        "fcm answered {status} {}",
        code.as_deref().unwrap_or("(no error code)")
    );
    if code.as_deref() == Some("UNREGISTERED") {
        return Outcome::Gone { status };
    }
    match status {
        401 | 429 | 500..=599 => Outcome::Retry {
            after: retry_after,
            status: Some(status),
            reason,
        },
        _ => Outcome::Failed {
            status: Some(status),
            reason,
        },
    }
}

/// A token and when to stop using it.
struct CachedToken {
    token: String,
    refresh_at: Instant,
}

/// Why no token could be had.
enum TokenError {
    /// Try again later.
    Transient(Option<Duration>, Option<u16>, String),
    /// Configuration or credentials are wrong.
    Permanent(Option<u16>, String),
}

/// Sends FCM messages.
pub struct FcmSender {
    config: FcmConfig,
    client: awc::Client,
    token: RefCell<Option<CachedToken>>,
    refresh: tokio::sync::Mutex<()>,
}

impl FcmSender {
    /// A sender using `client` (one per arbiter).
    pub fn new(config: FcmConfig, client: awc::Client) -> Self {
        FcmSender {
            config,
            client,
            token: RefCell::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> Option<String> {
        self.token
            .borrow()
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.token.clone())
    }

    /// Forgets `token` (FCM refused it), unless a newer one replaced it.
    fn invalidate(&self, token: &str) {
        let mut slot = self.token.borrow_mut();
        if slot.as_ref().is_some_and(|t| t.token == token) {
            *slot = None;
        }
    }

    /// A valid access token, from the cache or the token endpoint.
    async fn access_token(&self) -> Result<String, TokenError> {
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let _single_flight = self.refresh.lock().await;
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let (token, lifetime) = self.fetch_token().await?;
        *self.token.borrow_mut() = Some(CachedToken {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        });
        Ok(token)
    }

    async fn fetch_token(&self) -> Result<(String, Duration), TokenError> {
        #[derive(Deserialize)]
        struct TokenResponse {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let assertion = self
            .config
            .assertion(chrono::Utc::now().timestamp())
            .map_err(|e| TokenError::Permanent(None, e))?;
        let mut response = self
            .client
            .post(self.config.token_url.as_str())
            .send_form(&[
                ("grant_type", GRANT_TYPE),
                ("assertion", assertion.as_str()),
            ])
            .await
            .map_err(|e| TokenError::Transient(None, None, format!("token request failed: {e}")))?;
        let status = response.status().as_u16();
        let retry_after = retry_after_of(response.headers());
        let body = response.body().limit(64 * 1024).await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let reason = format!(
                "token endpoint answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
            return Err(if status == 429 || status >= 500 {
                TokenError::Transient(retry_after, Some(status), reason)
            } else {
                TokenError::Permanent(Some(status), reason)
            });
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            TokenError::Permanent(Some(status), format!("token response unreadable: {e}"))
        })?;
        if parsed.access_token.is_empty() {
            return Err(TokenError::Permanent(
                Some(status),
                "token response has an empty access_token".into(),
            ));
        }
        Ok((
            parsed.access_token,
            Duration::from_secs(parsed.expires_in.unwrap_or(3600).min(24 * 3600)),
        ))
    }
}

fn retry_after_of(headers: &awc::http::header::HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now().timestamp()))
}

impl PushSender for FcmSender {
    fn send<'a>(&'a self, target: &'a Target, payload: &'a Payload) -> LocalBoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Target::Fcm { token } = target else {
                return Outcome::Failed {
                    status: None,
                    reason: "not an fcm target".into(),
                };
            };
            let access = match self.access_token().await {
                Ok(access) => access,
                Err(TokenError::Transient(after, status, reason)) => {
                    return Outcome::Retry {
                        after,
                        status,
                        reason,
                    }
                }
                Err(TokenError::Permanent(status, reason)) => {
                    return Outcome::Failed { status, reason }
                }
            };
            let result = self
                .client
                .post(self.config.send_url.as_str())
                .bearer_auth(&access)
                .send_json(&message_body(token, payload))
                .await;
            match result {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let retry_after = retry_after_of(response.headers());
                    let body = response.body().limit(64 * 1024).await.unwrap_or_default();
                    if status == 401 {
                        // Revoked or expired early: fetch a new one next time.
                        self.invalidate(&access);
                    }
                    let outcome = classify(status, &body, retry_after);
                    if !matches!(outcome, Outcome::Delivered) {
                        log::debug!(
                            "fcm send answered {status}: {}",
                            String::from_utf8_lossy(&body[..body.len().min(500)])
                        );
                    }
                    outcome
                }
                Err(e) => Outcome::Retry {
                    after: None,
                    status: None,
                    reason: format!("request failed: {e}"),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn payload(priority: Priority, url: Option<&str>) -> Payload {
        Payload {
            title: "Paid".into(),
            body: "Invoice 7 was paid".into(),
            url: url.map(Into::into),
            notification_type: "invoice_paid".into(),
            notification_id: 42,
            priority,
        }
    }

    #[test]
    fn message_body_has_token_notification_and_string_data() {
        let body = message_body(
            "tok-1",
            &payload(Priority::High, Some("https://a.example/i/7")),
        );
        let m = &body["message"];
        assert_eq!(m["token"], "tok-1");
        assert_eq!(m["notification"]["title"], "Paid");
        assert_eq!(m["notification"]["body"], "Invoice 7 was paid");
        assert_eq!(m["android"]["priority"], "HIGH");
        assert_eq!(m["apns"]["headers"]["apns-priority"], "10");
        assert_eq!(m["webpush"]["fcm_options"]["link"], "https://a.example/i/7");
        for (_, v) in m["data"].as_object().unwrap() {
            assert!(v.is_string(), "data values must be strings: {v}");
        }
        assert_eq!(m["data"]["notification_id"], "42");
        let low = message_body("t", &payload(Priority::Low, Some("http://insecure/x")));
        assert_eq!(low["message"]["android"]["priority"], "NORMAL");
        assert!(low["message"]["webpush"].get("fcm_options").is_none());
        assert!(
            message_body("t", &payload(Priority::Normal, None))["message"]["data"]
                .get("url")
                .is_none()
        );
    }

    #[test]
    fn unregistered_is_gone_and_transient_errors_retry() {
        let unregistered = br#"{"error":{"code":404,"status":"NOT_FOUND","details":[
            {"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;
        assert_eq!(
            classify(404, unregistered, None),
            Outcome::Gone { status: 404 }
        );
        assert_eq!(classify(200, b"{}", None), Outcome::Delivered);
        let quota = br#"{"error":{"status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"QUOTA_EXCEEDED"}]}}"#;
        let after = Some(Duration::from_secs(2));
        assert!(
            matches!(classify(429, quota, after), Outcome::Retry { after: a, .. } if a == after)
        );
        assert!(matches!(classify(503, b"", None), Outcome::Retry { .. }));
        assert!(matches!(classify(401, b"", None), Outcome::Retry { .. }));
        // A 404 without UNREGISTERED (say, a wrong project) keeps the token.
        let project = br#"{"error":{"code":404,"status":"NOT_FOUND"}}"#;
        assert!(matches!(
            classify(404, project, None),
            Outcome::Failed { .. }
        ));
        let invalid = br#"{"error":{"status":"INVALID_ARGUMENT","details":[
            {"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}"#;
        assert!(matches!(
            classify(400, invalid, None),
            Outcome::Failed { .. }
        ));
        assert_eq!(error_code(b"not json"), None);
        assert_eq!(error_code(project).as_deref(), Some("NOT_FOUND"));
    }
}
