//! Queries for collaborative documents: events, snapshots, sessions and
//! edit locks. Every query is scoped by tenant and entity.

use super::schema::{collaboration_events, collaboration_sessions, document_snapshots, edit_locks};
use super::{DbConn, DbError};
use crate::collab::document::{Change, Snapshot};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Which document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocKey {
    /// Tenant.
    pub tenant_id: String,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
}

/// A change to append to collaboration_events.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = collaboration_events)]
pub struct NewEvent {
    /// Tenant.
    pub tenant_id: String,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// Session row, when known.
    pub session_id: Option<i64>,
    /// Author.
    pub user_id: String,
    /// Author's client id.
    pub client_id: Option<String>,
    /// Author's sequence number.
    pub client_seq: Option<i64>,
    /// `edit`, `undo`, `redo` or `set`.
    pub event_type: String,
    /// Field.
    pub field_name: Option<String>,
    /// The [`Change`] as JSON.
    pub event_data: serde_json::Value,
    /// Document version it produced.
    pub version: i64,
    /// Version before it.
    pub parent_version: Option<i64>,
}

/// A snapshot row.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = document_snapshots)]
pub struct NewSnapshot {
    /// Tenant.
    pub tenant_id: String,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// Version.
    pub version: i64,
    /// The [`Snapshot`] as JSON.
    pub content: serde_json::Value,
}

/// A lock row.
#[derive(Debug, Clone, Insertable, Queryable)]
#[diesel(table_name = edit_locks)]
pub struct LockRow {
    /// Tenant.
    pub tenant_id: String,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// '' for the whole entity.
    pub field_name: String,
    /// Holder.
    pub user_id: String,
    /// `soft` or `hard`.
    pub lock_type: String,
    /// Why.
    pub reason: Option<String>,
    /// Taken.
    pub acquired_at: DateTime<Utc>,
    /// Lapses.
    pub expires_at: DateTime<Utc>,
    /// Holder's display name (older rows have none).
    pub user_name: Option<String>,
}

/// A session row as REST shows it.
#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct SessionRow {
    /// Id.
    pub id: i64,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// Users in the room at the last update.
    pub active_users: Vec<Option<String>>,
    /// Most users at once.
    pub max_concurrent_users: i32,
    /// Changes applied.
    pub total_edits: i64,
    /// Conflicts that were resolved by a resend.
    pub total_conflicts_resolved: i64,
    /// Opened.
    pub started_at: DateTime<Utc>,
    /// Last change.
    pub last_activity_at: DateTime<Utc>,
    /// Closed (null while open).
    pub ended_at: Option<DateTime<Utc>>,
}

/// Session counters written by the document session.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = collaboration_sessions)]
pub struct SessionUpdate {
    /// Users in the room now.
    pub active_users: Vec<Option<String>>,
    /// Most users at once.
    pub max_concurrent_users: i32,
    /// Changes applied.
    pub total_edits: i64,
    /// Conflicts resolved.
    pub total_conflicts_resolved: i64,
    /// Last change.
    pub last_activity_at: DateTime<Utc>,
    /// Set when the session closes.
    pub ended_at: Option<DateTime<Utc>>,
}

/// Loads the latest snapshot at or below `max_version` and the changes after
/// it up to `max_version`, with their authors.
pub async fn load(
    conn: &mut DbConn,
    key: &DocKey,
    max_version: Option<i64>,
) -> Result<(Option<Snapshot>, Vec<(Change, String)>), DbError> {
    use collaboration_events::dsl as e;
    use document_snapshots::dsl as s;
    let limit = max_version.unwrap_or(i64::MAX);
    let snapshot: Option<serde_json::Value> = s::document_snapshots
        .filter(s::tenant_id.eq(&key.tenant_id))
        .filter(s::entity_type.eq(&key.entity_type))
        .filter(s::entity_id.eq(&key.entity_id))
        .filter(s::version.le(limit))
        .order(s::version.desc())
        .select(s::content)
        .first(conn)
        .await
        .optional()?;
    let snapshot: Option<Snapshot> = match snapshot {
        Some(json) => Some(
            serde_json::from_value(json)
                .map_err(|err| DbError::Corrupt(format!("snapshot of {key:?}: {err}")))?,
        ),
        None => None,
    };
    let from = snapshot.as_ref().map_or(0, |s| s.version as i64);
    let rows: Vec<(serde_json::Value, String)> = e::collaboration_events
        .filter(e::tenant_id.eq(&key.tenant_id))
        .filter(e::entity_type.eq(&key.entity_type))
        .filter(e::entity_id.eq(&key.entity_id))
        .filter(e::event_type.eq_any(["edit", "undo", "redo", "set"]))
        .filter(e::version.gt(from))
        .filter(e::version.le(limit))
        .order(e::version.asc())
        .select((e::event_data, e::user_id))
        .load(conn)
        .await?;
    let mut changes = Vec::with_capacity(rows.len());
    for (json, user) in rows {
        let change = serde_json::from_value(json)
            .map_err(|err| DbError::Corrupt(format!("event of {key:?}: {err}")))?;
        changes.push((change, user));
    }
    Ok((snapshot, changes))
}

/// Stores change rows in one multi-row statement. Rows whose version is
/// already stored are skipped (a retry after a commit whose answer was lost).
pub async fn insert_events(
    conn: &mut DbConn,
    events: &[std::sync::Arc<NewEvent>],
) -> Result<(), DbError> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<&NewEvent> = events.iter().map(|e| &**e).collect();
    diesel::insert_into(collaboration_events::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores a snapshot (idempotent per version).
pub async fn insert_snapshot(conn: &mut DbConn, snapshot: &NewSnapshot) -> Result<(), DbError> {
    diesel::insert_into(document_snapshots::table)
        .values(snapshot)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// Opens a session row (closing any left open by a crash) and returns its id.
pub async fn open_session(conn: &mut DbConn, key: &DocKey) -> Result<i64, DbError> {
    use collaboration_sessions::dsl as c;
    diesel::update(
        c::collaboration_sessions
            .filter(c::tenant_id.eq(&key.tenant_id))
            .filter(c::entity_type.eq(&key.entity_type))
            .filter(c::entity_id.eq(&key.entity_id))
            .filter(c::ended_at.is_null()),
    )
    .set(c::ended_at.eq(Some(Utc::now())))
    .execute(conn)
    .await?;
    let id = diesel::insert_into(c::collaboration_sessions)
        .values((
            c::tenant_id.eq(&key.tenant_id),
            c::entity_type.eq(&key.entity_type),
            c::entity_id.eq(&key.entity_id),
            c::room_id.eq(format!("{}:{}", key.entity_type, key.entity_id)),
        ))
        .returning(c::id)
        .get_result(conn)
        .await?;
    Ok(id)
}

/// Updates a session's counters (and closes it when `ended_at` is set).
pub async fn update_session(
    conn: &mut DbConn,
    id: i64,
    update: &SessionUpdate,
) -> Result<(), DbError> {
    use collaboration_sessions::dsl as c;
    diesel::update(c::collaboration_sessions.find(id))
        .set(update)
        .execute(conn)
        .await?;
    Ok(())
}

/// Open sessions of a tenant.
pub async fn open_sessions(conn: &mut DbConn, tenant: &str) -> Result<Vec<SessionRow>, DbError> {
    use collaboration_sessions::dsl as c;
    Ok(c::collaboration_sessions
        .filter(c::tenant_id.eq(tenant))
        .filter(c::ended_at.is_null())
        .order(c::started_at.desc())
        .select((
            c::id,
            c::entity_type,
            c::entity_id,
            c::active_users,
            c::max_concurrent_users,
            c::total_edits,
            c::total_conflicts_resolved,
            c::started_at,
            c::last_activity_at,
            c::ended_at,
        ))
        .load(conn)
        .await?)
}

/// Totals over every session of a document: (edits, conflicts resolved).
pub async fn session_totals(conn: &mut DbConn, key: &DocKey) -> Result<(i64, i64), DbError> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Totals {
        #[diesel(sql_type = BigInt)]
        edits: i64,
        #[diesel(sql_type = BigInt)]
        conflicts: i64,
    }
    let totals: Totals = diesel::sql_query(
        "SELECT COALESCE(SUM(total_edits), 0)::bigint AS edits, \
                COALESCE(SUM(total_conflicts_resolved), 0)::bigint AS conflicts \
         FROM collaboration_sessions \
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3",
    )
    .bind::<Text, _>(&key.tenant_id)
    .bind::<Text, _>(&key.entity_type)
    .bind::<Text, _>(&key.entity_id)
    .get_result(conn)
    .await?;
    Ok((totals.edits, totals.conflicts))
}

/// Unexpired locks of a document.
pub async fn load_locks(conn: &mut DbConn, key: &DocKey) -> Result<Vec<LockRow>, DbError> {
    use edit_locks::dsl as l;
    Ok(l::edit_locks
        .filter(l::tenant_id.eq(&key.tenant_id))
        .filter(l::entity_type.eq(&key.entity_type))
        .filter(l::entity_id.eq(&key.entity_id))
        .filter(l::expires_at.gt(Utc::now()))
        .select((
            l::tenant_id,
            l::entity_type,
            l::entity_id,
            l::field_name,
            l::user_id,
            l::lock_type,
            l::reason,
            l::acquired_at,
            l::expires_at,
            l::user_name,
        ))
        .load(conn)
        .await?)
}

/// Replaces a document's lock rows with the current set (expired and
/// released locks disappear).
pub async fn replace_locks(
    conn: &mut DbConn,
    key: &DocKey,
    rows: &[LockRow],
) -> Result<(), DbError> {
    use edit_locks::dsl as l;
    diesel::delete(
        l::edit_locks
            .filter(l::tenant_id.eq(&key.tenant_id))
            .filter(l::entity_type.eq(&key.entity_type))
            .filter(l::entity_id.eq(&key.entity_id)),
    )
    .execute(conn)
    .await?;
    if !rows.is_empty() {
        diesel::insert_into(l::edit_locks)
            .values(rows)
            .execute(conn)
            .await?;
    }
    Ok(())
}
