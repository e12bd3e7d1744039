//! The bound on one socket's outbound queue, shared between the socket's
//! actor and everyone who sends to it. Used by WebSocket connections, SSE
//! streams and Yjs sockets alike.
//!
//! Senders reserve a slot before handing a frame to the actor, and the actor
//! releases it when it writes the frame. (A WebSocket's handle writes into
//! the socket's shared output instead, which counts the frames waiting
//! there against the same limit: `transport::sink`.) Once a peer stops reading, the
//! actor stops running (the transport does not run a socket's actor while
//! more than `transport::context::HIGH_WATER` bytes wait to be written), so
//! the count grows; past the limit the socket is closed, and its TCP stream
//! is cut after a grace period through its descriptor's number (a
//! [`SocketRef`], no second descriptor), since the stalled actor cannot
//! close it itself.

use crate::transport::socket::SocketRef;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

/// The queue bound of one socket.
pub struct Outbound {
    /// Frames handed to the actor and not yet written to its socket.
    queued: AtomicUsize,
    /// Set once the socket is being closed.
    closing: AtomicBool,
    /// Last time (ms since process start) the actor ran its liveness tick.
    last_tick_ms: AtomicI64,
    /// Queue bound.
    limit: usize,
    /// How long the close frame may take before the TCP stream is cut.
    grace: Duration,
    /// The TCP socket, to cut it when its actor cannot run because its
    /// peer stopped reading.
    socket: Option<SocketRef>,
}

impl Outbound {
    /// A bound of `limit` frames.
    pub fn new(limit: usize, grace: Duration, socket: Option<SocketRef>) -> Self {
        Outbound {
            queued: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            last_tick_ms: AtomicI64::new(crate::clock::monotonic_ms()),
            limit,
            grace,
            socket,
        }
    }

    /// Takes a slot for one frame; false (nothing taken) when the socket is
    /// closing or the queue is full.
    pub fn reserve(&self) -> bool {
        if self.is_closing() {
            return false;
        }
        let queued = self.queued.fetch_add(1, Ordering::AcqRel) + 1;
        if queued > self.limit {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// The actor wrote (or dropped) a frame.
    pub fn release(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// The queue bound, in frames.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Frames waiting.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// True once the socket is being closed.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// Records that the actor is running (its periodic tick).
    pub fn tick(&self) {
        self.last_tick_ms
            .store(crate::clock::monotonic_ms(), Ordering::Relaxed);
    }

    /// Milliseconds from the actor's last tick to `now`.
    pub fn stalled_at(&self, now: i64) -> i64 {
        now - self.last_tick_ms.load(Ordering::Relaxed)
    }

    /// Marks the socket as closing; true only for the first caller, who
    /// then asks the actor to close and calls [`Outbound::cut_after_grace`].
    pub fn begin_close(&self) -> bool {
        !self.closing.swap(true, Ordering::AcqRel)
    }

    /// Cuts the TCP stream after the grace period if the actor is still
    /// running then (it could not write its close frame).
    pub fn cut_after_grace(&self, still_running: impl Fn() -> bool + Send + 'static) {
        if let Some(socket) = &self.socket {
            socket.cut_after(self.grace, still_running);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_stops_at_the_limit_and_after_close() {
        let o = Outbound::new(2, Duration::ZERO, None);
        assert!(o.reserve() && o.reserve());
        assert!(!o.reserve(), "full");
        assert_eq!(o.queued(), 2);
        o.release();
        assert!(o.reserve());
        assert!(o.begin_close());
        assert!(!o.begin_close(), "only the first caller closes");
        assert!(!o.reserve(), "closing");
    }
}
