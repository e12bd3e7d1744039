//! How the room reaches its members: delivery through each member's
//! bounded handle, join and leave announcements batched per
//! `rooms.join_batch_ms` (flushed before any other frame, in order) or, in
//! a room of more than `rooms.users_list_max` users, counted in
//! `room:count` per `rooms.count_interval_ms`, and the member, typing and
//! editor views it publishes (in a cluster, with the other nodes' members).

use super::*;

impl RoomActor {
    /// Sends to every member except `except`.
    pub(super) fn publish(&self, msg: &ServerMessage, except: Option<ConnectionId>) {
        self.deliver(msg.to_frame(), except);
    }

    /// Delivers a frame to every member except `except`, each through its
    /// own bounded outbound queue (stamped for the fan-out latency metric).
    /// Pending joins and leaves are announced first, so nothing overtakes them.
    pub(super) fn deliver(&self, frame: Frame, except: Option<ConnectionId>) {
        self.announce_joins();
        self.announce_leaves();
        self.deliver_now(frame, except);
    }

    /// Queues a join for the next announcement (after any pending leaves,
    /// which go out first), opening a window when nothing was pending.
    /// `conn` is the local joiner (it is not told of its own single join),
    /// `None` for another node's.
    pub(super) fn queue_join(
        &self,
        conn: Option<ConnectionId>,
        user: UserId,
        ctx: &mut Context<Self>,
    ) {
        self.announce_leaves();
        self.pending_joins.borrow_mut().push((conn, user));
        self.open_window(ctx);
    }

    /// Queues a leave for the next announcement (after any pending joins,
    /// which go out first), opening a window when nothing was pending.
    pub(super) fn queue_leave(&self, left: LeftView, ctx: &mut Context<Self>) {
        self.announce_joins();
        self.pending_leaves.borrow_mut().push(left);
        self.open_window(ctx);
    }

    /// After the first change queued since the last announcement: announces
    /// after `rooms.join_batch_ms`, or in a counted room after
    /// `rooms.count_interval_ms`.
    fn open_window(&self, ctx: &mut Context<Self>) {
        if self.pending_joins.borrow().len() + self.pending_leaves.borrow().len() != 1 {
            return;
        }
        let rooms = &self.services.settings.rooms;
        let wait = if self.counting.get() {
            rooms.count_interval_ms
        } else {
            rooms.join_batch_ms
        };
        ctx.run_later(Duration::from_millis(wait), |act, _| {
            if act.counting.get() {
                act.announce_count();
            } else {
                act.announce_joins();
                act.announce_leaves();
            }
        });
    }

    /// Announces the pending leaves: one `room:user_left` for a single
    /// leave, one `room:users_left` for several (a disconnect storm out of
    /// a big room costs one frame per member per window, not one per
    /// member per leave).
    pub(super) fn announce_leaves(&self) {
        // Called before every frame the room sends: nothing to do is the
        // common case. A counted room's changes wait for their interval:
        // a count has no order to keep with other frames.
        if self.pending_leaves.borrow().is_empty() || self.counting.get() {
            return;
        }
        if self.grew_large() {
            return;
        }
        let mut pending = std::mem::take(&mut *self.pending_leaves.borrow_mut());
        let total_users = self.by_user.borrow().user_count();
        let msg = match pending.len() {
            0 => return,
            1 => {
                let Some(left) = pending.pop() else {
                    return;
                };
                ServerMessage::RoomUserLeft {
                    entity_type: self.entity_type(),
                    entity_id: self.entity_id(),
                    user_id: left.user_id,
                    connection_id: left.connection_id,
                    user_left: left.user_left,
                    total_users,
                }
            }
            _ => ServerMessage::RoomUsersLeft {
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                left: pending,
                total_users,
            },
        };
        self.deliver_now(msg.to_frame(), None);
    }

    /// Announces the pending joins: one `room:user_joined` (to everyone but
    /// the joiner) for a single join, one `room:users_joined` (to every
    /// member) for several. A connect storm into a big room then costs one
    /// frame per member per window, not one per member per join.
    pub(super) fn announce_joins(&self) {
        if self.pending_joins.borrow().is_empty() || self.counting.get() {
            return;
        }
        if self.grew_large() {
            return;
        }
        let pending = std::mem::take(&mut *self.pending_joins.borrow_mut());
        let mut by_user = self.by_user.borrow_mut();
        let (msg, except) = match pending.as_slice() {
            [] => return,
            [(conn, user)] => match by_user.json(user) {
                Some(view) => (
                    ServerMessage::RoomUserJoined {
                        entity_type: self.entity_type(),
                        entity_id: self.entity_id(),
                        user: view,
                        total_users: by_user.user_count(),
                    },
                    *conn,
                ),
                None => return,
            },
            many => {
                let mut users: Vec<&UserId> = many.iter().map(|(_, u)| u).collect();
                users.sort();
                users.dedup();
                let views: Vec<_> = users.into_iter().filter_map(|u| by_user.json(u)).collect();
                if views.is_empty() {
                    return;
                }
                (
                    ServerMessage::RoomUsersJoined {
                        entity_type: self.entity_type(),
                        entity_id: self.entity_id(),
                        users: views,
                        total_users: by_user.user_count(),
                    },
                    None,
                )
            }
        };
        drop(by_user);
        self.deliver_now(msg.to_frame(), except);
    }

    /// A listed room whose changes would leave it with more than
    /// `rooms.users_list_max` member users becomes a counted room: the
    /// pending changes go out as its first `room:count`. Listing each joiner
    /// to every member costs N² member views over a storm of N joins into
    /// one room; a count costs one small frame per member per interval.
    fn grew_large(&self) -> bool {
        let max = self.services.settings.rooms.users_list_max;
        if self.by_user.borrow().user_count() <= max {
            return false;
        }
        self.counting.set(true);
        self.count_told.set(0);
        self.announce_count();
        true
    }

    /// A counted room's announcement (at most one per
    /// `rooms.count_interval_ms` while its count changes): `room:count` with
    /// the new total, or nothing when the changes cancelled out (a reload).
    /// Once the room is down to half of `rooms.users_list_max` users, it is
    /// listed again: every member gets `room:users` (no `ref`) with the
    /// whole list, to replace theirs, and later changes are listed.
    pub(super) fn announce_count(&self) {
        let joins = std::mem::take(&mut *self.pending_joins.borrow_mut());
        let leaves = std::mem::take(&mut *self.pending_leaves.borrow_mut());
        if joins.is_empty() && leaves.is_empty() {
            return;
        }
        let max = self.services.settings.rooms.users_list_max;
        let total_users = self.by_user.borrow().user_count();
        if total_users <= max / 2 {
            self.counting.set(false);
            self.deliver_now(self.room_users(None, None).to_frame(), None);
            return;
        }
        if self.count_told.replace(total_users) == total_users {
            return;
        }
        let msg = ServerMessage::RoomCount {
            entity_type: self.entity_type(),
            entity_id: self.entity_id(),
            total_users,
        };
        self.deliver_now(msg.to_frame(), None);
    }

    /// `room:users`: the first `rooms.users_list_max` member users (and
    /// `joiner`, when the page was cut before it), the total, who edits and
    /// who types.
    pub(super) fn room_users(&self, r#ref: Option<Ref>, joiner: Option<&UserId>) -> ServerMessage {
        let max = self.services.settings.rooms.users_list_max;
        let (mut users, next_after) = self.by_user.borrow_mut().page_json(None, max);
        if let Some(joiner) = joiner {
            if next_after
                .as_deref()
                .is_some_and(|last| joiner.as_str() > last)
            {
                // Cut before the joiner: it is listed too (after the page).
                users.extend(self.by_user.borrow_mut().json(joiner));
            }
        }
        ServerMessage::RoomUsers {
            r#ref,
            entity_type: self.entity_type(),
            entity_id: self.entity_id(),
            users,
            total_users: self.by_user.borrow().user_count(),
            next_after,
            editors: self.editors_view(),
            typing: self.typing_view(),
        }
    }

    /// Delivers without announcing pending joins first.
    pub(super) fn deliver_now(&self, frame: Frame, except: Option<ConnectionId>) {
        let at = std::time::Instant::now();
        for (id, m) in &self.members {
            if Some(*id) != except {
                m.handle.deliver_published(frame.clone(), Some(at));
            }
        }
    }

    /// Every member user with their connections here, by user id.
    pub(super) fn members_view(&self) -> Vec<MemberView> {
        self.by_user.borrow().views()
    }

    /// Who is typing, one entry per user (this node's members first, then
    /// the other nodes').
    pub(super) fn typing_view(&self) -> Vec<TypingView> {
        let mut seen = std::collections::HashSet::new();
        let active = self.active_members();
        let local = active
            .iter()
            .filter_map(|m| Some((&m.user, &m.name, &m.typing.as_ref()?.0)));
        let remote = self
            .remote
            .members()
            .filter_map(|(_, m)| Some((&m.user, &m.name, &m.typing.as_ref()?.field)));
        local
            .chain(remote)
            .filter(|(user, _, _)| seen.insert((*user).clone()))
            .map(|(user, name, field)| TypingView {
                user_id: user.to_string(),
                name: name.to_string(),
                field: field.clone(),
            })
            .collect()
    }

    /// Every local member's cursor but `except`'s, by connection id (the
    /// set of members with a cursor is pruned of those who left first).
    pub(super) fn local_cursors(&self, except: ConnectionId) -> Vec<CursorView> {
        let mut with_cursor = self.with_cursor.borrow_mut();
        with_cursor.retain(|id| self.members.get(id).is_some_and(|m| m.cursor.is_some()));
        with_cursor
            .iter()
            .filter(|id| **id != except)
            .filter_map(|id| Some(self.members.get(id)?.cursor.as_ref()?.view.clone()))
            .collect()
    }

    /// The local members typing or editing, by connection id (the set of
    /// those who started is pruned of the rest first).
    fn active_members(&self) -> Vec<&Member> {
        let mut active = self.active.borrow_mut();
        active.retain(|id| {
            self.members
                .get(id)
                .is_some_and(|m| m.typing.is_some() || !m.editing.is_empty())
        });
        active
            .iter()
            .filter_map(|id| self.members.get(id).map(|m| &**m))
            .collect()
    }

    /// Who edits which field, one entry per (user, field), on every node.
    pub(super) fn editors_view(&self) -> Vec<EditorView> {
        let mut out: Vec<EditorView> = Vec::new();
        let active = self.active_members();
        let local = active.iter().map(|m| (&m.user, &m.name, &m.editing));
        let remote = self
            .remote
            .members()
            .map(|(_, m)| (&m.user, &m.name, &m.editing));
        for (user, name, editing) in local.chain(remote) {
            for field in editing {
                if !out
                    .iter()
                    .any(|e| e.user_id == user.as_str() && &e.field == field)
                {
                    out.push(EditorView {
                        user_id: user.to_string(),
                        name: name.to_string(),
                        field: field.clone(),
                    });
                }
            }
        }
        out
    }

    pub(super) fn publish_typing(&self) {
        self.publish(
            &ServerMessage::TypingUsers {
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                users: self.typing_view(),
            },
            None,
        );
    }

    pub(super) fn publish_editors(&self) {
        self.publish(
            &ServerMessage::EditingUsers {
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                editors: self.editors_view(),
            },
            None,
        );
    }

    pub(super) fn publish_cursor(&mut self, connection: ConnectionId) {
        let Some(m) = self.members.get_mut(&connection) else {
            return;
        };
        m.cursor_sent = Some(Instant::now());
        m.cursor_flush_pending = false;
        let Some(cursor) = m.cursor.as_ref().map(|c| c.view.clone()) else {
            return;
        };
        if self.sync.is_some() {
            self.sync_send(cluster_state::SyncBody::Cursor {
                conn: connection.0,
                cursor: Some(cluster_state::CursorState {
                    position: cursor.position.clone(),
                    selection: cursor.selection.clone(),
                    field: cursor.field.clone(),
                }),
            });
        }
        let msg = ServerMessage::CursorUpdate {
            entity_type: self.entity_type(),
            entity_id: self.entity_id(),
            cursor,
        };
        self.publish(&msg, Some(connection));
    }

    /// Drops expired typing entries (telling the other nodes); true when
    /// any expired.
    pub(super) fn expire_typing(&mut self, now: Instant) -> bool {
        let mut expired = Vec::new();
        for id in self.active.borrow().iter() {
            if let Some(m) = self.members.get_mut(id) {
                if m.typing.as_ref().is_some_and(|(_, until)| *until <= now) {
                    m.typing = None;
                    expired.push(*id);
                }
            }
        }
        for conn in &expired {
            self.sync_send(cluster_state::SyncBody::Typing {
                conn: conn.0,
                typing: None,
            });
        }
        !expired.is_empty()
    }
}
