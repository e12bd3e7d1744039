//! What every channel shares: the payload, the target, the outcome of one
//! attempt, and the [`PushSender`] trait the dispatcher drives.

use super::{Priority, PushJob};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use std::time::Duration;

/// Largest Web Push plaintext the encryption layer accepts (web-push refuses
/// more than 3052 bytes); the JSON is kept below it.
pub const MAX_PAYLOAD_BYTES: usize = 3000;

/// The notification as every channel sends it. Web Push clients receive it
/// as JSON: `{title, body, url, type, notification_id, priority}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payload {
    /// Title.
    pub title: String,
    /// Body text (may be empty).
    pub body: String,
    /// Link to open, if any.
    pub url: Option<String>,
    /// Notification type (`payment_received`, `test`, ...).
    #[serde(rename = "type")]
    pub notification_type: String,
    /// realtime_notifications.id, 0 for a test push.
    pub notification_id: i64,
    /// Priority.
    pub priority: Priority,
}

impl Payload {
    /// The payload of a job.
    pub fn from_job(job: &PushJob) -> Payload {
        Payload {
            title: job.title.clone(),
            body: job.message.clone().unwrap_or_default(),
            url: job.action_url.clone(),
            notification_type: job.notification_type.clone(),
            notification_id: job.notification_id,
            priority: job.priority,
        }
    }

    /// The JSON clients receive, at most [`MAX_PAYLOAD_BYTES`] (see [`Payload::bounded`]).
    pub fn to_bounded_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.bounded()).unwrap_or_default()
    }

    /// A copy whose JSON is at most [`MAX_PAYLOAD_BYTES`]: the body, then the
    /// title, are cut (at a character boundary, with an ellipsis) to the
    /// longest prefix that fits; then the url is dropped.
    pub fn bounded(&self) -> Payload {
        let fits = |p: &Payload| {
            serde_json::to_vec(p)
                .map(|j| j.len() <= MAX_PAYLOAD_BYTES)
                .unwrap_or(false)
        };
        let mut p = self.clone();
        if fits(&p) {
            return p;
        }
        let full_body = std::mem::take(&mut p.body);
        if fits(&p) {
            p.body = longest_fitting(&full_body, |body| {
                fits(&Payload {
                    body: body.to_owned(),
                    ..p.clone()
                })
            });
            return p;
        }
        let full_title = std::mem::take(&mut p.title);
        if fits(&p) {
            p.title = longest_fitting(&full_title, |title| {
                fits(&Payload {
                    title: title.to_owned(),
                    ..p.clone()
                })
            });
            return p;
        }
        p.url = None;
        p.notification_type = longest_fitting(&self.notification_type, |t| {
            fits(&Payload {
                notification_type: t.to_owned(),
                ..p.clone()
            })
        });
        p
    }
}

/// The longest prefix of `s` (plus an ellipsis when cut) that `fits`;
/// empty when none does. Binary search over character counts.
fn longest_fitting(s: &str, fits: impl Fn(&str) -> bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let cut = |keep: usize| -> String {
        let mut out: String = chars[..keep].iter().collect();
        if keep < chars.len() {
            out.push('…');
        }
        out
    };
    if fits(s) {
        return s.to_owned();
    }
    // Invariant: cut(lo) fits (or lo == 0), cut(hi) does not.
    let (mut lo, mut hi) = (0usize, chars.len());
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(&cut(mid)) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo == 0 {
        return String::new();
    }
    cut(lo)
}

/// Where one delivery goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A browser Web Push subscription.
    WebPush {
        /// The push service URL.
        endpoint: String,
        /// The client's P-256 public key, base64url.
        p256dh: String,
        /// The client's auth secret, base64url.
        auth: String,
    },
    /// An FCM registration token.
    Fcm {
        /// The token.
        token: String,
    },
    /// An email address.
    Email {
        /// The address.
        address: String,
    },
}

impl Target {
    /// `web_push`, `fcm` or `email`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::WebPush { .. } => "web_push",
            Target::Fcm { .. } => "fcm",
            Target::Email { .. } => "email",
        }
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the push service or mail server.
    Delivered,
    /// The subscription or token no longer exists: delete it.
    Gone {
        /// HTTP status.
        status: u16,
    },
    /// A transient failure: try again later.
    Retry {
        /// The server's `Retry-After`, if it sent one.
        after: Option<Duration>,
        /// HTTP status (none for network errors).
        status: Option<u16>,
        /// What went wrong.
        reason: String,
    },
    /// The server refused to send there (the endpoint is not an allowed
    /// public destination): do not retry.
    Refused {
        /// Why (for the log only).
        reason: String,
    },
    /// A permanent failure for this message: do not retry.
    Failed {
        /// HTTP status (none for local errors).
        status: Option<u16>,
        /// What went wrong.
        reason: String,
    },
}

/// One delivery channel. Implementations run on the dispatcher's own
/// arbiter (awc clients are not `Send`), so the futures are local.
pub trait PushSender {
    /// Makes one attempt to deliver `payload` to `target`.
    fn send<'a>(&'a self, target: &'a Target, payload: &'a Payload) -> LocalBoxFuture<'a, Outcome>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn payload(title: &str, body: &str) -> Payload {
        Payload {
            title: title.into(),
            body: body.into(),
            url: Some("https://app.example/x".into()),
            notification_type: "mention".into(),
            notification_id: 7,
            priority: Priority::High,
        }
    }

    #[test]
    fn payload_json_has_the_documented_fields() {
        let v: serde_json::Value =
            serde_json::from_slice(&payload("Hi", "there").to_bounded_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"title": "Hi", "body": "there", "url": "https://app.example/x",
                "type": "mention", "notification_id": 7, "priority": "high"})
        );
    }

    #[test]
    fn long_payloads_are_shortened_to_fit() {
        for body in [
            "x".repeat(10_000),
            "é".repeat(5_000),
            "\u{1}".repeat(4_000),
            "\"".repeat(4_000),
        ] {
            let json = payload("title", &body).to_bounded_json();
            assert!(json.len() <= MAX_PAYLOAD_BYTES, "{}", json.len());
            let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(v["title"], "title");
            assert!(v["body"].as_str().unwrap().ends_with('…'));
        }
        let json = payload(&"t".repeat(9_000), "").to_bounded_json();
        assert!(json.len() <= MAX_PAYLOAD_BYTES);
    }
}
