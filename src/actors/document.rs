//! One DocumentSession actor per (tenant, entity_type, entity_id), owned by
//! that entity's room. A thin shell over [`Document`] and [`LockTable`]:
//! it loads the latest snapshot plus later events on start, applies edits,
//! sets, undo/redo and locks, and persists every change through an ordered
//! write queue. A change is acknowledged to its author and broadcast to the
//! room only once it is stored, so an acked edit is never lost. Database I/O
//! runs in spawned futures, never inside a mailbox turn (except the initial
//! load, before which nothing can be served).

use super::room::{RoomActor, TransformCursors};
use super::Services;
use crate::broker::{ConnectionHandle, Frame, Topic};
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

/// What a client asks of a document.
#[derive(Debug, Clone)]
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

/// A client request, forwarded by the room.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DocRequest {
    /// Where replies go.
    pub reply: Option<ConnectionHandle>,
    /// Who asks.
    pub user: UserId,
    /// Display name.
    pub name: Arc<str>,
    /// Echoed in the reply.
    pub r#ref: Option<Ref>,
    /// What.
    pub command: DocCommand,
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

/// Why a REST lock request failed.
#[derive(Debug, Clone, thiserror::Error)]
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

/// The room's members changed (for session statistics).
#[derive(Message)]
#[rtype(result = "()")]
pub struct MembersChanged(pub Vec<String>);

/// The room is stopping: store everything, close the session row, stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseDocument;

/// A write waiting in the queue, and what to do once it is stored.
struct Pending {
    write: Write,
    after: Vec<After>,
}

enum Write {
    Event(Box<NewEvent>),
    Snapshot(NewSnapshot),
    Locks(Vec<LockRow>),
    Session(SessionUpdate),
}

enum After {
    Reply(ConnectionHandle, Frame),
    Publish(Frame, Option<ConnectionId>),
    Respond(
        tokio::sync::oneshot::Sender<Result<Option<LockView>, LockRefused>>,
        Option<LockView>,
    ),
}

/// Events stored per insert at most.
const EVENT_BATCH: usize = 200;
/// Pause before retrying a failed write.
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// How often lock expiry and session counters are checked.
const TICK: Duration = Duration::from_secs(1);

/// A document session.
pub struct DocumentActor {
    room: RoomId,
    key: DocKey,
    room_addr: Addr<RoomActor>,
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
    max_concurrent: usize,
    session_dirty: bool,
    last_activity: chrono::DateTime<chrono::Utc>,
    /// When each user's editing was last recorded in the activity feed.
    edit_recorded: std::collections::HashMap<String, Instant>,
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
    pub fn new(room: RoomId, room_addr: Addr<RoomActor>, services: Arc<Services>) -> Self {
        let max_history = services.settings.documents.max_history;
        DocumentActor {
            key: DocKey {
                tenant_id: room.tenant.to_string(),
                entity_type: room.entity_type.to_string(),
                entity_id: room.entity_id.to_string(),
            },
            room,
            room_addr,
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
            max_concurrent: 0,
            session_dirty: false,
            last_activity: chrono::Utc::now(),
            edit_recorded: std::collections::HashMap::new(),
        }
    }

    /// Records Tandem's own activity (document edited, lock taken) in the
    /// feed, off this mailbox.
    fn record_activity(&self, user: &UserId, name: &str, action: &str, details: serde_json::Value) {
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
        let services = self.services.clone();
        actix::spawn(async move {
            if let Err(e) = crate::notify::activity::record(&services, input).await {
                log::warn!("could not record document activity: {e}");
            }
        });
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

    fn entity(&self) -> (String, String) {
        (self.key.entity_type.clone(), self.key.entity_id.clone())
    }

    /// Replies go through the broker so they never overtake a broadcast
    /// published before them (a client must see ops in revision order).
    fn reply(&self, to: &Option<ConnectionHandle>, msg: &ServerMessage) {
        if let Some(h) = to {
            self.services.broker.send_to(h, msg.to_frame());
        }
    }

    fn error(
        &self,
        to: &Option<ConnectionHandle>,
        r#ref: Option<Ref>,
        code: ErrorCode,
        message: impl Into<String>,
    ) {
        self.reply(to, &ServerMessage::error(r#ref, code, message));
    }

    fn lock_views(&self) -> Vec<LockView> {
        self.locks.locks().iter().map(lock_view).collect()
    }

    fn lock_status_frame(&self) -> Frame {
        let (entity_type, entity_id) = self.entity();
        ServerMessage::DocLockStatus {
            entity_type,
            entity_id,
            locks: self.lock_views(),
        }
        .to_frame()
    }

    fn lock_rows(&self) -> Vec<LockRow> {
        self.locks
            .locks()
            .iter()
            .map(|l| LockRow {
                tenant_id: self.key.tenant_id.clone(),
                entity_type: self.key.entity_type.clone(),
                entity_id: self.key.entity_id.clone(),
                field_name: l.field.clone().unwrap_or_default(),
                user_id: l.user_id.clone(),
                lock_type: match l.mode {
                    LockMode::Soft => "soft".into(),
                    LockMode::Hard => "hard".into(),
                },
                reason: l.reason.clone(),
                acquired_at: l.acquired_at,
                expires_at: l.expires_at,
                user_name: Some(l.name.clone()),
            })
            .collect()
    }

    fn session_update(&self, ended: bool) -> SessionUpdate {
        SessionUpdate {
            active_users: self.active_users.iter().cloned().map(Some).collect(),
            max_concurrent_users: i32::try_from(self.max_concurrent).unwrap_or(i32::MAX),
            total_edits: self.session_edits,
            total_conflicts_resolved: self.session_conflicts_resolved,
            last_activity_at: self.last_activity,
            ended_at: ended.then(chrono::Utc::now),
        }
    }

    fn enqueue(&mut self, write: Write, after: Vec<After>, ctx: &mut Context<Self>) {
        self.pending.push_back(Pending { write, after });
        self.pump(ctx);
    }

    /// Records a stored change and queues a snapshot when due.
    fn record_change(&mut self, event: NewEvent, after: Vec<After>, ctx: &mut Context<Self>) {
        self.session_edits += 1;
        self.session_dirty = true;
        self.last_activity = chrono::Utc::now();
        self.enqueue(Write::Event(Box::new(event)), after, ctx);
        self.changes_since_snapshot += 1;
        if self.changes_since_snapshot >= self.services.settings.documents.snapshot_every {
            self.queue_snapshot(ctx);
        }
    }

    fn queue_snapshot(&mut self, ctx: &mut Context<Self>) {
        self.changes_since_snapshot = 0;
        let snapshot = self.doc.snapshot();
        let content = serde_json::to_value(&snapshot).unwrap_or(serde_json::Value::Null);
        self.enqueue(
            Write::Snapshot(NewSnapshot {
                tenant_id: self.key.tenant_id.clone(),
                entity_type: self.key.entity_type.clone(),
                entity_id: self.key.entity_id.clone(),
                version: snapshot.version as i64,
                content,
            }),
            Vec::new(),
            ctx,
        );
    }

    fn new_event(&self, user: &UserId, change: &Change, kind: &str, version: u64) -> NewEvent {
        let (field, client_id, seq) = match change {
            Change::Text {
                field,
                client_id,
                seq,
                ..
            } => (field.clone(), Some(client_id.clone()), Some(*seq as i64)),
            Change::Value { field, .. } => (field.clone(), None, None),
        };
        NewEvent {
            tenant_id: self.key.tenant_id.clone(),
            entity_type: self.key.entity_type.clone(),
            entity_id: self.key.entity_id.clone(),
            session_id: self.session_id,
            user_id: user.to_string(),
            client_id,
            client_seq: seq,
            event_type: kind.to_owned(),
            field_name: Some(field),
            event_data: serde_json::to_value(change).unwrap_or(serde_json::Value::Null),
            version: version as i64,
            parent_version: Some(version as i64 - 1),
        }
    }

    /// Runs the next write (batching consecutive events) unless one is running.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.writing {
            return;
        }
        if self.pending.is_empty() {
            if self.closing {
                ctx.stop();
            }
            return;
        }
        let mut batch: Vec<Pending> = Vec::new();
        while let Some(next) = self.pending.front() {
            let is_event = matches!(next.write, Write::Event(_));
            if !batch.is_empty() && (!is_event || batch.len() >= EVENT_BATCH) {
                break;
            }
            if let Some(item) = self.pending.pop_front() {
                batch.push(item);
            }
            if !is_event {
                break;
            }
        }
        self.writing = true;
        let db = self.services.db.clone();
        let key = self.key.clone();
        let session_id = self.session_id;
        let fut = async move {
            let result = async {
                let mut conn = db.conn().await?;
                match batch.first().map(|p| &p.write) {
                    Some(Write::Event(_)) => {
                        for item in &batch {
                            if let Write::Event(e) = &item.write {
                                q::insert_event(&mut conn, e).await?;
                            }
                        }
                    }
                    Some(Write::Snapshot(s)) => q::insert_snapshot(&mut conn, s).await?,
                    Some(Write::Locks(rows)) => q::replace_locks(&mut conn, &key, rows).await?,
                    Some(Write::Session(update)) => {
                        if let Some(id) = session_id {
                            q::update_session(&mut conn, id, update).await?;
                        }
                    }
                    None => {}
                }
                Ok::<(), crate::db::DbError>(())
            }
            .await;
            (batch, result)
        };
        ctx.spawn(fut.into_actor(self).map(|(batch, result), act, ctx| {
            act.writing = false;
            match result {
                Ok(()) => {
                    for item in batch {
                        act.run_after(item.after);
                    }
                    act.pump(ctx);
                }
                Err(e) => {
                    log::error!("document {}: write failed, retrying: {e}", act.room);
                    for item in batch.into_iter().rev() {
                        act.pending.push_front(item);
                    }
                    ctx.run_later(RETRY_AFTER, |act, ctx| act.pump(ctx));
                }
            }
        }));
    }

    fn run_after(&self, after: Vec<After>) {
        for a in after {
            match a {
                After::Reply(handle, frame) => self.services.broker.send_to(&handle, frame),
                After::Publish(frame, except) => {
                    self.services
                        .broker
                        .publish(Topic::Room(self.room.clone()), frame, except)
                }
                After::Respond(tx, view) => {
                    let _ = tx.send(Ok(view));
                }
            }
        }
    }

    /// Acks, broadcasts and stores an applied text change.
    fn text_applied(
        &mut self,
        (req_user, reply, r#ref): (&UserId, &Option<ConnectionHandle>, Option<Ref>),
        applied: TextApplied,
        kind: &'static str,
        warning: Option<Box<Lock>>,
        ctx: &mut Context<Self>,
    ) {
        let mut data = serde_json::json!({
            "field": applied.field,
            "revision": applied.revision,
            "version": applied.version,
        });
        if let Some(lock) = warning {
            data["warning"] = serde_json::json!({ "locked_by": lock.user_id, "mode": "soft" });
        }
        let ack = r#ref.map(|r#ref| ServerMessage::Ack {
            r#ref,
            data: Some(data),
        });
        if applied.duplicate {
            if let Some(ack) = ack {
                self.reply(reply, &ack);
            }
            return;
        }
        self.room_addr.do_send(TransformCursors {
            field: applied.field.clone(),
            op: applied.op.clone(),
        });
        let (entity_type, entity_id) = self.entity();
        let (client_id, seq) = match &applied.change {
            Change::Text { client_id, seq, .. } => (client_id.clone(), *seq),
            Change::Value { .. } => (String::new(), 0),
        };
        let op_frame = ServerMessage::DocOp {
            entity_type,
            entity_id,
            field: applied.field.clone(),
            revision: applied.revision,
            version: applied.version,
            op: applied.op.clone(),
            user_id: req_user.to_string(),
            client_id,
            seq,
            kind,
        }
        .to_frame();
        let mut after = Vec::new();
        // The author of an edit applied it already; undo/redo go to everyone.
        let except = if kind == "edit" {
            reply.as_ref().map(|h| h.id)
        } else {
            None
        };
        if let (Some(h), Some(ack)) = (reply, ack) {
            after.push(After::Reply(h.clone(), ack.to_frame()));
        }
        after.push(After::Publish(op_frame, except));
        let event = self.new_event(req_user, &applied.change, kind, applied.version);
        self.record_change(event, after, ctx);
    }

    fn doc_error(&self, reply: &Option<ConnectionHandle>, r#ref: Option<Ref>, e: DocError) {
        let (code, message) = match &e {
            DocError::History(HistoryError::RevisionAhead { .. })
            | DocError::History(HistoryError::RevisionTooOld { .. }) => (
                ErrorCode::ResyncRequired,
                format!("{e}; send doc:sync and rebase"),
            ),
            DocError::History(_) => (ErrorCode::InvalidOp, e.to_string()),
            DocError::WrongKind(..) => (ErrorCode::WrongFieldKind, e.to_string()),
            DocError::NothingTo(_) | DocError::TooOld(_) => {
                (ErrorCode::NothingToUndo, e.to_string())
            }
        };
        self.error(reply, r#ref, code, message);
    }

    fn handle_command(&mut self, req: DocRequest, ctx: &mut Context<Self>) {
        let DocRequest {
            reply,
            user,
            name,
            r#ref,
            command,
        } = req;
        let now = Instant::now();
        match command {
            DocCommand::Sync => {
                let (entity_type, entity_id) = self.entity();
                let snapshot = self.doc.snapshot();
                self.reply(
                    &reply,
                    &ServerMessage::DocState {
                        r#ref,
                        entity_type,
                        entity_id,
                        version: snapshot.version,
                        fields: snapshot.texts,
                        values: snapshot.values,
                        locks: self.lock_views(),
                    },
                );
            }
            DocCommand::Edit {
                field,
                revision,
                op,
                client_id,
                seq,
            } => {
                if r#ref.is_none() {
                    return self.error(
                        &reply,
                        None,
                        ErrorCode::InvalidField,
                        "doc:edit needs a `ref`: its ack carries the new revision",
                    );
                }
                let warning = match self.locks.check_edit(user.as_str(), &field, now) {
                    EditCheck::Refuse(lock) => {
                        return self.error(
                            &reply,
                            r#ref,
                            ErrorCode::Locked,
                            format!("`{field}` is hard-locked by {}", lock.user_id),
                        );
                    }
                    EditCheck::Warn(lock) => Some(lock),
                    EditCheck::Free => None,
                };
                if op.target_len() > self.services.settings.documents.max_field_chars {
                    return self.error(
                        &reply,
                        r#ref,
                        ErrorCode::InvalidOp,
                        "the field would exceed documents.max_field_chars",
                    );
                }
                match self
                    .doc
                    .edit(&field, revision, op, user.as_str(), &client_id, seq)
                {
                    Ok(applied) => {
                        if !applied.duplicate {
                            self.note_edit(&user, &name, &field);
                        }
                        self.text_applied((&user, &reply, r#ref), applied, "edit", warning, ctx)
                    }
                    Err(e) => self.doc_error(&reply, r#ref, e),
                }
            }
            DocCommand::Undo { ref field } | DocCommand::Redo { ref field }
                if matches!(
                    self.locks.check_edit(user.as_str(), field, now),
                    EditCheck::Refuse(_)
                ) =>
            {
                self.error(
                    &reply,
                    r#ref,
                    ErrorCode::Locked,
                    format!("`{field}` is hard-locked"),
                );
            }
            DocCommand::Undo { field } => match self.doc.undo(user.as_str(), &field) {
                Ok(applied) => {
                    self.text_applied((&user, &reply, r#ref), applied, "undo", None, ctx)
                }
                Err(e) => self.doc_error(&reply, r#ref, e),
            },
            DocCommand::Redo { field } => match self.doc.redo(user.as_str(), &field) {
                Ok(applied) => {
                    self.text_applied((&user, &reply, r#ref), applied, "redo", None, ctx)
                }
                Err(e) => self.doc_error(&reply, r#ref, e),
            },
            DocCommand::Set {
                field,
                value,
                version,
            } => {
                if let EditCheck::Refuse(lock) = self.locks.check_edit(user.as_str(), &field, now) {
                    return self.error(
                        &reply,
                        r#ref,
                        ErrorCode::Locked,
                        format!("`{field}` is hard-locked by {}", lock.user_id),
                    );
                }
                match self.doc.set(&field, value.clone(), version, user.as_str()) {
                    Ok(SetResult::Conflict { current }) => {
                        self.conflicted.insert((user.to_string(), field.clone()));
                        let (entity_type, entity_id) = self.entity();
                        self.reply(
                            &reply,
                            &ServerMessage::DocConflict {
                                r#ref,
                                entity_type,
                                entity_id,
                                field,
                                your_value: value,
                                current_value: current.value,
                                current_version: current.version,
                                changed_by: current.updated_by,
                            },
                        );
                    }
                    Ok(SetResult::Applied {
                        field_version,
                        version,
                        change,
                    }) => {
                        if self.conflicted.remove(&(user.to_string(), field.clone())) {
                            self.session_conflicts_resolved += 1;
                        }
                        self.note_edit(&user, &name, &field);
                        let (entity_type, entity_id) = self.entity();
                        let frame = ServerMessage::DocField {
                            entity_type,
                            entity_id,
                            field: field.clone(),
                            value,
                            field_version,
                            version,
                            user_id: user.to_string(),
                        }
                        .to_frame();
                        let mut after = Vec::new();
                        if let (Some(h), Some(r#ref)) = (&reply, r#ref) {
                            let ack = ServerMessage::Ack {
                                r#ref,
                                data: Some(
                                    serde_json::json!({"field": field, "field_version": field_version, "version": version}),
                                ),
                            };
                            after.push(After::Reply(h.clone(), ack.to_frame()));
                        }
                        after.push(After::Publish(frame, reply.as_ref().map(|h| h.id)));
                        let event = self.new_event(&user, &change, "set", version);
                        self.record_change(event, after, ctx);
                    }
                    Err(e) => self.doc_error(&reply, r#ref, e),
                }
            }
            DocCommand::Lock {
                field,
                mode,
                ttl_secs,
                reason,
            } => {
                let renewal = self
                    .locks
                    .locks()
                    .iter()
                    .any(|l| l.user_id == user.as_str() && l.field == field);
                match self.acquire(
                    &user,
                    &name,
                    field,
                    mode.unwrap_or(LockMode::Soft),
                    ttl_secs,
                    reason,
                    now,
                ) {
                    Ok(lock) => {
                        if !renewal {
                            self.record_activity(
                                &user,
                                &name,
                                "locked",
                                serde_json::json!({ "field": lock.field, "mode": lock.mode }),
                            );
                        }
                        let mut after = Vec::new();
                        if let (Some(h), Some(r#ref)) = (&reply, r#ref) {
                            let ack = ServerMessage::Ack {
                                r#ref,
                                data: Some(
                                    serde_json::to_value(lock_view(&lock)).unwrap_or_default(),
                                ),
                            };
                            after.push(After::Reply(h.clone(), ack.to_frame()));
                        }
                        after.push(After::Publish(self.lock_status_frame(), None));
                        self.enqueue(Write::Locks(self.lock_rows()), after, ctx);
                    }
                    Err(LockError::Held(other)) => self.error(
                        &reply,
                        r#ref,
                        ErrorCode::LockConflict,
                        format!(
                            "locked by {} ({:?})",
                            other.user_id,
                            other.field.as_deref().unwrap_or("whole entity")
                        ),
                    ),
                    Err(LockError::NotHeld) => {
                        self.error(&reply, r#ref, ErrorCode::NotLocked, "not locked")
                    }
                }
            }
            DocCommand::Unlock { field } => match self
                .locks
                .release(user.as_str(), field.as_deref())
            {
                Ok(_) => {
                    let mut after = Vec::new();
                    if let (Some(h), Some(r#ref)) = (&reply, r#ref) {
                        after.push(After::Reply(
                            h.clone(),
                            ServerMessage::Ack { r#ref, data: None }.to_frame(),
                        ));
                    }
                    after.push(After::Publish(self.lock_status_frame(), None));
                    self.enqueue(Write::Locks(self.lock_rows()), after, ctx);
                }
                Err(_) => self.error(&reply, r#ref, ErrorCode::NotLocked, "you hold no such lock"),
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn acquire(
        &mut self,
        user: &UserId,
        name: &str,
        field: Option<String>,
        mode: LockMode,
        ttl_secs: Option<u64>,
        reason: Option<String>,
        now: Instant,
    ) -> Result<Lock, LockError> {
        let docs = &self.services.settings.documents;
        let ttl = ttl_secs
            .unwrap_or(docs.lock_ttl_secs)
            .clamp(1, docs.max_lock_ttl_secs.max(1));
        let reason = reason.map(|r| r.chars().take(256).collect());
        self.locks.acquire(
            user.as_str(),
            name,
            field.as_deref(),
            mode,
            reason,
            Duration::from_secs(ttl),
            now,
        )
    }

    /// Loads snapshot, events and locks, and opens the session row.
    fn load(&mut self, ctx: &mut Context<Self>) {
        let db = self.services.db.clone();
        let key = self.key.clone();
        let fut = async move {
            let mut conn = db.conn().await?;
            let (snapshot, changes) = q::load(&mut conn, &key, None).await?;
            let locks = q::load_locks(&mut conn, &key).await?;
            let session = q::open_session(&mut conn, &key).await?;
            Ok::<_, crate::db::DbError>((snapshot, changes, locks, session))
        };
        ctx.wait(fut.into_actor(self).map(|result, act, ctx| match result {
            Ok((snapshot, changes, locks, session)) => {
                let max_history = act.services.settings.documents.max_history;
                let mut doc = match snapshot {
                    Some(s) => Document::restore(s, max_history),
                    None => Document::new(max_history),
                };
                for (change, author) in &changes {
                    if let Err(e) = doc.replay(change, author) {
                        log::error!("document {}: cannot replay a stored change: {e}", act.room);
                        act.load_error = Some(e.to_string());
                        break;
                    }
                }
                act.changes_since_snapshot = changes.len() as u64;
                act.doc = doc;
                act.session_id = Some(session);
                let now = Instant::now();
                for row in locks {
                    let left = (row.expires_at - chrono::Utc::now())
                        .to_std()
                        .unwrap_or(Duration::ZERO);
                    let mode = if row.lock_type == "hard" {
                        LockMode::Hard
                    } else {
                        LockMode::Soft
                    };
                    // As stored: holder's name and acquired_at survive a restart.
                    act.locks.restore(crate::collab::locks::Lock {
                        field: (!row.field_name.is_empty()).then(|| row.field_name.clone()),
                        name: row.user_name.clone().unwrap_or_else(|| row.user_id.clone()),
                        user_id: row.user_id,
                        mode,
                        reason: row.reason,
                        acquired_at: row.acquired_at,
                        expires: now + left,
                        expires_at: row.expires_at,
                    });
                }
            }
            Err(e) => {
                log::error!("document {}: load failed: {e}", act.room);
                act.load_error = Some(e.to_string());
                // Let a later request try again with a fresh session.
                ctx.run_later(Duration::from_secs(2), |_, ctx| ctx.stop());
            }
        }));
    }
}

impl Actor for DocumentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.load(ctx);
        ctx.run_interval(TICK, |act, ctx| {
            if act.load_error.is_some() {
                return;
            }
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
}

impl Handler<DocRequest> for DocumentActor {
    type Result = ();

    /// Applies a client request; replies after the change is stored.
    fn handle(&mut self, req: DocRequest, ctx: &mut Context<Self>) {
        if let Some(e) = &self.load_error {
            let message = format!("document unavailable: {e}");
            return self.error(&req.reply, req.r#ref, ErrorCode::Internal, message);
        }
        self.handle_command(req, ctx);
    }
}

impl Handler<RestLock> for DocumentActor {
    type Result = ResponseFuture<Result<Option<LockView>, LockRefused>>;

    /// Takes or releases a lock for a REST caller, answering once stored.
    fn handle(&mut self, msg: RestLock, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = &self.load_error {
            let e = e.clone();
            return Box::pin(async move { Err(LockRefused::Unavailable(e)) });
        }
        let result = match msg.acquire {
            Some((mode, ttl, reason)) => self
                .acquire(
                    &msg.user,
                    &msg.name,
                    msg.field,
                    mode,
                    ttl,
                    reason,
                    Instant::now(),
                )
                .map(|l| Some(lock_view(&l))),
            None => self
                .locks
                .release(msg.user.as_str(), msg.field.as_deref())
                .map(|_| None),
        };
        match result {
            Ok(view) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let after = vec![
                    After::Publish(self.lock_status_frame(), None),
                    After::Respond(tx, view),
                ];
                self.enqueue(Write::Locks(self.lock_rows()), after, ctx);
                Box::pin(async move {
                    rx.await
                        .unwrap_or_else(|_| Err(LockRefused::Unavailable("session stopped".into())))
                })
            }
            Err(LockError::Held(other)) => {
                Box::pin(async move { Err(LockRefused::Held(other.user_id)) })
            }
            Err(LockError::NotHeld) => Box::pin(async { Err(LockRefused::NotHeld) }),
        }
    }
}

impl Handler<GetDocInfo> for DocumentActor {
    type Result = DocumentInfo;

    /// Live facts for REST.
    fn handle(&mut self, _: GetDocInfo, _: &mut Context<Self>) -> DocumentInfo {
        DocumentInfo {
            version: self.doc.version(),
            locks: self.lock_views(),
            session_edits: self.session_edits,
            session_conflicts_resolved: self.session_conflicts_resolved,
            active_users: self.active_users.clone(),
        }
    }
}

impl Handler<UserLeft> for DocumentActor {
    type Result = ();

    /// Releases the user's locks (their last connection left the room).
    fn handle(&mut self, UserLeft(user): UserLeft, ctx: &mut Context<Self>) {
        if self.locks.release_user(user.as_str()) {
            let after = vec![After::Publish(self.lock_status_frame(), None)];
            self.enqueue(Write::Locks(self.lock_rows()), after, ctx);
        }
    }
}

impl Handler<MembersChanged> for DocumentActor {
    type Result = ();

    /// Tracks who is in the room, for the session row.
    fn handle(&mut self, MembersChanged(users): MembersChanged, _: &mut Context<Self>) {
        self.max_concurrent = self.max_concurrent.max(users.len());
        self.active_users = users;
        self.session_dirty = true;
    }
}

impl Handler<CloseDocument> for DocumentActor {
    type Result = ();

    /// Stores a final snapshot, closes the session row, then stops.
    fn handle(&mut self, _: CloseDocument, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        if self.load_error.is_some() {
            ctx.stop();
            return;
        }
        if self.changes_since_snapshot > 0 {
            self.queue_snapshot(ctx);
        }
        self.active_users.clear();
        let update = self.session_update(true);
        self.closing = true;
        self.enqueue(Write::Session(update), Vec::new(), ctx);
    }
}
