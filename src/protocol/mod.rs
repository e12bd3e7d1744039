//! Wire types of the WebSocket JSON protocol, and nothing else: no actor
//! messages live here. `docs/protocol.md` describes the same protocol for
//! client authors.
//!
//! Every client message is a JSON object `{"type": ..., "ref": ..., ...}`.
//! [`parse_client_message`] turns a text frame into a [`ClientMessage`] or a
//! [`ProtocolError`] that still carries the request's `ref`, so every error
//! can be answered with the same `ref` the client sent.

pub mod client;
pub mod frame;
pub mod server;

pub use client::ClientMessage;
pub use frame::{Frame, FrameKind};
pub use server::{ErrorCode, ServerMessage};

use serde::{Deserialize, Serialize};

/// A client-chosen request id, echoed in the `ack` or `error`.
/// A string of at most 128 bytes, or a number of at most
/// [`MAX_NUMERIC_REF_CHARS`] characters, echoed exactly as the client wrote it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Ref {
    /// `"ref": "r1"`
    Str(String),
    /// `"ref": 17`
    Num(RawNumber),
}

/// Longest numeric `ref` accepted, in characters.
pub const MAX_NUMERIC_REF_CHARS: usize = 512;

/// A JSON number token as the client wrote it, so a 300-digit number or
/// `1.50` comes back unchanged rather than rounded through `f64`.
#[derive(Debug, Clone)]
pub struct RawNumber(Box<serde_json::value::RawValue>);

impl RawNumber {
    /// The token text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

#[cfg(test)]
impl From<i64> for RawNumber {
    fn from(n: i64) -> Self {
        #[allow(clippy::unwrap_used)]
        RawNumber(serde_json::value::RawValue::from_string(n.to_string()).unwrap())
    }
}

impl PartialEq for RawNumber {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for RawNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Reads a raw `ref` token: `Ok(None)` for null, `Err` for anything that
/// is not an allowed string or number.
fn ref_from_raw(raw: Box<serde_json::value::RawValue>) -> Result<Option<Ref>, ()> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'n') => Ok(None),
        Some(b'"') => match serde_json::from_str::<String>(text) {
            Ok(s) if s.len() <= 128 => Ok(Some(Ref::Str(s))),
            _ => Err(()),
        },
        Some(b'-' | b'0'..=b'9') if text.len() <= MAX_NUMERIC_REF_CHARS => {
            Ok(Some(Ref::Num(RawNumber(raw))))
        }
        _ => Err(()),
    }
}

/// WebSocket close codes Tandem uses. See docs/protocol.md.
pub mod close_code {
    /// Normal closure (the client asked, or the server is done).
    pub const NORMAL: u16 = 1000;
    /// A protocol violation the codec caught (bad frame, unmasked frame...).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text message that is not valid UTF-8 (checked as fragments arrive).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A frame larger than `websocket.max_frame_bytes`.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server is shutting down or restarting; reconnect later.
    pub const SERVICE_RESTART: u16 = 1012;
    /// No frame of any kind within `websocket.client_timeout_secs`.
    pub const HEARTBEAT_TIMEOUT: u16 = 4000;
    /// The token expired and no `auth:refresh` replaced it.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// An admin disconnected this connection or every connection of its
    /// user (reason `disconnected by an admin`); the user's access may also
    /// be revoked for a while. Clients must not reconnect on their own.
    pub const KICKED: u16 = 4003;
    /// The outbound queue passed `websocket.outbound_queue_limit`.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// Sustained flooding past the rate limit.
    pub const RATE_LIMIT_ABUSE: u16 = 4029;
}

/// A text frame that is not a valid client message. It keeps the `ref`
/// when one could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    /// The request's `ref`, if the frame had a readable one.
    pub r#ref: Option<Ref>,
    /// Stable error code.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

/// Just the envelope: read first, so `ref` survives a bad body. `ref` is
/// kept as the raw token, so a number is echoed exactly as written.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
    #[serde(rename = "ref")]
    r#ref: Option<Box<serde_json::value::RawValue>>,
}

/// Reads only the `ref` of a message (for replies to messages that are
/// refused before parsing, such as oversized ones).
pub fn peek_ref(text: &str) -> Option<Ref> {
    #[derive(Deserialize)]
    struct RefOnly {
        #[serde(rename = "ref")]
        r#ref: Option<Box<serde_json::value::RawValue>>,
    }
    serde_json::from_str::<RefOnly>(text)
        .ok()
        .and_then(|r| r.r#ref)
        .and_then(|raw| ref_from_raw(raw).ok().flatten())
}

/// Parses one text frame into a client message and its `ref`.
pub fn parse_client_message(text: &str) -> Result<(Option<Ref>, ClientMessage), ProtocolError> {
    parse_client_message_typed(text).map(|(r#ref, _, msg)| (r#ref, msg))
}

/// A well-formed message in one pass: the `ref` is read as the envelope's,
/// the rest (with `type`) goes to the message. Anything this refuses, or a
/// `ref` out of bounds, takes [`parse_checked`], which finds what is wrong.
#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "ref", default)]
    r#ref: Option<Box<serde_json::value::RawValue>>,
    #[serde(flatten)]
    msg: ClientMessage,
}

/// The `type` of a message as written; other fields are skipped unread.
#[derive(Deserialize)]
struct TypeTag<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

/// [`parse_client_message`], also returning the message's `type` (one of
/// [`ClientMessage::TYPES`]) so callers can label it without parsing again.
///
/// A valid message is parsed once (`Incoming`). Only one that fails that
/// takes the checked path, which parses it up to three times to answer with
/// the right code and the request's `ref`. Both accept the same messages
/// (tested); the checked path alone decides every error.
pub fn parse_client_message_typed(
    text: &str,
) -> Result<(Option<Ref>, &'static str, ClientMessage), ProtocolError> {
    match one_pass(text) {
        Some(parsed) => Ok(parsed),
        None => parse_checked(text),
    }
}

/// The one pass: `None` for anything [`parse_checked`] has to look at.
fn one_pass(text: &str) -> Option<(Option<Ref>, &'static str, ClientMessage)> {
    let Incoming { r#ref, msg } = serde_json::from_str::<Incoming>(text).ok()?;
    // serde reads an enum tag that is a small integer as the variant's index
    // (`{"type":0}` would be the first message). A lexing pass without
    // allocation confirms the tag is the string the message names.
    let TypeTag { kind } = serde_json::from_str::<TypeTag>(text).ok()?;
    if kind != msg.type_name() {
        return None;
    }
    // A raw `ref` is not parsed as a number; the checked path's `Value`
    // refuses one out of range (past 1.8e308) as invalid JSON.
    if let Some(raw) = &r#ref {
        if raw
            .get()
            .starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
            && serde_json::from_str::<serde_json::Number>(raw.get()).is_err()
        {
            return None;
        }
    }
    let r#ref = r#ref.map_or(Ok(None), ref_from_raw).ok()?;
    Some((r#ref, msg.type_name(), msg))
}

/// The checked path: a `Value` (is it JSON, an object?), the envelope (a
/// readable `ref`, one `type`, one `ref`), then the message itself.
fn parse_checked(text: &str) -> Result<(Option<Ref>, &'static str, ClientMessage), ProtocolError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ProtocolError {
        r#ref: None,
        code: ErrorCode::InvalidJson,
        message: format!("not valid JSON: {e}"),
    })?;
    if !value.is_object() {
        return Err(ProtocolError {
            r#ref: None,
            code: ErrorCode::InvalidMessage,
            message: "a message must be a JSON object".into(),
        });
    }
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| ProtocolError {
        r#ref: None,
        code: ErrorCode::InvalidMessage,
        message: e.to_string(),
    })?;
    let r#ref = match envelope.r#ref.map(ref_from_raw) {
        None => None,
        Some(Ok(r)) => r,
        Some(Err(())) => {
            return Err(ProtocolError {
                r#ref: None,
                code: ErrorCode::InvalidField,
                message: format!(
                    "`ref` must be a string of at most 128 bytes or a number of at most \
                     {MAX_NUMERIC_REF_CHARS} characters"
                ),
            })
        }
    };
    let kind = match envelope.kind {
        Some(serde_json::Value::String(s)) => s,
        Some(_) => {
            return Err(ProtocolError {
                r#ref,
                code: ErrorCode::InvalidField,
                message: "`type` must be a string".into(),
            })
        }
        None => {
            return Err(ProtocolError {
                r#ref,
                code: ErrorCode::InvalidMessage,
                message: "missing `type`".into(),
            })
        }
    };
    let Some(&type_name) = ClientMessage::TYPES.iter().find(|t| **t == kind) else {
        return Err(ProtocolError {
            r#ref,
            code: ErrorCode::UnknownType,
            message: format!("unknown message type `{kind}`"),
        });
    };
    // `ref` belongs to the envelope, not to any message's fields.
    let mut value = value;
    if let Some(obj) = value.as_object_mut() {
        obj.remove("ref");
    }
    match serde_json::from_value::<ClientMessage>(value) {
        Ok(msg) => Ok((r#ref, type_name, msg)),
        Err(e) => Err(ProtocolError {
            r#ref,
            code: ErrorCode::InvalidField,
            message: format!("`{kind}`: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_listed_type_is_parseable_or_reports_fields() {
        for kind in ClientMessage::TYPES {
            let text = format!(r#"{{"type":"{kind}","ref":1}}"#);
            match parse_client_message(&text) {
                Ok(_) => {}
                Err(e) => assert_eq!(e.code, ErrorCode::InvalidField, "{kind}: {e:?}"),
            }
        }
    }

    #[test]
    fn bad_input_keeps_the_ref() {
        let e = parse_client_message(r#"{"type":"nope","ref":"a"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownType);
        assert_eq!(e.r#ref, Some(Ref::Str("a".into())));
        let e = parse_client_message(r#"{"type":"auth:refresh","ref":"b"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidField);
        assert_eq!(e.r#ref, Some(Ref::Str("b".into())));
        let e = parse_client_message(r#"{"type":"auth:refresh","ref":"c","token":5}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidField);
        let e = parse_client_message("{nope").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
        let e = parse_client_message("[1]").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidMessage);
        let e = parse_client_message(r#"{"ref":"d"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidMessage);
        assert_eq!(e.r#ref, Some(Ref::Str("d".into())));
    }

    #[test]
    fn heartbeat_parses() {
        let (r, m) = parse_client_message(r#"{"type":"heartbeat","ref":7}"#).unwrap();
        assert_eq!(r, Some(Ref::Num(7.into())));
        assert!(matches!(m, ClientMessage::Heartbeat {}));
    }

    /// One message of each type, as the docs show them.
    const VALID: &[&str] = &[
        r#"{"type":"heartbeat","ref":1}"#,
        r#"{"type":"auth:refresh","ref":"r","token":"t"}"#,
        r#"{"type":"presence:list"}"#,
        r#"{"ref":2,"type":"presence:status","status":"busy"}"#,
        r#"{"type":"presence:location","entity_type":"doc","entity_id":"1"}"#,
        r#"{"type":"presence:subscribe","user_ids":["a","b"]}"#,
        r#"{"type":"presence:unsubscribe","user_ids":["a"]}"#,
        r#"{"type":"presence:viewers","entity_type":"doc","entity_id":"1"}"#,
        r#"{"type":"room:join","ref":null,"entity_type":"doc","entity_id":"1"}"#,
        r#"{"type":"room:members","entity_type":"doc","entity_id":"1","limit":10}"#,
        r#"{"type":"room:leave","entity_type":"doc","entity_id":"1"}"#,
        r#"{"type":"cursor:move","entity_type":"doc","entity_id":"1","position":{"x":1}}"#,
        r#"{"type":"typing:start","entity_type":"doc","entity_id":"1","field":"body"}"#,
        r#"{"type":"typing:stop","entity_type":"doc","entity_id":"1"}"#,
        r#"{"type":"editing:start","entity_type":"doc","entity_id":"1","field":"body"}"#,
        r#"{"type":"editing:stop","entity_type":"doc","entity_id":"1","field":"body"}"#,
        r#"{"type":"room:broadcast","entity_type":"doc","entity_id":"1","event":"e","payload":{"a":[1,2]}}"#,
        r#"{"type":"doc:sync","entity_type":"doc","entity_id":"1"}"#,
        r#"{"type":"doc:edit","ref":"e1","entity_type":"doc","entity_id":"1","field":"body","revision":3,"op":[2,"h\u00e9",-1],"client_id":"c","seq":4}"#,
        r#"{"type":"doc:set","entity_type":"doc","entity_id":"1","field":"title","value":"x","version":0}"#,
        r#"{"type":"doc:undo","entity_type":"doc","entity_id":"1","field":"body"}"#,
        r#"{"type":"doc:redo","entity_type":"doc","entity_id":"1","field":"body"}"#,
        r#"{"type":"doc:lock","entity_type":"doc","entity_id":"1","field":"title","ttl_secs":30}"#,
        r#"{"type":"doc:unlock","entity_type":"doc","entity_id":"1","field":"title"}"#,
        r#"{"type":"notification:read","id":5}"#,
        r#"{"type":"notification:sync","after_id":0}"#,
        r#"{"t\u0079pe":"heartbeat","r\u0065f":"esc"}"#,
    ];

    #[test]
    fn valid_messages_take_the_one_pass_and_agree_with_the_checked_path() {
        let mut types = std::collections::BTreeSet::new();
        for text in VALID {
            let fast = one_pass(text);
            let Some(fast) = fast else {
                panic!(
                    "{text}: refused by the one pass ({:?})",
                    parse_checked(text)
                );
            };
            assert_eq!(Ok(fast.clone()), parse_checked(text), "{text}");
            assert_eq!(fast.1, fast.2.type_name());
            types.insert(fast.1);
        }
        // Every type is covered, and type_name names each as TYPES does.
        assert_eq!(types.len(), ClientMessage::TYPES.len());
        assert!(types.iter().all(|t| ClientMessage::TYPES.contains(t)));
    }

    #[test]
    fn what_the_one_pass_would_let_through_is_still_refused() {
        let cases = [
            (
                r#"{"type":"heartbeat","type":"heartbeat"}"#,
                ErrorCode::InvalidMessage,
            ),
            (
                r#"{"type":"heartbeat","ref":1,"ref":2}"#,
                ErrorCode::InvalidMessage,
            ),
            (
                r#"{"type":"heartbeat","ref":{"a":1}}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"type":"heartbeat","ref":true}"#,
                ErrorCode::InvalidField,
            ),
            (r#"{"type":"heartbeat","extra":1}"#, ErrorCode::InvalidField),
            (r#"{"type":"heartbeat"} x"#, ErrorCode::InvalidJson),
            // serde alone would take a small integer tag as a variant index.
            (r#"{"type":0}"#, ErrorCode::InvalidField),
            (r#"{"type":7,"ref":1}"#, ErrorCode::InvalidField),
            (r#"{"t\u0079pe":0}"#, ErrorCode::InvalidField),
        ];
        for (text, code) in cases {
            assert_eq!(parse_client_message(text).unwrap_err().code, code, "{text}");
        }
        let huge = format!(r#"{{"type":"heartbeat","ref":2{}}}"#, "0".repeat(320));
        assert_eq!(
            parse_client_message(&huge).unwrap_err().code,
            ErrorCode::InvalidJson
        );
        let long = format!(r#"{{"type":"heartbeat","ref":"{}"}}"#, "r".repeat(129));
        assert_eq!(
            parse_client_message(&long).unwrap_err().code,
            ErrorCode::InvalidField
        );
    }

    /// Keys a message may have, right or wrong.
    fn key() -> impl Strategy<Value = String> {
        let names = [
            "type",
            "ref",
            "r\\u0065f",
            "entity_type",
            "entity_id",
            "field",
            "op",
            "revision",
            "client_id",
            "seq",
            "status",
            "token",
            "user_ids",
            "value",
            "version",
            "id",
            "after_id",
            "limit",
            "event",
            "payload",
            "position",
            "ttl_secs",
            "x",
        ];
        prop::sample::select(names.to_vec()).prop_map(|k| format!("\"{k}\""))
    }

    /// Values of every JSON kind, including each `type` name.
    fn value() -> impl Strategy<Value = String> {
        let types = ClientMessage::TYPES.iter().map(|t| format!("\"{t}\""));
        let fixed: Vec<String> = types
            .chain(
                [
                    "null",
                    "true",
                    "0",
                    "-1",
                    "7",
                    "1.5",
                    "1e400",
                    "\"a\"",
                    "\"busy\"",
                    "\"\\u00e9\"",
                    "[]",
                    "[1,\"a\",-1]",
                    "[\"u\"]",
                    "{}",
                    "{\"a\":1}",
                ]
                .map(String::from),
            )
            .collect();
        prop_oneof![
            prop::sample::select(fixed),
            "[a-z]{0,140}".prop_map(|s| format!("\"{s}\"")),
            "[0-9]{1,600}",
            // Small integers, which serde would take as a variant index.
            (0u32..40).prop_map(|n| n.to_string()),
        ]
    }

    proptest::proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_one_pass_agrees_with_the_checked_path(
            entries in prop::collection::vec((key(), value()), 0..7),
            head in prop::sample::select(ClientMessage::TYPES.to_vec()),
            with_head in proptest::bool::ANY,
        ) {
            let mut parts: Vec<String> = entries.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            if with_head {
                parts.insert(0, format!("\"type\":\"{head}\""));
            }
            let text = format!("{{{}}}", parts.join(","));
            if let Some(fast) = one_pass(&text) {
                proptest::prop_assert_eq!(Ok(fast), parse_checked(&text), "{}", text);
            }
            proptest::prop_assert_eq!(parse_client_message_typed(&text), parse_checked(&text));
        }
    }

    #[test]
    fn numeric_refs_are_echoed_exactly_as_written() {
        let big = "9".repeat(300);
        for token in [big.as_str(), "1.50", "-0", "1e300", "12345678901234567890"] {
            let text = format!(r#"{{"type":"heartbeat","ref":{token}}}"#);
            let (r, _) = parse_client_message(&text).unwrap();
            let r = r.unwrap();
            assert_eq!(serde_json::to_string(&r).unwrap(), token);
            assert_eq!(
                serde_json::to_string(&peek_ref(&text).unwrap()).unwrap(),
                token
            );
        }
        let too_long = format!(r#"{{"type":"heartbeat","ref":0.{}}}"#, "1".repeat(520));
        assert_eq!(
            parse_client_message(&too_long).unwrap_err().code,
            ErrorCode::InvalidField
        );
    }
}
