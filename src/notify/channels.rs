//! Which channels deliver a notification (pure; no I/O).
//!
//! The decision has three inputs: the user's stored setting for the
//! notification type (a `notification_settings` row), the type's and the
//! priority's defaults when there is no row, and the user's presence status
//! (a `busy` user gets no push for `normal` or `low` priority).

use crate::push::{Channels, Priority};

/// All four channels of one (user, notification type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// Live delivery to the user's WebSocket (and SSE) connections.
    pub websocket: bool,
    /// Browser Web Push.
    pub web_push: bool,
    /// Firebase Cloud Messaging (mobile apps).
    pub fcm: bool,
    /// Email.
    pub email: bool,
}

impl ChannelSettings {
    /// WebSocket only.
    pub const WEBSOCKET_ONLY: ChannelSettings = ChannelSettings {
        websocket: true,
        web_push: false,
        fcm: false,
        email: false,
    };

    /// WebSocket and both push channels.
    pub const WITH_PUSH: ChannelSettings = ChannelSettings {
        websocket: true,
        web_push: true,
        fcm: true,
        email: false,
    };

    /// WebSocket, push and email.
    pub const WITH_PUSH_AND_EMAIL: ChannelSettings = ChannelSettings {
        websocket: true,
        web_push: true,
        fcm: true,
        email: true,
    };
}

/// The channels a known notification type uses at its usual priority;
/// `None` for types Tandem has no default for. Money events (a payment
/// received, an overdue invoice) warrant every channel; assignments,
/// mentions and shares warrant a push; project updates and comments are
/// only worth a live notification.
pub fn type_defaults(notification_type: &str) -> Option<ChannelSettings> {
    Some(match notification_type {
        "payment_received" | "invoice_overdue" => ChannelSettings::WITH_PUSH_AND_EMAIL,
        "invoice_paid" | "task_assigned" | "mention" | "document_shared" => {
            ChannelSettings::WITH_PUSH
        }
        "project_update" | "comment" => ChannelSettings::WEBSOCKET_ONLY,
        _ => return None,
    })
}

/// Default channels when the user has no setting for the type:
/// - `low`: WebSocket only, whatever the type;
/// - `normal`: the type's defaults, or WebSocket and push for unknown types;
/// - `high` and `urgent`: WebSocket and push always, plus email when the
///   type's defaults include it.
pub fn default_channels(notification_type: &str, priority: Priority) -> ChannelSettings {
    let by_type = type_defaults(notification_type);
    match priority {
        Priority::Low => ChannelSettings::WEBSOCKET_ONLY,
        Priority::Normal => by_type.unwrap_or(ChannelSettings::WITH_PUSH),
        Priority::High | Priority::Urgent => ChannelSettings {
            email: by_type.is_some_and(|d| d.email),
            ..ChannelSettings::WITH_PUSH
        },
    }
}

/// What to do with one notification for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Publish it live to the user's connections.
    pub websocket: bool,
    /// Out-of-band channels for the push dispatcher.
    pub push: Channels,
}

impl Delivery {
    /// True when the push dispatcher has something to do.
    pub fn needs_push_job(&self) -> bool {
        self.push.web_push || self.push.fcm || self.push.email
    }
}

/// Decides the channels: the user's stored setting wins over the defaults;
/// a `busy` user gets no Web Push or FCM for `normal` and `low` priority
/// (email and the live WebSocket delivery are unaffected).
pub fn decide(
    stored: Option<ChannelSettings>,
    notification_type: &str,
    priority: Priority,
    busy: bool,
) -> Delivery {
    let c = stored.unwrap_or_else(|| default_channels(notification_type, priority));
    let quiet = busy && matches!(priority, Priority::Low | Priority::Normal);
    Delivery {
        websocket: c.websocket,
        push: Channels {
            web_push: c.web_push && !quiet,
            fcm: c.fcm && !quiet,
            email: c.email,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn push(d: &Delivery) -> (bool, bool, bool) {
        (d.push.web_push, d.push.fcm, d.push.email)
    }

    #[test]
    fn known_types_use_their_channels_at_their_priority() {
        let d = decide(None, "payment_received", Priority::High, false);
        assert!(d.websocket);
        assert_eq!(push(&d), (true, true, true));
        let d = decide(None, "invoice_overdue", Priority::High, false);
        assert_eq!(push(&d), (true, true, true));
        let d = decide(None, "invoice_paid", Priority::Normal, false);
        assert_eq!(push(&d), (true, true, false));
        let d = decide(None, "task_assigned", Priority::Normal, false);
        assert_eq!(push(&d), (true, true, false));
        let d = decide(None, "mention", Priority::High, false);
        assert_eq!(push(&d), (true, true, false));
        let d = decide(None, "document_shared", Priority::Normal, false);
        assert_eq!(push(&d), (true, true, false));
        let d = decide(None, "project_update", Priority::Normal, false);
        assert_eq!(push(&d), (false, false, false));
        assert!(d.websocket);
        assert!(!d.needs_push_job());
        let d = decide(None, "comment", Priority::Normal, false);
        assert_eq!(push(&d), (false, false, false));
    }

    #[test]
    fn priority_shapes_the_defaults() {
        // Low is WebSocket only, even for a type that usually emails.
        let d = decide(None, "payment_received", Priority::Low, false);
        assert!(d.websocket);
        assert_eq!(push(&d), (false, false, false));
        // High and urgent always push, and email only where the type does.
        for p in [Priority::High, Priority::Urgent] {
            assert_eq!(
                push(&decide(None, "comment", p, false)),
                (true, true, false)
            );
            assert_eq!(push(&decide(None, "custom", p, false)), (true, true, false));
            assert_eq!(
                push(&decide(None, "payment_received", p, false)),
                (true, true, true)
            );
        }
        // Unknown types at normal priority use the table's column defaults.
        assert_eq!(
            default_channels("custom_type", Priority::Normal),
            ChannelSettings::WITH_PUSH
        );
    }

    #[test]
    fn stored_settings_win() {
        let off = ChannelSettings {
            websocket: false,
            web_push: false,
            fcm: true,
            email: false,
        };
        let d = decide(Some(off), "payment_received", Priority::Urgent, false);
        assert!(!d.websocket);
        assert_eq!(push(&d), (false, true, false));
        // A stored setting can turn push on for a low-priority type.
        let d = decide(
            Some(ChannelSettings::WITH_PUSH_AND_EMAIL),
            "comment",
            Priority::Low,
            false,
        );
        assert_eq!(push(&d), (true, true, true));
    }

    #[test]
    fn busy_users_get_no_push_below_high() {
        for p in [Priority::Low, Priority::Normal] {
            let d = decide(
                Some(ChannelSettings::WITH_PUSH_AND_EMAIL),
                "payment_received",
                p,
                true,
            );
            assert!(d.websocket);
            assert_eq!(push(&d), (false, false, true), "{p:?}");
        }
        for p in [Priority::High, Priority::Urgent] {
            let d = decide(None, "mention", p, true);
            assert_eq!(push(&d), (true, true, false), "{p:?}");
        }
    }
}
