//! RFC 9728 OAuth 2.0 Protected Resource Metadata for the MCP endpoint, served at
//! `/.well-known/oauth-protected-resource` and `/.well-known/oauth-protected-resource/mcp`
//! (the path-suffixed form MCP clients try first), and the `resource_metadata` link that
//! every 401 from `/mcp` carries so a client can find the authorization server.

use crate::app::Snapshot;
use crate::http::{Body, Problem};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};

pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// True for the metadata paths.
pub fn is_metadata_path(snapshot: &Snapshot, path: &str) -> bool {
    let mcp = &snapshot.config.config.mcp;
    mcp.enabled
        && (path == WELL_KNOWN || path == format!("{WELL_KNOWN}{}", mcp.path.trim_end_matches('/')))
}

/// The authority the client addressed: HTTP/2 `:authority`, else the `Host` header.
pub fn request_host<B>(req: &Request<B>) -> Option<String> {
    if let Some(a) = req.uri().authority() {
        return Some(a.as_str().to_string());
    }
    let mut all = req.headers().get_all(header::HOST).iter();
    let first = all.next()?;
    if all.next().is_some() {
        return None;
    }
    first.to_str().ok().map(str::to_string)
}

/// The DNS-rebinding defence of `/mcp` and its metadata: the addressed host must be one
/// of `mcp.allowed_hosts` (issue 14; one list for MCP and the RFC 9728 URLs). Checked
/// before anything else runs.
pub fn check_host<B>(snapshot: &Snapshot, req: &Request<B>) -> Result<String, Response<Body>> {
    let refuse = |detail: String| {
        Err(Problem::new(
            StatusCode::MISDIRECTED_REQUEST,
            "forbidden-host",
            "Misdirected Request",
            detail,
        )
        .into_response())
    };
    let Some(host) = request_host(req) else {
        return refuse("the request names no single Host".into());
    };
    // Only a bare authority: `localhost@evil.example` or a path is not a host name.
    let valid = host
        .parse::<http::uri::Authority>()
        .is_ok_and(|a| a.as_str() == host && !host.contains('@'));
    if !valid || !snapshot.config.config.mcp.host_allowed(&host) {
        return refuse(
            "this Host is not served by the MCP endpoint (mcp.allowed_hosts)".to_string(),
        );
    }
    Ok(host)
}

/// `scheme://authority` of the server: from `[mcp] resource` when configured, else the
/// validated Host with the listener's own scheme. Forwarding headers are never trusted
/// here: behind a TLS-terminating proxy, configure `resource`.
pub fn origin<B>(snapshot: &Snapshot, req: &Request<B>) -> Option<String> {
    if let Some(r) = &snapshot.config.config.mcp.resource
        && let Ok(uri) = r.parse::<http::Uri>()
        && let (Some(s), Some(a)) = (uri.scheme_str(), uri.authority())
    {
        return Some(format!("{s}://{a}"));
    }
    let scheme = match snapshot.config.config.server.mode {
        crate::config::ListenerMode::Tls => "https",
        crate::config::ListenerMode::Plain => "http",
    };
    let host = check_host(snapshot, req).ok()?;
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// The canonical URI of the MCP endpoint (RFC 9728 `resource`).
pub fn resource<B>(snapshot: &Snapshot, req: &Request<B>) -> Option<String> {
    match &snapshot.config.config.mcp.resource {
        Some(r) => Some(r.clone()),
        None => Some(format!(
            "{}{}",
            origin(snapshot, req)?,
            snapshot.config.config.mcp.path.trim_end_matches('/')
        )),
    }
}

/// Where the metadata of the MCP endpoint lives.
pub fn metadata_url<B>(snapshot: &Snapshot, req: &Request<B>) -> Option<String> {
    Some(format!(
        "{}{WELL_KNOWN}{}",
        origin(snapshot, req)?,
        snapshot.config.config.mcp.path.trim_end_matches('/')
    ))
}

pub fn serve<B>(snapshot: &Snapshot, req: &Request<B>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return crate::http::method_not_allowed("GET, HEAD");
    }
    let resource = match check_host(snapshot, req) {
        Ok(_) => resource(snapshot, req),
        Err(r) => return r,
    };
    let mcp = &snapshot.config.config.mcp;
    // Clients can obtain tokens from the OIDC issuers (Cognito); the development issuer is
    // named only when it is the only one (it has no authorization endpoint of its own).
    let mut servers = snapshot.auth.oidc_issuers();
    if servers.is_empty() {
        servers = snapshot.auth.issuers();
    }
    let body = serde_json::json!({
        "resource": resource,
        "authorization_servers": servers,
        "scopes_supported": mcp.scopes_supported,
        "bearer_methods_supported": ["header"],
        "resource_name": "mcp-prompts",
    });
    let mut resp = crate::http::json(StatusCode::OK, &body);
    // Identical for everyone who addressed the same (allowed) host; a shared cache must
    // still key it by Host when the URLs are derived from it.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    if mcp.resource.is_none() {
        resp.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Host"));
    }
    resp
}

/// Adds `resource_metadata="…"` to a 401's `WWW-Authenticate` challenge.
pub fn add_challenge_link<B>(snapshot: &Snapshot, req: &Request<B>, resp: &mut Response<Body>) {
    if resp.status() != StatusCode::UNAUTHORIZED {
        return;
    }
    let Some(url) = metadata_url(snapshot, req) else {
        return;
    };
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
