//! Prometheus metrics: the `metrics` facade with the
//! `metrics-exporter-prometheus` recorder and the hooks that feed it
//! (rendered at `GET /metrics` by `http::metrics`). This module depends on
//! no other part of Tandem, so actors and services can all call it.
//!
//! Hooks elsewhere are one-line calls (`metrics::counter!(...)` or the
//! helpers here), so they survive changes to the code around them. Gauges
//! that mirror state the node already tracks (users, tenants, rooms, the
//! database pool) are refreshed when `/metrics` is scraped.
//!
//! The recorder is global to the process (the `metrics` facade allows one);
//! several servers in one process (tests) share it.
//!
//! Access: `GET /metrics` on the main listener, with
//! `Authorization: Bearer <metrics.token>`; without a token configured the
//! endpoint answers 404, so metrics are never public by accident.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// Latency buckets in seconds, 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Installs the recorder once per process and returns its handle; `None`
/// when another recorder was installed first (then nothing is exported).
pub fn install() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            if let Err(e) = metrics::set_global_recorder(recorder) {
                log::warn!("metrics: another recorder is installed: {e}");
                return None;
            }
            describe();
            start_upkeep(handle.clone(), UPKEEP_EVERY);
            Some(handle)
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A recorder made with `build_recorder` keeps every histogram sample until
/// the next render or upkeep: with nobody scraping `/metrics`, the fan-out
/// histogram (one sample per delivered frame) grew the heap by about 16
/// bytes per delivery, without bound. A thread folds them in every
/// [`UPKEEP_EVERY`], as the exporter's own listener would.
fn start_upkeep(handle: PrometheusHandle, every: std::time::Duration) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        log::warn!("metrics: no upkeep thread ({e}); histograms are folded only when scraped");
    }
}

fn describe() {
    describe_counter!(
        "tandem_http_requests_total",
        "HTTP requests by method, route and status"
    );
    describe_histogram!(
        "tandem_http_request_duration_seconds",
        "HTTP request latency by route (upgrades: until the 101)"
    );
    describe_gauge!(
        "tandem_connections",
        "Open connections by transport (ws, sse, yjs)"
    );
    describe_counter!(
        "tandem_actor_restarts_total",
        "Room and presence actors that stopped unexpectedly and were replaced"
    );
    describe_counter!(
        "tandem_connections_opened_total",
        "Connections opened by transport"
    );
    describe_counter!(
        "tandem_messages_in_total",
        "WebSocket messages received by type"
    );
    describe_counter!(
        "tandem_messages_out_total",
        "WebSocket messages written by type"
    );
    describe_counter!(
        "tandem_rate_limited_total",
        "Messages refused by the per-connection rate limit"
    );
    describe_counter!(
        "tandem_slow_consumer_closes_total",
        "Sockets and streams closed because their outbound queue was full, by transport"
    );
    describe_counter!("tandem_document_edits_total", "Document changes applied");
    describe_counter!(
        "tandem_document_conflicts_total",
        "Concurrent edits transformed against each other"
    );
    describe_counter!(
        "tandem_document_resyncs_total",
        "Edits refused with resync_required (base too old)"
    );
    describe_counter!(
        "tandem_document_write_flushes_total",
        "Group-commit flushes: multi-row inserts of document changes"
    );
    describe_counter!(
        "tandem_document_write_rows_total",
        "Document change rows stored by group-commit flushes"
    );
    describe_counter!(
        "tandem_notifications_created_total",
        "Notifications stored (one per recipient)"
    );
    describe_counter!(
        "tandem_push_deliveries_total",
        "Push deliveries by channel and outcome"
    );
    describe_gauge!("tandem_users", "Users online or in their offline grace");
    describe_gauge!("tandem_tenants", "Tenants with at least one user online");
    describe_gauge!("tandem_rooms", "Room actors");
    describe_gauge!("tandem_db_pool_size", "Connections in the database pool");
    describe_gauge!(
        "tandem_db_pool_available",
        "Idle connections in the database pool"
    );
    describe_gauge!(
        "tandem_db_pool_waiting",
        "Tasks waiting for a database connection"
    );
    describe_histogram!(
        "tandem_db_acquire_seconds",
        "Time to get a pooled database connection"
    );
    describe_histogram!(
        "tandem_db_query_seconds",
        "Database query latency (diesel instrumentation), by outcome"
    );
    describe_gauge!(
        "tandem_db_pool_in_use",
        "Database pool connections checked out"
    );
    describe_histogram!(
        "tandem_fanout_delivery_seconds",
        "Time from a broadcast's publish to the connection actor writing it"
    );
    describe_gauge!(
        "tandem_mailbox_depth",
        "Messages waiting in an actor's mailbox (broker: exact count)"
    );
    describe_gauge!(
        "tandem_mailbox_wait_seconds",
        "Round trip of a probe query through an actor's mailbox at the last scrape \
         (registry, broker, and the slowest sampled room and document)"
    );
    describe_gauge!(
        "tandem_redis_up",
        "Redis link: 0 not configured, 1 connected, -1 configured but down"
    );
    describe_counter!(
        "tandem_redis_published_total",
        "Frames published to Redis for other nodes"
    );
    describe_counter!(
        "tandem_redis_received_total",
        "Frames from other nodes delivered to this node's subscribers"
    );
    describe_counter!(
        "tandem_redis_dropped_total",
        "Frames not carried between nodes, by reason"
    );
    describe_counter!("tandem_admin_actions_total", "Admin API calls by action");
    describe_counter!(
        "tandem_admin_disconnects_total",
        "Connections closed by an admin (close code 4003)"
    );
    describe_counter!(
        "tandem_system_messages_total",
        "system:message broadcasts by scope"
    );
}

/// Records one fan-out delivery's latency (publish to write). Runs once per
/// delivery, so each thread keeps the histogram handle.
pub fn fanout_latency(elapsed: std::time::Duration) {
    thread_local! {
        static H: metrics::Histogram = metrics::histogram!("tandem_fanout_delivery_seconds");
    }
    H.with(|h| h.record(elapsed));
}

/// Connections by transport: call from the connection actor's `started`.
pub fn connection_opened(transport: &'static str) {
    gauge!("tandem_connections", "transport" => transport).increment(1.0);
    counter!("tandem_connections_opened_total", "transport" => transport).increment(1);
}

/// Call from the connection actor's `stopped`.
pub fn connection_closed(transport: &'static str) {
    gauge!("tandem_connections", "transport" => transport).decrement(1.0);
}

/// The `type` of a JSON protocol frame (`{"type":"...",...}`), interned so a
/// label is allocated once per distinct type; `other` when it has none.
/// Only frames that parsed as, or were serialized from, a protocol message
/// reach this, so the set of labels is bounded by the protocol.
pub fn message_type(frame: &str) -> &'static str {
    let Some(rest) = frame.strip_prefix(r#"{"type":""#) else {
        return "other";
    };
    let Some(end) = rest.find('"') else {
        return "other";
    };
    intern(&rest[..end])
}

pub(crate) fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let Ok(mut names) = NAMES.get_or_init(Default::default).lock() else {
        return "other";
    };
    if let Some(found) = names.get(name) {
        return found;
    }
    if names.len() >= 256 {
        return "other";
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// Counts a message written to a WebSocket. This runs once per delivery
/// (a broadcast to 1000 members is 1000 calls), so each thread keeps the
/// counter handle of every type it has seen: a prefix scan, a thread-local
/// lookup and an atomic add, without the global intern lock or the
/// recorder's key hashing.
pub fn message_out(frame: &str) {
    thread_local! {
        static OUT: std::cell::RefCell<std::collections::HashMap<&'static str, metrics::Counter>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    let tag = frame
        .strip_prefix(r#"{"type":""#)
        .and_then(|rest| rest.find('"').map(|end| &rest[..end]))
        .unwrap_or("other");
    OUT.with(|out| {
        let mut out = out.borrow_mut();
        if let Some(counter) = out.get(tag) {
            counter.increment(1);
            return;
        }
        let name = message_type(frame);
        let counter = counter!("tandem_messages_out_total", "type" => name);
        counter.increment(1);
        out.insert(name, counter);
    });
}

/// Counts a message received on a WebSocket, by the `type` the parser
/// already read (one of `ClientMessage::TYPES`, so the labels are bounded).
/// Like [`message_out`] it runs on a connection's read loop, so each thread
/// keeps the counter handle of every type it has seen.
pub fn message_in(kind: &'static str) {
    thread_local! {
        static IN: std::cell::RefCell<std::collections::HashMap<&'static str, metrics::Counter>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    IN.with(|counters| {
        counters
            .borrow_mut()
            .entry(kind)
            .or_insert_with(|| counter!("tandem_messages_in_total", "type" => kind))
            .increment(1);
    });
}

/// Middleware: counts every HTTP request by method, matched route pattern
/// (never the raw path, so ids do not become labels) and status, and
/// records its latency.
pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .map(|p| intern(&p))
        .unwrap_or("unmatched");
    let status = intern(res.status().as_str());
    counter!("tandem_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    metrics::histogram!("tandem_http_request_duration_seconds", "route" => route)
        .record(started.elapsed());
    Ok(res)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// The upkeep thread folds samples into the buckets while nobody
    /// scrapes, and a scrape after it still counts every sample once.
    #[test]
    fn upkeep_folds_histogram_samples_without_losing_or_repeating_any() {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        start_upkeep(handle.clone(), std::time::Duration::from_millis(10));
        metrics::with_local_recorder(&recorder, || {
            let h = metrics::histogram!("probe_seconds");
            for i in 0..1000u32 {
                h.record(f64::from(i % 7) / 1000.0);
                if i == 500 {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        let text = handle.render();
        assert!(text.contains("probe_seconds_count 1000"), "{text}");
        // 0-6 ms, each value 1/7 of the samples: 0 and 1 ms are <= 1 ms.
        assert!(
            text.contains(r#"probe_seconds_bucket{le="0.001"} 286"#),
            "{text}"
        );
    }

    #[test]
    fn message_types_come_from_the_tag() {
        assert_eq!(
            message_type(r#"{"type":"room:join","room":"x"}"#),
            "room:join"
        );
        assert_eq!(message_type(r#"{"ref":1,"type":"x"}"#), "other");
        assert_eq!(message_type(r#"{"type":"unterminated"#), "other");
        // Interned: the same pointer for the same name.
        assert!(std::ptr::eq(
            message_type(r#"{"type":"welcome"}"#),
            message_type(r#"{"type":"welcome","x":1}"#)
        ));
    }

    /// Every metric the Grafana dashboard and docs/rest.md name is one this
    /// module describes (so a rename cannot leave them behind).
    #[test]
    fn dashboard_and_docs_name_described_metrics() {
        let described = include_str!("telemetry.rs");
        for (what, text) in [
            (
                "deploy/grafana-dashboard.json",
                include_str!("../deploy/grafana-dashboard.json"),
            ),
            ("docs/rest.md", include_str!("../docs/rest.md")),
        ] {
            let mut seen = 0;
            for (i, _) in text.match_indices("tandem_") {
                let name: String = text[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name.len() <= "tandem_".len() || name.starts_with("tandem_tpl") {
                    continue;
                }
                let base = name.strip_suffix("_bucket").unwrap_or(&name);
                assert!(
                    described.contains(&format!("\"{base}\"")),
                    "{what} names {name}, which is not described here"
                );
                seen += 1;
            }
            assert!(seen > 10, "{what}: {seen}");
        }
    }
}
