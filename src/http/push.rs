//! Push subscriptions, the test push and the notification email address
//! over REST. Everything here is the caller's own, scoped to their tenant;
//! services (API keys) hold no subscriptions and get 403.

use super::error::{ApiError, ErrorCode};
use crate::auth::{Principal, Role};
use crate::db::Db;
use crate::push::dispatcher::{DeliveryResult, DispatchError, PushHandle, SendTest};
use crate::push::{store, validate};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Subscriptions one user may hold (devices and browsers).
pub const MAX_SUBSCRIPTIONS_PER_USER: usize = 50;

fn users_only(principal: &Principal) -> Result<(), ApiError> {
    if principal.role == Role::Service {
        return Err(ApiError::Forbidden(
            ErrorCode::Forbidden,
            "push subscriptions belong to users; a service key cannot hold them".into(),
        ));
    }
    Ok(())
}

/// The push validators name their code as text; every one of them is an
/// [`ErrorCode`] (a code without one is a programming error, logged and
/// sent as `invalid_body` so the client still gets a 400 with the message).
fn invalid((code, message): validate::Invalid) -> ApiError {
    let code = ErrorCode::parse(code).unwrap_or_else(|| {
        log::error!("push validation used an unknown error code {code:?}");
        ErrorCode::InvalidBody
    });
    ApiError::BadRequest(code, message)
}

/// `GET /api/v1/push/vapid-public-key`: the key browsers pass to
/// `pushManager.subscribe({applicationServerKey})`. No token needed.
#[utoipa::path(
    get,
    path = "/api/v1/push/vapid-public-key",
    tag = "push",
    summary = "The VAPID key browsers pass to pushManager.subscribe",
    responses((status = 200, description = "`{\"public_key\": \"...\"}`", body = serde_json::Value), (status = 404, description = "Web Push is off", body = crate::http::error::ErrorBody))
)]
pub async fn vapid_public_key(push: web::Data<PushHandle>) -> Result<HttpResponse, ApiError> {
    match &push.vapid_public_key {
        Some(key) => Ok(HttpResponse::Ok().json(json!({ "public_key": key }))),
        None => Err(ApiError::NotFound(
            ErrorCode::WebPushDisabled,
            "Web Push is not configured on this server (push.vapid_private_key)".into(),
        )),
    }
}

/// `POST /api/v1/push/subscribe`: store (or refresh) a Web Push subscription
/// or an FCM token of mine. 201 with its id.
#[utoipa::path(
    post,
    path = "/api/v1/push/subscribe",
    tag = "push",
    summary = "Store or refresh a Web Push subscription or an FCM token of mine",
    request_body(content = serde_json::Value, description = "`{\"endpoint\", \"keys\": {\"p256dh\", \"auth\"}}` (Web Push) or `{\"token\"}` (FCM), see docs/rest.md"),
    responses((status = 201, description = "Its id", body = serde_json::Value), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`forbidden`: the caller's role may not do this", body = crate::http::error::ErrorBody), (status = 409, description = "Too many subscriptions", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn subscribe(
    principal: Principal,
    body: web::Json<validate::SubscribeBody>,
    push: web::Data<PushHandle>,
    db: web::Data<Db>,
) -> Result<HttpResponse, ApiError> {
    users_only(&principal)?;
    let sub = validate::subscription(body.into_inner(), &push.insecure_endpoint_hosts)
        .map_err(invalid)?;
    if sub.kind == "web_push" {
        // The server will connect to this URL: only public push services.
        push.destination
            .resolve_url(&sub.endpoint)
            .await
            .map_err(|refusal| {
                ApiError::BadRequest(
                    ErrorCode::InvalidSubscription,
                    format!("`endpoint`: {refusal}"),
                )
            })?;
    }
    let existing = store::list_subscriptions(&db, &principal.tenant, &principal.user).await?;
    if existing.len() >= MAX_SUBSCRIPTIONS_PER_USER
        && !existing.iter().any(|s| s.endpoint == sub.endpoint)
    {
        return Err(ApiError::BadRequest(
            ErrorCode::TooManySubscriptions,
            format!(
                "a user may hold at most {MAX_SUBSCRIPTIONS_PER_USER} subscriptions; unsubscribe old devices first"
            ),
        ));
    }
    match store::upsert_subscription(&db, &principal.tenant, &principal.user, &sub).await? {
        store::Upserted::Stored {
            id,
            created,
            took_over,
        } => Ok(HttpResponse::Created().json(json!({
            "id": id, "kind": sub.kind, "created": created, "took_over": took_over
        }))),
        store::Upserted::HeldByAnother => Err(ApiError::Conflict(
            ErrorCode::EndpointTaken,
            "another user holds this endpoint with other keys; subscribe with this \
             browser's own keys"
                .into(),
        )),
    }
}

/// Body of `DELETE /api/v1/push/unsubscribe`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeBody {
    /// A Web Push endpoint.
    pub endpoint: Option<String>,
    /// An FCM token.
    pub token: Option<String>,
}

/// `DELETE /api/v1/push/unsubscribe`: `{endpoint}` or `{token}`; 204, or 404
/// when I hold no such subscription.
#[utoipa::path(
    delete,
    path = "/api/v1/push/unsubscribe",
    tag = "push",
    summary = "Remove one of my subscriptions",
    request_body(content = UnsubscribeBody),
    responses((status = 204, description = "Removed"), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`forbidden`: the caller's role may not do this", body = crate::http::error::ErrorBody), (status = 404, description = "`not_found`", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn unsubscribe(
    principal: Principal,
    body: web::Json<UnsubscribeBody>,
    db: web::Data<Db>,
) -> Result<HttpResponse, ApiError> {
    users_only(&principal)?;
    let key = match body.into_inner() {
        UnsubscribeBody {
            endpoint: Some(e),
            token: None,
        } => e,
        UnsubscribeBody {
            endpoint: None,
            token: Some(t),
        } => t,
        _ => {
            return Err(ApiError::BadRequest(
                ErrorCode::InvalidBody,
                "send exactly one of `endpoint` (Web Push) or `token` (FCM)".into(),
            ))
        }
    };
    if store::delete_subscription(&db, &principal.tenant, &principal.user, &key).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(
            ErrorCode::SubscriptionNotFound,
            "no subscription of yours has that endpoint or token".into(),
        ))
    }
}

/// `GET /api/v1/push/subscriptions`: my subscriptions (keys left out).
#[utoipa::path(
    get,
    path = "/api/v1/push/subscriptions",
    tag = "push",
    summary = "My subscriptions (keys left out)",
    responses((status = 200, description = "Subscriptions", body = serde_json::Value), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`forbidden`: the caller's role may not do this", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(principal: Principal, db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    users_only(&principal)?;
    let subscriptions = store::list_subscriptions(&db, &principal.tenant, &principal.user).await?;
    Ok(HttpResponse::Ok().json(json!({ "subscriptions": subscriptions })))
}

/// `POST /api/v1/push/test`: send a test notification to all my active
/// subscriptions (and my email address, when email is on) now; one result
/// per delivery. Gone subscriptions are deleted as for any push.
#[utoipa::path(
    post,
    path = "/api/v1/push/test",
    tag = "push",
    summary = "Send a test notification to all my subscriptions now",
    responses((status = 200, description = "One result per delivery", body = serde_json::Value), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`forbidden`: the caller's role may not do this", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn test(
    principal: Principal,
    push: web::Data<PushHandle>,
) -> Result<HttpResponse, ApiError> {
    users_only(&principal)?;
    let results = push
        .addr
        .send(SendTest {
            tenant: principal.tenant,
            user: principal.user,
        })
        .await
        .map_err(|e| ApiError::Internal(format!("push dispatcher: {e}")))?
        .map_err(|e| match e {
            DispatchError::Busy(_) => ApiError::Unavailable(ErrorCode::PushBusy, e.to_string()),
        })?;
    let delivered = results
        .iter()
        .filter(|r| r.result == DeliveryResult::Delivered)
        .count();
    Ok(HttpResponse::Ok().json(json!({
        "sent": results.len(),
        "delivered": delivered,
        "results": results,
    })))
}

/// Body of `PUT /api/v1/push/email`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    /// The address.
    pub email: String,
}

/// `GET /api/v1/push/email`: my notification email address, or 404.
#[utoipa::path(
    get,
    path = "/api/v1/push/email",
    tag = "push",
    summary = "My notification email address",
    responses((status = 200, description = "`{\"email\": \"...\"}`", body = serde_json::Value), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`forbidden`: the caller's role may not do this", body = crate::http::error::ErrorBody), (status = 404, description = "`not_found`", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_email(principal: Principal, db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    users_only(&principal)?;
    match store::email_of(&db, &principal.tenant, &principal.user).await? {
        Some(email) => Ok(HttpResponse::Ok().json(json!({ "email": email }))),
        None => Err(ApiError::NotFound(
            ErrorCode::EmailNotSet,
            "no notification email address is set".into(),
        )),
    }
}

/// `PUT /api/v1/push/email`: set my notification email address.
#[utoipa::path(
    put,
    path = "/api/v1/push/email",
    tag = "push",
    summary = "Set my notification email address",
    request_body(content = EmailBody),
    responses((status = 200, description = "The stored address", body = serde_json::Value), (status = 400, description = "`invalid_body` or `invalid_field`; the message names the field", body = crate::http::error::ErrorBody), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`forbidden`: the caller's role may not do this", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn set_email(
    principal: Principal,
    body: web::Json<EmailBody>,
    push: web::Data<PushHandle>,
    db: web::Data<Db>,
) -> Result<HttpResponse, ApiError> {
    users_only(&principal)?;
    let email = validate::email(&body.email).map_err(invalid)?;
    store::set_email(&db, &principal.tenant, &principal.user, &email).await?;
    Ok(HttpResponse::Ok().json(json!({ "email": email, "email_enabled": push.email_enabled })))
}

/// `DELETE /api/v1/push/email`: forget my address; 204, or 404 when none was set.
#[utoipa::path(
    delete,
    path = "/api/v1/push/email",
    tag = "push",
    summary = "Forget my notification email address",
    responses((status = 204, description = "Removed"), (status = 401, description = "Missing, invalid or expired token (`missing_token`, `invalid_token`, `token_expired`, `invalid_api_key`)", body = crate::http::error::ErrorBody), (status = 403, description = "`forbidden`: the caller's role may not do this", body = crate::http::error::ErrorBody), (status = 404, description = "`not_found`", body = crate::http::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn delete_email(
    principal: Principal,
    db: web::Data<Db>,
) -> Result<HttpResponse, ApiError> {
    users_only(&principal)?;
    if store::delete_email(&db, &principal.tenant, &principal.user).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(
            ErrorCode::EmailNotSet,
            "no notification email address is set".into(),
        ))
    }
}
