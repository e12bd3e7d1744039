//! Reading and updating stored notifications: counts, listing, sync,
//! read marks and deletion; expired rows are never returned or marked.

use super::*;

/// Unread, unexpired notifications of one user.
pub async fn unread_count(db: &Db, tenant: &TenantId, user: &UserId) -> Result<i64, NotifyError> {
    let mut conn = db.conn().await?;
    Ok(realtime_notifications::table
        .filter(mine!(tenant.as_str(), user.as_str()))
        .filter(realtime_notifications::is_read.eq(false))
        .filter(live!())
        .count()
        .get_result(&mut conn)
        .await?)
}

/// Whether anyone in `tenant` (in any tenant for `None`) has an unread,
/// live notification: the probe behind [`crate::notify::unread::UnreadCache`].
pub async fn has_unread(db: &Db, tenant: Option<&str>) -> Result<bool, NotifyError> {
    let mut conn = db.conn().await?;
    let mut unread = realtime_notifications::table
        .filter(realtime_notifications::is_read.eq(false))
        .filter(live!())
        .into_boxed();
    if let Some(tenant) = tenant {
        unread = unread.filter(realtime_notifications::tenant_id.eq(tenant));
    }
    Ok(diesel::select(diesel::dsl::exists(unread))
        .get_result(&mut conn)
        .await?)
}

/// Unread counts of several users (users with none are listed with 0).
pub async fn unread_counts(
    db: &Db,
    tenant: &TenantId,
    users: &[String],
) -> Result<HashMap<String, i64>, NotifyError> {
    let mut conn = db.conn().await?;
    let rows: Vec<(String, i64)> = realtime_notifications::table
        .filter(realtime_notifications::tenant_id.eq(tenant.as_str()))
        .filter(realtime_notifications::user_id.eq_any(users))
        .filter(realtime_notifications::is_read.eq(false))
        .filter(live!())
        .group_by(realtime_notifications::user_id)
        .select((realtime_notifications::user_id, diesel::dsl::count_star()))
        .load(&mut conn)
        .await?;
    let mut out: HashMap<String, i64> = users.iter().map(|u| (u.clone(), 0)).collect();
    out.extend(rows);
    Ok(out)
}

/// What `GET /api/v1/notifications` filters by.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only unread ones.
    pub unread_only: bool,
    /// Only this type.
    pub notification_type: Option<String>,
    /// Only ids below this (paging back, newest first).
    pub before_id: Option<i64>,
    /// Only ids above this, oldest first (resuming).
    pub after_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// One page of a user's notifications: newest first, or oldest first when
/// `after_id` is given. The bool is true when more rows match.
pub async fn list(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
    filter: &ListFilter,
) -> Result<(Vec<NotificationRow>, bool), NotifyError> {
    let mut query = realtime_notifications::table
        .filter(mine!(tenant.as_str(), user.as_str()))
        .filter(live!())
        .select(NotificationRow::as_select())
        .limit(filter.limit + 1)
        .into_boxed();
    if filter.unread_only {
        query = query.filter(realtime_notifications::is_read.eq(false));
    }
    if let Some(t) = &filter.notification_type {
        query = query.filter(realtime_notifications::notification_type.eq(t.clone()));
    }
    if let Some(b) = filter.before_id {
        query = query.filter(realtime_notifications::id.lt(b));
    }
    query = match filter.after_id {
        Some(a) => query
            .filter(realtime_notifications::id.gt(a))
            .order(realtime_notifications::id.asc()),
        None => query.order(realtime_notifications::id.desc()),
    };
    let mut conn = db.conn().await?;
    let mut rows: Vec<NotificationRow> = query.load(&mut conn).await?;
    let more = rows.len() as i64 > filter.limit;
    rows.truncate(filter.limit.max(0) as usize);
    Ok((rows, more))
}

/// The user's notifications with an id above `after_id`, oldest first, at
/// most `limit`; true when more follow.
pub async fn after(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
    after_id: i64,
    limit: i64,
) -> Result<(Vec<NotificationRow>, bool), NotifyError> {
    list(
        db,
        tenant,
        user,
        &ListFilter {
            after_id: Some(after_id),
            limit,
            ..ListFilter::default()
        },
    )
    .await
}

/// The newest notification id of a user (0 when none).
pub async fn max_id(db: &Db, tenant: &TenantId, user: &UserId) -> Result<i64, NotifyError> {
    let mut conn = db.conn().await?;
    let max: Option<i64> = realtime_notifications::table
        .filter(mine!(tenant.as_str(), user.as_str()))
        .select(diesel::dsl::max(realtime_notifications::id))
        .get_result(&mut conn)
        .await?;
    Ok(max.unwrap_or(0))
}

/// Marks one notification read (idempotent). `NotFound` when it is not
/// this user's in this tenant, or expired.
pub async fn mark_read(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
    id: i64,
) -> Result<(), NotifyError> {
    let mut conn = db.conn().await?;
    let updated = diesel::update(
        realtime_notifications::table
            .filter(mine!(tenant.as_str(), user.as_str()))
            .filter(realtime_notifications::id.eq(id))
            .filter(realtime_notifications::is_read.eq(false))
            .filter(live!()),
    )
    .set((
        realtime_notifications::is_read.eq(true),
        realtime_notifications::read_at.eq(diesel::dsl::now),
    ))
    .execute(&mut conn)
    .await?;
    if updated == 0 {
        let exists: i64 = realtime_notifications::table
            .filter(mine!(tenant.as_str(), user.as_str()))
            .filter(realtime_notifications::id.eq(id))
            .filter(live!())
            .count()
            .get_result(&mut conn)
            .await?;
        if exists == 0 {
            return Err(NotifyError::NotFound(format!("no notification {id}")));
        }
    }
    Ok(())
}

/// Marks every unread notification of the user read; returns how many.
pub async fn mark_all_read(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
) -> Result<usize, NotifyError> {
    let mut conn = db.conn().await?;
    Ok(diesel::update(
        realtime_notifications::table
            .filter(mine!(tenant.as_str(), user.as_str()))
            .filter(realtime_notifications::is_read.eq(false))
            .filter(live!()),
    )
    .set((
        realtime_notifications::is_read.eq(true),
        realtime_notifications::read_at.eq(diesel::dsl::now),
    ))
    .execute(&mut conn)
    .await?)
}

/// Deletes one of the user's notifications; `NotFound` otherwise.
pub async fn delete(db: &Db, tenant: &TenantId, user: &UserId, id: i64) -> Result<(), NotifyError> {
    let mut conn = db.conn().await?;
    let deleted = diesel::delete(
        realtime_notifications::table
            .filter(mine!(tenant.as_str(), user.as_str()))
            .filter(realtime_notifications::id.eq(id)),
    )
    .execute(&mut conn)
    .await?;
    if deleted == 0 {
        return Err(NotifyError::NotFound(format!("no notification {id}")));
    }
    Ok(())
}
