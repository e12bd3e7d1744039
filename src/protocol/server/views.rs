//! The views server messages carry: presence, room members, cursors,
//! typing, editors, locks, notifications and activity entries.

use serde::{Deserialize, Serialize};

/// A user's presence as other users see it (deserialized only from what
/// another node of the cluster sent).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PresenceView {
    /// User id.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// `online`, `away`, `busy` or `offline`.
    pub status: &'static str,
    /// Stable colour for cursors (`#rrggbb`).
    pub color: String,
    /// When the user last did something, RFC 3339.
    pub last_activity_at: String,
    /// Where the user is (most recent location of any device).
    pub location: Option<LocationView>,
    /// One entry per connected device, ordered by type, browser and
    /// location (not by connection, so a reload changes nothing).
    pub devices: Vec<PresenceDeviceView>,
}

/// One of a user's connected devices, as presence shows it. It names no
/// connection: a page reload opens a new connection, and others should not
/// see a change for that.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PresenceDeviceView {
    /// `desktop`, `mobile`, `tablet` or what the client said.
    pub device_type: String,
    /// Browser name, if known.
    pub browser: Option<String>,
    /// Where this device is in the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationView>,
}

/// Where a user is in the app.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, utoipa::ToSchema)]
pub struct LocationView {
    /// Current page.
    pub page: Option<String>,
    /// Entity type viewed.
    pub entity_type: Option<String>,
    /// Entity id viewed.
    pub entity_id: Option<String>,
}

/// [`PresenceView`] as read back (its status an owned string).
#[derive(Deserialize)]
struct PresenceWire {
    user_id: String,
    name: String,
    status: String,
    color: String,
    last_activity_at: String,
    location: Option<LocationView>,
    devices: Vec<PresenceDeviceView>,
}

impl<'de> Deserialize<'de> for PresenceView {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PresenceView::try_from(PresenceWire::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<PresenceWire> for PresenceView {
    type Error = String;

    /// Fails on an unknown status.
    fn try_from(w: PresenceWire) -> Result<Self, String> {
        let status = match w.status.as_str() {
            "online" => "online",
            "away" => "away",
            "busy" => "busy",
            "offline" => "offline",
            other => return Err(format!("unknown presence status {other:?}")),
        };
        Ok(PresenceView {
            user_id: w.user_id,
            name: w.name,
            status,
            color: w.color,
            last_activity_at: w.last_activity_at,
            location: w.location,
            devices: w.devices,
        })
    }
}

/// One of a user's connections.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DeviceView {
    /// Connection id (`c17`).
    pub connection_id: String,
    /// `desktop`, `mobile`, `tablet` or what the client said.
    pub device_type: String,
    /// Browser name, if known.
    pub browser: Option<String>,
    /// Where this device is in the app (presence only; omitted in rooms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationView>,
}

/// A room member as sent in `room:users` and `room:user_joined`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MemberView {
    /// User id.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Stable colour.
    pub color: String,
    /// The member's connections in this room.
    pub devices: Vec<DeviceView>,
}

/// A cursor as sent in `cursor:update` and `cursor:sync`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CursorView {
    /// User id.
    pub user_id: String,
    /// Connection the cursor belongs to.
    pub connection_id: String,
    /// Display name.
    pub name: String,
    /// Stable colour.
    pub color: String,
    /// App-defined position.
    pub position: serde_json::Value,
    /// App-defined selection.
    pub selection: Option<serde_json::Value>,
    /// Field, for multi-field forms.
    pub field: Option<String>,
}

/// Someone who is typing.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TypingView {
    /// User id.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Field, if given.
    pub field: Option<String>,
}

/// One connection that left a room (in `room:users_left`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeftView {
    /// User id.
    pub user_id: String,
    /// The connection that left.
    pub connection_id: String,
    /// True when the user had no connection left in the room then.
    pub user_left: bool,
}

/// Someone editing a field.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EditorView {
    /// User id.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Field being edited.
    pub field: String,
}

/// An edit lock as clients see it (also carried between nodes).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct LockView {
    /// Locked field, or null for the whole entity.
    pub field: Option<String>,
    /// Holder.
    pub user_id: String,
    /// Holder's name.
    pub name: String,
    /// `soft` or `hard`.
    pub mode: crate::collab::locks::LockMode,
    /// Why.
    pub reason: Option<String>,
    /// RFC 3339.
    pub acquired_at: String,
    /// RFC 3339; renew before this.
    pub expires_at: String,
}

/// What a notification is about.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NotificationSource {
    /// Source type (`invoice`, ...).
    #[serde(rename = "type")]
    pub source_type: Option<String>,
    /// Source id.
    pub id: Option<String>,
}

/// A notification's link.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NotificationAction {
    /// URL or app path.
    pub url: String,
    /// Link text.
    pub label: Option<String>,
}

/// A stored notification as clients see it (WebSocket, SSE and REST).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NotificationView {
    /// Monotonic id; resume with "everything after id N".
    pub id: i64,
    /// Notification type (`payment_received`, ...).
    #[serde(rename = "type")]
    pub notification_type: String,
    /// Title.
    pub title: String,
    /// Body text.
    pub message: Option<String>,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    /// What it is about, if given.
    pub source: Option<NotificationSource>,
    /// Link, if given.
    pub action: Option<NotificationAction>,
    /// Read by the user.
    pub is_read: bool,
    /// When it was read, RFC 3339.
    pub read_at: Option<String>,
    /// Created, RFC 3339.
    pub created_at: String,
    /// Hidden after this, RFC 3339.
    pub expires_at: Option<String>,
}

/// An activity-feed entry as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActivityView {
    /// Monotonic id.
    pub id: i64,
    /// Actor, if a user did it.
    pub user_id: Option<String>,
    /// Actor's name.
    pub user_name: Option<String>,
    /// What happened.
    pub action: String,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// Entity name.
    pub entity_name: Option<String>,
    /// App-defined details.
    pub details: Option<serde_json::Value>,
    /// `private`, `team` or `public`.
    pub visibility: String,
    /// Created, RFC 3339.
    pub created_at: String,
}
