//! Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payloads (RFC 8291).
//!
//! The `web-push` crate signs and encrypts (`default-features = false`, so no
//! curl); the request it builds is sent through awc.

use super::destination::{Destination, Refusal};
use super::retry::parse_retry_after;
use super::sender::{Outcome, Payload, PushSender, Target};
use super::Priority;
use crate::config::PushSettings;
use base64::Engine as _;
use futures_util::future::LocalBoxFuture;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use web_push::{
    ContentEncoding, PartialVapidSignatureBuilder, SubscriptionInfo, Urgency,
    VapidSignatureBuilder, WebPushMessageBuilder,
};

/// The server's VAPID identity.
#[derive(Clone)]
pub struct VapidKeys {
    builder: PartialVapidSignatureBuilder,
    public_key: String,
    subject: String,
}

impl std::fmt::Debug for VapidKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeys")
            .field("public_key", &self.public_key)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl VapidKeys {
    /// Reads `push.vapid_*`; `None` when no private key is configured (Web
    /// Push is then off). Errors name the config key.
    pub fn from_settings(s: &PushSettings) -> Result<Option<VapidKeys>, String> {
        let private = s.vapid_private_key.expose().trim();
        if private.is_empty() {
            if !s.vapid_public_key.trim().is_empty() {
                return Err(
                    "config key `push.vapid_public_key`: set, but push.vapid_private_key is empty"
                        .into(),
                );
            }
            return Ok(None);
        }
        let raw = decode_base64url(private).ok_or(
            "config key `push.vapid_private_key`: not base64url (the raw 32-byte P-256 private key)",
        )?;
        if raw.len() != 32 {
            return Err(format!(
                "config key `push.vapid_private_key`: decodes to {} bytes, expected the raw 32-byte P-256 private key",
                raw.len()
            ));
        }
        let canonical = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
        let builder = VapidSignatureBuilder::from_base64_no_sub(&canonical)
            .map_err(|e| format!("config key `push.vapid_private_key`: {e}"))?;
        let public_key =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(builder.get_public_key());
        let configured = s.vapid_public_key.trim();
        if !configured.is_empty() && decode_base64url(configured) != decode_base64url(&public_key) {
            return Err(format!(
                "config key `push.vapid_public_key`: does not belong to push.vapid_private_key (its public key is {public_key})"
            ));
        }
        let subject = s.vapid_subject.trim().to_owned();
        if !(subject.starts_with("mailto:") || subject.starts_with("https://")) {
            return Err(
                "config key `push.vapid_subject`: must be a mailto: or https: contact".into(),
            );
        }
        Ok(Some(VapidKeys {
            builder,
            public_key,
            subject,
        }))
    }

    /// The public key (uncompressed P-256 point, base64url) clients pass to
    /// `pushManager.subscribe` as `applicationServerKey`.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }
}

/// Decodes base64url or standard base64, padded or not.
pub fn decode_base64url(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let trimmed = s.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD_NO_PAD.decode(trimmed))
        .ok()
}

/// TTL (seconds the push service keeps an undelivered message) and urgency.
pub fn ttl_and_urgency(priority: Priority) -> (u32, Urgency) {
    match priority {
        Priority::Urgent | Priority::High => (24 * 3600, Urgency::High),
        Priority::Normal => (24 * 3600, Urgency::Normal),
        Priority::Low => (3600, Urgency::Low),
    }
}

/// The origin of an endpoint (`scheme://host[:port]`, default port left
/// out), which is the VAPID `aud`.
pub fn origin_of(endpoint: &str) -> Option<String> {
    let uri: awc::http::Uri = endpoint.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    Some(match uri.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// Maps a push service's answer to an outcome.
pub fn classify(status: u16, retry_after: Option<Duration>) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        404 | 410 => Outcome::Gone { status },
        429 | 500..=599 => Outcome::Retry {
            after: retry_after,
            status: Some(status),
            reason: format!("push service answered {status}"),
        },
        413 => Outcome::Failed {
            status: Some(status),
            reason: "payload too large".into(),
        },
        _ => Outcome::Failed {
            status: Some(status),
            reason: format!("push service answered {status}"),
        },
    }
}

/// A request ready to send.
struct Prepared {
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Sends Web Push messages.
pub struct WebPushSender {
    vapid: VapidKeys,
    client: awc::Client,
    destination: Destination,
}

impl WebPushSender {
    /// A sender using `client` (one per arbiter) that connects only where
    /// `destination` allows.
    pub fn new(vapid: VapidKeys, client: awc::Client, destination: Destination) -> Self {
        WebPushSender {
            vapid,
            client,
            destination,
        }
    }

    /// Signs and encrypts (CPU only, no I/O).
    fn prepare(
        &self,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        payload: &Payload,
    ) -> Result<Prepared, String> {
        let aud = origin_of(endpoint).ok_or("endpoint is not an http(s) URL")?;
        let info = SubscriptionInfo::new(endpoint, p256dh, auth);
        let mut signature = self.vapid.builder.clone().add_sub_info(&info);
        signature.add_claim("aud", aud);
        signature.add_claim("sub", self.vapid.subject.as_str());
        let signature = signature.build().map_err(|e| format!("vapid: {e}"))?;
        let json = payload.to_bounded_json();
        let (ttl, urgency) = ttl_and_urgency(payload.priority);
        let mut message = WebPushMessageBuilder::new(&info);
        message.set_ttl(ttl);
        message.set_urgency(urgency);
        message.set_vapid_signature(signature);
        message.set_payload(ContentEncoding::Aes128Gcm, &json);
        let message = message.build().map_err(|e| format!("encrypt: {e}"))?;
        let request = web_push::request_builder::build_request::<Vec<u8>>(message);
        let headers = request
            .headers()
            .iter()
            .filter(|(name, _)| *name != "content-length")
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|v| (name.as_str().to_owned(), v.to_owned()))
            })
            .collect();
        Ok(Prepared {
            uri: request.uri().to_string(),
            headers,
            body: request.into_body(),
        })
    }
}

impl PushSender for WebPushSender {
    fn send<'a>(&'a self, target: &'a Target, payload: &'a Payload) -> LocalBoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Target::WebPush {
                endpoint,
                p256dh,
                auth,
            } = target
            else {
                return Outcome::Failed {
                    status: None,
                    reason: "not a web push target".into(),
                };
            };
            // The crate has unwraps on paths we validate away; never let one
            // take the task down.
            let prepared = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.prepare(endpoint, p256dh, auth, payload)
            }))
            .unwrap_or_else(|_| Err("web-push panicked while preparing".into()));
            let prepared = match prepared {
                Ok(p) => p,
                Err(reason) => {
                    return Outcome::Failed {
                        status: None,
                        reason,
                    }
                }
            };
            // Resolve once, check every address, connect to the one checked.
            let address = match self.destination.resolve_url(&prepared.uri).await {
                Ok(address) => address,
                Err(Refusal::Unresolved) => {
                    return Outcome::Retry {
                        after: None,
                        status: None,
                        reason: "the endpoint host does not resolve".into(),
                    }
                }
                Err(refusal) => {
                    return Outcome::Refused {
                        reason: refusal.to_string(),
                    }
                }
            };
            let mut request = self.client.post(prepared.uri.as_str()).address(address);
            for (name, value) in &prepared.headers {
                request = request.insert_header((name.as_str(), value.as_str()));
            }
            match request.send_body(prepared.body).await {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, chrono::Utc::now().timestamp()));
                    if !response.status().is_success() {
                        let body = response.body().limit(4096).await.unwrap_or_default();
                        log::debug!(
                            "web push to {} answered {status}: {}",
                            redact(endpoint),
                            String::from_utf8_lossy(&body)
                        );
                    }
                    classify(status, retry_after)
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

/// An endpoint for logs: the origin only (the path identifies a device).
pub fn redact(endpoint: &str) -> String {
    origin_of(endpoint).unwrap_or_else(|| "<invalid endpoint>".into()) + "/…"
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::Secret;

    // A key from the web-push crate's own tests.
    const PRIVATE: &str = "IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY";

    fn settings(private: &str, public: &str, subject: &str) -> PushSettings {
        PushSettings {
            vapid_private_key: Secret::new(private),
            vapid_public_key: public.into(),
            vapid_subject: subject.into(),
            ..PushSettings::default()
        }
    }

    #[test]
    fn keys_load_derive_and_check_the_public_key() {
        assert!(VapidKeys::from_settings(&settings("", "", ""))
            .unwrap()
            .is_none());
        let keys = VapidKeys::from_settings(&settings(PRIVATE, "", "mailto:ops@example.com"))
            .unwrap()
            .unwrap();
        let public = keys.public_key().to_owned();
        assert_eq!(decode_base64url(&public).unwrap().len(), 65);
        // The matching public key is accepted, padded or not.
        VapidKeys::from_settings(&settings(
            PRIVATE,
            &format!("{public}="),
            "https://example.com",
        ))
        .unwrap()
        .unwrap();
        let err = VapidKeys::from_settings(&settings(
            PRIVATE,
            "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "mailto:a@b.c",
        ))
        .unwrap_err();
        assert!(err.contains("push.vapid_public_key"), "{err}");
        let err = VapidKeys::from_settings(&settings(PRIVATE, "", "ops@example.com")).unwrap_err();
        assert!(err.contains("push.vapid_subject"), "{err}");
        let err = VapidKeys::from_settings(&settings("abc", "", "mailto:a@b.c")).unwrap_err();
        assert!(err.contains("push.vapid_private_key"), "{err}");
        let err = VapidKeys::from_settings(&settings("!!", "", "mailto:a@b.c")).unwrap_err();
        assert!(err.contains("push.vapid_private_key"), "{err}");
        let err = VapidKeys::from_settings(&settings("", "BAAA", "")).unwrap_err();
        assert!(err.contains("push.vapid_public_key"), "{err}");
    }

    #[test]
    fn priority_maps_to_ttl_and_urgency() {
        assert_eq!(ttl_and_urgency(Priority::Urgent), (86400, Urgency::High));
        assert_eq!(ttl_and_urgency(Priority::High), (86400, Urgency::High));
        assert_eq!(ttl_and_urgency(Priority::Normal), (86400, Urgency::Normal));
        assert_eq!(ttl_and_urgency(Priority::Low), (3600, Urgency::Low));
    }

    #[test]
    fn origin_keeps_non_default_ports_only() {
        assert_eq!(
            origin_of("https://fcm.googleapis.com/fcm/send/abc").as_deref(),
            Some("https://fcm.googleapis.com")
        );
        assert_eq!(
            origin_of("https://Push.Example:443/x").as_deref(),
            Some("https://push.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8123/wp/1").as_deref(),
            Some("http://127.0.0.1:8123")
        );
        assert_eq!(origin_of("ftp://x/y"), None);
        assert_eq!(origin_of("not a url"), None);
        assert_eq!(origin_of("/relative"), None);
    }

    #[test]
    fn statuses_classify() {
        assert_eq!(classify(201, None), Outcome::Delivered);
        assert_eq!(classify(404, None), Outcome::Gone { status: 404 });
        assert_eq!(classify(410, None), Outcome::Gone { status: 410 });
        let after = Some(Duration::from_secs(1));
        assert!(matches!(classify(429, after), Outcome::Retry { after: a, .. } if a == after));
        assert!(matches!(classify(503, None), Outcome::Retry { .. }));
        assert!(matches!(classify(413, None), Outcome::Failed { .. }));
        assert!(matches!(classify(400, None), Outcome::Failed { .. }));
        assert!(matches!(classify(403, None), Outcome::Failed { .. }));
    }

    #[test]
    fn lenient_base64() {
        assert_eq!(decode_base64url("AQID").unwrap(), vec![1, 2, 3]);
        assert_eq!(decode_base64url("_-8=").unwrap(), vec![255, 239]);
        assert_eq!(decode_base64url("/+8").unwrap(), vec![255, 239]);
        assert!(decode_base64url("a b").is_none());
    }
}
