//! Process-wide monotonic milliseconds, for cheap atomics shared across actors.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

/// Milliseconds since the first call in this process (monotonic).
pub fn monotonic_ms() -> i64 {
    let start = START.get_or_init(Instant::now);
    i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// `at` rounded up to the next multiple of `slot` counted from the
/// process's first clock read: timers of many sockets that fall in the same
/// slot fire together, in one wake-up of the runtime, instead of one wake-up
/// each at scattered instants. Never earlier than `at`.
pub fn align_up(at: Instant, slot: std::time::Duration) -> Instant {
    let start = *START.get_or_init(Instant::now);
    let Some(since) = at.checked_duration_since(start) else {
        return at;
    };
    let slot_ns = slot.as_nanos().max(1);
    let slots = since.as_nanos().div_ceil(slot_ns);
    match u64::try_from(slots * slot_ns) {
        Ok(ns) => start + std::time::Duration::from_nanos(ns),
        Err(_) => at,
    }
}

/// Now as RFC 3339 with milliseconds, for the wire.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    proptest! {
        /// Aligned instants are never early, at most one slot late, and
        /// two instants in the same slot align to the same instant.
        #[test]
        fn align_up_rounds_to_a_shared_slot(a in 0u64..100_000, b in 0u64..100_000, slot in 1u64..5_000) {
            let base = Instant::now();
            let slot = Duration::from_millis(slot);
            let (at_a, at_b) = (base + Duration::from_millis(a), base + Duration::from_millis(b));
            let (x, y) = (align_up(at_a, slot), align_up(at_b, slot));
            prop_assert!(x >= at_a && x - at_a < slot);
            prop_assert!(y >= at_b && y - at_b < slot);
            let start = *START.get().expect("set by align_up");
            let slot_of = |t: Instant| (t - start).as_nanos().div_ceil(slot.as_nanos());
            if slot_of(at_a) == slot_of(at_b) {
                prop_assert_eq!(x, y);
            }
        }
    }
}
