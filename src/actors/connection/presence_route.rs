//! How a connection's presence changes reach its user's presence actor:
//! through the registry until the registry has told the actor's address and
//! handed over everything sent its way, then directly (no round trip through
//! the one registry actor on the hot path). A dead address sends the next
//! change through the registry again, which answers with the new actor.

use super::ConnectionActor;
use crate::actors::presence::PresenceActor;
use crate::actors::registry::{ForwardPresence, PresenceMsg, PresenceReady};
use crate::transport::SocketContext;
use actix::prelude::*;

/// Where a connection's presence changes go.
#[derive(Default)]
pub(super) struct PresenceRoute {
    /// The user's presence actor, once known.
    addr: Option<Addr<PresenceActor>>,
    /// Messages sent through the registry (the attach included) whose
    /// [`PresenceReady`] has not come back yet.
    via_registry: usize,
}

impl PresenceRoute {
    /// The attach (`ConnectionOpened`) went through the registry.
    pub(super) fn attaching() -> Self {
        PresenceRoute {
            addr: None,
            via_registry: 1,
        }
    }
}

impl ConnectionActor {
    /// Sends a presence change, directly when the route allows it.
    pub(super) fn route_presence(&mut self, msg: PresenceMsg, ctx: &mut SocketContext<Self>) {
        let route = &mut self.presence;
        match &route.addr {
            Some(addr) if route.via_registry == 0 && addr.connected() => match msg {
                PresenceMsg::Activity(m) => addr.do_send(m),
                PresenceMsg::SetStatus(m) => addr.do_send(m),
                PresenceMsg::SetLocation(m) => addr.do_send(m),
            },
            _ => {
                route.addr = None;
                route.via_registry += 1;
                self.services.registry.do_send(ForwardPresence {
                    tenant: self.principal.tenant.clone(),
                    user: self.principal.user.clone(),
                    msg,
                    reply_to: Some(ctx.address().recipient()),
                });
            }
        }
    }
}

impl Handler<PresenceReady> for ConnectionActor {
    type Result = ();

    /// One message sent through the registry was handed over; once all
    /// were, later changes go to the actor directly.
    fn handle(&mut self, PresenceReady(addr): PresenceReady, _: &mut Self::Context) {
        let route = &mut self.presence;
        route.via_registry = route.via_registry.saturating_sub(1);
        if route.via_registry == 0 {
            route.addr = addr;
        }
    }
}
