//! JWT verification and issuing, token extraction from requests, and the
//! [`Principal`] a credential names (the REST extractor is `http::principal`).
//!
//! Tokens are accepted from `Authorization: Bearer <t>`, from
//! `Sec-WebSocket-Protocol: bearer, <t>` (WebSocket upgrades only; the server
//! then answers with the `bearer` subprotocol) and from `?token=<t>`.
//! A token is never logged: the access log prints the path without the query.

use crate::config::{AuthSettings, JwtAlgorithm};
use crate::ids::{TenantId, UserId};
use actix_web::{web, HttpRequest};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The claims Tandem reads from a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id in the host application.
    pub sub: String,
    /// Tenant id in the host application.
    pub tenant_id: String,
    /// Display name shown to other users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Role: `user` (default), `admin` or `service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Expiry, seconds since the epoch. Required: optional here only so a
    /// token without it is reported as "missing required claim `exp`".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience. RFC 7519 allows a string or an array; the validator has
    /// checked that the configured audience is among them, and an array is
    /// kept here as its first element.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub aud: Option<String>,
}

/// `aud` as a string or an array of strings (the first kept).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Aud>::deserialize(d)? {
        None => None,
        Some(Aud::One(a)) => Some(a),
        Some(Aud::Many(all)) => all.into_iter().next(),
    })
}

/// Who is calling, after verification.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user: UserId,
    /// The user's tenant; every query and room is scoped to it.
    pub tenant: TenantId,
    /// Display name (falls back to the user id).
    pub name: Arc<str>,
    /// Role from the token.
    pub role: Role,
    /// Token expiry, seconds since the epoch.
    pub expires_at: i64,
}

/// A caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An end user of the host app.
    User,
    /// A tenant administrator.
    Admin,
    /// A backend service publishing notifications and activity.
    Service,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No token anywhere in the request.
    #[error("no token: send Authorization: Bearer <token>, Sec-WebSocket-Protocol: bearer, <token>, or ?token=")]
    Missing,
    /// The token expired.
    #[error("token expired")]
    Expired,
    /// Anything else: bad signature, algorithm, audience, issuer, missing claim.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// An admin revoked the user's access until `until` (Unix seconds): every
    /// token of that user is refused until then, however valid.
    #[error("access revoked by an admin until {}", crate::auth::rfc3339(*until))]
    Revoked {
        /// Unix seconds.
        until: i64,
    },
}

/// Unix seconds as an RFC 3339 UTC timestamp.
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| secs.to_string())
}

/// Verifies (and for `tandem token`, signs) JWTs with the configured key.
pub struct Authenticator {
    decoding: DecodingKey,
    validation: Validation,
    algorithm: Algorithm,
    api_keys: Vec<String>,
    /// Users whose tokens are refused until a time (Unix seconds), by
    /// (tenant, user): admin revocations, loaded from `user_revocations` at
    /// start and kept up to date by the admin API.
    revoked: std::sync::RwLock<std::collections::HashMap<(TenantId, UserId), i64>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Maps the config enum to jsonwebtoken's.
fn algorithm_of(a: JwtAlgorithm) -> Algorithm {
    match a {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::ES256 => Algorithm::ES256,
    }
}

/// Reads a PEM file named by a config key.
fn read_pem(key: &str, path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path)
        .map_err(|e| format!("config key `{key}`: cannot read {}: {e}", path.display()))
}

impl Authenticator {
    /// Builds the verifier; fails with a message naming the config key.
    pub fn new(settings: &AuthSettings) -> Result<Self, String> {
        let algorithm = algorithm_of(settings.algorithm);
        let decoding = match settings.algorithm {
            JwtAlgorithm::HS256 => DecodingKey::from_secret(settings.secret.expose().as_bytes()),
            JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => {
                let path = settings
                    .public_key_path
                    .as_deref()
                    .ok_or("config key `auth.public_key_path`: required for RS256/ES256")?;
                let pem = read_pem("auth.public_key_path", path)?;
                let key = if settings.algorithm == JwtAlgorithm::RS256 {
                    DecodingKey::from_rsa_pem(&pem)
                } else {
                    DecodingKey::from_ec_pem(&pem)
                };
                key.map_err(|e| {
                    format!("config key `auth.public_key_path`: not a usable PEM key: {e}")
                })?
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = settings.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &settings.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &settings.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Authenticator {
            decoding,
            validation,
            algorithm,
            api_keys: settings
                .api_keys
                .iter()
                .map(|k| k.expose().to_owned())
                .collect(),
            revoked: std::sync::RwLock::new(std::collections::HashMap::new()),
        })
    }

    /// Refuses every token of `user` until `until` (Unix seconds); a later
    /// call replaces the time (an earlier `until` shortens it).
    pub fn revoke(&self, tenant: TenantId, user: UserId, until: i64) {
        if let Ok(mut map) = self.revoked.write() {
            map.retain(|_, t| *t > now_secs());
            map.insert((tenant, user), until);
        }
    }

    /// Lifts a revocation; true when there was one.
    pub fn unrevoke(&self, tenant: &TenantId, user: &UserId) -> bool {
        self.revoked
            .write()
            .map(|mut map| map.remove(&(tenant.clone(), user.clone())).is_some())
            .unwrap_or(false)
    }

    /// Until when the user's tokens are refused, if they are now.
    pub fn revoked_until(&self, tenant: &TenantId, user: &UserId) -> Option<i64> {
        let map = self.revoked.read().ok()?;
        if map.is_empty() {
            return None;
        }
        map.get(&(tenant.clone(), user.clone()))
            .copied()
            .filter(|until| *until > now_secs())
    }

    /// Verifies a token and returns who it names.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        // RFC 7515 §4.1.11: a recipient must refuse a token whose `crit`
        // names extensions it does not understand; Tandem understands none.
        if jsonwebtoken::decode_header(token).is_ok_and(|h| h.crit.is_some()) {
            return Err(AuthError::Invalid(
                "unsupported critical header (`crit`)".into(),
            ));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::MissingRequiredClaim(c) => {
                    AuthError::Invalid(format!("missing required claim `{c}`"))
                }
                ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience".into()),
                ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer".into()),
                ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
                ErrorKind::InvalidAlgorithm => AuthError::Invalid("algorithm not accepted".into()),
                ErrorKind::ImmatureSignature => AuthError::Invalid("token not yet valid".into()),
                _ => AuthError::Invalid("malformed token".into()),
            })?;
        let principal = principal_from(data.claims)?;
        if let Some(until) = self.revoked_until(&principal.tenant, &principal.user) {
            return Err(AuthError::Revoked { until });
        }
        Ok(principal)
    }

    /// True when `key` is one of the configured service API keys
    /// (compared in constant time).
    pub fn is_api_key(&self, key: &str) -> bool {
        self.api_keys
            .iter()
            .any(|k| constant_time_eq(k.as_bytes(), key.as_bytes()))
    }

    /// Signs claims with the configured key (the `tandem token` command).
    pub fn issue(settings: &AuthSettings, claims: &Claims) -> Result<String, String> {
        let algorithm = algorithm_of(settings.algorithm);
        let key = match settings.algorithm {
            JwtAlgorithm::HS256 => EncodingKey::from_secret(settings.secret.expose().as_bytes()),
            JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => {
                let path = settings.private_key_path.as_deref().ok_or(
                    "config key `auth.private_key_path`: required to sign RS256/ES256 tokens",
                )?;
                let pem = read_pem("auth.private_key_path", path)?;
                let key = if settings.algorithm == JwtAlgorithm::RS256 {
                    EncodingKey::from_rsa_pem(&pem)
                } else {
                    EncodingKey::from_ec_pem(&pem)
                };
                key.map_err(|e| format!("config key `auth.private_key_path`: {e}"))?
            }
        };
        jsonwebtoken::encode(&Header::new(algorithm), claims, &key).map_err(|e| e.to_string())
    }
}

/// Compares two byte strings without an early exit on the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Validates the application claims (non-empty ids, known role).
fn principal_from(claims: Claims) -> Result<Principal, AuthError> {
    if claims.sub.is_empty() || claims.sub.len() > 256 {
        return Err(AuthError::Invalid("`sub` must be 1 to 256 bytes".into()));
    }
    if claims.tenant_id.is_empty() || claims.tenant_id.len() > 256 {
        return Err(AuthError::Invalid(
            "`tenant_id` must be 1 to 256 bytes".into(),
        ));
    }
    let role = match claims.role.as_deref() {
        None | Some("user") => Role::User,
        Some("admin") => Role::Admin,
        Some("service") => Role::Service,
        Some(other) => return Err(AuthError::Invalid(format!("unknown role `{other}`"))),
    };
    let name = claims.name.unwrap_or_else(|| claims.sub.clone());
    Ok(Principal {
        user: UserId::new(claims.sub),
        tenant: TenantId::new(claims.tenant_id),
        name: name.into(),
        role,
        expires_at: claims
            .exp
            .ok_or_else(|| AuthError::Invalid("missing required claim `exp`".into()))?,
    })
}

/// Where a token came from; the WebSocket upgrade must echo `bearer`
/// as the subprotocol when it came from `Sec-WebSocket-Protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer`.
    Header,
    /// `Sec-WebSocket-Protocol: bearer, <token>`.
    Subprotocol,
    /// `?token=`.
    Query,
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Finds the token in a request, or `None`.
pub fn extract_token(req: &HttpRequest, allow_subprotocol: bool) -> Option<(String, TokenSource)> {
    if let Some(value) = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return Some((token.trim().to_owned(), TokenSource::Header));
        }
    }
    if allow_subprotocol {
        if let Some(value) = req
            .headers()
            .get(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
        {
            let mut parts = value.split(',').map(str::trim);
            if parts.next() == Some("bearer") {
                if let Some(token) = parts.next().filter(|t| !t.is_empty()) {
                    return Some((token.to_owned(), TokenSource::Subprotocol));
                }
            }
        }
    }
    web::Query::<TokenQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().token)
        .filter(|t| !t.is_empty())
        .map(|t| (t, TokenSource::Query))
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::Secret;

    fn settings() -> AuthSettings {
        AuthSettings {
            secret: Secret::new("0123456789abcdef0123456789abcdef"),
            audience: Some("tandem".into()),
            leeway_secs: 0,
            ..AuthSettings::default()
        }
    }

    fn claims(exp_in: i64) -> Claims {
        Claims {
            sub: "u1".into(),
            tenant_id: "t1".into(),
            name: None,
            role: None,
            exp: Some(now_secs() + exp_in),
            iat: None,
            iss: None,
            aud: Some("tandem".into()),
        }
    }

    #[test]
    fn a_revoked_user_is_refused_until_the_time_or_until_lifted() {
        let s = settings();
        let auth = Authenticator::new(&s).unwrap();
        let token = Authenticator::issue(&s, &claims(60)).unwrap();
        let (t1, u1) = (TenantId::new("t1"), UserId::new("u1"));
        let until = now_secs() + 30;
        auth.revoke(t1.clone(), u1.clone(), until);
        assert_eq!(
            auth.verify(&token).unwrap_err(),
            AuthError::Revoked { until }
        );
        // Another tenant's user of the same id is someone else.
        let mut other = claims(60);
        other.tenant_id = "t2".into();
        let other = Authenticator::issue(&s, &other).unwrap();
        assert!(auth.verify(&other).is_ok());
        assert!(auth.unrevoke(&t1, &u1));
        assert!(auth.verify(&token).is_ok());
        assert!(!auth.unrevoke(&t1, &u1));
        // A time in the past refuses nothing.
        auth.revoke(t1.clone(), u1.clone(), now_secs() - 1);
        assert!(auth.verify(&token).is_ok());
        assert_eq!(auth.revoked_until(&t1, &u1), None);
    }

    #[test]
    fn accepts_valid_and_rejects_expired_and_wrong_audience() {
        let s = settings();
        let auth = Authenticator::new(&s).unwrap();
        let ok = Authenticator::issue(&s, &claims(60)).unwrap();
        assert_eq!(auth.verify(&ok).unwrap().user.as_str(), "u1");
        let expired = Authenticator::issue(&s, &claims(-10)).unwrap();
        assert_eq!(auth.verify(&expired).unwrap_err(), AuthError::Expired);
        let mut c = claims(60);
        c.aud = Some("other".into());
        let wrong = Authenticator::issue(&s, &c).unwrap();
        assert!(matches!(auth.verify(&wrong), Err(AuthError::Invalid(_))));
        c.aud = None;
        let missing = Authenticator::issue(&s, &c).unwrap();
        assert!(matches!(auth.verify(&missing), Err(AuthError::Invalid(_))));
    }

    /// Signs an arbitrary header and payload with the test secret.
    fn raw_token(header: Header, payload: serde_json::Value) -> String {
        let key = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        jsonwebtoken::encode(&header, &payload, &key).unwrap()
    }

    #[test]
    fn an_audience_array_containing_ours_is_accepted() {
        let auth = Authenticator::new(&settings()).unwrap();
        let exp = now_secs() + 60;
        let header = Header::new(Algorithm::HS256);
        let ok = raw_token(
            header.clone(),
            serde_json::json!({"sub": "u1", "tenant_id": "t1", "exp": exp, "aud": ["other", "tandem"]}),
        );
        assert_eq!(auth.verify(&ok).unwrap().user.as_str(), "u1");
        let wrong = raw_token(
            header,
            serde_json::json!({"sub": "u1", "tenant_id": "t1", "exp": exp, "aud": ["other"]}),
        );
        assert!(matches!(auth.verify(&wrong), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn an_unknown_critical_header_is_refused() {
        let auth = Authenticator::new(&settings()).unwrap();
        let payload = serde_json::json!({"sub": "u1", "tenant_id": "t1",
            "exp": now_secs() + 60, "aud": "tandem"});
        let plain = raw_token(Header::new(Algorithm::HS256), payload.clone());
        assert!(auth.verify(&plain).is_ok());
        let mut header = Header::new(Algorithm::HS256);
        header.crit = Some(vec!["exp-ext".into()]);
        let crit = raw_token(header, payload);
        assert_eq!(
            auth.verify(&crit).unwrap_err(),
            AuthError::Invalid("unsupported critical header (`crit`)".into())
        );
    }

    #[test]
    fn unknown_role_is_refused() {
        let s = settings();
        let auth = Authenticator::new(&s).unwrap();
        let mut c = claims(60);
        c.role = Some("root".into());
        let t = Authenticator::issue(&s, &c).unwrap();
        assert!(matches!(auth.verify(&t), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn api_keys_compare_exactly() {
        let mut s = settings();
        s.api_keys = vec![Secret::new("k-123")];
        let auth = Authenticator::new(&s).unwrap();
        assert!(auth.is_api_key("k-123"));
        assert!(!auth.is_api_key("k-124"));
        assert!(!auth.is_api_key("k-12"));
    }
}
