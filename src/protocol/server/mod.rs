//! Messages the server sends. Each is serialized once per event and the
//! same bytes are shared by every recipient.

mod views;

pub use views::*;

use super::Ref;
use serde::Serialize;

/// Stable error codes carried by `error` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON.
    InvalidJson,
    /// JSON, but not an object with a string `type`.
    InvalidMessage,
    /// The `type` is not one the server knows.
    UnknownType,
    /// A field is missing, unknown, ill-typed or out of range.
    InvalidField,
    /// The message is larger than `websocket.max_message_bytes`.
    MessageTooLarge,
    /// Binary frames are not part of the JSON protocol.
    BinaryNotSupported,
    /// Too many messages; `retry_after_ms` says when to try again.
    RateLimited,
    /// `auth:refresh` with an invalid or expired token.
    InvalidToken,
    /// `auth:refresh` with a token for another user or tenant.
    AuthMismatch,
    /// The request needs the connection to be in that room first.
    NotInRoom,
    /// The connection is already in `rooms.max_rooms_per_connection` rooms.
    TooManyRooms,
    /// `presence:subscribe` would pass `presence.max_subscriptions` users.
    TooManySubscriptions,
    /// The server failed; the request may be retried.
    Internal,
    /// `doc:edit` based on a revision the server does not have (too new or
    /// older than the kept history): fetch `doc:state` and rebase.
    ResyncRequired,
    /// The op does not fit the field's text (length mismatch).
    InvalidOp,
    /// Another user holds a hard lock on that field or the entity.
    Locked,
    /// Another user holds an overlapping lock.
    LockConflict,
    /// `doc:unlock` of a lock this user does not hold.
    NotLocked,
    /// Nothing to undo or redo (or it is older than the kept history).
    NothingToUndo,
    /// The field exists with the other kind (text vs structured).
    WrongFieldKind,
    /// No such item for this user (`notification:read` of an unknown id).
    NotFound,
    /// Storage is behind (PostgreSQL slow or down): the change was not
    /// applied; retry after `retry_after_ms`.
    Unavailable,
}
/// Every message the server sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    /// First message on every socket.
    #[serde(rename = "welcome")]
    Welcome {
        /// This connection's id.
        connection_id: String,
        /// The user, from the token.
        user_id: String,
        /// The tenant, from the token.
        tenant_id: String,
        /// Server time, RFC 3339.
        server_time: String,
        /// Token expiry, seconds since the epoch.
        token_expires_at: i64,
        /// Seconds between server pings.
        ping_interval_secs: u64,
        /// Largest accepted message in bytes.
        max_message_bytes: usize,
    },
    /// Success reply to a request that carried a `ref`.
    #[serde(rename = "ack")]
    Ack {
        /// The request's `ref`.
        #[serde(rename = "ref")]
        r#ref: Ref,
        /// Request-specific result, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Value>,
    },
    /// Failure reply; carries the request's `ref` when it had one.
    #[serde(rename = "error")]
    Error {
        /// The request's `ref`, or null.
        #[serde(rename = "ref")]
        r#ref: Option<Ref>,
        /// Stable code.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
        /// For `rate_limited`: milliseconds until a message will be accepted;
        /// for `unavailable`: milliseconds before retrying the change.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// Reply to `heartbeat`.
    #[serde(rename = "heartbeat_ack")]
    HeartbeatAck {
        /// The request's `ref`, if any.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        /// Server time, RFC 3339.
        server_time: String,
    },
    /// The connection's roster, replacing what it held (on connect, on
    /// `presence:list`, and when the tenant changes mode).
    #[serde(rename = "presence:list")]
    PresenceList {
        /// The request's `ref`, if any.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        /// `all`: every user online in the tenant; `interest`: the
        /// connection's own user, its subscriptions and its rooms' members.
        mode: &'static str,
        /// Those users who are online, by user id.
        users: Vec<PresenceView>,
    },
    /// What changed in the roster during one window
    /// (`presence.diff_interval_ms`). `joined` and `updated` entries replace
    /// the user's entry; `left` and `unwatched` remove it.
    #[serde(rename = "presence:diff")]
    PresenceDiff {
        /// Users who came online.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        joined: Vec<std::sync::Arc<serde_json::value::RawValue>>,
        /// Users whose status, devices or location changed (interest mode:
        /// also users newly watched while online).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        updated: Vec<std::sync::Arc<serde_json::value::RawValue>>,
        /// User ids that went offline.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        left: Vec<String>,
        /// Interest mode: user ids still online but no longer watched.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unwatched: Vec<String>,
    },
    /// Who is viewing an entity (reply to `presence:viewers`).
    #[serde(rename = "presence:viewers")]
    PresenceViewers {
        /// The request's `ref`, if any.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Users whose location is that entity.
        users: Vec<PresenceView>,
    },
    /// Sent to a joiner: everyone in the room, the joiner included (up to
    /// `rooms.users_list_max`). Also sent, with no `ref`, to every member of
    /// a large room that has become small again: it replaces their list.
    #[serde(rename = "room:users")]
    RoomUsers {
        /// The `room:join`'s `ref`, if any.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Members (each a `MemberView`, serialized when it last changed),
        /// by user id: at most `rooms.users_list_max` of them.
        users: Vec<std::sync::Arc<serde_json::value::RawValue>>,
        /// Member users in the room (all of them, listed or not).
        total_users: usize,
        /// Set when `users` is the first page of a large room: the last
        /// listed user id, to pass as `after` in `room:members`.
        #[serde(skip_serializing_if = "Option::is_none")]
        next_after: Option<String>,
        /// Who is editing which field.
        editors: Vec<EditorView>,
        /// Who is typing.
        typing: Vec<TypingView>,
    },
    /// A user joined the room (first device) or added a device.
    #[serde(rename = "room:user_joined")]
    RoomUserJoined {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// The member now (a `MemberView`).
        user: std::sync::Arc<serde_json::value::RawValue>,
        /// Member users in the room now.
        total_users: usize,
    },
    /// Several connections joined within one `rooms.join_batch_ms` window
    /// (sent to every member, the joiners included).
    #[serde(rename = "room:users_joined")]
    RoomUsersJoined {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Each joined user as a member now (`MemberView`s), by user id.
        users: Vec<std::sync::Arc<serde_json::value::RawValue>>,
        /// Member users in the room now.
        total_users: usize,
    },
    /// The member count of a large room changed: in a room of more than
    /// `rooms.users_list_max` member users, joins and leaves are counted,
    /// at most once per `rooms.count_interval_ms`, not listed.
    #[serde(rename = "room:count")]
    RoomCount {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Member users in the room now.
        total_users: usize,
    },
    /// A page of a room's members (reply to `room:members`).
    #[serde(rename = "room:members")]
    RoomMembers {
        /// The request's `ref`, if any.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Members (`MemberView`s) after the request's `after`, by user id.
        users: Vec<std::sync::Arc<serde_json::value::RawValue>>,
        /// Member users in the room.
        total_users: usize,
        /// Set when more members follow: the `after` of the next page.
        #[serde(skip_serializing_if = "Option::is_none")]
        next_after: Option<String>,
    },
    /// A connection left the room; `user_left` is true when it was the user's last.
    #[serde(rename = "room:user_left")]
    RoomUserLeft {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// User id.
        user_id: String,
        /// The connection that left.
        connection_id: String,
        /// True when the user has no connection left in the room.
        user_left: bool,
        /// Member users in the room now.
        total_users: usize,
    },
    /// Several connections left within one `rooms.join_batch_ms` window.
    #[serde(rename = "room:users_left")]
    RoomUsersLeft {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Each leave, in order.
        left: Vec<LeftView>,
        /// Member users in the room now.
        total_users: usize,
    },
    /// Every current cursor, sent to a joiner.
    #[serde(rename = "cursor:sync")]
    CursorSync {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Cursors.
        cursors: Vec<CursorView>,
    },
    /// A member's cursor moved.
    #[serde(rename = "cursor:update")]
    CursorUpdate {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// The cursor.
        cursor: CursorView,
    },
    /// A member's cursor is gone (they left).
    #[serde(rename = "cursor:remove")]
    CursorRemove {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// User id.
        user_id: String,
        /// Connection.
        connection_id: String,
    },
    /// Who is typing in the room now.
    #[serde(rename = "typing:users")]
    TypingUsers {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Typers.
        users: Vec<TypingView>,
    },
    /// Who is editing which field now.
    #[serde(rename = "editing:users")]
    EditingUsers {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Editors.
        editors: Vec<EditorView>,
    },
    /// An app event from another member or a backend service.
    #[serde(rename = "room:broadcast")]
    RoomBroadcast {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Sender's user id (`service` for backend broadcasts).
        from_user_id: String,
        /// App-defined event name.
        event: String,
        /// App-defined payload.
        payload: serde_json::Value,
    },
    /// A document's current state (reply to `doc:sync`).
    #[serde(rename = "doc:state")]
    DocState {
        /// The request's `ref`, if any.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Document version (counts every change).
        version: u64,
        /// Text fields: `{name: {text, revision}}`.
        fields: std::collections::BTreeMap<String, crate::collab::document::TextField>,
        /// Structured fields: `{name: {value, version, updated_by}}`.
        values: std::collections::BTreeMap<String, crate::collab::document::ValueField>,
        /// Current locks.
        locks: Vec<LockView>,
    },
    /// A text op applied by the server (another member's edit, or anyone's undo/redo).
    #[serde(rename = "doc:op")]
    DocOp {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Field.
        field: String,
        /// The field revision this op produced (apply it on top of revision - 1).
        revision: u64,
        /// Document version after it.
        version: u64,
        /// The op.
        op: crate::collab::ot::TextOperation,
        /// Author.
        user_id: String,
        /// Author's client id.
        client_id: String,
        /// Author's sequence number.
        seq: u64,
        /// `edit`, `undo` or `redo`.
        kind: &'static str,
    },
    /// A structured field changed.
    #[serde(rename = "doc:field")]
    DocField {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Field.
        field: String,
        /// New value.
        value: serde_json::Value,
        /// New field version.
        field_version: u64,
        /// Document version.
        version: u64,
        /// Who changed it.
        user_id: String,
    },
    /// Reply to a `doc:set` whose field changed since the client's version.
    /// Resolve by sending `doc:set` again with `current_version`.
    #[serde(rename = "doc:conflict")]
    DocConflict {
        /// The request's `ref`, if any.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Field.
        field: String,
        /// What the client tried to set.
        your_value: serde_json::Value,
        /// The value now.
        current_value: serde_json::Value,
        /// The field version now.
        current_version: u64,
        /// Who changed it last.
        changed_by: String,
    },
    /// The document's locks changed.
    #[serde(rename = "doc:lock_status")]
    DocLockStatus {
        /// Entity type.
        entity_type: String,
        /// Entity id.
        entity_id: String,
        /// Every current lock.
        locks: Vec<LockView>,
    },
    /// A notification for this user: live, or part of a `notification:sync`
    /// reply (then it carries the sync's `ref`).
    #[serde(rename = "notification")]
    Notification {
        /// The `notification:sync`'s `ref`; absent on live delivery.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        /// The stored notification.
        notification: NotificationView,
    },
    /// This user's unread notification count (on connect, after each new
    /// notification, read mark or deletion, and in a sync reply).
    #[serde(rename = "notification:count")]
    NotificationCount {
        /// The `notification:sync`'s `ref`, if any.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        /// Unread, unexpired notifications.
        unread: i64,
    },
    /// An activity-feed entry this user may see.
    #[serde(rename = "activity")]
    Activity {
        /// The stored entry.
        activity: ActivityView,
    },
    /// A message from the operators (admin API): to every connection of a
    /// tenant, or of every tenant.
    #[serde(rename = "system:message")]
    SystemMessage {
        /// `info`, `warning` or `critical`.
        level: String,
        /// The text to show.
        message: String,
        /// `tenant` (sent to the connection's tenant) or `all` (every tenant).
        scope: String,
        /// When it was sent (RFC 3339).
        sent_at: String,
    },
}

impl ServerMessage {
    /// An `error` reply.
    pub fn error(r#ref: Option<Ref>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            r#ref,
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }
}
