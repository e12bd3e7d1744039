//! The rate limit as a client sees it: a client that follows the documented
//! rule (after `rate_limited`, send nothing for `retry_after_ms`) runs at
//! full speed without ever being closed, while one that ignores the advice
//! is closed with 4029.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use tandem::protocol::close_code;

/// A small bucket and a refill whose period is not a whole number of
/// milliseconds (1/7 s), so a truncated `retry_after_ms` would be too early,
/// and a tiny abuse threshold, so any early retry counted would soon close.
fn tight_limits(s: &mut tandem::config::Settings) {
    s.websocket.rate_limit_burst = 2;
    s.websocket.rate_limit_per_second = 7;
    s.websocket.rate_limit_close_after = 3;
}

#[actix_web::test]
async fn a_client_honouring_retry_after_is_never_closed() {
    let app = spawn_app_with(tight_limits).await;
    let mut c = app.connect_ready("u", "t").await;
    let run = Duration::from_secs(30);
    let start = tokio::time::Instant::now();
    let (mut acks, mut limited) = (0u32, 0u32);
    let mut i = 0u64;
    while start.elapsed() < run {
        i += 1;
        // `request` panics if the socket is closed.
        let reply = c
            .request(json!({"type": "heartbeat"}), &format!("h{i}"))
            .await;
        match reply["type"].as_str() {
            Some("heartbeat_ack") => acks += 1,
            Some("error") => {
                assert_eq!(reply["code"], "rate_limited", "{reply}");
                let wait = reply["retry_after_ms"].as_u64().unwrap();
                assert!(wait >= 1, "{reply}");
                limited += 1;
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            _ => panic!("unexpected reply {reply}"),
        }
    }
    assert!(
        limited > 10,
        "the limiter was exercised ({limited} rejections)"
    );
    assert!(acks > 10, "messages were admitted ({acks})");
    // Still open and served.
    let reply = c.request(json!({"type": "heartbeat"}), "last").await;
    assert!(
        reply["type"] == "heartbeat_ack" || reply["code"] == "rate_limited",
        "{reply}"
    );
}

#[actix_web::test]
async fn a_client_retrying_before_the_advised_time_is_closed() {
    let app = spawn_app_with(tight_limits).await;
    let mut c = app.connect_ready("u", "t").await;
    let mut i = 0u64;
    let ended = loop {
        i += 1;
        assert!(i < 1000, "never closed");
        c.send(json!({"type": "heartbeat", "ref": format!("h{i}")}))
            .await;
        // Presence diffs (this user's own arrival) are not replies.
        let reply = loop {
            match c.recv_or_end(Duration::from_secs(5)).await {
                Ok(v) if v["type"] == "presence:diff" => continue,
                other => break other,
            }
        };
        match reply {
            Ok(reply) if reply["code"] == "rate_limited" => {
                // Retries after half the advised time: always early.
                let wait = reply["retry_after_ms"].as_u64().unwrap();
                tokio::time::sleep(Duration::from_millis(wait / 2)).await;
            }
            Ok(reply) => assert_eq!(reply["type"], "heartbeat_ack", "{reply}"),
            Err(ended) => break ended,
        }
    };
    assert_eq!(ended, Ended::Close(Some(close_code::RATE_LIMIT_ABUSE)));
}
