//! Validating a notification request (`POST /api/v1/notifications`) into a draft.

use super::*;

/// Body of `POST /api/v1/notifications`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateNotifications {
    /// Recipients (1 to 1000; duplicates are ignored).
    pub user_ids: Vec<String>,
    /// Notification type (`payment_received`, ...).
    #[serde(rename = "type")]
    pub notification_type: String,
    /// Title, 1 to 255 characters.
    pub title: String,
    /// Body, up to 4000 characters.
    #[serde(default)]
    pub message: Option<String>,
    /// `low`, `normal` (default), `high` or `urgent`.
    #[serde(default)]
    pub priority: Option<String>,
    /// What the notification is about (`invoice`, ...).
    #[serde(default)]
    pub source_type: Option<String>,
    /// Its id.
    #[serde(default)]
    pub source_id: Option<String>,
    /// A link: an absolute `http(s)://` URL or a path starting with `/`.
    #[serde(default)]
    pub action_url: Option<String>,
    /// The link's label.
    #[serde(default)]
    pub action_label: Option<String>,
    /// RFC 3339; after it the notification is hidden.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A validated notification, ready to store.
#[derive(Debug, Clone)]
pub struct NotificationDraft {
    /// Distinct recipients, in request order.
    pub users: Vec<String>,
    /// Type.
    pub notification_type: String,
    /// Title.
    pub title: String,
    /// Body.
    pub message: Option<String>,
    /// Priority.
    pub priority: Priority,
    /// Source type.
    pub source_type: Option<String>,
    /// Source id.
    pub source_id: Option<String>,
    /// Link.
    pub action_url: Option<String>,
    /// Link text.
    pub action_label: Option<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Parses a priority name.
pub fn parse_priority(text: &str) -> Option<Priority> {
    Some(match text {
        "low" => Priority::Low,
        "normal" => Priority::Normal,
        "high" => Priority::High,
        "urgent" => Priority::Urgent,
        _ => return None,
    })
}

pub(super) fn check_action_url(url: &str) -> Result<(), NotifyError> {
    let ok_scheme = url.starts_with("https://") || url.starts_with("http://");
    // `//host` and `/\host` are both read by browsers as another origin.
    let ok_path = url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\");
    if url.len() > 2048 || !(ok_scheme || ok_path) || url.chars().any(char::is_control) {
        return Err(invalid(
            "action_url",
            "must be an http(s):// URL or a path starting with `/`, at most 2048 bytes",
        ));
    }
    Ok(())
}

impl CreateNotifications {
    /// Checks every field against the documented limits.
    pub fn validate(self, now: DateTime<Utc>) -> Result<NotificationDraft, NotifyError> {
        if self.user_ids.is_empty() || self.user_ids.len() > MAX_RECIPIENTS {
            return Err(invalid(
                "user_ids",
                format_args!("must list 1 to {MAX_RECIPIENTS} user ids"),
            ));
        }
        let mut seen = HashSet::new();
        let mut users = Vec::with_capacity(self.user_ids.len());
        for (i, u) in self.user_ids.into_iter().enumerate() {
            check_id(&format!("user_ids[{i}]"), &u, 256)?;
            if seen.insert(u.clone()) {
                users.push(u);
            }
        }
        check_name("type", &self.notification_type)?;
        check_chars("title", &self.title, 1, 255)?;
        let message = non_empty(self.message);
        if let Some(m) = &message {
            check_chars("message", m, 0, 4000)?;
        }
        let priority = match self.priority.as_deref() {
            None => Priority::Normal,
            Some(p) => parse_priority(p)
                .ok_or_else(|| invalid("priority", "must be low, normal, high or urgent"))?,
        };
        let source_type = non_empty(self.source_type);
        if let Some(s) = &source_type {
            check_id("source_type", s, 64)?;
        }
        let source_id = non_empty(self.source_id);
        if let Some(s) = &source_id {
            check_id("source_id", s, 256)?;
        }
        let action_url = non_empty(self.action_url);
        if let Some(u) = &action_url {
            check_action_url(u)?;
        }
        let action_label = non_empty(self.action_label);
        if let Some(l) = &action_label {
            check_chars("action_label", l, 1, 100)?;
        }
        let expires_at = match non_empty(self.expires_at) {
            None => None,
            Some(t) => {
                let t = DateTime::parse_from_rfc3339(&t)
                    .map_err(|_| invalid("expires_at", "must be an RFC 3339 timestamp"))?
                    .with_timezone(&Utc);
                if t <= now {
                    return Err(invalid("expires_at", "must be in the future"));
                }
                Some(t)
            }
        };
        Ok(NotificationDraft {
            users,
            notification_type: self.notification_type,
            title: self.title,
            message,
            priority,
            source_type,
            source_id,
            action_url,
            action_label,
            expires_at,
        })
    }
}
