//! The room's handlers for member events (cursors, typing, editing,
//! broadcasts), its document session (first requests, frames to deliver),
//! and queries.

use super::*;

impl Handler<MoveCursor> for RoomActor {
    type Result = ();

    /// Records the cursor and relays it at most `rooms.cursor_rate_per_second`
    /// times a second per member; in between, the latest position wins and is
    /// sent when the interval ends.
    fn handle(&mut self, msg: MoveCursor, ctx: &mut Context<Self>) {
        let interval = self.cursor_interval;
        let Some(m) = self.members.get_mut(&msg.connection) else {
            return;
        };
        m.cursor = Some(StoredCursor {
            view: CursorView {
                user_id: m.user.to_string(),
                connection_id: msg.connection.to_string(),
                name: m.name.to_string(),
                color: color_for(m.user.as_str()),
                position: msg.position,
                selection: msg.selection,
                field: msg.field,
            },
            sent_edits: msg.sent_edits,
        });
        self.with_cursor.borrow_mut().insert(msg.connection);
        if m.cursor_flush_pending {
            return;
        }
        let wait = m
            .cursor_sent
            .map(|t| interval.saturating_sub(t.elapsed()))
            .unwrap_or(Duration::ZERO);
        if wait.is_zero() {
            self.publish_cursor(msg.connection);
        } else {
            m.cursor_flush_pending = true;
            let connection = msg.connection;
            ctx.run_later(wait, move |act, _| act.publish_cursor(connection));
        }
    }
}

impl Handler<TypingChanged> for RoomActor {
    type Result = ();

    /// Starts (or renews) or stops typing; a start expires after
    /// `rooms.typing_timeout_secs` without renewal.
    fn handle(&mut self, msg: TypingChanged, ctx: &mut Context<Self>) {
        let timeout = self.typing_timeout;
        let Some(m) = self.members.get_mut(&msg.connection) else {
            return;
        };
        let was_typing = m.typing.is_some();
        if msg.typing {
            let field_changed = m.typing.as_ref().map(|(f, _)| f) != Some(&msg.field);
            let field =
                (self.sync.is_some() && (!was_typing || field_changed)).then(|| msg.field.clone());
            m.typing = Some((msg.field, Instant::now() + timeout));
            self.active.borrow_mut().insert(msg.connection);
            ctx.run_later(timeout, |act, _| {
                if act.expire_typing(Instant::now()) {
                    act.publish_typing();
                }
            });
            if let Some(field) = field {
                self.sync_send(cluster_state::SyncBody::Typing {
                    conn: msg.connection.0,
                    typing: Some(cluster_state::TypingState { field }),
                });
            }
            if !was_typing || field_changed {
                self.publish_typing();
            }
        } else if was_typing {
            m.typing = None;
            self.sync_send(cluster_state::SyncBody::Typing {
                conn: msg.connection.0,
                typing: None,
            });
            self.publish_typing();
        }
    }
}

impl Handler<EditingChanged> for RoomActor {
    type Result = ();

    /// Adds or removes the member's field and publishes `editing:users`.
    fn handle(&mut self, msg: EditingChanged, _: &mut Context<Self>) {
        let Some(m) = self.members.get_mut(&msg.connection) else {
            return;
        };
        let changed = if msg.editing {
            if m.editing.contains(&msg.field) {
                false
            } else {
                m.editing.push(msg.field);
                self.active.borrow_mut().insert(msg.connection);
                true
            }
        } else {
            let before = m.editing.len();
            m.editing.retain(|f| f != &msg.field);
            m.editing.len() != before
        };
        if changed {
            if self.sync.is_some() {
                let editing = m.editing.clone();
                self.sync_send(cluster_state::SyncBody::Editing {
                    conn: msg.connection.0,
                    editing,
                });
            }
            self.publish_editors();
        }
    }
}

impl Handler<Broadcast> for RoomActor {
    type Result = ();

    /// Relays the event to the other members (on every node of a
    /// cluster); nothing is stored.
    fn handle(&mut self, msg: Broadcast, _: &mut Context<Self>) {
        let frame = ServerMessage::RoomBroadcast {
            entity_type: self.entity_type(),
            entity_id: self.entity_id(),
            from_user_id: msg.from_user.to_string(),
            event: msg.event,
            payload: msg.payload,
        }
        .to_frame();
        self.relay(frame.clone());
        self.deliver(frame, msg.from);
    }
}

impl Handler<ForDocument> for RoomActor {
    type Result = ();

    /// Hands the request to the session (started on first use), then tells
    /// a member the session's address: sent after the request, so the
    /// connection's later requests, sent straight to the session, queue
    /// behind it. The session itself refuses non-members.
    fn handle(&mut self, msg: ForDocument, ctx: &mut Context<Self>) {
        let doc = self.document(ctx);
        let member = msg
            .request
            .reply
            .as_ref()
            .is_some_and(|h| self.members.contains_key(&h.id));
        doc.do_send(msg.request);
        msg.opened.do_send(DocumentOpened {
            room: self.id.clone(),
            room_addr: ctx.address(),
            addr: member.then_some(doc),
        });
    }
}

impl Handler<FromDocument> for RoomActor {
    type Result = ();

    /// Moves stored cursors through the op each frame carries (exactly
    /// once, see `cursors.rs`) and delivers the frames in the same turn, as
    /// one burst: each socket gets its frames of the batch in one write.
    fn handle(&mut self, FromDocument(frames): FromDocument, _: &mut Context<Self>) {
        crate::transport::sink::corked(|| {
            for msg in frames {
                if let Some(applied) = &msg.applied {
                    self.move_cursors(applied);
                }
                match msg.to {
                    Audience::One(handle) => {
                        handle.deliver(msg.frame);
                    }
                    Audience::Members { except } => self.deliver(msg.frame, except),
                    // In order with the frames above (`doc_relay.rs`).
                    Audience::Nodes => self.relay(msg.frame),
                }
            }
        });
    }
}

impl Handler<ForDocumentLock> for RoomActor {
    type Result = ResponseFuture<Result<Option<LockView>, LockRefused>>;

    /// A REST lock request (forwarded by the registry, counted like a join).
    fn handle(
        &mut self,
        ForDocumentLock(req): ForDocumentLock,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        self.joins_seen += 1;
        if self.members.is_empty() {
            self.schedule_idle_check(ctx);
        }
        let doc = self.document(ctx);
        Box::pin(async move {
            doc.send(req)
                .await
                .unwrap_or_else(|e| Err(LockRefused::Unavailable(e.to_string())))
        })
    }
}

impl Handler<GetDocumentInfo> for RoomActor {
    type Result = ResponseFuture<Option<DocumentInfo>>;

    /// The session's facts, if one is open.
    fn handle(&mut self, _: GetDocumentInfo, _: &mut Context<Self>) -> Self::Result {
        let doc = self.live_document();
        Box::pin(async move {
            match doc {
                Some(d) => d.send(GetDocInfo).await.ok(),
                None => None,
            }
        })
    }
}

impl Handler<GetMembers> for RoomActor {
    type Result = Vec<MemberView>;

    /// Current members.
    fn handle(&mut self, _: GetMembers, _: &mut Context<Self>) -> Self::Result {
        self.members_view()
    }
}
