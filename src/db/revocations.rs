//! `user_revocations`: users whose tokens are refused until a time (admin
//! disconnects with a revocation). Loaded into the authenticator at start.

use super::schema::user_revocations as r;
use super::{DbConn, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

/// Revocations still in force: (tenant, user, until).
pub async fn active(conn: &mut DbConn) -> Result<Vec<(String, String, DateTime<Utc>)>, DbError> {
    Ok(r::table
        .filter(r::revoked_until.gt(Utc::now()))
        .select((r::tenant_id, r::user_id, r::revoked_until))
        .load(conn)
        .await?)
}

/// Stores (or replaces) a user's revocation.
pub async fn upsert(
    conn: &mut DbConn,
    tenant: &str,
    user: &str,
    until: DateTime<Utc>,
    reason: Option<&str>,
    by: &str,
) -> Result<(), DbError> {
    diesel::insert_into(r::table)
        .values((
            r::tenant_id.eq(tenant),
            r::user_id.eq(user),
            r::revoked_until.eq(until),
            r::reason.eq(reason),
            r::revoked_by.eq(by),
        ))
        .on_conflict((r::tenant_id, r::user_id))
        .do_update()
        .set((
            r::revoked_until.eq(excluded(r::revoked_until)),
            r::reason.eq(excluded(r::reason)),
            r::revoked_by.eq(excluded(r::revoked_by)),
            r::created_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes a user's revocation; true when there was one in force.
pub async fn delete(conn: &mut DbConn, tenant: &str, user: &str) -> Result<bool, DbError> {
    let removed: Vec<DateTime<Utc>> = diesel::delete(
        r::table
            .filter(r::tenant_id.eq(tenant))
            .filter(r::user_id.eq(user)),
    )
    .returning(r::revoked_until)
    .get_results(conn)
    .await?;
    Ok(removed.iter().any(|until| *until > Utc::now()))
}
