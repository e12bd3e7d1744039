//! One actor per (tenant, entity_type, entity_id): its members and their
//! devices, cursors (throttled and coalesced), typing (expiring) and editing
//! status. Replies to the requester go straight to its handle; everything for
//! the other members is serialized once and published to the room's topic.
//! An empty room asks the registry to retire it after `rooms.idle_stop_secs`.

mod events;

use super::connection::{DeviceInfo, RoomJoined};
use super::document::{
    CloseDocument, DocRequest, DocumentActor, DocumentInfo, GetDocInfo, LockRefused,
    MembersChanged, RestLock, UserLeft,
};
use super::registry::{RegistryActor, RoomIdle};
use super::Services;
use crate::auth::Principal;
use crate::broker::{ConnectionHandle, Topic};
use crate::collab::ot::TextOperation;
use crate::ids::{ConnectionId, RoomId, UserId};
use crate::presence_state::color_for;
use crate::protocol::server::LockView;
use crate::protocol::server::{CursorView, DeviceView, EditorView, MemberView, TypingView};
use crate::protocol::{Ref, ServerMessage};
use actix::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection joins (forwarded by the registry).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    /// The joiner.
    pub handle: ConnectionHandle,
    /// Who.
    pub principal: Principal,
    /// Device.
    pub device: DeviceInfo,
    /// Echoed in `room:users`.
    pub r#ref: Option<Ref>,
    /// Told this room's address.
    pub reply_to: Recipient<RoomJoined>,
}

/// A connection leaves (or closed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct LeaveRoom {
    /// The connection.
    pub connection: ConnectionId,
}

/// A member's cursor moved.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MoveCursor {
    /// The connection.
    pub connection: ConnectionId,
    /// Position.
    pub position: serde_json::Value,
    /// Selection.
    pub selection: Option<serde_json::Value>,
    /// Field.
    pub field: Option<String>,
}

/// A member started or stopped typing.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TypingChanged {
    /// The connection.
    pub connection: ConnectionId,
    /// Started (true) or stopped.
    pub typing: bool,
    /// Field, if any.
    pub field: Option<String>,
}

/// A member started or stopped editing a field.
#[derive(Message)]
#[rtype(result = "()")]
pub struct EditingChanged {
    /// The connection.
    pub connection: ConnectionId,
    /// Started (true) or stopped.
    pub editing: bool,
    /// The field.
    pub field: String,
}

/// An ephemeral app event for the room's members.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Broadcast {
    /// Sending connection (skipped), or none for a backend service.
    pub from: Option<ConnectionId>,
    /// Sender's user id.
    pub from_user: UserId,
    /// Event name.
    pub event: String,
    /// Payload.
    pub payload: serde_json::Value,
}

/// A document request for this room's session (created on first use).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForDocument(pub DocRequest);

/// A REST lock request, forwarded by the registry.
#[derive(Message)]
#[rtype(result = "Result<Option<LockView>, LockRefused>")]
pub struct ForDocumentLock(pub RestLock);

/// The document session's live facts, if a session is open.
#[derive(Message)]
#[rtype(result = "Option<DocumentInfo>")]
pub struct GetDocumentInfo;

/// A text op was applied: move stored cursors in that field with it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TransformCursors {
    /// Field the op changed.
    pub field: String,
    /// The op.
    pub op: TextOperation,
}

/// Members of the room (REST and tests).
#[derive(Message)]
#[rtype(result = "Vec<MemberView>")]
pub struct GetMembers;

/// The registry retired this room.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopRoom;

/// Test only: stops the room as if it had failed, without telling the
/// registry, so tests can check that the registry replaces it. Reachable
/// only from Rust code holding the room's address, never from the wire.
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopRoomForTest;

/// How often members whose connection is gone are dropped.
const MEMBER_SWEEP: Duration = Duration::from_secs(5);

/// A member connection.
struct Member {
    handle: ConnectionHandle,
    user: UserId,
    name: Arc<str>,
    device: DeviceInfo,
    cursor: Option<CursorView>,
    /// Last time a cursor update was relayed.
    cursor_sent: Option<Instant>,
    /// A coalesced cursor update is scheduled.
    cursor_flush_pending: bool,
    typing: Option<(Option<String>, Instant)>,
    editing: Vec<String>,
}

/// A room.
pub struct RoomActor {
    id: RoomId,
    registry: Addr<RegistryActor>,
    services: Arc<Services>,
    members: BTreeMap<ConnectionId, Member>,
    joins_seen: u64,
    /// The document session, started on the first document request.
    document: Option<Addr<DocumentActor>>,
    cursor_interval: Duration,
    typing_timeout: Duration,
}

impl RoomActor {
    /// An empty room.
    pub fn new(id: RoomId, registry: Addr<RegistryActor>, services: Arc<Services>) -> Self {
        let rooms = &services.settings.rooms;
        RoomActor {
            id,
            registry,
            cursor_interval: Duration::from_secs(1) / rooms.cursor_rate_per_second.max(1),
            typing_timeout: Duration::from_secs(rooms.typing_timeout_secs),
            services,
            members: BTreeMap::new(),
            joins_seen: 0,
            document: None,
        }
    }

    fn entity_type(&self) -> String {
        self.id.entity_type.to_string()
    }

    fn entity_id(&self) -> String {
        self.id.entity_id.to_string()
    }

    /// Sends to every member except `except`.
    fn publish(&self, msg: &ServerMessage, except: Option<ConnectionId>) {
        self.services
            .broker
            .publish(Topic::Room(self.id.clone()), msg.to_frame(), except);
    }

    fn member_view(&self, user: &UserId) -> Option<MemberView> {
        let mut devices = Vec::new();
        let mut name = None;
        for (id, m) in self.members.iter().filter(|(_, m)| &m.user == user) {
            name.get_or_insert_with(|| m.name.to_string());
            devices.push(DeviceView {
                connection_id: id.to_string(),
                device_type: m.device.device_type.clone(),
                browser: m.device.browser.clone(),
                location: None,
            });
        }
        Some(MemberView {
            user_id: user.to_string(),
            name: name?,
            color: color_for(user.as_str()),
            devices,
        })
    }

    fn members_view(&self) -> Vec<MemberView> {
        let mut users: Vec<&UserId> = self.members.values().map(|m| &m.user).collect();
        users.sort();
        users.dedup();
        users
            .into_iter()
            .filter_map(|u| self.member_view(u))
            .collect()
    }

    fn typing_view(&self) -> Vec<TypingView> {
        let mut seen = std::collections::HashSet::new();
        self.members
            .values()
            .filter_map(|m| {
                let (field, _) = m.typing.as_ref()?;
                seen.insert(m.user.clone()).then(|| TypingView {
                    user_id: m.user.to_string(),
                    name: m.name.to_string(),
                    field: field.clone(),
                })
            })
            .collect()
    }

    fn editors_view(&self) -> Vec<EditorView> {
        let mut out: Vec<EditorView> = Vec::new();
        for m in self.members.values() {
            for field in &m.editing {
                if !out
                    .iter()
                    .any(|e| e.user_id == m.user.as_str() && &e.field == field)
                {
                    out.push(EditorView {
                        user_id: m.user.to_string(),
                        name: m.name.to_string(),
                        field: field.clone(),
                    });
                }
            }
        }
        out
    }

    fn publish_typing(&self) {
        self.publish(
            &ServerMessage::TypingUsers {
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                users: self.typing_view(),
            },
            None,
        );
    }

    fn publish_editors(&self) {
        self.publish(
            &ServerMessage::EditingUsers {
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                editors: self.editors_view(),
            },
            None,
        );
    }

    fn publish_cursor(&mut self, connection: ConnectionId) {
        let Some(m) = self.members.get_mut(&connection) else {
            return;
        };
        m.cursor_sent = Some(Instant::now());
        m.cursor_flush_pending = false;
        let Some(cursor) = m.cursor.clone() else {
            return;
        };
        let msg = ServerMessage::CursorUpdate {
            entity_type: self.entity_type(),
            entity_id: self.entity_id(),
            cursor,
        };
        self.publish(&msg, Some(connection));
    }

    /// Drops expired typing entries; true when any expired.
    fn expire_typing(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for m in self.members.values_mut() {
            if m.typing.as_ref().is_some_and(|(_, until)| *until <= now) {
                m.typing = None;
                changed = true;
            }
        }
        changed
    }

    /// The document session, started (and restarted after a failure) on demand.
    fn document(&mut self, ctx: &mut Context<Self>) -> Addr<DocumentActor> {
        match &self.document {
            Some(addr) if addr.connected() => addr.clone(),
            _ => {
                let addr =
                    DocumentActor::new(self.id.clone(), ctx.address(), self.services.clone())
                        .start();
                addr.do_send(MembersChanged(self.user_ids()));
                self.document = Some(addr.clone());
                addr
            }
        }
    }

    fn user_ids(&self) -> Vec<String> {
        let mut users: Vec<String> = self.members.values().map(|m| m.user.to_string()).collect();
        users.sort();
        users.dedup();
        users
    }

    fn schedule_idle_check(&self, ctx: &mut Context<Self>) {
        let idle = Duration::from_secs(self.services.settings.rooms.idle_stop_secs);
        ctx.run_later(idle, |act, _| {
            if act.members.is_empty() {
                act.registry.do_send(RoomIdle {
                    room: act.id.clone(),
                    joins_seen: act.joins_seen,
                });
            }
        });
    }
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // A room opened by REST may never get a member.
        self.schedule_idle_check(ctx);
        // A connection that stopped between its join and our reply never
        // sends LeaveRoom: drop members whose connection is gone.
        ctx.run_interval(MEMBER_SWEEP, |act, ctx| {
            let dead: Vec<ConnectionId> = act
                .members
                .iter()
                .filter(|(_, m)| !m.handle.is_alive())
                .map(|(id, _)| *id)
                .collect();
            for connection in dead {
                ctx.notify(LeaveRoom { connection });
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // Members left behind (the room stopped unexpectedly) must not go on
        // receiving the room's topic: they rejoin through the registry.
        for connection in self.members.keys() {
            self.services
                .broker
                .unsubscribe(Topic::Room(self.id.clone()), *connection);
        }
        if let Some(doc) = self.document.take() {
            doc.do_send(CloseDocument);
        }
    }
}

impl Handler<Join> for RoomActor {
    type Result = ();

    /// Adds the member, answers it with `room:users` and `cursor:sync`, and
    /// tells the others with `room:user_joined`.
    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) {
        self.joins_seen += 1;
        let id = msg.handle.id;
        let user = msg.principal.user.clone();
        if !self.members.contains_key(&id) {
            self.services
                .broker
                .subscribe(Topic::Room(self.id.clone()), msg.handle.clone());
            self.members.insert(
                id,
                Member {
                    handle: msg.handle,
                    user: user.clone(),
                    name: msg.principal.name.clone(),
                    device: msg.device,
                    cursor: None,
                    cursor_sent: None,
                    cursor_flush_pending: false,
                    typing: None,
                    editing: Vec::new(),
                },
            );
            if let Some(doc) = &self.document {
                doc.do_send(MembersChanged(self.user_ids()));
            }
            if let Some(view) = self.member_view(&user) {
                self.publish(
                    &ServerMessage::RoomUserJoined {
                        entity_type: self.entity_type(),
                        entity_id: self.entity_id(),
                        user: view,
                    },
                    Some(id),
                );
            }
        }
        if !msg.reply_to.connected() {
            // The connection closed while its join was on the way.
            ctx.notify(LeaveRoom { connection: id });
            return;
        }
        msg.reply_to.do_send(RoomJoined {
            room: self.id.clone(),
            addr: ctx.address(),
        });
        let Some(joiner) = self.members.get(&id) else {
            return;
        };
        // Through the broker: after every broadcast published before it.
        let broker = &self.services.broker;
        broker.send_to(
            &joiner.handle,
            ServerMessage::RoomUsers {
                r#ref: msg.r#ref,
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                users: self.members_view(),
                editors: self.editors_view(),
                typing: self.typing_view(),
            }
            .to_frame(),
        );
        broker.send_to(
            &joiner.handle,
            ServerMessage::CursorSync {
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                cursors: self
                    .members
                    .iter()
                    .filter(|(cid, _)| **cid != id)
                    .filter_map(|(_, m)| m.cursor.clone())
                    .collect(),
            }
            .to_frame(),
        );
    }
}

impl Handler<LeaveRoom> for RoomActor {
    type Result = ();

    /// Removes the member and tells the others (`cursor:remove`, `room:user_left`).
    fn handle(&mut self, msg: LeaveRoom, ctx: &mut Context<Self>) {
        let Some(member) = self.members.remove(&msg.connection) else {
            return;
        };
        self.services
            .broker
            .unsubscribe(Topic::Room(self.id.clone()), msg.connection);
        if member.cursor.is_some() {
            self.publish(
                &ServerMessage::CursorRemove {
                    entity_type: self.entity_type(),
                    entity_id: self.entity_id(),
                    user_id: member.user.to_string(),
                    connection_id: msg.connection.to_string(),
                },
                None,
            );
        }
        if member.typing.is_some() {
            self.publish_typing();
        }
        if !member.editing.is_empty() {
            self.publish_editors();
        }
        let user_left = !self.members.values().any(|m| m.user == member.user);
        if let Some(doc) = &self.document {
            if user_left {
                doc.do_send(UserLeft(member.user.clone()));
            }
            doc.do_send(MembersChanged(self.user_ids()));
        }
        self.publish(
            &ServerMessage::RoomUserLeft {
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                user_id: member.user.to_string(),
                connection_id: msg.connection.to_string(),
                user_left,
            },
            None,
        );
        if self.members.is_empty() {
            self.schedule_idle_check(ctx);
        }
    }
}

impl Handler<StopRoom> for RoomActor {
    type Result = ();

    /// Stops (the registry has already forgotten this room).
    fn handle(&mut self, _: StopRoom, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<StopRoomForTest> for RoomActor {
    type Result = ();

    /// Stops without telling the registry (tests of supervision).
    fn handle(&mut self, _: StopRoomForTest, ctx: &mut Context<Self>) {
        log::warn!("room {}: stopped for a test", self.id);
        ctx.stop();
    }
}
