//! What the push dispatcher reports: per-delivery results (deliberately
//! coarse for users) and its counters since start.

use actix::MessageResponse;
use serde::Serialize;

/// What the dispatcher has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, MessageResponse)]
pub struct PushStats {
    /// Jobs received (test pushes included).
    pub jobs: u64,
    /// Jobs deferred because `push.max_queued_jobs` were in progress (they
    /// stay in the outbox and a later sweep runs them).
    pub dropped: u64,
    /// Jobs in progress now.
    pub in_flight: u64,
    /// Deliveries accepted.
    pub delivered: u64,
    /// Subscriptions removed because the push service said gone.
    pub removed: u64,
    /// Deliveries that failed for good.
    pub failed: u64,
    /// Retries made.
    pub retries: u64,
}

/// How one delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryResult {
    /// Accepted.
    Delivered,
    /// The push service said the subscription is gone; it was deleted.
    Removed,
    /// Failed (after retries, or permanently).
    Failed,
}

impl DeliveryResult {
    /// `delivered`, `removed` or `failed` (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Delivered => "delivered",
            DeliveryResult::Removed => "removed",
            DeliveryResult::Failed => "failed",
        }
    }
}

/// One delivery's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// `web_push`, `fcm` or `email`.
    pub kind: &'static str,
    /// The subscription (none for email).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<i64>,
    /// Result.
    pub result: DeliveryResult,
    /// Attempts made.
    pub attempts: u32,
    /// Last HTTP (or SMTP) status seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it did not arrive, in general terms only (the detail is logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<PublicError>,
}

/// What a delivery report says went wrong. Deliberately coarse: the server
/// connects to addresses users choose, and a detailed error (connection
/// refused, TLS failure, timeout) would tell them about the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PublicError {
    /// The push service said the subscription no longer exists.
    Gone,
    /// The message or destination was refused: a 4xx answer, or an endpoint
    /// this server does not send to.
    Rejected,
    /// Anything else: network errors, timeouts, 5xx after the retries.
    Failed,
}
