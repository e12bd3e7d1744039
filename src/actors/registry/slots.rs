//! The node's per-user socket slots and connection ids, shared by the
//! upgrade handlers (which admit a socket in place, without a round trip to
//! the registry actor: two thread hops fewer per connect) and the sockets
//! that give their slot back when they end.

use super::AdmitError;
use crate::ids::{ConnectionId, TenantId, UserId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Admitted sockets (WebSocket and SSE) per user, and the next id.
#[derive(Debug)]
pub struct SocketSlots {
    max_per_user: usize,
    next_id: AtomicU64,
    closing: AtomicBool,
    per_user: Mutex<HashMap<(TenantId, UserId), usize>>,
}

impl SocketSlots {
    /// A table allowing `max_per_user` sockets per user.
    pub fn new(max_per_user: usize) -> Self {
        SocketSlots {
            max_per_user,
            next_id: AtomicU64::new(1),
            closing: AtomicBool::new(false),
            per_user: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one of the user's slots and hands out a connection id; the
    /// socket gives the slot back with [`SocketSlots::release`].
    pub fn admit(&self, tenant: &TenantId, user: &UserId) -> Result<ConnectionId, AdmitError> {
        if self.is_closing() {
            return Err(AdmitError::ShuttingDown);
        }
        let mut per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
        let count = per_user.entry((tenant.clone(), user.clone())).or_insert(0);
        if *count >= self.max_per_user {
            return Err(AdmitError::TooManyConnections);
        }
        *count += 1;
        Ok(ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed)))
    }

    /// Gives back a slot taken by [`SocketSlots::admit`].
    pub fn release(&self, tenant: &TenantId, user: &UserId) {
        let mut per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
        let key = (tenant.clone(), user.clone());
        if let Some(count) = per_user.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_user.remove(&key);
            }
        }
    }

    /// From now on every socket is refused (a graceful stop began).
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// True once [`SocketSlots::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Users holding at least one slot.
    pub fn users(&self) -> usize {
        self.per_user
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ids(t: &str, u: &str) -> (TenantId, UserId) {
        (TenantId::new(t), UserId::new(u))
    }

    #[test]
    fn a_user_gets_at_most_max_slots_and_gets_them_back() {
        let slots = SocketSlots::new(2);
        let (t, ann) = ids("acme", "ann");
        let a = slots.admit(&t, &ann).unwrap();
        let b = slots.admit(&t, &ann).unwrap();
        assert_ne!(a, b);
        assert_eq!(slots.admit(&t, &ann), Err(AdmitError::TooManyConnections));
        // Another user, and the same user id in another tenant, are apart.
        let (other, bob) = ids("globex", "bob");
        assert!(slots.admit(&t, &bob).is_ok());
        assert!(slots.admit(&other, &ann).is_ok());
        slots.release(&t, &ann);
        assert!(slots.admit(&t, &ann).is_ok());
        // Releasing more than was taken never goes below zero.
        for _ in 0..3 {
            slots.release(&t, &bob);
        }
        assert_eq!(slots.users(), 2);
        assert!(slots.admit(&t, &bob).is_ok());
    }

    #[test]
    fn nothing_is_admitted_once_closing() {
        let slots = SocketSlots::new(5);
        let (t, ann) = ids("acme", "ann");
        slots.admit(&t, &ann).unwrap();
        assert!(!slots.is_closing());
        slots.close();
        assert!(slots.is_closing());
        assert_eq!(slots.admit(&t, &ann), Err(AdmitError::ShuttingDown));
    }

    #[test]
    fn ids_are_unique_across_threads() {
        let slots = std::sync::Arc::new(SocketSlots::new(usize::MAX));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let slots = slots.clone();
                std::thread::spawn(move || {
                    let (t, u) = ids("acme", &format!("u{i}"));
                    (0..500)
                        .map(|_| slots.admit(&t, &u).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_by_key(|c| c.0);
        all.dedup();
        assert_eq!(all.len(), 2000);
    }
}
