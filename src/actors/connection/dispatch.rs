//! The connection's dispatch: one complete text message is rate-limited,
//! parsed and turned into typed messages for presence, rooms and documents.

use super::*;

/// User ids in one `presence:subscribe` or `presence:unsubscribe`.
pub const MAX_IDS_PER_SUBSCRIPTION: usize = 100;

impl ConnectionActor {
    /// Handles one complete text message.
    pub(super) fn on_text(&mut self, text: &str, ctx: &mut SocketContext<Self>) {
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
        match parse_client_message_typed(text) {
            Ok((r#ref, kind, msg)) => {
                crate::telemetry::message_in(kind);
                if let Some(h) = &self.handle {
                    h.stats().received();
                }
                if self.admit(ctx, r#ref.clone()) {
                    // Keep-alives and queries are not user activity; a
                    // status choice counts as activity inside the presence
                    // actor (one update, no `online` flicker before `busy`).
                    if !matches!(
                        msg,
                        ClientMessage::Heartbeat {}
                            | ClientMessage::PresenceStatus { .. }
                            | ClientMessage::AuthRefresh { .. }
                            | ClientMessage::PresenceList {}
                            | ClientMessage::PresenceViewers { .. }
                            | ClientMessage::RoomMembers { .. }
                            | ClientMessage::PresenceSubscribe { .. }
                            | ClientMessage::PresenceUnsubscribe { .. }
                            | ClientMessage::NotificationSync { .. }
                    ) {
                        self.report_activity(ctx);
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
    pub(super) fn report_activity(&mut self, ctx: &mut SocketContext<Self>) {
        if self.last_activity_report.elapsed() >= ACTIVITY_REPORT_EVERY {
            self.last_activity_report = Instant::now();
            self.route_presence(
                crate::actors::registry::PresenceMsg::Activity(Activity),
                ctx,
            );
        }
    }

    pub(super) fn room_id(&self, entity_type: &str, entity_id: &str) -> Result<RoomId, String> {
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

    pub(super) fn dispatch(
        &mut self,
        r#ref: Option<Ref>,
        msg: ClientMessage,
        ctx: &mut SocketContext<Self>,
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
            ClientMessage::PresenceList {} => self.presence_list(r#ref),
            ClientMessage::PresenceSubscribe { user_ids } => {
                self.presence_subscription(r#ref, user_ids, true, ctx)
            }
            ClientMessage::PresenceUnsubscribe { user_ids } => {
                self.presence_subscription(r#ref, user_ids, false, ctx)
            }
            ClientMessage::PresenceStatus { status } => {
                self.forward_presence(
                    crate::actors::registry::PresenceMsg::SetStatus(SetStatus(status)),
                    ctx,
                );
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
                self.forward_presence(
                    crate::actors::registry::PresenceMsg::SetLocation(SetLocation {
                        connection: self.id,
                        location: crate::protocol::server::LocationView {
                            page,
                            entity_type,
                            entity_id,
                        },
                    }),
                    ctx,
                );
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
            ClientMessage::RoomMembers { after, limit, .. } => {
                self.list_members(ctx, r#ref, room, after, limit)
            }
            ClientMessage::RoomLeave { .. } => {
                if let Some(room) = room {
                    self.documents.remove(&room);
                    match self.rooms.remove(&room) {
                        Some(addr) => {
                            self.room_left(&room);
                            addr.do_send(LeaveRoom {
                                connection: self.id,
                            });
                            self.room_interest(room, false);
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
                if let Some(addr) = self.live_room(room.as_ref()) {
                    addr.do_send(MoveCursor {
                        connection: self.id,
                        position,
                        selection,
                        field,
                        sent_edits: self.doc_edits_sent,
                    });
                    self.ack(ctx, r#ref);
                } else {
                    self.not_in_room(ctx, r#ref);
                }
            }
            ClientMessage::TypingStart { field, .. } => self.send_to_room(
                ctx,
                r#ref,
                room,
                TypingChanged {
                    connection: self.id,
                    typing: true,
                    field,
                },
            ),
            ClientMessage::TypingStop { .. } => self.send_to_room(
                ctx,
                r#ref,
                room,
                TypingChanged {
                    connection: self.id,
                    typing: false,
                    field: None,
                },
            ),
            ClientMessage::EditingStart { field, .. } => self.send_to_room(
                ctx,
                r#ref,
                room,
                EditingChanged {
                    connection: self.id,
                    editing: true,
                    field,
                },
            ),
            ClientMessage::EditingStop { field, .. } => self.send_to_room(
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
                self.send_to_room(
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

    pub(super) fn forward_presence(
        &mut self,
        msg: crate::actors::registry::PresenceMsg,
        ctx: &mut SocketContext<Self>,
    ) {
        self.route_presence(msg, ctx);
    }

    pub(super) fn join(&mut self, r#ref: Option<Ref>, room: RoomId, ctx: &mut SocketContext<Self>) {
        if self.live_room(Some(&room)).is_some() {
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

    pub(super) fn refresh(
        &mut self,
        r#ref: Option<Ref>,
        token: &str,
        ctx: &mut SocketContext<Self>,
    ) {
        match self.services.auth.verify(token) {
            Ok(p) if p.user == self.principal.user && p.tenant == self.principal.tenant => {
                self.principal.expires_at = p.expires_at;
                self.principal.role = p.role;
                self.shell.set_expiry(p.expires_at);
                shell::schedule_expiry(self, ctx);
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

    /// `presence:list`: the roster sends it, in order with its diffs.
    pub(super) fn presence_list(&self, r#ref: Option<Ref>) {
        self.to_roster(crate::actors::registry::RosterRequest::SendList(
            crate::actors::roster::SendList {
                connection: self.id,
                r#ref,
            },
        ));
    }

    /// `presence:subscribe` / `presence:unsubscribe`: 1 to
    /// [`MAX_IDS_PER_SUBSCRIPTION`] user ids of 1 to 256 bytes; the roster acks.
    pub(super) fn presence_subscription(
        &self,
        r#ref: Option<Ref>,
        user_ids: Vec<String>,
        subscribe: bool,
        ctx: &mut SocketContext<Self>,
    ) {
        if user_ids.is_empty() || user_ids.len() > MAX_IDS_PER_SUBSCRIPTION {
            return self.send_error(
                ctx,
                r#ref,
                ErrorCode::InvalidField,
                format!("`user_ids` must list 1 to {MAX_IDS_PER_SUBSCRIPTION} users"),
            );
        }
        if user_ids.iter().any(|u| u.is_empty() || u.len() > 256) {
            return self.send_error(
                ctx,
                r#ref,
                ErrorCode::InvalidField,
                "each user id must be 1 to 256 bytes",
            );
        }
        self.to_roster(crate::actors::registry::RosterRequest::Subscription(
            crate::actors::roster::Subscription {
                connection: self.id,
                r#ref,
                users: user_ids,
                subscribe,
            },
        ));
    }

    pub(super) fn viewers(
        &self,
        r#ref: Option<Ref>,
        entity_type: String,
        entity_id: String,
        ctx: &mut SocketContext<Self>,
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
