//! `[[routes]]`: where the prompt REST API (or a wasi:http component) is mounted, with
//! which handler, auth mode and policy chain.

use super::names::is_valid_name;
use super::{ConfigError, Ctx, PluginConfig, cross_table};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// Anonymous callers may read; a token, when presented, must still be valid.
const AUTH: AuthMode = AuthMode::Optional;
/// Paths the server answers itself; a route under one of them would never be reached.
const BUILT_IN: &[&str] = &["/health", "/ready", "/metrics", "/users", "/.well-known"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// A valid token is required.
    Required,
    /// Anonymous allowed; a presented token must still be valid.
    Optional,
    /// Tokens are not looked at.
    None,
}

// `path` and `handler` are required, so this type has no `Default` to take a
// container-level `#[serde(default)]` from; `auth`, the one optional key with a non-empty
// default, names it through a `default = "…"` function returning the constant above.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Path prefix the prompt REST API is mounted at, e.g. "/v1/prompts".
    pub path: String,
    /// A `prompt-handler` plugin (the prompt REST API) or a `proxy` plugin (a wasi:http
    /// component answering every request under `path`).
    pub handler: String,
    #[serde(default = "default_auth")]
    pub auth: AuthMode,
    /// `policy` plugins consulted in order; the first denial wins.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Scopes every token must carry on this route (403 `insufficient_scope` otherwise).
    /// Needs `auth = "required"`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Serve every request of this route in this tenant, whoever calls: a catalog shared
    /// by all tenants. Usually with `read_only`.
    pub tenant: Option<String>,
    /// Refuse creates, updates and deletes on this route (405).
    #[serde(default)]
    pub read_only: bool,
    /// What a read without `version` or `label` serves: the first of these labels the
    /// prompt has (`latest` always exists, so it belongs last).
    #[serde(default = "default_labels")]
    pub default_labels: Vec<String>,
    /// Labels whose moves (set or remove) need a scope: `production = "prompts:deploy"`.
    /// Enforced for every caller and transport.
    #[serde(default)]
    pub protected_labels: BTreeMap<String, String>,
    /// Requests of this route in flight at once; further ones get 503 with `Retry-After`
    /// before authentication or any plugin runs. Absent: no cap of its own (each plugin's
    /// `max_concurrency` still applies).
    #[serde(default)]
    pub max_concurrency: Option<usize>,
    /// `Cache-Control` of reads pinned to a version (`?version=N`): a version never
    /// changes, so clients may keep it. `""`: the server-wide `no-store`.
    #[serde(default = "default_cache_pinned")]
    pub cache_pinned: String,
    /// `Cache-Control` of reads resolved through a label (`?label=`, or the default
    /// labels): short-lived, with stale fallbacks for revalidation and outages. `""`: the
    /// server-wide `no-store`.
    #[serde(default = "default_cache_resolved")]
    pub cache_resolved: String,
}

/// A pinned version is immutable; a year is the longest `max-age` caches honour.
/// `private`: responses may depend on the caller (tenant, access level).
pub const CACHE_PINNED: &str = "private, max-age=31536000, immutable";
/// A label may move at any time: one minute fresh, then five minutes served stale while
/// revalidating, and a day stale if the server cannot be reached (the leading
/// registries' SDKs cache the same way).
pub const CACHE_RESOLVED: &str =
    "private, max-age=60, stale-while-revalidate=300, stale-if-error=86400";

impl RouteConfig {
    /// The defaults of the prompt API's keys (what a proxy route must leave untouched).
    pub(super) fn prompt_defaults() -> Self {
        Self {
            path: String::new(),
            handler: String::new(),
            auth: AUTH,
            policies: Vec::new(),
            scopes: Vec::new(),
            tenant: None,
            read_only: false,
            default_labels: default_labels(),
            protected_labels: BTreeMap::new(),
            max_concurrency: None,
            cache_pinned: default_cache_pinned(),
            cache_resolved: default_cache_resolved(),
        }
    }
}

fn default_cache_pinned() -> String {
    CACHE_PINNED.to_string()
}

fn default_cache_resolved() -> String {
    CACHE_RESOLVED.to_string()
}

fn default_auth() -> AuthMode {
    AUTH
}

fn default_labels() -> Vec<String> {
    vec!["production".to_string(), "latest".to_string()]
}

/// The label every prompt has; it cannot be moved, so it cannot be protected either.
pub const LATEST_LABEL: &str = "latest";

/// A label name: 1..=64 of `[a-z0-9._-]`, starting with a letter or digit (the default
/// prompt store's rule; labels become kv keys and URL segments).
pub fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// RFC 6749 §3.3 `scope-token`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Checks every `[[routes]]` entry; each names plugins that must exist (cross_table.rs).
pub(super) fn validate(
    routes: &[RouteConfig],
    plugins: &BTreeMap<String, PluginConfig>,
    cx: &Ctx,
) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for (i, route) in routes.iter().enumerate() {
        let key = |k: &str| format!("routes[{i}].{k}");
        let path = route.path.trim_end_matches('/');
        if route.max_concurrency == Some(0) {
            return Err(cx.invalid(
                key("max_concurrency"),
                "must be at least 1 (omit it for no cap)",
            ));
        }
        if !route.path.starts_with('/') || path.is_empty() {
            return Err(cx.invalid(key("path"), "must start with '/' and not be the root"));
        }
        if path.contains("{") || path.contains('*') || path.contains("//") {
            return Err(cx.invalid(key("path"), "must be a literal path prefix"));
        }
        if BUILT_IN
            .iter()
            .any(|r| path == *r || path.starts_with(&format!("{r}/")))
        {
            return Err(cx.invalid(key("path"), format!("{path} is a built-in route")));
        }
        if !seen.insert(path.to_string()) {
            return Err(cx.invalid(key("path"), format!("duplicate route {path}")));
        }
        cross_table::route_plugins(i, route, plugins, cx)?;
        if let Some(t) = &route.tenant
            && !is_valid_name(t)
        {
            return Err(cx.invalid(key("tenant"), format!("{t:?} is not a valid tenant name")));
        }
        if !route.scopes.is_empty() && route.auth != AuthMode::Required {
            return Err(cx.invalid(
                key("scopes"),
                "required scopes need auth = \"required\" (an anonymous request has none)",
            ));
        }
        if route.default_labels.is_empty() {
            return Err(cx.invalid(
                key("default_labels"),
                "must name at least one label (usually ending with \"latest\")",
            ));
        }
        if let Some(bad) = route.default_labels.iter().find(|l| !is_label(l)) {
            return Err(cx.invalid(
                key("default_labels"),
                format!("{bad:?} is not a label (lower-case letters, digits, '.', '_', '-')"),
            ));
        }
        for (label, scope) in &route.protected_labels {
            if !is_label(label) || label == LATEST_LABEL {
                return Err(cx.invalid(
                    key("protected_labels"),
                    format!("{label:?} is not a label that can be moved"),
                ));
            }
            if !is_scope_token(scope) {
                return Err(cx.invalid(
                    key("protected_labels"),
                    format!("{scope:?} (for {label:?}) is not a scope"),
                ));
            }
        }
        for (name, value) in [
            ("cache_pinned", &route.cache_pinned),
            ("cache_resolved", &route.cache_resolved),
        ] {
            if http::HeaderValue::from_str(value).is_err() {
                return Err(cx.invalid(
                    key(name),
                    "must be a valid Cache-Control header value (visible ASCII, no line breaks)",
                ));
            }
        }
        if let Some(bad) = route.scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(cx.invalid(
                key("scopes"),
                format!("{bad:?} is not a scope (RFC 6749: no spaces, quotes or backslashes)"),
            ));
        }
    }
    Ok(())
}
