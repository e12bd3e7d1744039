//! Notifications: validation, storage, delivery, listing, read marks and
//! per-type channel settings.
//!
//! Creating stores first (one multi-row `INSERT`, so one transaction),
//! then delivers each user's row: `notification` and the new
//! `notification:count` to `Topic::User`, a push job when a push or email
//! channel is on, and `delivered_websocket` for users who were connected.
//! Expired notifications (`expires_at` in the past) are never listed,
//! counted, synced or marked.

use super::channels::{decide, ChannelSettings};
use super::{check_chars, check_id, check_name, invalid, non_empty, rfc3339, NotifyError};
use crate::actors::registry::{GetPresence, ListPresence};
use crate::actors::Services;
use crate::broker::Topic;
use crate::db::schema::{notification_settings, realtime_notifications};
use crate::db::Db;
use crate::ids::{TenantId, UserId};
use crate::protocol::server::{NotificationAction, NotificationSource, NotificationView};
use crate::protocol::{Ref, ServerMessage};
use crate::push::{Priority, PushJob};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Recipients per request at most.
pub const MAX_RECIPIENTS: usize = 1000;
/// Notifications a `notification:sync` returns at most; `has_more` says when
/// the client should sync again from the last id.
pub const SYNC_LIMIT: i64 = 500;
/// Notification types one settings update may name at most.
pub const MAX_SETTINGS_TYPES: usize = 100;
/// Above this many recipients, presence is read with one tenant-wide
/// `ListPresence` instead of one `GetPresence` per user.
const PRESENCE_LIST_ABOVE: usize = 20;

/// A stored notification.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = realtime_notifications)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct NotificationRow {
    /// Monotonic id.
    pub id: i64,
    /// Tenant.
    pub tenant_id: String,
    /// Recipient.
    pub user_id: String,
    /// Type.
    pub notification_type: String,
    /// Title.
    pub title: String,
    /// Body.
    pub message: Option<String>,
    /// What it is about.
    pub source_type: Option<String>,
    /// Its id.
    pub source_id: Option<String>,
    /// Link.
    pub action_url: Option<String>,
    /// Link text.
    pub action_label: Option<String>,
    /// `low`, `normal`, `high`, `urgent`.
    pub priority: String,
    /// Read?
    pub is_read: bool,
    /// When it was read.
    pub read_at: Option<DateTime<Utc>>,
    /// Published to a connected user.
    pub delivered_websocket: bool,
    /// Sent by push (set by the push dispatcher).
    pub delivered_push: bool,
    /// Sent by email (set by the push dispatcher).
    pub delivered_email: bool,
    /// Hidden after this.
    pub expires_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl NotificationRow {
    /// The wire shape (WebSocket, SSE and REST).
    pub fn view(&self) -> NotificationView {
        let source =
            (self.source_type.is_some() || self.source_id.is_some()).then(|| NotificationSource {
                source_type: self.source_type.clone(),
                id: self.source_id.clone(),
            });
        let action = self.action_url.as_ref().map(|url| NotificationAction {
            url: url.clone(),
            label: self.action_label.clone(),
        });
        NotificationView {
            id: self.id,
            notification_type: self.notification_type.clone(),
            title: self.title.clone(),
            message: self.message.clone(),
            priority: self.priority.clone(),
            source,
            action,
            is_read: self.is_read,
            read_at: self.read_at.map(rfc3339),
            created_at: rfc3339(self.created_at),
            expires_at: self.expires_at.map(rfc3339),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = realtime_notifications)]
struct NewNotification<'a> {
    tenant_id: &'a str,
    user_id: &'a str,
    notification_type: &'a str,
    title: &'a str,
    message: Option<&'a str>,
    source_type: Option<&'a str>,
    source_id: Option<&'a str>,
    action_url: Option<&'a str>,
    action_label: Option<&'a str>,
    priority: &'a str,
    expires_at: Option<DateTime<Utc>>,
}

/// Body of `POST /api/v1/notifications`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateNotifications {
    /// Recipients (1 to 1000; duplicates are ignored).
    pub user_ids: Vec<String>,
    /// Notification type (`payment_received`, ...).
    #[serde(rename = "type")]
    pub notification_type: String,
    /// Title, 1 to 255 characters.
    pub title: String,
    /// Body, up to 4000 characters.
    #[serde(default)]
    pub message: Option<String>,
    /// `low`, `normal` (default), `high` or `urgent`.
    #[serde(default)]
    pub priority: Option<String>,
    /// What the notification is about (`invoice`, ...).
    #[serde(default)]
    pub source_type: Option<String>,
    /// Its id.
    #[serde(default)]
    pub source_id: Option<String>,
    /// A link: an absolute `http(s)://` URL or a path starting with `/`.
    #[serde(default)]
    pub action_url: Option<String>,
    /// The link's label.
    #[serde(default)]
    pub action_label: Option<String>,
    /// RFC 3339; after it the notification is hidden.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A validated notification, ready to store.
#[derive(Debug, Clone)]
pub struct NotificationDraft {
    /// Distinct recipients, in request order.
    pub users: Vec<String>,
    /// Type.
    pub notification_type: String,
    /// Title.
    pub title: String,
    /// Body.
    pub message: Option<String>,
    /// Priority.
    pub priority: Priority,
    /// Source type.
    pub source_type: Option<String>,
    /// Source id.
    pub source_id: Option<String>,
    /// Link.
    pub action_url: Option<String>,
    /// Link text.
    pub action_label: Option<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Parses a priority name.
pub fn parse_priority(text: &str) -> Option<Priority> {
    Some(match text {
        "low" => Priority::Low,
        "normal" => Priority::Normal,
        "high" => Priority::High,
        "urgent" => Priority::Urgent,
        _ => return None,
    })
}

fn check_action_url(url: &str) -> Result<(), NotifyError> {
    let ok_scheme = url.starts_with("https://") || url.starts_with("http://");
    // `//host` and `/\host` are both read by browsers as another origin.
    let ok_path = url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\");
    if url.len() > 2048 || !(ok_scheme || ok_path) || url.chars().any(char::is_control) {
        return Err(invalid(
            "action_url",
            "must be an http(s):// URL or a path starting with `/`, at most 2048 bytes",
        ));
    }
    Ok(())
}

impl CreateNotifications {
    /// Checks every field against the documented limits.
    pub fn validate(self, now: DateTime<Utc>) -> Result<NotificationDraft, NotifyError> {
        if self.user_ids.is_empty() || self.user_ids.len() > MAX_RECIPIENTS {
            return Err(invalid(
                "user_ids",
                format_args!("must list 1 to {MAX_RECIPIENTS} user ids"),
            ));
        }
        let mut seen = HashSet::new();
        let mut users = Vec::with_capacity(self.user_ids.len());
        for (i, u) in self.user_ids.into_iter().enumerate() {
            check_id(&format!("user_ids[{i}]"), &u, 256)?;
            if seen.insert(u.clone()) {
                users.push(u);
            }
        }
        check_name("type", &self.notification_type)?;
        check_chars("title", &self.title, 1, 255)?;
        let message = non_empty(self.message);
        if let Some(m) = &message {
            check_chars("message", m, 0, 4000)?;
        }
        let priority = match self.priority.as_deref() {
            None => Priority::Normal,
            Some(p) => parse_priority(p)
                .ok_or_else(|| invalid("priority", "must be low, normal, high or urgent"))?,
        };
        let source_type = non_empty(self.source_type);
        if let Some(s) = &source_type {
            check_id("source_type", s, 64)?;
        }
        let source_id = non_empty(self.source_id);
        if let Some(s) = &source_id {
            check_id("source_id", s, 256)?;
        }
        let action_url = non_empty(self.action_url);
        if let Some(u) = &action_url {
            check_action_url(u)?;
        }
        let action_label = non_empty(self.action_label);
        if let Some(l) = &action_label {
            check_chars("action_label", l, 1, 100)?;
        }
        let expires_at = match non_empty(self.expires_at) {
            None => None,
            Some(t) => {
                let t = DateTime::parse_from_rfc3339(&t)
                    .map_err(|_| invalid("expires_at", "must be an RFC 3339 timestamp"))?
                    .with_timezone(&Utc);
                if t <= now {
                    return Err(invalid("expires_at", "must be in the future"));
                }
                Some(t)
            }
        };
        Ok(NotificationDraft {
            users,
            notification_type: self.notification_type,
            title: self.title,
            message,
            priority,
            source_type,
            source_id,
            action_url,
            action_label,
            expires_at,
        })
    }
}

/// One created notification.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Created {
    /// Its id.
    pub id: i64,
    /// Its recipient.
    pub user_id: String,
}

/// Not expired at the time the statement runs.
macro_rules! live {
    () => {
        realtime_notifications::expires_at
            .is_null()
            .or(realtime_notifications::expires_at.gt(diesel::dsl::now))
    };
}

/// One user's notifications in one tenant.
macro_rules! mine {
    ($tenant:expr, $user:expr) => {
        realtime_notifications::tenant_id
            .eq($tenant)
            .and(realtime_notifications::user_id.eq($user))
    };
}

/// Stores the draft for every recipient, then delivers it. Returns the
/// created ids in recipient order.
pub async fn create(
    services: Arc<Services>,
    tenant: TenantId,
    draft: NotificationDraft,
) -> Result<Vec<Created>, NotifyError> {
    let rows: Vec<NotificationRow> = {
        let new: Vec<NewNotification<'_>> = draft
            .users
            .iter()
            .map(|u| NewNotification {
                tenant_id: tenant.as_str(),
                user_id: u,
                notification_type: &draft.notification_type,
                title: &draft.title,
                message: draft.message.as_deref(),
                source_type: draft.source_type.as_deref(),
                source_id: draft.source_id.as_deref(),
                action_url: draft.action_url.as_deref(),
                action_label: draft.action_label.as_deref(),
                priority: draft.priority.as_str(),
                expires_at: draft.expires_at,
            })
            .collect();
        let mut conn = services.db.conn().await?;
        // Recipients locked first: per user, ids are taken in commit order.
        use diesel_async::AsyncConnection;
        let (tenant_id, users) = (tenant.as_str(), &draft.users);
        conn.transaction::<_, NotifyError, _>(async move |conn| {
            crate::db::notification_order::lock_recipients(conn, tenant_id, users).await?;
            Ok(diesel::insert_into(realtime_notifications::table)
                .values(&new)
                .returning(NotificationRow::as_returning())
                .get_results(conn)
                .await?)
        })
        .await?
    };
    let created = rows
        .iter()
        .map(|r| Created {
            id: r.id,
            user_id: r.user_id.clone(),
        })
        .collect();
    // Detached, so a caller who hangs up cannot cut the delivery short.
    let delivery = actix_rt::spawn(deliver(services, tenant, draft.priority, rows));
    if delivery.await.is_err() {
        log::error!("notification delivery task failed");
    }
    Ok(created)
}

/// Presence status of each recipient who has presence on this node:
/// (connected, busy).
async fn presence_of(
    services: &Services,
    tenant: &TenantId,
    users: &[String],
) -> HashMap<String, (bool, bool)> {
    let mut out = HashMap::new();
    let mut record = |v: crate::protocol::server::PresenceView| {
        let connected = v.status != "offline" && !v.devices.is_empty();
        out.insert(v.user_id.clone(), (connected, v.status == "busy"));
    };
    if users.len() > PRESENCE_LIST_ABOVE {
        match services.registry.send(ListPresence(tenant.clone())).await {
            Ok(all) => all.into_iter().for_each(&mut record),
            Err(e) => log::warn!("presence unavailable for notification delivery: {e}"),
        }
    } else {
        let asks = users.iter().map(|u| {
            services.registry.send(GetPresence {
                tenant: tenant.clone(),
                user: UserId::new(u.as_str()),
            })
        });
        for view in futures_util::future::join_all(asks).await {
            if let Ok(Some(v)) = view {
                record(v);
            }
        }
    }
    out
}

/// Publishes, counts, hands push jobs over and records WebSocket delivery.
async fn deliver(
    services: Arc<Services>,
    tenant: TenantId,
    priority: Priority,
    rows: Vec<NotificationRow>,
) {
    let Some(first) = rows.as_slice().first() else {
        return;
    };
    let notification_type = first.notification_type.clone();
    let users: Vec<String> = rows.iter().map(|r| r.user_id.clone()).collect();
    let stored = stored_settings(&services.db, &tenant, &users, &notification_type)
        .await
        .unwrap_or_else(|e| {
            log::warn!("notification settings unavailable, using defaults: {e}");
            HashMap::new()
        });
    let counts = unread_counts(&services.db, &tenant, &users)
        .await
        .unwrap_or_else(|e| {
            log::warn!("unread counts unavailable: {e}");
            HashMap::new()
        });
    let presence = presence_of(&services, &tenant, &users).await;
    let mut delivered = Vec::new();
    for row in &rows {
        let (connected, busy) = presence.get(&row.user_id).copied().unwrap_or_default();
        let d = decide(
            stored.get(&row.user_id).copied(),
            &row.notification_type,
            priority,
            busy,
        );
        let user = UserId::new(row.user_id.as_str());
        let topic = Topic::User(tenant.clone(), user.clone());
        if d.websocket {
            let msg = ServerMessage::Notification {
                r#ref: None,
                notification: row.view(),
            };
            services.broker.publish(topic.clone(), msg.to_frame(), None);
            if connected {
                delivered.push(row.id);
            }
        }
        if let Some(unread) = counts.get(&row.user_id) {
            publish_count(&services, &tenant, &user, *unread);
        }
        if d.needs_push_job() {
            let job = PushJob {
                notification_id: row.id,
                tenant: tenant.clone(),
                user,
                notification_type: row.notification_type.clone(),
                title: row.title.clone(),
                message: row.message.clone(),
                action_url: row.action_url.clone(),
                priority,
                channels: d.push,
            };
            // Stored in the push outbox first, so a crash cannot lose it.
            crate::push::outbox::enqueue(
                &services.db,
                &services.settings.push,
                &services.push,
                job,
            )
            .await;
        }
    }
    if !delivered.is_empty() {
        if let Err(e) = mark_delivered_websocket(&services.db, &tenant, &delivered).await {
            log::warn!("could not record WebSocket delivery: {e}");
        }
    }
}

/// Sends `notification:count` to every connection of the user.
pub fn publish_count(services: &Services, tenant: &TenantId, user: &UserId, unread: i64) {
    let msg = ServerMessage::NotificationCount {
        r#ref: None,
        unread,
    };
    services.broker.publish(
        Topic::User(tenant.clone(), user.clone()),
        msg.to_frame(),
        None,
    );
}

/// Counts the user's unread notifications and publishes the count to all
/// of the user's connections; returns it.
pub async fn refresh_count(
    services: &Services,
    tenant: &TenantId,
    user: &UserId,
) -> Result<i64, NotifyError> {
    let unread = unread_count(&services.db, tenant, user).await?;
    publish_count(services, tenant, user, unread);
    Ok(unread)
}

async fn mark_delivered_websocket(
    db: &Db,
    tenant: &TenantId,
    ids: &[i64],
) -> Result<(), NotifyError> {
    let mut conn = db.conn().await?;
    diesel::update(
        realtime_notifications::table.filter(
            realtime_notifications::tenant_id
                .eq(tenant.as_str())
                .and(realtime_notifications::id.eq_any(ids)),
        ),
    )
    .set(realtime_notifications::delivered_websocket.eq(true))
    .execute(&mut conn)
    .await?;
    Ok(())
}

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

/// Stored settings of several users for one type.
async fn stored_settings(
    db: &Db,
    tenant: &TenantId,
    users: &[String],
    notification_type: &str,
) -> Result<HashMap<String, ChannelSettings>, NotifyError> {
    use notification_settings::dsl as s;
    let mut conn = db.conn().await?;
    let rows: Vec<(String, bool, bool, bool, bool)> = s::notification_settings
        .filter(s::tenant_id.eq(tenant.as_str()))
        .filter(s::notification_type.eq(notification_type))
        .filter(s::user_id.eq_any(users))
        .select((s::user_id, s::websocket, s::web_push, s::fcm, s::email))
        .load(&mut conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(u, websocket, web_push, fcm, email)| {
            (
                u,
                ChannelSettings {
                    websocket,
                    web_push,
                    fcm,
                    email,
                },
            )
        })
        .collect())
}

/// A user's stored settings, by type.
pub async fn settings(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
) -> Result<BTreeMap<String, ChannelSettings>, NotifyError> {
    use notification_settings::dsl as s;
    let mut conn = db.conn().await?;
    let rows: Vec<(String, bool, bool, bool, bool)> = s::notification_settings
        .filter(s::tenant_id.eq(tenant.as_str()))
        .filter(s::user_id.eq(user.as_str()))
        .select((
            s::notification_type,
            s::websocket,
            s::web_push,
            s::fcm,
            s::email,
        ))
        .load(&mut conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(t, websocket, web_push, fcm, email)| {
            (
                t,
                ChannelSettings {
                    websocket,
                    web_push,
                    fcm,
                    email,
                },
            )
        })
        .collect())
}

/// Validates a settings update: type names, at most 100 of them.
pub fn validate_settings(
    update: &BTreeMap<String, Option<ChannelSettings>>,
) -> Result<(), NotifyError> {
    if update.is_empty() || update.len() > MAX_SETTINGS_TYPES {
        return Err(NotifyError::Invalid(
            "invalid_body",
            format!("name 1 to {MAX_SETTINGS_TYPES} notification types"),
        ));
    }
    for t in update.keys() {
        check_name(t, t).map_err(|_| {
            invalid(
                t,
                "is not a notification type (1 to 64 letters, digits, `_ . : -`)",
            )
        })?;
    }
    Ok(())
}

/// Applies a settings update in one transaction: a value replaces the
/// type's row, `null` deletes it (back to the defaults).
pub async fn put_settings(
    db: &Db,
    tenant: &TenantId,
    user: &UserId,
    update: BTreeMap<String, Option<ChannelSettings>>,
) -> Result<(), NotifyError> {
    use diesel_async::AsyncConnection;
    use notification_settings::dsl as s;
    let tenant = tenant.as_str().to_owned();
    let user = user.as_str().to_owned();
    let mut conn = db.conn().await?;
    conn.transaction::<_, NotifyError, _>(async move |conn| {
        let removed: Vec<&String> = update
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k)
            .collect();
        if !removed.is_empty() {
            diesel::delete(
                s::notification_settings
                    .filter(s::tenant_id.eq(&tenant))
                    .filter(s::user_id.eq(&user))
                    .filter(s::notification_type.eq_any(removed)),
            )
            .execute(conn)
            .await?;
        }
        let now = Utc::now();
        let rows: Vec<_> = update
            .iter()
            .filter_map(|(t, v)| v.map(|c| (t, c)))
            .map(|(t, c)| {
                (
                    s::tenant_id.eq(tenant.clone()),
                    s::user_id.eq(user.clone()),
                    s::notification_type.eq(t.clone()),
                    s::websocket.eq(c.websocket),
                    s::web_push.eq(c.web_push),
                    s::fcm.eq(c.fcm),
                    s::email.eq(c.email),
                    s::updated_at.eq(now),
                )
            })
            .collect();
        if !rows.is_empty() {
            use diesel::upsert::excluded;
            diesel::insert_into(s::notification_settings)
                .values(rows)
                .on_conflict((s::tenant_id, s::user_id, s::notification_type))
                .do_update()
                .set((
                    s::websocket.eq(excluded(s::websocket)),
                    s::web_push.eq(excluded(s::web_push)),
                    s::fcm.eq(excluded(s::fcm)),
                    s::email.eq(excluded(s::email)),
                    s::updated_at.eq(excluded(s::updated_at)),
                ))
                .execute(conn)
                .await?;
        }
        Ok(())
    })
    .await
}

/// The `notification` message of a sync reply (carries the sync's `ref`).
pub fn sync_message(row: &NotificationRow, r#ref: Option<Ref>) -> ServerMessage {
    ServerMessage::Notification {
        r#ref,
        notification: row.view(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn body(v: serde_json::Value) -> CreateNotifications {
        super::super::from_json(v).unwrap()
    }

    fn err(v: serde_json::Value) -> String {
        body(v).validate(Utc::now()).unwrap_err().to_string()
    }

    #[test]
    fn validation_names_the_field() {
        let ok = body(serde_json::json!({
            "user_ids": ["a", "b", "a"], "type": "mention", "title": "Hi",
            "message": "", "priority": "high", "action_url": "/x",
            "expires_at": "2999-01-01T00:00:00Z"
        }))
        .validate(Utc::now())
        .unwrap();
        assert_eq!(ok.users, vec!["a", "b"]);
        assert_eq!(ok.message, None);
        assert_eq!(ok.priority, Priority::High);

        let base = serde_json::json!({"user_ids": ["a"], "type": "t", "title": "x"});
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        assert!(err(with("user_ids", serde_json::json!([]))).contains("user_ids"));
        let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
        assert!(err(with("user_ids", serde_json::json!(many))).contains("user_ids"));
        assert!(err(with("user_ids", serde_json::json!(["a", ""]))).contains("user_ids[1]"));
        assert!(err(with("type", serde_json::json!("no spaces"))).contains("`type`"));
        assert!(err(with("title", serde_json::json!(""))).contains("`title`"));
        assert!(err(with("title", serde_json::json!("x".repeat(256)))).contains("`title`"));
        assert!(err(with("priority", serde_json::json!("loud"))).contains("`priority`"));
        assert!(
            err(with("action_url", serde_json::json!("javascript:alert(1)")))
                .contains("`action_url`")
        );
        assert!(err(with("action_url", serde_json::json!("//evil"))).contains("`action_url`"));
        assert!(
            err(with("action_url", serde_json::json!("/\\evil.example"))).contains("`action_url`")
        );
        assert!(err(with("expires_at", serde_json::json!("tomorrow"))).contains("`expires_at`"));
        assert!(err(with(
            "expires_at",
            serde_json::json!("2000-01-01T00:00:00Z")
        ))
        .contains("in the future"));
    }

    #[test]
    fn settings_updates_are_checked() {
        let mut u = BTreeMap::new();
        assert!(validate_settings(&u).is_err());
        u.insert("mention".to_owned(), None);
        assert!(validate_settings(&u).is_ok());
        u.insert("bad type".to_owned(), Some(ChannelSettings::WITH_PUSH));
        assert!(validate_settings(&u)
            .unwrap_err()
            .to_string()
            .contains("bad type"));
    }
}
