//! What the admin API shows about one connection, shared between the
//! connection's actor (which updates it) and the registry (which lists it):
//! transport, when it connected, its rooms and its message counters. The
//! counters are relaxed atomics and the room list a mutex touched only on
//! join and leave, so the message path pays one atomic add.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One connection's admin-visible facts.
#[derive(Debug)]
pub struct ConnectionStats {
    /// `ws`, `sse` or `yjs`.
    pub transport: &'static str,
    /// When the connection was admitted (wall clock, for display).
    pub connected_at: chrono::DateTime<chrono::Utc>,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    rooms: Mutex<Vec<String>>,
}

impl ConnectionStats {
    /// Fresh counters for a connection opened now.
    pub fn new(transport: &'static str) -> Self {
        ConnectionStats {
            transport,
            connected_at: chrono::Utc::now(),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            rooms: Mutex::new(Vec::new()),
        }
    }

    /// A message arrived from the client.
    pub fn received(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
    }

    /// A message was written to the client.
    pub fn sent(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages received so far.
    pub fn messages_in(&self) -> u64 {
        self.messages_in.load(Ordering::Relaxed)
    }

    /// Messages written so far.
    pub fn messages_out(&self) -> u64 {
        self.messages_out.load(Ordering::Relaxed)
    }

    /// The connection is now in `room` (its display form).
    pub fn joined(&self, room: String) {
        if let Ok(mut rooms) = self.rooms.lock() {
            if !rooms.contains(&room) {
                // Most sockets are in one or two rooms: grown one at a
                // time, not to a `Vec`'s first four.
                rooms.reserve_exact(1);
                rooms.push(room);
            }
        }
    }

    /// The connection left `room`.
    pub fn left(&self, room: &str) {
        if let Ok(mut rooms) = self.rooms.lock() {
            rooms.retain(|r| r != room);
        }
    }

    /// The rooms the connection is in, in join order.
    pub fn rooms(&self) -> Vec<String> {
        self.rooms.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rooms() {
        let s = ConnectionStats::new("ws");
        s.received();
        s.sent();
        s.sent();
        s.joined("doc/1".into());
        s.joined("doc/1".into());
        s.joined("doc/2".into());
        s.left("doc/1");
        assert_eq!((s.messages_in(), s.messages_out()), (1, 2));
        assert_eq!(s.rooms(), ["doc/2"]);
        assert_eq!(s.transport, "ws");
    }
}
