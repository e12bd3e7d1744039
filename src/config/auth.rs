//! `[auth]`: JWT verification (algorithm, key, issuer, audience, leeway) and API keys.

use super::*;

/// JWT signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 and a shared secret.
    HS256,
    /// RSA PKCS#1 v1.5 with SHA-256 and a public key.
    RS256,
    /// ECDSA P-256 with SHA-256 and a public key.
    ES256,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Signature algorithm of accepted tokens.
    pub algorithm: JwtAlgorithm,
    /// Shared secret for HS256 (at least 32 bytes).
    pub secret: Secret,
    /// PEM public key file for RS256/ES256.
    pub public_key_path: Option<PathBuf>,
    /// PEM private key file, only used by `tandem token` with RS256/ES256.
    pub private_key_path: Option<PathBuf>,
    /// Required `iss` claim, when set.
    pub issuer: Option<String>,
    /// Required `aud` claim, when set.
    pub audience: Option<String>,
    /// Clock leeway in seconds for `exp`/`nbf` (at most 5).
    pub leeway_secs: u64,
    /// API keys accepted from backend services (`X-Api-Key`) as role `service`.
    pub api_keys: Vec<Secret>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            algorithm: JwtAlgorithm::HS256,
            secret: Secret::default(),
            public_key_path: None,
            private_key_path: None,
            issuer: None,
            audience: None,
            leeway_secs: 5,
            api_keys: Vec::new(),
        }
    }
}
