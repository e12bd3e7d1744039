//! `[presence]`, `[rooms]`, `[documents]` and `[yjs]`: timeouts and limits of the collaboration actors.

use super::*;

/// `[presence]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PresenceSettings {
    /// Seconds without activity on any connection before a user is `away`.
    pub away_after_secs: u64,
    /// Milliseconds a user with no connections stays listed before `offline`.
    pub offline_grace_ms: u64,
    /// Milliseconds over which roster changes are collected into one
    /// `presence:diff` per connection (1 to 5000).
    pub diff_interval_ms: u64,
    /// Above this many users online in a tenant, connections get presence
    /// by interest (own user, subscriptions, room members) instead of the
    /// whole roster; back to the whole roster at 10 % below.
    pub tenant_roster_max: usize,
    /// In interest mode, the members of a room watch each other only while
    /// it has at most this many members (connections here plus users on
    /// other nodes); in a bigger room `room:users` and the room's join and
    /// leave events say who is there, and `presence:subscribe` gives the
    /// status of chosen members. Back to watching at 10 % below.
    pub room_watch_max: usize,
    /// Users one connection may `presence:subscribe` to.
    pub max_subscriptions: usize,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        PresenceSettings {
            away_after_secs: 300,
            offline_grace_ms: 5000,
            diff_interval_ms: 50,
            tenant_roster_max: 500,
            room_watch_max: 100,
            max_subscriptions: 256,
        }
    }
}

/// `[rooms]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomSettings {
    /// Seconds an empty room lingers before it stops.
    pub idle_stop_secs: u64,
    /// Cursor updates per second relayed for one member (extra ones are coalesced).
    pub cursor_rate_per_second: u32,
    /// Seconds a `typing:start` lasts without renewal.
    pub typing_timeout_secs: u64,
    /// Rooms one connection may be in at once.
    pub max_rooms_per_connection: usize,
    /// Milliseconds over which joins (and, separately, leaves) are
    /// collected and announced to the other members together (1 to 5000).
    pub join_batch_ms: u64,
    /// Member users listed in a joiner's `room:users`; a bigger room lists
    /// the first ones (by user id) with `next_after`, and the client pages
    /// through the rest with `room:members` (1 to 10000).
    pub users_list_max: usize,
    /// In a room of more than `users_list_max` member users, joins and
    /// leaves are not listed but counted: one `room:count` per member at
    /// most this often, in milliseconds (1 to 60000).
    pub count_interval_ms: u64,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            idle_stop_secs: 30,
            cursor_rate_per_second: 20,
            typing_timeout_secs: 5,
            max_rooms_per_connection: 32,
            join_batch_ms: 50,
            users_list_max: 100,
            count_interval_ms: 1000,
        }
    }
}

/// `[documents]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocumentSettings {
    /// Ops kept per text field for transforming late edits; older bases must resync.
    pub max_history: usize,
    /// A snapshot is written every this many changes (and when the session closes).
    pub snapshot_every: u64,
    /// Default lock lifetime in seconds (holders renew with `doc:lock`).
    pub lock_ttl_secs: u64,
    /// Longest lock lifetime a client may ask for.
    pub max_lock_ttl_secs: u64,
    /// Largest text field, in code points.
    pub max_field_chars: usize,
    /// Writes a document may have queued behind the one running; past it,
    /// changes are refused with `unavailable` until storage catches up (a
    /// Yjs document closes the sender of an update with 1013).
    pub max_pending_writes: usize,
    /// Group commit: the node's change writer flushes once this many rows
    /// (from all documents) are waiting, in one multi-row insert (1–4000).
    pub batch_max_rows: usize,
    /// Group commit: ... or once the oldest waiting row has waited this many
    /// microseconds while another flush runs (0–2000).
    pub batch_wait_us: u64,
}

impl Default for DocumentSettings {
    fn default() -> Self {
        DocumentSettings {
            max_history: 1000,
            snapshot_every: 100,
            lock_ttl_secs: 30,
            max_lock_ttl_secs: 600,
            max_field_chars: 1_000_000,
            max_pending_writes: 1000,
            batch_max_rows: 500,
            batch_wait_us: 1000,
        }
    }
}

/// `[yjs]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct YjsSettings {
    /// Largest encoded state of one Yjs document, in bytes; an update that
    /// would take a document past it is refused (close 4413).
    pub max_document_bytes: usize,
}

impl Default for YjsSettings {
    fn default() -> Self {
        YjsSettings {
            max_document_bytes: 16 * 1024 * 1024,
        }
    }
}
