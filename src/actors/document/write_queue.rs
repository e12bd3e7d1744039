//! The document's write queue: every change, snapshot and lock update is
//! stored in order, one write at a time; acks and broadcasts that wait for a
//! write run after it ("acked only after stored"). Runs of consecutive
//! changes go to the node's group commit ([`crate::actors::group_commit`]),
//! which stores them together with other documents' changes in one
//! multi-row insert; snapshots, lock rows and the session row are written
//! here on a pooled connection. Also the initial load (snapshot, events,
//! locks) and the session row.

use super::*;

impl DocumentActor {
    pub(super) fn lock_rows(&self) -> Vec<LockRow> {
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

    pub(super) fn session_update(&self, ended: bool) -> SessionUpdate {
        SessionUpdate {
            active_users: self.active_users.iter().cloned().map(Some).collect(),
            max_concurrent_users: i32::try_from(self.max_concurrent).unwrap_or(i32::MAX),
            total_edits: self.session_edits,
            total_conflicts_resolved: self.session_conflicts_resolved,
            last_activity_at: self.last_activity,
            ended_at: ended.then(chrono::Utc::now),
        }
    }

    pub(super) fn enqueue(&mut self, write: Write, mut after: Vec<After>, ctx: &mut Context<Self>) {
        // Activity noted for this change is recorded once it is stored.
        after.extend(
            self.activity_after_write
                .drain(..)
                .map(|input| After::Activity(Box::new(input))),
        );
        self.pending.push_back(Pending { write, after });
        self.pump(ctx);
    }

    /// Records a stored change and queues a snapshot when due.
    pub(super) fn record_change(
        &mut self,
        event: NewEvent,
        after: Vec<After>,
        ctx: &mut Context<Self>,
    ) {
        self.session_edits += 1;
        metrics::counter!("tandem_document_edits_total").increment(1);
        self.session_dirty = true;
        self.last_activity = chrono::Utc::now();
        self.enqueue(Write::Event(Arc::new(event)), after, ctx);
        self.changes_since_snapshot += 1;
        if self.changes_since_snapshot >= self.services.settings.documents.snapshot_every {
            self.queue_snapshot(ctx);
        }
    }

    pub(super) fn queue_snapshot(&mut self, ctx: &mut Context<Self>) {
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

    pub(super) fn new_event(
        &self,
        user: &UserId,
        change: &Change,
        kind: &str,
        version: u64,
    ) -> NewEvent {
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
            event_data: serde_json::to_string(change).unwrap_or_else(|_| "null".into()),
            version: version as i64,
            parent_version: Some(version as i64 - 1),
        }
    }

    /// Runs the next write (batching consecutive events) unless one is running.
    pub(super) fn pump(&mut self, ctx: &mut Context<Self>) {
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
        // Change rows go to the node's group commit (one multi-row insert
        // shared with other documents); the rest keeps this document's path.
        let events: Vec<Arc<NewEvent>> = batch
            .iter()
            .filter_map(|p| match &p.write {
                Write::Event(e) => Some(Arc::clone(e)),
                _ => None,
            })
            .collect();
        let stored = (!events.is_empty()).then(|| self.services.group_commit.store(events));
        let fut = async move {
            let result = async {
                if let Some(stored) = stored {
                    return stored
                        .await
                        .map_err(|e| crate::db::DbError::Unavailable(e.to_string()));
                }
                let mut conn = db.conn().await?;
                match batch.first().map(|p| &p.write) {
                    Some(Write::Event(_)) | None => {}
                    Some(Write::Snapshot(s)) => q::insert_snapshot(&mut conn, s).await?,
                    Some(Write::Locks(rows)) => q::replace_locks(&mut conn, &key, rows).await?,
                    Some(Write::Session(update)) => {
                        if let Some(id) = session_id {
                            q::update_session(&mut conn, id, update).await?;
                        }
                    }
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
                    // One message to the room for the whole batch, which it
                    // writes as one burst (an author's ack and the other
                    // changes' ops reach each socket together).
                    act.batch_to_room(|| {
                        for item in batch {
                            act.run_after(item.after);
                        }
                    });
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

    pub(super) fn run_after(&self, after: Vec<After>) {
        for a in after {
            match a {
                After::Reply(handle, frame) => self.send_reply(handle, frame),
                After::Publish(frame, except) => self.send_members(frame, except, None),
                After::PublishOp(frame, except, applied, sent_edits) => {
                    self.send_members(frame, except, Some((applied, sent_edits)))
                }
                After::Respond(tx, view) => {
                    let _ = tx.send(Ok(view));
                }
                After::Activity(input) => {
                    let services = self.services.clone();
                    actix::spawn(async move {
                        if let Err(e) =
                            crate::notify::activity::record(&services.notify, *input).await
                        {
                            log::warn!("could not record document activity: {e}");
                        }
                    });
                }
            }
        }
    }

    /// Takes the lease (in a cluster), loads snapshot, events and locks,
    /// and opens the session row; then serves `then`, a request that was
    /// waiting for it. When another node holds the lease, the session
    /// forwards to that node instead (`forward.rs`).
    pub(super) fn load(&mut self, ctx: &mut Context<Self>, then: Option<DocRequest>) {
        let db = self.services.db.clone();
        let key = self.key.clone();
        let leases = self.services.leases.clone();
        let room = self.room.clone();
        let fut = async move {
            // In a cluster, the lease first: only its holder reads and writes.
            let lease = match &leases {
                Some(leases) => Some(take_lease(leases, &room).await?),
                None => None,
            };
            let loaded = async {
                let mut conn = db.conn().await?;
                let (snapshot, changes) = q::load(&mut conn, &key, None).await?;
                let locks = q::load_locks(&mut conn, &key).await?;
                let session = q::open_session(&mut conn, &key).await?;
                Ok::<_, crate::db::DbError>((snapshot, changes, locks, session))
            };
            match loaded.await {
                Ok(loaded) => Ok((loaded, lease)),
                Err(e) => {
                    if let (Some(leases), Some(held)) = (&leases, lease) {
                        leases.release(held.lease()).await;
                    }
                    Err(LoadError::Db(e))
                }
            }
        };
        ctx.wait(fut.into_actor(self).map(|result, act, ctx| {
            // Requests held for a forwarding that ended go first.
            for req in act.loaded(result, ctx).into_iter().chain(then) {
                act.serve(req, ctx);
            }
        }));
    }

    /// Applies a load's result; returns requests a forwarding that ended
    /// held back (to serve now).
    fn loaded(
        &mut self,
        result: Result<Loaded, LoadError>,
        ctx: &mut Context<Self>,
    ) -> Vec<DocRequest> {
        let act = self;
        let mut held = Vec::new();
        match result {
            Ok(((snapshot, changes, locks, session), lease)) => {
                // This node owns the document from now on.
                held = act.stop_forwarding();
                act.lease = lease;
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
            Err(LoadError::Elsewhere(owner)) => act.forward_to(owner),
            Err(e) => {
                log::error!("document {}: load failed: {e}", act.room);
                held = act.stop_forwarding();
                act.lease_blocked = matches!(e, LoadError::Lease(_));
                act.load_error = Some(e.to_string());
                // Let a later request try again with a fresh session.
                ctx.run_later(Duration::from_secs(2), |_, ctx| ctx.stop());
            }
        }
        held
    }
}

/// What a load read: snapshot, changes, locks, session row; and the lease.
type Loaded = (
    (
        Option<crate::collab::document::Snapshot>,
        Vec<(Change, String)>,
        Vec<LockRow>,
        i64,
    ),
    Option<super::lease::Held>,
);

/// Takes `room`'s lease for a new session. When another node holds it,
/// `Elsewhere(node)`; a lease released between the two looks is tried once
/// more.
async fn take_lease(
    leases: &crate::cluster::lease::Leases,
    room: &RoomId,
) -> Result<super::lease::Held, LoadError> {
    for _ in 0..2 {
        let sent = Instant::now();
        match leases.acquire(room).await {
            Ok(lease) => return Ok(super::lease::Held::new(lease, sent, leases.ttl())),
            Err(crate::cluster::lease::LeaseError::HeldElsewhere) => {
                match leases.holder(room).await {
                    Ok(Some(node)) => return Err(LoadError::Elsewhere(node)),
                    Ok(None) => continue,
                    Err(e) => return Err(LoadError::Lease(e)),
                }
            }
            Err(e) => return Err(LoadError::Lease(e)),
        }
    }
    Err(LoadError::Lease(
        crate::cluster::lease::LeaseError::HeldElsewhere,
    ))
}

/// Why a session could not open.
#[derive(Debug, thiserror::Error)]
pub(super) enum LoadError {
    #[error("{0}")]
    Lease(crate::cluster::lease::LeaseError),
    /// Another node (this one) holds the lease: forward to it.
    #[error("the document is open on node {0}")]
    Elsewhere(String),
    #[error("{0}")]
    Db(crate::db::DbError),
}
