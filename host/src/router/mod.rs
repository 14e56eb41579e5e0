//! Request entry point: request id, built-in endpoints, route lookup, auth, access log.

// Errors here are complete responses, built only on the (rare) error path.
#![allow(clippy::result_large_err)]

pub mod cors;

use crate::api::{self, Problem};
use crate::app::{App, Snapshot};
use crate::auth::Principal;
use crate::config::AuthMode;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use std::sync::Arc;
use std::time::Instant;

pub type Body = Full<Bytes>;

/// What the API layer needs to know about the request besides the request itself.
pub struct RequestContext {
    pub request_id: String,
    pub snapshot: Arc<Snapshot>,
    pub principal: Option<Principal>,
    pub tenant: String,
    pub max_body: usize,
}

/// Serves one request. Never fails: every error becomes a problem response.
pub async fn handle<B>(app: Arc<App>, req: Request<B>, tls: bool) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let _inflight = app.track_request();
    let request_id = request_id(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let limit = app.server.request_timeout;
    let cors_origin = cors::allowed_origin(&app, &req);
    let (mut resp, route, subject, plugin) =
        match tokio::time::timeout(limit, dispatch(&app, req, &request_id)).await {
            Ok(r) => r,
            Err(_) => {
                let p = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "request-timeout",
                    "Service Unavailable",
                    format!("the request did not complete within {limit:?}"),
                )
                .with_header(header::RETRY_AFTER, "1");
                (p.into_response(), None, None, None)
            }
        };
    cors::decorate(&app, cors_origin, &mut resp);
    finish(&mut resp, &request_id, tls);
    app.metrics
        .http_request(route.as_deref(), resp.status().as_u16(), started.elapsed());
    tracing::info!(
        target: "access",
        request_id = %request_id,
        method = %method,
        path = %path,
        route = route.as_deref().unwrap_or("-"),
        status = resp.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        subject = subject.as_deref().unwrap_or("-"),
        plugin = plugin.as_deref().unwrap_or("-"),
        "request"
    );
    resp
}

async fn dispatch<B>(
    app: &Arc<App>,
    req: Request<B>,
    request_id: &str,
) -> (
    Response<Body>,
    Option<String>,
    Option<String>,
    Option<String>,
)
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Preflights carry no token: answered before route lookup and authentication.
    if let Some(resp) = cors::preflight(app, &req) {
        return (resp, None, None, None);
    }
    let path = req.uri().path();
    match path {
        "/health" => {
            return (
                builtin(&req, || health(app)),
                Some("/health".into()),
                None,
                None,
            );
        }
        "/ready" => {
            if req.method() != Method::GET && req.method() != Method::HEAD {
                return (
                    method_not_allowed("GET, HEAD"),
                    Some("/ready".into()),
                    None,
                    None,
                );
            }
            return (ready(app).await, Some("/ready".into()), None, None);
        }
        "/metrics" if app.metrics.endpoint.on_main_listener() => {
            let resp = crate::server::metrics_listener::scrape(app, &req);
            return (resp, Some("/metrics".into()), None, None);
        }
        _ => {}
    }
    let Some(snapshot) = app.snapshot() else {
        let p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "Service Unavailable",
            "the server is still loading its plugins",
        )
        .with_header(header::RETRY_AFTER, "1");
        return (p.into_response(), None, None, None);
    };
    // MCP (docs/mcp.md): the endpoint and its RFC 9728 metadata.
    let mcp = &snapshot.config.config.mcp;
    if crate::mcp::metadata::is_metadata_path(&snapshot, path) {
        let resp = crate::mcp::metadata::serve(&snapshot, &req);
        return (
            resp,
            Some(crate::mcp::metadata::WELL_KNOWN.into()),
            None,
            None,
        );
    }
    if mcp.enabled && path.trim_end_matches('/') == mcp.path.trim_end_matches('/') {
        let route_name = Some(mcp.path.clone());
        let s = crate::mcp::http::serve(app, snapshot.clone(), req, request_id).await;
        return (s.response, route_name, s.subject, s.plugin);
    }
    if path == "/users/me" && snapshot.config.config.users.enabled {
        return users_me(app, &snapshot, req).await;
    }
    let Some((route, rest)) = snapshot.route(path) else {
        let p = Problem::not_found(format!("no route for {path}"));
        return (p.into_response(), None, None, None);
    };
    let route_name = route.path.clone();
    let plugin_name = route.handler.name.clone();
    let rest = rest.to_string();
    let mut principal = match authenticate(app, &snapshot, route.auth, &req).await {
        Ok(p) => p,
        Err(resp) => return (resp, Some(route_name), None, Some(plugin_name)),
    };
    if let Some(p) = principal.as_mut()
        && let Err(p) = apply_profile_tier(app, &snapshot, p).await
    {
        return (p.into_response(), Some(route_name), None, Some(plugin_name));
    }
    if let Err(resp) = require_scopes(&route.scopes, principal.as_ref()) {
        let subject = principal.map(|p| p.subject);
        return (resp, Some(route_name), subject, Some(plugin_name));
    }
    let subject = principal.as_ref().map(|p| p.subject.clone());
    // A shared catalog route runs in its own tenant for everyone; otherwise the caller's.
    let tenant = route
        .tenant
        .clone()
        .or_else(|| principal.as_ref().map(|p| p.tenant.clone()))
        .unwrap_or_else(|| snapshot.config.config.auth.default_tenant.clone());
    let max_body = snapshot.config.config.server.max_body_size.0 as usize;
    let ctx = RequestContext {
        request_id: request_id.to_string(),
        snapshot: snapshot.clone(),
        principal,
        tenant,
        max_body,
    };
    let resp = api::prompts::serve(app, &ctx, route, &rest, req).await;
    (resp, Some(route_name), subject, Some(plugin_name))
}

/// `/users/me`: always authenticated, whatever the routes say.
async fn users_me<B>(
    app: &Arc<App>,
    snapshot: &Arc<Snapshot>,
    req: Request<B>,
) -> (
    Response<Body>,
    Option<String>,
    Option<String>,
    Option<String>,
)
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let route = Some("/users/me".to_string());
    let mut principal = match authenticate(app, snapshot, AuthMode::Required, &req).await {
        Ok(Some(p)) => p,
        Ok(None) => return (unauthorized(None), route, None, None),
        Err(resp) => return (resp, route, None, None),
    };
    if let Err(p) = apply_profile_tier(app, snapshot, &mut principal).await {
        return (p.into_response(), route, Some(principal.subject), None);
    }
    let users = &snapshot.config.config.users;
    let max_body = snapshot.config.config.server.max_body_size.0 as usize;
    let kv = app.runtime.storage().kv.clone();
    let resp = api::users::serve(kv.as_ref(), &users.namespace, &principal, req, max_body).await;
    (resp, route, Some(principal.subject), None)
}

/// Tokens without a tier claim get the tier of the caller's stored profile, if any.
pub(crate) async fn apply_profile_tier(
    app: &App,
    snapshot: &Snapshot,
    p: &mut Principal,
) -> Result<(), Problem> {
    let users = &snapshot.config.config.users;
    if p.tier_from_claim || !users.enabled || !users.tier_from_profile {
        return Ok(());
    }
    let kv = app.runtime.storage().kv.clone();
    let (profile, _) = api::users::load(kv.as_ref(), &users.namespace, p).await?;
    if let Some(t) = api::users::stored_tier(&profile) {
        p.tier = t;
    }
    Ok(())
}

fn builtin<B>(req: &Request<B>, f: impl FnOnce() -> Response<Body>) -> Response<Body> {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        f()
    } else {
        method_not_allowed("GET, HEAD")
    }
}

pub fn method_not_allowed(allow: &str) -> Response<Body> {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method Not Allowed",
        format!("allowed methods: {allow}"),
    )
    .with_header(header::ALLOW, allow)
    .into_response()
}

fn health(app: &App) -> Response<Body> {
    api::json(
        StatusCode::OK,
        &serde_json::json!({
            "status": "ok",
            "uptimeSeconds": app.started.elapsed().as_secs(),
        }),
    )
}

async fn ready(app: &App) -> Response<Body> {
    if !app.is_ready() {
        return api::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "not ready"}),
        );
    }
    match app.runtime.storage().ping().await {
        Ok(()) => api::json(
            StatusCode::OK,
            &serde_json::json!({
                "status": "ready",
                "plugins": app.snapshot().map_or(0, |s| s.plugins.len()),
            }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: storage unavailable");
            api::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"status": "storage unavailable"}),
            )
        }
    }
}

/// Applies a route's auth mode. Only the Authorization header carries tokens: a token in
/// the query string (`?access_token=`) is never looked at (RFC 6750 §5.3, MCP authorization).
pub(crate) async fn authenticate<B>(
    app: &App,
    snapshot: &Snapshot,
    mode: AuthMode,
    req: &Request<B>,
) -> Result<Option<Principal>, Response<Body>> {
    if mode == AuthMode::None {
        return Ok(None);
    }
    let header = req.headers().get(header::AUTHORIZATION);
    let Some(value) = header else {
        if mode == AuthMode::Required {
            app.metrics.auth_failure(None);
            return Err(unauthorized(None));
        }
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        app.metrics
            .auth_failure(Some(crate::auth::AuthError::Malformed));
        unauthorized(Some("malformed Authorization header"))
    })?;
    match snapshot.auth.authenticate(value).await {
        Ok(p) => Ok(Some(p)),
        Err(e) => {
            app.metrics.auth_failure(Some(e));
            tracing::debug!(reason = %e, "token refused");
            Err(unauthorized(Some(&e.to_string())))
        }
    }
}

/// 403 with an RFC 6750 `insufficient_scope` challenge naming every scope the route needs.
pub(crate) fn require_scopes(
    scopes: &[String],
    principal: Option<&Principal>,
) -> Result<(), Response<Body>> {
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
    let all = scopes.join(" ");
    Err(Problem::new(
        StatusCode::FORBIDDEN,
        "insufficient-scope",
        "Forbidden",
        format!("this route needs the scope(s): {}", missing.join(", ")),
    )
    .with_header(
        header::WWW_AUTHENTICATE,
        &format!("Bearer realm=\"mcp-prompts\", error=\"insufficient_scope\", scope=\"{all}\""),
    )
    .into_response())
}

fn unauthorized(reason: Option<&str>) -> Response<Body> {
    let (detail, challenge) = match reason {
        None => (
            "authentication required".to_string(),
            "Bearer realm=\"mcp-prompts\"".to_string(),
        ),
        Some(r) => (
            r.to_string(),
            format!(
                "Bearer realm=\"mcp-prompts\", error=\"invalid_token\", error_description=\"{r}\""
            ),
        ),
    };
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unauthorized",
        detail,
    )
    .with_header(header::WWW_AUTHENTICATE, &challenge)
    .into_response()
}

/// Request id from the client (`X-Request-Id`, or the ALB's `X-Amzn-Trace-Id`) when it is
/// short, visible ASCII; otherwise a fresh one.
fn request_id<B>(req: &Request<B>) -> String {
    for name in ["x-request-id", "x-amzn-trace-id"] {
        if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok())
            && !v.is_empty()
            && v.len() <= 128
            && v.bytes().all(|b| b.is_ascii_graphic())
        {
            return v.to_string();
        }
    }
    uuid::Uuid::new_v4().to_string()
}

fn finish(resp: &mut Response<Body>, request_id: &str, tls: bool) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}
