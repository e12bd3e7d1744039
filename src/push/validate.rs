//! Checks on what clients send to the push REST API (pure).

use super::store::NewSubscription;
use super::webpush::decode_base64url;
use base64::Engine as _;
use serde::Deserialize;

/// Longest endpoint URL accepted.
pub const MAX_ENDPOINT_BYTES: usize = 2048;
/// Longest FCM registration token accepted.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Longest device field (`device_type`, `device_name`, `browser`).
pub const MAX_DEVICE_FIELD_CHARS: usize = 200;

/// Body of `POST /api/v1/push/subscribe`: a browser `PushSubscription` as
/// `toJSON()` gives it (`kind` optional), or `{"kind": "fcm", "token": ...}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeBody {
    /// `web_push` or `fcm`; inferred from `token` when left out.
    pub kind: Option<String>,
    /// Web Push: the push service URL.
    pub endpoint: Option<String>,
    /// Web Push: the client keys.
    pub keys: Option<KeysBody>,
    /// Web Push: the browser's expiry (accepted and ignored).
    #[serde(rename = "expirationTime")]
    pub expiration_time: Option<serde_json::Value>,
    /// FCM: the registration token.
    pub token: Option<String>,
    /// `desktop`, `mobile`, ...
    pub device_type: Option<String>,
    /// A name for the device.
    pub device_name: Option<String>,
    /// Browser.
    pub browser: Option<String>,
}

/// `keys` of a browser subscription.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysBody {
    /// P-256 public key, base64url (65 bytes, uncompressed).
    pub p256dh: String,
    /// Auth secret, base64url (16 bytes).
    pub auth: String,
}

/// A refused request: a stable code and a message naming the field.
pub type Invalid = (&'static str, String);

fn invalid(message: impl Into<String>) -> Invalid {
    ("invalid_subscription", message.into())
}

/// Validates a subscription. `insecure_hosts` lists hosts whose `http://`
/// endpoints are accepted (tests); every other endpoint must be `https://`.
pub fn subscription(
    body: SubscribeBody,
    insecure_hosts: &[String],
) -> Result<NewSubscription, Invalid> {
    let kind = match (body.kind.as_deref(), &body.token) {
        (Some("web_push"), _) => "web_push",
        (Some("fcm"), _) => "fcm",
        (Some(other), _) => {
            return Err(invalid(format!(
                "`kind` must be \"web_push\" or \"fcm\", not {other:?}"
            )))
        }
        (None, Some(_)) => "fcm",
        (None, None) => "web_push",
    };
    let device_type = device_field("device_type", body.device_type)?;
    let device_name = device_field("device_name", body.device_name)?;
    let browser = device_field("browser", body.browser)?;
    if kind == "fcm" {
        if body.endpoint.is_some() || body.keys.is_some() {
            return Err(invalid(
                "an fcm subscription has `token` only, no `endpoint` or `keys`",
            ));
        }
        let token = fcm_token(body.token.as_deref())?;
        return Ok(NewSubscription {
            kind,
            endpoint: token,
            p256dh: None,
            auth: None,
            device_type,
            device_name,
            browser,
        });
    }
    if body.token.is_some() {
        return Err(invalid("a web_push subscription has no `token`"));
    }
    let endpoint = endpoint(
        body.endpoint
            .as_deref()
            .ok_or_else(|| invalid("`endpoint` is required"))?,
        insecure_hosts,
    )?;
    let keys = body
        .keys
        .ok_or_else(|| invalid("`keys` with `p256dh` and `auth` is required"))?;
    let p256dh =
        decode_base64url(&keys.p256dh).ok_or_else(|| invalid("`keys.p256dh` is not base64url"))?;
    if p256dh.len() != 65 || p256dh[0] != 4 || p256::PublicKey::from_sec1_bytes(&p256dh).is_err() {
        return Err(invalid(
            "`keys.p256dh` must be an uncompressed P-256 public key (65 bytes)",
        ));
    }
    let auth =
        decode_base64url(&keys.auth).ok_or_else(|| invalid("`keys.auth` is not base64url"))?;
    if auth.len() != 16 {
        return Err(invalid(format!(
            "`keys.auth` must be 16 bytes, not {}",
            auth.len()
        )));
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    Ok(NewSubscription {
        kind,
        endpoint,
        p256dh: Some(b64.encode(&p256dh)),
        auth: Some(b64.encode(&auth)),
        device_type,
        device_name,
        browser,
    })
}

/// An endpoint: an absolute `https://` URL (or `http://` to a listed host),
/// with a host, no credentials, at most [`MAX_ENDPOINT_BYTES`].
pub fn endpoint(raw: &str, insecure_hosts: &[String]) -> Result<String, Invalid> {
    if raw.is_empty() || raw.len() > MAX_ENDPOINT_BYTES {
        return Err(invalid(format!(
            "`endpoint` must be 1 to {MAX_ENDPOINT_BYTES} bytes"
        )));
    }
    let uri: awc::http::Uri = raw
        .parse()
        .map_err(|_| invalid("`endpoint` is not a URL"))?;
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("`endpoint` must be an absolute URL with a host"))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(invalid("`endpoint` must not carry credentials"));
    }
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if insecure_hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) => {}
        _ => return Err(invalid("`endpoint` must be an https:// URL")),
    }
    Ok(raw.to_owned())
}

/// An FCM registration token: 1 to [`MAX_TOKEN_BYTES`] visible ASCII characters.
pub fn fcm_token(raw: Option<&str>) -> Result<String, Invalid> {
    let token = raw.ok_or_else(|| invalid("`token` is required for fcm"))?;
    if token.is_empty()
        || token.len() > MAX_TOKEN_BYTES
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(invalid(format!(
            "`token` must be 1 to {MAX_TOKEN_BYTES} visible ASCII characters"
        )));
    }
    Ok(token.to_owned())
}

fn device_field(name: &str, value: Option<String>) -> Result<Option<String>, Invalid> {
    let Some(value) = value else { return Ok(None) };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > MAX_DEVICE_FIELD_CHARS || value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "`{name}` must be at most {MAX_DEVICE_FIELD_CHARS} characters without control characters"
        )));
    }
    Ok(Some(value.to_owned()))
}

/// A notification email address: at most 254 bytes, a valid address.
pub fn email(raw: &str) -> Result<String, Invalid> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 254 {
        return Err(("invalid_email", "`email` must be 1 to 254 bytes".into()));
    }
    let address: lettre::Address = raw
        .parse()
        .map_err(|e| ("invalid_email", format!("`email` is not an address: {e}")))?;
    Ok(address.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    // A real browser subscription's keys (from the web-push crate's tests).
    const P256DH: &str =
        "BLMbF9ffKBiWQLCKvTHb6LO8Nb6dcUh6TItC455vu2kElga6PQvUmaFyCdykxY2nOSSL3yKgfbmFLRTUaGv4yV8";
    const AUTH: &str = "xS03Fi5ErfTNH_l9WHE9Ig";

    fn web(endpoint: &str, p256dh: &str, auth: &str) -> SubscribeBody {
        serde_json::from_value(serde_json::json!({
            "endpoint": endpoint, "expirationTime": null,
            "keys": {"p256dh": p256dh, "auth": auth}
        }))
        .unwrap()
    }

    #[test]
    fn browser_subscription_json_is_accepted() {
        let s = subscription(web("https://push.example/abc", P256DH, AUTH), &[]).unwrap();
        assert_eq!(s.kind, "web_push");
        assert_eq!(s.p256dh.as_deref(), Some(P256DH));
        assert_eq!(s.auth.as_deref(), Some(AUTH));
        // Padded standard base64 is normalised to base64url.
        let padded =
            base64::engine::general_purpose::STANDARD.encode(decode_base64url(AUTH).unwrap());
        let s = subscription(web("https://push.example/abc", P256DH, &padded), &[]).unwrap();
        assert_eq!(s.auth.as_deref(), Some(AUTH));
    }

    #[test]
    fn endpoints_must_be_https_unless_listed() {
        let hosts = vec!["127.0.0.1".to_owned()];
        assert!(subscription(web("http://127.0.0.1:9/x", P256DH, AUTH), &hosts).is_ok());
        for bad in [
            "http://127.0.0.1:9/x",
            "http://push.example/x",
            "ftp://push.example/x",
            "/relative",
            "https://user:pw@push.example/x",
            "https:///nohost",
            "not a url",
            "",
        ] {
            assert!(
                subscription(web(bad, P256DH, AUTH), &[]).is_err(),
                "{bad} was accepted"
            );
        }
        let long = format!("https://push.example/{}", "a".repeat(MAX_ENDPOINT_BYTES));
        assert!(subscription(web(&long, P256DH, AUTH), &[]).is_err());
    }

    #[test]
    fn keys_must_have_the_right_lengths() {
        let e = "https://push.example/x";
        assert!(subscription(web(e, &P256DH[..40], AUTH), &[]).is_err());
        assert!(subscription(web(e, P256DH, "AAAA"), &[]).is_err());
        assert!(subscription(web(e, "!!!", AUTH), &[]).is_err());
        // 65 bytes with the 0x04 prefix that are not a curve point.
        let not_a_point = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode([[4u8].as_slice(), &[0xff; 64]].concat());
        assert!(subscription(web(e, &not_a_point, AUTH), &[]).is_err());
        let missing: SubscribeBody =
            serde_json::from_value(serde_json::json!({"endpoint": e})).unwrap();
        assert!(subscription(missing, &[]).is_err());
    }

    #[test]
    fn fcm_tokens() {
        let body: SubscribeBody = serde_json::from_value(
            serde_json::json!({"kind": "fcm", "token": "abc:APA91b-x_y", "device_type": " mobile "}),
        )
        .unwrap();
        let s = subscription(body, &[]).unwrap();
        assert_eq!((s.kind, s.endpoint.as_str()), ("fcm", "abc:APA91b-x_y"));
        assert_eq!(s.device_type.as_deref(), Some("mobile"));
        assert!(s.p256dh.is_none());
        let inferred: SubscribeBody =
            serde_json::from_value(serde_json::json!({"token": "t1"})).unwrap();
        assert_eq!(subscription(inferred, &[]).unwrap().kind, "fcm");
        for bad in [
            serde_json::json!({"kind": "fcm"}),
            serde_json::json!({"kind": "fcm", "token": ""}),
            serde_json::json!({"kind": "fcm", "token": "a b"}),
            serde_json::json!({"kind": "fcm", "token": "t", "endpoint": "https://x/y"}),
            serde_json::json!({"kind": "apns", "token": "t"}),
            serde_json::json!({"kind": "fcm", "token": "t", "device_name": "x".repeat(201)}),
            serde_json::json!({"kind": "web_push", "token": "t"}),
        ] {
            let body: SubscribeBody = serde_json::from_value(bad.clone()).unwrap();
            assert!(subscription(body, &[]).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(email(" ana@example.com ").unwrap(), "ana@example.com");
        assert!(email("ana").is_err());
        assert!(email("").is_err());
        assert!(email("a@b\r\nBcc: x@y").is_err());
        assert!(email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
