//! Messages a client sends. Each variant's doc is its contract; the JSON
//! examples are in docs/protocol.md.

use serde::Deserialize;

/// Presence status a user can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChosenStatus {
    /// Available.
    Online,
    /// Do not disturb; kept until changed.
    Busy,
    /// Step away explicitly.
    Away,
}

/// Every message a client may send.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientMessage {
    /// Keep-alive from the client; answered with `heartbeat_ack`.
    #[serde(rename = "heartbeat")]
    Heartbeat {},
    /// Replace the connection's token before it expires. Must name the same
    /// user and tenant.
    #[serde(rename = "auth:refresh")]
    AuthRefresh {
        /// The new JWT.
        token: String,
    },
    /// Ask for the tenant's online users (`presence:list`).
    #[serde(rename = "presence:list")]
    PresenceList {},
    /// Set the user's status (`online`, `busy` or `away`).
    #[serde(rename = "presence:status")]
    PresenceStatus {
        /// The chosen status.
        status: ChosenStatus,
    },
    /// Tell Tandem where this connection is in the app.
    #[serde(rename = "presence:location")]
    PresenceLocation {
        /// Current page or route.
        #[serde(default)]
        page: Option<String>,
        /// Entity being viewed.
        #[serde(default)]
        entity_type: Option<String>,
        /// Its id.
        #[serde(default)]
        entity_id: Option<String>,
    },
    /// Watch these users' presence (interest mode: they are then in this
    /// connection's roster while online). Acked with `{"subscribed": n}`.
    #[serde(rename = "presence:subscribe")]
    PresenceSubscribe {
        /// User ids of the tenant (1 to 100 per request).
        user_ids: Vec<String>,
    },
    /// Stop watching these users (they stay if they share a room).
    #[serde(rename = "presence:unsubscribe")]
    PresenceUnsubscribe {
        /// User ids (1 to 100 per request).
        user_ids: Vec<String>,
    },
    /// Ask who is viewing an entity (`presence:viewers`).
    #[serde(rename = "presence:viewers")]
    PresenceViewers {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
    },
    /// Join a room; the reply is `room:users` and `cursor:sync`.
    #[serde(rename = "room:join")]
    RoomJoin {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
    },
    /// A page of a room's members (for rooms whose `room:users` was cut at
    /// `rooms.users_list_max`); the reply is `room:members`.
    #[serde(rename = "room:members")]
    RoomMembers {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Start after this user id (the previous page's `next_after`).
        #[serde(default)]
        after: Option<String>,
        /// Members per page, 1 to 500 (default 100).
        #[serde(default)]
        limit: Option<u64>,
    },
    /// Leave a room.
    #[serde(rename = "room:leave")]
    RoomLeave {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
    },
    /// Move this user's cursor in a room (throttled server-side).
    #[serde(rename = "cursor:move")]
    CursorMove {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// App-defined position (a number, or an object such as `{"line":1,"column":4}`).
        position: serde_json::Value,
        /// Optional selection (`{"start": .., "end": ..}` or app-defined).
        #[serde(default)]
        selection: Option<serde_json::Value>,
        /// Field the cursor is in, for multi-field forms.
        #[serde(default)]
        field: Option<String>,
    },
    /// This user started typing in a room.
    #[serde(rename = "typing:start")]
    TypingStart {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Optional field.
        #[serde(default)]
        field: Option<String>,
    },
    /// This user stopped typing.
    #[serde(rename = "typing:stop")]
    TypingStop {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
    },
    /// This user started editing a field.
    #[serde(rename = "editing:start")]
    EditingStart {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// The field being edited.
        field: String,
    },
    /// This user stopped editing a field.
    #[serde(rename = "editing:stop")]
    EditingStop {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// The field.
        field: String,
    },
    /// An app-specific ephemeral event to the room's other members; never stored.
    #[serde(rename = "room:broadcast")]
    RoomBroadcast {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// App-defined event name, 1 to 64 bytes.
        event: String,
        /// App-defined payload.
        #[serde(default)]
        payload: serde_json::Value,
    },
    /// Ask for a document's current state (`doc:state`).
    #[serde(rename = "doc:sync")]
    DocSync {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
    },
    /// An OT edit of a text field, based on the field revision the client has seen.
    #[serde(rename = "doc:edit")]
    DocEdit {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Text field name, 1 to 128 bytes.
        field: String,
        /// The field revision the op is based on.
        revision: u64,
        /// The op in ot.js JSON form; positions count Unicode code points.
        op: crate::collab::ot::TextOperation,
        /// Client id (stable per editor session), 1 to 128 bytes.
        client_id: String,
        /// Sequence number per client id; a resend with the same one is applied once.
        seq: u64,
    },
    /// Set a structured field, given the field version the client last saw.
    #[serde(rename = "doc:set")]
    DocSet {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Field name.
        field: String,
        /// New value (any JSON).
        value: serde_json::Value,
        /// Field version last seen (0 for a new field).
        version: u64,
    },
    /// Undo this user's latest edit of a text field.
    #[serde(rename = "doc:undo")]
    DocUndo {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Text field.
        field: String,
    },
    /// Redo this user's latest undone edit of a text field.
    #[serde(rename = "doc:redo")]
    DocRedo {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Text field.
        field: String,
    },
    /// Take or renew an edit lock on the entity (no `field`) or one field.
    #[serde(rename = "doc:lock")]
    DocLock {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Field; omitted locks the whole entity.
        #[serde(default)]
        field: Option<String>,
        /// `soft` (default) or `hard`.
        #[serde(default)]
        mode: Option<crate::collab::locks::LockMode>,
        /// Lifetime; default `documents.lock_ttl_secs`, at most `documents.max_lock_ttl_secs`.
        #[serde(default)]
        ttl_secs: Option<u64>,
        /// Shown to others.
        #[serde(default)]
        reason: Option<String>,
    },
    /// Release an edit lock.
    #[serde(rename = "doc:unlock")]
    DocUnlock {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Field; omitted releases the entity lock.
        #[serde(default)]
        field: Option<String>,
    },
    /// Mark one notification (`{"id": 17}`) or all of them
    /// (`{"all": true}`) read; every connection of the user gets the new
    /// `notification:count`.
    #[serde(rename = "notification:read")]
    NotificationRead {
        /// The notification to mark.
        #[serde(default)]
        id: Option<i64>,
        /// `true` marks every unread notification.
        #[serde(default)]
        all: Option<bool>,
    },
    /// Ask for every notification with an id above `after_id`, oldest first
    /// (the reconnect path): `notification` messages, then
    /// `notification:count`, then the `ack`.
    #[serde(rename = "notification:sync")]
    NotificationSync {
        /// The last notification id the client has seen (0 for all).
        after_id: i64,
    },
}

impl ClientMessage {
    /// Every `type` the server understands.
    pub const TYPES: &'static [&'static str] = &[
        "heartbeat",
        "auth:refresh",
        "presence:list",
        "presence:status",
        "presence:location",
        "presence:viewers",
        "presence:subscribe",
        "presence:unsubscribe",
        "room:join",
        "room:members",
        "room:leave",
        "cursor:move",
        "typing:start",
        "typing:stop",
        "editing:start",
        "editing:stop",
        "room:broadcast",
        "doc:sync",
        "doc:edit",
        "doc:set",
        "doc:undo",
        "doc:redo",
        "doc:lock",
        "doc:unlock",
        "notification:read",
        "notification:sync",
    ];

    /// This message's `type` (one of [`ClientMessage::TYPES`]).
    pub fn type_name(&self) -> &'static str {
        use ClientMessage::*;
        match self {
            Heartbeat { .. } => "heartbeat",
            AuthRefresh { .. } => "auth:refresh",
            PresenceList { .. } => "presence:list",
            PresenceStatus { .. } => "presence:status",
            PresenceLocation { .. } => "presence:location",
            PresenceSubscribe { .. } => "presence:subscribe",
            PresenceUnsubscribe { .. } => "presence:unsubscribe",
            PresenceViewers { .. } => "presence:viewers",
            RoomJoin { .. } => "room:join",
            RoomMembers { .. } => "room:members",
            RoomLeave { .. } => "room:leave",
            CursorMove { .. } => "cursor:move",
            TypingStart { .. } => "typing:start",
            TypingStop { .. } => "typing:stop",
            EditingStart { .. } => "editing:start",
            EditingStop { .. } => "editing:stop",
            RoomBroadcast { .. } => "room:broadcast",
            DocSync { .. } => "doc:sync",
            DocEdit { .. } => "doc:edit",
            DocSet { .. } => "doc:set",
            DocUndo { .. } => "doc:undo",
            DocRedo { .. } => "doc:redo",
            DocLock { .. } => "doc:lock",
            DocUnlock { .. } => "doc:unlock",
            NotificationRead { .. } => "notification:read",
            NotificationSync { .. } => "notification:sync",
        }
    }

    /// The room this message addresses, if any.
    pub fn room(&self) -> Option<(&str, &str)> {
        use ClientMessage::*;
        match self {
            RoomJoin {
                entity_type,
                entity_id,
            }
            | RoomLeave {
                entity_type,
                entity_id,
            }
            | RoomMembers {
                entity_type,
                entity_id,
                ..
            }
            | CursorMove {
                entity_type,
                entity_id,
                ..
            }
            | TypingStart {
                entity_type,
                entity_id,
                ..
            }
            | TypingStop {
                entity_type,
                entity_id,
            }
            | EditingStart {
                entity_type,
                entity_id,
                ..
            }
            | EditingStop {
                entity_type,
                entity_id,
                ..
            }
            | RoomBroadcast {
                entity_type,
                entity_id,
                ..
            }
            | DocSync {
                entity_type,
                entity_id,
            }
            | DocEdit {
                entity_type,
                entity_id,
                ..
            }
            | DocSet {
                entity_type,
                entity_id,
                ..
            }
            | DocUndo {
                entity_type,
                entity_id,
                ..
            }
            | DocRedo {
                entity_type,
                entity_id,
                ..
            }
            | DocLock {
                entity_type,
                entity_id,
                ..
            }
            | DocUnlock {
                entity_type,
                entity_id,
                ..
            } => Some((entity_type, entity_id)),
            _ => None,
        }
    }
}
