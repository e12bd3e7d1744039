//! Giving memory back to the operating system after a storm.
//!
//! glibc's allocator keeps freed memory in its arenas: after thousands of
//! connections close (or a burst of large roster frames is freed), the
//! process's RSS stays at its peak. [`Trimmer`] watches the number of open
//! sockets and the actors that outlive them (presence in its offline grace,
//! empty rooms) and, when it has fallen well below the peak since the last trim,
//! asks glibc to release free pages (`malloc_trim(0)`). The registry calls it
//! from its once-a-second tick. On other allocators it does nothing.

/// Decides when a trim is worth it.
#[derive(Debug, Default)]
pub struct Trimmer {
    peak: usize,
    ticks: u32,
}

/// Trim at most this often (ticks of the caller, one per second).
const EVERY_TICKS: u32 = 5;
/// Trim when this many sockets closed since the peak...
const MIN_DROP: usize = 64;

impl Trimmer {
    /// Called once per tick with what is live now; true when it trimmed.
    pub fn tick(&mut self, open: usize) -> bool {
        self.peak = self.peak.max(open);
        self.ticks = self.ticks.saturating_add(1);
        let dropped = self.peak - open;
        // ...or a tenth of the peak, whichever is more.
        if self.ticks < EVERY_TICKS || dropped < MIN_DROP.max(self.peak / 10) {
            return false;
        }
        self.ticks = 0;
        self.peak = open;
        trim();
        true
    }
}

/// Returns free heap memory to the operating system, where the allocator
/// supports it.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes
    // the allocator's locks and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_after_a_real_drop_and_not_too_often() {
        let mut t = Trimmer::default();
        for _ in 0..10 {
            assert!(!t.tick(1000));
        }
        // 50 closed: less than a tenth of the peak.
        assert!(!t.tick(950));
        // 200 closed: trims, and the peak starts again from here.
        assert!(t.tick(800));
        assert!(!t.tick(700), "not twice within EVERY_TICKS");
        for _ in 0..3 {
            t.tick(700);
        }
        assert!(t.tick(700), "100 of 800 closed since the last trim");
    }
}
