//! `[metrics]` and `[admin]`: who may scrape metrics and administer every tenant.

use super::*;

/// `[admin]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// Keys a platform operator sends as `X-Admin-Key`; they administer
    /// every tenant. Tenant admins use a token with `role: admin` instead.
    pub api_keys: Vec<Secret>,
}

/// `[metrics]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Bearer token Prometheus sends to `GET /metrics`; empty: the endpoint
    /// answers 404.
    pub token: Secret,
}
