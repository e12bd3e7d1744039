//! A forwarding session's bookkeeping (pure): which node owns the document,
//! which forwarded requests still owe their member a reply, and whether the
//! owner is suspect (it missed an answer, said it has no open session, or
//! closed), in which case the next request first tries to take the
//! document over. `forward.rs` drives it; `T` is what it needs to answer a
//! member (its connection and the request's `ref`), `R` a request.
//!
//! Before the first request goes out, the owner must have answered a ping:
//! its answers come back over this node's subscription to the room's Redis
//! channel, which reaches Redis a moment after the room opened. Requests
//! are held (in order) until then, so none is answered into the void.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The state of a session that forwards to another node.
pub(super) struct Proxy<T, R> {
    owner: String,
    suspect: bool,
    waiting: HashMap<u64, (T, Instant)>,
    /// An owner answered a ping: answers reach this node.
    confirmed: bool,
    /// The ping waiting for its answer, and when pinging began.
    ping: Option<(u64, Instant)>,
    /// Requests held until the first answer.
    held: Vec<R>,
}

impl<T, R> Proxy<T, R> {
    /// Forwarding to `owner`, trusted until it misses an answer.
    pub(super) fn new(owner: String) -> Self {
        Proxy {
            owner,
            suspect: false,
            waiting: HashMap::new(),
            confirmed: false,
            ping: None,
            held: Vec::new(),
        }
    }

    /// True once an owner answered a ping: requests go out directly.
    pub(super) fn confirmed(&self) -> bool {
        self.confirmed
    }

    /// Holds a request until the first answer; true when a ping should go
    /// out (none is waiting).
    pub(super) fn hold(&mut self, request: R) -> bool {
        self.held.push(request);
        self.ping.is_none()
    }

    /// Ping `id` went out at `now` (pinging began then, unless it had).
    pub(super) fn pinged(&mut self, id: u64, now: Instant) {
        let began = self.ping.map_or(now, |(_, began)| began);
        self.ping = Some((id, began));
    }

    /// True while a ping waits for its answer.
    pub(super) fn pinging(&self) -> bool {
        self.ping.is_some()
    }

    /// Answer `id`: when it answers the ping, the held requests (to forward,
    /// or to refuse when `gone`).
    pub(super) fn pong(&mut self, id: u64, gone: bool) -> Option<Vec<R>> {
        if self.ping.map(|(ping, _)| ping) != Some(id) {
            return None;
        }
        self.ping = None;
        self.suspect = gone;
        self.confirmed |= !gone;
        Some(std::mem::take(&mut self.held))
    }

    /// Pinging began `timeout` or longer before `now` with no answer: the
    /// owner is suspect; the held requests (to refuse).
    pub(super) fn ping_expired(&mut self, now: Instant, timeout: Duration) -> Option<Vec<R>> {
        let (_, began) = self.ping?;
        if now.saturating_duration_since(began) < timeout {
            return None;
        }
        self.ping = None;
        self.suspect = true;
        Some(std::mem::take(&mut self.held))
    }

    /// The node requests go to.
    pub(super) fn owner(&self) -> &str {
        &self.owner
    }

    /// True when the next request should first try to take the document.
    pub(super) fn suspect(&self) -> bool {
        self.suspect
    }

    /// The holder as just read from Redis: trusted again (the requests
    /// waiting for a previous owner keep waiting, and time out).
    pub(super) fn retarget(&mut self, owner: String) {
        self.owner = owner;
        self.suspect = false;
    }

    /// A request forwarded at `now` that owes `item` a reply.
    pub(super) fn sent(&mut self, id: u64, item: T, now: Instant) {
        self.waiting.insert(id, (item, now));
    }

    /// The owner answered request `id` (`gone`: it has no open session, so
    /// it did not serve it). Returns the waiting entry (to answer the
    /// member when `gone`).
    pub(super) fn answered(&mut self, id: u64, gone: bool) -> Option<T> {
        self.suspect = gone;
        self.waiting.remove(&id).map(|(item, _)| item)
    }

    /// Requests sent `timeout` or longer before `now`: removed, and the
    /// owner becomes suspect when there is any.
    pub(super) fn late(&mut self, now: Instant, timeout: Duration) -> Vec<T> {
        let ids: Vec<u64> = self
            .waiting
            .iter()
            .filter(|(_, (_, sent))| now.saturating_duration_since(*sent) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        if !ids.is_empty() {
            self.suspect = true;
        }
        ids.iter()
            .filter_map(|id| self.waiting.remove(id))
            .map(|(item, _)| item)
            .collect()
    }

    /// The owner on `node` closed: if it is this one, every waiting request
    /// (none will be answered), and the owner is suspect; `None` otherwise.
    pub(super) fn owner_closed(&mut self, node: &str) -> Option<Vec<T>> {
        if node != self.owner {
            return None;
        }
        self.suspect = true;
        Some(self.drain())
    }

    /// Every waiting request (forwarding ends).
    pub(super) fn drain(&mut self) -> Vec<T> {
        self.waiting.drain().map(|(_, (item, _))| item).collect()
    }

    /// Every held request (forwarding ends).
    pub(super) fn drain_held(&mut self) -> Vec<R> {
        self.ping = None;
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(2500);

    #[test]
    fn an_answered_request_is_no_longer_waiting_and_clears_suspicion() {
        let t0 = Instant::now();
        let mut p = Proxy::<&str, u32>::new("a".to_owned());
        p.sent(1, "r1", t0);
        p.sent(2, "r2", t0);
        assert_eq!(p.answered(1, false), Some("r1"));
        assert_eq!(p.answered(1, false), None, "answered once");
        assert!(!p.suspect());
        // Late, then answered after all: the owner lives.
        assert_eq!(p.late(t0 + TIMEOUT, TIMEOUT), vec!["r2"]);
        assert!(p.suspect());
        assert_eq!(p.answered(2, false), None);
        assert!(!p.suspect());
    }

    #[test]
    fn only_requests_past_the_timeout_are_late() {
        let t0 = Instant::now();
        let mut p = Proxy::<&str, u32>::new("a".to_owned());
        p.sent(1, "old", t0);
        p.sent(2, "new", t0 + Duration::from_secs(2));
        assert!(p.late(t0 + Duration::from_millis(2499), TIMEOUT).is_empty());
        assert!(!p.suspect(), "nothing late yet");
        assert_eq!(p.late(t0 + TIMEOUT, TIMEOUT), vec!["old"]);
        assert!(p.suspect());
        assert_eq!(p.drain(), vec!["new"]);
        assert!(p.drain().is_empty());
    }

    #[test]
    fn gone_makes_the_owner_suspect_and_a_retarget_trusts_the_new_one() {
        let t0 = Instant::now();
        let mut p = Proxy::<&str, u32>::new("a".to_owned());
        p.sent(1, "r1", t0);
        assert_eq!(p.answered(1, true), Some("r1"));
        assert!(p.suspect());
        p.retarget("b".to_owned());
        assert_eq!((p.owner(), p.suspect()), ("b", false));
    }

    #[test]
    fn requests_are_held_until_a_ping_is_answered() {
        let t0 = Instant::now();
        let mut p = Proxy::<&str, u32>::new("a".to_owned());
        assert!(!p.confirmed());
        assert!(p.hold(1), "the first held request pings");
        p.pinged(10, t0);
        assert!(!p.hold(2), "one ping at a time");
        assert!(p.pinging());
        // A ping resent: pinging began with the first one.
        p.pinged(11, t0 + Duration::from_millis(100));
        assert_eq!(p.pong(10, false), None, "an old ping's answer is not it");
        assert_eq!(
            p.ping_expired(t0 + Duration::from_millis(2499), TIMEOUT),
            None
        );
        assert_eq!(p.pong(11, false), Some(vec![1, 2]), "in order");
        assert!(p.confirmed() && !p.pinging() && !p.suspect());
    }

    #[test]
    fn an_unanswered_or_gone_ping_refuses_the_held_requests() {
        let t0 = Instant::now();
        let mut p = Proxy::<&str, u32>::new("a".to_owned());
        p.hold(1);
        p.pinged(10, t0);
        assert_eq!(p.ping_expired(t0 + TIMEOUT, TIMEOUT), Some(vec![1]));
        assert!(p.suspect() && !p.pinging() && !p.confirmed());
        p.retarget("b".to_owned());
        p.hold(2);
        p.pinged(12, t0 + TIMEOUT);
        assert_eq!(p.pong(12, true), Some(vec![2]));
        assert!(p.suspect() && !p.confirmed());
        p.hold(3);
        assert_eq!(p.drain_held(), vec![3]);
    }

    #[test]
    fn only_the_owners_close_ends_its_waiting_requests() {
        let t0 = Instant::now();
        let mut p = Proxy::<&str, u32>::new("a".to_owned());
        p.sent(1, "r1", t0);
        assert!(p.owner_closed("c").is_none(), "another node closed");
        assert!(!p.suspect());
        assert_eq!(p.owner_closed("a"), Some(vec!["r1"]));
        assert!(p.suspect());
        assert_eq!(p.answered(1, false), None);
    }
}
