//! The connection lifecycle: a socket or SSE stream opening (attached to
//! its presence actor and roster) and closing (its per-user slot, taken at
//! admission in `slots`, given back).

use super::*;

impl Handler<ConnectionOpened> for RegistryActor {
    type Result = ();

    /// Records the socket and attaches it to the user's presence.
    fn handle(&mut self, msg: ConnectionOpened, _: &mut Context<Self>) {
        let id = msg.handle.id;
        if self.slots.is_closing() {
            msg.handle
                .cut(close_code::SERVICE_RESTART, "server shutting down");
        }
        let principal = msg.principal.clone();
        let device = msg.device.clone();
        self.connections.insert(
            id,
            Box::new(ConnectionEntry {
                handle: msg.handle,
                principal: msg.principal,
                device: msg.device,
            }),
        );
        let wants_all = device.wants_roster;
        let presence_to = msg.presence_to;
        let mut presence = None;
        if let Some(entry) = self.presence_actor(&principal) {
            entry.attaches_forwarded += 1;
            entry.addr.do_send(Attach {
                connection: id,
                device,
            });
            presence = Some(entry.addr.clone());
        }
        presence_to.do_send(PresenceReady(presence));
        if let (Some((roster, _)), Some(entry)) = (
            self.rosters.get(&principal.tenant),
            self.connections.get(&id),
        ) {
            roster.do_send(Watch {
                handle: entry.handle.clone(),
                user: principal.user.clone(),
                wants_all,
            });
        }
    }
}

impl Handler<StreamOpened> for RegistryActor {
    type Result = ();

    /// Records an SSE stream (closed at shutdown like sockets).
    fn handle(&mut self, StreamOpened(handle, principal): StreamOpened, _: &mut Context<Self>) {
        if self.slots.is_closing() {
            handle.cut(close_code::SERVICE_RESTART, "server shutting down");
        }
        self.streams.insert(handle.id, (handle, principal));
    }
}

impl Handler<ConnectionClosed> for RegistryActor {
    type Result = ();

    /// Frees the slot and detaches the socket from presence.
    fn handle(&mut self, msg: ConnectionClosed, _: &mut Context<Self>) {
        self.streams.remove(&msg.id);
        self.slots.release(&msg.tenant, &msg.user);
        let key = (msg.tenant, msg.user);
        if self.connections.remove(&msg.id).is_some() {
            if let Some((roster, _)) = self.rosters.get(&key.0) {
                roster.do_send(Unwatch(msg.id));
            }
            if let Some(entry) = self.live_presence(&key) {
                entry.addr.do_send(Detach { connection: msg.id });
            }
        }
    }
}
