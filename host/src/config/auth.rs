//! `[auth]`, `[auth.dev]` and `[[auth.oidc]]`: how bearer tokens map to a principal and a
//! tenant, and which issuers are trusted. The Secrets Manager source of `[auth.dev]` is with
//! the other AWS settings in aws.rs.

use super::names::is_valid_name;
use super::{ByteSize, ConfigError, Ctx, Environment, SecretsManagerSource, cross_table};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Tenant of anonymous requests and of tokens without a tenant claim.
const DEFAULT_TENANT: &str = "default";
/// Cognito's custom-attribute claims for tenant and tier, so a Cognito pool works without
/// configuration.
const TENANT_CLAIM: &str = "custom:tenant";
const TIER_CLAIM: &str = "custom:subscriptionTier";
/// The `iss` and `aud` that `mcp-prompts token` writes.
const DEV_ISSUER: &str = "mcp-prompts-dev";
const DEV_AUDIENCE: &str = "mcp-prompts";
/// Clock skew allowed for `exp`, `nbf` and `iat`, by both providers.
const LEEWAY: Duration = Duration::from_secs(30);
/// Cognito access tokens; ID tokens only when asked for.
const TOKEN_USE: &[TokenUse] = &[TokenUse::Access];
/// Larger than any Cognito token, small enough that parsing a hostile one is cheap.
const MAX_TOKEN_SIZE: ByteSize = ByteSize(8 * 1024);
/// Deadline for one key-set fetch, connection included.
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// A key set of a few keys is 1-3 KiB; the cap bounds what a hostile issuer URL can send.
const JWKS_MAX_SIZE: ByteSize = ByteSize(64 * 1024);
/// A flood of unknown `kid`s costs the issuer at most one fetch per interval.
const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// Rotated keys are picked up within this time even when no unknown `kid` is seen.
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Tenant for anonymous requests and tokens without a tenant claim.
    pub default_tenant: String,
    /// Claim holding the tenant id.
    pub tenant_claim: String,
    /// Claim holding the subscription tier.
    pub tier_claim: String,
    /// HS256 development token provider.
    pub dev: Option<DevAuthConfig>,
    /// Cognito / OIDC issuers (RS256 via JWKS), one table each (`[[auth.oidc]]`).
    pub oidc: Vec<OidcProviderConfig>,
    /// The issuer whose subjects are identities as they are (`sub`); every other issuer's
    /// are qualified as `<issuer>#<sub>`. Defaults to the first `[[auth.oidc]]` issuer,
    /// else `auth.dev.issuer` (see [`AuthConfig::primary_issuer`]).
    pub primary_issuer: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            default_tenant: DEFAULT_TENANT.into(),
            tenant_claim: TENANT_CLAIM.into(),
            tier_claim: TIER_CLAIM.into(),
            dev: None,
            oidc: Vec::new(),
            primary_issuer: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevAuthConfig {
    pub issuer: String,
    /// Expected `aud`; tokens minted by `mcp-prompts token` carry it.
    pub audience: String,
    /// File holding the HS256 secret (at least 32 bytes).
    pub secret_file: Option<PathBuf>,
    /// Environment variable holding the secret, used when `secret_file` is not set.
    pub secret_env: Option<String>,
    /// The secret from AWS Secrets Manager (refreshed; previous value kept for a grace period).
    pub secrets_manager: Option<SecretsManagerSource>,
    /// Generate a random secret into `secret_file` when it does not exist yet.
    pub generate_if_missing: bool,
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
}

impl Default for DevAuthConfig {
    fn default() -> Self {
        Self {
            issuer: DEV_ISSUER.into(),
            audience: DEV_AUDIENCE.into(),
            secret_file: None,
            secret_env: None,
            secrets_manager: None,
            generate_if_missing: false,
            leeway: LEEWAY,
        }
    }
}

/// Cognito's `token_use` claim: which kind of token it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenUse {
    Access,
    Id,
}

// `issuer` is required, so this type has no `Default` to take a container-level
// `#[serde(default)]` from; each optional key names its default through a `default = "…"`
// function returning the constant above.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The `iss` of the tokens, e.g. `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
    pub issuer: String,
    /// Where the key set is published; defaults to `<issuer>/.well-known/jwks.json`.
    pub jwks_uri: Option<String>,
    /// Accepted `token_use` values; empty = the claim is not checked (non-Cognito issuers).
    #[serde(default = "oidc_default::token_use")]
    pub token_use: Vec<TokenUse>,
    /// App clients whose tokens are accepted (`client_id` of access tokens, `aud` of ID tokens).
    #[serde(default)]
    pub client_ids: Vec<String>,
    /// Required `aud` (RFC 8707 resource indicator), e.g. this server's public URL.
    pub audience: Option<String>,
    #[serde(default = "oidc_default::leeway", with = "humantime_serde")]
    pub leeway: Duration,
    #[serde(default = "oidc_default::max_token_size")]
    pub max_token_size: ByteSize,
    #[serde(default = "oidc_default::jwks_timeout", with = "humantime_serde")]
    pub jwks_timeout: Duration,
    #[serde(default = "oidc_default::jwks_max_size")]
    pub jwks_max_size: ByteSize,
    /// Shortest time between two key-set fetches caused by unknown `kid`s.
    #[serde(
        default = "oidc_default::jwks_refresh_interval",
        with = "humantime_serde"
    )]
    pub jwks_refresh_interval: Duration,
    /// Key sets older than this are re-fetched in the background.
    #[serde(default = "oidc_default::jwks_max_age", with = "humantime_serde")]
    pub jwks_max_age: Duration,
}

/// serde's `default = "…"` takes a function, not a constant.
mod oidc_default {
    use super::*;

    pub fn token_use() -> Vec<TokenUse> {
        TOKEN_USE.to_vec()
    }
    pub fn leeway() -> Duration {
        LEEWAY
    }
    pub fn max_token_size() -> ByteSize {
        MAX_TOKEN_SIZE
    }
    pub fn jwks_timeout() -> Duration {
        JWKS_TIMEOUT
    }
    pub fn jwks_max_size() -> ByteSize {
        JWKS_MAX_SIZE
    }
    pub fn jwks_refresh_interval() -> Duration {
        JWKS_REFRESH_INTERVAL
    }
    pub fn jwks_max_age() -> Duration {
        JWKS_MAX_AGE
    }
}

impl OidcProviderConfig {
    pub fn jwks_uri(&self) -> String {
        self.jwks_uri.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/jwks.json",
                self.issuer.trim_end_matches('/')
            )
        })
    }
}

/// Separates issuer and subject in a qualified identity. OpenID Connect issuers have no
/// fragment, so the first `#` always ends the issuer (config refuses issuers with one).
pub const IDENTITY_SEPARATOR: char = '#';

impl AuthConfig {
    /// The issuer whose tokens' `sub` is the identity unqualified: `primary_issuer` when
    /// set, else the first `[[auth.oidc]]` issuer, else the development issuer. Data
    /// written before identities were qualified is keyed by bare subjects, and a server
    /// with one issuer keeps reading it as that issuer's.
    pub fn primary_issuer(&self) -> Option<&str> {
        self.primary_issuer
            .as_deref()
            .or_else(|| self.oidc.first().map(|p| p.issuer.as_str()))
            .or_else(|| self.dev.as_ref().map(|d| d.issuer.as_str()))
    }

    /// Every configured issuer, OIDC first.
    fn issuers(&self) -> impl Iterator<Item = &str> {
        self.oidc
            .iter()
            .map(|p| p.issuer.as_str())
            .chain(self.dev.iter().map(|d| d.issuer.as_str()))
    }

    /// `environment` only decides whether `[auth.dev]` is allowed at all (cross_table.rs).
    pub(super) fn validate(&self, environment: Environment, cx: &Ctx) -> Result<(), ConfigError> {
        if !is_valid_name(&self.default_tenant) {
            return Err(cx.invalid(
                "auth.default_tenant",
                "must be 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
            ));
        }
        if let Some(dev) = &self.dev {
            cross_table::dev_provider_allowed(environment, cx)?;
            dev.validate(cx)?;
        }
        self.validate_oidc(cx)?;
        self.validate_identity(cx)
    }

    fn validate_identity(&self, cx: &Ctx) -> Result<(), ConfigError> {
        if let Some(d) = &self.dev
            && (d.issuer.is_empty() || d.issuer.contains(IDENTITY_SEPARATOR))
        {
            return Err(cx.invalid(
                "auth.dev.issuer",
                format!(
                    "{:?} must be non-empty and must not contain {IDENTITY_SEPARATOR:?} (it qualifies subjects)",
                    d.issuer
                ),
            ));
        }
        for (i, p) in self.oidc.iter().enumerate() {
            if p.issuer.contains(IDENTITY_SEPARATOR) {
                return Err(cx.invalid(
                    format!("auth.oidc[{i}].issuer"),
                    format!(
                        "{:?} must not contain {IDENTITY_SEPARATOR:?} (an OpenID Connect issuer has no fragment)",
                        p.issuer
                    ),
                ));
            }
        }
        if let Some(primary) = &self.primary_issuer
            && !self.issuers().any(|i| i == primary)
        {
            return Err(cx.invalid(
                "auth.primary_issuer",
                format!(
                    "{primary:?} is not a configured issuer (auth.dev.issuer or an auth.oidc issuer)"
                ),
            ));
        }
        Ok(())
    }

    fn validate_oidc(&self, cx: &Ctx) -> Result<(), ConfigError> {
        let mut seen: Vec<&str> = self.dev.iter().map(|d| d.issuer.as_str()).collect();
        for (i, p) in self.oidc.iter().enumerate() {
            let key = |k: &str| format!("auth.oidc[{i}].{k}");
            if !is_acceptable_key_url(&p.issuer) {
                return Err(cx.invalid(
                    key("issuer"),
                    format!(
                        "{:?} must be an https:// URL (http:// only for localhost)",
                        p.issuer
                    ),
                ));
            }
            if seen.contains(&p.issuer.as_str()) {
                return Err(
                    cx.invalid(key("issuer"), format!("{:?} is configured twice", p.issuer))
                );
            }
            seen.push(&p.issuer);
            p.validate(key, cx)?;
        }
        Ok(())
    }
}

impl DevAuthConfig {
    /// The `[auth.dev.secrets_manager]` table's own checks run later, with the other AWS
    /// settings (Config::validate keeps the order).
    fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        let sources = [
            self.secret_file.is_some(),
            self.secret_env.is_some(),
            self.secrets_manager.is_some(),
        ];
        if !sources.contains(&true) {
            return Err(cx.invalid(
                "auth.dev",
                "needs secret_file, secret_env or secrets_manager",
            ));
        }
        if self.secrets_manager.is_some() && sources.iter().filter(|s| **s).count() > 1 {
            return Err(cx.invalid(
                "auth.dev.secrets_manager",
                "cannot be combined with secret_file or secret_env",
            ));
        }
        if self.generate_if_missing && self.secret_file.is_none() {
            return Err(cx.invalid(
                "auth.dev.generate_if_missing",
                "needs auth.dev.secret_file to write the generated secret to",
            ));
        }
        Ok(())
    }
}

impl OidcProviderConfig {
    /// Checks one issuer's keys after its `issuer` (checked against the others by the caller).
    fn validate(&self, key: impl Fn(&str) -> String, cx: &Ctx) -> Result<(), ConfigError> {
        if !is_acceptable_key_url(&self.jwks_uri()) {
            return Err(cx.invalid(
                key("jwks_uri"),
                format!(
                    "{:?} must be an https:// URL (http:// only for localhost)",
                    self.jwks_uri()
                ),
            ));
        }
        if self.client_ids.is_empty() && self.audience.is_none() {
            return Err(cx.invalid(
                key("client_ids"),
                "set client_ids (or audience): without either, tokens the issuer made for any \
                 other application would be accepted",
            ));
        }
        if self.leeway > Duration::from_secs(300) {
            return Err(cx.invalid(key("leeway"), "must be at most 5m (60s or less is usual)"));
        }
        if self.max_token_size.0 < 1024 || self.max_token_size.0 > 64 * 1024 {
            return Err(cx.invalid(key("max_token_size"), "must be between 1KiB and 64KiB"));
        }
        if self.jwks_timeout.is_zero() || self.jwks_timeout > Duration::from_secs(60) {
            return Err(cx.invalid(key("jwks_timeout"), "must be between 1ms and 60s"));
        }
        if self.jwks_max_size.0 < 1024 {
            return Err(cx.invalid(key("jwks_max_size"), "must be at least 1KiB"));
        }
        if self.jwks_refresh_interval < Duration::from_secs(1) {
            return Err(cx.invalid(
                key("jwks_refresh_interval"),
                "must be at least 1s (it bounds the fetches a flood of unknown kids can cause)",
            ));
        }
        Ok(())
    }
}

/// Key sets and issuers must be fetched over HTTPS; plain HTTP only to this machine
/// (tests and local identity providers), where nothing on the network can alter it.
fn is_acceptable_key_url(u: &str) -> bool {
    let Ok(url) = u.parse::<http::Uri>() else {
        return false;
    };
    let Some(host) = url.host() else {
        return false;
    };
    match url.scheme_str() {
        Some("https") => true,
        Some("http") => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}
