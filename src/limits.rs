//! Per-connection rate limiting: a token bucket and a flood detector. Pure
//! logic on explicit instants, so it is tested without sleeping.

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
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64(missing / self.per_second))
        }
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

    proptest! {
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
