//! REST error mapping: the [`ErrorCode`] enum and [`ApiError`], rendered as
//! `{"error": "<code>", "message": "..."}` with a fitting status. Domain
//! errors (`auth::AuthError`, `notify::NotifyError`, `db::DbError`, admission
//! refusals) are mapped here, so no domain module depends on HTTP.

use crate::auth::AuthError;
use crate::notify::{InvalidKind, NotifyError};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// Every stable REST error code (the `error` field of an error body).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// The code with this wire name, if there is one.
            pub fn parse(code: &str) -> Option<ErrorCode> {
                match code {
                    $($code => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// The body is not valid JSON or misses a required field.
    InvalidBody => "invalid_body",
    /// A field has an unusable value (the message names it).
    InvalidField => "invalid_field",
    /// A query-string parameter is unusable.
    InvalidQuery => "invalid_query",
    /// A path segment is unusable.
    InvalidPath => "invalid_path",
    /// `Last-Event-ID` (or `?last_event_id=`) is not a stream position.
    InvalidLastEventId => "invalid_last_event_id",
    /// A Yjs document name is unusable.
    InvalidDocument => "invalid_document",
    /// A push subscription is unusable.
    InvalidSubscription => "invalid_subscription",
    /// A notification email address is unusable.
    InvalidEmail => "invalid_email",
    /// `X-Api-Key` without `X-Tenant-Id`.
    MissingTenant => "missing_tenant",
    /// A WebSocket route was called without an upgrade.
    NotAWebsocket => "not_a_websocket",
    /// No token in the request.
    MissingToken => "missing_token",
    /// The token expired.
    TokenExpired => "token_expired",
    /// The token is not valid (signature, audience, issuer, claims...).
    InvalidToken => "invalid_token",
    /// An admin revoked the user's access until a time (the message says when).
    TokenRevoked => "token_revoked",
    /// `X-Api-Key` is not a configured key.
    InvalidApiKey => "invalid_api_key",
    /// The caller's role may not do this.
    Forbidden => "forbidden",
    /// The upgrade's `Origin` is not allowed.
    OriginNotAllowed => "origin_not_allowed",
    /// No such route or resource.
    NotFound => "not_found",
    /// The lock to release is not held.
    NotLocked => "not_locked",
    /// No such document version.
    NoSuchVersion => "no_such_version",
    /// No such push subscription.
    SubscriptionNotFound => "subscription_not_found",
    /// Web Push is not configured.
    WebPushDisabled => "web_push_disabled",
    /// No notification email address is set.
    EmailNotSet => "email_not_set",
    /// The user has no open connection.
    NotConnected => "not_connected",
    /// Someone else holds the lock.
    LockConflict => "lock_conflict",
    /// A push endpoint is held by another user with other keys.
    EndpointTaken => "endpoint_taken",
    /// The user has too many open connections.
    TooManyConnections => "too_many_connections",
    /// The user has too many push subscriptions.
    TooManySubscriptions => "too_many_subscriptions",
    /// The database is unreachable.
    DatabaseUnavailable => "database_unavailable",
    /// The document session did not answer.
    DocumentUnavailable => "document_unavailable",
    /// The document's storage is behind (its write queue is full); nothing
    /// was changed. Retry after `retry_after_ms`.
    Unavailable => "unavailable",
    /// The node is not ready (database or migrations).
    NotReady => "not_ready",
    /// The push dispatcher's queue is full.
    PushBusy => "push_busy",
    /// The node is shutting down.
    ShuttingDown => "shutting_down",
    /// The node holds as many connections as its open-files limit allows
    /// (less `server.fd_reserve`); retry later or elsewhere.
    ServerAtCapacity => "server_at_capacity",
    /// An unexpected failure (the detail is logged, not sent).
    Internal => "internal",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A REST failure with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400.
    #[error("{1}")]
    BadRequest(ErrorCode, String),
    /// 401.
    #[error("{1}")]
    Unauthorized(ErrorCode, String),
    /// 403.
    #[error("{1}")]
    Forbidden(ErrorCode, String),
    /// 404.
    #[error("{1}")]
    NotFound(ErrorCode, String),
    /// 409.
    #[error("{1}")]
    Conflict(ErrorCode, String),
    /// 429.
    #[error("{1}")]
    TooManyRequests(ErrorCode, String),
    /// 503.
    #[error("{1}")]
    Unavailable(ErrorCode, String),
    /// 503 with `retry_after_ms` in the body and a `Retry-After` header
    /// (whole seconds, rounded up).
    #[error("{1}")]
    RetryLater(ErrorCode, String, u64),
    /// 500; the detail is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(c, _)
            | ApiError::Unauthorized(c, _)
            | ApiError::Forbidden(c, _)
            | ApiError::NotFound(c, _)
            | ApiError::Conflict(c, _)
            | ApiError::TooManyRequests(c, _)
            | ApiError::Unavailable(c, _)
            | ApiError::RetryLater(c, _, _) => *c,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Unavailable(m) => {
                ApiError::Unavailable(ErrorCode::DatabaseUnavailable, m)
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        if let AuthError::Revoked { .. } = e {
            return ApiError::Forbidden(ErrorCode::TokenRevoked, e.to_string());
        }
        let code = match e {
            AuthError::Missing => ErrorCode::MissingToken,
            AuthError::Expired => ErrorCode::TokenExpired,
            AuthError::Invalid(_) | AuthError::Revoked { .. } => ErrorCode::InvalidToken,
        };
        ApiError::Unauthorized(code, e.to_string())
    }
}

impl From<NotifyError> for ApiError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::Invalid(kind, m) => ApiError::BadRequest(
                match kind {
                    InvalidKind::Body => ErrorCode::InvalidBody,
                    InvalidKind::Field => ErrorCode::InvalidField,
                    InvalidKind::Query => ErrorCode::InvalidQuery,
                },
                m,
            ),
            NotifyError::NotFound(m) => ApiError::NotFound(ErrorCode::NotFound, m),
            NotifyError::Db(e) => e.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(..) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(..) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(..) => StatusCode::FORBIDDEN,
            ApiError::NotFound(..) => StatusCode::NOT_FOUND,
            ApiError::Conflict(..) => StatusCode::CONFLICT,
            ApiError::TooManyRequests(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(..) | ApiError::RetryLater(..) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(..) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Internal(detail) => {
                log::error!("internal error: {detail}");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        if let ApiError::RetryLater(_, _, retry_after_ms) = self {
            return HttpResponse::build(self.status_code())
                .insert_header((
                    actix_web::http::header::RETRY_AFTER,
                    retry_after_ms.div_ceil(1000).max(1).to_string(),
                ))
                .json(serde_json::json!({
                    "error": self.code().as_str(),
                    "message": message,
                    "retry_after_ms": retry_after_ms,
                }));
        }
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({ "error": self.code().as_str(), "message": message }))
    }
}

/// Turns actix's own JSON and path extractor failures into our error shape.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(ErrorCode::InvalidBody, err.to_string()).into()
}

/// Same for query strings.
pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(ErrorCode::InvalidQuery, err.to_string()).into()
}

/// Same for path segments.
pub fn path_error_handler(
    err: actix_web::error::PathError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(ErrorCode::InvalidPath, err.to_string()).into()
}

/// Every REST error as the OpenAPI spec describes it:
/// `{"error": "<code>", "message": "..."}`. The codes are [`ErrorCode`].
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_body`, `forbidden`.
    pub error: String,
    /// Human-readable detail.
    pub message: String,
    /// With `unavailable` only: milliseconds to wait before retrying the
    /// same request (also sent as `Retry-After`, in whole seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }

    #[test]
    fn domain_errors_keep_their_codes() {
        let e: ApiError = AuthError::Expired.into();
        assert_eq!(
            (e.code().as_str(), e.status_code().as_u16()),
            ("token_expired", 401)
        );
        let e: ApiError = NotifyError::Invalid(InvalidKind::Query, "x".into()).into();
        assert_eq!(
            (e.code().as_str(), e.status_code().as_u16()),
            ("invalid_query", 400)
        );
        let e: ApiError = NotifyError::NotFound("gone".into()).into();
        assert_eq!(
            (e.code().as_str(), e.status_code().as_u16()),
            ("not_found", 404)
        );
    }
}
