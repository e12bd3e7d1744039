//! The registry's routing of presence questions and commands to the
//! tenant's roster and the user's presence actor (`ListPresence`,
//! `PresenceOf`, `GetPresence`, `ListViewers`, `ForwardPresence`,
//! `SetStatusFor`) and of REST room broadcasts. A node with no roster for
//! the tenant answers presence queries, in a cluster, from the other
//! nodes' entries in Redis (`cluster::presence::read_merged`).

use super::*;
use std::future::Future;

impl RegistryActor {
    /// The tenant's users when this node has no roster for it: in a
    /// cluster, every live node's users read from Redis, merged and by
    /// user id; alone, nobody.
    fn read_elsewhere(&self, tenant: &TenantId) -> impl Future<Output = Vec<PresenceView>> {
        let nodes = self.services().and_then(|s| s.nodes.clone());
        let tenant = tenant.clone();
        async move {
            let Some(nodes) = nodes else {
                return Vec::new();
            };
            crate::cluster::presence::read_merged(&nodes, &tenant)
                .await
                .unwrap_or_else(|e| {
                    log::warn!("presence of {tenant} on other nodes unavailable: {e}");
                    Vec::new()
                })
        }
    }
}

/// One page of users sorted by user id.
fn page_of(users: Vec<PresenceView>, after: Option<&str>, limit: usize) -> PresencePage {
    let mut rest = users
        .into_iter()
        .filter(|u| after.is_none_or(|a| u.user_id.as_str() > a));
    let users: Vec<PresenceView> = rest.by_ref().take(limit).collect();
    PresencePage {
        users,
        more: rest.next().is_some(),
    }
}

/// Whether a user's displayed location is the entity.
fn views(v: &PresenceView, entity_type: &str, entity_id: &str) -> bool {
    v.location.as_ref().is_some_and(|l| {
        l.entity_type.as_deref() == Some(entity_type) && l.entity_id.as_deref() == Some(entity_id)
    })
}

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
        let elsewhere = self.read_elsewhere(&tenant);
        Box::pin(async move {
            match roster {
                Some(r) => r.send(ListUsers).await.unwrap_or_default(),
                None => elsewhere.await,
            }
        })
    }
}

impl Handler<ListPresencePage> for RegistryActor {
    type Result = ResponseFuture<PresencePage>;

    /// Asks the tenant's roster for one page.
    fn handle(&mut self, msg: ListPresencePage, _: &mut Context<Self>) -> Self::Result {
        let roster = self.rosters.get(&msg.tenant).map(|(a, _)| a.clone());
        let elsewhere = self.read_elsewhere(&msg.tenant);
        Box::pin(async move {
            match roster {
                Some(r) => r
                    .send(ListPage {
                        after: msg.after,
                        limit: msg.limit,
                    })
                    .await
                    .unwrap_or_default(),
                None => page_of(elsewhere.await, msg.after.as_deref(), msg.limit),
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
        let elsewhere = self.read_elsewhere(&msg.tenant);
        Box::pin(async move {
            let Some(roster) = roster else {
                let wanted: HashSet<&str> = msg.users.iter().map(UserId::as_str).collect();
                return elsewhere
                    .await
                    .into_iter()
                    .filter(|v| wanted.contains(v.user_id.as_str()))
                    .collect();
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
        let elsewhere = self.read_elsewhere(&msg.tenant);
        Box::pin(async move {
            match roster {
                Some(r) => r.send(GetUser(msg.user)).await.ok().flatten(),
                None => elsewhere
                    .await
                    .into_iter()
                    .find(|v| v.user_id == msg.user.as_str()),
            }
        })
    }
}

impl Handler<ListViewers> for RegistryActor {
    type Result = ResponseFuture<Vec<PresenceView>>;

    /// Users whose location is the given entity.
    fn handle(&mut self, msg: ListViewers, _: &mut Context<Self>) -> Self::Result {
        let roster = self.rosters.get(&msg.tenant).map(|(a, _)| a.clone());
        let elsewhere = self.read_elsewhere(&msg.tenant);
        Box::pin(async move {
            match roster {
                Some(r) => r
                    .send(ListViewersOf {
                        entity_type: msg.entity_type,
                        entity_id: msg.entity_id,
                    })
                    .await
                    .unwrap_or_default(),
                None => elsewhere
                    .await
                    .into_iter()
                    .filter(|v| views(v, &msg.entity_type, &msg.entity_id))
                    .collect(),
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
