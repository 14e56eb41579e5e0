//! The composition root: the process-wide parts (storage, plugin runtime, metrics) plus a
//! swappable snapshot of everything derived from the config (plugins, routes, auth).
//! Requests take the snapshot once and finish on it. Nothing here knows a transport.

use crate::auth::{AuthState, Authenticator, TierCache};
use crate::config::{AuthMode, LoadedConfig, ServerConfig};
use crate::plugins::{LoadedPlugin, PluginSet, Runtime};
use crate::storage::{self, Storage};
use crate::telemetry::metrics::Metrics;
use arc_swap::ArcSwapOption;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// A route of the config with its plugins resolved.
pub struct Route {
    pub path: String,
    pub handler: Arc<LoadedPlugin>,
    pub auth: AuthMode,
    pub policies: Vec<Arc<LoadedPlugin>>,
    /// Scopes a token must carry here.
    pub scopes: Vec<String>,
    /// Fixed tenant of a shared catalog route.
    pub tenant: Option<String>,
    pub read_only: bool,
    /// Reads without a version or label serve the first of these the prompt has.
    pub default_labels: Vec<String>,
    /// Label → the scope its moves need.
    pub protected_labels: std::collections::BTreeMap<String, String>,
    /// `routes[].max_concurrency` (plugins/admission.rs); refused at once when full.
    pub admission: Option<crate::plugins::admission::Gate>,
    /// `Cache-Control` of pinned and of label-resolved reads; `None`: no header.
    pub cache_pinned: Option<http::HeaderValue>,
    pub cache_resolved: Option<http::HeaderValue>,
}

pub struct Snapshot {
    pub config: LoadedConfig,
    pub plugins: PluginSet,
    pub routes: Vec<Route>,
    pub auth: Authenticator,
    /// `[billing]`, when enabled: the webhook secret, plans and tier resolution.
    pub billing: Option<Arc<crate::billing::Billing>>,
    /// `[webhooks]` endpoints with their signing keys.
    pub webhooks: crate::service::webhooks::Targets,
}

impl Drop for Snapshot {
    /// The plugins of a replaced configuration keep no idle instances (warm.rs); calls
    /// still running on them finish first, since they hold the snapshot.
    fn drop(&mut self) {
        for plugin in self.plugins.values() {
            plugin.retire();
        }
    }
}

impl Snapshot {
    /// Builds a snapshot with auth state of its own (one-shot uses such as `check`).
    pub async fn build(
        config: LoadedConfig,
        runtime: &Runtime,
        metrics: Option<Arc<Metrics>>,
    ) -> anyhow::Result<Self> {
        Self::build_with(config, runtime, &AuthState::new(metrics)).await
    }

    /// Builds a snapshot: loads every plugin, and takes the auth providers from `auth`,
    /// which keeps key sets and the verified-token cache the previous config shares.
    pub async fn build_with(
        config: LoadedConfig,
        runtime: &Runtime,
        auth: &AuthState,
    ) -> anyhow::Result<Self> {
        let plugins = runtime.load_all(&config).await?;
        let mut routes = Vec::new();
        for r in &config.config.routes {
            // Validation guarantees these names exist; a miss here is a bug, not input.
            let handler = plugins
                .get(&r.handler)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("route handler {:?} was not loaded", r.handler))?;
            let mut policies = Vec::new();
            for p in &r.policies {
                policies.push(
                    plugins
                        .get(p)
                        .cloned()
                        .ok_or_else(|| anyhow::anyhow!("policy {p:?} was not loaded"))?,
                );
            }
            routes.push(Route {
                path: r.path.trim_end_matches('/').to_string(),
                handler,
                auth: r.auth,
                policies,
                scopes: r.scopes.clone(),
                tenant: r.tenant.clone(),
                read_only: r.read_only,
                default_labels: r.default_labels.clone(),
                protected_labels: r.protected_labels.clone(),
                admission: r.max_concurrency.map(|limit| {
                    crate::plugins::admission::Gate::new(
                        crate::plugins::admission::Kind::Route,
                        &r.path,
                        limit,
                        std::time::Duration::ZERO,
                    )
                }),
                // Validated at load (config/routes.rs); "" means no header.
                cache_pinned: cache_header(&r.cache_pinned),
                cache_resolved: cache_header(&r.cache_resolved),
            });
        }
        // Longest prefix first, so "/v1/prompts/special" wins over "/v1/prompts".
        routes.sort_by_key(|r| std::cmp::Reverse(r.path.len()));
        let auth = auth.authenticator(&config).await?;
        let billing = crate::billing::Billing::load(&config, auth.issuers()).await?;
        let webhooks = crate::service::webhooks::Targets::load(&config).await?;
        Ok(Self {
            config,
            plugins,
            routes,
            auth,
            billing,
            webhooks,
        })
    }

    /// The route serving `path`, and the rest of the path after its prefix.
    pub fn route<'a>(&self, path: &'a str) -> Option<(&Route, &'a str)> {
        self.routes.iter().find_map(|r| {
            let rest = path.strip_prefix(r.path.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((r, rest))
        })
    }
}

pub struct App {
    /// Storage of the process: the host's own data (profiles, sessions, change revisions)
    /// and, through the runtime, the plugins' kv and blob imports.
    pub storage: Storage,
    pub runtime: Runtime,
    /// `None` until the first snapshot (plugins compiled and checked) is installed: the
    /// listener is up before that, answering `/health` and a 503 `/ready`.
    snapshot: ArcSwapOption<Snapshot>,
    /// Server settings that stay fixed for the life of the process (the listener's).
    pub server: ServerConfig,
    ready: AtomicBool,
    /// Requests being handled now; shutdown waits for it to reach zero.
    inflight: AtomicUsize,
    pub started: Instant,
    /// Prometheus metrics of the process (`/metrics`).
    pub metrics: Arc<Metrics>,
    /// Key sets, HTTP client and verified-token cache, kept across reloads.
    pub auth: AuthState,
    /// Stored-profile tiers of recent callers (`service/users.rs`).
    pub tiers: TierCache,
    /// Outbox depths and the HTTP client of the webhook deliveries.
    pub webhooks: crate::service::webhooks::Webhooks,
}

/// Counts a request as in flight for as long as it lives.
pub struct InflightGuard<'a>(&'a AtomicUsize);

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl App {
    /// Opens storage and starts the plugin runtime; plugins are loaded by [`App::load`].
    pub async fn new(config: &LoadedConfig) -> anyhow::Result<Arc<Self>> {
        let metrics = Arc::new(Metrics::new(&config.config)?);
        let storage: Storage = storage::open(config).await?;
        let storage =
            storage::metered::wrap(storage, config.config.storage.backend, metrics.clone());
        let runtime = Runtime::new(
            &config.config.runtime,
            crate::plugins::PoolShape::for_config(config),
            storage.clone(),
            config.cache_dir(),
        )?;
        runtime.set_metrics(metrics.clone());
        if config.config.limits.mode == crate::config::LimitsMode::Cluster {
            runtime.enable_cluster_limits(&config.config.limits, Some(metrics.clone()))?;
        }
        Ok(Arc::new(Self {
            storage,
            runtime,
            snapshot: ArcSwapOption::empty(),
            server: config.config.server.clone(),
            ready: AtomicBool::new(false),
            inflight: AtomicUsize::new(0),
            started: Instant::now(),
            auth: AuthState::new(Some(metrics.clone())),
            tiers: TierCache::default(),
            webhooks: crate::service::webhooks::Webhooks::new()?,
            metrics,
        }))
    }

    /// Opens storage, starts the runtime and loads the config's plugins.
    pub async fn start(config: LoadedConfig) -> anyhow::Result<Arc<Self>> {
        let app = Self::new(&config).await?;
        app.load(config).await?;
        Ok(app)
    }

    /// Builds a snapshot from `config` and installs it atomically; requests already
    /// running finish on the snapshot they started with.
    pub async fn load(&self, config: LoadedConfig) -> anyhow::Result<()> {
        let snapshot = Snapshot::build_with(config, &self.runtime, &self.auth).await?;
        snapshot.auth.prefetch_keys();
        self.snapshot.store(Some(Arc::new(snapshot)));
        Ok(())
    }

    /// Re-reads the config file and installs a new snapshot. Unchanged plugins are reused
    /// from the compiled-component cache; on any error the current snapshot keeps serving.
    pub async fn reload(&self, file: &std::path::Path) -> anyhow::Result<()> {
        let result = self.try_reload(file).await;
        self.metrics.reload(result.is_ok());
        result
    }

    async fn try_reload(&self, file: &std::path::Path) -> anyhow::Result<()> {
        let f = file.to_path_buf();
        let config = tokio::task::spawn_blocking(move || crate::config::load(&f)).await??;
        if let Some(current) = self.snapshot() {
            warn_restart_only(&current.config, &config);
        }
        let snapshot = Snapshot::build_with(config, &self.runtime, &self.auth).await?;
        snapshot.auth.prefetch_keys();
        self.runtime.retain_components(&snapshot.plugins);
        self.snapshot.store(Some(Arc::new(snapshot)));
        Ok(())
    }

    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.load_full()
    }

    pub fn track_request(&self) -> InflightGuard<'_> {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        InflightGuard(&self.inflight)
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Ready means: a snapshot is installed and the server is not shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.snapshot.load().is_some()
    }
}

/// Listener, storage and runtime settings are fixed at start; say so when they change.
fn warn_restart_only(old: &LoadedConfig, new: &LoadedConfig) {
    let (o, n) = (&old.config, &new.config);
    let tables = [
        (
            "server",
            format!("{:?}", o.server) != format!("{:?}", n.server),
        ),
        (
            "storage",
            format!("{:?}", o.storage) != format!("{:?}", n.storage),
        ),
        (
            "runtime",
            format!("{:?}", o.runtime) != format!("{:?}", n.runtime),
        ),
        (
            "logging",
            format!("{:?}", o.logging) != format!("{:?}", n.logging),
        ),
        (
            "metrics",
            format!("{:?}", o.metrics) != format!("{:?}", n.metrics),
        ),
    ];
    for (table, changed) in tables {
        if changed {
            tracing::warn!(
                table,
                "[{table}] changed; it takes effect at the next restart"
            );
        }
    }
}

/// A configured `Cache-Control` value as a header, `None` for `""`.
fn cache_header(value: &str) -> Option<http::HeaderValue> {
    (!value.is_empty())
        .then(|| http::HeaderValue::from_str(value).ok())
        .flatten()
}
