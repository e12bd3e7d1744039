//! RFC 6455 handshake rules the WebSocket codec does not enforce, checked
//! first on every upgrade path (`/ws`, `/yjs/...`), before the token:
//!
//! - a request that is not HTTP/1.1 or later is refused (`400 bad_handshake`):
//!   HTTP/1.0 has no `Upgrade` mechanism (RFC 6455 §4.1);
//! - a `Sec-WebSocket-Version` other than `13` gets `426 Upgrade Required`
//!   with `Sec-WebSocket-Version: 13`, so the client can retry with a
//!   version the server speaks (§4.4);
//! - a `Sec-WebSocket-Key` that is not 16 bytes in base64 is refused
//!   (`400 bad_handshake`, §4.1 item 7); so are repeated version or key
//!   headers.
//!
//! A request with neither header is left to the codec's own checks (which
//! answer `400 not_a_websocket`).

use actix_web::http::{header, StatusCode, Version};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;

/// Why a handshake is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not HTTP/1.1 or later.
    HttpVersion,
    /// A version other than 13 (426).
    WebSocketVersion,
    /// A key that is not 16 bytes of base64.
    Key,
}

/// The pure rules, on the request's HTTP version and raw header values.
pub fn judge(version: Version, versions: &[&[u8]], keys: &[&[u8]]) -> Result<(), Refusal> {
    if version < Version::HTTP_11 {
        return Err(Refusal::HttpVersion);
    }
    match versions {
        [] => {}
        [v] if v.trim_ascii() == b"13" => {}
        _ => return Err(Refusal::WebSocketVersion),
    }
    match keys {
        [] => Ok(()),
        [k] => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(k.trim_ascii());
            match decoded {
                Ok(bytes) if bytes.len() == 16 => Ok(()),
                _ => Err(Refusal::Key),
            }
        }
        _ => Err(Refusal::Key),
    }
}

/// Checks `req`; `Some` is the response to send instead of upgrading.
pub fn refusal(req: &HttpRequest) -> Option<HttpResponse> {
    let values = |name: &header::HeaderName| -> Vec<&[u8]> {
        req.headers().get_all(name).map(|v| v.as_bytes()).collect()
    };
    let versions = values(&header::SEC_WEBSOCKET_VERSION);
    let keys = values(&header::SEC_WEBSOCKET_KEY);
    judge(req.version(), &versions, &keys).err().map(|refusal| {
        let (status, message) = match refusal {
            Refusal::HttpVersion => (
                StatusCode::BAD_REQUEST,
                "a WebSocket upgrade needs HTTP/1.1 or later",
            ),
            Refusal::WebSocketVersion => (
                StatusCode::UPGRADE_REQUIRED,
                "this server speaks WebSocket version 13 only",
            ),
            Refusal::Key => (
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Key must be one base64 value of 16 bytes",
            ),
        };
        let mut response = HttpResponse::build(status);
        if refusal == Refusal::WebSocketVersion {
            response.insert_header((header::SEC_WEBSOCKET_VERSION, "13"));
        }
        response.json(serde_json::json!({
            "error": if status == StatusCode::UPGRADE_REQUIRED { "upgrade_required" } else { "bad_handshake" },
            "message": message,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn rfc_6455_handshake_rules() {
        let v11 = Version::HTTP_11;
        assert_eq!(judge(v11, &[b"13"], &[KEY]), Ok(()));
        assert_eq!(judge(v11, &[], &[]), Ok(()));
        assert_eq!(
            judge(Version::HTTP_10, &[b"13"], &[KEY]),
            Err(Refusal::HttpVersion)
        );
        for bad in [&b"8"[..], b"14", b"", b"13, 8"] {
            assert_eq!(judge(v11, &[bad], &[KEY]), Err(Refusal::WebSocketVersion));
        }
        assert_eq!(
            judge(v11, &[b"13", b"13"], &[KEY]),
            Err(Refusal::WebSocketVersion)
        );
        for bad in [
            &b"dGhlIHNhbXBsZSBub25j"[..], // 15 bytes
            b"dGhlIHNhbXBsZSBub25jZTEx",  // 17 bytes
            b"not base64 at all!!!!!==",
            b"",
        ] {
            assert_eq!(judge(v11, &[b"13"], &[bad]), Err(Refusal::Key), "{bad:?}");
        }
        assert_eq!(judge(v11, &[b"13"], &[KEY, KEY]), Err(Refusal::Key));
    }
}
