//! Commit-ordered notification ids per user.
//!
//! Ids come from one sequence, and two transactions can commit out of id
//! order: a reader that saw id 11 and resumes "after 11" would never see id
//! 10 committing later. [`lock_recipients`] runs first in the transaction
//! that stores notifications: it locks each recipient's `notification_writers`
//! row (upserting it, in sorted order so writers never deadlock), so a second
//! writer for the same user waits until the first commits and only then takes
//! its ids. Per user, id order is then commit order. Row locks live in the
//! rows, so a 1000-recipient insert does not fill PostgreSQL's lock table.

use super::DbError;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Locks the recipients' writer rows until the transaction ends. Must run
/// inside the transaction that then inserts their notifications.
pub async fn lock_recipients(
    conn: &mut AsyncPgConnection,
    tenant: &str,
    users: &[String],
) -> Result<(), DbError> {
    let mut users = users.to_vec();
    users.sort();
    users.dedup();
    diesel::sql_query(
        "INSERT INTO notification_writers (tenant_id, user_id) \
         SELECT $1, u FROM unnest($2::text[]) AS u ORDER BY u \
         ON CONFLICT (tenant_id, user_id) \
         DO UPDATE SET writes = notification_writers.writes + 1",
    )
    .bind::<Text, _>(tenant)
    .bind::<Array<Text>, _>(users)
    .execute(conn)
    .await?;
    Ok(())
}
