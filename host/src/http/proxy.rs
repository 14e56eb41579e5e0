//! Routes served by a `wasi:http/proxy` component (`plugins.NAME.world = "proxy"`).
//!
//! The router has already admitted the request (`routes[].max_concurrency`) and resolved
//! the caller under the route's auth mode and scopes; here the route's policy chain runs,
//! then the request goes to the component with the host's principal headers, and the
//! component's response streams back.
//!
//! What the component sees (docs/plugins.md, "wasi:http routes"):
//! - the original method, full path and query (the route prefix is not stripped);
//! - the client's headers, minus any `x-mcp-prompts-*` header (the host's reserved
//!   prefix: a client cannot forge them), minus `Authorization` unless the route's
//!   auth is `none` (the host consumed the token);
//! - the headers the host sets: [`SUBJECT`], [`TENANT`] and the rest below;
//! - a body of at most `server.max_body_size` bytes (413 when larger).

use super::Body;
use super::problem::{Problem, policy_headers};
use super::router::Handled;
use crate::app::{App, Route};
use crate::config::AuthMode;
use crate::plugins::proxy::{self, ProxyBody, ProxyCall};
use crate::plugins::{LoadedPlugin, PluginFailure};
use crate::service::{self, policy};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Frame;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// Every request header with this prefix is the host's: client-sent ones are removed.
pub const RESERVED_PREFIX: &str = "x-mcp-prompts-";
/// The caller's subject (absent for anonymous callers).
pub const SUBJECT: &str = "x-mcp-prompts-subject";
/// The token's issuer (absent for anonymous callers).
pub const ISSUER: &str = "x-mcp-prompts-issuer";
/// The tenant the request runs in (always set).
pub const TENANT: &str = "x-mcp-prompts-tenant";
/// The token's scopes, space-separated (absent for anonymous callers).
pub const SCOPES: &str = "x-mcp-prompts-scopes";
/// The caller's groups, comma-separated (absent when none).
pub const GROUPS: &str = "x-mcp-prompts-groups";
/// The caller's tier (absent for anonymous callers).
pub const TIER: &str = "x-mcp-prompts-tier";
/// `true` when a valid token was presented, else `false`.
pub const AUTHENTICATED: &str = "x-mcp-prompts-authenticated";
/// The request id (also the response's `x-request-id`).
pub const REQUEST_ID: &str = "x-mcp-prompts-request-id";
/// The route's path prefix, e.g. `/apps/echo`.
pub const ROUTE: &str = "x-mcp-prompts-route";
/// The path below the prefix, `/` at least (Spin's `spin-path-info`).
pub const PATH_INFO: &str = "x-mcp-prompts-path-info";
/// The full URL the client asked for (Spin's `spin-full-url`).
pub const FULL_URL: &str = "x-mcp-prompts-full-url";
/// The client's address as policies see it (`server.trusted_proxies`).
pub const CLIENT_ADDR: &str = "x-mcp-prompts-client-addr";

/// Serves one request of a proxy route for an already resolved caller.
pub async fn serve<B>(
    app: &Arc<App>,
    sreq: service::Request,
    route: &Route,
    rest: &str,
    req: Request<B>,
    tls: bool,
) -> Handled
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let handled = |response: Response<Body>, sreq: &service::Request| Handled {
        response,
        route: Some(route.path.clone()),
        subject: sreq.subject().map(str::to_string),
        plugin: Some(route.handler.name.clone()),
    };
    let via = policy::Via {
        method: req.method().to_string(),
        pattern: route.path.clone(),
    };
    let resource = rest.trim_start_matches('/');
    let resource = (!resource.is_empty()).then_some(resource);
    let permit =
        match policy::authorize(app, &sreq, route, &via, action(req.method()), resource).await {
            Ok(p) => p,
            Err(e) => return handled(Problem::from(e).into_response(), &sreq),
        };
    let max = sreq.snapshot.config.config.server.max_body_size.0;
    if req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > max)
    {
        return handled(too_large(max).into_response(), &sreq);
    }
    let (mut parts, body) = req.into_parts();
    principal_headers(&mut parts.headers, &sreq, route, rest, &parts.uri, tls);
    let over = Arc::new(AtomicBool::new(false));
    let body = LimitedBody {
        inner: Box::pin(body),
        left: max,
        limit: max,
        over: over.clone(),
    };
    let call = ProxyCall {
        request_id: sreq.id.clone(),
        https: tls,
    };
    let result = proxy::serve(
        &app.runtime,
        &route.handler,
        call,
        Request::from_parts(parts, body),
    )
    .await;
    // A body that crossed the limit is the client's fault, whatever the component made
    // of the read error, as long as nothing was sent yet.
    if over.load(Ordering::Relaxed) {
        return handled(too_large(max).into_response(), &sreq);
    }
    match result {
        Ok(resp) => {
            let (mut head, body) = resp.into_parts();
            for (k, v) in policy_headers(permit.headers) {
                head.headers.append(k, v);
            }
            let body = relay(&route.handler, &sreq.id, body);
            handled(Response::from_parts(head, body), &sreq)
        }
        Err(f) => handled(failure(&sreq.id, f), &sreq),
    }
}

/// Whether `route` is served by a proxy component.
pub fn is_proxy(route: &Route) -> bool {
    route.handler.config.world == crate::config::World::Proxy
}

/// Policies see an action; a proxy route maps the method onto the prompt API's verbs.
fn action(m: &http::Method) -> policy::Action {
    use http::Method;
    match *m {
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE => policy::Action::Read,
        Method::POST => policy::Action::Create,
        Method::DELETE => policy::Action::Delete,
        _ => policy::Action::Update,
    }
}

fn too_large(max: u64) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "Payload Too Large",
        format!("request body exceeds {max} bytes (server.max_body_size)"),
    )
}

/// The problem response of a call that failed before its response head: the same
/// problem types as prompt routes (504 `plugin-timeout`, 500 `plugin-limit`, ...).
fn failure(request_id: &str, f: PluginFailure) -> Response<Body> {
    Problem::from(service::Error::plugin(request_id, f)).into_response()
}

/// Removes the reserved headers the client sent and sets the host's.
fn principal_headers(
    h: &mut HeaderMap,
    sreq: &service::Request,
    route: &Route,
    rest: &str,
    uri: &http::Uri,
    tls: bool,
) {
    let reserved: Vec<HeaderName> = h
        .keys()
        .filter(|k| k.as_str().starts_with(RESERVED_PREFIX))
        .cloned()
        .collect();
    for k in reserved {
        h.remove(k);
    }
    // HTTP/2 carries the authority in the URI; HTTP/1.1 in its one Host (router.rs).
    let host = uri.authority().map(|a| a.as_str().to_string()).or_else(|| {
        h.get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    if route.auth != AuthMode::None {
        // The host verified the token and passes on who it is; the token itself stays
        // here, so a component cannot replay it elsewhere.
        h.remove(header::AUTHORIZATION);
    }
    let mut set = |name: &'static str, value: &str| {
        // Values come from verified tokens and the config; one that is not a valid
        // header value (a control character in a claim) is left out rather than mangled.
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    let caller = &sreq.caller;
    set(TENANT, &caller.tenant);
    set(REQUEST_ID, &sreq.id);
    set(ROUTE, &route.path);
    set(PATH_INFO, if rest.is_empty() { "/" } else { rest });
    set(
        AUTHENTICATED,
        if caller.principal.is_some() {
            "true"
        } else {
            "false"
        },
    );
    if let Some(c) = &caller.client {
        set(CLIENT_ADDR, c);
    }
    if let Some(p) = &caller.principal {
        set(SUBJECT, &p.subject);
        set(SCOPES, &p.scopes.join(" "));
        set(TIER, &p.tier);
        if let Some(iss) = &p.issuer {
            set(ISSUER, iss);
        }
        if !p.groups.is_empty() {
            set(GROUPS, &p.groups.join(","));
        }
    }
    if let Some(host) = host {
        let scheme = if tls { "https" } else { "http" };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        set(FULL_URL, &format!("{scheme}://{host}{path}"));
    }
}

/// The request body handed to the component, cut off with an error past `limit` bytes.
struct LimitedBody<B> {
    inner: Pin<Box<B>>,
    left: u64,
    limit: u64,
    /// Set when the client sent more than `limit`: the answer becomes a 413.
    over: Arc<AtomicBool>,
}

impl<B> hyper::body::Body for LimitedBody<B>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > self.left {
                        self.over.store(true, Ordering::Relaxed);
                        self.left = 0;
                        let limit = self.limit;
                        return Poll::Ready(Some(Err(
                            wasmtime_wasi_http::Error::HttpRequestBodySize(Some(limit)),
                        )));
                    }
                    self.left -= n;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                tracing::debug!(error = %e, "proxy route: client body unreadable");
                Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpProtocolError)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Streams the component's body to the client through a small channel (backpressure:
/// the component writes no faster than the client reads). If the call fails after the
/// head went out, the body ends in an error so the client sees an aborted response.
fn relay(plugin: &Arc<LoadedPlugin>, request_id: &str, b: ProxyBody) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let (plugin, request_id) = (plugin.name.clone(), request_id.to_string());
    let ProxyBody { mut body, outcome } = b;
    let mut outcome = outcome;
    tokio::spawn(async move {
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    // Trailers are dropped: HTTP/1.1 clients rarely accept them.
                    if let Ok(data) = frame.into_data()
                        && tx.send(Ok(data)).await.is_err()
                    {
                        // The client went away; dropping the body stops the component's
                        // writes.
                        return;
                    }
                }
                Some(Err(e)) => {
                    let _ = tx
                        .send(Err(super::BodyAborted(format!("plugin {plugin:?}: {e}"))))
                        .await;
                    return;
                }
                None => {
                    // The body also ends when the store is dropped mid-call; the call's
                    // outcome is sent before that, so a failure is visible here.
                    if let Ok(Err(f)) = outcome.try_recv() {
                        tracing::warn!(
                            request_id = %request_id,
                            plugin = %plugin,
                            failure = %f,
                            "proxy response aborted after its head was sent"
                        );
                        let _ = tx.send(Err(super::BodyAborted(f.to_string()))).await;
                    }
                    return;
                }
            }
        }
    });
    Body::relay(rx)
}
