//! The room's handlers for member events (cursors, typing, editing,
//! broadcasts), document requests it forwards, and queries.

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
        m.cursor = Some(CursorView {
            user_id: m.user.to_string(),
            connection_id: msg.connection.to_string(),
            name: m.name.to_string(),
            color: color_for(m.user.as_str()),
            position: msg.position,
            selection: msg.selection,
            field: msg.field,
        });
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
            m.typing = Some((msg.field, Instant::now() + timeout));
            ctx.run_later(timeout, |act, _| {
                if act.expire_typing(Instant::now()) {
                    act.publish_typing();
                }
            });
            if !was_typing || field_changed {
                self.publish_typing();
            }
        } else if was_typing {
            m.typing = None;
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
                true
            }
        } else {
            let before = m.editing.len();
            m.editing.retain(|f| f != &msg.field);
            m.editing.len() != before
        };
        if changed {
            self.publish_editors();
        }
    }
}

impl Handler<Broadcast> for RoomActor {
    type Result = ();

    /// Relays the event to the other members; nothing is stored.
    fn handle(&mut self, msg: Broadcast, _: &mut Context<Self>) {
        self.publish(
            &ServerMessage::RoomBroadcast {
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                from_user_id: msg.from_user.to_string(),
                event: msg.event,
                payload: msg.payload,
            },
            msg.from,
        );
    }
}

impl Handler<ForDocument> for RoomActor {
    type Result = ();

    /// Hands a member's document request to the session.
    fn handle(&mut self, ForDocument(req): ForDocument, ctx: &mut Context<Self>) {
        self.document(ctx).do_send(req);
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
        let doc = self.document.clone().filter(|d| d.connected());
        Box::pin(async move {
            match doc {
                Some(d) => d.send(GetDocInfo).await.ok(),
                None => None,
            }
        })
    }
}

impl Handler<TransformCursors> for RoomActor {
    type Result = ();

    /// Moves cursors whose position (or selection ends) are code point
    /// indexes in the edited field, so joiners get them on the right character.
    fn handle(&mut self, msg: TransformCursors, _: &mut Context<Self>) {
        let shift = |v: &mut serde_json::Value| {
            if let Some(i) = v.as_u64() {
                *v = serde_json::Value::from(msg.op.transform_index(i as usize) as u64);
            }
        };
        for m in self.members.values_mut() {
            let Some(cursor) = m.cursor.as_mut() else {
                continue;
            };
            if cursor.field.as_deref() != Some(msg.field.as_str()) {
                continue;
            }
            shift(&mut cursor.position);
            if let Some(sel) = cursor.selection.as_mut().and_then(|s| s.as_object_mut()) {
                for key in ["start", "end", "anchor", "head"] {
                    if let Some(v) = sel.get_mut(key) {
                        shift(v);
                    }
                }
            }
        }
    }
}

impl Handler<GetMembers> for RoomActor {
    type Result = Vec<MemberView>;

    /// Current members.
    fn handle(&mut self, _: GetMembers, _: &mut Context<Self>) -> Self::Result {
        self.members_view()
    }
}
