//! `[mcp]` and `[mcp.stdio]`: the MCP endpoint (docs/mcp.md) and the local principal of
//! `mcp-prompts stdio`.

use super::names::{is_valid_name, is_valid_origin};
use super::{ConfigError, Ctx, RouteConfig, cross_table};
use serde::Deserialize;
use std::time::Duration;

/// Where the Streamable HTTP endpoint is mounted.
const PATH: &str = "/mcp";
/// Idle lifetime of a session.
const SESSION_TTL: Duration = Duration::from_secs(3600);
/// Items per page of the list methods and tools; clients ask for the next page.
const PAGE_SIZE: u32 = 50;
/// Sessions one principal (a subject, or all anonymous callers of a tenant) may hold.
const MAX_SESSIONS: usize = 16;
/// Keep-alive comment interval of the server-to-client event stream.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Slowest poll of the change feed by an idle event stream (it starts at 250 ms).
const POLL_MAX: Duration = Duration::from_secs(2);
/// Who `mcp-prompts stdio` acts as: the person at this machine, on the free tier.
const STDIO_SUBJECT: &str = "local";
const STDIO_TIER: &str = "free";
/// Paths the server answers itself. `/users` is not among them: the MCP endpoint may be
/// mounted under it, as the REST routes may not.
const BUILT_IN: &[&str] = &["/health", "/ready", "/metrics", "/.well-known"];

/// The MCP endpoint (docs/mcp.md). It serves the prompts of one REST route, with that
/// route's handler, auth mode and policy chain, so both APIs enforce the same rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    pub enabled: bool,
    /// Where the Streamable HTTP endpoint is mounted.
    pub path: String,
    /// The REST route (its `path`) whose handler, auth and policies MCP uses; default: the
    /// first route.
    pub route: Option<String>,
    /// Browser origins allowed to call the endpoint; a request with any other `Origin`
    /// header is refused (403). Requests without `Origin` (non-browser clients) pass.
    pub allowed_origins: Vec<String>,
    /// `Host` header values (name, optionally `:port`) the endpoint answers; a name without
    /// a port matches any port. Default: `localhost`, `127.0.0.1`, `[::1]`, plus the host of
    /// `resource` when set. Any other Host is refused (421) before anything else runs.
    pub allowed_hosts: Vec<String>,
    /// Canonical URI of the endpoint (RFC 9728 `resource`), e.g.
    /// "https://prompts.example.com/mcp"; default: derived from the request's Host.
    pub resource: Option<String>,
    /// When set, bearer tokens on `/mcp` must name it in `aud` (audience binding).
    pub audience: Option<String>,
    /// Scopes advertised in the protected-resource metadata.
    pub scopes_supported: Vec<String>,
    /// Idle lifetime of a session (revisions 2025-06-18 and 2025-11-25).
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Items per page of `prompts/list`, `resources/list` and the `list_prompts` tool.
    pub page_size: u32,
    /// Sessions one principal may hold; starting one more ends its oldest.
    pub max_sessions_per_principal: usize,
    /// Keep-alive comment interval of the `GET` event stream.
    #[serde(with = "humantime_serde")]
    pub keepalive: Duration,
    /// Slowest change-feed poll of an idle event stream (backoff from 250 ms).
    #[serde(with = "humantime_serde")]
    pub poll_max: Duration,
    /// Who `mcp-prompts stdio` acts as.
    pub stdio: McpStdioConfig,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            path: PATH.into(),
            route: None,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            resource: None,
            audience: None,
            scopes_supported: Vec::new(),
            session_ttl: SESSION_TTL,
            page_size: PAGE_SIZE,
            max_sessions_per_principal: MAX_SESSIONS,
            keepalive: KEEPALIVE,
            poll_max: POLL_MAX,
            stdio: McpStdioConfig::default(),
        }
    }
}

/// The local principal of `mcp-prompts stdio` (a desktop client has no bearer token).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpStdioConfig {
    pub subject: String,
    /// Default: `auth.default_tenant`.
    pub tenant: Option<String>,
    pub scopes: Vec<String>,
    pub groups: Vec<String>,
    pub tier: String,
}

impl Default for McpStdioConfig {
    fn default() -> Self {
        Self {
            subject: STDIO_SUBJECT.into(),
            tenant: None,
            scopes: Vec::new(),
            groups: Vec::new(),
            tier: STDIO_TIER.into(),
        }
    }
}

impl McpConfig {
    /// Checks `[mcp]`; its path and route are checked against `routes` (cross_table.rs).
    pub(super) fn validate(&self, routes: &[RouteConfig], cx: &Ctx) -> Result<(), ConfigError> {
        let path = self.path.trim_end_matches('/');
        if !self.path.starts_with('/') || path.is_empty() || path.contains(['{', '*', '?', '#']) {
            return Err(cx.invalid("mcp.path", "must be a literal path starting with '/'"));
        }
        if BUILT_IN
            .iter()
            .any(|r| path == *r || path.starts_with(&format!("{r}/")))
        {
            return Err(cx.invalid("mcp.path", format!("{path} is a built-in route")));
        }
        cross_table::mcp_beside_routes(self, routes, cx)?;
        for o in &self.allowed_origins {
            if !is_valid_origin(o) {
                return Err(cx.invalid(
                    "mcp.allowed_origins",
                    format!("{o:?} is not an origin: use scheme://host[:port]"),
                ));
            }
        }
        for h in &self.allowed_hosts {
            let authority = h.parse::<http::uri::Authority>();
            if !authority.is_ok_and(|a| a.as_str() == h) || h.contains('@') {
                return Err(cx.invalid(
                    "mcp.allowed_hosts",
                    format!("{h:?} is not a host name: use host or host:port"),
                ));
            }
        }
        if self.max_sessions_per_principal == 0 || self.max_sessions_per_principal > 1000 {
            return Err(cx.invalid("mcp.max_sessions_per_principal", "must be from 1 to 1000"));
        }
        if self.keepalive < Duration::from_secs(1) || self.poll_max < Duration::from_millis(250) {
            return Err(cx.invalid(
                "mcp.keepalive",
                "keepalive must be at least 1s and poll_max at least 250ms",
            ));
        }
        if let Some(r) = &self.resource
            && (!r.starts_with("https://") && !r.starts_with("http://") || r.contains('#'))
        {
            return Err(cx.invalid(
                "mcp.resource",
                "must be an absolute http(s) URI without a fragment",
            ));
        }
        if self.audience.as_deref().is_some_and(str::is_empty) {
            return Err(cx.invalid("mcp.audience", "must not be empty"));
        }
        if self.page_size == 0 || self.page_size > 100 {
            return Err(cx.invalid("mcp.page_size", "must be from 1 to 100"));
        }
        if self.session_ttl < Duration::from_secs(1) {
            return Err(cx.invalid("mcp.session_ttl", "must be at least 1s"));
        }
        self.stdio.validate(cx)
    }
}

impl McpConfig {
    /// The hosts `/mcp` and its metadata answer (see `allowed_hosts`).
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let (name, _port) = split_host(&host);
        let configured = self.allowed_hosts.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a == host || (split_host(&a).1.is_none() && split_host(&a).0 == name)
        });
        if configured {
            return true;
        }
        if let Some(r) = self
            .resource
            .as_deref()
            .and_then(|r| r.parse::<http::Uri>().ok())
            && let Some(a) = r.authority()
        {
            let rh = a.as_str().to_ascii_lowercase();
            if rh == host || (a.port().is_none() && split_host(&rh).0 == name) {
                return true;
            }
        }
        self.allowed_hosts.is_empty() && ["localhost", "127.0.0.1", "[::1]"].contains(&name)
    }
}

/// `host[:port]` → (host, port); IPv6 literals keep their brackets.
fn split_host(h: &str) -> (&str, Option<&str>) {
    if let Some(end) = h.find(']') {
        let (name, rest) = h.split_at(end + 1);
        return (name, rest.strip_prefix(':'));
    }
    match h.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (h, None),
    }
}

impl McpStdioConfig {
    fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        if let Some(t) = &self.tenant
            && !is_valid_name(t)
        {
            return Err(cx.invalid("mcp.stdio.tenant", "not a valid tenant name"));
        }
        if self.subject.is_empty() {
            return Err(cx.invalid("mcp.stdio.subject", "must not be empty"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_allow_list() {
        let mut c = McpConfig::default();
        for h in [
            "localhost",
            "localhost:3003",
            "127.0.0.1:1",
            "[::1]:8443",
            "LOCALHOST",
        ] {
            assert!(c.host_allowed(h), "{h}");
        }
        for h in [
            "evil.example",
            "localhost.evil.example",
            "127.0.0.2",
            "evil.example:3003",
        ] {
            assert!(!c.host_allowed(h), "{h}");
        }
        c.allowed_hosts = vec![
            "prompts.example.com".into(),
            "admin.example.com:8443".into(),
        ];
        assert!(c.host_allowed("prompts.example.com:443"));
        assert!(c.host_allowed("admin.example.com:8443"));
        assert!(!c.host_allowed("admin.example.com:9999"));
        assert!(
            !c.host_allowed("localhost"),
            "an explicit list replaces the loopback default"
        );
        c.resource = Some("https://api.example.com/mcp".into());
        assert!(c.host_allowed("api.example.com"));
        assert!(c.host_allowed("api.example.com:443"));
    }
}
