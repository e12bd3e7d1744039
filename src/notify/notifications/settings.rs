//! Per-type channel settings: reading, validating and storing them.

use super::*;

/// Stored settings of several users for one type.
pub(super) async fn stored_settings(
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
    Ok(keyed(rows).collect())
}

/// Stored rows (a key, then the four channel flags) as settings by key.
fn keyed(
    rows: Vec<(String, bool, bool, bool, bool)>,
) -> impl Iterator<Item = (String, ChannelSettings)> {
    rows.into_iter()
        .map(|(key, websocket, web_push, fcm, email)| {
            (
                key,
                ChannelSettings {
                    websocket,
                    web_push,
                    fcm,
                    email,
                },
            )
        })
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
    Ok(keyed(rows).collect())
}

/// Validates a settings update: type names, at most 100 of them.
pub fn validate_settings(
    update: &BTreeMap<String, Option<ChannelSettings>>,
) -> Result<(), NotifyError> {
    if update.is_empty() || update.len() > MAX_SETTINGS_TYPES {
        return Err(NotifyError::Invalid(
            crate::notify::InvalidKind::Body,
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
