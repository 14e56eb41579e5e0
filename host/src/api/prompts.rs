//! `/v1/prompts` (or wherever a route mounts a prompt handler):
//!
//! | method | path | plugin call |
//! |---|---|---|
//! | GET | `` | list |
//! | POST | `` | create |
//! | GET | `/{id}` (`?version=N`) | get |
//! | PUT | `/{id}` (`If-Match`) | update |
//! | DELETE | `/{id}` | delete |
//! | GET | `/{id}/versions` | versions |
//! | POST | `/{id}/apply` | apply |

use super::{FieldError, Problem};
use crate::app::{App, Route};
use crate::plugins::bindings::{access_policy, prompts, types};
use crate::plugins::{CallScope, PluginFailure};
use crate::router::{Body, RequestContext, method_not_allowed};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::value::RawValue;
use std::sync::Arc;

pub(crate) const DEFAULT_LIMIT: u32 = 20;

/// Characters escaped in a path segment: everything but RFC 3986 unreserved characters.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
pub(crate) const MAX_LIMIT: u32 = 100;

/// What a request addresses below the route's prefix.
enum Target {
    Collection,
    Item(String),
    Versions(String),
    Apply(String),
}

impl Target {
    fn parse(rest: &str) -> Result<Self, Problem> {
        let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let id = |s: &str| -> Result<String, Problem> {
            let decoded = percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map_err(|_| Problem::bad_request("invalid-id", "prompt id is not valid UTF-8"))?;
            Ok(decoded.into_owned())
        };
        match segs.as_slice() {
            [""] => Ok(Target::Collection),
            [i] if !i.is_empty() => Ok(Target::Item(id(i)?)),
            [i, "versions"] if !i.is_empty() => Ok(Target::Versions(id(i)?)),
            [i, "apply"] if !i.is_empty() => Ok(Target::Apply(id(i)?)),
            _ => Err(Problem::not_found(format!("no resource at {rest}"))),
        }
    }

    fn allow(&self) -> &'static str {
        match self {
            Target::Collection => "GET, POST",
            Target::Item(_) => "GET, PUT, DELETE",
            Target::Versions(_) => "GET",
            Target::Apply(_) => "POST",
        }
    }

    fn pattern(&self, base: &str) -> String {
        match self {
            Target::Collection => base.to_string(),
            Target::Item(_) => format!("{base}/{{id}}"),
            Target::Versions(_) => format!("{base}/{{id}}/versions"),
            Target::Apply(_) => format!("{base}/{{id}}/apply"),
        }
    }

    fn id(&self) -> Option<&str> {
        match self {
            Target::Collection => None,
            Target::Item(i) | Target::Versions(i) | Target::Apply(i) => Some(i),
        }
    }
}

/// Serves one request on a prompt route.
pub async fn serve<B>(
    app: &Arc<App>,
    ctx: &RequestContext,
    route: &Route,
    rest: &str,
    req: Request<B>,
) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let target = match Target::parse(rest) {
        Ok(t) => t,
        Err(p) => return p.into_response(),
    };
    let action = match (req.method(), &target) {
        (&Method::GET, Target::Collection) => "list",
        (&Method::POST, Target::Collection) => "create",
        (&Method::GET, Target::Item(_) | Target::Versions(_)) => "read",
        (&Method::PUT, Target::Item(_)) => "update",
        (&Method::DELETE, Target::Item(_)) => "delete",
        (&Method::POST, Target::Apply(_)) => "render",
        _ => return method_not_allowed(target.allow()),
    };
    let extra_headers = match check_policies(app, ctx, route, &req, &target, action).await {
        Ok(h) => h,
        Err(resp) => return resp,
    };
    let mut resp = match run(app, ctx, route, &target, req).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    };
    // MCP sessions learn of REST writes too (notifications/prompts/list_changed).
    if matches!(action, "create" | "update" | "delete")
        && resp.status().is_success()
        && ctx.snapshot.config.config.mcp.enabled
    {
        crate::mcp::session::prompts_changed(app.runtime.storage(), &ctx.tenant).await;
    }
    for (k, v) in extra_headers {
        resp.headers_mut().append(k, v);
    }
    resp
}

pub(crate) fn call_context(ctx: &RequestContext) -> types::CallContext {
    types::CallContext {
        request_id: ctx.request_id.clone(),
        principal: ctx.principal.as_ref().map(|p| types::Principal {
            subject: p.subject.clone(),
            tenant: p.tenant.clone(),
            scopes: p.scopes.clone(),
            groups: p.groups.clone(),
            tier: p.tier.clone(),
        }),
        tenant: ctx.tenant.clone(),
    }
}

/// Consults the route's policies in order; the first denial answers the request.
async fn check_policies<B>(
    app: &Arc<App>,
    ctx: &RequestContext,
    route: &Route,
    req: &Request<B>,
    target: &Target,
    action: &str,
) -> Result<Vec<(HeaderName, HeaderValue)>, Response<Body>> {
    decide(
        app,
        ctx,
        route,
        req.method().as_str(),
        target.pattern(&route.path),
        target.id().map(str::to_string),
        action,
    )
    .await
    .map_err(Problem::into_response)
}

/// The route's policy chain for one action (shared with the MCP endpoint, which asks the
/// same policies with its own method and route pattern). A denial is a problem with the
/// policy's status (401, 403 or 429) and headers.
pub(crate) async fn decide(
    app: &Arc<App>,
    ctx: &RequestContext,
    route: &Route,
    method: &str,
    pattern: String,
    resource: Option<String>,
    action: &str,
) -> Result<Vec<(HeaderName, HeaderValue)>, Problem> {
    // A shared catalog route refuses writes before any policy runs, for REST and MCP alike.
    // Writes only address the collection or an item, where GET is what remains.
    if route.read_only && matches!(action, "create" | "update" | "delete") {
        return Err(Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "read-only",
            "Method Not Allowed",
            format!("{} is a read-only catalog", route.path),
        )
        .with_header(header::ALLOW, "GET"));
    }
    let mut headers = Vec::new();
    for policy in &route.policies {
        let cc = call_context(ctx);
        let info = access_policy::RequestInfo {
            request_id: cc.request_id,
            principal: cc.principal,
            tenant: cc.tenant,
            method: method.to_string(),
            route: pattern.clone(),
            resource: resource.clone(),
            action: action.to_string(),
        };
        let scope = CallScope::new(&ctx.request_id, &ctx.tenant);
        let decision = app
            .runtime
            .decide(policy, &scope, info)
            .await
            .map_err(|f| failure(ctx, f))?;
        match decision {
            access_policy::Decision::Allow => {}
            access_policy::Decision::AllowWith(hs) => headers.extend(plugin_headers(hs)),
            access_policy::Decision::Deny(d) => {
                let status = match d.status {
                    401 => StatusCode::UNAUTHORIZED,
                    429 => StatusCode::TOO_MANY_REQUESTS,
                    _ => StatusCode::FORBIDDEN,
                };
                // A missing scope is an RFC 6750 `insufficient_scope` refusal, with the
                // scopes in the challenge (only valid scope tokens are echoed).
                let scopes: Vec<&str> = d
                    .required_scopes
                    .iter()
                    .map(String::as_str)
                    .filter(|s| crate::config::is_scope_token(s))
                    .collect();
                let insufficient = status == StatusCode::FORBIDDEN && !scopes.is_empty();
                let (slug, title) = match status {
                    StatusCode::UNAUTHORIZED => ("unauthorized", "Unauthorized"),
                    StatusCode::TOO_MANY_REQUESTS => ("rate-limited", "Too Many Requests"),
                    _ if insufficient => ("insufficient-scope", "Forbidden"),
                    _ => ("forbidden", "Forbidden"),
                };
                let mut p = Problem::new(status, slug, title, d.reason);
                p.headers.extend(plugin_headers(d.headers));
                if status == StatusCode::UNAUTHORIZED {
                    p = p.with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"mcp-prompts\"");
                } else if insufficient {
                    p = p.with_header(
                        header::WWW_AUTHENTICATE,
                        &format!(
                            "Bearer realm=\"mcp-prompts\", error=\"insufficient_scope\", scope=\"{}\"",
                            scopes.join(" ")
                        ),
                    );
                }
                return Err(p);
            }
        }
    }
    Ok(headers)
}

/// Headers a policy may set. Framing and security headers stay the host's.
fn plugin_headers(hs: Vec<access_policy::Header>) -> Vec<(HeaderName, HeaderValue)> {
    const RESERVED: &[&str] = &[
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "set-cookie",
        "strict-transport-security",
        "www-authenticate",
        "x-request-id",
    ];
    hs.into_iter()
        .filter_map(|h| {
            let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
            // CORS is the host's too (router/cors.rs, from `[cors]`).
            if RESERVED.contains(&name.as_str()) || name.as_str().starts_with("access-control-") {
                return None;
            }
            Some((name, HeaderValue::from_str(&h.value).ok()?))
        })
        .collect()
}

async fn run<B>(
    app: &Arc<App>,
    ctx: &RequestContext,
    route: &Route,
    target: &Target,
    req: Request<B>,
) -> Result<Response<Body>, Problem>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let scope = CallScope::new(&ctx.request_id, &ctx.tenant);
    let cc = call_context(ctx);
    let rt = &app.runtime;
    let plugin = &route.handler;
    match (req.method().clone(), target) {
        (Method::GET, Target::Collection) => {
            let query = list_query(req.uri().query())?;
            let page = rt
                .handler(plugin, &scope, move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_list(&mut s, &cc, &query)
                        .await
                })
                .await
                .map_err(|f| failure(ctx, f))?
                .map_err(|e| handler_error(ctx, e))?;
            let prompts = raw(ctx, page.prompts_json)?;
            let body = serde_json::json!({ "prompts": prompts, "nextCursor": page.next_cursor });
            Ok(super::json(StatusCode::OK, &body))
        }
        (Method::POST, Target::Collection) => {
            let body = read_json(req, ctx.max_body).await?;
            let created = rt
                .handler(plugin, &scope, move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_create(&mut s, &cc, &body)
                        .await
                })
                .await
                .map_err(|f| failure(ctx, f))?
                .map_err(|e| handler_error(ctx, e))?;
            let (mut resp, id) = prompt_response(ctx, StatusCode::CREATED, created)?;
            let location = format!(
                "{}/{}",
                route.path,
                percent_encoding::utf8_percent_encode(&id, PATH_SEGMENT)
            );
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        (Method::GET, Target::Item(id)) => {
            let version = version_param(req.uri().query())?;
            let id = id.clone();
            let prompt = rt
                .handler(plugin, &scope, move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_get(&mut s, &cc, &id, version)
                        .await
                })
                .await
                .map_err(|f| failure(ctx, f))?
                .map_err(|e| handler_error(ctx, e))?;
            Ok(prompt_response(ctx, StatusCode::OK, prompt)?.0)
        }
        (Method::PUT, Target::Item(id)) => {
            let expected = if_match(&req)?;
            let body = read_json(req, ctx.max_body).await?;
            let id = id.clone();
            let updated = rt
                .handler(plugin, &scope, move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_update(&mut s, &cc, &id, &body, expected)
                        .await
                })
                .await
                .map_err(|f| failure(ctx, f))?
                .map_err(|e| handler_error(ctx, e))?;
            Ok(prompt_response(ctx, StatusCode::OK, updated)?.0)
        }
        (Method::DELETE, Target::Item(id)) => {
            let id = id.clone();
            rt.handler(plugin, &scope, move |mut s, h| async move {
                h.mcp_prompts_plugin_prompts()
                    .call_delete(&mut s, &cc, &id)
                    .await
            })
            .await
            .map_err(|f| failure(ctx, f))?
            .map_err(|e| handler_error(ctx, e))?;
            let mut resp = Response::new(Body::new(Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            Ok(resp)
        }
        (Method::GET, Target::Versions(id)) => {
            let id = id.clone();
            let versions = rt
                .handler(plugin, &scope, move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_versions(&mut s, &cc, &id)
                        .await
                })
                .await
                .map_err(|f| failure(ctx, f))?
                .map_err(|e| handler_error(ctx, e))?;
            let versions = raw(ctx, versions)?;
            Ok(super::json(
                StatusCode::OK,
                &serde_json::json!({ "versions": versions }),
            ))
        }
        (Method::POST, Target::Apply(id)) => {
            let variables = apply_variables(req, ctx.max_body).await?;
            let id = id.clone();
            let applied = rt
                .handler(plugin, &scope, move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_apply(&mut s, &cc, &id, &variables)
                        .await
                })
                .await
                .map_err(|f| failure(ctx, f))?
                .map_err(|e| handler_error(ctx, e))?;
            Ok(super::json(
                StatusCode::OK,
                &serde_json::json!({
                    "content": applied.content,
                    "appliedVariables": applied.applied_variables,
                    "missingVariables": applied.missing_variables,
                }),
            ))
        }
        _ => Ok(method_not_allowed(target.allow())),
    }
}

/// Plugins return JSON text; it is checked before it reaches a client.
fn raw(ctx: &RequestContext, text: String) -> Result<Box<RawValue>, Problem> {
    RawValue::from_string(text)
        .map_err(|e| internal(ctx, format!("plugin returned invalid JSON: {e}")))
}

/// A prompt as the response body, with its version as the ETag. The plugin's JSON is
/// parsed once: that both checks it is valid JSON and reads `id` and `version`.
fn prompt_response(
    ctx: &RequestContext,
    status: StatusCode,
    prompt: String,
) -> Result<(Response<Body>, String), Problem> {
    #[derive(serde::Deserialize)]
    struct Head {
        id: Option<String>,
        version: Option<u64>,
    }
    let head: Head = serde_json::from_str(&prompt)
        .map_err(|e| internal(ctx, format!("plugin returned an invalid prompt: {e}")))?;
    let mut resp = super::raw_json(status, prompt);
    if let Some(v) = head.version
        && let Ok(h) = HeaderValue::from_str(&format!("\"{v}\""))
    {
        resp.headers_mut().insert(header::ETAG, h);
    }
    Ok((resp, head.id.unwrap_or_default()))
}

/// `If-Match: "3"` (also `W/"3"` or a bare `3`) → Some(3); `*` or absent → None.
pub(crate) fn if_match<B>(req: &Request<B>) -> Result<Option<u64>, Problem> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| Problem::bad_request("invalid-if-match", "If-Match is not ASCII"))?
        .trim();
    if s == "*" {
        return Ok(None);
    }
    let tag = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    tag.parse::<u64>().map(Some).map_err(|_| {
        Problem::bad_request(
            "invalid-if-match",
            format!("If-Match must be a version ETag such as \"3\", got {s}"),
        )
    })
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn version_param(query: Option<&str>) -> Result<Option<u64>, Problem> {
    for (k, v) in query_pairs(query) {
        if k == "version" {
            return match v.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(Some(n)),
                _ => Err(Problem::bad_request(
                    "invalid-parameter",
                    format!("version must be a positive integer, got {v:?}"),
                )),
            };
        }
    }
    Ok(None)
}

fn list_query(query: Option<&str>) -> Result<prompts::ListQuery, Problem> {
    let mut q = prompts::ListQuery {
        category: None,
        tags: vec![],
        text: None,
        access_level: None,
        limit: DEFAULT_LIMIT,
        cursor: None,
    };
    let nonempty = |v: String| (!v.trim().is_empty()).then_some(v);
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "category" => q.category = nonempty(v),
            "tags" | "tag" => q.tags.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
            ),
            "q" | "search" => q.text = nonempty(v),
            "accessLevel" => q.access_level = nonempty(v),
            "cursor" => q.cursor = nonempty(v),
            "limit" => {
                q.limit = match v.parse::<u32>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    _ => {
                        return Err(Problem::bad_request(
                            "invalid-parameter",
                            format!("limit must be an integer from 1 to {MAX_LIMIT}, got {v:?}"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(q)
}

/// Reads a JSON body within the size limit. Returns the text, checked to be valid JSON.
pub(crate) async fn read_json<B>(req: Request<B>, max: usize) -> Result<String, Problem>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported Media Type",
            format!(
                "send the body as application/json (got {:?})",
                if ct.is_empty() { "nothing" } else { ct }
            ),
        ));
    }
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload Too Large",
            format!("request body exceeds {max} bytes"),
        )
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > max as u64
    {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(req.into_body(), max);
    let bytes = match limited.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(too_large());
        }
        Err(e) => {
            return Err(Problem::bad_request(
                "unreadable-body",
                format!("could not read the request body: {e}"),
            ));
        }
    };
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| Problem::bad_request("malformed-json", "request body is not valid UTF-8"))?;
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&text) {
        return Err(Problem::bad_request(
            "malformed-json",
            format!("request body is not valid JSON: {e}"),
        ));
    }
    Ok(text)
}

/// `{"variables": {...}}` → the variables object as JSON text.
async fn apply_variables<B>(req: Request<B>, max: usize) -> Result<String, Problem>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // An empty body means "no variables" so that templates without placeholders are easy.
    let empty = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0");
    if empty {
        return Ok("{}".into());
    }
    let text = read_json(req, max).await?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Problem::bad_request(
            "malformed-json",
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    let invalid = |m: &str| {
        let mut p = Problem::bad_request("validation-failed", m.to_string());
        p.errors = Some(vec![FieldError {
            field: "variables".into(),
            message: m.to_string(),
        }]);
        p
    };
    match value {
        serde_json::Value::Object(mut o) => match o.remove("variables") {
            None | Some(serde_json::Value::Null) => Ok("{}".into()),
            Some(v @ serde_json::Value::Object(_)) => Ok(v.to_string()),
            Some(_) => Err(invalid("variables must be a JSON object")),
        },
        _ => Err(invalid(
            "the body must be a JSON object like {\"variables\": {...}}",
        )),
    }
}

/// Reports a plugin failure: logged with an error id that the client also gets.
pub fn failure(ctx: &RequestContext, f: PluginFailure) -> Problem {
    let error_id = uuid::Uuid::new_v4().to_string();
    tracing::error!(
        error_id = %error_id,
        request_id = %ctx.request_id,
        plugin = f.plugin(),
        failure = %f,
        "plugin call failed"
    );
    let mut p = match &f {
        PluginFailure::Timeout { .. } => Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "plugin-timeout",
            "Gateway Timeout",
            format!("plugin {:?} did not finish in time", f.plugin()),
        ),
        PluginFailure::Limit { what, .. } => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "plugin-limit",
            "Internal Server Error",
            format!("plugin {:?} exceeded its {what} limit", f.plugin()),
        ),
        PluginFailure::Trap { .. } => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "plugin-trap",
            "Internal Server Error",
            format!("plugin {:?} failed", f.plugin()),
        ),
        PluginFailure::Busy { .. } => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "Service Unavailable",
            "the server is at capacity; retry shortly",
        )
        .with_header(header::RETRY_AFTER, "1"),
    };
    p.error_id = Some(error_id);
    p.request_id = Some(ctx.request_id.clone());
    p
}

pub(crate) fn internal(ctx: &RequestContext, message: String) -> Problem {
    let error_id = uuid::Uuid::new_v4().to_string();
    tracing::error!(error_id = %error_id, request_id = %ctx.request_id, "{message}");
    let mut p = Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal Server Error",
        "the server failed to handle the request",
    );
    p.error_id = Some(error_id);
    p.request_id = Some(ctx.request_id.clone());
    p
}

pub(crate) fn handler_error(ctx: &RequestContext, e: prompts::HandlerError) -> Problem {
    use prompts::HandlerError as E;
    match e {
        E::NotFound(m) => Problem::not_found(m),
        E::Invalid(errors) => {
            let detail = errors
                .iter()
                .map(|e| {
                    if e.field.is_empty() {
                        e.message.clone()
                    } else {
                        format!("{}: {}", e.field, e.message)
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            let mut p = Problem::bad_request("validation-failed", detail);
            p.errors = Some(
                errors
                    .into_iter()
                    .map(|e| FieldError {
                        field: e.field,
                        message: e.message,
                    })
                    .collect(),
            );
            p
        }
        E::Conflict(m) => Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", m),
        E::PreconditionFailed(m) => Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Precondition Failed",
            m,
        ),
        E::MissingVariables(names) => {
            let mut p = Problem::bad_request(
                "missing-variables",
                format!("missing required variables: {}", names.join(", ")),
            );
            p.missing_variables = Some(names);
            p
        }
        E::RenderFailed(m) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "render-failed",
            "Unprocessable Content",
            m,
        ),
        E::Forbidden(m) => Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", m),
        E::Unavailable(m) => {
            tracing::warn!(request_id = %ctx.request_id, "storage unavailable: {m}");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service Unavailable",
                "storage is temporarily unavailable",
            )
            .with_header(header::RETRY_AFTER, "1")
        }
        E::Internal(m) => internal(ctx, format!("plugin reported an internal error: {m}")),
    }
}
