//! The registry's routing of presence questions and commands to the
//! tenant's roster and the user's presence actor (`ListPresence`,
//! `PresenceOf`, `GetPresence`, `ListViewers`, `ForwardPresence`,
//! `SetStatusFor`) and of REST room broadcasts.

use super::*;

impl Handler<ForwardPresence> for RegistryActor {
    type Result = ();

    /// Routes a presence change to the user's actor, if the user is connected,
    /// and tells the sender the actor's address.
    fn handle(&mut self, msg: ForwardPresence, _: &mut Context<Self>) {
        let mut presence = None;
        if let Some(entry) = self.live_presence(&(msg.tenant, msg.user)) {
            match msg.msg {
                PresenceMsg::Activity(m) => entry.addr.do_send(m),
                PresenceMsg::SetStatus(m) => entry.addr.do_send(m),
                PresenceMsg::SetLocation(m) => entry.addr.do_send(m),
            }
            presence = Some(entry.addr.clone());
        }
        if let Some(reply_to) = msg.reply_to {
            reply_to.do_send(PresenceReady(presence));
        }
    }
}

impl Handler<SetStatusFor> for RegistryActor {
    type Result = bool;

    /// REST status change; false when the user has no presence here.
    fn handle(&mut self, msg: SetStatusFor, _: &mut Context<Self>) -> bool {
        match self.live_presence(&(msg.tenant, msg.user)) {
            Some(entry) => {
                entry.addr.do_send(msg.status);
                true
            }
            None => false,
        }
    }
}

impl Handler<ListPresence> for RegistryActor {
    type Result = ResponseFuture<Vec<PresenceView>>;

    /// Asks the tenant's roster (no roster: nobody is online).
    fn handle(
        &mut self,
        ListPresence(tenant): ListPresence,
        _: &mut Context<Self>,
    ) -> Self::Result {
        let roster = self.rosters.get(&tenant).map(|(a, _)| a.clone());
        Box::pin(async move {
            match roster {
                Some(r) => r.send(ListUsers).await.unwrap_or_default(),
                None => Vec::new(),
            }
        })
    }
}

impl Handler<ListPresencePage> for RegistryActor {
    type Result = ResponseFuture<PresencePage>;

    /// Asks the tenant's roster for one page.
    fn handle(&mut self, msg: ListPresencePage, _: &mut Context<Self>) -> Self::Result {
        let roster = self.rosters.get(&msg.tenant).map(|(a, _)| a.clone());
        Box::pin(async move {
            match roster {
                Some(r) => r
                    .send(ListPage {
                        after: msg.after,
                        limit: msg.limit,
                    })
                    .await
                    .unwrap_or_default(),
                None => PresencePage::default(),
            }
        })
    }
}

impl Handler<ToRoster> for RegistryActor {
    type Result = ();

    /// Hands a connection's request to its tenant's roster (in order with
    /// the connection's `Watch`, which went the same way).
    fn handle(&mut self, msg: ToRoster, _: &mut Context<Self>) {
        let Some((roster, _)) = self.rosters.get(&msg.tenant) else {
            return;
        };
        match msg.request {
            RosterRequest::SendList(m) => roster.do_send(m),
            RosterRequest::Subscription(m) => roster.do_send(m),
            RosterRequest::RoomInterest(m) => roster.do_send(m),
            RosterRequest::RemoteRoomMembers(m) => roster.do_send(m),
        }
    }
}

/// Above this many users, [`PresenceOf`] reads the tenant's whole roster
/// once instead of asking for each user.
const PRESENCE_LIST_ABOVE: usize = 20;

impl Handler<PresenceOf> for RegistryActor {
    type Result = ResponseFuture<Vec<PresenceView>>;

    /// The presence of the named users, from the tenant's roster.
    fn handle(&mut self, msg: PresenceOf, _: &mut Context<Self>) -> Self::Result {
        let roster = self.rosters.get(&msg.tenant).map(|(a, _)| a.clone());
        Box::pin(async move {
            let Some(roster) = roster else {
                return Vec::new();
            };
            if msg.users.len() > PRESENCE_LIST_ABOVE {
                let wanted: HashSet<&str> = msg.users.iter().map(UserId::as_str).collect();
                let all = roster.send(ListUsers).await.unwrap_or_default();
                all.into_iter()
                    .filter(|v| wanted.contains(v.user_id.as_str()))
                    .collect()
            } else {
                let asks = msg.users.into_iter().map(|u| roster.send(GetUser(u)));
                futures_util::future::join_all(asks)
                    .await
                    .into_iter()
                    .filter_map(|v| v.ok().flatten())
                    .collect()
            }
        })
    }
}

impl Handler<GetPresence> for RegistryActor {
    type Result = ResponseFuture<Option<PresenceView>>;

    /// One user's presence from the tenant's roster.
    fn handle(&mut self, msg: GetPresence, _: &mut Context<Self>) -> Self::Result {
        let roster = self.rosters.get(&msg.tenant).map(|(a, _)| a.clone());
        Box::pin(async move {
            match roster {
                Some(r) => r.send(GetUser(msg.user)).await.ok().flatten(),
                None => None,
            }
        })
    }
}

impl Handler<ListViewers> for RegistryActor {
    type Result = ResponseFuture<Vec<PresenceView>>;

    /// Users whose location is the given entity.
    fn handle(&mut self, msg: ListViewers, _: &mut Context<Self>) -> Self::Result {
        let roster = self.rosters.get(&msg.tenant).map(|(a, _)| a.clone());
        Box::pin(async move {
            match roster {
                Some(r) => r
                    .send(ListViewersOf {
                        entity_type: msg.entity_type,
                        entity_id: msg.entity_id,
                    })
                    .await
                    .unwrap_or_default(),
                None => Vec::new(),
            }
        })
    }
}

impl Handler<BroadcastToRoom> for RegistryActor {
    type Result = bool;

    /// Forwards the event to the room (as from user `service`), if it exists;
    /// a room is never created for it.
    fn handle(&mut self, msg: BroadcastToRoom, _: &mut Context<Self>) -> bool {
        self.forget_dead_room(&msg.room);
        match self.rooms.get(&msg.room) {
            Some(entry) => {
                entry.addr.do_send(crate::actors::room::Broadcast {
                    from: None,
                    from_user: UserId::new("service"),
                    event: msg.event,
                    payload: msg.payload,
                });
                true
            }
            None => false,
        }
    }
}
