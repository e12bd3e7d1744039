//! Room state across the nodes of a cluster, the actor side of
//! [`super::cluster_state`]: what this room tells the other nodes' rooms
//! of its key, and how it shows their members to its own.
//!
//! - **Telling.** Each change of a local member (join, leave, cursor as
//!   relayed after throttling, typing start and stop, editing) is published
//!   on the room topic as a `room.*` cluster frame; `room.closed` when the
//!   room stops.
//! - **Hello.** A room that opens says `room.hello` (its full state, and a
//!   request for everyone's): every other node's room answers with
//!   `room.state`. The room's subscription reaches Redis asynchronously,
//!   and answers published before it did are lost, so the hello is said
//!   again right after the first frame heard from another node (the
//!   subscription is in place by then, so every node hears that one and
//!   its answer comes back), and until then after 250 ms, 1 s and 3 s (when
//!   no other node has the room open, or their answers were all lost), and
//!   when the node's Redis link comes back after an outage (frames of both
//!   directions were dropped meanwhile). A gap in a node's sequence numbers
//!   asks that node alone (`room.hello` with `to`).
//! - **Showing.** Other nodes' members join the room's member index under
//!   (node, connection), so `room:users`, `room:user_joined` and
//!   `room:user_left` (with `user_left` true only for a user's last
//!   connection on any node), `cursor:sync`, `typing:users` and
//!   `editing:users` span the cluster.
//! - **Dead nodes.** Every [`NODE_CHECK`] a room holding other nodes'
//!   members asks which of those nodes are alive (`cluster::nodes`) and
//!   drops the members of the dead ones, as if they had left: within
//!   `redis.node_ttl_ms` plus [`NODE_CHECK`] of a node's death. While Redis
//!   does not answer, it keeps what it has.
//!
//! Remote cursors are shown as their node last relayed them: a text op
//! does not move them here (their own node moves them, and sends them
//! again when they next move).

use super::cluster_state::{Change, CursorState, MemberState, SyncBody, SyncMessage, TypingState};
use super::members::MemberKey;
use super::*;

/// How often a room holding other nodes' members checks that those nodes
/// are alive (and whether its Redis link came back).
const NODE_CHECK: Duration = Duration::from_secs(2);

/// When (ms after opening) a room says hello again.
const HELLO_AGAIN_MS: [u64; 3] = [250, 1000, 3000];

/// What this room tells the others: who it is and its next sequence number.
pub(super) struct SyncOut {
    node: String,
    inst: u64,
    seq: u64,
    /// A frame from another node's room was heard (and hello said again).
    heard: bool,
    /// Redis was up at the last check.
    redis_up: bool,
    /// A liveness check is running.
    checking: bool,
}

impl RoomActor {
    /// Starts telling the other nodes (once subscribed to the topic as
    /// `inst`): the first hello, its repeats, and the liveness checks.
    pub(super) fn start_sync(&mut self, ctx: &mut Context<Self>, inst: u64) {
        let Some(status) = self.services.broker.cluster() else {
            return;
        };
        self.sync = Some(SyncOut {
            node: status.node,
            inst,
            seq: 0,
            heard: false,
            redis_up: status.redis_up,
            checking: false,
        });
        self.say_hello(None);
        for ms in HELLO_AGAIN_MS {
            ctx.run_later(Duration::from_millis(ms), |act, _| {
                // Once another node was heard, the hello said then reached
                // everyone: no need to repeat.
                if act.sync.as_ref().is_some_and(|s| !s.heard) {
                    act.say_hello(None);
                }
            });
        }
        ctx.run_interval(NODE_CHECK, |act, ctx| act.check_nodes(ctx));
    }

    /// Publishes one message for the other nodes' rooms (nothing on a node
    /// alone).
    pub(super) fn sync_send(&mut self, body: SyncBody) {
        let Some(out) = self.sync.as_mut() else {
            return;
        };
        out.seq += 1;
        let msg = SyncMessage {
            node: out.node.clone(),
            inst: out.inst,
            seq: out.seq,
            body,
        };
        match serde_json::to_string(&msg) {
            Ok(text) => self.relay(Frame::cluster(text)),
            Err(e) => log::error!("room {}: cluster message: {e}", self.id),
        }
    }

    /// Tells the other nodes a local member joined.
    pub(super) fn sync_member_joined(&mut self, id: ConnectionId) {
        if self.sync.is_none() {
            return;
        }
        if let Some(m) = self.members.get(&id) {
            let member = member_state(id, m);
            self.sync_send(SyncBody::Joined { member });
        }
    }

    /// Tells the other nodes this room stopped.
    pub(super) fn sync_closed(&mut self) {
        self.sync_send(SyncBody::Closed);
        self.sync = None;
    }

    /// Stops telling and forgets the other nodes' members (the relay fell
    /// behind: what it knows of them can no longer be kept up to date).
    pub(super) fn sync_forget(&mut self, ctx: &mut Context<Self>) {
        self.sync = None;
        for node in self.remote.node_ids() {
            let changes = self.remote.drop_node(&node);
            self.show_changes(changes, ctx);
        }
    }

    /// Says hello with this room's full state, to every node or one.
    fn say_hello(&mut self, to: Option<String>) {
        if self.sync.is_none() {
            return;
        }
        let members = self.local_state();
        self.sync_send(SyncBody::Hello { to, members });
    }

    /// Every local member as the other nodes are told.
    fn local_state(&self) -> Vec<MemberState> {
        self.members
            .iter()
            .map(|(id, m)| member_state(*id, m))
            .collect()
    }

    /// A `room.*` message from another node's room.
    pub(super) fn on_sync(&mut self, value: serde_json::Value, ctx: &mut Context<Self>) {
        let Some(out) = self.sync.as_mut() else {
            return;
        };
        let msg: SyncMessage = match serde_json::from_value(value) {
            Ok(msg) => msg,
            Err(e) => {
                log::warn!("room {}: malformed cluster message: {e}", self.id);
                return;
            }
        };
        let first = !out.heard;
        out.heard = true;
        let applied = self.remote.apply(msg, &out.node);
        self.show_changes(applied.changes, ctx);
        if first {
            // Subscribed by now: ask everyone once more, in case an
            // answer to an earlier hello was published before.
            self.say_hello(None);
        } else {
            if applied.answer {
                let members = self.local_state();
                self.sync_send(SyncBody::State { members });
            }
            if let Some(node) = applied.ask {
                self.say_hello(Some(node));
            }
        }
    }

    /// Shows the local members what changed on other nodes, in order.
    fn show_changes(&mut self, changes: Vec<Change>, ctx: &mut Context<Self>) {
        let (mut typing, mut editing, mut members) = (false, false, false);
        for change in changes {
            match change {
                Change::Joined { node, member } => {
                    members = true;
                    self.remote_joined(node, member, ctx);
                }
                Change::Left { node, member } => {
                    members = true;
                    self.remote_left(node, member, ctx);
                }
                Change::Cursor { member, .. } => {
                    if let Some(cursor) = remote_cursor(&member) {
                        self.publish(
                            &ServerMessage::CursorUpdate {
                                entity_type: self.entity_type(),
                                entity_id: self.entity_id(),
                                cursor,
                            },
                            None,
                        );
                    }
                }
                Change::CursorRemoved { member, .. } => self.remote_cursor_removed(&member),
                Change::Typing => typing = true,
                Change::Editing => editing = true,
            }
        }
        if typing {
            self.publish_typing();
        }
        if editing {
            self.publish_editors();
        }
        // Only joins and leaves change who is here (a cursor move does not).
        if members {
            self.tell_roster_remote(false);
        }
    }

    /// Tells the tenant's roster which users are in this room on other
    /// nodes (interest mode shows room members' presence), when that set
    /// changed or `again` (a local member joined: a roster that started
    /// after the last change learns it; telling it twice changes nothing).
    pub(super) fn tell_roster_remote(&mut self, again: bool) {
        let users: Vec<String> = self
            .remote
            .members()
            .map(|(_, m)| m.user.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let unchanged = users == self.remote_users_told;
        if unchanged && (!again || users.is_empty()) {
            return;
        }
        self.remote_users_told = users.clone();
        self.services
            .registry
            .do_send(crate::actors::registry::ToRoster {
                tenant: self.id.tenant.clone(),
                request: crate::actors::registry::RosterRequest::RemoteRoomMembers(
                    crate::actors::roster::RemoteRoomMembers {
                        room: self.id.clone(),
                        users,
                    },
                ),
            });
    }

    fn remote_joined(&mut self, node: Arc<str>, member: MemberState, ctx: &mut Context<Self>) {
        // Earlier leaves reach the members before this join.
        self.announce_leaves();
        let key = MemberKey {
            node: Some(node),
            conn: ConnectionId(member.conn),
        };
        let device = DeviceView {
            connection_id: key.conn.to_string(),
            device_type: member.device_type.clone(),
            browser: member.browser.clone(),
            location: None,
        };
        self.by_user
            .borrow_mut()
            .add(key, &member.user, &member.name, device);
        if self.members.is_empty() {
            return;
        }
        self.queue_join(None, member.user.clone(), ctx);
    }

    /// Another node's member left: the same frames, in the same order, as
    /// a local leave.
    fn remote_left(&mut self, node: Arc<str>, member: MemberState, ctx: &mut Context<Self>) {
        self.announce_joins();
        if member.cursor.is_some() {
            self.remote_cursor_removed(&member);
        }
        if member.typing.is_some() {
            self.publish_typing();
        }
        if !member.editing.is_empty() {
            self.publish_editors();
        }
        let key = MemberKey {
            node: Some(node),
            conn: ConnectionId(member.conn),
        };
        let user_left = self.by_user.borrow_mut().remove(key, &member.user);
        if user_left {
            if let Some(doc) = &self.document {
                doc.do_send(UserLeft(member.user.clone()));
            }
        }
        self.queue_leave(
            LeftView {
                user_id: member.user.to_string(),
                connection_id: ConnectionId(member.conn).to_string(),
                user_left,
            },
            ctx,
        );
    }

    fn remote_cursor_removed(&self, member: &MemberState) {
        self.publish(
            &ServerMessage::CursorRemove {
                entity_type: self.entity_type(),
                entity_id: self.entity_id(),
                user_id: member.user.to_string(),
                connection_id: ConnectionId(member.conn).to_string(),
            },
            None,
        );
    }

    /// The cursors of the other nodes' members (for `cursor:sync`).
    pub(super) fn remote_cursors(&self) -> impl Iterator<Item = CursorView> + '_ {
        self.remote.members().filter_map(|(_, m)| remote_cursor(m))
    }

    /// Says hello again when Redis came back; drops the members of dead
    /// nodes.
    fn check_nodes(&mut self, ctx: &mut Context<Self>) {
        let up = self.services.broker.cluster().is_some_and(|s| s.redis_up);
        let Some(out) = self.sync.as_mut() else {
            return;
        };
        let back = up && !out.redis_up;
        out.redis_up = up;
        if back {
            self.say_hello(None);
        }
        let Some(nodes) = self.services.nodes.clone() else {
            return;
        };
        let Some(out) = self.sync.as_mut() else {
            return;
        };
        if out.checking || self.remote.is_empty() {
            return;
        }
        out.checking = true;
        let ids = self.remote.node_ids();
        let ask = async move {
            let alive = nodes.alive(&ids).await;
            (ids, alive)
        };
        ctx.spawn(ask.into_actor(self).map(|(ids, alive), act, ctx| {
            if let Some(out) = act.sync.as_mut() {
                out.checking = false;
            }
            match alive {
                Ok(alive) => {
                    for (node, alive) in ids.iter().zip(alive) {
                        if !alive {
                            log::info!("room {}: node {node} is gone; its members leave", act.id);
                            let changes = act.remote.drop_node(node);
                            act.show_changes(changes, ctx);
                        }
                    }
                }
                // Redis is unreachable: keep what the other nodes said.
                Err(e) => log::debug!("room {}: liveness check failed: {e}", act.id),
            }
        }));
    }
}

/// A local member as the other nodes are told.
fn member_state(id: ConnectionId, m: &Member) -> MemberState {
    MemberState {
        conn: id.0,
        user: m.user.clone(),
        name: m.name.clone(),
        device_type: m.device.device_type.clone(),
        browser: m.device.browser.clone(),
        cursor: m.cursor.as_ref().map(|c| CursorState {
            position: c.view.position.clone(),
            selection: c.view.selection.clone(),
            field: c.view.field.clone(),
        }),
        typing: m.typing.as_ref().map(|(field, _)| TypingState {
            field: field.clone(),
        }),
        editing: m.editing.clone(),
    }
}

/// Another node's member's cursor as clients see it.
fn remote_cursor(m: &MemberState) -> Option<CursorView> {
    let c = m.cursor.as_ref()?;
    Some(CursorView {
        user_id: m.user.to_string(),
        connection_id: ConnectionId(m.conn).to_string(),
        name: m.name.to_string(),
        color: color_for(m.user.as_str()),
        position: c.position.clone(),
        selection: c.selection.clone(),
        field: c.field.clone(),
    })
}
