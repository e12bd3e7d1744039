//! One actor per y-websocket socket (`GET /yjs/{document}`). It is the only
//! file that touches a Yjs socket: it decodes binary frames into
//! [`Incoming`] messages for its document actor, writes the frames the
//! document actor sends it, pings, and closes on expiry, silence, flooding or
//! malformed input. Frames arrive through a [`YjsPeer`], which bounds the
//! outbound queue like the JSON connection's handle does.
//!
//! Close codes: 1003 for text frames and malformed messages, 1007 for text
//! that is not UTF-8, 1002 for WebSocket protocol errors, 1009 for frames over `websocket.max_frame_bytes`,
//! 1011 when the document cannot be loaded, 1012 on shutdown, 4000 heartbeat
//! timeout, 4001 token expired, 4008 slow consumer, 4029 flooding.

use super::shell::frames::MessageKind;
use super::shell::{self, Inbound as SocketInbound, Rate, Shell, ShellLimits, SocketActor};
use super::yjs_doc::{Inbound, Incoming, YjsDocActor, YjsDocId};
pub use super::yjs_peer::{yjs_close_code, YjsClose, YjsConnId, YjsFrame, YjsPeer};
use super::yjs_registry::{ConnClosed, OpenDoc};
use super::Services;
use crate::auth::Principal;
use crate::broker::Outbound;
use crate::protocol::close_code;
use crate::transport::SocketContext;
use actix::prelude::*;
use actix_http::ws;
use std::sync::Arc;
use std::time::Duration;
use yrs::encoding::read::{Cursor, Read};
use yrs::sync::AwarenessUpdate;
use yrs::updates::decoder::Decode;
use yrs::{StateVector, Update};

/// Why a binary frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// An empty frame.
    #[error("empty frame")]
    Empty,
    /// Bad varint, truncated buffer, bad state vector, update or awareness encoding.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message type this server does not speak.
    #[error("unsupported message type {0}")]
    UnsupportedType(u64),
    /// A sync message sub-type other than step1, step2 or update.
    #[error("unsupported sync message type {0}")]
    UnsupportedSyncType(u64),
}

impl From<yrs::encoding::read::Error> for DecodeError {
    fn from(e: yrs::encoding::read::Error) -> Self {
        DecodeError::Malformed(e.to_string())
    }
}

/// y-websocket message types.
const MSG_SYNC: u64 = 0;
const MSG_AWARENESS: u64 = 1;
const MSG_AUTH: u64 = 2;
const MSG_QUERY_AWARENESS: u64 = 3;
/// Sync sub-types.
const SYNC_STEP1: u64 = 0;
const SYNC_STEP2: u64 = 1;
const SYNC_UPDATE: u64 = 2;

/// Decodes one binary frame: one or more y-websocket messages back to back.
/// Every byte must belong to a complete, valid message; updates and
/// awareness payloads are decoded here so the document actor only sees
/// well-formed values.
pub fn decode_frame(data: &[u8]) -> Result<Vec<Incoming>, DecodeError> {
    if data.is_empty() {
        return Err(DecodeError::Empty);
    }
    // yrs decoders return errors on bad input; the guard keeps a decoder bug
    // from taking the actor down with it.
    std::panic::catch_unwind(|| decode_messages(data))
        .unwrap_or_else(|_| Err(DecodeError::Malformed("decoder panicked".into())))
}

fn decode_messages(data: &[u8]) -> Result<Vec<Incoming>, DecodeError> {
    let mut cursor = Cursor::new(data);
    let mut out = Vec::new();
    while cursor.has_content() {
        let kind: u64 = cursor.read_var()?;
        match kind {
            MSG_SYNC => {
                let sub: u64 = cursor.read_var()?;
                let buf = cursor.read_buf()?;
                match sub {
                    SYNC_STEP1 => out.push(Incoming::SyncStep1(StateVector::decode_v1(buf)?)),
                    SYNC_STEP2 | SYNC_UPDATE => out.push(Incoming::Update(Update::decode_v1(buf)?)),
                    other => return Err(DecodeError::UnsupportedSyncType(other)),
                }
            }
            MSG_AWARENESS => {
                let buf = cursor.read_buf()?;
                let update = AwarenessUpdate::decode_v1(buf)?;
                // Other clients JSON.parse every state: relay only valid JSON.
                for entry in update.clients.values() {
                    serde_json::from_str::<serde::de::IgnoredAny>(&entry.json).map_err(|e| {
                        DecodeError::Malformed(format!("awareness state is not JSON: {e}"))
                    })?;
                }
                out.push(Incoming::Awareness(update));
            }
            MSG_AUTH => {
                // Clients never send auth; accept and ignore a well-formed one.
                let permission: u64 = cursor.read_var()?;
                if permission == 0 {
                    let _reason = cursor.read_string()?;
                }
            }
            MSG_QUERY_AWARENESS => out.push(Incoming::QueryAwareness),
            other => return Err(DecodeError::UnsupportedType(other)),
        }
    }
    Ok(out)
}

/// The actor behind one Yjs socket.
pub struct YjsConnectionActor {
    id: YjsConnId,
    principal: Principal,
    doc_id: YjsDocId,
    services: Arc<Services>,
    socket: Option<crate::transport::socket::SocketRef>,
    /// Built in `started`.
    peer: Option<YjsPeer>,
    /// The document actor, once the registry answered.
    doc: Option<Addr<YjsDocActor>>,
    /// Limits, liveness, expiry and reassembly (messages up to
    /// `max_frame_bytes`).
    shell: Shell,
}

impl YjsConnectionActor {
    /// Builds the actor; it asks the registry for its document when started.
    pub fn new(
        id: YjsConnId,
        principal: Principal,
        doc_id: YjsDocId,
        services: Arc<Services>,
        socket: Option<crate::transport::socket::SocketRef>,
    ) -> Self {
        let limits = ShellLimits::from_settings(
            &services.settings,
            services.settings.websocket.max_frame_bytes,
        );
        let shell = Shell::new(MessageKind::Binary, limits, principal.expires_at);
        YjsConnectionActor {
            id,
            principal,
            doc_id,
            services,
            socket,
            peer: None,
            doc: None,
            shell,
        }
    }

    /// Closes with `code` and stops.
    fn close(&self, ctx: &mut SocketContext<Self>, code: u16, reason: &str) {
        shell::close(ctx, code, reason);
    }

    /// Counts the frame against the rate limit. Yjs messages cannot be
    /// dropped without desynchronising the client, so a frame over the limit
    /// is still processed; sustained flooding closes the socket (4029) and the
    /// client resynchronises when it reconnects. False when closed.
    fn admit(&mut self, ctx: &mut SocketContext<Self>) -> bool {
        if self.shell.rate() == Rate::Flooding {
            self.close(ctx, close_code::RATE_LIMIT_ABUSE, "rate limit abuse");
            return false;
        }
        true
    }

    /// Handles one complete binary message.
    fn on_binary(&mut self, data: &[u8], ctx: &mut SocketContext<Self>) {
        if !self.admit(ctx) {
            return;
        }
        match decode_frame(data) {
            Ok(messages) => {
                if let Some(doc) = &self.doc {
                    doc.do_send(Inbound {
                        conn: self.id,
                        messages,
                    });
                }
            }
            Err(e) => {
                log::debug!(
                    "yjs socket {} ({}): refused frame: {e}",
                    self.id,
                    self.doc_id
                );
                self.close(
                    ctx,
                    yjs_close_code::UNSUPPORTED_DATA,
                    "malformed y-websocket message",
                );
            }
        }
    }
}

impl Actor for YjsConnectionActor {
    type Context = SocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        crate::telemetry::connection_opened("yjs");
        let ws = &self.services.settings.websocket;
        let peer = YjsPeer::new(
            self.id,
            ctx.address().recipient(),
            ctx.address().recipient(),
            Arc::new(Outbound::new(
                ws.outbound_queue_limit,
                Duration::from_millis(ws.slow_consumer_grace_ms),
                self.socket.take(),
            )),
        );
        peer.stats.joined(format!("yjs:{}", self.doc_id.name));
        self.peer = Some(peer.clone());
        let open = self.services.yjs.send(OpenDoc {
            doc: self.doc_id.clone(),
            peer,
            user: self.principal.user.clone(),
        });
        // Frames wait until the document actor is known.
        ctx.wait(open.into_actor(self).map(|res, act, ctx| match res {
            Ok(Some(addr)) => act.doc = Some(addr),
            Ok(None) => act.close(ctx, close_code::SERVICE_RESTART, "server shutting down"),
            Err(_) => act.close(ctx, yjs_close_code::INTERNAL_ERROR, "document unavailable"),
        }));
        let settings = &self.services.settings;
        let (ping, timeout) = (settings.ping_interval(), settings.client_timeout());
        shell::start_liveness(self, ctx, ping, timeout);
        shell::schedule_expiry(self, ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        crate::telemetry::connection_closed("yjs");
        if let Some(doc) = self.doc.take() {
            doc.do_send(super::yjs_doc::Leave { conn: self.id });
        }
        self.services.yjs.do_send(ConnClosed {
            id: self.id,
            tenant: self.principal.tenant.clone(),
            user: self.principal.user.clone(),
        });
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for YjsConnectionActor {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        shell::handle_frame(self, item, ctx);
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl SocketActor for YjsConnectionActor {
    fn shell(&mut self) -> &mut Shell {
        &mut self.shell
    }

    fn on_message(&mut self, msg: SocketInbound<'_>, ctx: &mut SocketContext<Self>) {
        match msg {
            SocketInbound::Binary(data) => {
                if let Some(peer) = &self.peer {
                    peer.stats.received();
                }
                self.on_binary(data, ctx)
            }
            SocketInbound::Text(_) | SocketInbound::WrongKind => self.close(
                ctx,
                yjs_close_code::UNSUPPORTED_DATA,
                "text frames are not part of the y-websocket protocol",
            ),
            SocketInbound::TooLarge { .. } => {
                self.close(ctx, close_code::MESSAGE_TOO_BIG, "message too large")
            }
        }
    }

    fn describe(&self) -> String {
        format!("yjs socket {} ({})", self.id, self.doc_id)
    }
}

impl Handler<YjsFrame> for YjsConnectionActor {
    type Result = ();

    /// Writes a frame from the document actor, unless the socket is closing.
    fn handle(&mut self, YjsFrame(frame): YjsFrame, ctx: &mut Self::Context) {
        if let Some(peer) = &self.peer {
            peer.dequeued();
            if peer.is_closing() {
                return;
            }
            peer.stats.sent();
        }
        ctx.binary(frame);
    }
}

impl Handler<YjsClose> for YjsConnectionActor {
    type Result = ();

    /// Closes with the given code.
    fn handle(&mut self, msg: YjsClose, ctx: &mut Self::Context) {
        self.close(ctx, msg.code, msg.reason);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use yrs::updates::encoder::Encode;
    use yrs::{Doc, GetString, Text, Transact};

    fn update_frame() -> Vec<u8> {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, "hi");
        let update = txn.encode_update_v1();
        let msg = yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(update));
        msg.encode_v1()
    }

    #[test]
    fn decodes_valid_messages_back_to_back() {
        let step1 =
            yrs::sync::Message::Sync(yrs::sync::SyncMessage::SyncStep1(StateVector::default()))
                .encode_v1();
        let mut frame = step1.clone();
        frame.extend(update_frame());
        frame.push(3);
        // Awareness: client 1, clock 1, state `{}`.
        frame.extend([1, 6, 1, 1, 1, 2, b'{', b'}']);
        let msgs = decode_frame(&frame).unwrap();
        assert!(matches!(msgs[0], Incoming::SyncStep1(_)));
        assert!(matches!(msgs[1], Incoming::Update(_)));
        assert!(matches!(msgs[2], Incoming::QueryAwareness));
        assert!(matches!(&msgs[3], Incoming::Awareness(u) if u.clients.len() == 1));
        // The decoded update applies.
        let Incoming::Update(u) = decode_frame(&update_frame()).unwrap().remove(0) else {
            panic!()
        };
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        doc.transact_mut().apply_update(u).unwrap();
        assert_eq!(text.get_string(&doc.transact()), "hi");
    }

    #[test]
    fn refuses_malformed_frames() {
        for bad in [
            &[][..],
            &[0, 2, 0xff, 0xff],
            &[0, 2, 5, 1, 2],
            &[0, 9, 0],
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
            &[7, 0],
            &[1, 3, 1, 2],
            &[0, 0, 2, 0xff, 0xff],
            // Awareness: one client (id 1, clock 1) whose state is not JSON.
            &[1, 6, 1, 1, 1, 2, b'{', b'x'],
        ] {
            assert!(decode_frame(bad).is_err(), "{bad:?} accepted");
        }
        let mut truncated = update_frame();
        truncated.pop();
        assert!(decode_frame(&truncated).is_err());
    }

    /// The yrs decoders themselves (without `decode_frame`'s panic guard)
    /// answer random bytes with an error or messages, never a panic, and
    /// the guarded entry point agrees with them.
    #[test]
    fn random_bytes_are_refused_without_a_panic() {
        let mut state: u64 = 0x9e3779b97f4a7c15;
        for len in 0..2000usize {
            let bytes: Vec<u8> = (0..(len % 64))
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state & 0xff) as u8
                })
                .collect();
            let unguarded = std::panic::catch_unwind(|| decode_messages(&bytes).is_ok());
            let Ok(decoded) = unguarded else {
                panic!("a yrs decoder panicked on {bytes:?}");
            };
            if bytes.is_empty() {
                // An empty frame carries no message: refused before decoding.
                assert!(matches!(decode_frame(&bytes), Err(DecodeError::Empty)));
            } else {
                assert_eq!(decode_frame(&bytes).is_ok(), decoded, "{bytes:?}");
            }
        }
    }
}
