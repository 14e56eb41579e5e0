//! Every rule that relates one table of the config to another, in one place: the
//! `environment = "production"` rules, plugins against `[runtime]`, `[[routes]]` against
//! `[plugins]`, and `[mcp]` against `[[routes]]`. Each table's `validate` calls the rule
//! that concerns it at the point where it has always been checked, so a config with
//! several problems still reports the same first one.

use super::{
    ConfigError, Ctx, Environment, McpConfig, PluginConfig, RouteConfig, RuntimeConfig,
    UsersConfig, World,
};
use std::collections::BTreeMap;

/// `environment = "production"` refuses the HS256 development provider, so a development
/// secret can never mint tokens a production server accepts.
pub(super) fn dev_provider_allowed(environment: Environment, cx: &Ctx) -> Result<(), ConfigError> {
    if environment == Environment::Production {
        return Err(cx.invalid(
            "auth.dev",
            "the HS256 development provider is refused when environment = \"production\"; \
             configure an [[auth.oidc]] issuer instead",
        ));
    }
    Ok(())
}

/// kv namespaces the host itself keeps data in: the user profiles (whose `tier` the host
/// trusts when a token carries none) and the MCP sessions with the change revision. A
/// plugin granted either could raise its callers' tier or forge sessions.
pub(super) fn plugins_avoid_host_namespaces(
    plugins: &BTreeMap<String, PluginConfig>,
    users: &UsersConfig,
    cx: &Ctx,
) -> Result<(), ConfigError> {
    const SESSIONS: &str = crate::service::changes::NAMESPACE;
    for (name, p) in plugins {
        for ns in &p.kv {
            let what = if *ns == users.namespace {
                "the user profiles (users.namespace)"
            } else if ns == SESSIONS {
                "the MCP sessions and change revisions"
            } else if ns == super::WEBHOOKS_NAMESPACE {
                "the webhook outbox"
            } else {
                continue;
            };
            return Err(cx.invalid(
                format!("plugins.{name}.kv"),
                format!(
                    "namespace {ns:?} is reserved for the host: it holds {what}; \
                     give the plugin a namespace of its own"
                ),
            ));
        }
    }
    Ok(())
}

/// A plugin's memory must fit a pool slot, which `runtime.max_memory` sizes.
pub(super) fn plugin_fits_runtime(
    name: &str,
    p: &PluginConfig,
    runtime: &RuntimeConfig,
    cx: &Ctx,
) -> Result<(), ConfigError> {
    if p.memory_limit > runtime.max_memory {
        return Err(cx.invalid(
            format!("plugins.{name}.memory_limit"),
            format!(
                "{} exceeds runtime.max_memory ({})",
                p.memory_limit, runtime.max_memory
            ),
        ));
    }
    Ok(())
}

/// Idle warm instances hold pool slots between calls: together they may take at most
/// half of `runtime.max_instances`, so calls always find free slots.
pub(super) fn warm_fits_pool(
    plugins: &BTreeMap<String, PluginConfig>,
    runtime: &RuntimeConfig,
    cx: &Ctx,
) -> Result<(), ConfigError> {
    let idle: u64 = plugins
        .values()
        .filter_map(|p| p.warm.as_ref())
        .map(|w| u64::from(w.max_idle))
        .sum();
    let room = u64::from(runtime.max_instances) / 2;
    if idle > room {
        let names: Vec<&str> = plugins
            .iter()
            .filter(|(_, p)| p.warm.is_some())
            .map(|(n, _)| n.as_str())
            .collect();
        return Err(cx.invalid(
            "runtime.max_instances",
            format!(
                "the warm.max_idle of plugins {} add up to {idle}, more than half of runtime.max_instances ({}): raise max_instances or lower max_idle",
                names.join(", "),
                runtime.max_instances
            ),
        ));
    }
    Ok(())
}

/// A route's handler is a `prompt-handler` plugin (the prompt REST API) or a `proxy`
/// plugin (a wasi:http component mounted at the path), and its policies are `policy`
/// plugins. A proxy route takes none of the prompt API's keys.
pub(super) fn route_plugins(
    i: usize,
    route: &RouteConfig,
    plugins: &BTreeMap<String, PluginConfig>,
    cx: &Ctx,
) -> Result<(), ConfigError> {
    let key = |k: &str| format!("routes[{i}].{k}");
    match plugins.get(&route.handler) {
        Some(p) if p.world == World::PromptHandler => {}
        Some(p) if p.world == World::Proxy => proxy_route_keys(i, route, cx)?,
        Some(p) => {
            return Err(cx.invalid(
                key("handler"),
                format!(
                    "plugin {:?} is a {} plugin, not a prompt-handler or proxy",
                    route.handler,
                    p.world.as_str()
                ),
            ));
        }
        None => {
            return Err(cx.invalid(
                key("handler"),
                format!("no plugin named {:?}", route.handler),
            ));
        }
    }
    for pol in &route.policies {
        match plugins.get(pol) {
            Some(p) if p.world == World::Policy => {}
            Some(p) => {
                return Err(cx.invalid(
                    key("policies"),
                    format!(
                        "plugin {pol:?} is a {} plugin, not a policy",
                        p.world.as_str()
                    ),
                ));
            }
            None => return Err(cx.invalid(key("policies"), format!("no plugin named {pol:?}"))),
        }
    }
    Ok(())
}

/// The prompt API's keys have no meaning on a route served by a wasi:http component:
/// set to anything but their defaults, they are refused rather than silently ignored.
fn proxy_route_keys(i: usize, route: &RouteConfig, cx: &Ctx) -> Result<(), ConfigError> {
    let defaults = RouteConfig::prompt_defaults();
    for (k, set) in [
        ("read_only", route.read_only),
        (
            "default_labels",
            route.default_labels != defaults.default_labels,
        ),
        ("protected_labels", !route.protected_labels.is_empty()),
        ("cache_pinned", route.cache_pinned != defaults.cache_pinned),
        (
            "cache_resolved",
            route.cache_resolved != defaults.cache_resolved,
        ),
    ] {
        if set {
            return Err(cx.invalid(
                format!("routes[{i}].{k}"),
                format!(
                    "applies to prompt routes only; plugin {:?} is a proxy (wasi:http) \
                     component, which answers every request under {} itself",
                    route.handler, route.path
                ),
            ));
        }
    }
    Ok(())
}

/// MCP serves prompts from a prompt route: `mcp.route` (or, without it, the first route)
/// must not be a proxy route.
pub(super) fn mcp_route_serves_prompts(
    m: &McpConfig,
    routes: &[RouteConfig],
    plugins: &BTreeMap<String, PluginConfig>,
    cx: &Ctx,
) -> Result<(), ConfigError> {
    if !m.enabled {
        return Ok(());
    }
    let route = match &m.route {
        Some(r) => routes
            .iter()
            .find(|x| x.path.trim_end_matches('/') == r.trim_end_matches('/')),
        None => routes.first(),
    };
    let Some(route) = route else { return Ok(()) };
    if plugins
        .get(&route.handler)
        .is_some_and(|p| p.world == World::Proxy)
    {
        let key = if m.route.is_some() {
            "mcp.route"
        } else {
            "routes[0]"
        };
        return Err(cx.invalid(
            key,
            format!(
                "MCP serves prompts from a prompt route, and {} is a proxy (wasi:http) route; \
                 set mcp.route to a prompt-handler route (or list one first)",
                route.path
            ),
        ));
    }
    Ok(())
}

/// An enabled MCP endpoint must not sit on or under a REST route path (requests there
/// would be ambiguous), and `mcp.route`, when set, must name a route, whether or not MCP is enabled.
pub(super) fn mcp_beside_routes(
    m: &McpConfig,
    routes: &[RouteConfig],
    cx: &Ctx,
) -> Result<(), ConfigError> {
    let path = m.path.trim_end_matches('/');
    if m.enabled
        && routes.iter().any(|r| {
            let rp = r.path.trim_end_matches('/');
            path == rp || path.starts_with(&format!("{rp}/"))
        })
    {
        return Err(cx.invalid("mcp.path", format!("{path} overlaps a [[routes]] path")));
    }
    if let Some(r) = &m.route
        && !routes
            .iter()
            .any(|x| x.path.trim_end_matches('/') == r.trim_end_matches('/'))
    {
        return Err(cx.invalid("mcp.route", format!("no [[routes]] entry has path {r:?}")));
    }
    Ok(())
}
