//! `[cors]`: cross-origin requests from browsers (docs/configuration.md).

use super::names::is_valid_origin;
use super::{ConfigError, Ctx};
use serde::Deserialize;
use std::time::Duration;

/// The methods the prompt API answers to, and the preflight's own.
const ALLOWED_METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "OPTIONS"];
/// The request headers the API reads.
const ALLOWED_HEADERS: &[&str] = &["authorization", "content-type", "if-match", "x-request-id"];
/// The response headers a browser app needs: versions, new locations, request ids, rate limits.
const EXPOSE_HEADERS: &[&str] = &[
    "etag",
    "location",
    "x-request-id",
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];
/// How long a browser may cache a preflight answer.
const MAX_AGE: Duration = Duration::from_secs(600);

/// Cross-origin requests from browsers (docs/configuration.md, `[cors]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins ("https://app.example.com"); empty turns CORS off. "*" is refused.
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight answer.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    pub allow_credentials: bool,
}

impl Default for CorsConfig {
    fn default() -> Self {
        let strings = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
        Self {
            allowed_origins: Vec::new(),
            allowed_methods: strings(ALLOWED_METHODS),
            allowed_headers: strings(ALLOWED_HEADERS),
            expose_headers: strings(EXPOSE_HEADERS),
            max_age: MAX_AGE,
            allow_credentials: false,
        }
    }
}

impl CorsConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        for o in &self.allowed_origins {
            if o.trim() == "*" {
                return Err(cx.invalid(
                    "cors.allowed_origins",
                    "\"*\" is not allowed: list the exact origins (e.g. \"https://app.example.com\")",
                ));
            }
            if !is_valid_origin(o) {
                return Err(cx.invalid(
                    "cors.allowed_origins",
                    format!("{o:?} is not an origin: use scheme://host[:port] with no path or trailing slash"),
                ));
            }
        }
        for (key, list) in [
            ("cors.allowed_methods", &self.allowed_methods),
            ("cors.allowed_headers", &self.allowed_headers),
            ("cors.expose_headers", &self.expose_headers),
        ] {
            if let Some(bad) = list.iter().find(|v| !is_token(v)) {
                return Err(cx.invalid(
                    key,
                    format!("{bad:?} is not a method or header name (no \"*\")"),
                ));
            }
        }
        Ok(())
    }
}

/// An RFC 9110 token, except "*": a wildcard would not mean "all" to every browser
/// (it does not when credentials are allowed).
fn is_token(v: &str) -> bool {
    v != "*"
        && !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
