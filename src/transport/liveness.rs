//! Pings and heartbeat timeouts of every socket on a thread, from one
//! deadline sweep.
//!
//! A socket registers a [`Liveness`] when its actor starts: when it last
//! heard from its client (any frame) and when the client last spoke (any
//! frame but a pong). The thread's sweep keeps the sockets in buckets by
//! their next deadline, on a grid every socket of the process shares (see
//! [`on_grid`]), and sleeps until the first bucket is due. It looks only at
//! the sockets in due buckets:
//! - one quiet (nothing of its own) for a whole ping interval gets a ping,
//!   written into its [`Sink`] by the sweep itself: the socket's task is
//!   not woken, and its actor does not run;
//! - one silent (pongs included) past the timeout is marked and its task
//!   woken, and the transport closes it with 4000 before the actor's next
//!   turn (`context::Running`);
//! - every other one goes back into the bucket of its next deadline (a
//!   socket that spoke since keeps its ping for later).
//!
//! Before this sweep, each socket had a timer of its own in the runtime's
//! timer wheel, and an idle socket's task woke twice per interval: for the
//! timer (which queued the ping) and for the pong. Now the wheel holds one
//! timer per thread and the task wakes once, for the pong (BENCHMARKS.md,
//! "Idle CPU: one sweep per thread").
//!
//! A closed socket's entry is dropped when its bucket comes due (the sweep
//! holds a weak reference). Everything here runs on the socket's own
//! thread: a `Liveness` is not shared with other threads.

use super::context::HIGH_WATER;
use super::sink::{Pushed, Sink};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The coarsest step of the grid (see [`on_grid`]).
pub const GRID_MAX: Duration = Duration::from_millis(250);

/// One socket's liveness, shared by its context and its thread's sweep.
pub struct Liveness {
    /// The last frame of any kind (the timeout counts from it).
    heard: Cell<Instant>,
    /// The last frame the client sent on its own (not a pong): a socket
    /// that spoke within the ping interval is known alive and not pinged.
    spoke: Cell<Instant>,
    /// When the next ping is due (if the client stays quiet until then).
    next_ping: Cell<Instant>,
    /// Silent past the timeout: to be closed with 4000.
    timed_out: Cell<bool>,
    interval: Duration,
    timeout: Duration,
    sink: Arc<Sink>,
    /// Called at every deadline the socket is not blocked by a peer that
    /// stopped reading (the stall sweep's sign that the actor can run).
    tick: Option<Box<dyn Fn()>>,
}

impl std::fmt::Debug for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Liveness")
            .field("heard", &self.heard.get())
            .field("spoke", &self.spoke.get())
            .field("next_ping", &self.next_ping.get())
            .field("timed_out", &self.timed_out.get())
            .finish_non_exhaustive()
    }
}

/// What a deadline found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// Look again at this grid point.
    Next(Instant),
    /// Timed out, or the socket is closed: forget it.
    Done,
}

impl Liveness {
    /// Starts pinging the socket behind `sink` when it stays quiet for
    /// `interval`, and timing it out after `timeout` of silence; its first
    /// ping is due one interval from now. `tick` is called at every
    /// deadline the socket's writes are not blocked.
    pub fn start(
        sink: Arc<Sink>,
        interval: Duration,
        timeout: Duration,
        tick: Option<Box<dyn Fn()>>,
    ) -> Rc<Liveness> {
        let now = Instant::now();
        let liveness = Rc::new(Liveness {
            heard: Cell::new(now),
            spoke: Cell::new(now),
            next_ping: Cell::new(now + interval),
            timed_out: Cell::new(false),
            interval,
            timeout,
            sink,
            tick,
        });
        let at = on_grid(deadline(now, now + interval, timeout), interval);
        schedule(at, Rc::downgrade(&liveness));
        liveness
    }

    /// A frame arrived; `spoke` unless it is a pong.
    pub fn heard(&self, now: Instant, spoke: bool) {
        self.heard.set(now);
        if spoke {
            self.spoke.set(now);
        }
    }

    /// True once, when the socket has timed out.
    pub fn take_timed_out(&self) -> bool {
        self.timed_out.replace(false)
    }

    /// The socket's deadline at `now`: ping, time out, or wait.
    fn on_deadline(&self, now: Instant) -> Due {
        if now.saturating_duration_since(self.heard.get()) > self.timeout {
            self.timed_out.set(true);
            self.sink.wake();
            return Due::Done;
        }
        let blocked = self.sink.waiting() >= HIGH_WATER;
        if !blocked {
            if let Some(tick) = &self.tick {
                tick();
            }
        }
        let mut next_ping = self.next_ping.get();
        if now >= next_ping {
            let spoke = self.spoke.get();
            if now.saturating_duration_since(spoke) >= self.interval {
                // A peer that stopped reading gets no ping on top of its
                // backlog; the stall sweep deals with it.
                if !blocked && self.sink.push_ping() == Pushed::Closed {
                    return Due::Done;
                }
                next_ping = now + self.interval;
            } else {
                next_ping = spoke + self.interval;
            }
            self.next_ping.set(next_ping);
        }
        Due::Next(on_grid(
            deadline(self.heard.get(), next_ping, self.timeout),
            self.interval,
        ))
    }
}

/// When a socket must next be looked at: at its next ping, or just after
/// its silence (since `heard`) passes `timeout`, whichever is first.
pub fn deadline(heard: Instant, next_ping: Instant, timeout: Duration) -> Instant {
    // One millisecond past: the check is "silent longer than timeout".
    next_ping.min(heard + timeout + Duration::from_millis(1))
}

/// `deadline` moved later to the next point of a grid that every socket of
/// the process shares (a step of a twentieth of the ping interval, at most
/// [`GRID_MAX`]). Sockets whose pings fall due within one step share a
/// bucket: the thread wakes once for all of them, and their pongs come back
/// together (thread switches were about a third of an idle node's CPU;
/// BENCHMARKS.md, "Idle CPU: pings on a grid"). A ping or a timeout is at
/// most one step late.
pub fn on_grid(deadline: Instant, interval: Duration) -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let step = u64::try_from((interval / 20).min(GRID_MAX).as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    let since =
        u64::try_from(deadline.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX);
    match since.div_ceil(step).checked_mul(step) {
        Some(at) => epoch + Duration::from_micros(at),
        None => deadline,
    }
}

/// The sockets of one thread, by grid point.
#[derive(Default)]
struct Sweep {
    due: BTreeMap<Instant, Vec<Weak<Liveness>>>,
    /// The sweep's task runs (it ends when no socket is left).
    running: bool,
    /// Wakes the task when a bucket comes before the one it sleeps for.
    wake: Rc<tokio::sync::Notify>,
    /// The grid point the task sleeps until.
    sleeping_until: Option<Instant>,
}

thread_local! {
    static SWEEP: RefCell<Sweep> = RefCell::new(Sweep::default());
}

/// Puts a socket in the bucket for `at`, starting the thread's sweep or
/// waking it early when needed.
fn schedule(at: Instant, socket: Weak<Liveness>) {
    let start = SWEEP.with(|sweep| {
        let mut sweep = sweep.borrow_mut();
        sweep.due.entry(at).or_default().push(socket);
        if !sweep.running {
            sweep.running = true;
            return true;
        }
        if sweep.sleeping_until.is_some_and(|until| at < until) {
            sweep.wake.notify_one();
        }
        false
    });
    if start {
        tokio::task::spawn_local(run());
    }
}

/// Marks the thread's sweep stopped when its task ends, also when the task
/// is dropped unfinished (its runtime went away): a socket registered later
/// on this thread then starts a new one instead of waiting for a dead task.
struct Stopped;

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = SWEEP.try_with(|sweep| {
            if let Ok(mut sweep) = sweep.try_borrow_mut() {
                sweep.running = false;
                sweep.sleeping_until = None;
            }
        });
    }
}

/// The thread's sweep: sleeps until the first bucket is due, handles every
/// due bucket, and ends when no socket is left.
async fn run() {
    let _stopped = Stopped;
    loop {
        let next = SWEEP.with(|sweep| {
            let mut sweep = sweep.borrow_mut();
            let first = sweep.due.keys().next().copied();
            sweep.sleeping_until = first;
            if first.is_none() {
                sweep.running = false;
            }
            first.map(|at| (at, sweep.wake.clone()))
        });
        let Some((at, wake)) = next else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = wake.notified() => continue,
        }
        sweep_due(Instant::now());
    }
}

/// Handles every bucket due at `now`.
fn sweep_due(now: Instant) {
    loop {
        let bucket = SWEEP.with(|sweep| {
            let mut sweep = sweep.borrow_mut();
            match sweep.due.first_key_value() {
                Some((&at, _)) if at <= now => sweep.due.pop_first().map(|(_, b)| b),
                _ => None,
            }
        });
        let Some(bucket) = bucket else {
            return;
        };
        // Pings are written outside the sweep's borrow; rescheduled
        // sockets land in later buckets (a deadline is after `now`).
        for socket in bucket {
            let Some(liveness) = socket.upgrade() else {
                continue;
            };
            if let Due::Next(at) = liveness.on_deadline(now) {
                schedule(at.max(now + Duration::from_micros(1)), socket);
            }
        }
    }
}

/// Sockets the calling thread's sweep holds (closed ones included until
/// their bucket comes due).
pub fn registered() -> usize {
    SWEEP.with(|sweep| sweep.borrow().due.values().map(Vec::len).sum())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_grid_moves_a_deadline_later_by_less_than_one_step(
            offset_us in 0u64..100_000_000,
            interval_ms in 1u64..120_000,
        ) {
            let interval = Duration::from_millis(interval_ms);
            let step = (interval / 20).min(GRID_MAX).max(Duration::from_micros(1));
            let deadline = Instant::now() + Duration::from_micros(offset_us);
            let at = on_grid(deadline, interval);
            prop_assert!(at >= deadline);
            prop_assert!(at - deadline < step);
            prop_assert_eq!(on_grid(at, interval), at, "a grid point stays");
        }
    }

    #[test]
    fn deadlines_within_one_step_share_a_grid_point() {
        let interval = Duration::from_secs(30);
        let base = on_grid(Instant::now() + Duration::from_secs(1), interval);
        let a = on_grid(base + Duration::from_millis(1), interval);
        let b = on_grid(base + Duration::from_millis(249), interval);
        assert_eq!(a, b);
        assert_eq!(a - base, GRID_MAX);
    }

    #[test]
    fn the_deadline_is_the_next_ping_or_just_past_the_timeout() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        // Heard just now: the ping comes first.
        assert_eq!(deadline(t0, t0 + 15 * s, 45 * s), t0 + 15 * s);
        // Silent for a while: the timeout comes first.
        assert_eq!(
            deadline(t0, t0 + 50 * s, 45 * s),
            t0 + 45 * s + Duration::from_millis(1)
        );
    }

    /// A connected pair: the server's end in a sink, the client's end.
    async fn pair() -> (Arc<Sink>, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (Sink::new(Arc::new(server)), client)
    }

    /// A socket registered with the thread's sweep: pinged every 200 ms,
    /// timed out after 5 s.
    async fn started() -> (Rc<Liveness>, tokio::net::TcpStream) {
        let (sink, client) = pair().await;
        let interval = Duration::from_millis(200);
        let liveness = Liveness::start(sink, interval, Duration::from_secs(5), None);
        (liveness, client)
    }

    /// Reads exactly `n` bytes, or fails after a second.
    async fn read_exact(client: &mut tokio::net::TcpStream, n: usize) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; n];
        tokio::time::timeout(Duration::from_secs(1), client.read_exact(&mut buf))
            .await
            .expect("bytes in time")
            .unwrap();
        buf
    }

    /// The sweep's decisions, driven by hand: a quiet socket is pinged once
    /// per interval, one that spoke is not, pongs keep it alive, silence
    /// times it out (once), and each live deadline ticks.
    #[tokio::test]
    async fn quiet_sockets_are_pinged_spoken_ones_not_and_silent_ones_time_out() {
        let (sink, mut client) = pair().await;
        let ticks = Rc::new(Cell::new(0));
        let counted = ticks.clone();
        let s = Duration::from_secs(1);
        let t0 = Instant::now();
        let liveness = Rc::new(Liveness {
            heard: Cell::new(t0),
            spoke: Cell::new(t0),
            next_ping: Cell::new(t0 + 30 * s),
            timed_out: Cell::new(false),
            interval: 30 * s,
            timeout: 45 * s,
            sink,
            tick: Some(Box::new(move || counted.set(counted.get() + 1))),
        });
        // Quiet for an interval: pinged, next look one interval on.
        let at = liveness.on_deadline(t0 + 30 * s);
        assert_eq!(read_exact(&mut client, 2).await, [0x89, 0x00]);
        assert!(matches!(at, Due::Next(at) if at >= t0 + 45 * s && at < t0 + 46 * s));
        // A pong 1 s later: heard, not spoke; the next ping at 60 s.
        liveness.heard(t0 + 31 * s, false);
        let at = liveness.on_deadline(t0 + 46 * s);
        assert!(matches!(at, Due::Next(at) if at >= t0 + 60 * s && at < t0 + 61 * s));
        // The client spoke at 50 s: no ping at 60 s, the next at 80 s.
        liveness.heard(t0 + 50 * s, true);
        let at = liveness.on_deadline(t0 + 60 * s);
        assert!(matches!(at, Due::Next(at) if at >= t0 + 80 * s && at < t0 + 81 * s));
        assert_eq!(ticks.get(), 3);
        // Silent from 50 s past 95 s: timed out, reported once.
        assert_eq!(liveness.on_deadline(t0 + 96 * s), Due::Done);
        assert!(liveness.take_timed_out());
        assert!(!liveness.take_timed_out());
        assert_eq!(ticks.get(), 3, "a timed-out socket does not tick");
        // Only the one ping went out.
        use tokio::io::AsyncReadExt;
        let mut more = [0u8; 1];
        assert!(
            tokio::time::timeout(Duration::from_millis(100), client.read(&mut more))
                .await
                .is_err()
        );
    }

    /// A sweep whose runtime went away while sockets were registered (its
    /// task dropped mid-sleep) does not stop the next runtime on the same
    /// thread from pinging.
    #[test]
    fn a_sweep_dropped_with_its_runtime_is_started_again() {
        let ping_once = |keep: bool| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            let kept = local.block_on(&rt, async {
                let (liveness, mut client) = started().await;
                assert_eq!(read_exact(&mut client, 2).await, [0x89, 0x00]);
                (liveness, client)
            });
            // The runtime and its sweep task go; the socket may stay.
            drop(local);
            drop(rt);
            keep.then_some(kept)
        };
        let _registered = ping_once(true);
        ping_once(false);
    }

    /// The thread's sweep, for real: a socket registered with a 200 ms
    /// interval is pinged by it, and forgotten once dropped.
    #[tokio::test]
    async fn the_sweep_pings_on_its_own_and_forgets_closed_sockets() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let (liveness, mut client) = started().await;
                assert_eq!(registered(), 1);
                assert_eq!(read_exact(&mut client, 2).await, [0x89, 0x00]);
                assert_eq!(read_exact(&mut client, 2).await, [0x89, 0x00]);
                drop(liveness);
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert_eq!(registered(), 0);
            })
            .await;
    }
}
