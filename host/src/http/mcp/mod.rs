//! Streamable HTTP transport at `/mcp`.
//!
//! Why not rmcp's `StreamableHttpService`: it keeps sessions in process memory, so a
//! session started on one host is unknown to the next host behind the load balancer,
//! and it sits outside our router (per-route auth, tenants, policies, limits, access
//! log). This module is the transport only — HTTP checks, revision negotiation, sessions
//! in the kv store — and hands each JSON-RPC request to the rmcp service machinery
//! (`serve_directly` over a one-shot transport), which dispatches it to
//! [`PromptServer`](crate::mcp::server::PromptServer). `prompts/get`, the method clients
//! call most, skips that machinery and calls the same handler function directly.
//!
//! Before anything else: the `Host` allow-list (`mcp.allowed_hosts`) and the `Origin`
//! rule (same origin, or `mcp.allowed_origins`) — the spec's DNS-rebinding defence.
//!
//! Revisions:
//! - 2025-03-26 / 2025-06-18 / 2025-11-25: `initialize` (which runs the policy chain like
//!   every call) creates a session (`Mcp-Session-Id`, random, bound to the caller's
//!   subject and tenant, a few KiB of named fields); every later request names it;
//!   `DELETE` ends it. A session request without `MCP-Protocol-Version` speaks the
//!   negotiated revision. `GET` opens the server-to-client event stream (`stream.rs`);
//!   `prompts/list_changed` also rides on the SSE response of the session's next POST,
//!   as do `notifications/message` events of the request at or above its log level.
//!   `resources/subscribe`, `resources/unsubscribe` and `logging/setLevel` are kept in
//!   the session by this module.
//! - 2026-07-28: stateless. The version is in each request's `_meta` and the
//!   `MCP-Protocol-Version` header; `Mcp-Method`/`Mcp-Name` must match the body (-32020);
//!   GET and DELETE are 405.
//!
//! JSON-RPC batches were removed in 2025-06-18, so an array body is refused (-32600) in
//! every revision this server speaks.

// JSON-RPC errors and problems are built only on the error path (see http/rest/mod.rs).
#![allow(clippy::result_large_err)]

use crate::app::{App, Snapshot};
use crate::config::AuthMode;
use crate::http::router::Handled;
use crate::http::{Body, Problem};
use crate::mcp::server::PromptServer;
use crate::mcp::{Call, version};
use crate::service::{self, AuthRules};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, ErrorCode, ErrorData, GetExtensions,
    GetPromptRequestParams, InitializeRequestParams, JsonRpcRequest, ProtocolVersion,
    ServerJsonRpcMessage,
};
use rmcp::service::RoleServer;
use serde_json::{Value, json};
use std::sync::Arc;
use wire::{
    Incoming, accepted, accepts, check_standard_headers, decode, header_str, json_response,
    meta_version, rpc_error, rpc_error_response, sse, unsupported,
};

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const VERSION_HEADER: &str = "mcp-protocol-version";

pub mod metadata;
pub mod session;
mod stream;
mod wire;

/// Serves `/mcp`. The router has already answered CORS preflights.
pub async fn serve<B>(
    app: &Arc<App>,
    snapshot: Arc<Snapshot>,
    req: Request<B>,
    request_id: &str,
) -> Handled
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mcp = &snapshot.config.config.mcp;
    // DNS-rebinding defence (spec: servers MUST validate Origin; local servers should
    // check Host): a foreign Host is refused before anything else runs.
    if let Err(resp) = metadata::check_host(&snapshot, &req) {
        return Handled::new(resp);
    }
    // Browsers always send Origin; other clients do not, and they pass. The server's own
    // origin needs no configuration.
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let own = metadata::origin(&snapshot, &req);
        let allowed = origin.to_str().is_ok_and(|o| {
            own.as_deref()
                .is_some_and(|own| own.eq_ignore_ascii_case(o))
                || mcp
                    .allowed_origins
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(o))
        });
        if !allowed {
            let p = Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden-origin",
                "Forbidden",
                "this Origin is not allowed to use the MCP endpoint (mcp.allowed_origins)",
            );
            return Handled::new(p.into_response());
        }
    }
    let Some(route) = crate::mcp::route(&snapshot) else {
        let p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "mcp-unavailable",
            "Service Unavailable",
            "no prompt route is configured for MCP",
        );
        return Handled::new(p.into_response());
    };
    let plugin = Some(route.handler.name.clone());
    let with_plugin = |response: Response<Body>| Handled {
        plugin: plugin.clone(),
        ..Handled::new(response)
    };
    if ![Method::POST, Method::GET, Method::DELETE].contains(req.method()) {
        return with_plugin(crate::http::method_not_allowed("POST, GET, DELETE"));
    }
    // The same caller rules as the REST route MCP mirrors, plus the resource audience.
    let rules = AuthRules {
        mode: route.auth,
        scopes: &route.scopes,
        tenant: route.tenant.as_deref(),
        audience: mcp.audience.as_deref(),
    };
    let auth = req.headers().get(header::AUTHORIZATION);
    let caller = match service::caller::resolve(app, &snapshot, rules, auth, request_id).await {
        Ok(mut c) => {
            c.client =
                crate::http::client::of(&req, &snapshot.config.config.server.trusted_proxies);
            c
        }
        Err(e) => {
            let challenge = matches!(
                e.kind,
                service::ErrorKind::Unauthorized | service::ErrorKind::InsufficientScope
            );
            let mut resp = Problem::from(e).into_response();
            if challenge {
                metadata::add_challenge_link(&snapshot, &req, &mut resp);
            }
            return with_plugin(resp);
        }
    };
    debug_assert!(route.auth != AuthMode::Required || caller.principal.is_some());
    let env = Call::new(
        app.clone(),
        Arc::new(service::Request {
            id: request_id.to_string(),
            snapshot: snapshot.clone(),
            caller,
            spend: Default::default(),
        }),
        mcp.path.trim_end_matches('/').to_string(),
    )
    .with_resource_metadata(metadata::metadata_url(&snapshot, &req));
    let response = match *req.method() {
        Method::GET => get(&env, &req).await,
        Method::DELETE => delete(&env, &req).await,
        _ => post(&env, req).await,
    };
    Handled {
        response,
        route: None,
        subject: env.request.subject().map(str::to_string),
        plugin,
    }
}

/// `GET`: the session's server-to-client event stream (`stream.rs`).
async fn get<B>(env: &Call, req: &Request<B>) -> Response<Body> {
    let h = req.headers();
    let header_version = header_str(h, VERSION_HEADER).ok().flatten();
    if header_version == Some(rmcp::model::ProtocolVersion::V_2026_07_28.as_str()) {
        return crate::http::method_not_allowed("POST");
    }
    let accept = h.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if !accept.is_some_and(|a| accepts(a, "text/event-stream")) {
        return Problem::new(
            StatusCode::NOT_ACCEPTABLE,
            "not-acceptable",
            "Not Acceptable",
            "the event stream is text/event-stream: list it in Accept",
        )
        .into_response();
    }
    let Some(sid) = header_str(h, SESSION_HEADER).ok().flatten() else {
        return Problem::bad_request(
            "missing-session",
            "GET opens a session's event stream: send the Mcp-Session-Id header",
        )
        .into_response();
    };
    let s = match load_session(env, sid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(v) = header_version
        && v != s.version
    {
        let e = if version::is_supported(v) {
            ErrorData::header_mismatch(
                format!(
                    "MCP-Protocol-Version {v} is not this session's negotiated version {}",
                    s.version
                ),
                None,
            )
        } else {
            unsupported(v)
        };
        return rpc_error_response(StatusCode::BAD_REQUEST, None, e);
    }
    let storage = &env.app.storage;
    let tenant = &env.request.caller.tenant;
    let after = match header_str(h, "last-event-id").ok().flatten() {
        Some(v) => match stream::parse_last_event_id(v) {
            Some(r) => r,
            None => {
                return Problem::bad_request(
                    "invalid-last-event-id",
                    "Last-Event-ID is not an event id of this server",
                )
                .into_response();
            }
        },
        None => match crate::service::changes::revision(storage, tenant).await {
            Ok(r) => r,
            Err(e) => return unavailable(env, e),
        },
    };
    stream::open(
        env.app.clone(),
        env.request.snapshot.clone(),
        stream::Owner {
            tenant: tenant.clone(),
            session: s.id.clone(),
        },
        after,
    )
}

async fn delete<B>(env: &Call, req: &Request<B>) -> Response<Body> {
    let h = req.headers();
    if header_str(h, VERSION_HEADER).ok().flatten()
        == Some(rmcp::model::ProtocolVersion::V_2026_07_28.as_str())
    {
        return crate::http::method_not_allowed("POST");
    }
    let Some(id) = header_str(h, SESSION_HEADER).ok().flatten() else {
        return Problem::bad_request(
            "missing-session",
            "DELETE needs the Mcp-Session-Id header of the session to end",
        )
        .into_response();
    };
    let storage = &env.app.storage;
    match session::load(storage, &env.request.caller.tenant, id).await {
        Ok(Some(s)) if s.subject == subject(env) => {
            match session::delete(storage, &env.request.caller.tenant, id).await {
                Ok(_) => {
                    let mut r = Response::new(Body::new(Bytes::new()));
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    r
                }
                Err(e) => unavailable(env, e),
            }
        }
        Ok(_) => Problem::not_found("no such MCP session").into_response(),
        Err(e) => unavailable(env, e),
    }
}

fn subject(env: &Call) -> Option<String> {
    env.request.subject().map(str::to_string)
}

fn unavailable(env: &Call, e: crate::storage::StorageError) -> Response<Body> {
    tracing::warn!(request_id = %env.request.id, error = %e, "MCP session store unavailable");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Service Unavailable",
        "session storage is temporarily unavailable",
    )
    .with_header(header::RETRY_AFTER, "1")
    .into_response()
}

async fn post<B>(env: &Call, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let h = req.headers().clone();
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported Media Type",
            format!(
                "send JSON-RPC messages as application/json (got {:?})",
                if ct.is_empty() { "nothing" } else { ct }
            ),
        )
        .into_response();
    }
    let accept = h.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if let Some(a) = accept
        && !(accepts(a, "application/json") && accepts(a, "text/event-stream"))
    {
        return Problem::new(
            StatusCode::NOT_ACCEPTABLE,
            "not-acceptable",
            "Not Acceptable",
            "the Accept header must list both application/json and text/event-stream",
        )
        .into_response();
    }
    let max_body = env.request.snapshot.config.config.server.max_body_size.0 as usize;
    let body = match crate::http::body::read_limited(req, max_body).await {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    let incoming = match decode(&body) {
        Ok(i) => i,
        Err((id, e)) => return rpc_error_response(StatusCode::BAD_REQUEST, id.as_ref(), e),
    };
    let header_version = match header_str(&h, VERSION_HEADER) {
        Ok(v) => v.map(str::to_string),
        Err(m) => {
            return rpc_error_response(
                StatusCode::BAD_REQUEST,
                None,
                ErrorData::header_mismatch(m, None),
            );
        }
    };
    let session_id = header_str(&h, SESSION_HEADER)
        .ok()
        .flatten()
        .map(str::to_string);
    let (id, method, msg) = match incoming {
        Incoming::Response => return accepted(),
        Incoming::Notification { method } => {
            // Notifications of a session must name a live one; stateless ones need nothing.
            if let Some(sid) = &session_id
                && header_version.as_deref()
                    != Some(rmcp::model::ProtocolVersion::V_2026_07_28.as_str())
            {
                match load_session(env, sid).await {
                    Ok(_) => {}
                    Err(r) => return r,
                }
            }
            tracing::debug!(method = %method, "MCP notification");
            return accepted();
        }
        Incoming::Request { id, method, msg } => (id, method, msg),
    };
    let meta_version = meta_version(&msg);
    if method == "initialize" {
        return initialize(env, &id, &msg).await;
    }
    let stateless = meta_version.is_some()
        || method == "server/discover"
        || header_version.as_deref() == Some(rmcp::model::ProtocolVersion::V_2026_07_28.as_str());
    if stateless {
        return stateless_request(env, &h, id, method, msg, meta_version, header_version).await;
    }
    let Some(sid) = session_id else {
        return rpc_error_response(
            StatusCode::BAD_REQUEST,
            Some(&id),
            ErrorData::invalid_request(
                "missing Mcp-Session-Id header: send initialize first (or use protocol 2026-07-28 with _meta)",
                None,
            ),
        );
    };
    let s = match load_session(env, &sid).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(v) = &header_version
        && v != &s.version
    {
        let e = if version::is_supported(v) {
            ErrorData::header_mismatch(
                format!(
                    "MCP-Protocol-Version {v} is not this session's negotiated version {}",
                    s.version
                ),
                None,
            )
        } else {
            unsupported(v)
        };
        return rpc_error_response(StatusCode::BAD_REQUEST, Some(&id), e);
    }
    // The level the request's own log events are filtered by (a setLevel takes effect
    // on its own response).
    let level = if method == "logging/setLevel" {
        msg.pointer("/params/level")
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        s.log_level.clone()
    };
    let reply = match method.as_str() {
        "ping" => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
        "resources/subscribe" | "resources/unsubscribe" | "logging/setLevel" => {
            session_setting(env, &s, &id, &method, msg.get("params")).await
        }
        _ => {
            let peer = InitializeRequestParams::new(
                Default::default(),
                rmcp::model::Implementation::new(&s.client.name, &s.client.version),
            )
            .with_protocol_version(version::parse(&s.version));
            dispatch(env, id, msg, peer).await
        }
    };
    // Changes made since this session last heard (through any host) are announced on
    // this response's event stream, before the response itself.
    let storage = &env.app.storage;
    let mcp = &env.request.snapshot.config.config.mcp;
    let rev = crate::service::changes::revision(storage, &env.request.caller.tenant)
        .await
        .unwrap_or(s.seen_revision);
    let mut pre = Vec::new();
    if rev > s.seen_revision {
        pre.push(json!({"jsonrpc": "2.0", "method": "notifications/prompts/list_changed"}));
    }
    if let Err(e) = session::touch(
        storage,
        &env.request.caller.tenant,
        &s,
        rev,
        mcp.session_ttl,
    )
    .await
    {
        tracing::warn!(error = %e, "could not refresh the MCP session");
    }
    finish(env, reply, pre, level.as_deref())
}

/// The HTTP response for one request's reply: a denial's status and headers (401 with
/// its challenge, 403, 429 with `Retry-After`), the permit's rate-limit headers, and the
/// request's log events at or above `level` before the reply on an event stream.
fn finish(
    env: &Call,
    mut reply: Value,
    mut pre: Vec<Value>,
    level: Option<&str>,
) -> Response<Body> {
    let outcome = env.take_outcome();
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    if let Some(e) = &outcome.denial {
        // A tool reports most failures as an error result; an access decision is a
        // protocol error on every method, so the client sees the same thing everywhere.
        let err = crate::mcp::errors::to_error(e, ErrorCode::INVALID_REQUEST);
        reply = rpc_error(reply.get("id"), &err);
        let problem = Problem::from(e.clone()).into_response();
        status = problem.status();
        for (k, v) in problem.headers() {
            if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                headers.append(k.clone(), v.clone());
            }
        }
        if status == StatusCode::TOO_MANY_REQUESTS && !headers.contains_key(header::RETRY_AFTER) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED
            && let Some(url) = &env.resource_metadata
        {
            let current = headers
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("Bearer realm=\"mcp-prompts\"")
                .to_string();
            if let Ok(v) = HeaderValue::from_str(&format!("{current}, resource_metadata=\"{url}\""))
            {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
    } else {
        for (k, v) in crate::http::problem::policy_headers(outcome.headers) {
            headers.append(k, v);
        }
    }
    if let Some(threshold) = level {
        for l in outcome
            .logs
            .iter()
            .filter(|l| crate::mcp::log_passes(l.level, threshold))
        {
            pre.push(json!({"jsonrpc": "2.0", "method": "notifications/message",
                "params": {"level": l.level, "logger": "mcp-prompts", "data": l.data}}));
        }
    }
    let mut resp = if pre.is_empty() {
        json_response(status, &reply)
    } else {
        pre.push(reply);
        let mut r = sse(&pre);
        *r.status_mut() = status;
        r
    };
    resp.headers_mut().extend(headers);
    resp
}

/// A change applied to a session record by compare-and-set (retried on conflict).
type SessionChange = Box<dyn Fn(&mut session::Session) -> Result<(), String> + Send + Sync>;

/// `resources/subscribe`, `resources/unsubscribe` and `logging/setLevel`: settings of the
/// session, kept in its record so every host's event streams see them.
async fn session_setting(
    env: &Call,
    s: &session::Session,
    id: &Value,
    method: &str,
    params: Option<&Value>,
) -> Value {
    let bad = |m: String| rpc_error(Some(id), &ErrorData::invalid_params(m, None));
    let ok = json!({"jsonrpc": "2.0", "id": id, "result": {}});
    let storage = &env.app.storage;
    let tenant = &env.request.caller.tenant;
    let change: SessionChange = match method {
        "logging/setLevel" => {
            let Some(level) = params.and_then(|p| p.get("level")).and_then(Value::as_str) else {
                return bad("logging/setLevel needs params.level".into());
            };
            if !crate::mcp::LOG_LEVELS.contains(&level) {
                return bad(format!(
                    "unknown log level {level:?}; use one of {}",
                    crate::mcp::LOG_LEVELS.join(", ")
                ));
            }
            let level = level.to_string();
            Box::new(move |s| {
                s.log_level = Some(level.clone());
                Ok(())
            })
        }
        _ => {
            let Some(uri) = params.and_then(|p| p.get("uri")).and_then(Value::as_str) else {
                return bad(format!("{method} needs params.uri"));
            };
            let uri = uri.to_string();
            if method == "resources/unsubscribe" {
                Box::new(move |s| {
                    s.subscriptions.retain(|u| *u != uri);
                    Ok(())
                })
            } else {
                let not_found = || {
                    rpc_error(
                        Some(id),
                        &ErrorData::resource_not_found(
                            format!("no resource {uri}"),
                            Some(json!({"uri": uri})),
                        ),
                    )
                };
                let Some(prompt) = crate::mcp::resources::parse(&uri) else {
                    return not_found();
                };
                if uri.len() > session::MAX_URI_BYTES {
                    return bad(format!(
                        "resource URI longer than {} bytes",
                        session::MAX_URI_BYTES
                    ));
                }
                // Subscribing reads the prompt: the same access rules as reading it.
                if let Err(e) = env.get(&prompt, None).await {
                    if e.kind == service::ErrorKind::NotFound {
                        return not_found();
                    }
                    return rpc_error(
                        Some(id),
                        &crate::mcp::errors::to_error(&e, ErrorCode::RESOURCE_NOT_FOUND),
                    );
                }
                Box::new(move |s| {
                    if s.subscriptions.contains(&uri) {
                        return Ok(());
                    }
                    if s.subscriptions.len() >= session::MAX_SUBSCRIPTIONS {
                        return Err(format!(
                            "a session may hold {} subscriptions; unsubscribe first",
                            session::MAX_SUBSCRIPTIONS
                        ));
                    }
                    s.subscriptions.push(uri.clone());
                    Ok(())
                })
            }
        }
    };
    match session::update(storage, tenant, &s.id, change).await {
        Ok(_) => ok,
        Err(session::UpdateError::Refused(m)) => bad(m),
        Err(session::UpdateError::Gone) => rpc_error(
            Some(id),
            &ErrorData::new(
                ErrorCode(-32001),
                "session not found or expired: send initialize to start a new one",
                None,
            ),
        ),
        Err(session::UpdateError::Storage(e)) => {
            tracing::warn!(error = %e, "MCP session store unavailable");
            rpc_error(
                Some(id),
                &ErrorData::internal_error("session storage is temporarily unavailable", None),
            )
        }
    }
}

/// The session named by the request, if it is live and belongs to the caller. Another
/// subject's (or tenant's) session is indistinguishable from none: 404.
async fn load_session(env: &Call, sid: &str) -> Result<session::Session, Response<Body>> {
    let not_found = || {
        rpc_error_response(
            StatusCode::NOT_FOUND,
            None,
            ErrorData::new(
                ErrorCode(-32001),
                "session not found or expired: send initialize to start a new one",
                None,
            ),
        )
    };
    match session::load(&env.app.storage, &env.request.caller.tenant, sid).await {
        Ok(Some(s)) if s.subject == subject(env) => Ok(s),
        Ok(_) => Err(not_found()),
        Err(e) => Err(unavailable(env, e)),
    }
}

async fn initialize(env: &Call, id: &Value, msg: &Value) -> Response<Body> {
    let params = msg.get("params").cloned().unwrap_or(json!({}));
    let init: InitializeRequestParams = match serde_json::from_value(params.clone()) {
        Ok(p) => p,
        Err(e) => {
            return rpc_error_response(
                StatusCode::OK,
                Some(id),
                ErrorData::invalid_params(format!("invalid initialize params: {e}"), None),
            );
        }
    };
    let negotiated = version::negotiate(init.protocol_version.as_str());
    // A session costs storage: starting one passes the policy chain (and its rate
    // limits) like every other call.
    if env.authorize_session().await.is_err() {
        let reply = rpc_error(
            Some(id),
            &ErrorData::internal_error("the session could not be authorised", None),
        );
        return finish(env, reply, Vec::new(), None);
    }
    let client = session::ClientInfo::from_params(&params);
    let mcp = &env.request.snapshot.config.config.mcp;
    let s = match session::create(
        &env.app.storage,
        &env.request.caller.tenant,
        subject(env),
        negotiated.as_str(),
        client,
        mcp.session_ttl,
        mcp.max_sessions_per_principal,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return unavailable(env, e),
    };
    let info = rmcp::ServerHandler::get_info(&PromptServer::http(env.app.clone()))
        .with_protocol_version(negotiated.clone());
    let reply = json!({"jsonrpc": "2.0", "id": id, "result": info});
    let mut resp = finish(env, reply, Vec::new(), None);
    if let Ok(v) = HeaderValue::from_str(&s.id) {
        resp.headers_mut().insert(SESSION_HEADER, v);
    }
    tracing::info!(request_id = %env.request.id, version = %negotiated, "MCP session started");
    resp
}

/// A 2026-07-28 request: no session; version, method and name checked per request.
async fn stateless_request(
    env: &Call,
    h: &HeaderMap,
    id: Value,
    method: String,
    msg: Value,
    meta_version: Option<String>,
    header_version: Option<String>,
) -> Response<Body> {
    let bad = |e: ErrorData| rpc_error_response(StatusCode::BAD_REQUEST, Some(&id), e);
    let requested = meta_version
        .clone()
        .or(header_version.clone())
        .unwrap_or_else(|| {
            rmcp::model::ProtocolVersion::V_2026_07_28
                .as_str()
                .to_string()
        });
    if !version::is_supported(&requested) || version::has_sessions(&requested) {
        return bad(unsupported(&requested));
    }
    if header_version.as_deref() != Some(requested.as_str()) {
        return bad(ErrorData::header_mismatch(
            format!(
                "MCP-Protocol-Version header {:?} does not match the request's _meta version {requested}",
                header_version.as_deref().unwrap_or("(missing)")
            ),
            None,
        ));
    }
    if let Err(m) = check_standard_headers(h, &method, msg.get("params")) {
        return bad(ErrorData::header_mismatch(m, None));
    }
    let reply = if method == "ping" {
        json!({"jsonrpc": "2.0", "id": id, "result": {}})
    } else {
        let meta = msg
            .get("params")
            .and_then(|p| p.get("_meta"))
            .cloned()
            .unwrap_or(json!({}));
        let client_info = meta
            .get("io.modelcontextprotocol/clientInfo")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_else(|| rmcp::model::Implementation::new("unknown", "0"));
        let caps = meta
            .get("io.modelcontextprotocol/clientCapabilities")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let peer = InitializeRequestParams::new(caps, client_info)
            .with_protocol_version(version::parse(&requested));
        dispatch(env, id, msg, peer).await
    };
    finish(env, reply, Vec::new(), None)
}

/// Request methods of the MCP revisions we speak.
const STANDARD_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "prompts/list",
    "prompts/get",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
];

/// Hands one request to the rmcp service (method routing, params, per-revision result
/// shape) and returns its response message.
async fn dispatch(env: &Call, id: Value, msg: Value, peer: InitializeRequestParams) -> Value {
    if msg.get("method").and_then(Value::as_str) == Some("prompts/get") {
        return get_prompt(env, id, msg, &peer).await;
    }
    let mut request: JsonRpcRequest<ClientRequest> = match serde_json::from_value(msg) {
        Ok(r) => r,
        Err(e) => {
            return rpc_error(
                Some(&id),
                &ErrorData::invalid_params(format!("invalid params: {e}"), None),
            );
        }
    };
    // rmcp falls back to a custom request when a standard method's params do not fit
    // its type: that is a params error (-32602), not an unknown method.
    if let ClientRequest::CustomRequest(c) = &request.request
        && STANDARD_METHODS.contains(&c.method.as_str())
    {
        return rpc_error(
            Some(&id),
            &ErrorData::invalid_params(format!("invalid params for {}", c.method), None),
        );
    }
    request.request.extensions_mut().insert(env.clone());
    let (transport, mut rx) = rmcp::transport::OneshotTransport::<RoleServer>::new(
        ClientJsonRpcMessage::Request(request),
    );
    let running =
        rmcp::service::serve_directly(PromptServer::http(env.app.clone()), transport, Some(peer));
    let mut reply = None;
    while let Some(m) = rx.recv().await {
        if matches!(
            m,
            ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_)
        ) {
            reply = Some(m);
            break;
        }
    }
    drop(running);
    match reply.map(serde_json::to_value) {
        Some(Ok(v)) => v,
        _ => rpc_error(
            Some(&id),
            &ErrorData::internal_error("the request produced no response", None),
        ),
    }
}

/// `prompts/get`, the hot method, straight to the shared handler: typed params and no
/// rmcp service task per request (`serve_directly` costs a task, channels and a second
/// parse of the whole message through `ClientRequest`). It keeps what rmcp's dispatch
/// checks for this method: params that fit the type (-32602) and, for a request that
/// declares 2026-07-28 or later in `_meta`, the required `_meta` keys.
async fn get_prompt(
    env: &Call,
    id: Value,
    mut msg: Value,
    peer: &InitializeRequestParams,
) -> Value {
    let params = msg
        .as_object_mut()
        .and_then(|m| m.remove("params"))
        .unwrap_or(Value::Null);
    let params: GetPromptRequestParams = match serde_json::from_value(params) {
        Ok(p) => p,
        Err(_) => {
            return rpc_error(
                Some(&id),
                &ErrorData::invalid_params("invalid params for prompts/get", None),
            );
        }
    };
    if let Some(meta) = &params.meta
        && meta
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
    {
        let missing = meta.missing_required_keys(&ProtocolVersion::V_2026_07_28);
        if !missing.is_empty() {
            let m = format!(
                "request _meta is missing or has malformed required fields: {}",
                missing.join(", ")
            );
            return rpc_error(Some(&id), &ErrorData::invalid_params(m, None));
        }
    }
    let links = crate::mcp::prompts::has_resource_links(peer.protocol_version.as_str());
    match crate::mcp::server::get_prompt(env, params, links).await {
        Ok(result) => match serde_json::to_value(result) {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(e) => rpc_error(
                Some(&id),
                &ErrorData::internal_error(format!("unserialisable result: {e}"), None),
            ),
        },
        Err(e) => rpc_error(Some(&id), &e),
    }
}
