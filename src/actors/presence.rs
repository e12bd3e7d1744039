//! One actor per (tenant, user): all of the user's devices, status, last
//! activity and location. A thin shell over [`UserPresence`]: it applies each
//! change, tells the tenant's roster what others should see, and appends a
//! row to user_presence_log through the log writer.

use super::log_writer::PresenceLogRow;
use super::roster::{RosterActor, UserChanged, UserOffline};
use super::Services;
use crate::actors::shell::DeviceInfo;
use crate::auth::Principal;
use crate::ids::{ConnectionId, TenantId, UserId};
use crate::presence_state::{Change, Device, Status, UserPresence};
use crate::protocol::client::ChosenStatus;
use crate::protocol::server::LocationView;
use crate::roster_state::merge::Choice;
use actix::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection of this user opened.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Attach {
    /// The connection.
    pub connection: ConnectionId,
    /// Its device.
    pub device: DeviceInfo,
}

/// A connection of this user closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Detach {
    /// The connection.
    pub connection: ConnectionId,
}

/// The user did something (sent a message).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Activity;

/// The user chose a status.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetStatus(pub ChosenStatus);

/// A connection reported where it is in the app.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetLocation {
    /// The connection.
    pub connection: ConnectionId,
    /// Where.
    pub location: LocationView,
}

/// To the registry: a user with no connections went offline and wants to
/// stop (defined here so presence does not import the registry).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PresenceIdle {
    /// Tenant.
    pub tenant: TenantId,
    /// User.
    pub user: UserId,
    /// Attaches it has processed.
    pub attaches_seen: u64,
}

/// The registry retired this actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopPresence;

/// To the registry: this user's presence actor is gone (sent as the actor
/// is dropped, whether it was retired or failed). The registry checks its
/// entry at once instead of finding a dead actor by polling.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PresenceStopped {
    /// Tenant.
    pub tenant: TenantId,
    /// User.
    pub user: UserId,
}

/// A user's presence on this node.
pub struct PresenceActor {
    tenant: TenantId,
    user: UserId,
    name: Arc<str>,
    state: UserPresence,
    roster: Addr<RosterActor>,
    services: Arc<Services>,
    /// Attaches processed, for race-free reaping.
    attaches_seen: u64,
    /// Per connection: when it connected and its ip, for the log.
    connected:
        crate::small_map::SmallMap<ConnectionId, (chrono::DateTime<chrono::Utc>, Option<String>)>,
    /// True while the idle timer is set (see [`PresenceActor::watch_idle`]).
    idle_timer: bool,
}

impl PresenceActor {
    /// A presence actor for the principal's user.
    pub fn new(principal: &Principal, roster: Addr<RosterActor>, services: Arc<Services>) -> Self {
        PresenceActor {
            tenant: principal.tenant.clone(),
            user: principal.user.clone(),
            name: principal.name.clone(),
            state: UserPresence::new(Instant::now()),
            roster,
            services,
            attaches_seen: 0,
            connected: Default::default(),
            idle_timer: false,
        }
    }

    /// Sets the one idle timer for when the user would turn away, unless it
    /// is set already. No periodic tick: when the timer fires it applies
    /// the idle check, then sets itself again for the (possibly later, after
    /// activity meanwhile) next deadline, if there is one.
    fn watch_idle(&mut self, ctx: &mut Context<Self>) {
        if self.idle_timer {
            return;
        }
        let away_after = Duration::from_secs(self.services.settings.presence.away_after_secs);
        let Some(at) = self.state.away_at(away_after) else {
            return;
        };
        self.idle_timer = true;
        ctx.run_later(
            at.saturating_duration_since(Instant::now()),
            move |act, ctx| {
                act.idle_timer = false;
                let change = act.state.tick(Instant::now(), away_after);
                if change != Change::None {
                    if let Some(&id) = act.connected.keys().next() {
                        act.log("status", id, false);
                    }
                }
                act.publish(change);
                act.watch_idle(ctx);
            },
        );
    }

    /// Tells the roster what changed.
    fn publish(&self, change: Change) {
        match change {
            Change::None | Change::LastDeviceGone => {}
            Change::CameOnline | Change::Updated => self.roster.do_send(UserChanged {
                view: self.state.view(self.user.as_str(), &self.name),
                choice: self.state.choice().map(|(status, at)| Choice {
                    status: match status {
                        ChosenStatus::Online => "online",
                        ChosenStatus::Busy => "busy",
                        ChosenStatus::Away => "away",
                    }
                    .to_owned(),
                    at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                }),
            }),
            Change::WentOffline => self.roster.do_send(UserOffline(self.user.clone())),
        }
    }

    /// Appends a presence log row (written off this mailbox by the log writer).
    fn log(&self, event: &'static str, connection: ConnectionId, disconnected: bool) {
        let (connected_at, ip) = self
            .connected
            .get(&connection)
            .cloned()
            .unwrap_or((chrono::Utc::now(), None));
        let device = self.state.device(connection);
        let location = device.and_then(|d| d.location.clone()).unwrap_or_default();
        self.services.log_writer.do_send(PresenceLogRow {
            tenant_id: self.tenant.to_string(),
            user_id: self.user.to_string(),
            connection_id: connection.to_string(),
            event,
            // A disconnect of the last device is logged as offline.
            status: if disconnected && self.state.device_count() <= 1 {
                "offline"
            } else {
                self.state.status().as_str()
            },
            current_page: location.page,
            current_entity_type: location.entity_type,
            current_entity_id: location.entity_id,
            device_type: device.map(|d| d.device_type.clone()),
            browser: device.and_then(|d| d.browser.clone()),
            ip_address: ip,
            connected_at: Some(connected_at),
            disconnected_at: disconnected.then(chrono::Utc::now),
            last_activity_at: Some(self.state.last_activity_at()),
            created_at: chrono::Utc::now(),
        });
    }
}

impl Actor for PresenceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.watch_idle(ctx);
    }
}

impl Drop for PresenceActor {
    /// Tells the registry, however the actor ended (a panic unwinds through
    /// here too), so a failed actor is replaced without a periodic walk.
    fn drop(&mut self) {
        self.services.registry.do_send(PresenceStopped {
            tenant: self.tenant.clone(),
            user: self.user.clone(),
        });
    }
}

impl Handler<Attach> for PresenceActor {
    type Result = ();

    /// Adds the device; a returning user within the grace period shows no offline.
    fn handle(&mut self, msg: Attach, ctx: &mut Context<Self>) {
        self.attaches_seen += 1;
        self.connected
            .insert(msg.connection, (chrono::Utc::now(), msg.device.ip.clone()));
        let change = self.state.attach(
            msg.connection,
            Device {
                device_type: msg.device.device_type,
                browser: msg.device.browser,
                location: None,
                location_seq: 0,
            },
            Instant::now(),
        );
        self.log("connect", msg.connection, false);
        self.publish(change);
        self.watch_idle(ctx);
    }
}

impl Handler<Detach> for PresenceActor {
    type Result = ();

    /// Removes the device; with none left, waits out the grace period.
    fn handle(&mut self, msg: Detach, ctx: &mut Context<Self>) {
        if self.state.device(msg.connection).is_some() {
            self.log("disconnect", msg.connection, true);
        }
        let change = self.state.detach(msg.connection, Instant::now());
        self.connected.remove(&msg.connection);
        if change == Change::LastDeviceGone {
            let grace = Duration::from_millis(self.services.settings.presence.offline_grace_ms);
            ctx.run_later(grace, move |act, _| {
                let change = act.state.grace_elapsed(Instant::now(), grace);
                act.publish(change);
                if act.state.is_gone() {
                    act.services.registry.do_send(PresenceIdle {
                        tenant: act.tenant.clone(),
                        user: act.user.clone(),
                        attaches_seen: act.attaches_seen,
                    });
                }
            });
        }
        self.publish(change);
    }
}

impl Handler<Activity> for PresenceActor {
    type Result = ();

    /// Resets the idle clock; away from idleness becomes online.
    fn handle(&mut self, _: Activity, ctx: &mut Context<Self>) {
        let change = self.state.activity(Instant::now());
        if change != Change::None {
            if let Some(&id) = self.connected.keys().next() {
                self.log("status", id, false);
            }
        }
        self.publish(change);
        self.watch_idle(ctx);
    }
}

impl Handler<SetStatus> for PresenceActor {
    type Result = ();

    /// Applies a chosen status.
    fn handle(&mut self, SetStatus(status): SetStatus, ctx: &mut Context<Self>) {
        let change = self.state.set_status(status, Instant::now());
        if change != Change::None {
            if let Some(&id) = self.connected.keys().next() {
                self.log("status", id, false);
            }
        }
        // A choice that leaves this node's status as it was still tells the
        // roster: in a cluster the merged status follows the latest choice
        // (alone, the roster sees an unchanged view and sends nothing).
        let change = match change {
            Change::None if self.state.status() != Status::Offline => Change::Updated,
            other => other,
        };
        self.publish(change);
        self.watch_idle(ctx);
    }
}

impl Handler<SetLocation> for PresenceActor {
    type Result = ();

    /// Records where a device is.
    fn handle(&mut self, msg: SetLocation, _: &mut Context<Self>) {
        let change = self.state.set_location(msg.connection, msg.location);
        self.publish(change);
    }
}

impl Handler<StopPresence> for PresenceActor {
    type Result = ();

    /// Stops, unless a device came back meanwhile (the registry never sends
    /// this then, but stay safe).
    fn handle(&mut self, _: StopPresence, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
