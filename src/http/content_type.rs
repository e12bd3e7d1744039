//! Only `application/json` is a JSON request body.
//!
//! actix-web's JSON extractor also accepts every `+json` media type
//! (`application/vnd.evil+json`, `application/merge-patch+json`), which the
//! API does not document and whose semantics it does not implement. This
//! middleware (on the whole app: only `/api/v1` and `POST /dev/token` take
//! bodies) refuses a body declared as any `+json` type other than
//! `application/json` itself; other types are already refused by the
//! extractor.

use super::error::{ApiError, ErrorCode};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;

/// True when the request declares a `+json` type that is not `application/json`.
pub fn is_foreign_json(content_type: &str) -> bool {
    let Ok(mime) = content_type.parse::<actix_web::mime::Mime>() else {
        return false;
    };
    mime.suffix() == Some(actix_web::mime::JSON)
}

/// The middleware.
pub async fn json_only(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let foreign = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_foreign_json);
    if foreign {
        return Err(ApiError::BadRequest(
            ErrorCode::InvalidBody,
            "the body must be `Content-Type: application/json`".into(),
        )
        .into());
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_application_json_passes() {
        assert!(is_foreign_json("application/vnd.evil+json"));
        assert!(is_foreign_json(
            "application/merge-patch+json; charset=utf-8"
        ));
        assert!(!is_foreign_json("application/json"));
        assert!(!is_foreign_json("application/json; charset=utf-8"));
        assert!(!is_foreign_json("text/plain"));
        assert!(!is_foreign_json("not a type"));
    }
}
