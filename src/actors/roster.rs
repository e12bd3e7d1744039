//! One actor per tenant: who is online, kept from the presence actors'
//! reports, so "who is online" never asks every presence actor. Each change
//! is published once to the tenant's topic, reaching that tenant's
//! connections and no other tenant's.

use super::Services;
use crate::broker::Topic;
use crate::ids::{TenantId, UserId};
use crate::protocol::server::PresenceView;
use crate::protocol::ServerMessage;
use actix::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A user came online or changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UserChanged {
    /// The user's presence now.
    pub view: PresenceView,
    /// True when the user just came online.
    pub joined: bool,
}

/// A user went offline.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UserOffline(pub UserId);

/// Everyone online.
#[derive(Message)]
#[rtype(result = "Vec<PresenceView>")]
pub struct ListUsers;

/// One user.
#[derive(Message)]
#[rtype(result = "Option<PresenceView>")]
pub struct GetUser(pub UserId);

/// Users viewing an entity.
#[derive(Message)]
#[rtype(result = "Vec<PresenceView>")]
pub struct ListViewersOf {
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
}

/// The registry retired this roster (its last user went offline).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopRoster;

/// A tenant's roster.
pub struct RosterActor {
    tenant: TenantId,
    users: BTreeMap<String, PresenceView>,
    services: Arc<Services>,
}

impl RosterActor {
    /// An empty roster.
    pub fn new(tenant: TenantId, services: Arc<Services>) -> Self {
        RosterActor {
            tenant,
            users: BTreeMap::new(),
            services,
        }
    }

    fn publish(&self, msg: &ServerMessage) {
        self.services
            .broker
            .publish(Topic::Tenant(self.tenant.clone()), msg.to_frame(), None);
    }
}

impl Actor for RosterActor {
    type Context = Context<Self>;
}

impl Handler<UserChanged> for RosterActor {
    type Result = ();

    /// Stores the view and sends the diff.
    fn handle(&mut self, msg: UserChanged, _: &mut Context<Self>) {
        let joined = msg.joined || !self.users.contains_key(&msg.view.user_id);
        self.users
            .insert(msg.view.user_id.clone(), msg.view.clone());
        self.publish(&if joined {
            ServerMessage::PresenceUserJoined { user: msg.view }
        } else {
            ServerMessage::PresenceUpdate { user: msg.view }
        });
    }
}

impl Handler<UserOffline> for RosterActor {
    type Result = ();

    /// Drops the user and sends `presence:user_left`.
    fn handle(&mut self, UserOffline(user): UserOffline, _: &mut Context<Self>) {
        if self.users.remove(user.as_str()).is_some() {
            self.publish(&ServerMessage::PresenceUserLeft {
                user_id: user.to_string(),
            });
        }
    }
}

impl Handler<ListUsers> for RosterActor {
    type Result = Vec<PresenceView>;

    /// Everyone online, by user id.
    fn handle(&mut self, _: ListUsers, _: &mut Context<Self>) -> Self::Result {
        self.users.values().cloned().collect()
    }
}

impl Handler<GetUser> for RosterActor {
    type Result = Option<PresenceView>;

    /// One user's view.
    fn handle(&mut self, GetUser(user): GetUser, _: &mut Context<Self>) -> Self::Result {
        self.users.get(user.as_str()).cloned()
    }
}

impl Handler<ListViewersOf> for RosterActor {
    type Result = Vec<PresenceView>;

    /// Users whose displayed location (the one most recently set by any of
    /// their devices) is the entity; an older device elsewhere does not count.
    fn handle(&mut self, msg: ListViewersOf, _: &mut Context<Self>) -> Self::Result {
        self.users
            .values()
            .filter(|v| {
                v.location.as_ref().is_some_and(|l| {
                    l.entity_type.as_deref() == Some(msg.entity_type.as_str())
                        && l.entity_id.as_deref() == Some(msg.entity_id.as_str())
                })
            })
            .cloned()
            .collect()
    }
}

impl Handler<StopRoster> for RosterActor {
    type Result = ();

    /// Stops.
    fn handle(&mut self, _: StopRoster, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
