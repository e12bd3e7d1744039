//! Joins and leaves: the member list, the joiner's `room:users` and
//! `cursor:sync` (with the members and cursors of the other nodes in a
//! cluster), the batched announcement to the others, and what a leave
//! tells them, the other nodes and the document session.

use super::*;

impl Handler<Join> for RoomActor {
    type Result = ();

    /// Adds the member, answers it with `room:users` and `cursor:sync`, and
    /// tells the others with `room:user_joined`.
    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) {
        self.joins_seen += 1;
        // Leaves before this join reach the others before it (and the
        // joiner, not yet a member, does not get them).
        self.announce_leaves();
        let id = msg.handle.id;
        let user = msg.principal.user.clone();
        if !self.members.contains_key(&id) {
            let device = DeviceView {
                connection_id: id.to_string(),
                device_type: msg.device.device_type.clone(),
                browser: msg.device.browser.clone(),
                location: None,
            };
            self.by_user.borrow_mut().add(
                members::MemberKey::local(id),
                &user,
                &msg.principal.name,
                device.clone(),
            );
            self.members.insert(
                id,
                Box::new(Member {
                    handle: msg.handle,
                    user: user.clone(),
                    name: msg.principal.name.clone(),
                    cursor: None,
                    cursor_sent: None,
                    cursor_flush_pending: false,
                    typing: None,
                    editing: Vec::new(),
                    device,
                }),
            );
            self.sync_member_joined(id);
            self.cancel_idle_check(ctx);
            self.tell_roster_remote(true);
            // Before the joiner hears of its join (and of the session).
            if let Some(doc) = &self.document {
                doc.do_send(self.members_changed());
            }
            // Alone in the room: there is nobody to tell.
            if self.members.len() > 1 {
                self.queue_join(Some(id), user.clone(), ctx);
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
            document: self.live_document(),
            leave_unless_handled: LeaveUnlessHandled::new(ctx.address().recipient(), id),
        });
        let Some(joiner) = self.members.get(&id) else {
            return;
        };
        // Delivered by this room: after every broadcast delivered before it.
        // A large room lists its first `users_list_max` users; the joiner
        // pages through the rest with `room:members` if it wants them.
        joiner
            .handle
            .deliver(self.room_users(msg.r#ref, Some(&joiner.user)).to_frame());
        joiner.handle.deliver(
            ServerMessage::CursorSync {
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                cursors: self
                    .local_cursors(id)
                    .into_iter()
                    .chain(self.remote_cursors())
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
        // Others hear of a join before they hear of the leave.
        self.announce_joins();
        let Some(member) = self.members.remove(&msg.connection) else {
            return;
        };
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
        self.sync_send(cluster_state::SyncBody::Left {
            conn: msg.connection.0,
        });
        let user_left = self
            .by_user
            .borrow_mut()
            .remove(members::MemberKey::local(msg.connection), &member.user);
        if let Some(doc) = &self.document {
            if user_left {
                doc.do_send(UserLeft(member.user.clone()));
            }
            doc.do_send(self.members_changed());
        }
        self.queue_leave(
            LeftView {
                user_id: member.user.to_string(),
                connection_id: msg.connection.to_string(),
                user_left,
            },
            ctx,
        );
        if self.members.is_empty() {
            self.schedule_idle_check(ctx);
        }
    }
}

impl Handler<ListMembers> for RoomActor {
    type Result = ();

    /// Answers `room:members` with a page of the members (every node's).
    fn handle(&mut self, msg: ListMembers, _: &mut Context<Self>) {
        if !self.members.contains_key(&msg.connection) {
            // Left (or was swept) while the request was on the way.
            msg.reply.deliver(
                ServerMessage::error(
                    msg.r#ref,
                    crate::protocol::ErrorCode::NotInRoom,
                    "join the room first (room:join)",
                )
                .to_frame(),
            );
            return;
        }
        let mut by_user = self.by_user.borrow_mut();
        let (users, next_after) = by_user.page_json(msg.after.as_deref(), msg.limit);
        msg.reply.deliver(
            ServerMessage::RoomMembers {
                r#ref: msg.r#ref,
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                users,
                total_users: by_user.user_count(),
                next_after,
            }
            .to_frame(),
        );
    }
}
