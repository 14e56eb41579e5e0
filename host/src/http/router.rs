//! Request entry point: request id, built-in endpoints, the routing table, the access log.
//!
//! Order of a request: CORS preflight → built-ins (`/health`, `/ready`, `/metrics`) →
//! snapshot → MCP metadata and `/mcp` (`http/mcp/`) → `/users/me`, `/users/{sub}/tier`
//! → prompt routes
//! (`http/rest/prompts.rs`) or wasi:http component routes (`http/proxy.rs`). Who the caller is gets decided once, in `service::caller`.

use super::problem::{Problem, json};
use super::{Body, cors, method_not_allowed};
use crate::app::{App, Snapshot};
use crate::config::AuthMode;
use crate::service::{self, AuthRules};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use std::sync::Arc;
use std::time::Instant;

/// A response and what the access log and metrics say about it.
pub struct Handled {
    pub response: Response<Body>,
    /// The route pattern (metrics label), when a route matched.
    pub route: Option<String>,
    pub subject: Option<String>,
    pub plugin: Option<String>,
}

impl Handled {
    pub fn new(response: Response<Body>) -> Self {
        Self {
            response,
            route: None,
            subject: None,
            plugin: None,
        }
    }

    fn on(mut self, route: &str) -> Self {
        self.route = Some(route.to_string());
        self
    }
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
    let handled = match tokio::time::timeout(limit, dispatch(&app, req, &request_id, tls)).await {
        Ok(h) => h,
        Err(_) => {
            let p = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request-timeout",
                "Service Unavailable",
                format!("the request did not complete within {limit:?}"),
            )
            .with_header(header::RETRY_AFTER, "1");
            Handled::new(p.into_response())
        }
    };
    let Handled {
        response: mut resp,
        route,
        subject,
        plugin,
    } = handled;
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

async fn dispatch<B>(app: &Arc<App>, req: Request<B>, request_id: &str, tls: bool) -> Handled
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if let Some(p) = header_hygiene(&req) {
        return Handled::new(p.into_response());
    }
    // Preflights carry no token: answered before route lookup and authentication.
    if let Some(resp) = cors::preflight(app, &req) {
        return Handled::new(resp);
    }
    let path = req.uri().path();
    match path {
        "/health" => return Handled::new(builtin(&req, || health(app))).on("/health"),
        "/ready" => {
            if req.method() != Method::GET && req.method() != Method::HEAD {
                return Handled::new(method_not_allowed("GET, HEAD")).on("/ready");
            }
            return Handled::new(ready(app).await).on("/ready");
        }
        "/metrics" if app.metrics.endpoint.on_main_listener() => {
            let resp = super::metrics_listener::scrape(app, &req);
            return Handled::new(resp).on("/metrics");
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
        return Handled::new(p.into_response());
    };
    // MCP (docs/mcp.md): the endpoint and its RFC 9728 metadata.
    let mcp = &snapshot.config.config.mcp;
    if super::mcp::metadata::is_metadata_path(&snapshot, path) {
        let resp = super::mcp::metadata::serve(&snapshot, &req);
        return Handled::new(resp).on(super::mcp::metadata::WELL_KNOWN);
    }
    if mcp.enabled && path.trim_end_matches('/') == mcp.path.trim_end_matches('/') {
        let route = mcp.path.clone();
        return super::mcp::serve(app, snapshot.clone(), req, request_id)
            .await
            .on(&route);
    }
    if let Some(billing) = snapshot.billing.clone()
        && let Some(ep) = super::rest::billing::Endpoint::of(path)
    {
        return super::rest::billing::serve(app, &snapshot, &billing, ep, req).await;
    }
    if path == "/users/me" && snapshot.config.config.users.enabled {
        return users_me(app, &snapshot, req, request_id)
            .await
            .on("/users/me");
    }
    if path == crate::config::DELIVERIES_PATH && !snapshot.webhooks.config.admin_scopes.is_empty() {
        return webhook_deliveries(app, &snapshot, req, request_id)
            .await
            .on(crate::config::DELIVERIES_PATH);
    }
    if let Some(sub) = user_tier_path(path)
        && snapshot.config.config.users.enabled
    {
        let sub = sub.to_string();
        return user_tier(app, &snapshot, req, request_id, &sub)
            .await
            .on("/users/{sub}/tier");
    }
    let Some((route, rest)) = snapshot.route(path) else {
        let p = Problem::not_found(format!("no route for {path}"));
        return Handled::new(p.into_response());
    };
    let rest = rest.to_string();
    // Admission before authentication and plugins (plugins/admission.rs).
    let admitted = match &route.admission {
        Some(gate) => gate.admit().await.map(Some),
        None => Some(None),
    };
    let Some(_admitted) = admitted else {
        let p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "Service Unavailable",
            format!(
                "route {} is at its max_concurrency; retry shortly",
                route.path
            ),
        )
        .with_header(header::RETRY_AFTER, "1");
        return Handled::new(p.into_response()).on(&route.path);
    };
    let rules = AuthRules {
        mode: route.auth,
        scopes: &route.scopes,
        tenant: route.tenant.as_deref(),
        audience: None,
    };
    let caller = service::caller::resolve(
        app,
        &snapshot,
        rules,
        req.headers().get(header::AUTHORIZATION),
        request_id,
    )
    .await;
    let caller = match caller {
        Ok(mut c) => {
            c.client =
                crate::http::client::of(&req, &snapshot.config.config.server.trusted_proxies);
            c
        }
        Err(e) => {
            let mut h = Handled::new(Problem::from(e).into_response()).on(&route.path);
            h.plugin = Some(route.handler.name.clone());
            return h;
        }
    };
    let sreq = service::Request {
        id: request_id.to_string(),
        snapshot: snapshot.clone(),
        caller,
        spend: Default::default(),
    };
    if super::proxy::is_proxy(route) {
        // A wasi:http component answers everything under the prefix (http/proxy.rs).
        return super::proxy::serve(app, sreq, route, &rest, req, tls).await;
    }
    let resp = super::rest::prompts::serve(app, &sreq, route, &rest, req).await;
    Handled {
        response: resp,
        route: Some(route.path.clone()),
        subject: sreq.subject().map(str::to_string),
        plugin: Some(route.handler.name.clone()),
    }
}

/// `/users/me`: always authenticated, whatever the routes say.
async fn users_me<B>(
    app: &Arc<App>,
    snapshot: &Arc<Snapshot>,
    req: Request<B>,
    request_id: &str,
) -> Handled
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let rules = AuthRules {
        mode: AuthMode::Required,
        scopes: &[],
        tenant: None,
        audience: None,
    };
    let auth = req.headers().get(header::AUTHORIZATION);
    let caller = match service::caller::resolve(app, snapshot, rules, auth, request_id).await {
        Ok(c) => c,
        Err(e) => return Handled::new(Problem::from(e).into_response()),
    };
    let Some(principal) = caller.principal else {
        // Required mode never resolves to an anonymous caller.
        let p = Problem::from(service::Error::unauthorized(
            "authentication required",
            service::Challenge::Bearer,
        ));
        return Handled::new(p.into_response());
    };
    let users = &snapshot.config.config.users;
    let max_body = snapshot.config.config.server.max_body_size.0 as usize;
    let resp = super::rest::users::serve(
        app.storage.kv.as_ref(),
        &app.tiers,
        &users.namespace,
        &principal,
        req,
        max_body,
    )
    .await;
    Handled {
        response: resp,
        route: None,
        subject: Some(principal.subject),
        plugin: None,
    }
}

/// `GET /v1/webhooks/deliveries`: the caller's tenant's webhook delivery status
/// (service/webhooks), for a token with one of `[webhooks] admin_scopes`.
async fn webhook_deliveries<B>(
    app: &Arc<App>,
    snapshot: &Arc<Snapshot>,
    req: Request<B>,
    request_id: &str,
) -> Handled {
    if req.method() != Method::GET {
        return Handled::new(method_not_allowed("GET"));
    }
    let rules = AuthRules {
        mode: AuthMode::Required,
        scopes: &[],
        tenant: None,
        audience: None,
    };
    let auth = req.headers().get(header::AUTHORIZATION);
    let caller = match service::caller::resolve(app, snapshot, rules, auth, request_id).await {
        Ok(c) => c,
        Err(e) => return Handled::new(Problem::from(e).into_response()),
    };
    let subject = caller.principal.as_ref().map(|p| p.subject.clone());
    let response = match service::webhooks::deliveries(app, snapshot, &caller).await {
        Ok(v) => super::problem::json(StatusCode::OK, &v),
        Err(e) => Problem::from(e).into_response(),
    };
    Handled {
        response,
        route: None,
        subject,
        plugin: None,
    }
}

/// Requests whose headers are ambiguous are refused before anything reads them: with two
/// `Authorization` headers, which one a proxy checked and which one we verify may differ;
/// HTTP/1.1 requires exactly one `Host` (RFC 9112 §3.2).
fn header_hygiene<B>(req: &Request<B>) -> Option<Problem> {
    if req.headers().get_all(header::AUTHORIZATION).iter().count() > 1 {
        return Some(Problem::bad_request(
            "duplicate-authorization",
            "the request has more than one Authorization header",
        ));
    }
    if req.version() == http::Version::HTTP_11 {
        match req.headers().get_all(header::HOST).iter().count() {
            1 => {}
            0 => {
                return Some(Problem::bad_request(
                    "missing-host",
                    "an HTTP/1.1 request needs a Host header",
                ));
            }
            _ => {
                return Some(Problem::bad_request(
                    "duplicate-host",
                    "the request has more than one Host header",
                ));
            }
        }
    }
    None
}

/// `/users/{sub}/tier` → the still-encoded `{sub}`.
fn user_tier_path(path: &str) -> Option<&str> {
    let sub = path.strip_prefix("/users/")?.strip_suffix("/tier")?;
    (!sub.is_empty() && !sub.contains('/')).then_some(sub)
}

/// `/users/{sub}/tier`: an administrator (`[users] admin_scopes`) manages another
/// user's stored tier; the rules are in `service/users.rs`.
async fn user_tier<B>(
    app: &Arc<App>,
    snapshot: &Arc<Snapshot>,
    req: Request<B>,
    request_id: &str,
    sub: &str,
) -> Handled
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let rules = AuthRules {
        mode: AuthMode::Required,
        scopes: &[],
        tenant: None,
        audience: None,
    };
    let auth = req.headers().get(header::AUTHORIZATION);
    let caller = match service::caller::resolve(app, snapshot, rules, auth, request_id).await {
        Ok(c) => c,
        Err(e) => return Handled::new(Problem::from(e).into_response()),
    };
    let Some(principal) = caller.principal else {
        let p = Problem::from(service::Error::unauthorized(
            "authentication required",
            service::Challenge::Bearer,
        ));
        return Handled::new(p.into_response());
    };
    let users = &snapshot.config.config.users;
    let t = super::rest::users::TierRequest {
        kv: app.storage.kv.as_ref(),
        tiers: &app.tiers,
        namespace: &users.namespace,
        admin: &principal,
        admin_scopes: &users.admin_scopes,
        subject: sub,
        max_body: snapshot.config.config.server.max_body_size.0 as usize,
    };
    let resp = super::rest::users::serve_tier(t, req).await;
    Handled {
        response: resp,
        route: None,
        subject: Some(principal.subject),
        plugin: None,
    }
}

fn builtin<B>(req: &Request<B>, f: impl FnOnce() -> Response<Body>) -> Response<Body> {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        f()
    } else {
        method_not_allowed("GET, HEAD")
    }
}

fn health(app: &App) -> Response<Body> {
    json(
        StatusCode::OK,
        &serde_json::json!({
            "status": "ok",
            "uptimeSeconds": app.started.elapsed().as_secs(),
        }),
    )
}

async fn ready(app: &App) -> Response<Body> {
    if !app.is_ready() {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "not ready"}),
        );
    }
    match app.storage.ping().await {
        Ok(()) => json(
            StatusCode::OK,
            &serde_json::json!({
                "status": "ready",
                "plugins": app.snapshot().map_or(0, |s| s.plugins.len()),
            }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: storage unavailable");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"status": "storage unavailable"}),
            )
        }
    }
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
    // A v4 UUID from the thread's CSPRNG (seeded from the OS once): `Uuid::new_v4` asks
    // the OS for 16 bytes, one getrandom system call per request.
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
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
