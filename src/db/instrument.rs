//! Query latency for `/metrics`: a diesel [`Instrumentation`] installed as
//! the default for every new connection, recording each query's duration in
//! `tandem_db_query_seconds` (label `outcome`: `ok` or `error`).

use diesel::connection::{Instrumentation, InstrumentationEvent};
use std::time::Instant;

/// Times the query in flight on one connection.
#[derive(Default)]
struct QueryTimer {
    started: Option<Instant>,
}

impl Instrumentation for QueryTimer {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => self.started = Some(Instant::now()),
            InstrumentationEvent::FinishQuery { error, .. } => {
                if let Some(started) = self.started.take() {
                    let outcome = if error.is_some() { "error" } else { "ok" };
                    metrics::histogram!("tandem_db_query_seconds", "outcome" => outcome)
                        .record(started.elapsed());
                }
            }
            _ => {}
        }
    }
}

fn timer() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(QueryTimer::default()))
}

/// Makes [`QueryTimer`] the default instrumentation (idempotent).
pub fn install() {
    if let Err(e) = diesel::connection::set_default_instrumentation(timer) {
        log::warn!("database query timing not installed: {e}");
    }
}
