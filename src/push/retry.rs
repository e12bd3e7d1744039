//! The retry policy for push and email deliveries (pure: no I/O, no clock).
//!
//! A delivery that failed transiently (HTTP 429, 5xx, a network error, an
//! SMTP 4xx) is tried again after an exponential backoff, or after the
//! server's `Retry-After` when that is longer, up to `max_retries` times.
//! A `Retry-After` longer than `max_delay` gives up at once: holding a
//! delivery for hours helps nobody.

use std::time::Duration;

/// When to try a failed delivery again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Backoff before the first retry; doubles for each further one.
    pub base_delay: Duration,
    /// Longest wait: the backoff is capped here, and a longer `Retry-After` gives up.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retries_done + 1`, or `None` to give up.
    ///
    /// `retry_after` is the server's `Retry-After`, which is honoured when it
    /// asks for more than the backoff.
    pub fn delay(&self, retries_done: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if retries_done >= self.max_retries {
            return None;
        }
        if let Some(after) = retry_after {
            if after > self.max_delay {
                return None;
            }
        }
        let factor = 1u32.checked_shl(retries_done.min(31)).unwrap_or(u32::MAX);
        let backoff = self
            .base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        Some(match retry_after {
            Some(after) => after.max(backoff),
            None => backoff,
        })
    }
}

/// Parses a `Retry-After` value: delay-seconds, or an HTTP date (relative to
/// `now_unix`, seconds since the epoch). Dates in the past mean "now".
pub fn parse_retry_after(value: &str, now_unix: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = date.timestamp().saturating_sub(now_unix).max(0);
    Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_doubles_then_gives_up() {
        let p = policy();
        assert_eq!(p.delay(0, None), Some(Duration::from_millis(500)));
        assert_eq!(p.delay(1, None), Some(Duration::from_secs(1)));
        assert_eq!(p.delay(2, None), Some(Duration::from_secs(2)));
        assert_eq!(p.delay(3, None), None);
    }

    #[test]
    fn retry_after_wins_when_longer() {
        let p = policy();
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
        // Shorter than the backoff: the backoff stands.
        assert_eq!(
            p.delay(2, Some(Duration::ZERO)),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn retry_after_beyond_the_cap_gives_up() {
        let p = policy();
        assert_eq!(p.delay(0, Some(Duration::from_secs(61))), None);
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn backoff_is_capped_and_never_overflows() {
        let p = RetryPolicy {
            max_retries: u32::MAX,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        };
        assert_eq!(p.delay(5, None), Some(Duration::from_secs(30)));
        assert_eq!(p.delay(40, None), Some(Duration::from_secs(30)));
        assert_eq!(p.delay(u32::MAX - 1, None), Some(Duration::from_secs(30)));
    }

    #[test]
    fn no_retries_means_one_attempt() {
        let p = RetryPolicy {
            max_retries: 0,
            ..policy()
        };
        assert_eq!(p.delay(0, None), None);
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        assert_eq!(parse_retry_after("1", 0), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", 0),
            Some(Duration::from_secs(120))
        );
        // Wed, 21 Oct 2015 07:28:00 GMT = 1445412480
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1_445_412_470),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1_445_412_490),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", 0), None);
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("", 0), None);
    }
}
