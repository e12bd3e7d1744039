//! The REST error type: every failure renders as
//! `{"error": "<code>", "message": "..."}` with a fitting status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// A REST failure with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400.
    #[error("{1}")]
    BadRequest(&'static str, String),
    /// 401.
    #[error("{1}")]
    Unauthorized(&'static str, String),
    /// 403.
    #[error("{1}")]
    Forbidden(&'static str, String),
    /// 404.
    #[error("{1}")]
    NotFound(&'static str, String),
    /// 409.
    #[error("{1}")]
    Conflict(&'static str, String),
    /// 429.
    #[error("{1}")]
    TooManyRequests(&'static str, String),
    /// 503.
    #[error("{1}")]
    Unavailable(&'static str, String),
    /// 500; the detail is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(c, _)
            | ApiError::Unauthorized(c, _)
            | ApiError::Forbidden(c, _)
            | ApiError::NotFound(c, _)
            | ApiError::Conflict(c, _)
            | ApiError::TooManyRequests(c, _)
            | ApiError::Unavailable(c, _) => c,
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Unavailable(m) => ApiError::Unavailable("database_unavailable", m),
            other => ApiError::Internal(other.to_string()),
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
            ApiError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
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
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({ "error": self.code(), "message": message }))
    }
}

/// Turns actix's own JSON and path extractor failures into our error shape.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest("invalid_body", err.to_string()).into()
}

/// Same for query strings.
pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest("invalid_query", err.to_string()).into()
}

/// Same for path segments.
pub fn path_error_handler(
    err: actix_web::error::PathError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest("invalid_path", err.to_string()).into()
}

/// The REST error for a refused connection slot (WebSocket, SSE or Yjs).
pub fn admission_refused(e: crate::actors::registry::AdmitError, max_per_user: usize) -> ApiError {
    use crate::actors::registry::AdmitError;
    match e {
        AdmitError::TooManyConnections => ApiError::TooManyRequests(
            "too_many_connections",
            format!(
                "at most {max_per_user} connections per user \
                 (websocket.max_connections_per_user)"
            ),
        ),
        AdmitError::ShuttingDown => ApiError::Unavailable("shutting_down", e.to_string()),
    }
}
