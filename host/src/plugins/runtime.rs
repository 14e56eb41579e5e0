//! Loading plugins (compile, check imports against grants, pre-instantiate) and calling
//! them (a fresh store per call, or a reused one (warm.rs), with limits and a deadline).

use super::bindings::{handler, policy, prompts, renderer, rendering};
use super::cache::ComponentCache;
use super::engine::{self, Allocator, PoolShape};
use super::state::{LimitExceeded, Limits, NestedFailure, State};
use super::warm::{Exports, Live, Source, WarmPool};
use crate::config::{LoadedConfig, PluginConfig, RuntimeConfig, World};
use crate::storage::Storage;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};

use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

/// What a call runs on behalf of.
#[derive(Debug, Clone)]
pub struct CallScope {
    pub request_id: String,
    pub tenant: String,
    /// Log lines the plugin may still write during this call.
    pub log_budget: u32,
    /// The request's rate-limit spending (`limits` import), shared by its calls.
    pub spend: super::limits::RequestSpend,
    /// A host entry to commit with the call's first transaction (plugins/rider.rs); only
    /// the call it was made for carries it, never a nested call.
    pub rider: Option<std::sync::Arc<super::rider::RiderSlot>>,
}

impl CallScope {
    pub fn new(request_id: impl Into<String>, tenant: impl Into<String>) -> Self {
        Self {
            request_id: request_id.into(),
            tenant: tenant.into(),
            log_budget: 100,
            spend: Default::default(),
            rider: None,
        }
    }
}

/// A plugin call that did not produce a result. Only the request that made the call fails.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginFailure {
    #[error("plugin {plugin:?} exceeded its time limit of {limit:?}")]
    Timeout { plugin: String, limit: Duration },
    #[error("plugin {plugin:?} exceeded its {what} limit")]
    Limit { plugin: String, what: String },
    #[error("plugin {plugin:?} trapped: {message}")]
    Trap { plugin: String, message: String },
    #[error("no capacity to run plugin {plugin:?}: {message}")]
    Busy { plugin: String, message: String },
    /// The plugin already runs `limit` calls (`plugins.NAME.max_concurrency`).
    #[error("plugin {plugin:?} already runs {limit} calls (its max_concurrency)")]
    AtCap { plugin: String, limit: usize },
}

impl PluginFailure {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginFailure::Timeout { .. } => "timeout",
            PluginFailure::Limit { .. } => "limit",
            PluginFailure::Trap { .. } => "trap",
            PluginFailure::Busy { .. } | PluginFailure::AtCap { .. } => "busy",
        }
    }

    pub fn plugin(&self) -> &str {
        match self {
            PluginFailure::Timeout { plugin, .. }
            | PluginFailure::Limit { plugin, .. }
            | PluginFailure::Trap { plugin, .. }
            | PluginFailure::Busy { plugin, .. }
            | PluginFailure::AtCap { plugin, .. } => plugin,
        }
    }
}

/// Raised by the epoch callback when a call's deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
pub(super) struct DeadlineExceeded;

/// A plugin failed to load. The message names the plugin and the reason.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin {plugin:?}: cannot load {path}: {reason}")]
    Compile {
        plugin: String,
        path: PathBuf,
        reason: String,
    },
    #[error("plugin {plugin:?}: {reason}")]
    Refused { plugin: String, reason: String },
    #[error("plugin runtime: {0}")]
    Engine(String),
}

pub enum Pre {
    Handler(handler::PromptHandlerPre<State>),
    Renderer(renderer::RendererPre<State>),
    Policy(policy::PolicyPre<State>),
    /// A wasi:http component; its store type and call path are in proxy.rs.
    Proxy(Box<super::proxy::ProxyPlugin>),
}

/// A compiled, import-checked, pre-instantiated plugin.
pub struct LoadedPlugin {
    pub name: String,
    /// Where the component was loaded from (resolved), for the file watcher.
    pub path: PathBuf,
    pub component: Component,
    pub config: PluginConfig,
    pub config_json: String,
    pub pre: Pre,
    pub renderer: Option<Arc<LoadedPlugin>>,
    /// `max_concurrency` / `queue_timeout` (admission.rs).
    pub gate: super::admission::Gate,
    /// Idle instances kept between calls (`[plugins.NAME.warm]`; warm.rs).
    pub warm: Option<WarmPool>,
}

impl LoadedPlugin {
    /// Drops the plugin's idle instances and keeps none from now on: its configuration
    /// was replaced (`Snapshot`'s drop).
    pub fn retire(&self) {
        if let Some(pool) = &self.warm {
            pool.close();
        }
    }
}

/// Every plugin of one configuration, by name.
pub type PluginSet = BTreeMap<String, Arc<LoadedPlugin>>;

/// The engine, linker and storage shared by every plugin call.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    cache: ComponentCache,
    linker: Linker<State>,
    storage: Storage,
    allocator: Allocator,
    /// Request budgets behind the policy world's `limits` import (process memory).
    limiter: super::limits::Limiter,
    /// Set once by `App::new` with `[limits] mode = "cluster"`: budgets shared by the
    /// fleet, with `limiter` as the fallback while the shared counter is unreachable.
    cluster: std::sync::OnceLock<Arc<super::cluster_limits::ClusterLimits>>,
    /// What one pool slot holds (`None` with on-demand allocation, which has no slots).
    shape: Option<PoolShape>,
    /// Set once by `App::new`; plugin calls are recorded only when set.
    metrics: std::sync::OnceLock<Arc<crate::telemetry::metrics::Metrics>>,
}

impl Runtime {
    /// `cache_dir`: where compiled plugins are kept across restarts (`None`: memory only).
    /// `shape`: what one pool slot holds (`PoolShape::for_config`).
    pub fn new(
        rc: &RuntimeConfig,
        shape: PoolShape,
        storage: Storage,
        cache_dir: Option<PathBuf>,
    ) -> Result<Self, LoadError> {
        let (engine, allocator) =
            engine::build(rc, shape).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        engine::start_epoch_ticker(&engine, rc.epoch_tick);
        let linker = build_linker(&engine).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                cache: ComponentCache::new(&engine, cache_dir),
                engine,
                linker,
                storage,
                allocator,
                limiter: super::limits::Limiter::default(),
                cluster: std::sync::OnceLock::new(),
                shape: (allocator == Allocator::Pooling).then_some(shape),
                metrics: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The storage behind the plugins' kv and blob imports (`state.rs`). Everything
    /// else reaches storage through `App::storage`.
    pub(super) fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// Forgets compiled components that are not in `set` (after a reload).
    pub fn retain_components(&self, set: &PluginSet) {
        let keep: Vec<Component> = set.values().map(|p| p.component.clone()).collect();
        self.inner.cache.retain(&keep);
    }

    pub(super) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(super) fn metrics(&self) -> Option<&Arc<crate::telemetry::metrics::Metrics>> {
        self.inner.metrics.get()
    }

    pub(super) fn limiter(&self) -> &super::limits::Limiter {
        &self.inner.limiter
    }

    pub(super) fn cluster_limits(&self) -> Option<&Arc<super::cluster_limits::ClusterLimits>> {
        self.inner.cluster.get()
    }

    /// Shares rate-limit budgets across the fleet through the storage's lease counters
    /// (`[limits] mode = "cluster"`). Fails when the storage has none (config validation
    /// already refuses that combination; this is the runtime's own guard).
    pub fn enable_cluster_limits(
        &self,
        cfg: &crate::config::LimitsConfig,
        metrics: Option<Arc<crate::telemetry::metrics::Metrics>>,
    ) -> Result<(), LoadError> {
        let store = self.inner.storage.leases.clone().ok_or_else(|| {
            LoadError::Engine(
                "limits.mode = \"cluster\" needs a storage backend with shared counters (aws)"
                    .into(),
            )
        })?;
        let _ = self
            .inner
            .cluster
            .set(super::cluster_limits::ClusterLimits::new(
                cfg, store, metrics,
            ));
        Ok(())
    }

    pub fn allocator(&self) -> Allocator {
        self.inner.allocator
    }

    /// Records plugin calls in `metrics` from now on (first call wins).
    pub fn set_metrics(&self, metrics: Arc<crate::telemetry::metrics::Metrics>) {
        let _ = self.inner.metrics.set(metrics);
    }

    /// Occupancy of the pooling allocator (`None` with on-demand allocation).
    pub fn pooling_metrics(&self) -> Option<wasmtime::PoolingAllocatorMetrics> {
        self.inner.engine.pooling_allocator_metrics()
    }

    /// Loads every plugin of the config. Compilation runs on the blocking pool.
    pub async fn load_all(&self, lc: &LoadedConfig) -> Result<PluginSet, LoadError> {
        let mut set = PluginSet::new();
        // Renderers first: prompt handlers hold a reference to theirs.
        let mut order: Vec<_> = lc.config.plugins.iter().collect();
        order.sort_by_key(|(_, p)| p.world != World::Renderer);
        for (name, pc) in order {
            let renderer = pc.renderer.as_ref().and_then(|r| set.get(r).cloned());
            let plugin = Arc::new(self.load(name, pc, lc.resolve(&pc.path), renderer).await?);
            sweep_idle(&plugin);
            set.insert(name.clone(), plugin);
        }
        Ok(set)
    }

    async fn load(
        &self,
        name: &str,
        pc: &PluginConfig,
        path: PathBuf,
        renderer: Option<Arc<LoadedPlugin>>,
    ) -> Result<LoadedPlugin, LoadError> {
        let rt = self.clone();
        let p = path.clone();
        let (owned_name, owned_pc) = (name.to_string(), pc.clone());
        // Imports and counts are checked on the bytes first: a refused component costs
        // milliseconds, not a Cranelift compile (18 s for an interpreter component).
        let (component, source) = tokio::task::spawn_blocking(move || {
            super::footprint::precheck(&owned_name, &owned_pc, &p, rt.inner.shape)?;
            rt.inner.cache.get(&p).map_err(|reason| LoadError::Compile {
                plugin: owned_name,
                path: p,
                reason,
            })
        })
        .await
        .map_err(|e| LoadError::Engine(e.to_string()))??;
        tracing::info!(
            plugin = name,
            source = source.as_str(),
            "plugin component ready"
        );
        let ty = component.component_type();
        check_imports(name, pc, ty.imports(&self.inner.engine).map(|(i, _)| i))?;
        let refused = |e: wasmtime::Error| LoadError::Refused {
            plugin: name.to_string(),
            reason: format!("does not match the {} world: {e:#}", pc.world.as_str()),
        };
        let pre = if pc.world == World::Proxy {
            super::proxy::load(&self.inner.engine, name, pc, &component)?
        } else {
            let linker =
                super::stubs::linker_for(&self.inner.linker, pc, &component).map_err(refused)?;
            let ipre = linker.instantiate_pre(&component).map_err(refused)?;
            match pc.world {
                World::PromptHandler => {
                    Pre::Handler(handler::PromptHandlerPre::new(ipre).map_err(refused)?)
                }
                World::Renderer => {
                    Pre::Renderer(renderer::RendererPre::new(ipre).map_err(refused)?)
                }
                World::Policy => Pre::Policy(policy::PolicyPre::new(ipre).map_err(refused)?),
                World::Proxy => unreachable!("loaded above"),
            }
        };
        let config_json = serde_json::to_string(&pc.config).map_err(|e| LoadError::Refused {
            plugin: name.to_string(),
            reason: format!("config table cannot be expressed as JSON: {e}"),
        })?;
        Ok(LoadedPlugin {
            name: name.to_string(),
            path,
            component,
            config: pc.clone(),
            config_json,
            pre,
            renderer,
            gate: super::admission::Gate::new(
                super::admission::Kind::Plugin,
                name,
                pc.max_concurrency,
                pc.queue_timeout,
            ),
            warm: pc.warm.clone().map(WarmPool::new),
        })
    }

    fn new_store(&self, plugin: &Arc<LoadedPlugin>, scope: &CallScope) -> Store<State> {
        // No preopened directories, no environment, no network: WASI is granted only as
        // far as clocks and randomness (and empty stdio), which language runtimes expect.
        let wasi = WasiCtxBuilder::new()
            .allow_blocking_current_thread(false)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limits = Limits {
            memory: plugin.config.memory_limit.0 as usize,
            table_elements: 100_000,
            instances: plugin.config.max_core_instances as usize,
            tables: plugin.config.max_tables as usize,
            memories: plugin.config.max_memories as usize,
        };
        let state = State {
            wasi,
            table: ResourceTable::new(),
            limits,
            plugin: plugin.clone(),
            scope: scope.clone(),
            runtime: self.clone(),
            renderer_live: None,
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limits);
        store
    }

    /// An instance for one call: the request's own (`local`), a warm one of the call's
    /// tenant, or a fresh one.
    async fn instance(
        &self,
        plugin: &Arc<LoadedPlugin>,
        scope: &CallScope,
        local: Option<Live>,
    ) -> wasmtime::Result<(Live, Source)> {
        if let Some(live) = local {
            return Ok((live, Source::Request));
        }
        if let Some(live) = plugin.warm.as_ref().and_then(|w| w.take(&scope.tenant)) {
            return Ok((live, Source::Warm));
        }
        let mut store = self.new_store(plugin, scope);
        // Instantiation runs guest start functions: it is under the call's deadline too.
        arm_deadline(&mut store, plugin.config.timeout);
        let exports = match &plugin.pre {
            Pre::Handler(pre) => Exports::Handler(Box::new(
                pre.instantiate_async(&mut store)
                    .await?
                    .mcp_prompts_plugin_prompts()
                    .clone(),
            )),
            Pre::Renderer(pre) => Exports::Renderer(
                pre.instantiate_async(&mut store)
                    .await?
                    .mcp_prompts_plugin_template_renderer()
                    .clone(),
            ),
            Pre::Policy(pre) => Exports::Policy(
                pre.instantiate_async(&mut store)
                    .await?
                    .mcp_prompts_plugin_access_policy()
                    .clone(),
            ),
            // Proxy components are called per request by plugins/proxy.rs, never here.
            Pre::Proxy(_) => {
                return Err(wasmtime::Error::msg(
                    "a proxy plugin serves HTTP requests, not plugin calls",
                ));
            }
        };
        Ok((
            Live {
                store,
                exports,
                calls: 0,
            },
            Source::Fresh,
        ))
    }

    /// After a completed call: the instance goes back to the request (`keep`) or to the
    /// warm pool, and the renderer instance a handler's calls shared is released.
    fn recycle(&self, plugin: &LoadedPlugin, mut live: Live, keep: bool) -> Option<Live> {
        live.calls += 1;
        if let Some(inner) = live.store.data_mut().renderer_live.take() {
            let renderer = inner.store.data().plugin.clone();
            if let Some(pool) = &renderer.warm {
                pool.give(&live.store.data().scope.tenant, inner.calls, inner);
            }
        }
        match (keep, &plugin.warm) {
            (true, _) => Some(live),
            (false, Some(pool)) => {
                let tenant = live.store.data().scope.tenant.clone();
                pool.give(&tenant, live.calls, live);
                None
            }
            (false, None) => None,
        }
    }

    /// Runs `f` on an instance of `plugin` (`instance`), under the plugin's deadline, and
    /// classifies failures. With `Reuse::Request` the instance comes back
    /// (`Ok((_, Some))`) for the request's next call. An instance whose call did not
    /// complete is dropped: its state is suspect.
    async fn run<R, Fut>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        scope: &CallScope,
        reuse: Reuse,
        f: impl FnOnce(Live) -> Fut,
    ) -> Result<(R, Option<Live>), PluginFailure>
    where
        Fut: Future<Output = (Live, wasmtime::Result<R>)>,
    {
        let started = Instant::now();
        // Admission before any allocation (admission.rs).
        let Some(_permit) = plugin.gate.admit().await else {
            let failure = PluginFailure::AtCap {
                plugin: plugin.name.clone(),
                limit: plugin.config.max_concurrency,
            };
            if let Some(m) = self.inner.metrics.get() {
                m.plugin_call(
                    &plugin.name,
                    plugin.config.world,
                    started.elapsed(),
                    Some(failure.kind()),
                );
            }
            return Err(failure);
        };
        // The epoch deadline stops wasm code; this bounds time spent in host calls as well.
        let wall = plugin.config.timeout + Duration::from_millis(250);
        let (local, keep) = match reuse {
            Reuse::Pool => (None, false),
            Reuse::Request(local) => (local, true),
        };
        let call = async {
            let (mut live, source) = self.instance(plugin, scope, local).await?;
            if let Some(m) = self.inner.metrics.get() {
                m.plugin_instance(&plugin.name, source.as_str());
            }
            if source != Source::Fresh {
                let state = live.store.data_mut();
                state.scope = scope.clone();
                arm_deadline(&mut live.store, plugin.config.timeout);
            }
            let (live, r) = f(live).await;
            r.map(|r| (r, live))
        };
        let result = match tokio::time::timeout(wall, call).await {
            Ok(Ok((r, live))) => Ok((r, self.recycle(plugin, live, keep))),
            Ok(Err(e)) => Err(classify(plugin, e)),
            Err(_) => Err(PluginFailure::Timeout {
                plugin: plugin.name.clone(),
                limit: plugin.config.timeout,
            }),
        };
        if let Some(m) = self.inner.metrics.get() {
            // A nested call's failure passed on is counted by the nested call itself.
            let own = result
                .as_ref()
                .err()
                .filter(|f| f.plugin() == plugin.name)
                .map(PluginFailure::kind);
            m.plugin_call(&plugin.name, plugin.config.world, started.elapsed(), own);
        }
        result
    }

    /// Calls a prompt-handler plugin: `f` receives the store and the `prompts` exports,
    /// and hands the store back.
    pub(super) async fn handler<R, Fut>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        scope: &CallScope,
        f: impl FnOnce(Store<State>, prompts::Guest) -> Fut,
    ) -> Result<R, PluginFailure>
    where
        Fut: Future<Output = (Store<State>, wasmtime::Result<R>)>,
    {
        if !matches!(plugin.pre, Pre::Handler(_)) {
            return Err(wrong_world(plugin, World::PromptHandler));
        }
        let (r, _) = self
            .run(plugin, scope, Reuse::Pool, |live| async move {
                let Live {
                    store,
                    exports,
                    calls,
                } = live;
                let Exports::Handler(guest) = exports.clone() else {
                    return (
                        Live {
                            store,
                            exports,
                            calls,
                        },
                        Err(wasmtime::Error::msg("not a prompt-handler instance")),
                    );
                };
                let (store, r) = f(store, *guest).await;
                (
                    Live {
                        store,
                        exports,
                        calls,
                    },
                    r,
                )
            })
            .await?;
        Ok(r)
    }

    /// Renders through a renderer plugin. `local`: `Some` for a handler's render call,
    /// holding the instance the request's earlier render calls used (if any); the
    /// instance comes back for the next one.
    pub(super) async fn render(
        &self,
        plugin: &Arc<LoadedPlugin>,
        scope: &CallScope,
        local: Option<Option<Live>>,
        request: rendering::RenderRequest,
    ) -> Result<(Result<String, rendering::RenderError>, Option<Live>), PluginFailure> {
        if !matches!(plugin.pre, Pre::Renderer(_)) {
            return Err(wrong_world(plugin, World::Renderer));
        }
        let reuse = match local {
            Some(local) => Reuse::Request(local),
            None => Reuse::Pool,
        };
        self.run(plugin, scope, reuse, |mut live| async move {
            let Exports::Renderer(guest) = live.exports.clone() else {
                return (live, Err(wasmtime::Error::msg("not a renderer instance")));
            };
            let r = guest.call_render(&mut live.store, &request).await;
            (live, r)
        })
        .await
    }

    /// Asks a policy plugin for a decision (typed: `calls.rs`).
    pub(super) async fn policy(
        &self,
        plugin: &Arc<LoadedPlugin>,
        scope: &CallScope,
        request: super::bindings::access_policy::RequestInfo,
    ) -> Result<super::bindings::access_policy::Decision, PluginFailure> {
        if !matches!(plugin.pre, Pre::Policy(_)) {
            return Err(wrong_world(plugin, World::Policy));
        }
        let (d, _) = self
            .run(plugin, scope, Reuse::Pool, |mut live| async move {
                let Exports::Policy(guest) = live.exports.clone() else {
                    return (live, Err(wasmtime::Error::msg("not a policy instance")));
                };
                let r = guest.call_decide(&mut live.store, &request).await;
                (live, r)
            })
            .await?;
        Ok(d)
    }
}

/// Where a call's instance goes after it.
enum Reuse {
    /// Back to the plugin's warm pool if it has one, else dropped.
    Pool,
    /// Back to the request (which may already hold one: `Some`).
    Request(Option<Live>),
}

/// Checks the call's deadline on every epoch tick and yields to the executor in between,
/// so a busy plugin neither blocks a tokio worker nor runs past its time. Re-armed for
/// every call of a reused instance.
fn arm_deadline(store: &mut Store<State>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(DeadlineExceeded.into())
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
}

/// Drops a plugin's warm instances once idle for their `idle_timeout`, so a quiet plugin
/// gives back memory and pool slots; the task ends when the plugin's configuration is
/// replaced.
fn sweep_idle(plugin: &Arc<LoadedPlugin>) {
    let Some(pool) = &plugin.warm else {
        return;
    };
    let every = (pool.config().idle_timeout / 2).max(Duration::from_millis(100));
    let weak = Arc::downgrade(plugin);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(plugin) = weak.upgrade() else {
                return;
            };
            if !plugin.warm.as_ref().is_some_and(|p| p.sweep()) {
                return;
            }
        }
    });
}

fn wrong_world(plugin: &LoadedPlugin, want: World) -> PluginFailure {
    PluginFailure::Trap {
        plugin: plugin.name.clone(),
        message: format!(
            "is a {} plugin, called as a {} plugin",
            plugin.config.world.as_str(),
            want.as_str()
        ),
    }
}

/// Turns a wasmtime error from a call into the failure reported to the client and the log.
pub(super) fn classify(plugin: &LoadedPlugin, e: wasmtime::Error) -> PluginFailure {
    let name = plugin.name.clone();
    if let Some(n) = e.downcast_ref::<NestedFailure>() {
        return n.0.clone();
    }
    if e.downcast_ref::<DeadlineExceeded>().is_some() {
        return PluginFailure::Timeout {
            plugin: name,
            limit: plugin.config.timeout,
        };
    }
    if let Some(l) = e.downcast_ref::<LimitExceeded>() {
        return PluginFailure::Limit {
            plugin: name,
            what: format!("{} ({} bytes)", l.what, l.limit),
        };
    }
    if let Some(trap) = e.downcast_ref::<Trap>() {
        return match trap {
            Trap::Interrupt => PluginFailure::Timeout {
                plugin: name,
                limit: plugin.config.timeout,
            },
            Trap::StackOverflow => PluginFailure::Limit {
                plugin: name,
                what: "stack".into(),
            },
            other => PluginFailure::Trap {
                plugin: name,
                message: other.to_string(),
            },
        };
    }
    let message = format!("{e:#}");
    if let Some(what) = super::stubs::count_limit(&plugin.name, &message) {
        return PluginFailure::Limit { plugin: name, what };
    }
    if message.contains("maximum concurrent") || message.contains("limit of") {
        return PluginFailure::Busy {
            plugin: name,
            message,
        };
    }
    PluginFailure::Trap {
        plugin: name,
        message,
    }
}

/// One linker for all worlds: WASI (checked per plugin below) plus our interfaces.
fn build_linker(engine: &Engine) -> wasmtime::Result<Linker<State>> {
    use super::bindings::{blob, config, kv, limits, log, render, rendering, types};
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    types::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    rendering::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    kv::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    blob::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    render::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    log::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    config::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    limits::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// WASI interfaces any plugin may import. Filesystem is linked but the plugin gets no
/// preopened directory, so it can open nothing; sockets and HTTP are never granted.
pub(super) const WASI_ALLOWED: &[&str] = &[
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

/// What a `proxy` plugin imports beyond [`WASI_ALLOWED`]: wasi:http itself (outbound
/// requests are checked per request against `allowed_outbound_hosts`, proxy.rs).
pub(super) const PROXY_ALLOWED: &[&str] = &["wasi:http/types", "wasi:http/outgoing-handler"];

/// Refuses a plugin whose imports go beyond its world and its grants, with a message
/// that says which import and which config key would grant it.
pub(super) fn check_imports<'a>(
    name: &str,
    pc: &PluginConfig,
    imports: impl IntoIterator<Item = &'a str>,
) -> Result<(), LoadError> {
    for import in imports {
        let bare = import.split('@').next().unwrap_or(import);
        let refuse = |reason: String| LoadError::Refused {
            plugin: name.to_string(),
            reason,
        };
        if let Some(iface) = bare.strip_prefix("mcp-prompts:plugin/") {
            let world = pc.world;
            // A proxy component is a standard wasi:http one: it imports only WASI.
            let in_world = world != World::Proxy
                && matches!(
                    (world, iface),
                    (_, "types" | "log" | "config")
                        | (World::PromptHandler, "kv" | "blob" | "render" | "rendering")
                        | (World::Renderer, "rendering")
                        | (World::Policy, "kv" | "limits")
                );
            if !in_world {
                return Err(refuse(format!(
                    "imports {import}, which the {} world does not provide",
                    world.as_str()
                )));
            }
            let granted = match iface {
                "kv" => !pc.kv.is_empty(),
                "blob" => !pc.blob.is_empty(),
                "render" => pc.renderer.is_some(),
                _ => true,
            };
            if !granted {
                let key = match iface {
                    "kv" => "kv",
                    "blob" => "blob",
                    _ => "renderer",
                };
                return Err(refuse(format!(
                    "imports {import} but is not granted it: set plugins.{name}.{key} in the config"
                )));
            }
        } else {
            let allowed = WASI_ALLOWED.iter().any(|p| bare.starts_with(p))
                || (pc.world == World::Proxy && PROXY_ALLOWED.iter().any(|p| bare.starts_with(p)))
                || pc.stub_wasi.iter().any(|s| bare.starts_with(s.prefix()));
            if allowed {
                continue;
            }
            return Err(refuse(super::stubs::refusal(name, import)));
        }
    }
    Ok(())
}
