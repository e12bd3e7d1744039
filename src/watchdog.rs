//! What the systemd watchdog checks before each `WATCHDOG=1`: that the
//! registry actor, every thread of the actor pool and every HTTP worker
//! thread answer within one ping interval. A wedged thread (a runaway
//! actor, or a request handler that blocks) stops the pings, and systemd
//! kills and restarts the service once `WatchdogSec=` passes.
//!
//! The HTTP workers are actix-server's threads, which it starts and
//! restarts itself; each registers its arbiter in [`HttpWorkers`] when it
//! builds its services (`startup`), and the check asks each of them to run
//! a no-op, as it asks the actor pool's.

use crate::actors::pool::{all_answer, ask};
use crate::actors::registry::GetStats;
use crate::actors::Services;
use crate::systemd::Notifier;
use actix_rt::ArbiterHandle;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

/// The arbiters of the HTTP worker threads, one per thread.
#[derive(Clone, Default)]
pub struct HttpWorkers(Arc<Mutex<Vec<(ThreadId, ArbiterHandle)>>>);

impl HttpWorkers {
    /// Registers the calling thread's arbiter (a worker building its
    /// services; called again when actix-server rebuilds them, which
    /// replaces the thread's entry). Outside an arbiter it does nothing.
    pub fn register_current(&self) {
        let Some(arbiter) = actix_rt::Arbiter::try_current() else {
            return;
        };
        let thread = std::thread::current().id();
        let mut workers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        workers.retain(|(t, _)| *t != thread);
        workers.push((thread, arbiter));
    }

    /// Worker threads registered and not known to have stopped.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no worker has registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Asks every worker to run a no-op and waits for each within
    /// `within`: `Err(index)` names the first that did not answer. A worker
    /// whose arbiter has stopped is forgotten, not counted as wedged:
    /// actix-server starts a new one in its place, which registers itself.
    pub async fn heartbeat(&self, within: Duration) -> Result<(), usize> {
        let mut answers = Vec::new();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, arbiter)| match ask(arbiter) {
                Some(answer) => {
                    answers.push(Some(answer));
                    true
                }
                None => false,
            });
        all_answer(answers, within).await
    }
}

/// Pings the systemd watchdog every `every` from a task on the System
/// arbiter, each time only after everything [`answers`] checks has
/// answered within `every`.
pub fn start(notifier: Notifier, services: Arc<Services>, workers: HttpWorkers, every: Duration) {
    actix_rt::System::current().arbiter().spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match answers(&services, &workers, every).await {
                Ok(()) => notifier.send("WATCHDOG=1"),
                Err(why) => log::error!("watchdog: {why} within {every:?}"),
            }
        }
    });
}

/// The registry, every actor-pool thread (rooms, documents, presence,
/// rosters, the broker's shards) and every HTTP worker answer, all within
/// one `within` (asked together, so a check never takes longer than the
/// tick).
pub async fn answers(
    services: &Services,
    workers: &HttpWorkers,
    within: Duration,
) -> Result<(), String> {
    let registry = async {
        match tokio::time::timeout(within, services.registry.send(GetStats)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("registry unreachable ({e})")),
            Err(_) => Err("registry did not answer".to_owned()),
        }
    };
    let pool = async {
        services
            .pool
            .heartbeat(within)
            .await
            .map_err(|thread| format!("actor thread {thread} did not answer"))
    };
    let http = async {
        workers
            .heartbeat(within)
            .await
            .map_err(|worker| format!("HTTP worker {worker} did not answer"))
    };
    let (registry, pool, http) = tokio::join!(registry, pool, http);
    registry.and(pool).and(http)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Registers a new arbiter thread and returns it.
    fn worker(workers: &HttpWorkers) -> actix_rt::Arbiter {
        let arbiter = actix_rt::Arbiter::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let w = workers.clone();
        arbiter.spawn(async move {
            w.register_current();
            w.register_current();
            tx.send(()).unwrap();
        });
        rx.recv().unwrap();
        arbiter
    }

    #[actix_rt::test]
    async fn a_blocked_worker_fails_the_check_and_a_stopped_one_is_forgotten() {
        let workers = HttpWorkers::default();
        let a = worker(&workers);
        let b = worker(&workers);
        assert_eq!(workers.len(), 2, "one entry per thread");
        // Generous for threads that answer (a loaded machine may be slow to
        // run them); a blocked one fails only once it has passed.
        let within = Duration::from_secs(10);
        assert_eq!(workers.heartbeat(within).await, Ok(()));

        // A handler that blocks its thread.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        b.spawn(async move {
            let _ = blocked.recv();
        });
        assert_eq!(workers.heartbeat(Duration::from_millis(300)).await, Err(1));
        release.send(()).unwrap();
        assert_eq!(workers.heartbeat(within).await, Ok(()));

        // A stopped worker (actix-server starts another) is not wedged.
        a.stop();
        a.join().unwrap();
        assert_eq!(workers.heartbeat(within).await, Ok(()));
        assert_eq!(workers.len(), 1);
        b.stop();
        b.join().unwrap();
    }
}
