//! Authentication: bearer JWTs to a [`Principal`].
//!
//! Providers are keyed by issuer: Cognito / OIDC issuers (`[[auth.oidc]]`, RS256 against
//! the issuer's JWKS) and the HS256 development provider (`[auth.dev]`, tokens from
//! `mcp-prompts token`). The verifier is chosen by the token's `iss`, never by its header
//! `alg`, so a token cannot pick a weaker algorithm than its issuer's.

mod cache;
mod dev;
pub mod jwks;
mod oidc;
mod state;
mod tiers;

#[cfg(test)]
mod props;

pub use cache::VerifiedCache;
pub use dev::{DevProvider, DevSecretError};
pub use oidc::OidcProvider;
pub use state::{AuthSetupError, AuthState};
pub use tiers::{TIER_TTL, TierCache};

use crate::config::IDENTITY_SEPARATOR;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// An authenticated caller, as plugins see it (without the raw token).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Principal {
    /// The caller's identity, a key everywhere (profiles, sessions, authorship, rate
    /// limits): the token's `sub` for the primary issuer, `<issuer>#<sub>` for any other
    /// ([`ClaimMapping::identity`]), so equal `sub`s from two issuers are two callers.
    pub subject: String,
    /// The token's `iss`; `None` for principals the operator configures (stdio, CLI).
    pub issuer: Option<String>,
    pub tenant: String,
    pub scopes: Vec<String>,
    pub groups: Vec<String>,
    pub tier: String,
    /// Whether `tier` came from the token's tier claim; if not, the host may take it from
    /// the user's stored profile (`[users] tier_from_profile`).
    #[serde(skip)]
    pub tier_from_claim: bool,
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
    #[error("the token is signed with a key the issuer does not publish")]
    UnknownKey,
    #[error("the token was not issued for this server")]
    Audience,
    #[error("this kind of token is not accepted here")]
    TokenUse,
    #[error("the token's tenant claim is not a valid tenant id")]
    BadTenant,
    #[error("the token's subject is empty, longer than 512 bytes or contains control characters")]
    BadSubject,
}

impl AuthError {
    /// A stable label for metrics (`mcp_prompts_auth_failures_total{reason}`).
    pub fn kind(self) -> &'static str {
        match self {
            AuthError::Malformed => "malformed",
            AuthError::TooLarge => "too_large",
            AuthError::UnknownIssuer => "unknown_issuer",
            AuthError::Invalid => "invalid",
            AuthError::Expired => "expired",
            AuthError::BadTenant => "bad_tenant",
            AuthError::BadSubject => "bad_subject",
            AuthError::UnknownKey => "unknown_key",
            AuthError::Audience => "audience",
            AuthError::TokenUse => "token_use",
        }
    }
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

/// The tier of a principal whose token and profile name none.
pub const DEFAULT_TIER: &str = "free";

/// Settings that map claims to a principal.
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    pub default_tenant: String,
    pub tenant_claim: String,
    pub tier_claim: String,
    /// The issuer whose subjects stay unqualified (`AuthConfig::primary_issuer`).
    pub primary_issuer: Option<String>,
    /// The other configured issuers: a primary subject that starts with one of them and
    /// the separator is refused, so it cannot pose as that issuer's user.
    pub other_issuers: Vec<String>,
}

impl ClaimMapping {
    /// From the `[auth]` section.
    pub fn from_config(a: &crate::config::AuthConfig) -> Self {
        let primary = a.primary_issuer().map(str::to_string);
        let other_issuers = a
            .oidc
            .iter()
            .map(|p| p.issuer.clone())
            .chain(a.dev.iter().map(|d| d.issuer.clone()))
            .filter(|i| Some(i) != primary.as_ref())
            .collect();
        Self {
            default_tenant: a.default_tenant.clone(),
            tenant_claim: a.tenant_claim.clone(),
            tier_claim: a.tier_claim.clone(),
            primary_issuer: primary,
            other_issuers,
        }
    }

    /// The identity of `sub` from `issuer`. OIDC makes a `sub` unique only within its
    /// issuer; the primary issuer's stay bare so that data keyed before identities were
    /// qualified (and every single-issuer deployment's) reads unchanged.
    pub fn identity(&self, issuer: &str, sub: &str) -> Result<String, AuthError> {
        if self.primary_issuer.as_deref() == Some(issuer) {
            let poses = self.other_issuers.iter().any(|o| {
                sub.strip_prefix(o.as_str())
                    .is_some_and(|rest| rest.starts_with(IDENTITY_SEPARATOR))
            });
            if poses {
                return Err(AuthError::BadSubject);
            }
            Ok(sub.to_string())
        } else {
            // Still one key, so still within the subject limit.
            let id = format!("{issuer}{IDENTITY_SEPARATOR}{sub}");
            if id.len() > MAX_SUBJECT_BYTES {
                return Err(AuthError::BadSubject);
            }
            Ok(id)
        }
    }
}

/// Longest `sub` accepted: it becomes part of storage and rate-limit keys.
pub const MAX_SUBJECT_BYTES: usize = 512;

/// A subject is a key everywhere (profiles, authorship, rate limits): an empty one would
/// merge callers, a control character (NUL, newline) would split keys or log lines.
fn valid_subject(sub: &str) -> bool {
    !sub.is_empty() && sub.len() <= MAX_SUBJECT_BYTES && !sub.chars().any(char::is_control)
}

/// `iat` in the future beyond the leeway means a clock or a minting bug; refused by every
/// provider alike.
pub(crate) fn iat_acceptable(c: &Claims, now: u64, leeway: u64) -> bool {
    match c.extra.get("iat") {
        None => true,
        Some(v) => v.as_u64().is_some_and(|iat| iat <= now + leeway),
    }
}

impl Claims {
    pub(crate) fn into_principal(
        self,
        m: &ClaimMapping,
        issuer: &str,
    ) -> Result<Principal, AuthError> {
        if !valid_subject(&self.sub) {
            return Err(AuthError::BadSubject);
        }
        let subject = m.identity(issuer, &self.sub)?;
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
        let (tier, tier_from_claim) = match self.extra.get(&m.tier_claim) {
            Some(serde_json::Value::String(t)) if !t.is_empty() => (t.clone(), true),
            _ => (DEFAULT_TIER.to_string(), false),
        };
        Ok(Principal {
            subject,
            issuer: Some(issuer.to_string()),
            tenant,
            scopes,
            groups: self.groups.unwrap_or_default(),
            tier,
            tier_from_claim,
        })
    }
}

/// Tokens longer than this are refused before any parsing, unless an OIDC provider allows
/// larger ones (`max_token_size`).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// All configured providers of one config snapshot. Built by [`AuthState::authenticator`],
/// which shares key sets, the dev secret and the verified-token cache with the previous
/// snapshot's when the config allows.
pub struct Authenticator {
    dev: Option<Arc<DevProvider>>,
    oidc: Vec<OidcProvider>,
    mapping: ClaimMapping,
    verified: Arc<VerifiedCache>,
    max_token_bytes: usize,
}

/// Verified tokens remembered at once (about 200 bytes each).
pub(crate) const VERIFIED_CACHE_ENTRIES: usize = 10_000;

impl Authenticator {
    pub fn new(dev: Option<DevProvider>, oidc: Vec<OidcProvider>, mapping: ClaimMapping) -> Self {
        Self::with_cache(dev, oidc, mapping, VERIFIED_CACHE_ENTRIES)
    }

    /// As `new`, with a verified-token cache of `entries` (0 disables it; benchmarks).
    pub fn with_cache(
        dev: Option<DevProvider>,
        oidc: Vec<OidcProvider>,
        mapping: ClaimMapping,
        entries: usize,
    ) -> Self {
        Self::from_parts(
            dev.map(Arc::new),
            oidc,
            mapping,
            Arc::new(VerifiedCache::new(entries)),
        )
    }

    fn from_parts(
        dev: Option<Arc<DevProvider>>,
        oidc: Vec<OidcProvider>,
        mapping: ClaimMapping,
        verified: Arc<VerifiedCache>,
    ) -> Self {
        let max_token_bytes = oidc
            .iter()
            .map(OidcProvider::max_token_size)
            .fold(MAX_TOKEN_BYTES, usize::max);
        Self {
            dev,
            oidc,
            mapping,
            verified,
            max_token_bytes,
        }
    }

    /// The issuers whose tokens are accepted (OIDC issuers first), e.g. for the OAuth
    /// protected-resource metadata.
    pub fn issuers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.oidc.iter().map(|p| p.issuer().to_string()).collect();
        v.extend(self.dev.iter().map(|d| d.issuer().to_string()));
        v
    }

    /// The OIDC issuers only: the authorization servers a client can get tokens from.
    pub fn oidc_issuers(&self) -> Vec<String> {
        self.oidc.iter().map(|p| p.issuer().to_string()).collect()
    }

    /// Starts fetching every OIDC provider's key set in the background.
    pub fn prefetch_keys(&self) {
        for p in &self.oidc {
            p.prefetch();
        }
    }

    pub fn mapping(&self) -> &ClaimMapping {
        &self.mapping
    }

    /// Verifies the value of an `Authorization` header.
    pub async fn authenticate(&self, header: &str) -> Result<Principal, AuthError> {
        let token = bearer_token(header).ok_or(AuthError::Malformed)?;
        if token.len() > self.max_token_bytes {
            return Err(AuthError::TooLarge);
        }
        let now = cache::now_secs();
        if let Some(p) = self.verified.get(token, now) {
            return Ok(p);
        }
        let issuer = unverified_issuer(token).ok_or(AuthError::Invalid)?;
        let claims = if let Some(p) = self.oidc.iter().find(|p| p.issuer() == issuer) {
            p.verify(token).await?
        } else {
            match &self.dev {
                Some(dev) if dev.issuer() == issuer => {
                    if token.len() > MAX_TOKEN_BYTES {
                        return Err(AuthError::TooLarge);
                    }
                    dev.verify(token)?
                }
                _ => return Err(AuthError::UnknownIssuer),
            }
        };
        let exp = claims.exp;
        let principal = claims.into_principal(&self.mapping, &issuer)?;
        self.verified.insert(token, principal.clone(), exp, now);
        Ok(principal)
    }
}

/// The token of an `Authorization: Bearer …` value. RFC 9110 §11.1: the scheme is
/// case-insensitive. Every reader of the header (verification, the audience binding)
/// extracts the token here, so they cannot disagree about which token was sent.
pub fn bearer_token(header: &str) -> Option<&str> {
    header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
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
