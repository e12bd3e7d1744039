//! `[web]`: the demo web app served at `/` and its development sign-in.

use super::*;

/// `[web]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// Serve the files of `dir` (the demo app) at `/`.
    pub enabled: bool,
    /// Directory of the web app, relative to the working directory.
    pub dir: String,
    /// Development sign-in: `POST /dev/token` mints a token for any user and
    /// tenant. Only with `server.environment = "development"`, the shipped
    /// development `auth.secret` and HS256, and only for loopback requests.
    pub dev_tokens: bool,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            enabled: true,
            dir: "web".into(),
            dev_tokens: false,
        }
    }
}

impl WebSettings {
    pub(super) fn validate(
        &self,
        server: &ServerSettings,
        auth: &AuthSettings,
    ) -> Result<(), ConfigError> {
        if self.dev_tokens && server.environment != Environment::Development {
            return Err(ConfigError::invalid(
                "web.dev_tokens",
                "is only allowed when server.environment = \"development\" (anyone could \
                 mint a token through it)",
            ));
        }
        if self.dev_tokens
            && (auth.algorithm != JwtAlgorithm::HS256 || auth.secret.expose() != DEVELOPMENT_SECRET)
        {
            return Err(ConfigError::invalid(
                "web.dev_tokens",
                "is only allowed with HS256 and the development auth.secret shipped in \
                 config.toml (its tokens would otherwise be valid on this server for anyone)",
            ));
        }
        Ok(())
    }
}
