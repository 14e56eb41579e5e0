//! RFC 9728 OAuth 2.0 Protected Resource Metadata for the MCP endpoint, served at
//! `/.well-known/oauth-protected-resource` and `/.well-known/oauth-protected-resource/mcp`
//! (the path-suffixed form MCP clients try first), and the `resource_metadata` link that
//! every 401 from `/mcp` carries so a client can find the authorization server.

use crate::app::Snapshot;
use crate::http::Body;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};

pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// True for the metadata paths.
pub fn is_metadata_path(snapshot: &Snapshot, path: &str) -> bool {
    let mcp = &snapshot.config.config.mcp;
    mcp.enabled
        && (path == WELL_KNOWN || path == format!("{WELL_KNOWN}{}", mcp.path.trim_end_matches('/')))
}

/// `scheme://authority` of the server as the client addressed it: from `[mcp] resource`
/// when configured, else from the request (`X-Forwarded-Proto` behind a load balancer).
pub fn origin<B>(snapshot: &Snapshot, req: &Request<B>) -> String {
    if let Some(r) = &snapshot.config.config.mcp.resource
        && let Ok(uri) = r.parse::<http::Uri>()
        && let (Some(s), Some(a)) = (uri.scheme_str(), uri.authority())
    {
        return format!("{s}://{a}");
    }
    let scheme = match req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("http") => "http",
        _ => "https",
    };
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .filter(|h| h.parse::<http::uri::Authority>().is_ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "localhost".into());
    format!("{scheme}://{host}")
}

/// The canonical URI of the MCP endpoint (RFC 9728 `resource`).
pub fn resource<B>(snapshot: &Snapshot, req: &Request<B>) -> String {
    match &snapshot.config.config.mcp.resource {
        Some(r) => r.clone(),
        None => format!(
            "{}{}",
            origin(snapshot, req),
            snapshot.config.config.mcp.path.trim_end_matches('/')
        ),
    }
}

/// Where the metadata of the MCP endpoint lives.
pub fn metadata_url<B>(snapshot: &Snapshot, req: &Request<B>) -> String {
    format!(
        "{}{WELL_KNOWN}{}",
        origin(snapshot, req),
        snapshot.config.config.mcp.path.trim_end_matches('/')
    )
}

pub fn serve<B>(snapshot: &Snapshot, req: &Request<B>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return crate::http::method_not_allowed("GET, HEAD");
    }
    let mcp = &snapshot.config.config.mcp;
    // Clients can obtain tokens from the OIDC issuers (Cognito); the development issuer is
    // named only when it is the only one (it has no authorization endpoint of its own).
    let mut servers = snapshot.auth.oidc_issuers();
    if servers.is_empty() {
        servers = snapshot.auth.issuers();
    }
    let body = serde_json::json!({
        "resource": resource(snapshot, req),
        "authorization_servers": servers,
        "scopes_supported": mcp.scopes_supported,
        "bearer_methods_supported": ["header"],
        "resource_name": "mcp-prompts",
    });
    let mut resp = crate::http::json(StatusCode::OK, &body);
    // Public, identical for everyone: caching it is fine.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// Adds `resource_metadata="…"` to a 401's `WWW-Authenticate` challenge.
pub fn add_challenge_link<B>(snapshot: &Snapshot, req: &Request<B>, resp: &mut Response<Body>) {
    if resp.status() != StatusCode::UNAUTHORIZED {
        return;
    }
    let url = metadata_url(snapshot, req);
    let current = resp
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Bearer realm=\"mcp-prompts\"")
        .to_string();
    if let Ok(v) = HeaderValue::from_str(&format!("{current}, resource_metadata=\"{url}\"")) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
}
