//! The session's handlers for what its room and the REST API send it: REST
//! lock requests, live facts, members leaving and the member list.

use super::*;

impl Handler<RestLock> for DocumentActor {
    type Result = ResponseFuture<Result<Option<LockView>, LockRefused>>;

    /// Takes or releases a lock for a REST caller, answering once stored.
    fn handle(&mut self, msg: RestLock, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = &self.load_error {
            let e = e.clone();
            return Box::pin(async move { Err(LockRefused::Unavailable(e)) });
        }
        if self.proxy.is_some() {
            // Another node writes this document (its locks included).
            return self.forward_rest(msg);
        }
        if self.storage_full() {
            // The same bound as the WebSocket's lock changes: refused, not applied.
            return Box::pin(async {
                Err(LockRefused::StorageBehind {
                    retry_after_ms: STORAGE_RETRY_AFTER_MS,
                })
            });
        }
        let result = match msg.acquire {
            Some((mode, ttl, reason)) => self
                .acquire(
                    &msg.user,
                    &msg.name,
                    msg.field,
                    mode,
                    ttl,
                    reason,
                    Instant::now(),
                )
                .map(|l| Some(lock_view(&l))),
            None => self
                .locks
                .release(msg.user.as_str(), msg.field.as_deref())
                .map(|_| None),
        };
        match result {
            Ok(view) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let after = vec![
                    After::Publish(self.lock_status_frame(), None),
                    After::Respond(tx, view),
                ];
                self.enqueue(Write::Locks(self.lock_rows()), after, ctx);
                Box::pin(async move {
                    rx.await
                        .unwrap_or_else(|_| Err(LockRefused::Unavailable("session stopped".into())))
                })
            }
            Err(LockError::Held(other)) => {
                Box::pin(async move { Err(LockRefused::Held(other.user_id)) })
            }
            Err(LockError::NotHeld) => Box::pin(async { Err(LockRefused::NotHeld) }),
        }
    }
}

impl Handler<GetDocInfo> for DocumentActor {
    type Result = DocumentInfo;

    /// Live facts for REST.
    fn handle(&mut self, _: GetDocInfo, _: &mut Context<Self>) -> DocumentInfo {
        DocumentInfo {
            version: self.doc.version(),
            locks: self.lock_views(),
            session_edits: self.session_edits,
            session_conflicts_resolved: self.session_conflicts_resolved,
            active_users: self.active_users.clone(),
        }
    }
}

impl Handler<UserLeft> for DocumentActor {
    type Result = ();

    /// Releases the user's locks (their last connection left the room),
    /// unless they still use the document through another node. A
    /// forwarding session tells the owner instead.
    fn handle(&mut self, UserLeft(user): UserLeft, ctx: &mut Context<Self>) {
        if self.proxy.is_some() {
            return self.forward_user_left(&user);
        }
        if self.remote_users.contains_key(user.as_str()) {
            return;
        }
        self.release_user_locks(&user, ctx);
    }
}

impl DocumentActor {
    /// Releases every lock of `user` and publishes the new status.
    pub(super) fn release_user_locks(&mut self, user: &UserId, ctx: &mut Context<Self>) {
        if self.locks.release_user(user.as_str()) {
            let after = vec![After::Publish(self.lock_status_frame(), None)];
            self.enqueue(Write::Locks(self.lock_rows()), after, ctx);
        }
    }
}

impl Handler<MembersChanged> for DocumentActor {
    type Result = ();

    /// Tracks who is in the room, for the session row.
    fn handle(&mut self, msg: MembersChanged, _: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.max_concurrent = self.max_concurrent.max(msg.users.len());
        self.active_users = msg.users;
        self.members = msg.connections;
        self.session_dirty = true;
    }
}
