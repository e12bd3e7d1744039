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

/// A change to append to collaboration_events (stored by [`insert_events`]).
#[derive(Debug, Clone)]
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
    /// The [`Change`] as JSON text (PostgreSQL parses it into `jsonb`).
    pub event_data: String,
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

/// Stores change rows in one statement, whatever their number. Rows whose
/// version is already stored are skipped (a retry after a commit whose
/// answer was lost).
pub async fn insert_events(
    conn: &mut diesel_async::AsyncPgConnection,
    events: &[std::sync::Arc<NewEvent>],
) -> Result<(), DbError> {
    use diesel::result::{DatabaseErrorKind, Error};
    if events.is_empty() {
        return Ok(());
    }
    match InsertEvents::<false>::new(events).execute(conn).await {
        Ok(_) => Ok(()),
        // Some row is stored already, so the statement stored nothing:
        // store the others.
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            InsertEvents::<true>::new(events).execute(conn).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The statement behind [`insert_events`]: each column is bound as one
/// array and `unnest` turns the arrays back into rows. A multi-row
/// `VALUES` list would be a different statement for every batch size, so
/// PostgreSQL would parse, analyse and plan twelve parameters per row on
/// every flush (a fifth of its time under the many-documents bench). This
/// text is fixed: diesel prepares it once per connection (the static query
/// id makes it cacheable) and the server keeps its plan.
///
/// Plain, the insert fails on a version already stored. `SKIP_STORED` adds
/// `ON CONFLICT ... DO NOTHING` on the version index; it is kept for the
/// retry after such a failure, because it probes the index once more for
/// every row (an eighth of PostgreSQL's time per edit), and a stored
/// version only comes back after a commit whose answer was lost.
struct InsertEvents<'a, const SKIP_STORED: bool> {
    tenant_id: Vec<&'a str>,
    entity_type: Vec<&'a str>,
    entity_id: Vec<&'a str>,
    session_id: Vec<Option<i64>>,
    user_id: Vec<&'a str>,
    client_id: Vec<Option<&'a str>>,
    client_seq: Vec<Option<i64>>,
    event_type: Vec<&'a str>,
    field_name: Vec<Option<&'a str>>,
    event_data: Vec<&'a str>,
    version: Vec<i64>,
    parent_version: Vec<Option<i64>>,
}

impl<'a, const SKIP_STORED: bool> InsertEvents<'a, SKIP_STORED> {
    fn new(events: &'a [std::sync::Arc<NewEvent>]) -> Self {
        let column = |f: fn(&'a NewEvent) -> &'a str| events.iter().map(|e| f(e)).collect();
        InsertEvents {
            tenant_id: column(|e| &e.tenant_id),
            entity_type: column(|e| &e.entity_type),
            entity_id: column(|e| &e.entity_id),
            session_id: events.iter().map(|e| e.session_id).collect(),
            user_id: column(|e| &e.user_id),
            client_id: events.iter().map(|e| e.client_id.as_deref()).collect(),
            client_seq: events.iter().map(|e| e.client_seq).collect(),
            event_type: column(|e| &e.event_type),
            field_name: events.iter().map(|e| e.field_name.as_deref()).collect(),
            event_data: column(|e| &e.event_data),
            version: events.iter().map(|e| e.version).collect(),
            parent_version: events.iter().map(|e| e.parent_version).collect(),
        }
    }
}

/// [`InsertEvents`]' query id: the SQL text depends on `SKIP_STORED` only.
struct InsertEventsQuery<const SKIP_STORED: bool>;

impl<const SKIP_STORED: bool> diesel::query_builder::QueryId for InsertEvents<'_, SKIP_STORED> {
    type QueryId = InsertEventsQuery<SKIP_STORED>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const SKIP_STORED: bool> diesel::query_builder::QueryFragment<diesel::pg::Pg>
    for InsertEvents<'_, SKIP_STORED>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, Int8, Nullable, Text};
        out.push_sql(
            "INSERT INTO collaboration_events (tenant_id, entity_type, entity_id, session_id, \
             user_id, client_id, client_seq, event_type, field_name, event_data, version, \
             parent_version) SELECT t, et, ei, s, u, c, cs, k, f, d::jsonb, v, pv FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.tenant_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.entity_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.entity_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Int8>>, _>(&self.session_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.client_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Int8>>, _>(&self.client_seq)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.event_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.field_name)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.event_data)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Int8>, _>(&self.version)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Int8>>, _>(&self.parent_version)?;
        out.push_sql(") AS r(t, et, ei, s, u, c, cs, k, f, d, v, pv)");
        if SKIP_STORED {
            out.push_sql(
                " ON CONFLICT (tenant_id, entity_type, entity_id, version) \
                 WHERE event_type IN ('edit', 'set', 'undo', 'redo') DO NOTHING",
            );
        }
        Ok(())
    }
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
