//! Notifications: validation, storage, delivery, listing, read marks and
//! per-type channel settings.
//!
//! Creating stores first (one multi-row `INSERT`, so one transaction),
//! then delivers each user's row: `notification` and the new
//! `notification:count` to `Topic::User`, a push job when a push or email
//! channel is on, and `delivered_websocket` for users who were connected.
//! Expired notifications (`expires_at` in the past) are never listed,
//! counted, synced or marked.

pub use deliver::{create, publish_count, refresh_count};
pub use settings::{put_settings, settings, validate_settings};
pub use store::{
    after, delete, has_unread, list, mark_all_read, mark_read, max_id, unread_count, unread_counts,
    ListFilter,
};
pub use validate::{parse_priority, CreateNotifications, NotificationDraft};

use super::channels::{decide, ChannelSettings};
use super::{
    check_chars, check_id, check_name, invalid, non_empty, rfc3339, Notifier, NotifyError,
    PresenceOf,
};
use crate::broker::Topic;
use crate::db::schema::{notification_settings, realtime_notifications};
use crate::db::Db;
use crate::ids::{TenantId, UserId};
use crate::protocol::server::{NotificationAction, NotificationSource, NotificationView};
use crate::protocol::{Ref, ServerMessage};
use crate::push::{Priority, PushJob};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Recipients per request at most.
pub const MAX_RECIPIENTS: usize = 1000;
/// Notifications a `notification:sync` returns at most; `has_more` says when
/// the client should sync again from the last id.
pub const SYNC_LIMIT: i64 = 500;
/// Notification types one settings update may name at most.
pub const MAX_SETTINGS_TYPES: usize = 100;

/// A stored notification.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = realtime_notifications)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct NotificationRow {
    /// Monotonic id.
    pub id: i64,
    /// Tenant.
    pub tenant_id: String,
    /// Recipient.
    pub user_id: String,
    /// Type.
    pub notification_type: String,
    /// Title.
    pub title: String,
    /// Body.
    pub message: Option<String>,
    /// What it is about.
    pub source_type: Option<String>,
    /// Its id.
    pub source_id: Option<String>,
    /// Link.
    pub action_url: Option<String>,
    /// Link text.
    pub action_label: Option<String>,
    /// `low`, `normal`, `high`, `urgent`.
    pub priority: String,
    /// Read?
    pub is_read: bool,
    /// When it was read.
    pub read_at: Option<DateTime<Utc>>,
    /// Published to a connected user.
    pub delivered_websocket: bool,
    /// Sent by push (set by the push dispatcher).
    pub delivered_push: bool,
    /// Sent by email (set by the push dispatcher).
    pub delivered_email: bool,
    /// Hidden after this.
    pub expires_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl NotificationRow {
    /// The wire shape (WebSocket, SSE and REST).
    pub fn view(&self) -> NotificationView {
        let source =
            (self.source_type.is_some() || self.source_id.is_some()).then(|| NotificationSource {
                source_type: self.source_type.clone(),
                id: self.source_id.clone(),
            });
        let action = self.action_url.as_ref().map(|url| NotificationAction {
            url: url.clone(),
            label: self.action_label.clone(),
        });
        NotificationView {
            id: self.id,
            notification_type: self.notification_type.clone(),
            title: self.title.clone(),
            message: self.message.clone(),
            priority: self.priority.clone(),
            source,
            action,
            is_read: self.is_read,
            read_at: self.read_at.map(rfc3339),
            created_at: rfc3339(self.created_at),
            expires_at: self.expires_at.map(rfc3339),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = realtime_notifications)]
struct NewNotification<'a> {
    tenant_id: &'a str,
    user_id: &'a str,
    notification_type: &'a str,
    title: &'a str,
    message: Option<&'a str>,
    source_type: Option<&'a str>,
    source_id: Option<&'a str>,
    action_url: Option<&'a str>,
    action_label: Option<&'a str>,
    priority: &'a str,
    expires_at: Option<DateTime<Utc>>,
}

/// One created notification.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Created {
    /// Its id.
    pub id: i64,
    /// Its recipient.
    pub user_id: String,
}

/// Not expired at the time the statement runs.
macro_rules! live {
    () => {
        realtime_notifications::expires_at
            .is_null()
            .or(realtime_notifications::expires_at.gt(diesel::dsl::now))
    };
}

/// One user's notifications in one tenant.
macro_rules! mine {
    ($tenant:expr, $user:expr) => {
        realtime_notifications::tenant_id
            .eq($tenant)
            .and(realtime_notifications::user_id.eq($user))
    };
}

mod deliver;
mod settings;
mod store;
mod validate;

/// The `notification` message of a sync reply (carries the sync's `ref`).
pub fn sync_message(row: &NotificationRow, r#ref: Option<Ref>) -> ServerMessage {
    ServerMessage::Notification {
        r#ref,
        notification: row.view(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn body(v: serde_json::Value) -> CreateNotifications {
        super::super::from_json(v).unwrap()
    }

    fn err(v: serde_json::Value) -> String {
        body(v).validate(Utc::now()).unwrap_err().to_string()
    }

    #[test]
    fn validation_names_the_field() {
        let ok = body(serde_json::json!({
            "user_ids": ["a", "b", "a"], "type": "mention", "title": "Hi",
            "message": "", "priority": "high", "action_url": "/x",
            "expires_at": "2999-01-01T00:00:00Z"
        }))
        .validate(Utc::now())
        .unwrap();
        assert_eq!(ok.users, vec!["a", "b"]);
        assert_eq!(ok.message, None);
        assert_eq!(ok.priority, Priority::High);

        let base = serde_json::json!({"user_ids": ["a"], "type": "t", "title": "x"});
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        assert!(err(with("user_ids", serde_json::json!([]))).contains("user_ids"));
        let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
        assert!(err(with("user_ids", serde_json::json!(many))).contains("user_ids"));
        assert!(err(with("user_ids", serde_json::json!(["a", ""]))).contains("user_ids[1]"));
        assert!(err(with("type", serde_json::json!("no spaces"))).contains("`type`"));
        assert!(err(with("title", serde_json::json!(""))).contains("`title`"));
        assert!(err(with("title", serde_json::json!("x".repeat(256)))).contains("`title`"));
        assert!(err(with("priority", serde_json::json!("loud"))).contains("`priority`"));
        assert!(
            err(with("action_url", serde_json::json!("javascript:alert(1)")))
                .contains("`action_url`")
        );
        assert!(err(with("action_url", serde_json::json!("//evil"))).contains("`action_url`"));
        assert!(
            err(with("action_url", serde_json::json!("/\\evil.example"))).contains("`action_url`")
        );
        assert!(err(with("expires_at", serde_json::json!("tomorrow"))).contains("`expires_at`"));
        assert!(err(with(
            "expires_at",
            serde_json::json!("2000-01-01T00:00:00Z")
        ))
        .contains("in the future"));
    }

    #[test]
    fn settings_updates_are_checked() {
        let mut u = BTreeMap::new();
        assert!(validate_settings(&u).is_err());
        u.insert("mention".to_owned(), None);
        assert!(validate_settings(&u).is_ok());
        u.insert("bad type".to_owned(), Some(ChannelSettings::WITH_PUSH));
        assert!(validate_settings(&u)
            .unwrap_err()
            .to_string()
            .contains("bad type"));
    }
}
