//! One actor per WebSocket. It owns the socket (the only file that knows
//! actix-web-actors), enforces the per-connection limits, parses wire
//! messages and turns them into typed messages for the registry, presence
//! and room actors. Frames from others arrive as [`Deliver`] through its
//! [`ConnectionHandle`].

use super::document::{DocCommand, DocRequest};
use super::presence::{Activity, SetLocation, SetStatus};
use super::registry::{ConnectionClosed, ConnectionOpened, JoinRoom, ListPresence, ListViewers};
use super::room::{
    Broadcast, EditingChanged, ForDocument, LeaveRoom, MoveCursor, RoomActor, TypingChanged,
};
use super::Services;
use crate::auth::{now_secs, Principal};
use crate::broker::{ConnectionHandle, Frame, Topic};
use crate::ids::{ConnectionId, RoomId};
use crate::limits::{FloodDetector, TokenBucket};
use crate::protocol::close_code;
use crate::protocol::{parse_client_message, ClientMessage, ErrorCode, Ref, ServerMessage};
use actix::prelude::*;
use actix_web_actors::ws;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A frame from another actor, to write to this socket.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Frame);

/// Close this socket with a code (shutdown, slow consumer, ...).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseSocket {
    /// WebSocket close code (see `protocol::close_code`).
    pub code: u16,
    /// Short reason sent in the close frame.
    pub reason: &'static str,
}

/// A room accepted this connection; keep its address for later requests.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomJoined {
    /// The room.
    pub room: RoomId,
    /// Its actor.
    pub addr: Addr<RoomActor>,
}

/// What the client told us about its device at connect time.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// `desktop`, `mobile`, `tablet` or client-supplied.
    pub device_type: String,
    /// Browser name, if known.
    pub browser: Option<String>,
    /// Peer address.
    pub ip: Option<String>,
}

/// Which fragment of a continuation this is.
enum ItemKind {
    Last,
    Other,
}

/// Rejected-message window used by the flood detector.
const FLOOD_WINDOW: Duration = Duration::from_secs(10);
/// Presence activity is reported at most this often.
const ACTIVITY_REPORT_EVERY: Duration = Duration::from_secs(1);

/// The actor behind one socket.
pub struct ConnectionActor {
    /// This connection.
    id: ConnectionId,
    /// Who is connected; refreshed by `auth:refresh`.
    principal: Principal,
    /// Device details for presence.
    device: DeviceInfo,
    /// Node-wide services.
    services: Arc<Services>,
    /// Built in `started`: the way others reach this actor.
    handle: Option<ConnectionHandle>,
    /// Duplicate of the TCP socket, to cut it if the actor stalls.
    socket: Option<Arc<std::net::TcpStream>>,
    /// Last frame of any kind from the client.
    last_heard: Instant,
    /// Last activity report to presence.
    last_activity_report: Instant,
    /// Inbound rate limit.
    bucket: TokenBucket,
    /// Disconnects sustained flooding.
    flood: FloodDetector,
    /// Rooms this connection is in.
    rooms: HashMap<RoomId, Addr<RoomActor>>,
    /// Rooms asked for but not confirmed yet.
    joining: usize,
    /// Text of a fragmented message being reassembled, and its full length
    /// (bytes past `max_message_bytes` are counted, not kept).
    fragment: Option<(Vec<u8>, usize)>,
    /// The token-expiry timer, replaced on refresh.
    expiry_timer: Option<SpawnHandle>,
}

impl ConnectionActor {
    /// Builds the actor; it registers itself when started.
    pub fn new(
        id: ConnectionId,
        principal: Principal,
        device: DeviceInfo,
        services: Arc<Services>,
        socket: Option<Arc<std::net::TcpStream>>,
    ) -> Self {
        let now = Instant::now();
        let ws = &services.settings.websocket;
        let bucket = TokenBucket::new(ws.rate_limit_burst, ws.rate_limit_per_second, now);
        let flood = FloodDetector::new(ws.rate_limit_close_after, FLOOD_WINDOW, now);
        ConnectionActor {
            id,
            principal,
            device,
            services,
            handle: None,
            socket,
            last_heard: now,
            last_activity_report: now - ACTIVITY_REPORT_EVERY,
            bucket,
            flood,
            rooms: HashMap::new(),
            joining: 0,
            fragment: None,
            expiry_timer: None,
        }
    }

    fn send(&self, ctx: &mut ws::WebsocketContext<Self>, msg: &ServerMessage) {
        let frame = msg.to_frame();
        crate::telemetry::message_out(&frame);
        ctx.text(frame);
    }

    fn send_error(
        &self,
        ctx: &mut ws::WebsocketContext<Self>,
        r#ref: Option<Ref>,
        code: ErrorCode,
        message: impl Into<String>,
    ) {
        self.send(ctx, &ServerMessage::error(r#ref, code, message));
    }

    fn ack(&self, ctx: &mut ws::WebsocketContext<Self>, r#ref: Option<Ref>) {
        if let Some(r#ref) = r#ref {
            self.send(ctx, &ServerMessage::Ack { r#ref, data: None });
        }
    }

    /// Closes with `code` and stops.
    fn close(&self, ctx: &mut ws::WebsocketContext<Self>, code: u16, reason: &str) {
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::from(code),
            description: Some(reason.to_owned()),
        }));
        ctx.stop();
    }

    /// Schedules the close for when the current token expires.
    fn schedule_expiry(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(timer) = self.expiry_timer.take() {
            ctx.cancel_future(timer);
        }
        let leeway = self.services.settings.auth.leeway_secs as i64;
        let secs = (self.principal.expires_at + leeway - now_secs()).max(0) as u64;
        self.expiry_timer = Some(ctx.run_later(Duration::from_secs(secs), |act, ctx| {
            if act.principal.expires_at + act.services.settings.auth.leeway_secs as i64
                <= now_secs()
            {
                act.close(ctx, close_code::TOKEN_EXPIRED, "token expired");
            } else {
                act.schedule_expiry(ctx);
            }
        }));
    }

    /// Pings, and closes the socket when the client has been silent too long.
    fn start_liveness(&self, ctx: &mut ws::WebsocketContext<Self>) {
        let interval = self.services.settings.ping_interval();
        let timeout = self.services.settings.client_timeout();
        // Check often enough that the timeout is honoured within a second.
        let tick = interval.min(Duration::from_secs(1));
        let mut last_ping = Instant::now();
        ctx.run_interval(tick, move |act, ctx| {
            if let Some(h) = &act.handle {
                h.tick();
            }
            if act.last_heard.elapsed() > timeout {
                act.close(ctx, close_code::HEARTBEAT_TIMEOUT, "heartbeat timeout");
                return;
            }
            if last_ping.elapsed() >= interval {
                last_ping = Instant::now();
                ctx.ping(b"");
            }
        });
    }

    /// Applies the rate limit; false (after replying) when the message must be dropped.
    fn admit(&mut self, ctx: &mut ws::WebsocketContext<Self>, r#ref: Option<Ref>) -> bool {
        let now = Instant::now();
        match self.bucket.try_take(now) {
            Ok(()) => true,
            Err(wait) => {
                metrics::counter!("tandem_rate_limited_total", "transport" => "ws").increment(1);
                if self.flood.record_rejection(now) {
                    self.close(ctx, close_code::RATE_LIMIT_ABUSE, "rate limit abuse");
                } else {
                    self.send(
                        ctx,
                        &ServerMessage::Error {
                            r#ref,
                            code: ErrorCode::RateLimited,
                            message: "too many messages; slow down".into(),
                            retry_after_ms: Some(wait.as_millis().max(1) as u64),
                        },
                    );
                }
                false
            }
        }
    }

    /// Handles one complete text message.
    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let max = self.services.settings.websocket.max_message_bytes;
        if text.len() > max {
            let r#ref = crate::protocol::peek_ref(text);
            if self.admit(ctx, r#ref.clone()) {
                self.send_error(
                    ctx,
                    r#ref,
                    ErrorCode::MessageTooLarge,
                    format!("message is {} bytes; the limit is {max}", text.len()),
                );
            }
            return;
        }
        match parse_client_message(text) {
            Ok((r#ref, msg)) => {
                crate::telemetry::message_in(text);
                if self.admit(ctx, r#ref.clone()) {
                    // Keep-alives and queries are not user activity.
                    if !matches!(
                        msg,
                        ClientMessage::Heartbeat {}
                            | ClientMessage::AuthRefresh { .. }
                            | ClientMessage::PresenceList {}
                            | ClientMessage::PresenceViewers { .. }
                            | ClientMessage::NotificationSync { .. }
                    ) {
                        self.report_activity();
                    }
                    self.dispatch(r#ref, msg, ctx);
                }
            }
            Err(e) => {
                if self.admit(ctx, e.r#ref.clone()) {
                    self.send_error(ctx, e.r#ref, e.code, e.message);
                }
            }
        }
    }

    /// Tells presence this user did something (at most once a second).
    fn report_activity(&mut self) {
        if self.last_activity_report.elapsed() >= ACTIVITY_REPORT_EVERY {
            self.last_activity_report = Instant::now();
            self.services
                .registry
                .do_send(super::registry::ForwardPresence {
                    tenant: self.principal.tenant.clone(),
                    user: self.principal.user.clone(),
                    msg: super::registry::PresenceMsg::Activity(Activity),
                });
        }
    }

    fn room_id(&self, entity_type: &str, entity_id: &str) -> Result<RoomId, String> {
        if entity_type.is_empty() || entity_type.len() > 64 {
            return Err("`entity_type` must be 1 to 64 bytes".into());
        }
        if entity_id.is_empty() || entity_id.len() > 256 {
            return Err("`entity_id` must be 1 to 256 bytes".into());
        }
        Ok(RoomId::new(
            self.principal.tenant.clone(),
            entity_type,
            entity_id,
        ))
    }

    fn dispatch(
        &mut self,
        r#ref: Option<Ref>,
        msg: ClientMessage,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        // Room-addressed messages: validate the address, find the room.
        let room = match msg.room() {
            Some((t, i)) => match self.room_id(t, i) {
                Ok(room) => Some(room),
                Err(e) => return self.send_error(ctx, r#ref, ErrorCode::InvalidField, e),
            },
            None => None,
        };
        match msg {
            ClientMessage::Heartbeat {} => self.send(
                ctx,
                &ServerMessage::HeartbeatAck {
                    r#ref,
                    server_time: crate::clock::now_rfc3339(),
                },
            ),
            ClientMessage::AuthRefresh { token } => self.refresh(r#ref, &token, ctx),
            ClientMessage::PresenceList {} => self.presence_list(r#ref, ctx),
            ClientMessage::PresenceStatus { status } => {
                self.forward_presence(super::registry::PresenceMsg::SetStatus(SetStatus(status)));
                self.ack(ctx, r#ref);
            }
            ClientMessage::PresenceLocation {
                page,
                entity_type,
                entity_id,
            } => {
                if [&page, &entity_type, &entity_id]
                    .iter()
                    .any(|v| v.as_ref().is_some_and(|s| s.len() > 256))
                {
                    return self.send_error(
                        ctx,
                        r#ref,
                        ErrorCode::InvalidField,
                        "location values are limited to 256 bytes",
                    );
                }
                self.forward_presence(super::registry::PresenceMsg::SetLocation(SetLocation {
                    connection: self.id,
                    location: crate::protocol::server::LocationView {
                        page,
                        entity_type,
                        entity_id,
                    },
                }));
                self.ack(ctx, r#ref);
            }
            ClientMessage::PresenceViewers {
                entity_type,
                entity_id,
            } => self.viewers(r#ref, entity_type, entity_id, ctx),
            ClientMessage::RoomJoin { .. } => {
                if let Some(room) = room {
                    self.join(r#ref, room, ctx);
                }
            }
            ClientMessage::RoomLeave { .. } => {
                if let Some(room) = room {
                    match self.rooms.remove(&room) {
                        Some(addr) => {
                            addr.do_send(LeaveRoom {
                                connection: self.id,
                            });
                            self.ack(ctx, r#ref);
                        }
                        None => self.not_in_room(ctx, r#ref),
                    }
                }
            }
            ClientMessage::CursorMove {
                position,
                selection,
                field,
                ..
            } => {
                if let Some(addr) = room.as_ref().and_then(|r| self.rooms.get(r)) {
                    addr.do_send(MoveCursor {
                        connection: self.id,
                        position,
                        selection,
                        field,
                    });
                    self.ack(ctx, r#ref);
                } else {
                    self.not_in_room(ctx, r#ref);
                }
            }
            ClientMessage::TypingStart { field, .. } => self.to_room(
                ctx,
                r#ref,
                room,
                TypingChanged {
                    connection: self.id,
                    typing: true,
                    field,
                },
            ),
            ClientMessage::TypingStop { .. } => self.to_room(
                ctx,
                r#ref,
                room,
                TypingChanged {
                    connection: self.id,
                    typing: false,
                    field: None,
                },
            ),
            ClientMessage::EditingStart { field, .. } => self.to_room(
                ctx,
                r#ref,
                room,
                EditingChanged {
                    connection: self.id,
                    editing: true,
                    field,
                },
            ),
            ClientMessage::EditingStop { field, .. } => self.to_room(
                ctx,
                r#ref,
                room,
                EditingChanged {
                    connection: self.id,
                    editing: false,
                    field,
                },
            ),
            ClientMessage::RoomBroadcast { event, payload, .. } => {
                if event.is_empty() || event.len() > 64 {
                    return self.send_error(
                        ctx,
                        r#ref,
                        ErrorCode::InvalidField,
                        "`event` must be 1 to 64 bytes",
                    );
                }
                self.to_room(
                    ctx,
                    r#ref,
                    room,
                    Broadcast {
                        from: Some(self.id),
                        from_user: self.principal.user.clone(),
                        event,
                        payload,
                    },
                )
            }
            ClientMessage::DocSync { .. } => self.doc(ctx, r#ref, room, DocCommand::Sync),
            ClientMessage::DocEdit {
                field,
                revision,
                op,
                client_id,
                seq,
                ..
            } => self.doc(
                ctx,
                r#ref,
                room,
                DocCommand::Edit {
                    field,
                    revision,
                    op,
                    client_id,
                    seq,
                },
            ),
            ClientMessage::DocSet {
                field,
                value,
                version,
                ..
            } => self.doc(
                ctx,
                r#ref,
                room,
                DocCommand::Set {
                    field,
                    value,
                    version,
                },
            ),
            ClientMessage::DocUndo { field, .. } => {
                self.doc(ctx, r#ref, room, DocCommand::Undo { field })
            }
            ClientMessage::DocRedo { field, .. } => {
                self.doc(ctx, r#ref, room, DocCommand::Redo { field })
            }
            ClientMessage::DocLock {
                field,
                mode,
                ttl_secs,
                reason,
                ..
            } => self.doc(
                ctx,
                r#ref,
                room,
                DocCommand::Lock {
                    field,
                    mode,
                    ttl_secs,
                    reason,
                },
            ),
            ClientMessage::DocUnlock { field, .. } => {
                self.doc(ctx, r#ref, room, DocCommand::Unlock { field })
            }
            ClientMessage::NotificationRead { id, all } => {
                self.notification_read(r#ref, id, all, ctx)
            }
            ClientMessage::NotificationSync { after_id } => {
                self.notification_sync(r#ref, after_id, ctx)
            }
        }
    }

    /// Hands a document request to the room (which owns the document
    /// session); the session replies with an ack, an error or a typed reply.
    fn doc(
        &self,
        ctx: &mut ws::WebsocketContext<Self>,
        r#ref: Option<Ref>,
        room: Option<RoomId>,
        command: DocCommand,
    ) {
        let field = match &command {
            DocCommand::Edit { field, .. }
            | DocCommand::Set { field, .. }
            | DocCommand::Undo { field }
            | DocCommand::Redo { field } => Some(field),
            DocCommand::Lock { field, .. } | DocCommand::Unlock { field } => field.as_ref(),
            DocCommand::Sync => None,
        };
        if field.is_some_and(|f| f.is_empty() || f.len() > 128) {
            return self.send_error(
                ctx,
                r#ref,
                ErrorCode::InvalidField,
                "`field` must be 1 to 128 bytes",
            );
        }
        if let DocCommand::Edit { client_id, .. } = &command {
            if client_id.is_empty() || client_id.len() > 128 {
                return self.send_error(
                    ctx,
                    r#ref,
                    ErrorCode::InvalidField,
                    "`client_id` must be 1 to 128 bytes",
                );
            }
        }
        match (room.as_ref().and_then(|r| self.rooms.get(r)), &self.handle) {
            (Some(addr), Some(handle)) => addr.do_send(ForDocument(DocRequest {
                reply: Some(handle.clone()),
                user: self.principal.user.clone(),
                name: self.principal.name.clone(),
                r#ref,
                command,
            })),
            _ => self.not_in_room(ctx, r#ref),
        }
    }

    fn to_room<M>(
        &self,
        ctx: &mut ws::WebsocketContext<Self>,
        r#ref: Option<Ref>,
        room: Option<RoomId>,
        msg: M,
    ) where
        M: Message<Result = ()> + Send + 'static,
        RoomActor: Handler<M>,
    {
        match room.as_ref().and_then(|r| self.rooms.get(r)) {
            Some(addr) => {
                addr.do_send(msg);
                self.ack(ctx, r#ref);
            }
            None => self.not_in_room(ctx, r#ref),
        }
    }

    fn not_in_room(&self, ctx: &mut ws::WebsocketContext<Self>, r#ref: Option<Ref>) {
        self.send_error(
            ctx,
            r#ref,
            ErrorCode::NotInRoom,
            "join the room first (room:join)",
        );
    }

    fn forward_presence(&self, msg: super::registry::PresenceMsg) {
        self.services
            .registry
            .do_send(super::registry::ForwardPresence {
                tenant: self.principal.tenant.clone(),
                user: self.principal.user.clone(),
                msg,
            });
    }

    fn join(&mut self, r#ref: Option<Ref>, room: RoomId, ctx: &mut ws::WebsocketContext<Self>) {
        if self.rooms.contains_key(&room) {
            // Already a member: answer with the current state again.
        } else if self.rooms.len() + self.joining
            >= self.services.settings.rooms.max_rooms_per_connection
        {
            return self.send_error(
                ctx,
                r#ref,
                ErrorCode::TooManyRooms,
                format!(
                    "a connection may be in at most {} rooms",
                    self.services.settings.rooms.max_rooms_per_connection
                ),
            );
        }
        let Some(handle) = self.handle.clone() else {
            return;
        };
        self.joining += 1;
        self.services.registry.do_send(JoinRoom {
            room,
            handle,
            principal: self.principal.clone(),
            device: self.device.clone(),
            r#ref,
            reply_to: ctx.address().recipient(),
        });
    }

    fn refresh(&mut self, r#ref: Option<Ref>, token: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match self.services.auth.verify(token) {
            Ok(p) if p.user == self.principal.user && p.tenant == self.principal.tenant => {
                self.principal.expires_at = p.expires_at;
                self.principal.role = p.role;
                self.schedule_expiry(ctx);
                if let Some(r#ref) = r#ref {
                    self.send(
                        ctx,
                        &ServerMessage::Ack {
                            r#ref,
                            data: Some(serde_json::json!({ "token_expires_at": p.expires_at })),
                        },
                    );
                }
            }
            Ok(_) => self.send_error(
                ctx,
                r#ref,
                ErrorCode::AuthMismatch,
                "the new token names another user or tenant",
            ),
            Err(e) => self.send_error(ctx, r#ref, ErrorCode::InvalidToken, e.to_string()),
        }
    }

    fn presence_list(&self, r#ref: Option<Ref>, ctx: &mut ws::WebsocketContext<Self>) {
        let fut = self
            .services
            .registry
            .send(ListPresence(self.principal.tenant.clone()));
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok(users) => act.send(ctx, &ServerMessage::PresenceList { r#ref, users }),
            Err(_) => act.send_error(ctx, r#ref, ErrorCode::Internal, "presence unavailable"),
        }));
    }

    fn viewers(
        &self,
        r#ref: Option<Ref>,
        entity_type: String,
        entity_id: String,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let fut = self.services.registry.send(ListViewers {
            tenant: self.principal.tenant.clone(),
            entity_type: entity_type.clone(),
            entity_id: entity_id.clone(),
        });
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok(users) => act.send(
                ctx,
                &ServerMessage::PresenceViewers {
                    r#ref,
                    entity_type,
                    entity_id,
                    users,
                },
            ),
            Err(_) => act.send_error(ctx, r#ref, ErrorCode::Internal, "presence unavailable"),
        }));
    }
}

impl Actor for ConnectionActor {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        crate::telemetry::connection_opened("ws");
        let ws = &self.services.settings.websocket;
        let handle = ConnectionHandle::new(
            self.id,
            ctx.address().recipient(),
            ctx.address().recipient(),
            ws.outbound_queue_limit,
            Duration::from_millis(ws.slow_consumer_grace_ms),
            self.socket.clone(),
        );
        let broker = &self.services.broker;
        broker.subscribe(Topic::Tenant(self.principal.tenant.clone()), handle.clone());
        broker.subscribe(
            Topic::User(self.principal.tenant.clone(), self.principal.user.clone()),
            handle.clone(),
        );
        self.services.registry.do_send(ConnectionOpened {
            handle: handle.clone(),
            principal: self.principal.clone(),
            device: self.device.clone(),
        });
        self.handle = Some(handle);
        self.send(
            ctx,
            &ServerMessage::Welcome {
                connection_id: self.id.to_string(),
                user_id: self.principal.user.to_string(),
                tenant_id: self.principal.tenant.to_string(),
                server_time: crate::clock::now_rfc3339(),
                token_expires_at: self.principal.expires_at,
                ping_interval_secs: self.services.settings.websocket.ping_interval_secs,
                max_message_bytes: self.services.settings.websocket.max_message_bytes,
            },
        );
        self.initial_lists(ctx);
        self.start_liveness(ctx);
        self.schedule_expiry(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        crate::telemetry::connection_closed("ws");
        for (_, room) in self.rooms.drain() {
            room.do_send(LeaveRoom {
                connection: self.id,
            });
        }
        self.services.broker.unsubscribe_all(self.id);
        self.services.registry.do_send(ConnectionClosed {
            id: self.id,
            tenant: self.principal.tenant.clone(),
            user: self.principal.user.clone(),
        });
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for ConnectionActor {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        let max = self.services.settings.websocket.max_message_bytes;
        match item {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => {
                if self.admit(ctx, None) {
                    self.send_error(
                        ctx,
                        None,
                        ErrorCode::BinaryNotSupported,
                        "binary frames are not part of the protocol; send JSON text",
                    );
                }
            }
            Ok(ws::Message::Continuation(item)) => {
                let item_kind = match &item {
                    actix_http::ws::Item::Last(_) => ItemKind::Last,
                    _ => ItemKind::Other,
                };
                match item {
                    actix_http::ws::Item::FirstText(bytes) => {
                        self.fragment = Some((bytes.to_vec(), bytes.len()))
                    }
                    actix_http::ws::Item::FirstBinary(_) => {
                        self.fragment = None;
                        if self.admit(ctx, None) {
                            self.send_error(
                                ctx,
                                None,
                                ErrorCode::BinaryNotSupported,
                                "binary frames are not part of the protocol",
                            );
                        }
                    }
                    actix_http::ws::Item::Continue(bytes) | actix_http::ws::Item::Last(bytes)
                        if self.fragment.is_some() =>
                    {
                        let last = matches!(item_kind, ItemKind::Last);
                        let Some((buf, total)) = self.fragment.as_mut() else {
                            return;
                        };
                        *total += bytes.len();
                        if *total <= max {
                            buf.extend_from_slice(&bytes);
                        }
                        if last {
                            let (buf, total) = self.fragment.take().unwrap_or_default();
                            if total > max {
                                if self.admit(ctx, None) {
                                    self.send_error(
                                        ctx,
                                        None,
                                        ErrorCode::MessageTooLarge,
                                        format!("message is {total} bytes; the limit is {max}"),
                                    );
                                }
                                return;
                            }
                            match String::from_utf8(buf) {
                                Ok(text) => self.on_text(&text, ctx),
                                Err(_) => {
                                    self.close(ctx, close_code::PROTOCOL_ERROR, "invalid UTF-8")
                                }
                            }
                        }
                    }
                    actix_http::ws::Item::Continue(_) | actix_http::ws::Item::Last(_) => {}
                }
            }
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Close(_)) => {
                ctx.close(Some(ws::CloseCode::Normal.into()));
                ctx.stop();
            }
            Err(ws::ProtocolError::Overflow) => {
                self.close(ctx, close_code::MESSAGE_TOO_BIG, "frame too large")
            }
            Err(e) => {
                log::debug!("connection {}: protocol error: {e}", self.id);
                self.close(ctx, close_code::PROTOCOL_ERROR, "protocol error")
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Deliver> for ConnectionActor {
    type Result = ();

    /// Writes a frame from another actor, unless the socket is being cut.
    fn handle(&mut self, Deliver(frame): Deliver, ctx: &mut Self::Context) {
        if let Some(h) = &self.handle {
            h.dequeued();
            if h.is_closing() {
                return;
            }
        }
        crate::telemetry::message_out(&frame);
        ctx.text(frame);
    }
}

impl Handler<CloseSocket> for ConnectionActor {
    type Result = ();

    /// Closes with the given code.
    fn handle(&mut self, msg: CloseSocket, ctx: &mut Self::Context) {
        self.close(ctx, msg.code, msg.reason);
    }
}

impl Handler<RoomJoined> for ConnectionActor {
    type Result = ();

    /// Records the room's address for later requests.
    fn handle(&mut self, msg: RoomJoined, _: &mut Self::Context) {
        self.joining = self.joining.saturating_sub(1);
        self.rooms.insert(msg.room, msg.addr);
    }
}

/// How long the connect-time `notification:count` may hold back
/// `presence:list` (the count then follows the list).
const INITIAL_COUNT_WAIT: Duration = Duration::from_millis(500);

/// The unread-count query of a connect, finished or still running.
enum InitialCount {
    Done(Result<i64, crate::notify::NotifyError>),
    Pending(
        std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<i64, crate::notify::NotifyError>>>,
        >,
    ),
}

/// Notifications over the socket. Database work runs in spawned futures,
/// never in the mailbox turn; replies are sent when they finish.
impl ConnectionActor {
    /// On connect: `notification:count`, then `presence:list`. The count's
    /// query runs alongside the presence request; when it is more than
    /// [`INITIAL_COUNT_WAIT`] slower, the list goes first and the count follows.
    fn initial_lists(&self, ctx: &mut ws::WebsocketContext<Self>) {
        use futures_util::future::{select, Either};
        let services = self.services.clone();
        let (tenant, user) = (self.principal.tenant.clone(), self.principal.user.clone());
        let mut count: std::pin::Pin<Box<dyn std::future::Future<Output = _>>> =
            Box::pin(async move {
                crate::notify::notifications::unread_count(&services.db, &tenant, &user).await
            });
        let presence = Box::pin(
            self.services
                .registry
                .send(ListPresence(self.principal.tenant.clone())),
        );
        let both = async move {
            match select(presence, &mut count).await {
                Either::Left((users, _)) => {
                    match tokio::time::timeout(INITIAL_COUNT_WAIT, &mut count).await {
                        Ok(n) => (users, InitialCount::Done(n)),
                        Err(_) => (users, InitialCount::Pending(count)),
                    }
                }
                Either::Right((n, presence)) => (presence.await, InitialCount::Done(n)),
            }
        };
        ctx.spawn(both.into_actor(self).map(|(users, count), act, ctx| {
            match count {
                InitialCount::Done(n) => act.send_count(ctx, n),
                InitialCount::Pending(fut) => {
                    ctx.spawn(
                        fut.into_actor(act)
                            .map(|n, act, ctx| act.send_count(ctx, n)),
                    );
                }
            }
            match users {
                Ok(users) => act.send(ctx, &ServerMessage::PresenceList { r#ref: None, users }),
                Err(_) => act.send_error(ctx, None, ErrorCode::Internal, "presence unavailable"),
            }
        }));
    }

    /// Sends the connect-time count (a failure is logged, not sent).
    fn send_count(
        &self,
        ctx: &mut ws::WebsocketContext<Self>,
        unread: Result<i64, crate::notify::NotifyError>,
    ) {
        match unread {
            Ok(unread) => self.send(
                ctx,
                &ServerMessage::NotificationCount {
                    r#ref: None,
                    unread,
                },
            ),
            Err(e) => log::warn!("connection {}: unread count unavailable: {e}", self.id),
        }
    }

    /// `notification:read`: `{id}` or `{all: true}`; acks with the new
    /// count, which also goes to every connection of the user.
    fn notification_read(
        &self,
        r#ref: Option<Ref>,
        id: Option<i64>,
        all: Option<bool>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        use crate::notify::{notifications, NotifyError};
        let target = match (id, all) {
            (Some(id), None | Some(false)) => Some(id),
            (None, Some(true)) => None,
            _ => {
                return self.send_error(
                    ctx,
                    r#ref,
                    ErrorCode::InvalidField,
                    "send either `id` or `all: true`",
                )
            }
        };
        let services = self.services.clone();
        let (tenant, user) = (self.principal.tenant.clone(), self.principal.user.clone());
        let work = async move {
            match target {
                Some(id) => notifications::mark_read(&services.db, &tenant, &user, id).await?,
                None => {
                    notifications::mark_all_read(&services.db, &tenant, &user).await?;
                }
            }
            notifications::refresh_count(&services, &tenant, &user).await
        };
        ctx.spawn(work.into_actor(self).map(move |res, act, ctx| match res {
            Ok(unread) => {
                if let Some(r#ref) = r#ref {
                    act.send(
                        ctx,
                        &ServerMessage::Ack {
                            r#ref,
                            data: Some(serde_json::json!({ "unread": unread })),
                        },
                    );
                }
            }
            Err(NotifyError::NotFound(m)) => act.send_error(ctx, r#ref, ErrorCode::NotFound, m),
            Err(e) => {
                log::warn!("connection {}: notification:read failed: {e}", act.id);
                act.send_error(ctx, r#ref, ErrorCode::Internal, "notifications unavailable")
            }
        }));
    }

    /// `notification:sync`: every notification after `after_id` in id order
    /// (at most `SYNC_LIMIT`), then the count, then the ack.
    fn notification_sync(
        &self,
        r#ref: Option<Ref>,
        after_id: i64,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        use crate::notify::notifications;
        if after_id < 0 {
            return self.send_error(
                ctx,
                r#ref,
                ErrorCode::InvalidField,
                "`after_id` must be 0 or more",
            );
        }
        let services = self.services.clone();
        let (tenant, user) = (self.principal.tenant.clone(), self.principal.user.clone());
        let work = async move {
            let (rows, more) = notifications::after(
                &services.db,
                &tenant,
                &user,
                after_id,
                notifications::SYNC_LIMIT,
            )
            .await?;
            let unread = notifications::unread_count(&services.db, &tenant, &user).await?;
            Ok::<_, crate::notify::NotifyError>((rows, more, unread))
        };
        ctx.spawn(work.into_actor(self).map(move |res, act, ctx| match res {
            Ok((rows, more, unread)) => {
                for row in &rows {
                    act.send(ctx, &notifications::sync_message(row, r#ref.clone()));
                }
                act.send(
                    ctx,
                    &ServerMessage::NotificationCount {
                        r#ref: r#ref.clone(),
                        unread,
                    },
                );
                if let Some(r#ref) = r#ref {
                    let last_id = rows.last().map_or(after_id, |r| r.id);
                    act.send(
                        ctx,
                        &ServerMessage::Ack {
                            r#ref,
                            data: Some(serde_json::json!({
                                "count": rows.len(),
                                "last_id": last_id,
                                "has_more": more,
                            })),
                        },
                    );
                }
            }
            Err(e) => {
                log::warn!("connection {}: notification:sync failed: {e}", act.id);
                act.send_error(ctx, r#ref, ErrorCode::Internal, "notifications unavailable")
            }
        }));
    }
}
