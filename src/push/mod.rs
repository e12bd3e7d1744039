//! Push delivery: Web Push, FCM (HTTP v1) and email, behind one trait.
//! The notification service stores a notification, decides its channels,
//! and hands a [`PushJob`] to the [`PushDispatcherActor`]; the dispatcher does
//! all push and email I/O off every WebSocket delivery path.
//!
//! - [`dispatcher`]: the actor (its own arbiter), bounded concurrency, retries,
//!   the delivered flags, and the test push.
//! - `engine`: the dispatcher's delivery engine (targets, retries, results).
//! - [`sender`]: the [`sender::PushSender`] trait, payload, targets and outcomes.
//! - [`webpush`]: VAPID + aes128gcm via the `web-push` crate, sent through awc.
//! - [`fcm`]: the HTTP v1 API with a cached OAuth2 token (JWT-bearer grant).
//! - [`email`]: SMTP via lettre.
//! - [`retry`]: the retry policy and `Retry-After` parsing (pure).
//! - [`outbox`]: jobs stored in PostgreSQL until delivered or given up, so
//!   a restarted server resumes them.
//! - [`store`]: subscriptions, contact addresses and delivered flags in PostgreSQL.
//! - [`validate`]: checks on subscription and email requests (pure).
//! - [`destination`]: where Web Push may connect (public addresses only,
//!   optional allowlist), checked at subscribe time and before each send.
//!
//! [`PushDispatcherActor`]: dispatcher::PushDispatcherActor

use crate::ids::{TenantId, UserId};
use actix::prelude::*;

/// Notification priority (drives channels, Web Push urgency and TTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Low.
    Low,
    /// Normal (the default).
    Normal,
    /// High.
    High,
    /// Urgent.
    Urgent,
}

impl Priority {
    /// Database and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Reads the database and wire spelling.
    pub fn parse(text: &str) -> Option<Priority> {
        match text {
            "low" => Some(Priority::Low),
            "normal" => Some(Priority::Normal),
            "high" => Some(Priority::High),
            "urgent" => Some(Priority::Urgent),
            _ => None,
        }
    }
}

/// Which out-of-band channels a notification goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Channels {
    /// Browser Web Push subscriptions.
    pub web_push: bool,
    /// FCM registration tokens.
    pub fcm: bool,
    /// Email.
    pub email: bool,
}

/// Deliver one stored notification over push channels.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct PushJob {
    /// realtime_notifications.id (for the delivered_* flags).
    pub notification_id: i64,
    /// Tenant.
    pub tenant: TenantId,
    /// Recipient.
    pub user: UserId,
    /// Notification type (`payment_received`, ...).
    pub notification_type: String,
    /// Title.
    pub title: String,
    /// Body text.
    pub message: Option<String>,
    /// Link to open.
    pub action_url: Option<String>,
    /// Priority.
    pub priority: Priority,
    /// Channels to use.
    pub channels: Channels,
}

pub mod destination;
pub mod dispatcher;
pub mod email;
mod engine;
pub mod fcm;
pub mod outbox;
pub mod report;
pub mod retry;
pub mod sender;
pub mod store;
pub mod validate;
pub mod webpush;
