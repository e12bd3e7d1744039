//! The document's commands: sync, edits, sets, undo/redo, locks, history;
//! each validated against the document state and lock table, applied, and
//! handed to the write queue with the replies that wait for it.

use super::*;

impl DocumentActor {
    /// Serves a member's request: forwarded to the owner when another node
    /// has the document, refused while it cannot be opened, applied here
    /// otherwise.
    pub(super) fn serve(&mut self, req: DocRequest, ctx: &mut Context<Self>) {
        if self.proxy.is_some() {
            return self.forward(req, ctx);
        }
        if let Some(e) = &self.load_error {
            let message = format!("document unavailable: {e}");
            let reply = req.reply.map(ReplyTo::Local);
            if self.lease_blocked {
                let refusal = ServerMessage::Error {
                    r#ref: req.r#ref,
                    code: ErrorCode::Unavailable,
                    message,
                    retry_after_ms: Some(lease::LEASE_RETRY_AFTER_MS),
                };
                return self.reply(&reply, &refusal);
            }
            return self.error(&reply, req.r#ref, ErrorCode::Internal, message);
        }
        self.handle_command(req.into(), ctx);
    }
}

impl DocumentActor {
    /// Acks, broadcasts and stores an applied text change. `sent_edits`
    /// numbers a `doc:edit` among its connection's (see [`AppliedOp`]).
    pub(super) fn text_applied(
        &mut self,
        (req_user, reply, r#ref, sent_edits): (&UserId, &Option<ReplyTo>, Option<Ref>, u64),
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
        // The author of an edit applied it already; undo/redo go to everyone
        // (and move every cursor, the author's too).
        let except = if kind == "edit" { reply.clone() } else { None };
        if let (Some(h), Some(ack)) = (reply, ack) {
            after.push(After::Reply(h.clone(), ack.to_frame()));
        }
        let moved = AppliedOp {
            field: applied.field.clone(),
            op: applied.op.clone(),
            author: None,
        };
        after.push(After::PublishOp(op_frame, except, moved, sent_edits));
        let event = self.new_event(req_user, &applied.change, kind, applied.version);
        self.record_change(event, after, ctx);
    }

    pub(super) fn doc_error(&self, reply: &Option<ReplyTo>, r#ref: Option<Ref>, e: DocError) {
        let (code, message) = match &e {
            DocError::History(HistoryError::RevisionAhead { .. })
            | DocError::History(HistoryError::RevisionTooOld { .. }) => (
                {
                    metrics::counter!("tandem_document_resyncs_total").increment(1);
                    ErrorCode::ResyncRequired
                },
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

    pub(super) fn handle_command(&mut self, req: Request, ctx: &mut Context<Self>) {
        let Request {
            reply,
            user,
            name,
            r#ref,
            command,
            sent_edits,
        } = req;
        let now = Instant::now();
        if !matches!(command, DocCommand::Sync) && self.storage_full() {
            // Nothing is acknowledged without storage, and the queue is
            // bounded: refuse the change instead of applying it.
            return self.reply(
                &reply,
                &ServerMessage::Error {
                    r#ref,
                    code: ErrorCode::Unavailable,
                    message: "document storage is behind; retry later".into(),
                    retry_after_ms: Some(STORAGE_RETRY_AFTER_MS),
                },
            );
        }
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
                        self.text_applied(
                            (&user, &reply, r#ref, sent_edits),
                            applied,
                            "edit",
                            warning,
                            ctx,
                        )
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
                Ok(applied) => self.text_applied(
                    (&user, &reply, r#ref, sent_edits),
                    applied,
                    "undo",
                    None,
                    ctx,
                ),
                Err(e) => self.doc_error(&reply, r#ref, e),
            },
            DocCommand::Redo { field } => match self.doc.redo(user.as_str(), &field) {
                Ok(applied) => self.text_applied(
                    (&user, &reply, r#ref, sent_edits),
                    applied,
                    "redo",
                    None,
                    ctx,
                ),
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
                            metrics::counter!("tandem_document_conflicts_total").increment(1);
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
                        after.push(After::Publish(frame, reply.clone()));
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
    pub(super) fn acquire(
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
}

impl Handler<ThreadForTest> for DocumentActor {
    type Result = String;

    /// The current thread.
    fn handle(&mut self, _: ThreadForTest, _: &mut Context<Self>) -> String {
        crate::actors::pool::current_thread()
    }
}
