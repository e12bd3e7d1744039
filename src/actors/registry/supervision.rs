//! The registry's supervision of room and presence actors that stopped
//! without being retired (see the module doc of `registry`): each actor
//! tells the registry as it is dropped ([`RoomStopped`], [`PresenceStopped`]),
//! routing checks `Addr::connected()`, and a walk over every entry every
//! [`SUPERVISE_EVERY_TICKS`] seconds is the backstop.

use super::*;
use crate::actors::presence::PresenceStopped;
use crate::actors::room::RoomStopped;

/// The backstop walk runs every this many ticks (seconds). It visits every
/// room and presence actor, which at 10,000 idle sockets was an eighth of
/// the node's idle CPU when it ran every second; the stop notices make it
/// a backstop only.
pub(super) const SUPERVISE_EVERY_TICKS: u32 = 30;

/// A stop notice can reach the registry (on another thread) while the
/// actor's mailbox is still being dropped: its address still reads as
/// connected. The entry is checked once more after this.
const RECHECK_AFTER: Duration = Duration::from_millis(100);

impl RegistryActor {
    /// A live presence actor's entry: a dead one is replaced first.
    pub(super) fn live_presence(&mut self, key: &(TenantId, UserId)) -> Option<&PresenceEntry> {
        if self.presence.get(key).is_some_and(|e| !e.addr.connected()) {
            self.restart_presence(key);
        }
        self.presence.get(key)
    }

    /// Replaces a presence actor that stopped unexpectedly: a fresh one is
    /// started and every live socket of the user is attached to it again.
    pub(super) fn restart_presence(&mut self, key: &(TenantId, UserId)) {
        if self.presence.remove(key).is_none() {
            return;
        }
        log::warn!(
            "presence actor of {}/{} stopped unexpectedly; restarting it",
            key.0,
            key.1
        );
        metrics::counter!("tandem_actor_restarts_total", "actor" => "presence").increment(1);
        let sockets: Vec<(ConnectionId, Principal, DeviceInfo)> = self
            .connections
            .iter()
            .filter(|(_, c)| c.principal.tenant == key.0 && c.principal.user == key.1)
            .map(|(id, c)| (*id, c.principal.clone(), c.device.clone()))
            .collect();
        let Some((_, principal, _)) = sockets.first() else {
            // No socket left: the user is offline. The dead actor can no
            // longer tell the roster after its grace, so the registry does,
            // then releases the old actor's roster slot as a retirement would.
            if let Some((roster, _)) = self.rosters.get(&key.0) {
                roster.do_send(crate::actors::roster::UserOffline(key.1.clone()));
            }
            self.release_roster_slot(&key.0);
            return;
        };
        let principal = principal.clone();
        // The user keeps the roster slot: presence_actor counts it again.
        if let Some((_, users)) = self.rosters.get_mut(&key.0) {
            *users = users.saturating_sub(1);
        }
        if let Some(entry) = self.presence_actor(&principal) {
            for (connection, _, device) in sockets {
                entry.attaches_forwarded += 1;
                entry.addr.do_send(Attach { connection, device });
            }
        }
    }

    /// One presence actor of the tenant is gone; the roster stops with its last.
    pub(super) fn release_roster_slot(&mut self, tenant: &TenantId) {
        let empty = match self.rosters.get_mut(tenant) {
            Some((_, users)) => {
                *users = users.saturating_sub(1);
                *users == 0
            }
            None => false,
        };
        if empty {
            if let Some((addr, _)) = self.rosters.remove(tenant) {
                addr.do_send(crate::actors::roster::StopRoster);
            }
        }
    }

    /// A live room's entry, started if there is none or it stopped unexpectedly.
    pub(super) fn live_room(&mut self, room: &RoomId) -> Option<&mut RoomEntry> {
        self.forget_dead_room(room);
        let services = self.services()?;
        Some(self.rooms.entry(room.clone()).or_insert_with(|| {
            let key = room.clone();
            RoomEntry {
                addr: services
                    .pool
                    .clone()
                    .start_actor(room, move |_| RoomActor::new(key, services)),
                joins_forwarded: 0,
            }
        }))
    }

    /// Forgets a room whose actor stopped without being retired.
    pub(super) fn forget_dead_room(&mut self, room: &RoomId) {
        if self.rooms.get(room).is_some_and(|e| !e.addr.connected()) {
            self.rooms.remove(room);
            log::warn!("room {room} stopped unexpectedly; a fresh one starts on next use");
            metrics::counter!("tandem_actor_restarts_total", "actor" => "room").increment(1);
        }
    }

    /// The backstop walk: dead rooms are forgotten, dead presence actors replaced.
    pub(super) fn supervise(&mut self) {
        let dead_rooms: Vec<RoomId> = self
            .rooms
            .iter()
            .filter(|(_, e)| !e.addr.connected())
            .map(|(id, _)| id.clone())
            .collect();
        for room in dead_rooms {
            self.forget_dead_room(&room);
        }
        let dead_users: Vec<(TenantId, UserId)> = self
            .presence
            .iter()
            .filter(|(_, e)| !e.addr.connected())
            .map(|(k, _)| k.clone())
            .collect();
        for key in dead_users {
            self.restart_presence(&key);
        }
    }
}

impl Handler<RoomStopped> for RegistryActor {
    type Result = ();

    /// A room actor is gone: a retired one was forgotten already, a failed
    /// one is forgotten now (or after `RECHECK_AFTER` if its mailbox was
    /// still closing).
    fn handle(&mut self, msg: RoomStopped, ctx: &mut Context<Self>) {
        if self.slots.is_closing() {
            // A graceful stop: every actor goes with the pool.
            return;
        }
        if self
            .rooms
            .get(&msg.room)
            .is_some_and(|e| e.addr.connected())
        {
            ctx.run_later(RECHECK_AFTER, move |act, _| act.forget_dead_room(&msg.room));
            return;
        }
        self.forget_dead_room(&msg.room);
    }
}

impl Handler<PresenceStopped> for RegistryActor {
    type Result = ();

    /// A presence actor is gone: a retired one was forgotten already, a
    /// failed one is replaced now (or after `RECHECK_AFTER`).
    fn handle(&mut self, msg: PresenceStopped, ctx: &mut Context<Self>) {
        if self.slots.is_closing() {
            return;
        }
        let key = (msg.tenant, msg.user);
        if self.presence.get(&key).is_some_and(|e| e.addr.connected()) {
            ctx.run_later(RECHECK_AFTER, move |act, _| {
                act.live_presence(&key);
            });
            return;
        }
        self.live_presence(&key);
    }
}

impl Handler<StopPresenceForTest> for RegistryActor {
    type Result = ResponseFuture<bool>;

    /// Stops the actor without forgetting it; answers once the actor has
    /// handled the stop (false when there is none).
    fn handle(&mut self, msg: StopPresenceForTest, _: &mut Context<Self>) -> Self::Result {
        let addr = self
            .presence
            .get(&(msg.tenant, msg.user))
            .map(|e| e.addr.clone());
        Box::pin(async move {
            match addr {
                Some(addr) => addr
                    .send(crate::actors::presence::StopPresence)
                    .await
                    .is_ok(),
                None => false,
            }
        })
    }
}
