//! One actor per tenant: who is online, kept from the presence actors'
//! reports, and the one place presence is sent from. A thin shell over
//! [`Roster`]: changes are collected for `presence.diff_interval_ms` and
//! each window ends in at most one `presence:diff` per connection (one
//! shared frame for every connection in all mode). Lists, subscription acks
//! and diffs go through the connection's handle from this actor, so they
//! reach a connection in the order they were made.
//!
//! Connections are registered here by the registry (`Watch`/`Unwatch`) and
//! tell it their confirmed rooms (`RoomInterest`), which interest mode uses.
//!
//! The roster shows one merged presence per user (`roster_state::merge`):
//! alone, that is the local presence actors' views unchanged; in a cluster
//! (`roster/cluster.rs`) it also holds what the other nodes announced.

mod cluster;

use super::Services;
use crate::broker::ConnectionHandle;
use crate::ids::{ConnectionId, RoomId, TenantId, UserId};
use crate::protocol::server::PresenceView;
use crate::protocol::{ErrorCode, Frame, Ref, ServerMessage};
use crate::roster_state::merge::{Choice, Merged, NodeView};
use crate::roster_state::{Diff, Mode, Roster, SubscribeError};
use actix::prelude::*;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A user came online or changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UserChanged {
    /// The user's presence now.
    pub view: PresenceView,
    /// The last status the user chose on this node, and when.
    pub choice: Option<Choice>,
}

/// A user went offline.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UserOffline(pub UserId);

/// Everyone online now.
#[derive(Message)]
#[rtype(result = "Vec<PresenceView>")]
pub struct ListUsers;

/// A page of the users online now, by user id.
#[derive(Message)]
#[rtype(result = "PresencePage")]
pub struct ListPage {
    /// Start after this user id.
    pub after: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// One page of a roster.
#[derive(Debug, Default, MessageResponse)]
pub struct PresencePage {
    /// The users, by user id.
    pub users: Vec<PresenceView>,
    /// More users follow the last one.
    pub more: bool,
}

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

/// A connection of the tenant opened.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch {
    /// How to reach it.
    pub handle: ConnectionHandle,
    /// Its user.
    pub user: UserId,
    /// False when it opened with `?presence=none`.
    pub wants_all: bool,
}

/// A connection closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unwatch(pub ConnectionId);

/// Send a connection its `presence:list` (on connect, or asked with a `ref`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SendList {
    /// The connection.
    pub connection: ConnectionId,
    /// The request's `ref`.
    pub r#ref: Option<Ref>,
}

/// `presence:subscribe` / `presence:unsubscribe`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscription {
    /// The connection.
    pub connection: ConnectionId,
    /// The request's `ref`.
    pub r#ref: Option<Ref>,
    /// The users.
    pub users: Vec<String>,
    /// True to subscribe, false to unsubscribe.
    pub subscribe: bool,
}

/// A connection's join of a room was confirmed, or it left the room.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomInterest {
    /// The connection.
    pub connection: ConnectionId,
    /// The room.
    pub room: RoomId,
    /// True when it entered.
    pub entered: bool,
}

/// From a room of the tenant (a cluster): the users with a connection in
/// it on other nodes, all of them (replaces what it said before).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoteRoomMembers {
    /// The room.
    pub room: RoomId,
    /// Its users on other nodes (empty: none, or the room closed here).
    pub users: Vec<String>,
}

/// The registry retired this roster (its last user went offline).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopRoster;

/// A tenant's roster.
pub struct RosterActor {
    tenant: TenantId,
    roster: Roster,
    handles: HashMap<ConnectionId, ConnectionHandle>,
    services: Arc<Services>,
    /// A flush is scheduled.
    flush_due: bool,
    /// The all-mode `presence:list` without a `ref`, with the roster
    /// version it was built at: built at most once per window.
    list_frame: Option<(u64, Frame)>,
    /// Every node's entries per user (alone: this node's only).
    merged: Merged,
    /// This node's id in the cluster (empty alone).
    node: String,
    /// The link to the other nodes, in a cluster.
    cluster: Option<cluster::Link>,
}

impl RosterActor {
    /// An empty roster.
    pub fn new(tenant: TenantId, services: Arc<Services>) -> Self {
        let p = &services.settings.presence;
        RosterActor {
            tenant,
            roster: Roster::new(p.tenant_roster_max, p.max_subscriptions)
                .with_room_watch_max(p.room_watch_max),
            handles: HashMap::new(),
            services,
            flush_due: false,
            list_frame: None,
            merged: Merged::new(),
            node: String::new(),
            cluster: None,
        }
    }

    /// Ends the window after `presence.diff_interval_ms`, once.
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.flush_due || !self.roster.has_pending() {
            return;
        }
        self.flush_due = true;
        let every = Duration::from_millis(self.services.settings.presence.diff_interval_ms);
        ctx.run_later(every, |act, _| {
            act.flush_due = false;
            act.flush();
        });
    }

    /// Queues a frame for a connection; `at` is when it was made (the
    /// fan-out latency metric), taken once per batch of sends.
    fn send(&self, conn: ConnectionId, frame: Frame, at: Instant) {
        if let Some(h) = self.handles.get(&conn) {
            h.deliver_published(frame, Some(at));
        }
    }

    /// A `presence:list` for these users.
    fn list_frame(&self, r#ref: Option<Ref>, mode: Mode, ids: &[String]) -> Frame {
        ServerMessage::PresenceList {
            r#ref,
            mode: mode.as_str(),
            users: ids
                .iter()
                .filter_map(|u| self.roster.get(u).cloned())
                .collect(),
        }
        .to_frame()
    }

    /// Sends what the window changed.
    fn flush(&mut self) {
        let out = self.roster.flush();
        let at = Instant::now();
        let mut entries: HashMap<String, Arc<RawValue>> = HashMap::new();
        for (conn, mode, ids) in &out.lists {
            let frame = self.list_frame(None, *mode, ids);
            self.send(*conn, frame, at);
        }
        if let Some(diff) = &out.shared {
            let frame = self.diff_frame(diff, &mut entries);
            for conn in &out.shared_to {
                self.send(*conn, frame.clone(), at);
            }
        }
        for (conns, diff) in &out.personal {
            let frame = self.diff_frame(diff, &mut entries);
            for conn in conns {
                self.send(*conn, frame.clone(), at);
            }
        }
    }

    /// A `presence:diff`; each user's entry is serialized once per window.
    fn diff_frame(&self, diff: &Diff, entries: &mut HashMap<String, Arc<RawValue>>) -> Frame {
        let mut pick = |ids: &[String]| -> Vec<Arc<RawValue>> {
            ids.iter()
                .filter_map(|u| {
                    if let Some(e) = entries.get(u) {
                        return Some(e.clone());
                    }
                    let view = self.roster.get(u)?;
                    let raw: Arc<RawValue> = serde_json::value::to_raw_value(view).ok()?.into();
                    entries.insert(u.clone(), raw.clone());
                    Some(raw)
                })
                .collect()
        };
        ServerMessage::PresenceDiff {
            joined: pick(&diff.joined),
            updated: pick(&diff.updated),
            left: diff.left.clone(),
            unwatched: diff.unwatched.clone(),
        }
        .to_frame()
    }
}

impl Actor for RosterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.start_cluster(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.stop_cluster();
    }
}

impl Handler<UserChanged> for RosterActor {
    type Result = ();

    /// Records the change for this window (merged with other nodes').
    fn handle(&mut self, msg: UserChanged, ctx: &mut Context<Self>) {
        let user = msg.view.user_id.clone();
        // When this node's location last changed: the merge shows the
        // most recently set location of any node.
        let location_at =
            match self.merged.get(&self.node, &user) {
                Some(prev) if prev.view.location == msg.view.location => prev.location_at.clone(),
                _ => msg.view.location.as_ref().map(|_| {
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                }),
            };
        let entry = NodeView {
            view: msg.view,
            choice: msg.choice,
            location_at,
        };
        self.local_change(&user, Some(entry), ctx);
    }
}

impl Handler<UserOffline> for RosterActor {
    type Result = ();

    /// Records the departure for this window.
    fn handle(&mut self, UserOffline(user): UserOffline, ctx: &mut Context<Self>) {
        self.local_change(user.as_str(), None, ctx);
    }
}

impl Handler<ListUsers> for RosterActor {
    type Result = Vec<PresenceView>;

    /// Everyone online, by user id.
    fn handle(&mut self, _: ListUsers, _: &mut Context<Self>) -> Self::Result {
        self.roster.current_users().into_iter().cloned().collect()
    }
}

impl Handler<ListPage> for RosterActor {
    type Result = PresencePage;

    /// One page, by user id.
    fn handle(&mut self, msg: ListPage, _: &mut Context<Self>) -> Self::Result {
        let (page, more) = self.roster.page(msg.after.as_deref(), msg.limit);
        PresencePage {
            users: page.into_iter().cloned().collect(),
            more,
        }
    }
}

impl Handler<GetUser> for RosterActor {
    type Result = Option<PresenceView>;

    /// One user's view.
    fn handle(&mut self, GetUser(user): GetUser, _: &mut Context<Self>) -> Self::Result {
        self.roster.current(user.as_str()).cloned()
    }
}

impl Handler<ListViewersOf> for RosterActor {
    type Result = Vec<PresenceView>;

    /// Users whose displayed location (the one most recently set by any of
    /// their devices) is the entity; an older device elsewhere does not count.
    fn handle(&mut self, msg: ListViewersOf, _: &mut Context<Self>) -> Self::Result {
        self.roster
            .current_users()
            .into_iter()
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

impl Handler<Watch> for RosterActor {
    type Result = ();

    /// Registers a connection (its own user reaches it in the next diff).
    fn handle(&mut self, msg: Watch, ctx: &mut Context<Self>) {
        let conn = msg.handle.id;
        self.roster.watch(conn, msg.user.as_str(), msg.wants_all);
        self.handles.insert(conn, msg.handle);
        self.schedule(ctx);
    }
}

impl Handler<Unwatch> for RosterActor {
    type Result = ();

    /// Forgets a closed connection.
    fn handle(&mut self, Unwatch(conn): Unwatch, ctx: &mut Context<Self>) {
        self.roster.unwatch(conn);
        self.handles.remove(&conn);
        self.schedule(ctx);
    }
}

impl Handler<SendList> for RosterActor {
    type Result = ();

    /// Sends the list the connection's mode gives it.
    fn handle(&mut self, msg: SendList, _: &mut Context<Self>) {
        let Some((mode, ids)) = self.roster.list_for(msg.connection) else {
            return;
        };
        let frame = match (&msg.r#ref, mode) {
            (None, Mode::All) => {
                let version = self.roster.version();
                match &self.list_frame {
                    Some((v, f)) if *v == version => f.clone(),
                    _ => {
                        let frame = self.list_frame(None, mode, &ids);
                        self.list_frame = Some((version, frame.clone()));
                        frame
                    }
                }
            }
            _ => self.list_frame(msg.r#ref, mode, &ids),
        };
        self.send(msg.connection, frame, Instant::now());
    }
}

impl Handler<Subscription> for RosterActor {
    type Result = ();

    /// Changes a connection's subscriptions and acks with the count.
    fn handle(&mut self, msg: Subscription, ctx: &mut Context<Self>) {
        let result = if msg.subscribe {
            self.roster.subscribe(msg.connection, &msg.users)
        } else {
            Ok(self.roster.unsubscribe(msg.connection, &msg.users))
        };
        let reply = match result {
            Ok(count) => msg.r#ref.map(|r#ref| ServerMessage::Ack {
                r#ref,
                data: Some(serde_json::json!({ "subscribed": count })),
            }),
            Err(SubscribeError::TooMany { max }) => Some(ServerMessage::error(
                msg.r#ref,
                ErrorCode::TooManySubscriptions,
                format!("a connection may subscribe to at most {max} users"),
            )),
            Err(SubscribeError::UnknownConnection) => None,
        };
        if let Some(reply) = reply {
            self.send(msg.connection, reply.to_frame(), Instant::now());
        }
        self.schedule(ctx);
    }
}

impl Handler<RoomInterest> for RosterActor {
    type Result = ();

    /// Records room membership for interest mode.
    fn handle(&mut self, msg: RoomInterest, ctx: &mut Context<Self>) {
        if msg.room.tenant != self.tenant {
            return;
        }
        if msg.entered {
            self.roster.enter_room(msg.connection, msg.room);
        } else {
            self.roster.leave_room(msg.connection, &msg.room);
        }
        self.schedule(ctx);
    }
}

impl Handler<RemoteRoomMembers> for RosterActor {
    type Result = ();

    /// Records a room's members on other nodes for interest mode.
    fn handle(&mut self, msg: RemoteRoomMembers, ctx: &mut Context<Self>) {
        if msg.room.tenant != self.tenant {
            return;
        }
        self.roster.set_room_remote(&msg.room, &msg.users);
        self.schedule(ctx);
    }
}

impl Handler<StopRoster> for RosterActor {
    type Result = ();

    /// Stops.
    fn handle(&mut self, _: StopRoster, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
