//! The session's cluster lease (`cluster::lease`): taken before the load,
//! renewed on the tick at least every third of `redis.document_lease_ms`, given up
//! when the session stops. A session that has not renewed for half the
//! lease (Redis unreachable) or finds it taken refuses changes and stops,
//! so two nodes never write one document: the lease cannot lapse, and no
//! other node can take it, before this one stops writing.

use super::*;
use crate::cluster::lease::Lease;

/// A client refused because the document is open on another node (or the
/// lease could not be checked) may retry after this long.
pub(super) const LEASE_RETRY_AFTER_MS: u64 = 2000;

/// The lease this session holds.
pub(super) struct Held {
    lease: Lease,
    /// Changes are refused from then on unless a renewal succeeded.
    valid_until: Instant,
    last_renewed: Instant,
    renewing: bool,
}

impl Held {
    /// A lease taken by a request sent at `sent`.
    pub(super) fn new(lease: Lease, sent: Instant, ttl: Duration) -> Held {
        Held {
            lease,
            valid_until: sent + ttl / 2,
            last_renewed: sent,
            renewing: false,
        }
    }

    /// The lease itself.
    pub(super) fn lease(&self) -> &Lease {
        &self.lease
    }
}

impl DocumentActor {
    /// On the tick: renews when due; gives up when the lease lapsed.
    pub(super) fn renew_lease(&mut self, ctx: &mut Context<Self>) {
        let Some(leases) = self.services.leases.clone() else {
            return;
        };
        let Some(held) = self.lease.as_mut() else {
            return;
        };
        let now = Instant::now();
        if now >= held.valid_until {
            return self.lease_lost(ctx, "the document lease could not be renewed");
        }
        let ttl = leases.ttl();
        // Renewed on the last tick before a third of the lease has passed
        // (ticks come every `TICK`): a renewal is never late, whatever the
        // phase of the ticks against the lease (with a 3 s lease, every tick).
        if held.renewing || now + TICK < held.last_renewed + ttl / 3 {
            return;
        }
        held.renewing = true;
        let lease = held.lease.clone();
        let renew = async move { leases.renew(&lease).await };
        ctx.spawn(renew.into_actor(self).map(move |result, act, ctx| {
            let Some(held) = act.lease.as_mut() else {
                return;
            };
            held.renewing = false;
            match result {
                Ok(true) => {
                    held.last_renewed = now;
                    held.valid_until = now + ttl / 2;
                }
                Ok(false) => act.lease_lost(ctx, "the document lease was taken over"),
                Err(e) => log::warn!("document {}: lease renewal failed: {e}", act.room),
            }
        }));
    }

    fn lease_lost(&mut self, ctx: &mut Context<Self>, why: &str) {
        log::error!("document {}: {why}; closing the session", self.room);
        self.lease = None;
        self.lease_blocked = true;
        self.load_error = Some(why.to_owned());
        ctx.run_later(Duration::from_millis(LEASE_RETRY_AFTER_MS), |_, ctx| {
            ctx.stop()
        });
    }

    /// Gives the lease up (the session stopped), then tells the other
    /// nodes' forwarding sessions (`doc.closed`) so one of them takes it
    /// without waiting for a request to time out.
    pub(super) fn release_lease(&mut self) {
        if let (Some(leases), Some(held)) = (self.services.leases.clone(), self.lease.take()) {
            let broker = self.services.broker.clone();
            let topic = crate::broker::Topic::Room(self.room.clone());
            let closed = super::wire::DocWire::Closed(super::wire::OwnerClosed {
                node: leases.node().to_owned(),
            });
            actix::spawn(async move {
                leases.release(&held.lease).await;
                broker.publish(topic, closed.to_frame(), None);
            });
        }
    }
}
