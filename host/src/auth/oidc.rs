//! The Cognito / OIDC provider: RS256 tokens verified against the issuer's JWKS.
//!
//! What a token must satisfy, beyond a valid RS256 signature by a key of the issuer's
//! key set: `iss` equal to the configured issuer; `sub` and a numeric `exp` present;
//! `exp`, `nbf` and `iat` within the leeway; `token_use` among the accepted uses (Cognito
//! puts `access` or `id` there); the client in the allow-list (`client_id` for access
//! tokens, `aud` for ID tokens); and, when an `audience` (RFC 8707 resource) is
//! configured, that audience in `aud`. Header fields that point at other keys (`jku`,
//! `x5u`, `jwk`, `x5c`) are never followed: keys come only from the configured JWKS.

use super::jwks::{Jwks, JwksSettings};
use super::{AuthError, Claims};
use crate::config::{OidcProviderConfig, TokenUse};
use crate::telemetry::metrics::Metrics;
use jsonwebtoken::{Algorithm, Validation};
use std::sync::Arc;

/// `kid`s longer than this are refused without a key lookup (Cognito's are 44 bytes).
const MAX_KID_BYTES: usize = 256;

pub struct OidcProvider {
    issuer: String,
    token_use: Vec<TokenUse>,
    client_ids: Vec<String>,
    audience: Option<String>,
    leeway: u64,
    max_token_size: usize,
    validation: Validation,
    jwks: Arc<Jwks>,
}

impl OidcProvider {
    pub fn new(
        c: &OidcProviderConfig,
        client: reqwest::Client,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        let jwks = Jwks::new(jwks_settings(c), client, metrics);
        Self::with_jwks(c, Arc::new(jwks))
    }

    /// A provider verifying against an existing key set (one kept across reloads by
    /// `AuthState`); `jwks` must have been made from `jwks_settings(c)`.
    pub fn with_jwks(c: &OidcProviderConfig, jwks: Arc<Jwks>) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.set_issuer(&[c.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // Audience is checked below: Cognito access tokens carry `client_id`, not `aud`.
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.leeway = c.leeway.as_secs();
        Self {
            issuer: c.issuer.clone(),
            token_use: c.token_use.clone(),
            client_ids: c.client_ids.clone(),
            audience: c.audience.clone(),
            leeway: c.leeway.as_secs(),
            max_token_size: c.max_token_size.0 as usize,
            validation,
            jwks,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn max_token_size(&self) -> usize {
        self.max_token_size
    }

    /// Fetches the key set in the background unless a fresh one is held, so the first
    /// request does not pay for it.
    pub fn prefetch(&self) {
        self.jwks.prefetch();
    }

    pub fn jwks(&self) -> &Arc<Jwks> {
        &self.jwks
    }

    pub(super) async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        if token.len() > self.max_token_size {
            return Err(AuthError::TooLarge);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        // Checked before any key lookup, so tokens of other algorithms never cause a fetch.
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid);
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty() && k.len() <= MAX_KID_BYTES)
            .ok_or(AuthError::Invalid)?;
        let key = self.jwks.key(&kid).await.ok_or(AuthError::UnknownKey)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        self.check_claims(&claims)?;
        Ok(claims)
    }

    fn check_claims(&self, c: &Claims) -> Result<(), AuthError> {
        let now = super::cache::now_secs();
        if !super::iat_acceptable(c, now, self.leeway) {
            return Err(AuthError::Invalid);
        }
        let use_ = match c.extra.get("token_use").and_then(|v| v.as_str()) {
            Some("access") => Some(TokenUse::Access),
            Some("id") => Some(TokenUse::Id),
            Some(_) => return Err(AuthError::TokenUse),
            None => None,
        };
        if !self.token_use.is_empty() && !use_.is_some_and(|u| self.token_use.contains(&u)) {
            return Err(AuthError::TokenUse);
        }
        let aud = audiences(c.extra.get("aud"));
        if !self.client_ids.is_empty() {
            let client = match use_ {
                Some(TokenUse::Id) => aud.iter().find(|a| self.client_ids.contains(a)).cloned(),
                _ => c
                    .extra
                    .get("client_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .or_else(|| aud.iter().find(|a| self.client_ids.contains(a)).cloned()),
            };
            if !client.is_some_and(|cl| self.client_ids.contains(&cl)) {
                return Err(AuthError::Audience);
            }
        }
        if let Some(want) = &self.audience
            && !aud.iter().any(|a| a == want)
        {
            return Err(AuthError::Audience);
        }
        Ok(())
    }
}

/// How the key set of provider `c` is fetched.
pub fn jwks_settings(c: &OidcProviderConfig) -> JwksSettings {
    JwksSettings {
        uri: c.jwks_uri(),
        timeout: c.jwks_timeout,
        max_size: c.jwks_max_size.0 as usize,
        min_refresh_interval: c.jwks_refresh_interval,
        max_age: c.jwks_max_age,
    }
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3); anything else is none.
fn audiences(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}
