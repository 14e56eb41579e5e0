//! `[plugins.NAME]`: the WebAssembly components the server loads, and what each may use.

use super::names::is_valid_name;
use super::{ByteSize, ConfigError, Ctx, RuntimeConfig, cross_table};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Linear memory cap per instance; a quarter of the default `runtime.max_memory`, so a
/// default plugin fits a pool slot with room to raise it.
const MEMORY_LIMIT: ByteSize = ByteSize::mib(64);
/// Deadline for one call into a plugin, host calls included.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Calls into one plugin in flight at once; more get 503. Generous for I/O-bound handlers
/// (most of a call is spent awaiting storage); lower it for CPU-heavy plugins.
const MAX_CONCURRENCY: usize = 64;
/// How long a call waits for a free slot under `max_concurrency` before it is refused:
/// long enough to absorb a burst of cheap calls, short next to a client's timeout.
const QUEUE_TIMEOUT: Duration = Duration::from_millis(500);
/// One wasm page: no instance can run with less.
const MIN_MEMORY_LIMIT: u64 = 64 * 1024;
/// Core wasm instances one call may create. A Rust component has 1-4; componentize-py
/// output has ~40 (the interpreter, libc and one shim per WASI adapter) and
/// componentize-js ~20, so the default fits both with room for a larger build.
const MAX_CORE_INSTANCES: u32 = 100;
/// Tables one call may create (componentize-py defines one per core module that has
/// indirect calls; ~15 in practice).
const MAX_TABLES: u32 = 40;
/// Linear memories one call may create (interpreter components have 1-3: the main
/// memory plus adapter scratch memories). Each counts toward `memory_limit` separately
/// and takes a pool slot.
const MAX_MEMORIES: u32 = 8;

/// A WASI family a plugin may import without getting it: linked to stubs that fail
/// (`plugins.NAME.stub_wasi`), so that toolchain output which imports everything loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StubWasi {
    /// `wasi:sockets/*`: every socket operation returns `access-denied`.
    Sockets,
    /// `wasi:http/*`: every function traps, failing the call that used it.
    Http,
}

impl StubWasi {
    pub fn as_str(self) -> &'static str {
        match self {
            StubWasi::Sockets => "sockets",
            StubWasi::Http => "http",
        }
    }

    /// The WIT package prefix this family covers.
    pub fn prefix(self) -> &'static str {
        match self {
            StubWasi::Sockets => "wasi:sockets/",
            StubWasi::Http => "wasi:http/",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    PromptHandler,
    Renderer,
    Policy,
    /// A standard `wasi:http/proxy` component (what `wasmtime serve` and Spin run),
    /// mounted by a `[[routes]]` entry; `"http"` is accepted as an alias.
    #[serde(alias = "http")]
    Proxy,
}

impl World {
    pub fn as_str(self) -> &'static str {
        match self {
            World::PromptHandler => "prompt-handler",
            World::Renderer => "renderer",
            World::Policy => "policy",
            World::Proxy => "proxy",
        }
    }
}

// `path` and `world` are required, so this type has no `Default` to take a
// container-level `#[serde(default)]` from; the two optional keys with a non-empty default
// name it through a `default = "…"` function returning the constant above.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Path to the component (`.wasm`).
    pub path: PathBuf,
    pub world: World,
    /// Linear memory cap per instance.
    #[serde(default = "default_memory_limit")]
    pub memory_limit: ByteSize,
    /// Deadline for one call into the plugin (including host calls it makes).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Calls into this plugin in flight at once (all routes together); further calls are
    /// wait up to `queue_timeout` for a slot, then are refused with 503 and `Retry-After`,
    /// before an instance is created. 0: no cap.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// How long a call beyond `max_concurrency` waits for a slot; 0: refused at once.
    #[serde(default = "default_queue_timeout", with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// kv namespaces this plugin may use.
    #[serde(default)]
    pub kv: Vec<String>,
    /// Blob buckets this plugin may use.
    #[serde(default)]
    pub blob: Vec<String>,
    /// Renderer plugin behind this plugin's `render` import (prompt handlers).
    pub renderer: Option<String>,
    /// Core wasm instances one call may create (the component's own count, fixed at build).
    #[serde(default = "default_max_core_instances")]
    pub max_core_instances: u32,
    /// Tables one call may create.
    #[serde(default = "default_max_tables")]
    pub max_tables: u32,
    /// Linear memories one call may create.
    #[serde(default = "default_max_memories")]
    pub max_memories: u32,
    /// WASI families imported but not granted, linked to failing stubs instead of refused.
    #[serde(default)]
    pub stub_wasi: Vec<StubWasi>,
    /// Keep instances between calls of one tenant (`[plugins.NAME.warm]`); absent: a
    /// fresh instance for every call.
    #[serde(default)]
    pub warm: Option<WarmConfig>,
    /// Where a `proxy` plugin may send outbound HTTP requests (Spin-style patterns,
    /// config/outbound.rs); empty: nowhere.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// The plugin's own settings, readable through its `config` import.
    #[serde(default)]
    pub config: toml::Table,
}

/// Calls one warm instance serves before it is discarded: bounds how long state a guest
/// keeps in its memory lives, and how far a slow leak can grow.
const WARM_MAX_CALLS: u32 = 1000;
/// Idle instances kept per plugin (all tenants together); each holds a pool slot.
const WARM_MAX_IDLE: u32 = 4;
/// An idle instance unused this long is dropped, returning its memory and pool slot.
const WARM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// `[plugins.NAME.warm]`: instances reused across calls, only within one tenant, and
/// discarded after `max_calls`, after any failed call, when idle for `idle_timeout`, and
/// on reload (plugins/warm.rs). For interpreter components, whose instantiation is most of
/// a call's cost.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WarmConfig {
    pub max_calls: u32,
    pub max_idle: u32,
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
}

impl Default for WarmConfig {
    fn default() -> Self {
        Self {
            max_calls: WARM_MAX_CALLS,
            max_idle: WARM_MAX_IDLE,
            idle_timeout: WARM_IDLE_TIMEOUT,
        }
    }
}

fn default_memory_limit() -> ByteSize {
    MEMORY_LIMIT
}
fn default_max_concurrency() -> usize {
    MAX_CONCURRENCY
}
fn default_queue_timeout() -> Duration {
    QUEUE_TIMEOUT
}
fn default_timeout() -> Duration {
    TIMEOUT
}
fn default_max_core_instances() -> u32 {
    MAX_CORE_INSTANCES
}
fn default_max_tables() -> u32 {
    MAX_TABLES
}
fn default_max_memories() -> u32 {
    MAX_MEMORIES
}

/// Checks every `[plugins.NAME]`; `runtime` bounds their memory (cross_table.rs).
pub(super) fn validate(
    plugins: &BTreeMap<String, PluginConfig>,
    runtime: &RuntimeConfig,
    cx: &Ctx,
) -> Result<(), ConfigError> {
    for (name, p) in plugins {
        let key = |k: &str| format!("plugins.{name}.{k}");
        if !is_valid_name(name) {
            return Err(cx.invalid(
                format!("plugins.{name}"),
                "plugin names are 1-64 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        if p.memory_limit.0 < MIN_MEMORY_LIMIT {
            return Err(cx.invalid(
                key("memory_limit"),
                "must be at least 64KiB (one wasm page)",
            ));
        }
        cross_table::plugin_fits_runtime(name, p, runtime, cx)?;
        if p.timeout.is_zero() {
            return Err(cx.invalid(key("timeout"), "must be greater than zero"));
        }
        for (k, v) in [
            ("max_core_instances", p.max_core_instances),
            ("max_tables", p.max_tables),
            ("max_memories", p.max_memories),
        ] {
            if !(1..=10_000).contains(&v) {
                return Err(cx.invalid(key(k), "must be between 1 and 10000"));
            }
        }
        if let Some(w) = &p.warm {
            if !(1..=1_000_000).contains(&w.max_calls) {
                return Err(cx.invalid(key("warm.max_calls"), "must be between 1 and 1000000"));
            }
            if !(1..=1000).contains(&w.max_idle) {
                return Err(cx.invalid(key("warm.max_idle"), "must be between 1 and 1000"));
            }
            if w.idle_timeout.is_zero() {
                return Err(cx.invalid(key("warm.idle_timeout"), "must be greater than zero"));
            }
        }
        for ns in &p.kv {
            if !is_valid_name(ns) {
                return Err(cx.invalid(key("kv"), format!("invalid namespace name {ns:?}")));
            }
        }
        for b in &p.blob {
            if !is_valid_name(b) {
                return Err(cx.invalid(key("blob"), format!("invalid bucket name {b:?}")));
            }
        }
        proxy_keys(name, p, cx)?;
        match (&p.renderer, p.world) {
            (Some(rn), World::PromptHandler) => match plugins.get(rn) {
                Some(rp) if rp.world == World::Renderer => {}
                Some(rp) => {
                    return Err(cx.invalid(
                        key("renderer"),
                        format!(
                            "plugin {rn:?} is a {} plugin, not a renderer",
                            rp.world.as_str()
                        ),
                    ));
                }
                None => {
                    return Err(cx.invalid(key("renderer"), format!("no plugin named {rn:?}")));
                }
            },
            (Some(_), w) => {
                return Err(cx.invalid(
                    key("renderer"),
                    format!(
                        "only prompt-handler plugins have a renderer, this is a {} plugin",
                        w.as_str()
                    ),
                ));
            }
            (None, _) => {}
        }
    }
    cross_table::warm_fits_pool(plugins, runtime, cx)
}

/// `allowed_outbound_hosts` belongs to `proxy` plugins and must parse; the keys that grant
/// mcp-prompts imports do not apply to a `proxy` plugin, which imports only WASI.
fn proxy_keys(name: &str, p: &PluginConfig, cx: &Ctx) -> Result<(), ConfigError> {
    let key = |k: &str| format!("plugins.{name}.{k}");
    if p.world != World::Proxy {
        if !p.allowed_outbound_hosts.is_empty() {
            return Err(cx.invalid(
                key("allowed_outbound_hosts"),
                format!(
                    "only proxy (wasi:http) plugins make outbound requests; this is a {} plugin",
                    p.world.as_str()
                ),
            ));
        }
        return Ok(());
    }
    if let Err((pattern, e)) = super::outbound::OutboundHosts::parse(&p.allowed_outbound_hosts) {
        return Err(cx.invalid(key("allowed_outbound_hosts"), format!("{pattern:?}: {e}")));
    }
    for (k, set) in [("kv", !p.kv.is_empty()), ("blob", !p.blob.is_empty())] {
        if set {
            return Err(cx.invalid(
                key(k),
                "a proxy (wasi:http) plugin has no mcp-prompts imports, so nothing to grant",
            ));
        }
    }
    if p.stub_wasi.contains(&StubWasi::Http) {
        return Err(cx.invalid(
            key("stub_wasi"),
            "a proxy plugin gets the real wasi:http; \"http\" cannot be stubbed for it",
        ));
    }
    Ok(())
}
