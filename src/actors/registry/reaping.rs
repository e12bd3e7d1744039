//! The registry's room and presence lifecycles: routing a join or a REST
//! lock to the room (created on first use), finding a room, and retiring
//! idle rooms and presence actors once the forwarded counts match.

use super::*;

impl Handler<JoinRoom> for RegistryActor {
    type Result = ();

    /// Finds or creates the room and forwards the join to it.
    fn handle(&mut self, msg: JoinRoom, _: &mut Context<Self>) {
        let Some(entry) = self.live_room(&msg.room) else {
            return;
        };
        entry.joins_forwarded += 1;
        entry.addr.do_send(Join {
            handle: msg.handle,
            principal: msg.principal,
            device: msg.device,
            r#ref: msg.r#ref,
            reply_to: msg.reply_to,
        });
    }
}

impl Handler<LockDocument> for RegistryActor {
    type Result = ResponseFuture<
        Result<Option<crate::protocol::server::LockView>, crate::actors::document::LockRefused>,
    >;

    /// Finds or creates the room and forwards the lock request to it.
    fn handle(&mut self, msg: LockDocument, _: &mut Context<Self>) -> Self::Result {
        let Some(entry) = self.live_room(&msg.room) else {
            return Box::pin(async {
                Err(crate::actors::document::LockRefused::Unavailable(
                    "shutting down".into(),
                ))
            });
        };
        entry.joins_forwarded += 1;
        let addr = entry.addr.clone();
        Box::pin(async move {
            addr.send(crate::actors::room::ForDocumentLock(msg.request))
                .await
                .unwrap_or_else(|e| {
                    Err(crate::actors::document::LockRefused::Unavailable(
                        e.to_string(),
                    ))
                })
        })
    }
}

impl Handler<FindRoom> for RegistryActor {
    type Result = Option<Addr<RoomActor>>;

    /// A live room's address.
    fn handle(&mut self, FindRoom(room): FindRoom, _: &mut Context<Self>) -> Self::Result {
        self.forget_dead_room(&room);
        self.rooms.get(&room).map(|e| e.addr.clone())
    }
}

impl Handler<RoomIdle> for RegistryActor {
    type Result = ();

    /// Retires an empty room unless a join is on its way to it.
    fn handle(&mut self, msg: RoomIdle, _: &mut Context<Self>) {
        if let Some(entry) = self.rooms.get(&msg.room) {
            if entry.joins_forwarded == msg.joins_seen {
                if let Some(entry) = self.rooms.remove(&msg.room) {
                    entry.addr.do_send(StopRoom);
                }
            }
        }
    }
}

impl Handler<PresenceIdle> for RegistryActor {
    type Result = ();

    /// Retires an offline user's actor, and the tenant's roster with its last user.
    fn handle(&mut self, msg: PresenceIdle, _: &mut Context<Self>) {
        let key = (msg.tenant.clone(), msg.user);
        let matches = self
            .presence
            .get(&key)
            .is_some_and(|e| e.attaches_forwarded == msg.attaches_seen);
        if !matches {
            return;
        }
        if let Some(entry) = self.presence.remove(&key) {
            entry.addr.do_send(crate::actors::presence::StopPresence);
        }
        self.release_roster_slot(&msg.tenant);
    }
}
