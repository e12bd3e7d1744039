//! One actor per (tenant, entity_type, entity_id): its members and their
//! devices, cursors (throttled and coalesced), typing (expiring) and editing
//! status, and the only delivery path to its members. An empty room asks the
//! registry to retire it after `rooms.idle_stop_secs`.
//!
//! # Membership and delivery
//! The room is the one owner of its member list: it holds each member's
//! [`ConnectionHandle`] and delivers every frame for its members itself,
//! its own (`room:*`, `cursor:*`, `typing:users`, ...) and its document
//! session's (replies, `doc:op`, `doc:field`, lock status), which the session
//! hands it as [`FromDocument`]. The broker has no room topic. Why here and
//! not in the broker:
//! - **Order.** One mailbox sequences everything a member gets from this
//!   room, so a reply never overtakes an earlier broadcast and every member
//!   sees the same order.
//! - **Cursors.** The room moves stored cursors through a text op in the same
//!   turn as it relays that op, so each cursor is moved exactly once
//!   (`cursors.rs` says how).
//! - **Bounded queues.** Each member's handle keeps its outbound bound and
//!   slow-consumer cut, so a stalled member never holds up the room.
//! - **Scale-out.** A broker that spans nodes needs one frame per node, not
//!   per member: a room on each node delivers to its local members, and the
//!   room hands the broker one copy of each frame for the other nodes' rooms.
//!   In a cluster the room also keeps the other nodes' members (their
//!   rooms tell it, `cluster_sync`) and merges them into what its members
//!   see; it still delivers only to its local members.
//!
//! The document session keeps a copy of the member connection ids (sent as
//! [`MembersChanged`] before the joiner hears of its join) so that members
//! send `doc:*` requests to it directly and non-members are refused.

pub mod admin;
pub mod cluster_state;
mod cluster_sync;
pub mod cursors;
mod delivery;
mod doc_relay;
mod events;
mod members;
mod membership;
mod relay;

pub use cursors::{AppliedOp, StoredCursor};

use super::document::{
    Audience, CloseDocument, DocRequest, DocumentActor, DocumentInfo, FromDocument, GetDocInfo,
    LockRefused, MembersChanged, RestLock, UserLeft,
};
use super::shell::DeviceInfo;
use super::Services;
use crate::auth::Principal;
use crate::broker::{ConnectionHandle, Frame};
use crate::ids::{ConnectionId, RoomId, UserId};
use crate::presence_state::color_for;
use crate::protocol::server::LockView;
use crate::protocol::server::{
    CursorView, DeviceView, EditorView, LeftView, MemberView, TypingView,
};
use crate::protocol::{Ref, ServerMessage};
use crate::small_map::SmallMap;
use actix::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

// What a room tells the actors above it (a joiner, a member that sent a
// document request, the registry) is defined here, so that the room never
// imports them.

/// A room accepted this connection; keep its address for later requests.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomJoined {
    /// The room.
    pub room: RoomId,
    /// Its actor.
    pub addr: Addr<RoomActor>,
    /// Its document session, if one is open: `doc:*` requests go there.
    pub document: Option<Addr<DocumentActor>>,
    /// Takes the member out again if this reply is never handled; the
    /// handler disarms it.
    pub leave_unless_handled: LeaveUnlessHandled,
}

/// A join's reply that was never handled leaves the room as it is dropped.
///
/// A connection that stops after the room queued its reply, but before it
/// handled it, never learned of the room, so it never sends `LeaveRoom`
/// itself. Its mailbox drops the reply when it stops (or refuses it when it
/// has stopped already), and this guard sends the `LeaveRoom` instead. No
/// member outlives its connection, and no room needs a timer to look for
/// such members (a sweep 5 s after every join was about a seventh of an
/// idle node's CPU in the minute after its sockets joined; BENCHMARKS.md,
/// "Idle CPU: no timer per room").
pub struct LeaveUnlessHandled {
    room: Option<Recipient<LeaveRoom>>,
    connection: ConnectionId,
}

impl LeaveUnlessHandled {
    /// Sends `LeaveRoom { connection }` to `room` when dropped armed.
    pub fn new(room: Recipient<LeaveRoom>, connection: ConnectionId) -> Self {
        LeaveUnlessHandled {
            room: Some(room),
            connection,
        }
    }

    /// The reply was handled: the connection knows the room, and leaves it
    /// itself.
    pub fn disarm(mut self) {
        self.room = None;
    }
}

impl Drop for LeaveUnlessHandled {
    fn drop(&mut self) {
        if let Some(room) = self.room.take() {
            room.do_send(LeaveRoom {
                connection: self.connection,
            });
        }
    }
}

/// The room handed a document request sent through it to its session;
/// `addr` (`None` for a non-member) takes this room's later `doc:*` requests.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DocumentOpened {
    /// The room.
    pub room: RoomId,
    /// The room actor that answers (a replaced room's answer is ignored).
    pub room_addr: Addr<RoomActor>,
    /// Its document session.
    pub addr: Option<Addr<DocumentActor>>,
}

/// An empty room wants to stop (sent to the registry).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomIdle {
    /// Which.
    pub room: RoomId,
    /// Joins it has processed.
    pub joins_seen: u64,
}

/// To the registry: this room actor is gone (sent as the actor is dropped,
/// whether it was retired or failed). The registry checks its entry at once
/// instead of finding a dead room by polling.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomStopped {
    /// Which.
    pub room: RoomId,
}

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

/// A member asks for a page of the members (`room:members`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ListMembers {
    /// The asking connection.
    pub connection: ConnectionId,
    /// Its handle: the answer (or `not_in_room`, when the room no longer
    /// has it) goes through it, in order with the room's other frames.
    pub reply: ConnectionHandle,
    /// Echoed in the reply.
    pub r#ref: Option<Ref>,
    /// Start after this user id.
    pub after: Option<String>,
    /// Members per page.
    pub limit: usize,
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
    /// `doc:edit` requests the connection had sent when it moved (see
    /// [`StoredCursor::sent_edits`]).
    pub sent_edits: u64,
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

/// A member's document request before it knows the session's address: the
/// room starts the session if needed, hands it the request, and tells the
/// connection the address so later requests go to the session directly.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForDocument {
    /// The request.
    pub request: DocRequest,
    /// Told the session's address (`None` when not a member).
    pub opened: Recipient<DocumentOpened>,
}

/// A REST lock request, forwarded by the registry.
#[derive(Message)]
#[rtype(result = "Result<Option<LockView>, LockRefused>")]
pub struct ForDocumentLock(pub RestLock);

/// The document session's live facts, if a session is open.
#[derive(Message)]
#[rtype(result = "Option<DocumentInfo>")]
pub struct GetDocumentInfo;

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

/// Test only: the thread the room runs on, and its document session's (when
/// it has one), to check that rooms spread over the actor pool and that a
/// session shares its room's thread.
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "(String, Option<String>)")]
pub struct ThreadsForTest;

/// A member connection.
struct Member {
    handle: ConnectionHandle,
    user: UserId,
    name: Arc<str>,
    cursor: Option<StoredCursor>,
    /// Last time a cursor update was relayed.
    cursor_sent: Option<Instant>,
    /// A coalesced cursor update is scheduled.
    cursor_flush_pending: bool,
    typing: Option<(Option<String>, Instant)>,
    editing: Vec<String>,
    /// Its device (what other nodes are told).
    device: DeviceView,
}

/// A room.
pub struct RoomActor {
    id: RoomId,
    services: Arc<Services>,
    /// Small-first (`small_map`): most rooms have a few members. Boxed, so
    /// that a large room's tree leaves hold pointers, not 500-byte members.
    members: SmallMap<ConnectionId, Box<Member>>,
    /// The members by user, with each user's view ready as JSON.
    by_user: std::cell::RefCell<members::MemberIndex>,
    joins_seen: u64,
    /// The check that stops the room once it has been empty for
    /// `rooms.idle_stop_secs`, while one is scheduled (a join cancels it).
    idle_check: Option<SpawnHandle>,
    /// The document session, started on the first document request.
    document: Option<Addr<DocumentActor>>,
    cursor_interval: Duration,
    typing_timeout: Duration,
    /// Joins not announced to the other members yet (local connection or
    /// `None` for another node's, user), in order: they go out together
    /// after `rooms.join_batch_ms`, or before any other frame for the
    /// members, whichever comes first.
    pending_joins: std::cell::RefCell<Vec<(Option<ConnectionId>, UserId)>>,
    /// Leaves not yet announced (batched like joins; never pending at the
    /// same time as joins, so the order of the two is kept).
    pending_leaves: std::cell::RefCell<Vec<crate::protocol::server::LeftView>>,
    /// Local members that started typing or editing: a superset, pruned
    /// when the typing and editing views are built, so that building them
    /// (for every joiner) does not walk every member of a big room.
    active: std::cell::RefCell<std::collections::BTreeSet<ConnectionId>>,
    /// Local members that have a cursor (pruned of those who left when a
    /// joiner's `cursor:sync` is built, so that it does not walk every
    /// member of a big room).
    with_cursor: std::cell::RefCell<std::collections::BTreeSet<ConnectionId>>,
    /// A large room (more than `rooms.users_list_max` member users, until
    /// it shrinks to half of that): joins and leaves are counted in
    /// `room:count`, not listed (`delivery`).
    counting: std::cell::Cell<bool>,
    /// The `total_users` of the last `room:count` (an unchanged count is
    /// not sent again).
    count_told: std::cell::Cell<usize>,
    /// In a cluster: the room's subscription to its topic (`relay`).
    relay: Option<ConnectionHandle>,
    /// In a cluster: the members of the other nodes (`cluster_sync`).
    remote: cluster_state::RemoteState,
    /// The users of `remote` as last told to the tenant's roster.
    remote_users_told: Vec<String>,
    /// In a cluster: this node's id, and what this room last told the others.
    sync: Option<cluster_sync::SyncOut>,
    /// When another node last forwarded a document request here (`doc_relay`).
    remote_documents_seen: Option<Instant>,
}

impl RoomActor {
    /// An empty room.
    pub fn new(id: RoomId, services: Arc<Services>) -> Self {
        let rooms = &services.settings.rooms;
        RoomActor {
            id,
            cursor_interval: Duration::from_secs(1) / rooms.cursor_rate_per_second.max(1),
            typing_timeout: Duration::from_secs(rooms.typing_timeout_secs),
            services,
            members: SmallMap::new(),
            by_user: Default::default(),
            joins_seen: 0,
            idle_check: None,
            document: None,
            pending_joins: Default::default(),
            pending_leaves: Default::default(),
            active: Default::default(),
            with_cursor: Default::default(),
            counting: Default::default(),
            count_told: Default::default(),
            relay: None,
            remote: Default::default(),
            sync: None,
            remote_users_told: Vec::new(),
            remote_documents_seen: None,
        }
    }

    fn entity_type(&self) -> String {
        self.id.entity_type.to_string()
    }

    fn entity_id(&self) -> String {
        self.id.entity_id.to_string()
    }

    /// The document session, started (and restarted after a failure) on demand.
    fn document(&mut self, ctx: &mut Context<Self>) -> Addr<DocumentActor> {
        match &self.document {
            Some(addr) if addr.connected() => addr.clone(),
            _ => {
                let addr = DocumentActor::new(
                    self.id.clone(),
                    ctx.address().recipient(),
                    self.services.clone(),
                )
                .start();
                addr.do_send(self.members_changed());
                self.document = Some(addr.clone());
                addr
            }
        }
    }

    /// What the document session is told of the members.
    fn members_changed(&self) -> MembersChanged {
        let mut users: Vec<String> = self.members.values().map(|m| m.user.to_string()).collect();
        users.sort();
        users.dedup();
        MembersChanged {
            users,
            connections: self.members.keys().copied().collect(),
        }
    }

    /// The document session's address while it runs.
    fn live_document(&self) -> Option<Addr<DocumentActor>> {
        self.document.clone().filter(|d| d.connected())
    }

    /// Asks the registry to stop the room if it is still empty (and
    /// serves no other node) after `rooms.idle_stop_secs`. A join cancels
    /// the check, so a room in use has no timer of its own.
    fn schedule_idle_check(&mut self, ctx: &mut Context<Self>) {
        self.cancel_idle_check(ctx);
        let idle = Duration::from_secs(self.services.settings.rooms.idle_stop_secs);
        let check = ctx.run_later(idle, move |act, ctx| {
            act.idle_check = None;
            if act.members.is_empty() && act.serves_other_nodes(idle) {
                return act.schedule_idle_check(ctx);
            }
            if act.members.is_empty() {
                act.services.registry.do_send(RoomIdle {
                    room: act.id.clone(),
                    joins_seen: act.joins_seen,
                });
            }
        });
        self.idle_check = Some(check);
    }

    fn cancel_idle_check(&mut self, ctx: &mut Context<Self>) {
        if let Some(check) = self.idle_check.take() {
            ctx.cancel_future(check);
        }
    }
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.start_relay(ctx);
        // A room opened by REST may never get a member.
        self.schedule_idle_check(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.sync_closed();
        // The roster forgets this room's members on other nodes.
        self.remote = cluster_state::RemoteState::default();
        self.tell_roster_remote(false);
        self.stop_relay();
        // Members left behind (the room stopped unexpectedly) get nothing
        // more from it: they find its address dead and rejoin through the
        // registry. The session stops taking their requests.
        if let Some(doc) = self.document.take() {
            doc.do_send(CloseDocument);
        }
    }
}

impl Drop for RoomActor {
    /// Tells the registry, however the actor ended (a panic unwinds through
    /// here too), so a failed room is forgotten without a periodic walk.
    fn drop(&mut self) {
        self.services.registry.do_send(RoomStopped {
            room: self.id.clone(),
        });
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

impl Handler<ThreadsForTest> for RoomActor {
    type Result = ResponseFuture<(String, Option<String>)>;

    /// This thread, and the session's (asked).
    fn handle(&mut self, _: ThreadsForTest, _: &mut Context<Self>) -> Self::Result {
        let here = crate::actors::pool::current_thread();
        let document = self.document.clone().filter(Addr::connected);
        Box::pin(async move {
            let there = match document {
                Some(doc) => doc.send(crate::actors::document::ThreadForTest).await.ok(),
                None => None,
            };
            (here, there)
        })
    }
}

#[cfg(test)]
mod leave_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::Mutex;

    /// Stands in for the room: records the leaves it is sent.
    struct Leaves(Arc<Mutex<Vec<u64>>>);

    impl Actor for Leaves {
        type Context = Context<Self>;
    }

    impl Handler<LeaveRoom> for Leaves {
        type Result = ();
        fn handle(&mut self, msg: LeaveRoom, _: &mut Context<Self>) {
            self.0.lock().unwrap().push(msg.connection.0);
        }
    }

    /// Stands in for the joiner's mailbox: a reply it holds, handled or not.
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Reply(LeaveUnlessHandled);

    /// A joiner that stops as soon as it starts, before its mailbox runs.
    struct StopsAtOnce;

    impl Actor for StopsAtOnce {
        type Context = Context<Self>;
        fn started(&mut self, ctx: &mut Context<Self>) {
            ctx.stop();
        }
    }

    impl Handler<Reply> for StopsAtOnce {
        type Result = ();
        fn handle(&mut self, Reply(leave): Reply, _: &mut Context<Self>) {
            leave.disarm();
        }
    }

    /// A joiner that handles its replies.
    struct Handles;

    impl Actor for Handles {
        type Context = Context<Self>;
    }

    impl Handler<Reply> for Handles {
        type Result = ();
        fn handle(&mut self, Reply(leave): Reply, _: &mut Context<Self>) {
            leave.disarm();
        }
    }

    #[actix_rt::test]
    async fn a_reply_never_handled_leaves_the_room_and_a_handled_one_does_not() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let room = Leaves(seen.clone()).start().recipient::<LeaveRoom>();
        // Queued in a mailbox whose actor stops before running it.
        let stops = StopsAtOnce.start();
        stops.do_send(Reply(LeaveUnlessHandled::new(
            room.clone(),
            ConnectionId(1),
        )));
        // Sent once the joiner has stopped (the mailbox refuses it).
        while stops.connected() {
            actix_rt::task::yield_now().await;
        }
        stops.do_send(Reply(LeaveUnlessHandled::new(
            room.clone(),
            ConnectionId(2),
        )));
        // Handled: the joiner leaves by itself later.
        let handles = Handles.start();
        handles
            .send(Reply(LeaveUnlessHandled::new(
                room.clone(),
                ConnectionId(3),
            )))
            .await
            .unwrap();
        // Dropped unsent.
        drop(LeaveUnlessHandled::new(room.clone(), ConnectionId(4)));
        // Waits only until the three expected leaves are in.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while seen.lock().unwrap().len() < 3 && std::time::Instant::now() < deadline {
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        // One more round trip to the room: a wrong leave would be in by then.
        room.send(LeaveRoom {
            connection: ConnectionId(0),
        })
        .await
        .unwrap();
        let mut got = seen.lock().unwrap().clone();
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2, 4]);
    }
}
