//! The REST [`Principal`] extractor: a bearer token, `?token=`, or for
//! services an `X-Api-Key` with `X-Tenant-Id`; refusals map to [`ApiError`].

use super::error::{ApiError, ErrorCode};
use crate::auth::{extract_token, AuthError, Authenticator, Principal, Role};
use crate::ids::{TenantId, UserId};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::{ready, Ready};

/// Authenticates a REST request: a bearer token, `?token=`, or for services
/// an `X-Api-Key` with `X-Tenant-Id`.
pub fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let auth = req
        .app_data::<web::Data<Authenticator>>()
        .ok_or_else(|| ApiError::Internal("authenticator not configured".into()))?;
    if let Some(key) = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
        if !auth.is_api_key(key) {
            return Err(ApiError::Unauthorized(
                ErrorCode::InvalidApiKey,
                "X-Api-Key is not a configured key".into(),
            ));
        }
        let tenant = req
            .headers()
            .get("x-tenant-id")
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::BadRequest(
                    ErrorCode::MissingTenant,
                    "X-Api-Key requires X-Tenant-Id".into(),
                )
            })?;
        return Ok(Principal {
            // Not a user id a host app would issue: services never pose as users.
            user: UserId::new("service:api-key"),
            tenant: TenantId::new(tenant),
            name: "service".into(),
            role: Role::Service,
            expires_at: i64::MAX,
        });
    }
    let (token, _) = extract_token(req, false).ok_or(AuthError::Missing)?;
    Ok(auth.verify(&token)?)
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}
