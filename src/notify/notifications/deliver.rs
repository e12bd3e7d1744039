//! Creating notifications: store every recipient's row in one statement,
//! then deliver (WebSocket frames, counts, push jobs, delivery marks).

use super::settings::stored_settings;
use super::*;

/// Stores the draft for every recipient, then delivers it. Returns the
/// created ids in recipient order.
pub async fn create(
    services: Notifier,
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
        // Until the insert committed (or failed), no probe may mark the
        // tenant as having no unread notification.
        let _writing = services.unread.writing(tenant.as_str());
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
    metrics::counter!("tandem_notifications_created_total").increment(rows.len() as u64);
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
pub(super) async fn presence_of(
    services: &Notifier,
    tenant: &TenantId,
    users: &[String],
) -> HashMap<String, (bool, bool)> {
    let mut out = HashMap::new();
    let mut record = |v: crate::protocol::server::PresenceView| {
        let connected = v.status != "offline" && !v.devices.is_empty();
        out.insert(v.user_id.clone(), (connected, v.status == "busy"));
    };
    let ask = PresenceOf {
        tenant: tenant.clone(),
        users: users.iter().map(|u| UserId::new(u.as_str())).collect(),
    };
    match services.presence.send(ask).await {
        Ok(views) => views.into_iter().for_each(&mut record),
        Err(e) => log::warn!("presence unavailable for notification delivery: {e}"),
    }
    out
}

/// Publishes, counts, hands push jobs over and records WebSocket delivery.
pub(super) async fn deliver(
    services: Notifier,
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
                &services.push_settings,
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
pub fn publish_count(services: &Notifier, tenant: &TenantId, user: &UserId, unread: i64) {
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
    services: &Notifier,
    tenant: &TenantId,
    user: &UserId,
) -> Result<i64, NotifyError> {
    let unread = unread_count(&services.db, tenant, user).await?;
    publish_count(services, tenant, user, unread);
    Ok(unread)
}

pub(super) async fn mark_delivered_websocket(
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
