//! Group commit for document changes: one node-wide writer stores the
//! change rows (`collaboration_events`) of every document on the node in
//! batches, one multi-row `INSERT` per flush, instead of one round trip and
//! one commit per edit.
//!
//! Not an actor but a task owning a channel: each document sends its next
//! run of consecutive change rows as a `Job` and waits for the job's
//! answer before it acknowledges or broadcasts any of them, so an edit is
//! still acknowledged only after the statement that stored it committed.
//! A document has at most one job in the writer at a time (its write queue
//! runs one write at a time), which keeps its revisions in order across
//! flushes and bounds the channel by the number of open documents; each
//! document's own queue stays bounded by `documents.max_pending_writes`.
//!
//! When to flush is [`FlushPolicy`]: at once when no flush is running (a
//! lone editor waits for nothing), otherwise when `documents.batch_max_rows`
//! rows are waiting or the oldest has waited `documents.batch_wait_us`, with
//! at most [`MAX_IN_FLIGHT`] flushes running at once (each on its own pooled
//! connection). Rows that arrive while a flush runs go in the next one, which
//! is where the batching comes from under load.
//!
//! A failed flush answers every job in it with the error, except that a
//! statement error (a constraint or a bad row, not a lost connection) is
//! retried job by job, so one document's bad row never fails another
//! document's edits. The document keeps the refused rows at the head of its
//! queue and retries them; nothing in them has been acknowledged.
//!
//! Snapshots, lock rows and the session row keep the document's own path
//! (one statement on a pooled connection, in the document's write order):
//! they are rare next to edits, and the lock rows are a delete-and-insert
//! per document that does not fold into one multi-row statement.

use crate::db::documents::{self as q, NewEvent};
use crate::db::{Db, DbConn, DbError};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Flushes running at once, at most.
pub const MAX_IN_FLIGHT: usize = 2;

/// The writer keeps the connections of its last flushes (checking one out
/// of the pool costs a verifying round trip) and gives them back after this
/// long without work.
const KEEP_CONNECTIONS: Duration = Duration::from_secs(1);

/// The most rows `documents.batch_max_rows` may be (defined with the
/// config, which checks it).
pub const BATCH_MAX_ROWS_LIMIT: usize = crate::config::DOCUMENT_BATCH_MAX_ROWS;

/// When the writer flushes: a plain policy, tested on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Flush as soon as this many rows are waiting.
    pub max_rows: usize,
    /// Flush once the oldest waiting row has waited this long.
    pub max_wait: Duration,
    /// Flushes running at once, at most.
    pub max_in_flight: usize,
}

/// What the writer does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start a flush now.
    Flush,
    /// Nothing yet; decide again after this long (or when a job arrives).
    WaitFor(Duration),
    /// Nothing to do until a job arrives or a flush ends.
    Idle,
}

impl FlushPolicy {
    /// From `documents.batch_max_rows` and `documents.batch_wait_us`.
    pub fn new(max_rows: usize, max_wait: Duration) -> FlushPolicy {
        FlushPolicy {
            max_rows: max_rows.max(1),
            max_wait,
            max_in_flight: MAX_IN_FLIGHT,
        }
    }

    /// Decides, given the rows waiting, how long the oldest of them has
    /// waited and how many flushes are running.
    pub fn decide(
        &self,
        waiting_rows: usize,
        oldest_waited: Duration,
        in_flight: usize,
    ) -> Decision {
        if waiting_rows == 0 || in_flight >= self.max_in_flight {
            Decision::Idle
        } else if in_flight == 0 || waiting_rows >= self.max_rows || oldest_waited >= self.max_wait
        {
            Decision::Flush
        } else {
            Decision::WaitFor(self.max_wait - oldest_waited)
        }
    }

    /// How many of the waiting jobs (their row counts, oldest first) go in
    /// one flush: whole jobs, oldest first, until `max_rows` rows are taken;
    /// at least one job, so a job larger than `max_rows` goes alone.
    pub fn take(&self, job_rows: impl IntoIterator<Item = usize>) -> usize {
        let mut rows = 0;
        let mut jobs = 0;
        for n in job_rows {
            if jobs > 0 && rows + n > self.max_rows {
                break;
            }
            rows += n;
            jobs += 1;
        }
        jobs
    }
}

/// Why rows were not stored.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// A job's rows within a flush, and where its answer goes.
type Answer = (
    std::ops::Range<usize>,
    oneshot::Sender<Result<(), StoreError>>,
);

/// One document's run of consecutive change rows, and where its answer goes.
struct Job {
    rows: Vec<Arc<NewEvent>>,
    done: oneshot::Sender<Result<(), StoreError>>,
    queued: Instant,
}

/// The handle documents hold: sends rows to the node's writer.
#[derive(Clone)]
pub struct GroupCommit {
    tx: mpsc::UnboundedSender<Job>,
}

impl GroupCommit {
    /// Starts the writer on the current arbiter.
    pub fn start(db: Db, policy: FlushPolicy) -> GroupCommit {
        let (tx, rx) = mpsc::unbounded_channel();
        actix_rt::spawn(run(rx, db, policy));
        GroupCommit { tx }
    }

    /// Stores `rows` (one document's, in revision order) in the next flush;
    /// resolves once the statement holding them has committed, or failed.
    pub fn store(
        &self,
        rows: Vec<Arc<NewEvent>>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + 'static {
        let (done, answer) = oneshot::channel();
        let sent = self.tx.send(Job {
            rows,
            done,
            queued: Instant::now(),
        });
        async move {
            if sent.is_err() {
                return Err(StoreError("the event writer stopped".into()));
            }
            answer
                .await
                .unwrap_or_else(|_| Err(StoreError("the event writer stopped".into())))
        }
    }
}

/// The writer: collects jobs, flushes by [`FlushPolicy`], answers each job.
async fn run(mut rx: mpsc::UnboundedReceiver<Job>, db: Db, policy: FlushPolicy) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut waiting_rows = 0usize;
    let mut flights = futures_util::stream::FuturesUnordered::new();
    let mut spare: Vec<DbConn> = Vec::new();
    let mut last_done = Instant::now();
    let mut open = true;
    loop {
        let now = Instant::now();
        let oldest = waiting
            .front()
            .map_or(Duration::ZERO, |j| now.duration_since(j.queued));
        let deadline = match policy.decide(waiting_rows, oldest, flights.len()) {
            Decision::Flush => {
                let n = policy.take(waiting.iter().map(|j| j.rows.len()));
                let batch: Vec<Job> = waiting.drain(..n).collect();
                waiting_rows -= batch.iter().map(|j| j.rows.len()).sum::<usize>();
                flights.push(flush(db.clone(), spare.pop(), batch));
                continue;
            }
            Decision::WaitFor(d) => Some(now + d),
            Decision::Idle if waiting.is_empty() && flights.is_empty() && !spare.is_empty() => {
                if now >= last_done + KEEP_CONNECTIONS {
                    spare.clear();
                    None
                } else {
                    Some(last_done + KEEP_CONNECTIONS)
                }
            }
            Decision::Idle => None,
        };
        if !open && waiting.is_empty() && flights.is_empty() {
            return;
        }
        tokio::select! {
            job = rx.recv(), if open => match job {
                Some(job) => {
                    waiting_rows += job.rows.len();
                    waiting.push_back(job);
                    // Take whatever else is already queued before deciding.
                    while let Ok(job) = rx.try_recv() {
                        waiting_rows += job.rows.len();
                        waiting.push_back(job);
                    }
                }
                None => open = false,
            },
            Some(conn) = flights.next(), if !flights.is_empty() => {
                last_done = Instant::now();
                if let Some(conn) = conn {
                    spare.push(conn);
                }
            }
            () = sleep_until(deadline), if deadline.is_some() => {}
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(d).await;
    }
}

/// Stores one batch in one statement and answers every job in it; gives
/// back the connection unless the flush failed.
async fn flush(db: Db, conn: Option<DbConn>, jobs: Vec<Job>) -> Option<DbConn> {
    let mut rows = Vec::with_capacity(jobs.iter().map(|j| j.rows.len()).sum());
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        let start = rows.len();
        rows.extend(job.rows);
        answers.push((start..rows.len(), job.done));
    }
    metrics::counter!("tandem_document_write_flushes_total").increment(1);
    metrics::counter!("tandem_document_write_rows_total").increment(rows.len() as u64);
    let mut conn = match conn {
        Some(conn) => conn,
        None => match db.conn().await {
            Ok(conn) => conn,
            Err(e) => {
                answer_all(answers, &e);
                return None;
            }
        },
    };
    match q::insert_events(&mut conn, &rows).await {
        Ok(()) => {
            for (_, done) in answers {
                let _ = done.send(Ok(()));
            }
            Some(conn)
        }
        Err(DbError::Query(e)) if answers.len() > 1 => {
            log::warn!(
                "a batch of {} event rows failed ({e}); storing them document by document",
                rows.len()
            );
            for (range, done) in answers {
                let result = q::insert_events(&mut conn, &rows[range])
                    .await
                    .map_err(|e| StoreError(e.to_string()));
                let _ = done.send(result);
            }
            None
        }
        Err(e) => {
            answer_all(answers, &e);
            None
        }
    }
}

fn answer_all(answers: Vec<Answer>, e: &DbError) {
    for (_, done) in answers {
        let _ = done.send(Err(StoreError(e.to_string())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(max_rows: usize, wait_us: u64) -> FlushPolicy {
        FlushPolicy::new(max_rows, Duration::from_micros(wait_us))
    }

    #[test]
    fn a_lone_job_is_flushed_at_once_when_nothing_is_running() {
        assert_eq!(
            policy(100, 2000).decide(1, Duration::ZERO, 0),
            Decision::Flush
        );
    }

    #[test]
    fn while_a_flush_runs_rows_wait_for_the_deadline_or_the_row_bound() {
        let p = policy(100, 2000);
        assert_eq!(
            p.decide(5, Duration::from_micros(500), 1),
            Decision::WaitFor(Duration::from_micros(1500))
        );
        assert_eq!(p.decide(5, Duration::from_micros(2000), 1), Decision::Flush);
        assert_eq!(p.decide(100, Duration::ZERO, 1), Decision::Flush);
    }

    #[test]
    fn nothing_flushes_past_the_in_flight_bound_or_with_nothing_waiting() {
        let p = policy(10, 2000);
        assert_eq!(
            p.decide(500, Duration::from_secs(1), MAX_IN_FLIGHT),
            Decision::Idle
        );
        assert_eq!(p.decide(0, Duration::ZERO, 0), Decision::Idle);
    }

    #[test]
    fn take_keeps_jobs_whole_and_takes_at_least_one() {
        let p = policy(10, 2000);
        assert_eq!(p.take([4, 4, 4]), 2);
        assert_eq!(p.take([40, 1]), 1);
        assert_eq!(p.take([10, 1]), 1);
        assert_eq!(p.take([1, 9, 1]), 2);
        assert_eq!(p.take(Vec::<usize>::new()), 0);
    }

    proptest! {
        #[test]
        fn decide_flushes_exactly_when_a_bound_is_reached(
            max_rows in 1usize..500,
            wait_us in 0u64..5000,
            rows in 0usize..1000,
            waited_us in 0u64..10_000,
            in_flight in 0usize..4,
        ) {
            let p = policy(max_rows, wait_us);
            let waited = Duration::from_micros(waited_us);
            let d = p.decide(rows, waited, in_flight);
            let room = rows > 0 && in_flight < MAX_IN_FLIGHT;
            let due = in_flight == 0 || rows >= max_rows || waited_us >= wait_us;
            match d {
                Decision::Flush => prop_assert!(room && due),
                Decision::Idle => prop_assert!(!room),
                Decision::WaitFor(left) => {
                    prop_assert!(room && !due);
                    // Never longer than the configured wait.
                    prop_assert!(left <= Duration::from_micros(wait_us));
                    prop_assert_eq!(left + waited, Duration::from_micros(wait_us));
                }
            }
        }

        #[test]
        fn take_never_passes_the_bound_except_with_one_job(
            max_rows in 1usize..300,
            jobs in proptest::collection::vec(1usize..250, 0..40),
        ) {
            let p = policy(max_rows, 1000);
            let n = p.take(jobs.iter().copied());
            prop_assert!(n <= jobs.len());
            if !jobs.is_empty() {
                prop_assert!(n >= 1);
            }
            let taken: usize = jobs[..n].iter().sum();
            prop_assert!(n <= 1 || taken <= max_rows);
            // Maximal: the next job would have passed the bound.
            if n < jobs.len() && n > 0 {
                prop_assert!(taken + jobs[n] > max_rows);
            }
        }
    }
}
