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
            resource: None,
            audience: None,
            scopes_supported: Vec::new(),
            session_ttl: SESSION_TTL,
            page_size: PAGE_SIZE,
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
