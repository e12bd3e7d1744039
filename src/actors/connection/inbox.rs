//! The connection's notification inbox: the connect-time lists and count,
//! read marks and `notification:sync`.

use super::*;

/// How long the connect-time `notification:count` may hold back
/// `presence:list` (the count then follows the list).
const INITIAL_COUNT_WAIT: Duration = Duration::from_millis(500);

/// The connect-time count. When the node or the tenant was not probed
/// lately, it is probed first (one query: whether anyone, in any tenant or
/// in this one, has an unread notification); if nobody has, the count is 0
/// and the next connects skip the query. Otherwise the user's own count is
/// read, as every connect did before.
async fn connect_count(
    services: Arc<Services>,
    tenant: crate::ids::TenantId,
    user: crate::ids::UserId,
) -> Result<i64, crate::notify::NotifyError> {
    use crate::notify::notifications;
    if let Some(probe) = services
        .notify
        .unread
        .probe(tenant.as_str(), Instant::now())
    {
        let has = notifications::has_unread(&services.db, probe.tenant()).await?;
        services.notify.unread.settle(probe, has);
        if !has {
            return Ok(0);
        }
    }
    notifications::unread_count(&services.db, &tenant, &user).await
}

/// Notifications over the socket. Database work runs in spawned futures,
/// never in the mailbox turn; replies are sent when they finish.
impl ConnectionActor {
    /// On connect: `notification:count`, then (unless the client opened
    /// with `?presence=none`) the roster sends `presence:list`. When the
    /// count's query takes longer than [`INITIAL_COUNT_WAIT`], the list is
    /// asked for first and the count follows.
    pub(super) fn initial_lists(&self, ctx: &mut SocketContext<Self>) {
        let cache = &self.services.notify.unread;
        if cache.knows_none(self.principal.tenant.as_str()) {
            // Nobody in the tenant has an unread notification (a node
            // alone knows every creation): no query.
            self.count_then_list(ctx, Some(Ok(0)));
            return;
        }
        let services = self.services.clone();
        let (tenant, user) = (self.principal.tenant.clone(), self.principal.user.clone());
        let mut count: std::pin::Pin<Box<dyn std::future::Future<Output = _>>> =
            Box::pin(connect_count(services, tenant, user));
        let first = async move {
            match tokio::time::timeout(INITIAL_COUNT_WAIT, &mut count).await {
                Ok(n) => (Some(n), None),
                Err(_) => (None, Some(count)),
            }
        };
        ctx.spawn(first.into_actor(self).map(|(done, pending), act, ctx| {
            act.count_then_list(ctx, done);
            if let Some(fut) = pending {
                ctx.spawn(
                    fut.into_actor(act)
                        .map(|n, act, ctx| act.send_count(ctx, n)),
                );
            }
        }));
    }

    /// The connect-time count (when it is ready), then the roster's
    /// `presence:list` unless the client opened with `?presence=none`.
    fn count_then_list(
        &self,
        ctx: &mut SocketContext<Self>,
        count: Option<Result<i64, crate::notify::NotifyError>>,
    ) {
        if let Some(n) = count {
            self.send_count(ctx, n);
        }
        if self.device.wants_roster {
            self.presence_list(None);
        }
    }

    /// Sends the connect-time count (a failure is logged, not sent).
    pub(super) fn send_count(
        &self,
        ctx: &mut SocketContext<Self>,
        unread: Result<i64, crate::notify::NotifyError>,
    ) {
        match unread {
            Ok(unread) => self.send(
                ctx,
                &ServerMessage::NotificationCount {
                    r#ref: None,
                    unread,
                },
            ),
            Err(e) => log::warn!("connection {}: unread count unavailable: {e}", self.id),
        }
    }

    /// `notification:read`: `{id}` or `{all: true}`; acks with the new
    /// count, which also goes to every connection of the user.
    pub(super) fn notification_read(
        &self,
        r#ref: Option<Ref>,
        id: Option<i64>,
        all: Option<bool>,
        ctx: &mut SocketContext<Self>,
    ) {
        use crate::notify::{notifications, NotifyError};
        let target = match (id, all) {
            (Some(id), None | Some(false)) => Some(id),
            (None, Some(true)) => None,
            _ => {
                return self.send_error(
                    ctx,
                    r#ref,
                    ErrorCode::InvalidField,
                    "send either `id` or `all: true`",
                )
            }
        };
        let services = self.services.clone();
        let (tenant, user) = (self.principal.tenant.clone(), self.principal.user.clone());
        let work = async move {
            match target {
                Some(id) => notifications::mark_read(&services.db, &tenant, &user, id).await?,
                None => {
                    notifications::mark_all_read(&services.db, &tenant, &user).await?;
                }
            }
            notifications::refresh_count(&services.notify, &tenant, &user).await
        };
        ctx.spawn(work.into_actor(self).map(move |res, act, ctx| match res {
            Ok(unread) => {
                if let Some(r#ref) = r#ref {
                    act.send(
                        ctx,
                        &ServerMessage::Ack {
                            r#ref,
                            data: Some(serde_json::json!({ "unread": unread })),
                        },
                    );
                }
            }
            Err(NotifyError::NotFound(m)) => act.send_error(ctx, r#ref, ErrorCode::NotFound, m),
            Err(e) => {
                log::warn!("connection {}: notification:read failed: {e}", act.id);
                act.send_error(ctx, r#ref, ErrorCode::Internal, "notifications unavailable")
            }
        }));
    }

    /// `notification:sync`: every notification after `after_id` in id order
    /// (at most `SYNC_LIMIT`), then the count, then the ack.
    pub(super) fn notification_sync(
        &self,
        r#ref: Option<Ref>,
        after_id: i64,
        ctx: &mut SocketContext<Self>,
    ) {
        use crate::notify::notifications;
        if after_id < 0 {
            return self.send_error(
                ctx,
                r#ref,
                ErrorCode::InvalidField,
                "`after_id` must be 0 or more",
            );
        }
        let services = self.services.clone();
        let (tenant, user) = (self.principal.tenant.clone(), self.principal.user.clone());
        let work = async move {
            let (rows, more) = notifications::after(
                &services.db,
                &tenant,
                &user,
                after_id,
                notifications::SYNC_LIMIT,
            )
            .await?;
            let unread = notifications::unread_count(&services.db, &tenant, &user).await?;
            Ok::<_, crate::notify::NotifyError>((rows, more, unread))
        };
        ctx.spawn(work.into_actor(self).map(move |res, act, ctx| match res {
            Ok((rows, more, unread)) => {
                for row in &rows {
                    act.send(ctx, &notifications::sync_message(row, r#ref.clone()));
                }
                act.send(
                    ctx,
                    &ServerMessage::NotificationCount {
                        r#ref: r#ref.clone(),
                        unread,
                    },
                );
                if let Some(r#ref) = r#ref {
                    let last_id = rows.last().map_or(after_id, |r| r.id);
                    act.send(
                        ctx,
                        &ServerMessage::Ack {
                            r#ref,
                            data: Some(serde_json::json!({
                                "count": rows.len(),
                                "last_id": last_id,
                                "has_more": more,
                            })),
                        },
                    );
                }
            }
            Err(e) => {
                log::warn!("connection {}: notification:sync failed: {e}", act.id);
                act.send_error(ctx, r#ref, ErrorCode::Internal, "notifications unavailable")
            }
        }));
    }
}
