//! The open-files budget: reads `RLIMIT_NOFILE` at start and raises the soft
//! limit to the hard one, counts the client connections the process holds
//! (one descriptor each), and says when a new socket must be refused so that
//! `server.fd_reserve` descriptors stay free for PostgreSQL, Redis, files and
//! the runtime.
//!
//! Two thresholds, both from the limit `L` and the reserve `R`:
//! - at `L - R` open connections a socket upgrade (`/ws`, `/yjs/...`,
//!   `/api/v1/stream`) is refused with `503 server_at_capacity` before the
//!   upgrade ([`has_room`]);
//! - at `L - R/2` connections in all (split over the HTTP workers, see
//!   [`Budget::per_worker_cap`]) the accept loop stops taking connections
//!   until some close, so it never runs into `EMFILE` and never spins.
//!
//! The counters are per process, like the limit they guard. Should the
//! accept loop still meet `EMFILE` (descriptors taken by something else),
//! [`QuietAccept`] keeps its error to one log line a minute.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Client connections open now (accepted, not yet closed).
static OPEN: AtomicUsize = AtomicUsize::new(0);
/// Connections past which socket upgrades are refused.
static SOCKET_BUDGET: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The process's open-files limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFile {
    /// Soft limit (what `open`/`accept` are held to).
    pub soft: u64,
    /// Hard limit (how far the soft one may be raised).
    pub hard: u64,
}

/// Reads `RLIMIT_NOFILE`.
pub fn nofile() -> std::io::Result<NoFile> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(NoFile {
        soft: lim.rlim_cur,
        hard: lim.rlim_max,
    })
}

/// Raises the soft limit to the hard one; returns the limit in force after.
pub fn raise_to_hard() -> std::io::Result<NoFile> {
    let before = nofile()?;
    // An unlimited hard limit still stops at the kernel's `fs.nr_open`.
    let target = if before.hard == libc::RLIM_INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(before.soft)
    } else {
        before.hard
    };
    if before.soft >= target {
        return Ok(before);
    }
    let lim = libc::rlimit {
        rlim_cur: target,
        rlim_max: before.hard,
    };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    nofile()
}

/// The connection budget under one limit (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Connections past which socket upgrades are refused (`L - R`).
    pub sockets: usize,
    /// Connections past which nothing more is accepted (`L - R/2`).
    pub accept: usize,
}

impl Budget {
    /// The budget for a soft limit `limit` keeping `reserve` free. A reserve
    /// at or above the limit leaves half the limit to connections.
    pub fn new(limit: u64, reserve: usize) -> Budget {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let reserve = if reserve >= limit { limit / 2 } else { reserve };
        Budget {
            sockets: limit - reserve,
            accept: limit - reserve / 2,
        }
    }

    /// The accept cap of each of `workers` HTTP workers (actix counts
    /// connections per worker), at least 1.
    pub fn per_worker_cap(&self, workers: usize) -> usize {
        (self.accept / workers.max(1)).max(1)
    }
}

/// Reads the limit, raises it, logs it and installs the socket budget;
/// returns the per-worker accept cap for `workers` HTTP workers (0: one per
/// core, as actix counts them).
pub fn init(reserve: usize, workers: usize) -> usize {
    let workers = if workers == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        workers
    };
    let before = nofile();
    let after = raise_to_hard();
    let limit = match (&before, &after) {
        (Ok(b), Ok(a)) => {
            if a.soft > b.soft {
                log::info!(
                    "open files limit: {} (raised from {}; hard limit {})",
                    a.soft,
                    b.soft,
                    a.hard
                );
            } else {
                log::info!("open files limit: {} (hard limit {})", a.soft, a.hard);
            }
            a.soft
        }
        (Ok(b), Err(e)) => {
            log::warn!("open files limit: {} (could not raise it: {e})", b.soft);
            b.soft
        }
        (Err(e), _) => {
            log::warn!("open files limit unknown ({e}); no connection budget");
            return usize::MAX / workers;
        }
    };
    let budget = Budget::new(limit, reserve);
    SOCKET_BUDGET.store(budget.sockets, Ordering::Relaxed);
    log::info!(
        "connection budget: sockets refused (503) past {} connections, accept paused past {} \
         (server.fd_reserve = {reserve})",
        budget.sockets,
        budget.accept
    );
    budget.per_worker_cap(workers)
}

/// One open client connection; counted until dropped. The server keeps it
/// in the connection's data, which is dropped when the connection closes,
/// or, for an upgraded socket, when the upgrade hands the connection over;
/// the transport then holds another for the socket's life
/// (`transport::upgrade`).
pub struct Counted(());

impl Counted {
    /// Counts a connection just accepted.
    pub fn accepted() -> Counted {
        OPEN.fetch_add(1, Ordering::Relaxed);
        Counted(())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Client connections open now.
pub fn open_connections() -> usize {
    OPEN.load(Ordering::Relaxed)
}

/// True while a new socket may be upgraded: the connections open now (this
/// one included) are within the budget.
pub fn has_room() -> bool {
    open_connections() <= SOCKET_BUDGET.load(Ordering::Relaxed)
}

/// How often the accept loop's errors get through [`QuietAccept`].
const ACCEPT_ERROR_EVERY: Duration = Duration::from_secs(60);

/// A logger that passes everything on except the accept loop's errors
/// (actix-server logs `Error accepting connection: Too many open files`
/// at each of its 500 ms back-offs): the first is logged, then at most one
/// a minute, saying how many were held back.
pub struct QuietAccept<L> {
    inner: L,
    last: Mutex<Option<Instant>>,
    held: AtomicUsize,
}

impl<L: log::Log> QuietAccept<L> {
    /// Wraps `inner`.
    pub fn new(inner: L) -> Self {
        QuietAccept {
            inner,
            last: Mutex::new(None),
            held: AtomicUsize::new(0),
        }
    }
}

impl<L: log::Log> log::Log for QuietAccept<L> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.level() != log::Level::Error
            || !record.target().starts_with("actix_server::accept")
        {
            return self.inner.log(record);
        }
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| now.duration_since(t) < ACCEPT_ERROR_EVERY) {
                self.held.fetch_add(1, Ordering::Relaxed);
                return;
            }
            *last = Some(now);
        }
        match self.held.swap(0, Ordering::Relaxed) {
            0 => self.inner.log(record),
            held => self.inner.log(
                &log::Record::builder()
                    .level(record.level())
                    .target(record.target())
                    .args(format_args!(
                        "{} ({held} more like it held back since the last one)",
                        record.args()
                    ))
                    .build(),
            ),
        }
    }

    fn flush(&self) {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn budget_keeps_the_reserve_and_accepts_a_little_past_it() {
        let b = Budget::new(20_000, 256);
        assert_eq!(b.sockets, 19_744);
        assert_eq!(b.accept, 19_872);
        assert_eq!(b.per_worker_cap(2), 9_936);
        assert_eq!(b.per_worker_cap(0), 19_872);
    }

    #[test]
    fn a_reserve_above_the_limit_leaves_half() {
        let b = Budget::new(100, 500);
        assert_eq!(b.sockets, 50);
        assert_eq!(b.accept, 75);
        assert_eq!(Budget::new(1, 0).per_worker_cap(4), 1);
    }

    /// Records the messages it is given.
    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl log::Log for Seen {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            self.0.lock().unwrap().push(record.args().to_string());
        }
        fn flush(&self) {}
    }

    fn record(target: &str, level: log::Level, f: impl FnOnce(&log::Record<'_>)) {
        f(&log::Record::builder()
            .target(target)
            .level(level)
            .args(format_args!(
                "Error accepting connection: Too many open files"
            ))
            .build())
    }

    #[test]
    fn accept_errors_are_held_back_and_counted() {
        let quiet = QuietAccept::new(Seen::default());
        use log::Log as _;
        for _ in 0..5 {
            record("actix_server::accept", log::Level::Error, |r| quiet.log(r));
            record("tandem::x", log::Level::Error, |r| quiet.log(r));
        }
        let seen = quiet.inner.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 6, "one accept error, five others: {seen:?}");
        assert_eq!(quiet.held.load(Ordering::Relaxed), 4);
        // A minute later the next one gets through with the count.
        *quiet.last.lock().unwrap() = Some(Instant::now() - ACCEPT_ERROR_EVERY);
        record("actix_server::accept", log::Level::Error, |r| quiet.log(r));
        let last = quiet.inner.0.lock().unwrap().last().cloned().unwrap();
        assert!(last.contains("4 more like it"), "{last}");
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let now = raise_to_hard().unwrap();
        if now.hard != libc::RLIM_INFINITY {
            assert_eq!(now.soft, now.hard);
        }
        assert_eq!(nofile().unwrap(), now);
    }
}
