//! Messages a client sends. Each variant's doc is its contract; the JSON
//! examples are in docs/protocol.md.

use serde::Deserialize;

/// Presence status a user can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
        "room:join",
        "room:leave",
        "cursor:move",
        "typing:start",
        "typing:stop",
        "editing:start",
        "editing:stop",
        "room:broadcast",
    ];

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
            } => Some((entity_type, entity_id)),
            _ => None,
        }
    }
}
