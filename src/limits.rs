//! Per-connection rate limiting: a token bucket, a flood detector and the
//! [`RateLimiter`] that combines them. Pure logic on explicit instants, so it
//! is tested without sleeping.

use std::time::{Duration, Instant};

/// A token bucket: `capacity` messages at once, refilled at `per_second`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: u32, per_second: u32, now: Instant) -> Self {
        TokenBucket {
            capacity: f64::from(capacity),
            per_second: f64::from(per_second),
            tokens: f64::from(capacity),
            last: now,
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        // The tolerance absorbs floating-point error, so a client that waits
        // exactly the advertised time always finds its token.
        if self.tokens >= 1.0 - TOKEN_EPSILON {
            self.tokens = (self.tokens - 1.0).max(0.0);
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64(missing / self.per_second))
        }
    }
}

/// Fraction of a token treated as rounding error.
const TOKEN_EPSILON: f64 = 1e-6;

/// Rounds a wait up to whole milliseconds, at least one: the value put in
/// `retry_after_ms`, so waiting that long is never too early.
pub fn retry_after(wait: Duration) -> Duration {
    let ms = wait.as_nanos().div_ceil(1_000_000).max(1);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// The rate limiter's verdict on one inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Within the limit.
    Allowed,
    /// Over the limit; a token is available again after this long (whole
    /// milliseconds, rounded up).
    Limited(Duration),
    /// Sustained flooding: the socket must close (4029).
    Flooding,
}

/// A token bucket plus a flood detector that counts only messages arriving
/// before the time the client was last told to wait for. A client that
/// honours `retry_after_ms` is therefore never treated as an abuser.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    bucket: TokenBucket,
    flood: FloodDetector,
    /// The earliest instant advertised to the client by the last rejection.
    earliest_allowed: Option<Instant>,
}

impl RateLimiter {
    /// A limiter with a full bucket; `close_after` early messages within
    /// `window` count as flooding.
    pub fn new(
        burst: u32,
        per_second: u32,
        close_after: u32,
        window: Duration,
        now: Instant,
    ) -> Self {
        RateLimiter {
            bucket: TokenBucket::new(burst, per_second, now),
            flood: FloodDetector::new(close_after, window, now),
            earliest_allowed: None,
        }
    }

    /// Judges one message arriving at `now`.
    pub fn check(&mut self, now: Instant) -> Rate {
        let wait = match self.bucket.try_take(now) {
            Ok(()) => return Rate::Allowed,
            Err(wait) => retry_after(wait),
        };
        let early = self.earliest_allowed.is_some_and(|at| now < at);
        if early && self.flood.record_rejection(now) {
            return Rate::Flooding;
        }
        let at = now + wait;
        self.earliest_allowed = Some(self.earliest_allowed.map_or(at, |prev| prev.max(at)));
        Rate::Limited(wait)
    }
}

/// Counts rejected messages in a sliding window of fixed buckets; says when
/// a client keeps flooding after being told to slow down.
#[derive(Debug, Clone)]
pub struct FloodDetector {
    window: Duration,
    limit: u32,
    window_start: Instant,
    count: u32,
}

impl FloodDetector {
    /// `limit` rejections within `window` count as abuse.
    pub fn new(limit: u32, window: Duration, now: Instant) -> Self {
        FloodDetector {
            window,
            limit,
            window_start: now,
            count: 0,
        }
    }

    /// Records one rejection; true when the client should be disconnected.
    pub fn record_rejection(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.window_start) > self.window {
            self.window_start = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count >= self.limit
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 10, t0);
        for _ in 0..3 {
            b.try_take(t0).unwrap();
        }
        let wait = b.try_take(t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        b.try_take(t0 + Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn default_limits_never_limit_thirty_cursor_moves_per_second() {
        let d = crate::config::WebSocketSettings::default();
        let t0 = Instant::now();
        let mut b = TokenBucket::new(d.rate_limit_burst, d.rate_limit_per_second, t0);
        // 10 minutes at 30/s plus a heartbeat every 15 s.
        for i in 0..(30 * 600) {
            let now = t0 + Duration::from_micros(i * 33_334);
            b.try_take(now).unwrap();
            if i % 450 == 0 {
                b.try_take(now).unwrap();
            }
        }
    }

    #[test]
    fn flood_detector_resets_after_window() {
        let t0 = Instant::now();
        let mut f = FloodDetector::new(3, Duration::from_secs(10), t0);
        assert!(!f.record_rejection(t0));
        assert!(!f.record_rejection(t0));
        assert!(!f.record_rejection(t0 + Duration::from_secs(11)));
        assert!(!f.record_rejection(t0 + Duration::from_secs(11)));
        assert!(f.record_rejection(t0 + Duration::from_secs(12)));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_milliseconds() {
        assert_eq!(retry_after(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(
            retry_after(Duration::from_nanos(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            retry_after(Duration::from_micros(16_001)),
            Duration::from_millis(17)
        );
        assert_eq!(
            retry_after(Duration::from_millis(50)),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn only_messages_before_the_advertised_time_count_as_abuse() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1, 1, 3, Duration::from_secs(10), t0);
        assert_eq!(r.check(t0), Rate::Allowed);
        // The first rejection is never abuse: nothing was advertised yet.
        let Rate::Limited(wait) = r.check(t0) else {
            panic!("limited")
        };
        assert_eq!(wait, Duration::from_secs(1));
        // Two early messages are counted; the third reaches the limit.
        assert!(matches!(
            r.check(t0 + Duration::from_millis(10)),
            Rate::Limited(_)
        ));
        assert!(matches!(
            r.check(t0 + Duration::from_millis(20)),
            Rate::Limited(_)
        ));
        assert_eq!(r.check(t0 + Duration::from_millis(30)), Rate::Flooding);
    }

    proptest! {
        /// A client that waits exactly `retry_after_ms` after every
        /// rejection is never judged to be flooding, and its retry is
        /// admitted.
        #[test]
        fn a_client_honouring_retry_after_is_never_flooding(
            cap in 1u32..50, rate in 1u32..500, close_after in 1u32..5,
            gaps in proptest::collection::vec(0u64..20_000, 1..600)
        ) {
            let t0 = Instant::now();
            let mut r = RateLimiter::new(cap, rate, close_after, Duration::from_secs(10), t0);
            let mut now = t0;
            for g in gaps {
                match r.check(now) {
                    Rate::Allowed => now += Duration::from_micros(g),
                    Rate::Limited(wait) => {
                        prop_assert!(wait >= Duration::from_millis(1));
                        now += wait;
                        prop_assert_eq!(r.check(now), Rate::Allowed);
                    }
                    Rate::Flooding => prop_assert!(false, "honest client judged flooding"),
                }
            }
        }

        /// A client that retries before the advertised time is closed once
        /// it has done so `close_after` times within the window.
        #[test]
        fn a_client_retrying_early_is_closed(
            rate in 1u32..100, close_after in 1u32..50
        ) {
            let t0 = Instant::now();
            let mut r = RateLimiter::new(1, rate, close_after, Duration::from_secs(10), t0);
            let mut now = t0;
            prop_assert_eq!(r.check(now), Rate::Allowed);
            let mut early = 0u32;
            loop {
                match r.check(now) {
                    Rate::Allowed => {}
                    Rate::Limited(wait) => {
                        // Half the advice, rounded down: always early.
                        now += wait / 2;
                        early += 1;
                    }
                    Rate::Flooding => break,
                }
                prop_assert!(early <= close_after + 1);
            }
        }

        #[test]
        fn never_admits_more_than_burst_plus_refill(
            cap in 1u32..200, rate in 1u32..200,
            gaps in proptest::collection::vec(0u64..50, 1..400)
        ) {
            let t0 = Instant::now();
            let mut b = TokenBucket::new(cap, rate, t0);
            let mut now = t0;
            let mut admitted = 0u64;
            for g in gaps {
                now += Duration::from_millis(g);
                if b.try_take(now).is_ok() { admitted += 1; }
            }
            let elapsed = now.duration_since(t0).as_secs_f64();
            let bound = f64::from(cap) + elapsed * f64::from(rate) + 1e-6;
            prop_assert!(admitted as f64 <= bound);
        }
    }
}
