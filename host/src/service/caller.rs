//! Who is calling: the one place a bearer token becomes a [`Caller`].
//!
//! Every transport resolves its caller here, in the same order, so REST, MCP and the
//! built-in `/users/me` can never disagree about who a token is or what it may do:
//!
//! 1. **authenticate** the `Authorization` header under the route's auth mode (only the
//!    header carries tokens: a `?access_token=` query is never read — RFC 6750 §5.3);
//! 2. **profile tier**: a token without a tier claim takes the tier of the caller's
//!    stored profile (`[users] tier_from_profile`);
//! 3. **scopes** the route requires (403 `insufficient_scope` naming them);
//! 4. **tenant**: a shared catalog route's own tenant, else the caller's, else the
//!    default tenant;
//! 5. **audience** (MCP's `mcp.audience`, RFC 8707): the token must name this resource.

use super::error::{Challenge, Error, ErrorKind};
use crate::app::{App, Snapshot};
use crate::auth::{AuthError, Principal};
use crate::config::AuthMode;

/// What a route asks of its callers.
#[derive(Debug, Clone, Copy)]
pub struct AuthRules<'a> {
    pub mode: AuthMode,
    pub scopes: &'a [String],
    /// A shared catalog route's fixed tenant.
    pub tenant: Option<&'a str>,
    /// The audience a token must carry (`None`: not checked).
    pub audience: Option<&'a str>,
}

/// The resolved caller: the principal (`None`: anonymous) and the tenant the call runs in.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Option<Principal>,
    pub tenant: String,
    /// The client's IP address as policies see it (`http::client`); `None` on stdio.
    pub client: Option<String>,
}

/// Resolves the caller of a request whose `Authorization` header is `authorization`.
pub async fn resolve(
    app: &App,
    snapshot: &Snapshot,
    rules: AuthRules<'_>,
    authorization: Option<&http::HeaderValue>,
    request_id: &str,
) -> Result<Caller, Error> {
    let mut principal = authenticate(app, snapshot, rules.mode, authorization).await?;
    if let Some(p) = principal.as_mut() {
        super::users::apply_profile_tier(app, snapshot, p, request_id).await?;
    }
    require_scopes(rules.scopes, principal.as_ref())?;
    let tenant = rules
        .tenant
        .map(str::to_string)
        .or_else(|| principal.as_ref().map(|p| p.tenant.clone()))
        .unwrap_or_else(|| snapshot.config.config.auth.default_tenant.clone());
    if let (Some(aud), Some(_)) = (rules.audience, &principal)
        && !authorization.is_some_and(|h| token_has_audience(h, aud))
    {
        return Err(Error::unauthorized(
            "the token was not issued for this resource (audience)",
            Challenge::InvalidToken("wrong audience".into()),
        ));
    }
    Ok(Caller {
        principal,
        tenant,
        client: None,
    })
}

async fn authenticate(
    app: &App,
    snapshot: &Snapshot,
    mode: AuthMode,
    authorization: Option<&http::HeaderValue>,
) -> Result<Option<Principal>, Error> {
    if mode == AuthMode::None {
        return Ok(None);
    }
    let Some(value) = authorization else {
        if mode == AuthMode::Required {
            app.metrics.auth_failure(None);
            return Err(Error::unauthorized(
                "authentication required",
                Challenge::Bearer,
            ));
        }
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        app.metrics.auth_failure(Some(AuthError::Malformed.kind()));
        let reason = "malformed Authorization header";
        Error::unauthorized(reason, Challenge::InvalidToken(reason.into()))
    })?;
    match snapshot.auth.authenticate(value).await {
        Ok(p) => Ok(Some(p)),
        Err(e) => {
            app.metrics.auth_failure(Some(e.kind()));
            tracing::debug!(reason = %e, "token refused");
            let reason = e.to_string();
            Err(Error::unauthorized(
                reason.clone(),
                Challenge::InvalidToken(reason),
            ))
        }
    }
}

/// 403 `insufficient_scope` naming every scope the route needs.
fn require_scopes(scopes: &[String], principal: Option<&Principal>) -> Result<(), Error> {
    let Some(p) = principal else {
        // Validation ties required scopes to auth = "required": no principal, no scopes.
        return Ok(());
    };
    let missing: Vec<&str> = scopes
        .iter()
        .filter(|s| !p.scopes.contains(s))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut e = Error::new(
        ErrorKind::InsufficientScope,
        format!("this route needs the scope(s): {}", missing.join(", ")),
    );
    e.scopes = scopes.to_vec();
    Err(e)
}

/// Audience binding: the (already verified) token's `aud` must name this resource.
fn token_has_audience(authorization: &http::HeaderValue, audience: &str) -> bool {
    use base64::Engine as _;
    use serde_json::Value;
    let Some(token) = authorization
        .to_str()
        .ok()
        .and_then(crate::auth::bearer_token)
    else {
        return false;
    };
    let Some(payload) = token.split('.').nth(1) else {
        return false;
    };
    let Ok(raw) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return false;
    };
    let Ok(claims) = serde_json::from_slice::<Value>(&raw) else {
        return false;
    };
    match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}
