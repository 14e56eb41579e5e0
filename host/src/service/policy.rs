//! The route's policy chain, and the [`Permit`] it yields.
//!
//! Every prompt operation of [`PromptService`](super::PromptService) takes a permit, and
//! the only way to get one is [`authorize`]: the read-only rule, then each policy plugin
//! in order, the first denial answering the request. A transport therefore cannot call
//! an operation without asking the same policies REST asks.

use super::Request;
use super::error::{Challenge, Error, ErrorKind};
use crate::app::{App, Route};
use crate::plugins::{Decision, PolicyRequest};

/// What is being done, as policies see it (`action` in the policy world).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    List,
    Create,
    Read,
    Update,
    Delete,
    Render,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::List => "list",
            Action::Create => "create",
            Action::Read => "read",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Render => "render",
        }
    }

    pub fn is_write(self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Delete)
    }
}

/// How the request reached us, as policies see it.
#[derive(Debug, Clone)]
pub struct Via {
    /// The HTTP method (`POST` for every MCP call).
    pub method: String,
    /// The route pattern, e.g. `/v1/prompts/{id}`, `/mcp` or `stdio`.
    pub pattern: String,
}

/// Proof that the policies allowed every one of `actions` on `resource`, with the
/// headers they asked to add to the response.
#[derive(Debug)]
pub struct Permit {
    actions: Vec<Action>,
    resource: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Permit {
    /// Whether this permit covers `action` on `resource`; operations check it so that a
    /// permit for one prompt cannot be spent on another.
    pub(super) fn covers(&self, action: Action, resource: Option<&str>) -> bool {
        self.actions.contains(&action) && self.resource.as_deref() == resource
    }
}

/// Runs [`authorize`] for each of `actions` on one resource and merges the permits: an
/// import may create or replace, and which one is known only once the handler ran, so
/// it needs everything either would need. When two decisions set the same header (a
/// rate-limit counter), the later one is the current value and wins.
pub async fn authorize_all(
    app: &App,
    req: &Request,
    route: &Route,
    via: &Via,
    actions: &[Action],
    resource: Option<&str>,
) -> Result<Permit, Error> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for &action in actions {
        let p = authorize(app, req, route, via, action, resource).await?;
        for (k, v) in p.headers {
            headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&k));
            headers.push((k, v));
        }
    }
    Ok(Permit {
        actions: actions.to_vec(),
        resource: resource.map(str::to_string),
        headers,
    })
}

/// Runs the read-only rule and the route's policy chain for one action.
pub async fn authorize(
    app: &App,
    req: &Request,
    route: &Route,
    via: &Via,
    action: Action,
    resource: Option<&str>,
) -> Result<Permit, Error> {
    // A shared catalog route refuses writes before any policy runs, on every transport.
    if route.read_only && action.is_write() {
        return Err(Error::new(
            ErrorKind::ReadOnly,
            format!("{} is a read-only catalog", route.path),
        ));
    }
    let mut headers = Vec::new();
    if route.policies.is_empty() {
        return Ok(Permit {
            actions: vec![action],
            resource: resource.map(str::to_string),
            headers,
        });
    }
    let cx = req.plugin_context();
    let request = PolicyRequest {
        method: via.method.clone(),
        route: via.pattern.clone(),
        resource: resource.map(str::to_string),
        action: action.as_str().to_string(),
        client: req.caller.client.clone(),
    };
    for policy in &route.policies {
        let decision = app
            .runtime
            .decide(policy, &cx, &request)
            .await
            .map_err(|f| Error::plugin(&req.id, f))?;
        match decision {
            Decision::Allow => {}
            Decision::AllowWith(hs) => headers.extend(hs),
            Decision::Deny(d) => return Err(denial(d)),
        }
    }
    Ok(Permit {
        actions: vec![action],
        resource: resource.map(str::to_string),
        headers,
    })
}

/// A policy's refusal: its status picks the kind (401, 429, else 403), and a 403 that
/// names scopes is an RFC 6750 `insufficient_scope` refusal.
fn denial(d: crate::plugins::Denial) -> Error {
    // Only valid scope tokens are echoed into a challenge.
    let scopes: Vec<String> = d
        .required_scopes
        .into_iter()
        .filter(|s| crate::config::is_scope_token(s))
        .collect();
    let kind = match d.status {
        401 => ErrorKind::Unauthorized,
        429 => ErrorKind::RateLimited,
        _ if !scopes.is_empty() => ErrorKind::InsufficientScope,
        _ => ErrorKind::Forbidden,
    };
    let mut e = Error::new(kind, d.reason);
    e.headers = d.headers;
    match kind {
        ErrorKind::Unauthorized => e.challenge = Some(Challenge::Bearer),
        ErrorKind::InsufficientScope => e.scopes = scopes,
        _ => {}
    }
    e
}
