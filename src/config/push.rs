//! `[push]` and `[email]`: Web Push, FCM and email delivery.

use super::*;

/// `[push]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushSettings {
    /// VAPID private key: the raw 32-byte P-256 private key, base64url
    /// (what `web-push generate-vapid-keys` and most generators print).
    /// Empty turns Web Push off.
    pub vapid_private_key: Secret,
    /// VAPID public key (base64url, 65-byte uncompressed point) served to
    /// clients. Derived from the private key when empty; must match it when set.
    pub vapid_public_key: String,
    /// VAPID `sub` claim: a `mailto:` or `https:` contact for push services.
    pub vapid_subject: String,
    /// Firebase service-account JSON key; unset turns FCM off.
    pub fcm_service_account_path: Option<PathBuf>,
    /// FCM HTTP v1 API base URL.
    pub fcm_base_url: String,
    /// OAuth2 token endpoint for the service account's JWT-bearer grant.
    pub fcm_token_url: String,
    /// Retries after a 429, a 5xx or a network error (0 = one attempt).
    pub max_retries: u32,
    /// Backoff before the first retry, doubling for each further one.
    pub retry_base_delay_ms: u64,
    /// Longest wait between attempts; a longer `Retry-After` gives up.
    pub max_retry_delay_secs: u64,
    /// Timeout of one push, token or SMTP request.
    pub request_timeout_secs: u64,
    /// Outbound push requests in flight at once.
    pub max_concurrent_requests: usize,
    /// Jobs in progress at once; more wait in the push outbox.
    pub max_queued_jobs: usize,
    /// Hosts whose plain `http://` Web Push endpoints are accepted (local
    /// test fakes only); every other endpoint must be `https://`.
    pub insecure_endpoint_hosts: Vec<String>,
    /// When not empty, Web Push endpoints must be on one of these hosts or
    /// their subdomains (e.g. `fcm.googleapis.com`, `notify.windows.com`).
    pub endpoint_host_suffixes: Vec<String>,
    /// TEST ONLY: accept and connect to Web Push endpoints on loopback and
    /// private addresses (the test suite's fake push service). Off, every
    /// endpoint must resolve to public addresses only.
    pub allow_private_endpoints: bool,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            vapid_private_key: Secret::default(),
            vapid_public_key: String::new(),
            vapid_subject: String::new(),
            fcm_service_account_path: None,
            fcm_base_url: "https://fcm.googleapis.com".into(),
            fcm_token_url: "https://oauth2.googleapis.com/token".into(),
            max_retries: 3,
            retry_base_delay_ms: 1000,
            max_retry_delay_secs: 300,
            request_timeout_secs: 10,
            max_concurrent_requests: 16,
            max_queued_jobs: 10_000,
            insecure_endpoint_hosts: Vec::new(),
            endpoint_host_suffixes: Vec::new(),
            allow_private_endpoints: false,
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a local relay or a test sink only).
    None,
    /// STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[email]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// Send notification email at all.
    pub enabled: bool,
    /// SMTP server.
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: u16,
    /// `none`, `starttls` or `tls`.
    pub tls: SmtpTls,
    /// SMTP user; empty means no authentication.
    pub username: String,
    /// SMTP password.
    pub password: Secret,
    /// The From mailbox, e.g. `Tandem <noreply@example.com>`.
    pub from: String,
    /// Seconds for each SMTP command.
    pub timeout_secs: u64,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            enabled: false,
            smtp_host: "127.0.0.1".into(),
            smtp_port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: Secret::default(),
            from: "Tandem <noreply@localhost>".into(),
            timeout_secs: 10,
        }
    }
}
