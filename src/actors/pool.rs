//! The actor pool: the arbiters (one thread each) that run rooms, their
//! document sessions, presence actors, rosters, Yjs documents and the
//! broker's shards, so one host uses every core (`server.actor_threads`).
//!
//! An actor is started on the arbiter its key hashes to ([`ActorPool::pick`]),
//! and stays there: every message to one room is handled by one thread in
//! mailbox order, as before, while different rooms run in parallel. A room
//! starts its document session from its own context, so the session lands on
//! the room's arbiter. The hash only has to be stable within one process (the
//! pool is rebuilt at every start).
//!
//! What runs here must be `Send` to construct (the closure given to
//! [`ActorPool::start_actor`] is moved to the arbiter, which builds the actor
//! there, so anything the constructor spawns runs on the actor's thread).
//! Each arbiter has its own tokio runtime (timers, IO). The database pool is
//! shared by all threads: a pooled connection's IO task runs on the thread
//! that opened it and serves whichever thread uses it, so the arbiters are
//! stopped only after shutdown stored everything ([`ActorPool::stop`]).
//! Heavy work (OT on large fields, snapshots, encoding big Yjs states) runs in
//! the room's or document's own actor, so it only delays that thread's
//! actors, never the registries or other threads' rooms.

pub use crate::ids::shard_of;
use actix::prelude::*;
use actix_rt::ArbiterHandle;
use std::hash::Hash;

/// A fixed set of arbiters, chosen by key.
pub struct ActorPool {
    arbiters: Vec<ArbiterHandle>,
}

impl ActorPool {
    /// Starts `threads` arbiters (0: one per core, at most
    /// [`crate::config::MAX_ACTOR_THREADS`]). Must run inside an actix system.
    pub fn new(threads: usize) -> Result<ActorPool, String> {
        let threads = Self::threads_for(threads);
        let mut arbiters = Vec::with_capacity(threads);
        for i in 0..threads {
            let arbiter = Arbiter::try_with_tokio_rt(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            })
            .map_err(|e| format!("cannot start actor thread {i}: {e}"))?;
            arbiters.push(arbiter.handle());
        }
        log::info!("actor pool: {threads} threads");
        Ok(ActorPool { arbiters })
    }

    /// How many threads `server.actor_threads = configured` means here.
    pub fn threads_for(configured: usize) -> usize {
        let n = if configured == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            configured
        };
        n.clamp(1, crate::config::MAX_ACTOR_THREADS)
    }

    /// Number of arbiters.
    pub fn len(&self) -> usize {
        self.arbiters.len()
    }

    /// Never true (a pool has at least one arbiter); for clippy.
    pub fn is_empty(&self) -> bool {
        self.arbiters.is_empty()
    }

    /// The index of the arbiter `key` belongs to.
    pub fn index_of<K: Hash + ?Sized>(&self, key: &K) -> usize {
        shard_of(key, self.arbiters.len())
    }

    /// The arbiter `key` belongs to (always the same one for the same key).
    pub fn pick<K: Hash + ?Sized>(&self, key: &K) -> &ArbiterHandle {
        &self.arbiters[self.index_of(key)]
    }

    /// Every arbiter, in index order (the broker puts one shard on each).
    pub fn arbiters(&self) -> &[ArbiterHandle] {
        &self.arbiters
    }

    /// Starts an actor on the arbiter of `key`.
    pub fn start_actor<A, K, F>(&self, key: &K, build: F) -> Addr<A>
    where
        A: Actor<Context = Context<A>>,
        K: Hash + ?Sized,
        F: FnOnce(&mut Context<A>) -> A + Send + 'static,
    {
        A::start_in_arbiter(self.pick(key), build)
    }

    /// Runs a no-op on every arbiter and waits for each within `within`:
    /// `Err(index)` names the first thread that did not answer (blocked by a
    /// runaway actor, or stopped). The systemd watchdog pings only when
    /// every thread answers.
    pub async fn heartbeat(&self, within: std::time::Duration) -> Result<(), usize> {
        let answers: Vec<_> = self.arbiters.iter().map(ask).collect();
        all_answer(answers, within).await
    }

    /// Stops every arbiter once its queued work is done (after shutdown
    /// flushed the actors' final writes).
    pub fn stop(&self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

/// Asks `arbiter` to run a no-op; the answer comes once it has (`None` when
/// the arbiter has stopped).
pub fn ask(arbiter: &ArbiterHandle) -> Option<tokio::sync::oneshot::Receiver<()>> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    arbiter
        .spawn(async move {
            let _ = tx.send(());
        })
        .then_some(rx)
}

/// Waits for every answer, all within one `within`: `Err(index)` names the
/// first that did not come (or was never asked: `None`).
pub async fn all_answer(
    answers: Vec<Option<tokio::sync::oneshot::Receiver<()>>>,
    within: std::time::Duration,
) -> Result<(), usize> {
    let deadline = tokio::time::Instant::now() + within;
    for (index, answer) in answers.into_iter().enumerate() {
        let Some(answer) = answer else {
            return Err(index);
        };
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(())) => {}
            _ => return Err(index),
        }
    }
    Ok(())
}

/// The current thread's name and id (tests check where actors run).
pub fn current_thread() -> String {
    let thread = std::thread::current();
    format!("{} {:?}", thread.name().unwrap_or("unnamed"), thread.id())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[actix_rt::test]
    async fn the_heartbeat_names_a_thread_that_does_not_answer() {
        let pool = ActorPool::new(2).expect("pool");
        let within = std::time::Duration::from_secs(1);
        assert_eq!(pool.heartbeat(within).await, Ok(()));
        // A runaway actor: thread 1 is blocked until the test lets it go.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        pool.arbiters()[1].spawn(async move {
            let _ = blocked.recv();
        });
        assert_eq!(pool.heartbeat(within).await, Err(1));
        // Once it is free again, every thread answers.
        release.send(()).unwrap();
        assert_eq!(pool.heartbeat(within).await, Ok(()));
        pool.stop();
        assert!(
            pool.heartbeat(within).await.is_err(),
            "stopped threads do not answer"
        );
    }

    #[test]
    fn a_key_always_maps_to_the_same_shard() {
        for key in ["room-a", "room-b", "acme/ann"] {
            let first = shard_of(key, 7);
            assert!(first < 7);
            for _ in 0..10 {
                assert_eq!(shard_of(key, 7), first);
            }
        }
    }

    #[test]
    fn keys_spread_over_every_shard() {
        let mut seen = [0usize; 4];
        for i in 0..400 {
            seen[shard_of(&format!("room-{i}"), 4)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }

    #[test]
    fn thread_count_is_bounded() {
        assert_eq!(ActorPool::threads_for(3), 3);
        assert!(ActorPool::threads_for(0) >= 1);
        assert_eq!(
            ActorPool::threads_for(1000),
            crate::config::MAX_ACTOR_THREADS
        );
    }
}
