//! Push subscriptions, contact addresses and the delivered flags in
//! PostgreSQL. Every query is scoped to one tenant and user.

use crate::db::schema::{push_subscriptions, realtime_notifications, user_contacts};
use crate::db::{Db, DbError};
use crate::ids::{TenantId, UserId};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use serde::Serialize;

/// A stored subscription as its owner sees it (keys left out).
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = push_subscriptions)]
pub struct SubscriptionView {
    /// Id.
    pub id: i64,
    /// `web_push` or `fcm`.
    pub kind: String,
    /// Push service URL, or the FCM token.
    pub endpoint: String,
    /// `desktop`, `mobile`, ... as the client said.
    pub device_type: Option<String>,
    /// Device name as the client said.
    pub device_name: Option<String>,
    /// Browser as the client said.
    pub browser: Option<String>,
    /// Whether pushes go to it.
    pub is_active: bool,
    /// Subscribed at.
    pub created_at: DateTime<Utc>,
    /// Last successful delivery.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What the dispatcher needs to deliver to one subscription.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = push_subscriptions)]
pub struct SubscriptionTarget {
    /// Id.
    pub id: i64,
    /// `web_push` or `fcm`.
    pub kind: String,
    /// Push service URL, or the FCM token.
    pub endpoint: String,
    /// Client public key (web push).
    pub p256dh_key: Option<String>,
    /// Client auth secret (web push).
    pub auth_key: Option<String>,
}

/// A validated subscription to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    /// `web_push` or `fcm`.
    pub kind: &'static str,
    /// Push service URL, or the FCM token.
    pub endpoint: String,
    /// Client public key, base64url (web push).
    pub p256dh: Option<String>,
    /// Client auth secret, base64url (web push).
    pub auth: Option<String>,
    /// Device type.
    pub device_type: Option<String>,
    /// Device name.
    pub device_name: Option<String>,
    /// Browser.
    pub browser: Option<String>,
}

/// What [`upsert_subscription`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// Stored: its id, whether it is new, and whether another user's
    /// subscription to the same endpoint was removed (the device changed hands).
    Stored {
        /// Id.
        id: i64,
        /// New rather than refreshed.
        created: bool,
        /// Another user of the tenant held this endpoint; theirs was removed.
        took_over: bool,
    },
    /// Another user of the tenant holds this Web Push endpoint with other
    /// keys: nothing was changed.
    HeldByAnother,
}

/// Stores (or refreshes) a subscription of `user`.
///
/// A Web Push endpoint belongs to whoever holds its keys: the browser
/// creates the endpoint together with its `p256dh`/`auth` keys, and only
/// that browser knows them. When another user of the tenant holds the
/// endpoint, the caller takes it over (theirs is removed, so one device
/// never receives two people's notifications) only by presenting the same
/// keys, which proves it is the same browser; otherwise nothing changes
/// ([`Upserted::HeldByAnother`]). An FCM token is itself known only to the
/// app instance it was issued to, so presenting it takes it over.
pub async fn upsert_subscription(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
    sub: &NewSubscription,
) -> Result<Upserted, DbError> {
    use diesel_async::AsyncConnection;
    use push_subscriptions::dsl as ps;
    let mut conn = db.conn().await?;
    let (tenant, user, sub) = (tenant.as_str(), user.as_str(), sub.clone());
    conn.transaction::<_, DbError, _>(async move |conn| {
        let existing: Option<i64> = ps::push_subscriptions
            .filter(ps::tenant_id.eq(tenant))
            .filter(ps::user_id.eq(user))
            .filter(ps::endpoint.eq(&sub.endpoint))
            .select(ps::id)
            .first(conn)
            .await
            .optional()?;
        let others: Vec<(Option<String>, Option<String>)> = ps::push_subscriptions
            .filter(ps::tenant_id.eq(tenant))
            .filter(ps::endpoint.eq(&sub.endpoint))
            .filter(ps::user_id.ne(user))
            .select((ps::p256dh_key, ps::auth_key))
            .for_update()
            .load(conn)
            .await?;
        if sub.kind == "web_push"
            && others
                .iter()
                .any(|(p, a)| *p != sub.p256dh || *a != sub.auth)
        {
            return Ok(Upserted::HeldByAnother);
        }
        let took_over = !others.is_empty();
        if took_over {
            diesel::delete(
                ps::push_subscriptions
                    .filter(ps::tenant_id.eq(tenant))
                    .filter(ps::endpoint.eq(&sub.endpoint))
                    .filter(ps::user_id.ne(user)),
            )
            .execute(conn)
            .await?;
        }
        let id = insert_or_refresh(conn, tenant, user, &sub).await?;
        Ok(Upserted::Stored {
            id,
            created: existing.is_none(),
            took_over,
        })
    })
    .await
}

async fn insert_or_refresh(
    conn: &mut diesel_async::AsyncPgConnection,
    tenant: &str,
    user: &str,
    sub: &NewSubscription,
) -> Result<i64, DbError> {
    use push_subscriptions::dsl as ps;
    let id: i64 = diesel::insert_into(ps::push_subscriptions)
        .values((
            ps::tenant_id.eq(tenant),
            ps::user_id.eq(user),
            ps::kind.eq(sub.kind),
            ps::endpoint.eq(&sub.endpoint),
            ps::p256dh_key.eq(&sub.p256dh),
            ps::auth_key.eq(&sub.auth),
            ps::device_type.eq(&sub.device_type),
            ps::device_name.eq(&sub.device_name),
            ps::browser.eq(&sub.browser),
            ps::is_active.eq(true),
        ))
        .on_conflict((ps::tenant_id, ps::user_id, ps::endpoint))
        .do_update()
        .set((
            ps::kind.eq(excluded(ps::kind)),
            ps::p256dh_key.eq(excluded(ps::p256dh_key)),
            ps::auth_key.eq(excluded(ps::auth_key)),
            ps::device_type.eq(excluded(ps::device_type)),
            ps::device_name.eq(excluded(ps::device_name)),
            ps::browser.eq(excluded(ps::browser)),
            ps::is_active.eq(true),
        ))
        .returning(ps::id)
        .get_result(conn)
        .await?;
    Ok(id)
}

/// Deletes the caller's subscription with this endpoint (or FCM token);
/// false when there was none.
pub async fn delete_subscription(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
    endpoint: &str,
) -> Result<bool, DbError> {
    use push_subscriptions::dsl as ps;
    let mut conn = db.conn().await?;
    let n = diesel::delete(
        ps::push_subscriptions
            .filter(ps::tenant_id.eq(tenant.as_str()))
            .filter(ps::user_id.eq(user.as_str()))
            .filter(ps::endpoint.eq(endpoint)),
    )
    .execute(&mut conn)
    .await?;
    Ok(n > 0)
}

/// The caller's subscriptions, newest first.
pub async fn list_subscriptions(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
) -> Result<Vec<SubscriptionView>, DbError> {
    use push_subscriptions::dsl as ps;
    let mut conn = db.conn().await?;
    Ok(ps::push_subscriptions
        .filter(ps::tenant_id.eq(tenant.as_str()))
        .filter(ps::user_id.eq(user.as_str()))
        .order(ps::id.desc())
        .select(SubscriptionView::as_select())
        .load(&mut conn)
        .await?)
}

/// The user's active subscriptions of the given kinds.
pub async fn active_targets(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
    kinds: &[&str],
) -> Result<Vec<SubscriptionTarget>, DbError> {
    use push_subscriptions::dsl as ps;
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = db.conn().await?;
    Ok(ps::push_subscriptions
        .filter(ps::tenant_id.eq(tenant.as_str()))
        .filter(ps::user_id.eq(user.as_str()))
        .filter(ps::is_active.eq(true))
        .filter(ps::kind.eq_any(kinds))
        .order(ps::id.asc())
        .select(SubscriptionTarget::as_select())
        .load(&mut conn)
        .await?)
}

/// Removes a subscription the push service says is gone. Scoped to its
/// owner; a re-subscription since (new keys) is kept.
pub async fn delete_gone(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
    id: i64,
    endpoint: &str,
) -> Result<(), DbError> {
    use push_subscriptions::dsl as ps;
    let mut conn = db.conn().await?;
    diesel::delete(
        ps::push_subscriptions
            .filter(ps::id.eq(id))
            .filter(ps::tenant_id.eq(tenant.as_str()))
            .filter(ps::user_id.eq(user.as_str()))
            .filter(ps::endpoint.eq(endpoint)),
    )
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// Records a successful delivery to a subscription.
pub async fn touch_subscription(db: &Db, id: i64) -> Result<(), DbError> {
    use push_subscriptions::dsl as ps;
    let mut conn = db.conn().await?;
    diesel::update(ps::push_subscriptions.filter(ps::id.eq(id)))
        .set(ps::last_used_at.eq(Utc::now()))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Which delivered flag to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveredFlag {
    /// realtime_notifications.delivered_push.
    Push,
    /// realtime_notifications.delivered_email.
    Email,
}

/// Sets a delivered flag on the user's notification.
pub async fn mark_delivered(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
    notification_id: i64,
    flag: DeliveredFlag,
) -> Result<(), DbError> {
    use realtime_notifications::dsl as rn;
    let mut conn = db.conn().await?;
    let row = rn::realtime_notifications
        .filter(rn::id.eq(notification_id))
        .filter(rn::tenant_id.eq(tenant.as_str()))
        .filter(rn::user_id.eq(user.as_str()));
    match flag {
        DeliveredFlag::Push => {
            diesel::update(row)
                .set(rn::delivered_push.eq(true))
                .execute(&mut conn)
                .await?
        }
        DeliveredFlag::Email => {
            diesel::update(row)
                .set(rn::delivered_email.eq(true))
                .execute(&mut conn)
                .await?
        }
    };
    Ok(())
}

/// The user's notification email address.
pub async fn email_of(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
) -> Result<Option<String>, DbError> {
    use user_contacts::dsl as uc;
    let mut conn = db.conn().await?;
    Ok(uc::user_contacts
        .filter(uc::tenant_id.eq(tenant.as_str()))
        .filter(uc::user_id.eq(user.as_str()))
        .select(uc::email)
        .first(&mut conn)
        .await
        .optional()?)
}

/// Sets the user's notification email address.
pub async fn set_email(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
    email: &str,
) -> Result<(), DbError> {
    use user_contacts::dsl as uc;
    let mut conn = db.conn().await?;
    diesel::insert_into(uc::user_contacts)
        .values((
            uc::tenant_id.eq(tenant.as_str()),
            uc::user_id.eq(user.as_str()),
            uc::email.eq(email),
        ))
        .on_conflict((uc::tenant_id, uc::user_id))
        .do_update()
        .set((uc::email.eq(email), uc::updated_at.eq(Utc::now())))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Removes the user's notification email address; false when none was set.
pub async fn delete_email(db: &Db, tenant: &TenantId, user: &UserId) -> Result<bool, DbError> {
    use user_contacts::dsl as uc;
    let mut conn = db.conn().await?;
    let n = diesel::delete(
        uc::user_contacts
            .filter(uc::tenant_id.eq(tenant.as_str()))
            .filter(uc::user_id.eq(user.as_str())),
    )
    .execute(&mut conn)
    .await?;
    Ok(n > 0)
}
