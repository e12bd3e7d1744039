//! Tenants known to have no unread notifications, so a connect in such a
//! tenant sends `notification:count` 0 without a database query.
//!
//! Every socket gets its unread count on connect. For a tenant that never
//! uses notifications that was one PostgreSQL query per connect, about a
//! quarter of a connect's CPU in a connect storm (BENCHMARKS.md, "No count
//! query for tenants without unread notifications").
//!
//! The cache only ever says "none": a tenant is marked after a probe
//! (`store::has_unread`) found no unread, live notification in it,
//! and unmarked when a notification is created in it. The whole node is
//! marked the same way when a node-wide probe (the same query, for every
//! tenant) found no
//! unread notification in any tenant, which is how a node whose apps do
//! not use notifications skips the query for every tenant, new ones too. Unread notifications
//! appear in no other way (reads, expiry and deletion only take them away),
//! so a mark stays true until the next creation. A probe's answer is thrown
//! away if a creation in the tenant was running when the probe was handed
//! out or started after it (the `generation` and the `writers` count), so a
//! probe that raced an insert never marks the tenant.
//!
//! Only a node alone can know every creation: with Redis (a cluster) the
//! other nodes create notifications too, so the cache is off there and
//! every connect queries, as before.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A tenant whose probe found unread notifications is probed again at most
/// this often (on a connect whose own count is 0).
pub const PROBE_EVERY: Duration = Duration::from_secs(10);

/// At most this many tenants are remembered; past it the table starts
/// over (the next connects query again).
pub const MAX_TENANTS: usize = 100_000;

/// See the module docs.
#[derive(Debug)]
pub struct UnreadCache {
    enabled: bool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Tenants with no unread notification.
    none: HashSet<String>,
    /// When each tenant was last probed.
    probed_at: HashMap<String, Instant>,
    /// Nobody in any tenant has an unread notification.
    all_none: bool,
    /// When the node-wide probe was last handed out.
    all_probed_at: Option<Instant>,
    /// Creations running, per tenant.
    writers: HashMap<String, usize>,
    /// Bumped when a creation starts and when it ends.
    generation: u64,
}

/// Leave to probe a tenant, handed out by [`UnreadCache::probe`].
#[derive(Debug)]
#[must_use = "give the probe's answer to UnreadCache::settle"]
pub struct Probe {
    /// The tenant asked about; `None`: every tenant.
    tenant: Option<String>,
    generation: u64,
}

impl Probe {
    /// The tenant to ask about (`store::has_unread`); `None`: every tenant.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }
}

/// Held while a creation in a tenant runs (see [`UnreadCache::writing`]).
#[must_use = "the tenant counts as being written only while this is held"]
pub struct Writing<'a> {
    cache: &'a UnreadCache,
    tenant: String,
}

impl UnreadCache {
    /// A cache that is on (`enabled`, a node alone) or always says "ask".
    pub fn new(enabled: bool) -> Self {
        UnreadCache {
            enabled,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `tenant` is known to have no unread notification.
    pub fn knows_none(&self, tenant: &str) -> bool {
        if !self.enabled {
            return false;
        }
        let s = self.state();
        s.all_none || s.none.contains(tenant)
    }

    /// A creation in `tenant` starts: the tenant is unmarked now, and no
    /// probe handed out before the returned guard drops may mark it.
    pub fn writing(&self, tenant: &str) -> Writing<'_> {
        let mut s = self.state();
        s.none.remove(tenant);
        s.all_none = false;
        *s.writers.entry(tenant.to_owned()).or_insert(0) += 1;
        s.generation += 1;
        Writing {
            cache: self,
            tenant: tenant.to_owned(),
        }
    }

    /// Leave to ask the database whether anyone has unread notifications:
    /// in every tenant when the node-wide probe was not handed out within
    /// [`PROBE_EVERY`] of `now` and no creation is running anywhere,
    /// otherwise in `tenant`. `None` when the cache is off, the tenant is
    /// marked already, a creation in it is running, or it was probed within
    /// [`PROBE_EVERY`] of `now`.
    pub fn probe(&self, tenant: &str, now: Instant) -> Option<Probe> {
        if !self.enabled {
            return None;
        }
        let mut s = self.state();
        if s.all_none || s.none.contains(tenant) || s.writers.get(tenant).is_some_and(|n| *n > 0) {
            return None;
        }
        let all_due = s
            .all_probed_at
            .is_none_or(|at| now.saturating_duration_since(at) >= PROBE_EVERY);
        if all_due && s.writers.is_empty() {
            s.all_probed_at = Some(now);
            return Some(Probe {
                tenant: None,
                generation: s.generation,
            });
        }
        if s.probed_at
            .get(tenant)
            .is_some_and(|at| now.saturating_duration_since(*at) < PROBE_EVERY)
        {
            return None;
        }
        if s.probed_at.len() >= MAX_TENANTS {
            s.probed_at.clear();
        }
        s.probed_at.insert(tenant.to_owned(), now);
        Some(Probe {
            tenant: Some(tenant.to_owned()),
            generation: s.generation,
        })
    }

    /// The probe's answer: marks the tenant (or the node, for a node-wide
    /// probe) when nobody has an unread notification and no creation ran
    /// since the probe was handed out.
    pub fn settle(&self, probe: Probe, has_unread: bool) {
        let mut s = self.state();
        if has_unread || s.generation != probe.generation {
            return;
        }
        let Some(tenant) = probe.tenant else {
            // Tenant marks stay: a creation later unmarks only its tenant.
            s.all_none = true;
            s.probed_at.clear();
            return;
        };
        if s.none.len() >= MAX_TENANTS {
            s.none.clear();
        }
        // Marked: not probed again until a creation unmarks it.
        s.probed_at.remove(&tenant);
        s.none.insert(tenant);
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let mut s = self.cache.state();
        if let Some(n) = s.writers.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.writers.remove(&self.tenant);
            }
        }
        s.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// A cache whose node-wide probe found unread notifications somewhere,
    /// so probes after it ask about single tenants.
    fn someone_has_unread(now: Instant) -> UnreadCache {
        let cache = UnreadCache::new(true);
        let p = cache.probe("t", now).unwrap();
        assert!(
            p.tenant().is_none(),
            "the first probe asks about every tenant"
        );
        cache.settle(p, true);
        cache
    }

    #[test]
    fn a_probe_that_finds_nothing_marks_the_tenant_until_a_creation() {
        let now = Instant::now();
        let cache = someone_has_unread(now);
        assert!(!cache.knows_none("t"));
        let p = cache.probe("t", now).unwrap();
        assert_eq!(p.tenant(), Some("t"));
        cache.settle(p, false);
        assert!(cache.knows_none("t"));
        assert!(!cache.knows_none("other"), "one tenant's mark is its own");
        assert!(cache.probe("t", now).is_none(), "marked: nothing to ask");
        drop(cache.writing("t"));
        assert!(!cache.knows_none("t"), "a creation unmarks it");
    }

    #[test]
    fn a_node_wide_probe_that_finds_nothing_marks_every_tenant_until_a_creation() {
        let now = Instant::now();
        let cache = UnreadCache::new(true);
        let p = cache.probe("t", now).unwrap();
        assert!(p.tenant().is_none());
        cache.settle(p, false);
        assert!(cache.knows_none("t") && cache.knows_none("never-seen"));
        assert!(cache.probe("new", now).is_none(), "marked: nothing to ask");
        drop(cache.writing("x"));
        assert!(!cache.knows_none("x"));
        assert!(!cache.knows_none("y"), "conservative: y is asked again");
        // The node-wide probe waits its turn; single tenants are asked.
        let p = cache.probe("y", now).unwrap();
        assert_eq!(p.tenant(), Some("y"));
        let p = cache.probe("z", now + PROBE_EVERY).unwrap();
        assert!(p.tenant().is_none());
    }

    #[test]
    fn a_probe_that_finds_unread_marks_nothing_and_waits_before_the_next() {
        let now = Instant::now();
        let cache = someone_has_unread(now);
        let p = cache.probe("t", now).unwrap();
        cache.settle(p, true);
        assert!(!cache.knows_none("t"));
        assert!(cache.probe("t", now + PROBE_EVERY / 2).is_none());
        // Due again: the node-wide probe comes first.
        assert!(cache
            .probe("t", now + PROBE_EVERY)
            .unwrap()
            .tenant()
            .is_none());
        assert_eq!(
            cache.probe("t", now + PROBE_EVERY).unwrap().tenant(),
            Some("t")
        );
    }

    #[test]
    fn a_probe_raced_by_a_creation_is_thrown_away() {
        let now = Instant::now();
        let cache = someone_has_unread(now);
        // Creation starts after the probe was handed out (its insert may
        // commit after the probe's read).
        let p = cache.probe("t", now).unwrap();
        let w = cache.writing("t");
        cache.settle(p, false);
        assert!(!cache.knows_none("t"));
        // While a creation runs, no probe of its tenant, and no node-wide
        // one, is handed out.
        assert!(cache.probe("t", now + PROBE_EVERY).is_none());
        assert_eq!(
            cache.probe("u", now + PROBE_EVERY).unwrap().tenant(),
            Some("u")
        );
        drop(w);
        // Ended before the probe: the probe reads after the commit.
        let p = cache.probe("t", now + PROBE_EVERY * 2).unwrap();
        assert!(p.tenant().is_none());
        cache.settle(p, true);
        let p = cache.probe("t", now + PROBE_EVERY * 2).unwrap();
        cache.settle(p, false);
        assert!(cache.knows_none("t"));
    }

    #[test]
    fn a_node_wide_probe_raced_by_a_creation_is_thrown_away() {
        let now = Instant::now();
        let cache = UnreadCache::new(true);
        let p = cache.probe("t", now).unwrap();
        drop(cache.writing("other"));
        cache.settle(p, false);
        assert!(!cache.knows_none("t"), "any creation voids it");
    }

    #[test]
    fn off_it_always_asks() {
        let cache = UnreadCache::new(false);
        assert!(cache.probe("t", Instant::now()).is_none());
        assert!(!cache.knows_none("t"));
    }
}
