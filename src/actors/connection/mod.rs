//! One actor per WebSocket. It owns the socket (through its
//! `transport::SocketContext`), enforces the per-connection limits, parses wire
//! messages and turns them into typed messages for the registry, presence
//! and room actors. Frames from others reach the socket through its
//! [`ConnectionHandle`], written into the socket's shared output
//! (`transport::sink`) by the sender; a handle without one sends [`Deliver`].

mod dispatch;
mod inbox;
mod presence_route;
mod rooms;

use super::document::{DocCommand, DocRequest, DocumentActor};
use super::presence::{Activity, SetLocation, SetStatus};
use super::registry::{ConnectionClosed, ConnectionOpened, JoinRoom, ListViewers};
use super::room::{
    Broadcast, DocumentOpened, EditingChanged, ForDocument, LeaveRoom, ListMembers, MoveCursor,
    RoomActor, RoomJoined, TypingChanged,
};
use super::shell::frames::MessageKind;
pub use super::shell::DeviceInfo;
use super::shell::{self, Inbound, Rate, Shell, ShellLimits, SocketActor};
use super::Services;
use crate::auth::Principal;
use crate::broker::{CloseSocket, ConnectionHandle, Deliver, Topic};
use crate::ids::{ConnectionId, RoomId};
use crate::protocol::close_code;
use crate::protocol::{parse_client_message_typed, ClientMessage, ErrorCode, Ref, ServerMessage};
use crate::small_map::SmallMap;
use crate::transport::SocketContext;
use actix::prelude::*;
use actix_http::ws;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a joined room's `doc:*` requests go.
#[derive(Default)]
struct DocRoute {
    /// The session, once the room handed its address over.
    addr: Option<Addr<DocumentActor>>,
    /// Requests sent through the room and not yet answered with
    /// [`DocumentOpened`]; while any is, later ones follow the same way so
    /// none overtakes another.
    via_room: usize,
}

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
    /// The TCP socket, to cut it if the actor stalls (moved into the
    /// connection handle at start).
    socket: Option<crate::transport::socket::SocketRef>,
    /// Limits, liveness, expiry and reassembly.
    shell: Shell,
    /// Last activity report to presence.
    last_activity_report: Instant,
    /// Where presence changes go (the registry, or the actor directly).
    presence: presence_route::PresenceRoute,
    /// Rooms this connection is in.
    rooms: SmallMap<RoomId, Addr<RoomActor>>,
    /// Rooms asked for but not confirmed yet.
    joining: usize,
    /// Where each joined room's `doc:*` requests go.
    documents: SmallMap<RoomId, DocRoute>,
    /// `doc:edit` requests sent so far (cursor moves carry it).
    doc_edits_sent: u64,
    /// The user's slot counted across the cluster (given back on drop).
    cluster_slot: Option<crate::cluster::slots::SlotGuard>,
}

impl ConnectionActor {
    /// Builds the actor; it registers itself when started.
    pub fn new(
        id: ConnectionId,
        principal: Principal,
        device: DeviceInfo,
        services: Arc<Services>,
        socket: Option<crate::transport::socket::SocketRef>,
    ) -> Self {
        let now = Instant::now();
        let limits = ShellLimits::from_settings(
            &services.settings,
            services.settings.websocket.max_message_bytes,
        );
        let shell = Shell::new(MessageKind::Text, limits, principal.expires_at);
        ConnectionActor {
            id,
            principal,
            device,
            services,
            handle: None,
            socket,
            shell,
            last_activity_report: now - ACTIVITY_REPORT_EVERY,
            presence: presence_route::PresenceRoute::attaching(),
            rooms: SmallMap::new(),
            joining: 0,
            documents: SmallMap::new(),
            doc_edits_sent: 0,
            cluster_slot: None,
        }
    }

    /// Holds the socket's cluster-wide connection slot until it stops.
    pub fn with_cluster_slot(mut self, slot: Option<crate::cluster::slots::SlotGuard>) -> Self {
        self.cluster_slot = slot;
        self
    }

    fn send(&self, ctx: &mut SocketContext<Self>, msg: &ServerMessage) {
        let text = msg.to_frame().into_text();
        crate::telemetry::message_out(&text);
        if let Some(h) = &self.handle {
            h.stats().sent();
        }
        ctx.text(text);
    }

    /// Forgets a room in the admin-visible room list.
    fn room_left(&self, room: &RoomId) {
        if let Some(h) = &self.handle {
            h.stats().left(&room.to_string());
        }
    }

    fn send_error(
        &self,
        ctx: &mut SocketContext<Self>,
        r#ref: Option<Ref>,
        code: ErrorCode,
        message: impl Into<String>,
    ) {
        self.send(ctx, &ServerMessage::error(r#ref, code, message));
    }

    fn ack(&self, ctx: &mut SocketContext<Self>, r#ref: Option<Ref>) {
        if let Some(r#ref) = r#ref {
            self.send(ctx, &ServerMessage::Ack { r#ref, data: None });
        }
    }

    /// Closes with `code` and stops.
    fn close(&self, ctx: &mut SocketContext<Self>, code: u16, reason: &str) {
        shell::close(ctx, code, reason);
    }

    /// Asks the tenant's roster for something (in order with this
    /// connection's registration, which went through the registry too).
    fn to_roster(&self, request: crate::actors::registry::RosterRequest) {
        self.services
            .registry
            .do_send(crate::actors::registry::ToRoster {
                tenant: self.principal.tenant.clone(),
                request,
            });
    }

    /// Tells the roster this connection entered or left a room (interest
    /// mode shows room members' presence).
    fn room_interest(&self, room: RoomId, entered: bool) {
        self.to_roster(crate::actors::registry::RosterRequest::RoomInterest(
            crate::actors::roster::RoomInterest {
                connection: self.id,
                room,
                entered,
            },
        ));
    }

    /// Applies the rate limit; false (after replying) when the message must be dropped.
    fn admit(&mut self, ctx: &mut SocketContext<Self>, r#ref: Option<Ref>) -> bool {
        match self.shell.rate() {
            Rate::Allowed => true,
            Rate::Flooding => {
                self.close(ctx, close_code::RATE_LIMIT_ABUSE, "rate limit abuse");
                false
            }
            Rate::Limited(wait) => {
                metrics::counter!("tandem_rate_limited_total", "transport" => "ws").increment(1);
                self.send(
                    ctx,
                    &ServerMessage::Error {
                        r#ref,
                        code: ErrorCode::RateLimited,
                        message: "too many messages; slow down".into(),
                        retry_after_ms: Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
                    },
                );
                false
            }
        }
    }
}

impl Actor for ConnectionActor {
    type Context = SocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        crate::telemetry::connection_opened("ws");
        let ws = &self.services.settings.websocket;
        let handle = ConnectionHandle::new(
            self.id,
            ctx.address().recipient(),
            ctx.address().recipient(),
            ws.outbound_queue_limit,
            Duration::from_millis(ws.slow_consumer_grace_ms),
            self.socket.take(),
        )
        .with_sink(ctx.sink());
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
            presence_to: ctx.address().recipient(),
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
        let settings = &self.services.settings;
        let (ping, timeout) = (settings.ping_interval(), settings.client_timeout());
        shell::start_liveness(self, ctx, ping, timeout);
        shell::schedule_expiry(self, ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        crate::telemetry::connection_closed("ws");
        for room in std::mem::take(&mut self.rooms).into_values() {
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
        shell::handle_frame(self, item, ctx);
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl SocketActor for ConnectionActor {
    fn shell(&mut self) -> &mut Shell {
        &mut self.shell
    }

    fn on_message(&mut self, msg: Inbound<'_>, ctx: &mut SocketContext<Self>) {
        match msg {
            Inbound::Text(text) => self.on_text(text, ctx),
            Inbound::Binary(_) | Inbound::WrongKind => {
                if self.admit(ctx, None) {
                    self.send_error(
                        ctx,
                        None,
                        ErrorCode::BinaryNotSupported,
                        "binary frames are not part of the protocol; send JSON text",
                    );
                }
            }
            Inbound::TooLarge { total } => {
                if self.admit(ctx, None) {
                    let max = self.services.settings.websocket.max_message_bytes;
                    self.send_error(
                        ctx,
                        None,
                        ErrorCode::MessageTooLarge,
                        format!("message is {total} bytes; the limit is {max}"),
                    );
                }
            }
        }
    }

    fn tick_hook(&self) -> Option<Box<dyn Fn()>> {
        let handle = self.handle.clone()?;
        Some(Box::new(move || handle.tick()))
    }

    fn describe(&self) -> String {
        format!("connection {}", self.id)
    }
}

impl Handler<Deliver> for ConnectionActor {
    type Result = ();

    /// Writes a frame from another actor, unless the socket is being cut.
    fn handle(&mut self, Deliver(frame, published): Deliver, ctx: &mut Self::Context) {
        let Some(h) = &self.handle else {
            return;
        };
        h.dequeued();
        if h.is_closing() || frame.kind() == crate::protocol::FrameKind::Cluster {
            return;
        }
        let text = frame.into_text();
        h.sent(&text, published);
        ctx.text(text);
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

    /// Records the room's address (and its session's) for later requests.
    fn handle(&mut self, msg: RoomJoined, _: &mut Self::Context) {
        // From here the connection leaves the room itself when it stops.
        msg.leave_unless_handled.disarm();
        self.joining = self.joining.saturating_sub(1);
        self.room_interest(msg.room.clone(), true);
        if let Some(h) = &self.handle {
            h.stats().joined(msg.room.to_string());
        }
        let same_room = self.rooms.get(&msg.room) == Some(&msg.addr);
        if !same_room {
            self.documents.remove(&msg.room);
        }
        let route = self
            .documents
            .get_or_insert_with(msg.room.clone(), DocRoute::default);
        if route.via_room == 0 && msg.document.is_some() {
            route.addr = msg.document;
        }
        self.rooms.insert(msg.room, msg.addr);
    }
}

impl Handler<DocumentOpened> for ConnectionActor {
    type Result = ();

    /// Sends this room's later `doc:*` requests to the session directly,
    /// once every request sent through the room has been handed over.
    fn handle(&mut self, msg: DocumentOpened, _: &mut Self::Context) {
        if self.rooms.get(&msg.room) != Some(&msg.room_addr) {
            return;
        }
        if let Some(route) = self.documents.get_mut(&msg.room) {
            route.via_room = route.via_room.saturating_sub(1);
            if route.via_room == 0 {
                route.addr = msg.addr;
            }
        }
    }
}
