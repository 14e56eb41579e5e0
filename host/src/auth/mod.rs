//! Authentication: bearer JWTs to a [`Principal`].
//!
//! This release verifies HS256 development tokens (`mcp-prompts token`) against the secret
//! configured in `[auth.dev]`. The verifier is chosen by the token's `iss`, never by its
//! header `alg`, so a token cannot pick a weaker algorithm than the issuer's.

mod cache;
mod dev;

pub use cache::VerifiedCache;
pub use dev::{DevProvider, DevSecretError};

use serde::Deserialize;
use std::collections::BTreeMap;

/// An authenticated caller, as plugins see it (without the raw token).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Principal {
    pub subject: String,
    pub tenant: String,
    pub scopes: Vec<String>,
    pub groups: Vec<String>,
    pub tier: String,
}

/// Why a token was refused. Reported as a reason code, never with token contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header is not a Bearer token")]
    Malformed,
    #[error("the token is too large")]
    TooLarge,
    #[error("the token's issuer is not trusted")]
    UnknownIssuer,
    #[error("the token is invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token's tenant claim is not a valid tenant id")]
    BadTenant,
}

/// Claims we read from any provider's tokens.
#[derive(Debug, Deserialize)]
pub(crate) struct Claims {
    pub sub: String,
    /// Required by every provider's validation; also bounds the verification cache.
    pub exp: u64,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub scp: Option<Vec<String>>,
    #[serde(default, rename = "cognito:groups")]
    pub groups: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Settings that map claims to a principal.
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    pub default_tenant: String,
    pub tenant_claim: String,
    pub tier_claim: String,
}

impl Claims {
    pub(crate) fn into_principal(self, m: &ClaimMapping) -> Result<Principal, AuthError> {
        let mut scopes: Vec<String> = self
            .scope
            .as_deref()
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        scopes.extend(self.scp.unwrap_or_default());
        let tenant = match self.extra.get(&m.tenant_claim) {
            Some(serde_json::Value::String(t)) => {
                if !crate::config::is_valid_name(t) {
                    return Err(AuthError::BadTenant);
                }
                t.clone()
            }
            Some(_) => return Err(AuthError::BadTenant),
            None => m.default_tenant.clone(),
        };
        let tier = match self.extra.get(&m.tier_claim) {
            Some(serde_json::Value::String(t)) if !t.is_empty() => t.clone(),
            _ => "free".to_string(),
        };
        Ok(Principal {
            subject: self.sub,
            tenant,
            scopes,
            groups: self.groups.unwrap_or_default(),
            tier,
        })
    }
}

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// All configured providers.
pub struct Authenticator {
    dev: Option<DevProvider>,
    mapping: ClaimMapping,
    verified: VerifiedCache,
}

/// Verified tokens remembered at once (about 200 bytes each).
const VERIFIED_CACHE_ENTRIES: usize = 10_000;

impl Authenticator {
    pub fn new(dev: Option<DevProvider>, mapping: ClaimMapping) -> Self {
        Self::with_cache(dev, mapping, VERIFIED_CACHE_ENTRIES)
    }

    /// As `new`, with a verified-token cache of `entries` (0 disables it; benchmarks).
    pub fn with_cache(dev: Option<DevProvider>, mapping: ClaimMapping, entries: usize) -> Self {
        Self {
            dev,
            mapping,
            verified: VerifiedCache::new(entries),
        }
    }

    pub fn mapping(&self) -> &ClaimMapping {
        &self.mapping
    }

    /// The issuers of every configured provider (RFC 9728 `authorization_servers`).
    pub fn issuers(&self) -> Vec<String> {
        self.dev.iter().map(|d| d.issuer().to_string()).collect()
    }

    /// Verifies the value of an `Authorization` header.
    pub fn authenticate(&self, header: &str) -> Result<Principal, AuthError> {
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Malformed)?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge);
        }
        let now = cache::now_secs();
        if let Some(p) = self.verified.get(token, now) {
            return Ok(p);
        }
        let issuer = unverified_issuer(token).ok_or(AuthError::Invalid)?;
        let claims = match &self.dev {
            Some(dev) if dev.issuer() == issuer => dev.verify(token)?,
            _ => return Err(AuthError::UnknownIssuer),
        };
        let exp = claims.exp;
        let principal = claims.into_principal(&self.mapping)?;
        self.verified.insert(token, principal.clone(), exp, now);
        Ok(principal)
    }
}

/// Reads `iss` from the payload without verifying it, only to choose the verifier.
fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    serde_json::from_slice::<Iss>(&raw).ok().map(|i| i.iss)
}
