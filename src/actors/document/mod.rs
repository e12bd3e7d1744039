//! One DocumentSession actor per (tenant, entity_type, entity_id), owned by
//! that entity's room. A thin shell over [`Document`] and [`LockTable`]:
//! it loads the latest snapshot plus later events on start, applies edits,
//! sets, undo/redo and locks, and persists every change through an ordered
//! write queue. A change is acknowledged to its author and broadcast to the
//! room only once it is stored, so an acked edit is never lost.
//!
//! Members send their requests here directly (the room hands them the
//! address once they joined); the session keeps the room's list of member
//! connections ([`MembersChanged`]) and refuses anyone else with
//! `not_in_room`. Everything it sends members goes through the room
//! ([`FromDocument`]), which delivers it in order with the room's own frames
//! and moves stored cursors with each text op. Database I/O
//! runs in spawned futures, never inside a mailbox turn (except the initial
//! load, before which nothing can be served).
//!
//! # Across the nodes of a cluster
//! One node at a time holds a document's lease (`lease.rs`) and so owns
//! the document: its session is the only writer. A session that finds the
//! lease held by another node becomes a forwarding session (`forward.rs`):
//! it hands its members' requests to the owner over the room's topic and
//! the owner answers them, and delivers its broadcasts to every node's
//! members, over that topic too (`wire.rs` says what crosses). When the
//! owner stops or stops answering, a forwarding session takes the lease and
//! loads the document from PostgreSQL.
//!
//! Files: this one holds the actor, its messages and its lifecycle;
//! `commands.rs` the `doc:*` commands; `write_queue.rs` ordered storage;
//! `replies.rs` replies, member frames and lock status; `room_messages.rs`
//! what the room and REST send it; `lease.rs` the cluster lease;
//! `forward.rs` forwarding to the owner and serving forwarded requests;
//! `forward_rest.rs` REST lock calls forwarded to the owner; `proxy.rs` the
//! forwarding state (pure); `wire.rs` the messages between
//! nodes.

mod commands;
mod forward;
mod forward_rest;
mod lease;
mod proxy;
mod replies;
mod room_messages;
pub mod wire;
mod write_queue;

pub use forward::{ForwardAnswered, Forwarded, OwnerGone, Pinged, RemoteUserLeft};
pub use forward_rest::{ForwardedRest, RestAnswered};
use replies::{ReplyTo, Request};

use super::Services;
use crate::actors::room::cursors::AppliedOp;
use crate::broker::{ConnectionHandle, Frame};
use crate::collab::document::{Change, DocError, Document, SetResult, TextApplied};
use crate::collab::history::HistoryError;
use crate::collab::locks::{EditCheck, Lock, LockError, LockMode, LockTable};
use crate::collab::ot::TextOperation;
use crate::db::documents::{self as q, DocKey, LockRow, NewEvent, NewSnapshot, SessionUpdate};
use crate::ids::{ConnectionId, RoomId, UserId};
use crate::protocol::server::LockView;
use crate::protocol::{ErrorCode, Ref, ServerMessage};
use actix::prelude::*;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a client asks of a document (also carried between nodes).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum DocCommand {
    /// Send `doc:state`.
    Sync,
    /// Apply an OT edit.
    Edit {
        /// Field.
        field: String,
        /// Base revision.
        revision: u64,
        /// Op.
        op: TextOperation,
        /// Client id.
        client_id: String,
        /// Sequence number.
        seq: u64,
    },
    /// Set a structured field.
    Set {
        /// Field.
        field: String,
        /// Value.
        value: serde_json::Value,
        /// Field version seen.
        version: u64,
    },
    /// Undo the user's latest edit of a field.
    Undo {
        /// Field.
        field: String,
    },
    /// Redo the user's latest undone edit.
    Redo {
        /// Field.
        field: String,
    },
    /// Take or renew a lock.
    Lock {
        /// Field or the entity.
        field: Option<String>,
        /// Mode (default soft).
        mode: Option<LockMode>,
        /// Lifetime.
        ttl_secs: Option<u64>,
        /// Reason.
        reason: Option<String>,
    },
    /// Release a lock.
    Unlock {
        /// Field or the entity.
        field: Option<String>,
    },
}

/// A member's request, sent by its connection (the first one through the
/// room, which hands the connection this session's address).
#[derive(Message)]
#[rtype(result = "()")]
pub struct DocRequest {
    /// Where replies go; must be a member connection.
    pub reply: Option<ConnectionHandle>,
    /// Who asks.
    pub user: UserId,
    /// Display name.
    pub name: Arc<str>,
    /// Echoed in the reply.
    pub r#ref: Option<Ref>,
    /// What.
    pub command: DocCommand,
    /// `doc:edit` requests the connection has sent so far, this one
    /// included (tells the room whether the author's cursor has the op).
    pub sent_edits: u64,
}

/// Take or release a lock over REST; answers once the change is stored.
#[derive(Message)]
#[rtype(result = "Result<Option<LockView>, LockRefused>")]
pub struct RestLock {
    /// Holder.
    pub user: UserId,
    /// Holder's name.
    pub name: Arc<str>,
    /// Field or the entity.
    pub field: Option<String>,
    /// `Some((mode, ttl, reason))` to take, `None` to release.
    pub acquire: Option<(LockMode, Option<u64>, Option<String>)>,
}

/// Why a REST lock request failed (also carried between nodes).
#[derive(Debug, Clone, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum LockRefused {
    /// Someone else holds an overlapping lock.
    #[error("locked by {0}")]
    Held(String),
    /// No such lock held by the caller.
    #[error("no such lock held by you")]
    NotHeld,
    /// The session could not load or store.
    #[error("document unavailable: {0}")]
    Unavailable(String),
    /// The document's write queue is full (`documents.max_pending_writes`):
    /// nothing was changed; retry after this many milliseconds.
    #[error("document storage is behind; retry later")]
    StorageBehind {
        /// When to retry.
        retry_after_ms: u64,
    },
}

/// Live session facts for REST.
#[derive(Message)]
#[rtype(result = "DocumentInfo")]
pub struct GetDocInfo;

/// What [`GetDocInfo`] returns.
#[derive(Debug, Clone, serde::Serialize, actix::MessageResponse)]
pub struct DocumentInfo {
    /// Document version.
    pub version: u64,
    /// Current locks.
    pub locks: Vec<LockView>,
    /// Changes applied in this session.
    pub session_edits: i64,
    /// Conflicts resolved in this session.
    pub session_conflicts_resolved: i64,
    /// Users in the room.
    pub active_users: Vec<String>,
}

/// A user has no connection left in the room: release their locks.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UserLeft(pub UserId);

/// The room's members changed: who may send requests, and session statistics.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MembersChanged {
    /// Users in the room (sorted, deduplicated).
    pub users: Vec<String>,
    /// Member connections: the only ones whose requests are served.
    pub connections: HashSet<ConnectionId>,
}

/// The room is stopping: store everything, close the session row, stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseDocument;

/// Test only: the thread this session runs on (see the room's `ThreadsForTest`).
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "String")]
pub struct ThreadForTest;

/// Who a [`FromDocument`] frame is for.
pub enum Audience {
    /// One connection (a reply).
    One(ConnectionHandle),
    /// Every member except one (usually the author).
    Members {
        /// The connection to skip.
        except: Option<ConnectionId>,
    },
    /// The other nodes' rooms: a [`wire`] message the room publishes on its
    /// topic (in a cluster).
    Nodes,
}

/// Frames for the room to deliver to its members (sent to the room), in
/// the order this session sent them, after everything the room delivered
/// before. Several when a stored batch answers several changes at once (the
/// room writes them to each socket together).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FromDocument(pub Vec<DocFrame>);

/// One frame of a [`FromDocument`].
pub struct DocFrame {
    /// Who gets it.
    pub to: Audience,
    /// The frame.
    pub frame: Frame,
    /// The text op it carries, if any: stored cursors move with it.
    pub applied: Option<AppliedOp>,
}

/// A write waiting in the queue, and what to do once it is stored.
struct Pending {
    write: Write,
    after: Vec<After>,
}

enum Write {
    Event(Arc<NewEvent>),
    Snapshot(NewSnapshot),
    Locks(Vec<LockRow>),
    Session(SessionUpdate),
}

enum After {
    /// Record an activity (the feed row and its `activity` frame).
    Activity(Box<crate::notify::activity::ActivityInput>),
    Reply(ReplyTo, Frame),
    /// A frame for every member, except the one given (the author).
    Publish(Frame, Option<ReplyTo>),
    /// A text op's frame: stored cursors move with it. The author to skip
    /// and the `doc:edit` requests it had sent.
    PublishOp(Frame, Option<ReplyTo>, AppliedOp, u64),
    Respond(
        tokio::sync::oneshot::Sender<Result<Option<LockView>, LockRefused>>,
        Option<LockView>,
    ),
}

/// Events stored per insert at most.
const EVENT_BATCH: usize = 200;
/// Pause before retrying a failed write.
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// The `retry_after_ms` sent with `unavailable` when the write queue is full.
const STORAGE_RETRY_AFTER_MS: u64 = 1000;
/// How often lock expiry and session counters are checked.
const TICK: Duration = Duration::from_secs(1);

/// A document session.
pub struct DocumentActor {
    room: RoomId,
    key: DocKey,
    room_addr: Recipient<FromDocument>,
    /// Frames for the room held while a stored batch is answered (`None`
    /// otherwise): they go as one [`FromDocument`].
    to_room: std::cell::RefCell<Option<Vec<DocFrame>>>,
    services: Arc<Services>,
    doc: Document,
    locks: LockTable,
    load_error: Option<String>,
    session_id: Option<i64>,
    pending: VecDeque<Pending>,
    writing: bool,
    closing: bool,
    changes_since_snapshot: u64,
    session_edits: i64,
    session_conflicts_resolved: i64,
    conflicted: HashSet<(String, String)>,
    active_users: Vec<String>,
    /// The room's member connections, as the room last told.
    members: HashSet<ConnectionId>,
    max_concurrent: usize,
    session_dirty: bool,
    last_activity: chrono::DateTime<chrono::Utc>,
    /// When each user's editing was last recorded in the activity feed.
    edit_recorded: std::collections::HashMap<String, Instant>,
    /// Activity noted for the change being made, attached to its write.
    activity_after_write: Vec<crate::notify::activity::ActivityInput>,
    /// The cluster lease (a clustered node only).
    lease: Option<lease::Held>,
    /// Refused for the lease: Redis could not confirm this node holds the
    /// document (`unavailable`, retry later).
    lease_blocked: bool,
    /// Another node owns the document: requests are forwarded to it.
    proxy: Option<proxy::Proxy<forward::InFlight, DocRequest>>,
    /// Owner: the other nodes each user sent requests through (their locks
    /// stay until no node has the user).
    remote_users: std::collections::HashMap<String, HashSet<String>>,
}

/// A user's edits appear in the activity feed at most this often.
const EDIT_ACTIVITY_EVERY: Duration = Duration::from_secs(300);

fn lock_view(l: &Lock) -> LockView {
    LockView {
        field: l.field.clone(),
        user_id: l.user_id.clone(),
        name: l.name.clone(),
        mode: l.mode,
        reason: l.reason.clone(),
        acquired_at: l
            .acquired_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        expires_at: l
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}

impl DocumentActor {
    /// A session for `room`; it loads itself when started.
    pub fn new(room: RoomId, room_addr: Recipient<FromDocument>, services: Arc<Services>) -> Self {
        let max_history = services.settings.documents.max_history;
        DocumentActor {
            key: DocKey {
                tenant_id: room.tenant.to_string(),
                entity_type: room.entity_type.to_string(),
                entity_id: room.entity_id.to_string(),
            },
            room,
            room_addr,
            to_room: std::cell::RefCell::new(None),
            services,
            doc: Document::new(max_history),
            locks: LockTable::default(),
            load_error: None,
            session_id: None,
            pending: VecDeque::new(),
            writing: false,
            closing: false,
            changes_since_snapshot: 0,
            session_edits: 0,
            session_conflicts_resolved: 0,
            conflicted: HashSet::new(),
            active_users: Vec::new(),
            members: HashSet::new(),
            max_concurrent: 0,
            session_dirty: false,
            last_activity: chrono::Utc::now(),
            edit_recorded: std::collections::HashMap::new(),
            activity_after_write: Vec::new(),
            lease: None,
            lease_blocked: false,
            proxy: None,
            remote_users: Default::default(),
        }
    }

    /// Records Tandem's own activity (document edited, lock taken) in the
    /// feed, off this mailbox, after the change it describes is stored.
    fn record_activity(
        &mut self,
        user: &UserId,
        name: &str,
        action: &str,
        details: serde_json::Value,
    ) {
        let input = crate::notify::activity::ActivityInput {
            tenant: self.room.tenant.clone(),
            user_id: Some(user.to_string()),
            user_name: Some(name.to_owned()),
            action: action.to_owned(),
            entity_type: self.key.entity_type.clone(),
            entity_id: self.key.entity_id.clone(),
            entity_name: None,
            details: Some(details),
            visibility: crate::notify::activity::Visibility::Team,
            visible_to: Vec::new(),
        };
        // Published once the write it is about is stored (`enqueue`
        // attaches it to the next write), never ahead of it.
        self.activity_after_write.push(input);
    }

    /// Records `edited` for a user at most every [`EDIT_ACTIVITY_EVERY`].
    fn note_edit(&mut self, user: &UserId, name: &str, field: &str) {
        let now = Instant::now();
        let due = self
            .edit_recorded
            .get(user.as_str())
            .is_none_or(|t| now.duration_since(*t) >= EDIT_ACTIVITY_EVERY);
        if due {
            self.edit_recorded.insert(user.to_string(), now);
            self.record_activity(user, name, "edited", serde_json::json!({ "field": field }));
        }
    }
}

impl Actor for DocumentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.load(ctx, None);
        ctx.run_interval(TICK, |act, ctx| {
            if act.proxy.is_some() {
                return act.check_forwarded(Instant::now());
            }
            if act.load_error.is_some() {
                return;
            }
            act.renew_lease(ctx);
            if act.locks.expire(Instant::now()) {
                let after = vec![After::Publish(act.lock_status_frame(), None)];
                act.enqueue(Write::Locks(act.lock_rows()), after, ctx);
            }
            if act.session_dirty {
                act.session_dirty = false;
                let update = act.session_update(false);
                act.enqueue(Write::Session(update), Vec::new(), ctx);
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.release_lease();
    }
}

impl Handler<DocRequest> for DocumentActor {
    type Result = ();

    /// Applies a member's request; replies after the change is stored. A
    /// connection that is not (or no longer) a member is refused.
    fn handle(&mut self, req: DocRequest, ctx: &mut Context<Self>) {
        let Some(from) = req.reply.as_ref() else {
            return;
        };
        if !self.members.contains(&from.id) {
            // Straight to it: it gets nothing else from this room.
            let refusal = ServerMessage::error(
                req.r#ref,
                ErrorCode::NotInRoom,
                "join the room first (room:join)",
            );
            from.deliver(refusal.to_frame());
            return;
        }
        self.serve(req, ctx);
    }
}

impl Handler<CloseDocument> for DocumentActor {
    type Result = ();

    /// Stores a final snapshot, closes the session row, then stops.
    fn handle(&mut self, _: CloseDocument, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        if self.load_error.is_some() || self.proxy.is_some() {
            ctx.stop();
            return;
        }
        if self.changes_since_snapshot > 0 {
            self.queue_snapshot(ctx);
        }
        self.active_users.clear();
        // The room is gone: its members rejoin a fresh one.
        self.members.clear();
        let update = self.session_update(true);
        self.closing = true;
        self.enqueue(Write::Session(update), Vec::new(), ctx);
    }
}
