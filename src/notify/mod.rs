//! Notifications and the activity feed: validation, storage and delivery.
//!
//! - [`notifications`]: store a notification for up to 1000 users (one
//!   statement), then deliver it: a `notification` and the new
//!   `notification:count` to each user's connections, and a
//!   [`crate::push::PushJob`] to the push dispatcher when a push or email
//!   channel is on. Listing, counts, read marks, deletion and settings.
//! - [`activity`]: record an activity (stored, then published to the
//!   tenant, or for `private` rows only to the users allowed to see it),
//!   and list it with the same visibility rule.
//! - [`channels`]: the pure channel decision (settings, defaults by
//!   type and priority, busy users).
//! - [`position`]: the pure `n-<id>.a-<id>` stream position of SSE event ids.
//!
//! Everything here is plain async code run from REST handlers or spawned by
//! actors; nothing here runs inside an actor's mailbox turn. Every query is
//! scoped by the tenant the caller's credential names.

pub mod activity;
pub mod channels;
pub mod notifications;
pub mod position;
pub mod unread;

use crate::broker::Broker;
use crate::db::{Db, DbError};
use crate::ids::{TenantId, UserId};
use crate::protocol::server::PresenceView;
use crate::push::PushJob;
use actix::Recipient;
use std::sync::Arc;

/// The presence of these users in this tenant, as far as this node knows
/// (users without presence are left out). Answered by the actor tree; the
/// notification service only holds a [`Recipient`] for it.
#[derive(actix::Message)]
#[rtype(result = "Vec<PresenceView>")]
pub struct PresenceOf {
    /// Tenant.
    pub tenant: TenantId,
    /// The users asked about.
    pub users: Vec<UserId>,
}

/// What the notification and activity services need: storage, delivery to
/// connections, a presence query and the push dispatcher. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    /// The database pool.
    pub db: Db,
    /// Delivery to connections.
    pub broker: Arc<dyn Broker>,
    /// Who of a set of users is connected, and who is busy.
    pub presence: Recipient<PresenceOf>,
    /// Push, FCM and email delivery.
    pub push: Recipient<PushJob>,
    /// Push limits (the outbox's claim length follows the job timeout).
    pub push_settings: crate::config::PushSettings,
    /// Tenants known to have no unread notification (a node alone only).
    pub unread: Arc<unread::UnreadCache>,
}

/// Which part of a request was unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKind {
    /// The body as a whole (not JSON, a missing field, a wrong type).
    Body,
    /// One field's value.
    Field,
    /// A query-string parameter.
    Query,
}

/// Failures of the notification and activity services.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The input is unusable; the message names the field.
    #[error("{1}")]
    Invalid(InvalidKind, String),
    /// No such row for this user in this tenant.
    #[error("{0}")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for NotifyError {
    fn from(e: diesel::result::Error) -> Self {
        NotifyError::Db(DbError::Query(e))
    }
}

/// `invalid_field` naming the field.
pub(crate) fn invalid(field: &str, what: impl std::fmt::Display) -> NotifyError {
    NotifyError::Invalid(InvalidKind::Field, format!("`{field}` {what}"))
}

/// A required text of `min..=max` characters.
pub(crate) fn check_chars(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), NotifyError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(invalid(
            field,
            format_args!("must be {min} to {max} characters"),
        ));
    }
    Ok(())
}

/// An id of `1..=max` bytes (user ids, entity ids).
pub(crate) fn check_id(field: &str, value: &str, max: usize) -> Result<(), NotifyError> {
    if value.is_empty() || value.len() > max {
        return Err(invalid(field, format_args!("must be 1 to {max} bytes")));
    }
    Ok(())
}

/// A name such as a notification type or an action: 1 to 64 bytes of
/// ASCII letters, digits and `_ . : -`.
pub(crate) fn check_name(field: &str, value: &str) -> Result<(), NotifyError> {
    if value.is_empty()
        || value.len() > 64
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
    {
        return Err(invalid(
            field,
            "must be 1 to 64 characters of letters, digits, `_`, `.`, `:` and `-`",
        ));
    }
    Ok(())
}

/// Turns `Some("")` into `None` (an empty optional text means "not given").
pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

/// Deserializes a JSON body, naming the offending field on failure
/// (`invalid_body`).
pub fn from_json<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, NotifyError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            NotifyError::Invalid(InvalidKind::Body, inner.to_string())
        } else {
            NotifyError::Invalid(InvalidKind::Body, format!("`{path}`: {inner}"))
        }
    })
}

/// RFC 3339 with milliseconds, as every timestamp on the wire.
pub(crate) fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Page size of a listing query: default 50, between 1 and 200
/// (`invalid_query` otherwise).
pub fn page_limit(limit: Option<i64>) -> Result<i64, NotifyError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(NotifyError::Invalid(
            InvalidKind::Query,
            "`limit` must be 1 to 200".into(),
        )),
    }
}

/// `check_name` for a query parameter (`invalid_query`).
pub fn check_name_query(field: &str, value: &str) -> Result<(), NotifyError> {
    check_name(field, value).map_err(|e| match e {
        NotifyError::Invalid(_, m) => NotifyError::Invalid(InvalidKind::Query, m),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn names_are_restricted() {
        assert!(check_name("type", "payment_received").is_ok());
        assert!(check_name("type", "a.b:c-d").is_ok());
        assert!(check_name("type", "").is_err());
        assert!(check_name("type", "has space").is_err());
        assert!(check_name("type", &"x".repeat(65)).is_err());
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct B {
            user_ids: Vec<String>,
        }
        let e = from_json::<B>(serde_json::json!({"user_ids": ["a", 3]})).unwrap_err();
        assert!(e.to_string().contains("user_ids[1]"), "{e}");
    }
}
