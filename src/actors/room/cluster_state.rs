//! Room state across the nodes of a cluster (pure, no actix): what a node's
//! room tells the others about its local members, and how a room keeps the
//! members of the other nodes.
//!
//! Each room on a clustered node publishes [`SyncMessage`]s on its room
//! topic (as [`crate::broker::Frame::cluster`] frames, `"t"` starting with
//! `room.`): a delta for each change of a local member (joined, left,
//! cursor, typing, editing), its full state when asked (`room.state`) or
//! when it asks the others (`room.hello`), and `room.closed` when it stops.
//! Every message carries the sending node, the room instance there (`inst`)
//! and a sequence number that counts up by one per message of that
//! instance. Frames of one node reach another in order, so a gap (a frame
//! dropped while Redis was unreachable, or sent before the receiver's
//! subscription reached Redis) or a delta from an unknown instance makes
//! the receiver ask that node for its full state ([`Applied::ask`]).
//!
//! [`RemoteState`] keeps the members of the other nodes per (node,
//! connection) and turns each message into [`Change`]s the room shows its
//! local members (`room:user_joined`, `cursor:update`, `typing:users`, ...).

use crate::ids::{ConnectionId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A member connection's cursor as its node describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CursorState {
    /// App-defined position.
    pub position: serde_json::Value,
    /// App-defined selection.
    #[serde(default)]
    pub selection: Option<serde_json::Value>,
    /// Field, if any.
    #[serde(default)]
    pub field: Option<String>,
}

/// A member connection that is typing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypingState {
    /// Field, if any.
    #[serde(default)]
    pub field: Option<String>,
}

/// A member connection as its node describes it to the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberState {
    /// The connection id on its node.
    pub conn: u64,
    /// Who.
    pub user: UserId,
    /// Display name.
    pub name: Arc<str>,
    /// Device type.
    pub device_type: String,
    /// Browser, if known.
    #[serde(default)]
    pub browser: Option<String>,
    /// Its cursor, if it moved one.
    #[serde(default)]
    pub cursor: Option<CursorState>,
    /// Typing, if it is.
    #[serde(default)]
    pub typing: Option<TypingState>,
    /// Fields it is editing.
    #[serde(default)]
    pub editing: Vec<String>,
}

/// One message between the rooms of one key on different nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncMessage {
    /// The sending node.
    pub node: String,
    /// The room instance on that node (a restarted room is a new one).
    pub inst: u64,
    /// Counts up by one per message of the instance.
    pub seq: u64,
    /// What happened.
    #[serde(flatten)]
    pub body: SyncBody,
}

/// What a [`SyncMessage`] says (its `"t"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum SyncBody {
    /// The sender's full state, and a request for everyone's (or only
    /// `to`'s) full state in return.
    #[serde(rename = "room.hello")]
    Hello {
        /// Only this node answers (`None`: every node).
        #[serde(default)]
        to: Option<String>,
        /// Every local member of the sender.
        members: Vec<MemberState>,
    },
    /// The sender's full state (an answer to a hello).
    #[serde(rename = "room.state")]
    State {
        /// Every local member of the sender.
        members: Vec<MemberState>,
    },
    /// A member joined on the sender.
    #[serde(rename = "room.joined")]
    Joined {
        /// Who.
        member: MemberState,
    },
    /// A member left the sender's room.
    #[serde(rename = "room.left")]
    Left {
        /// Its connection.
        conn: u64,
    },
    /// A member's cursor moved (`None`: it has none).
    #[serde(rename = "room.cursor")]
    Cursor {
        /// Its connection.
        conn: u64,
        /// Where.
        cursor: Option<CursorState>,
    },
    /// A member started or stopped typing.
    #[serde(rename = "room.typing")]
    Typing {
        /// Its connection.
        conn: u64,
        /// `None`: stopped.
        typing: Option<TypingState>,
    },
    /// The fields a member edits changed.
    #[serde(rename = "room.editing")]
    Editing {
        /// Its connection.
        conn: u64,
        /// Every field it edits now.
        editing: Vec<String>,
    },
    /// The sender's room stopped: its members are gone.
    #[serde(rename = "room.closed")]
    Closed,
}

/// What local members must be told after a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A remote connection joined.
    Joined {
        /// Its node.
        node: Arc<str>,
        /// The member.
        member: MemberState,
    },
    /// A remote connection left; `member` is what it had (cursor, typing,
    /// editing) just before.
    Left {
        /// Its node.
        node: Arc<str>,
        /// The member as it was.
        member: MemberState,
    },
    /// A remote member's cursor moved.
    Cursor {
        /// Its node.
        node: Arc<str>,
        /// The member, cursor included.
        member: MemberState,
    },
    /// A remote member's cursor is gone (the member stays).
    CursorRemoved {
        /// Its node.
        node: Arc<str>,
        /// The member, as it was.
        member: MemberState,
    },
    /// Who is typing may have changed.
    Typing,
    /// Who is editing what may have changed.
    Editing,
}

/// The outcome of [`RemoteState::apply`].
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    /// For the local members, in order.
    pub changes: Vec<Change>,
    /// Publish this node's full state (`room.state`): someone said hello.
    pub answer: bool,
    /// Ask this node for its full state: a message was missed.
    pub ask: Option<String>,
}

/// One other node's room.
#[derive(Debug)]
struct RemoteNode {
    inst: u64,
    seq: u64,
    members: BTreeMap<ConnectionId, MemberState>,
}

/// The members of the other nodes' rooms of one key.
#[derive(Debug, Default)]
pub struct RemoteState {
    nodes: BTreeMap<Arc<str>, RemoteNode>,
}

impl RemoteState {
    /// True when no other node has a member here.
    pub fn is_empty(&self) -> bool {
        self.nodes.values().all(|n| n.members.is_empty())
    }

    /// The nodes this room has heard from.
    pub fn node_ids(&self) -> Vec<String> {
        self.nodes.keys().map(|n| n.to_string()).collect()
    }

    /// Every remote member connection, by node then connection.
    pub fn members(&self) -> impl Iterator<Item = (&Arc<str>, &MemberState)> {
        self.nodes
            .iter()
            .flat_map(|(node, n)| n.members.values().map(move |m| (node, m)))
    }

    /// Applies a message from another node (`me` is this node: its own
    /// messages are ignored).
    pub fn apply(&mut self, msg: SyncMessage, me: &str) -> Applied {
        let mut out = Applied::default();
        if msg.node == me {
            return out;
        }
        let node: Arc<str> = Arc::from(msg.node.as_str());
        match msg.body {
            SyncBody::Hello { to, members } => {
                out.answer = to.as_deref().is_none_or(|t| t == me);
                self.replace(&node, msg.inst, msg.seq, members, &mut out.changes);
            }
            SyncBody::State { members } => {
                self.replace(&node, msg.inst, msg.seq, members, &mut out.changes);
            }
            SyncBody::Closed => {
                if self.nodes.get(&node).is_some_and(|n| n.inst == msg.inst) {
                    out.changes = self.drop_node(&node);
                }
            }
            delta => {
                let in_order = self
                    .nodes
                    .get(&node)
                    .is_some_and(|n| n.inst == msg.inst && n.seq + 1 == msg.seq);
                if !in_order {
                    out.ask = Some(msg.node.clone());
                    if self.nodes.get(&node).is_some_and(|n| n.inst != msg.inst) {
                        // A new instance there: the old one's members are gone.
                        out.changes = self.drop_node(&node);
                    }
                }
                let entry = self.nodes.entry(node.clone()).or_insert(RemoteNode {
                    inst: msg.inst,
                    seq: 0,
                    members: BTreeMap::new(),
                });
                entry.seq = msg.seq;
                apply_delta(&node, &mut entry.members, delta, &mut out.changes);
            }
        }
        out
    }

    /// Forgets a node (dead, or its room closed): its members leave.
    pub fn drop_node(&mut self, node: &str) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some((node, n)) = self.nodes.remove_entry(node) {
            for member in n.members.into_values() {
                changes.push(Change::Left {
                    node: node.clone(),
                    member,
                });
            }
        }
        changes
    }

    /// Replaces a node's members with its full state.
    fn replace(
        &mut self,
        node: &Arc<str>,
        inst: u64,
        seq: u64,
        members: Vec<MemberState>,
        changes: &mut Vec<Change>,
    ) {
        let mut new: BTreeMap<ConnectionId, MemberState> = members
            .into_iter()
            .map(|m| (ConnectionId(m.conn), m))
            .collect();
        let entry = self.nodes.entry(node.clone()).or_insert(RemoteNode {
            inst,
            seq,
            members: BTreeMap::new(),
        });
        entry.inst = inst;
        entry.seq = seq;
        let old = std::mem::take(&mut entry.members);
        let (mut typing, mut editing) = (false, false);
        for (conn, before) in old {
            match new.remove(&conn) {
                Some(after) if after.user == before.user => {
                    if after.cursor != before.cursor {
                        changes.push(match after.cursor {
                            Some(_) => Change::Cursor {
                                node: node.clone(),
                                member: after.clone(),
                            },
                            None => Change::CursorRemoved {
                                node: node.clone(),
                                member: before.clone(),
                            },
                        });
                    }
                    typing |= after.typing != before.typing;
                    editing |= after.editing != before.editing;
                    entry.members.insert(conn, after);
                }
                other => {
                    changes.push(Change::Left {
                        node: node.clone(),
                        member: before,
                    });
                    if let Some(after) = other {
                        new.insert(conn, after);
                    }
                }
            }
        }
        for (conn, member) in new {
            joined(node, &member, changes);
            entry.members.insert(conn, member);
        }
        if typing {
            changes.push(Change::Typing);
        }
        if editing {
            changes.push(Change::Editing);
        }
    }
}

/// The changes a join shows: the join, then its cursor, typing, editing.
fn joined(node: &Arc<str>, member: &MemberState, changes: &mut Vec<Change>) {
    changes.push(Change::Joined {
        node: node.clone(),
        member: member.clone(),
    });
    if member.cursor.is_some() {
        changes.push(Change::Cursor {
            node: node.clone(),
            member: member.clone(),
        });
    }
    if member.typing.is_some() {
        changes.push(Change::Typing);
    }
    if !member.editing.is_empty() {
        changes.push(Change::Editing);
    }
}

/// Applies one delta to a node's members.
fn apply_delta(
    node: &Arc<str>,
    members: &mut BTreeMap<ConnectionId, MemberState>,
    delta: SyncBody,
    changes: &mut Vec<Change>,
) {
    match delta {
        SyncBody::Joined { member } => {
            let conn = ConnectionId(member.conn);
            if let Some(before) = members.remove(&conn) {
                changes.push(Change::Left {
                    node: node.clone(),
                    member: before,
                });
            }
            joined(node, &member, changes);
            members.insert(conn, member);
        }
        SyncBody::Left { conn } => {
            if let Some(member) = members.remove(&ConnectionId(conn)) {
                changes.push(Change::Left {
                    node: node.clone(),
                    member,
                });
            }
        }
        SyncBody::Cursor { conn, cursor } => {
            if let Some(m) = members.get_mut(&ConnectionId(conn)) {
                let had = m.cursor.is_some();
                m.cursor = cursor;
                match (had, m.cursor.is_some()) {
                    (_, true) => changes.push(Change::Cursor {
                        node: node.clone(),
                        member: m.clone(),
                    }),
                    (true, false) => changes.push(Change::CursorRemoved {
                        node: node.clone(),
                        member: m.clone(),
                    }),
                    (false, false) => {}
                }
            }
        }
        SyncBody::Typing { conn, typing } => {
            if let Some(m) = members.get_mut(&ConnectionId(conn)) {
                if m.typing != typing {
                    m.typing = typing;
                    changes.push(Change::Typing);
                }
            }
        }
        SyncBody::Editing { conn, editing } => {
            if let Some(m) = members.get_mut(&ConnectionId(conn)) {
                if m.editing != editing {
                    m.editing = editing;
                    changes.push(Change::Editing);
                }
            }
        }
        SyncBody::Hello { .. } | SyncBody::State { .. } | SyncBody::Closed => {}
    }
}

#[cfg(test)]
#[path = "cluster_state_tests.rs"]
mod tests;
