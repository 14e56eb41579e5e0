//! Prometheus metrics: one [`Metrics`] per process (a registry plus every metric family),
//! reachable as `App::metrics`, exposed at `/metrics` (see `server::metrics_listener`).
//! Every metric is documented in docs/metrics.md.
//!
//! Crate choice: `prometheus-client` (prometheus/client_rust) is the Prometheus project's
//! own Rust client. It encodes OpenMetrics text (what Prometheus prefers when scraping) and
//! the classic text format 0.0.4, has typed label sets (so a label cannot be misspelt at one
//! call site), no global default registry, and no `protobuf` dependency. The older
//! `prometheus` crate (tikv) keeps a global registry and a heavier dependency tree.
//!
//! Cardinality: every label value comes from a closed set (status codes, reason and kind
//! enums, storage operations) or from the config (route prefixes, plugin names). Raw
//! request paths, tenants and subjects are never labels.

use crate::config::{Config, StorageBackend, World};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `Content-Type` of the OpenMetrics text exposition (the default).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the classic Prometheus text format, served when the client asks
/// for `text/plain` and not for OpenMetrics.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Route label for requests that matched no route (404s, and 503s before a route was
/// resolved: still starting, request timeout).
pub const NO_ROUTE: &str = "none";

/// Shortest bearer token accepted for `/metrics`.
pub const MIN_TOKEN_BYTES: usize = 16;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
    world: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginInstanceLabels {
    plugin: String,
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginFailureLabels {
    plugin: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BillingEventLabels {
    r#type: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StorageLabels {
    backend: &'static str,
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StorageErrorLabels {
    backend: &'static str,
    op: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    event: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    resource: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn http_buckets() -> Histogram {
    // 0.5 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}
fn plugin_buckets() -> Histogram {
    // 0.1 ms .. ~13 s (plugin timeouts are seconds).
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}
fn storage_buckets() -> Histogram {
    // 50 µs .. ~1.6 s.
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

/// Where and how `/metrics` is served (`[metrics]`, fixed for the life of the process).
#[derive(Clone)]
pub struct Endpoint {
    pub enabled: bool,
    /// Separate plain-HTTP listener; when set, the main listener does not serve `/metrics`.
    pub listen: Option<SocketAddr>,
    /// Static bearer token required on `/metrics` (read from `bearer_token_env` at start-up).
    token: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("enabled", &self.enabled)
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Endpoint {
    /// `/metrics` is a built-in path of the main listener.
    pub fn on_main_listener(&self) -> bool {
        self.enabled && self.listen.is_none()
    }

    /// The separate listener's address, when one is configured.
    pub fn separate_listener(&self) -> Option<SocketAddr> {
        self.listen.filter(|_| self.enabled)
    }

    /// Whether a request with this `Authorization` value may scrape.
    pub fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(value) = authorization else {
            return false;
        };
        let presented = value
            .strip_prefix(b"Bearer ")
            .or_else(|| value.strip_prefix(b"bearer "))
            .unwrap_or(b"");
        constant_time_eq(presented, token.as_bytes())
    }
}

/// Compares without an early exit on the first differing byte (`subtle`, whose
/// comparison the optimiser cannot turn back into one). A length mismatch answers at once:
/// the token's length is not the secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.ct_eq(b).into()
}

/// The process's metrics. Recording is lock-free for label sets already seen (a read lock
/// on the family's map), so it is cheap enough for every request and plugin call.
pub struct Metrics {
    registry: Registry,
    pub endpoint: Endpoint,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    plugin_duration: HistogramFamily<PluginLabels>,
    plugin_failures: Family<PluginFailureLabels, Counter>,
    plugin_instances: Family<PluginInstanceLabels, Counter>,
    auth_failures: Family<ReasonLabels, Counter>,
    storage_duration: HistogramFamily<StorageLabels>,
    storage_errors: Family<StorageErrorLabels, Counter>,
    reloads: Family<ResultLabels, Counter>,
    jwks_refreshes: Family<ResultLabels, Counter>,
    limit_leases: Family<ResultLabels, Counter>,
    limit_local_fallbacks: Counter,
    billing_events: Family<BillingEventLabels, Counter>,
    billing_signature_failures: Family<ReasonLabels, Counter>,
    webhook_deliveries: Family<WebhookLabels, Counter>,
    webhook_dropped: Family<ReasonLabels, Counter>,
    webhook_outbox: Family<TenantLabels, Gauge>,
    webhook_duration: HistogramFamily<ResultLabels>,
    pooling: Gauge,
    pool_in_use: Family<ResourceLabels, Gauge>,
    pool_warm: Family<ResourceLabels, Gauge>,
    pool_max_instances: Gauge,
    max_instances: i64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Builds the registry. Fails when `metrics.bearer_token_env` names a variable that is
    /// unset or holds a token shorter than [`MIN_TOKEN_BYTES`].
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let mc = &config.metrics;
        let token = match &mc.bearer_token_env {
            None => None,
            Some(var) => {
                let t = std::env::var(var).map_err(|_| {
                    anyhow::anyhow!(
                        "metrics.bearer_token_env: environment variable {var} is not set"
                    )
                })?;
                let t = t.trim().to_string();
                if t.len() < MIN_TOKEN_BYTES {
                    anyhow::bail!(
                        "metrics.bearer_token_env: the token in {var} is {} bytes; at least {MIN_TOKEN_BYTES} are required",
                        t.len()
                    );
                }
                Some(t)
            }
        };
        let endpoint = Endpoint {
            enabled: mc.enabled,
            listen: mc.listen,
            token,
        };

        let mut r = Registry::with_prefix("mcp_prompts");
        let http_requests = Family::<HttpLabels, Counter>::default();
        r.register(
            "http_requests",
            "HTTP requests served, by route prefix or built-in path (route=none when no route matched) and status code",
            http_requests.clone(),
        );
        let http_duration = HistogramFamily::<RouteLabels>::new_with_constructor(http_buckets);
        r.register_with_unit(
            "http_request_duration",
            "Time from receiving a request to producing its response, by route",
            Unit::Seconds,
            http_duration.clone(),
        );
        let plugin_duration = HistogramFamily::<PluginLabels>::new_with_constructor(plugin_buckets);
        r.register_with_unit(
            "plugin_call_duration",
            "Duration of one plugin call (fresh store, instantiation and the call), successful or not, by plugin and world",
            Unit::Seconds,
            plugin_duration.clone(),
        );
        let plugin_failures = Family::<PluginFailureLabels, Counter>::default();
        r.register(
            "plugin_failures",
            "Plugin calls that produced no result, by plugin and kind (timeout, limit, trap, busy)",
            plugin_failures.clone(),
        );
        let plugin_instances = Family::<PluginInstanceLabels, Counter>::default();
        r.register(
            "plugin_instances",
            "Instances plugin calls ran on, by plugin and source: fresh (instantiated for the call), request (shared within one request: a renderer serving a handler's render calls) or warm (reused from [plugins.NAME.warm])",
            plugin_instances.clone(),
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        r.register(
            "auth_failures",
            "Requests refused with 401 by the bearer-token check, by reason",
            auth_failures.clone(),
        );
        let storage_duration =
            HistogramFamily::<StorageLabels>::new_with_constructor(storage_buckets);
        r.register_with_unit(
            "storage_operation_duration",
            "Duration of one storage backend call, by backend and operation",
            Unit::Seconds,
            storage_duration.clone(),
        );
        let storage_errors = Family::<StorageErrorLabels, Counter>::default();
        r.register(
            "storage_errors",
            "Storage backend calls that returned an error, by backend, operation and kind (conflict, invalid, unavailable)",
            storage_errors.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        r.register(
            "reloads",
            "Configuration/plugin reloads, by result (ok, failed)",
            reloads.clone(),
        );
        let jwks_refreshes = Family::<ResultLabels, Counter>::default();
        r.register(
            "jwks_refreshes",
            "JWKS key-set refreshes, by result (ok, failed)",
            jwks_refreshes.clone(),
        );
        for result in ["ok", "failed"] {
            // Present (at 0) from the start, so alerts see a series rather than none.
            let _ = reloads.get_or_create(&ResultLabels { result });
            let _ = jwks_refreshes.get_or_create(&ResultLabels { result });
        }
        let limit_leases = Family::<ResultLabels, Counter>::default();
        let limit_local_fallbacks = Counter::default();
        if config.limits.mode == crate::config::LimitsMode::Cluster {
            r.register(
                "limit_leases",
                "Cluster-wide rate limits: lease writes of token blocks, by result (granted, exhausted, failed)",
                limit_leases.clone(),
            );
            r.register(
                "limit_local_fallbacks",
                "Cluster-wide rate limits: checks answered by the host's local limiter because the shared counter could not be reached",
                limit_local_fallbacks.clone(),
            );
            for result in ["granted", "exhausted", "failed"] {
                let _ = limit_leases.get_or_create(&ResultLabels { result });
            }
        }
        let billing_events = Family::<BillingEventLabels, Counter>::default();
        r.register(
            "billing_webhook_events",
            "Stripe webhook events with a valid signature, by event type (closed set) and outcome",
            billing_events.clone(),
        );
        let billing_signature_failures = Family::<ReasonLabels, Counter>::default();
        r.register(
            "billing_webhook_signature_failures",
            "Stripe webhook requests refused with 400 by the signature check, by reason",
            billing_signature_failures.clone(),
        );
        let webhook_deliveries = Family::<WebhookLabels, Counter>::default();
        r.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by event type and result (delivered, retry, failed)",
            webhook_deliveries.clone(),
        );
        let webhook_dropped = Family::<ReasonLabels, Counter>::default();
        r.register(
            "webhook_events_dropped",
            "Change events not queued for webhooks, by reason (outbox_full, storage)",
            webhook_dropped.clone(),
        );
        for reason in ["outbox_full", "storage"] {
            let _ = webhook_dropped.get_or_create(&ReasonLabels { reason });
        }
        let webhook_outbox = Family::<TenantLabels, Gauge>::default();
        r.register(
            "webhook_outbox_depth",
            "Events waiting in a tenant's webhook outbox at the last poll, by tenant (tenants with webhooks only)",
            webhook_outbox.clone(),
        );
        let webhook_duration = HistogramFamily::<ResultLabels>::new_with_constructor(http_buckets);
        r.register_with_unit(
            "webhook_attempt_duration",
            "Duration of one webhook HTTP attempt, by result (ok, failed)",
            Unit::Seconds,
            webhook_duration.clone(),
        );
        let pooling = Gauge::default();
        r.register(
            "pooling_allocator",
            "1 when plugins run on wasmtime's pooling allocator, 0 with on-demand allocation",
            pooling.clone(),
        );
        let pool_in_use = Family::<ResourceLabels, Gauge>::default();
        r.register(
            "pool_in_use",
            "Pooling allocator slots in use at scrape time, by resource",
            pool_in_use.clone(),
        );
        let pool_warm = Family::<ResourceLabels, Gauge>::default();
        r.register(
            "pool_warm_unused",
            "Pooling allocator slots not in use but previously used (warm), by resource",
            pool_warm.clone(),
        );
        let pool_max_instances = Gauge::default();
        r.register(
            "pool_max_component_instances",
            "Component instances the pool holds at once (runtime.max_instances); 0 with on-demand allocation",
            pool_max_instances.clone(),
        );
        let start_time = Gauge::<f64, AtomicU64>::default();
        start_time.set(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        r.register_with_unit(
            "process_start_time",
            "Start time of the process since the Unix epoch",
            Unit::Seconds,
            start_time,
        );
        r.register(
            "build",
            "Build information; the value is always 1",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );

        Ok(Self {
            registry: r,
            endpoint,
            http_requests,
            http_duration,
            plugin_duration,
            plugin_failures,
            plugin_instances,
            auth_failures,
            storage_duration,
            storage_errors,
            reloads,
            jwks_refreshes,
            limit_leases,
            limit_local_fallbacks,
            billing_events,
            billing_signature_failures,
            webhook_deliveries,
            webhook_dropped,
            webhook_outbox,
            webhook_duration,
            pooling,
            pool_in_use,
            pool_warm,
            pool_max_instances,
            max_instances: config.runtime.max_instances.into(),
        })
    }

    /// One served request. `route` is the matched route prefix or built-in path, never
    /// the raw request path.
    pub fn http_request(&self, route: Option<&str>, status: u16, elapsed: Duration) {
        let route = route.unwrap_or(NO_ROUTE).to_string();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.http_requests
            .get_or_create(&HttpLabels { route, status })
            .inc();
    }

    /// One plugin call (`Runtime::run`). `failure` is the kind of this plugin's own
    /// failure (`PluginFailure::kind`): a failure that merely passes on a nested call's
    /// (a renderer failing inside a handler) is counted once, by the failing plugin's call.
    pub fn plugin_call(
        &self,
        plugin: &str,
        world: World,
        elapsed: Duration,
        failure: Option<&'static str>,
    ) {
        self.plugin_duration
            .get_or_create(&PluginLabels {
                plugin: plugin.to_string(),
                world: world.as_str(),
            })
            .observe(elapsed.as_secs_f64());
        if let Some(kind) = failure {
            self.plugin_failures
                .get_or_create(&PluginFailureLabels {
                    plugin: plugin.to_string(),
                    kind,
                })
                .inc();
        }
    }

    /// The instance one plugin call ran on (`plugins::warm::Source`).
    pub fn plugin_instance(&self, plugin: &str, source: &'static str) {
        self.plugin_instances
            .get_or_create(&PluginInstanceLabels {
                plugin: plugin.to_string(),
                source,
            })
            .inc();
    }

    /// A request refused by the token check, by reason (`AuthError::kind`); `None` when
    /// a required token was missing.
    pub fn auth_failure(&self, reason: Option<&'static str>) {
        let reason = reason.unwrap_or("missing");
        self.auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// One storage backend call (`storage::metered`).
    pub fn storage_call(
        &self,
        backend: StorageBackend,
        op: &'static str,
        elapsed: Duration,
        error: Option<&'static str>,
    ) {
        let backend = backend_name(backend);
        self.storage_duration
            .get_or_create(&StorageLabels { backend, op })
            .observe(elapsed.as_secs_f64());
        if let Some(kind) = error {
            self.storage_errors
                .get_or_create(&StorageErrorLabels { backend, op, kind })
                .inc();
        }
    }

    /// A configuration/plugin reload finished: `ok` when the new snapshot was installed,
    /// `false` when it was rejected and the old one kept serving. Called by hot reload.
    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&ResultLabels {
                result: if ok { "ok" } else { "failed" },
            })
            .inc();
    }

    /// A lease write of the cluster-wide rate limits finished (`plugins::cluster_limits`):
    /// `granted`, `exhausted` (the window's budget was gone) or `failed`.
    pub fn limit_lease(&self, result: &'static str) {
        self.limit_leases
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// A rate-limit check answered locally because the shared counter was unreachable.
    pub fn limit_local_fallback(&self) {
        self.limit_local_fallbacks.inc();
    }

    /// A JWKS key-set fetch finished (`auth::jwks`).
    pub fn jwks_refresh(&self, ok: bool) {
        self.jwks_refreshes
            .get_or_create(&ResultLabels {
                result: if ok { "ok" } else { "failed" },
            })
            .inc();
    }

    /// A verified Stripe event (`billing::http`): `kind` and `outcome` come from closed sets
    /// (`events::Kind::label`, `Outcome::as_str`, `invalid`, `storage_unavailable`).
    pub fn billing_event(&self, kind: &'static str, outcome: &'static str) {
        self.billing_events
            .get_or_create(&BillingEventLabels {
                r#type: kind,
                outcome,
            })
            .inc();
    }

    /// A Stripe webhook request refused by the signature check.
    pub fn billing_signature_failure(&self, reason: &'static str) {
        self.billing_signature_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// One webhook delivery attempt of one event to one endpoint (service/webhooks):
    /// `result` is `delivered`, `retry` (will be tried again) or `failed` (given up).
    pub fn webhook_delivery(&self, event: &'static str, result: &'static str, elapsed: Duration) {
        self.webhook_deliveries
            .get_or_create(&WebhookLabels { event, result })
            .inc();
        let result = if result == "delivered" {
            "ok"
        } else {
            "failed"
        };
        self.webhook_duration
            .get_or_create(&ResultLabels { result })
            .observe(elapsed.as_secs_f64());
    }

    /// A change event that was not queued: `outbox_full` or `storage`.
    pub fn webhook_dropped(&self, reason: &'static str) {
        self.webhook_dropped
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// The outbox depth of a tenant with webhooks, as the last poll saw it.
    pub fn webhook_outbox(&self, tenant: &str, depth: usize) {
        self.webhook_outbox
            .get_or_create(&TenantLabels {
                tenant: tenant.to_string(),
            })
            .set(depth as i64);
    }

    /// Samples the pooling allocator (if any) and encodes every metric. `openmetrics`
    /// picks OpenMetrics text; otherwise the Prometheus text format 0.0.4.
    pub fn encode(
        &self,
        pool: Option<&wasmtime::PoolingAllocatorMetrics>,
        openmetrics: bool,
    ) -> String {
        self.sample_pool(pool);
        let mut out = String::with_capacity(16 * 1024);
        let r = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        };
        // Writing into a String cannot fail; an encoder error would be a bug.
        if let Err(e) = r {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }

    fn sample_pool(&self, pool: Option<&wasmtime::PoolingAllocatorMetrics>) {
        let Some(p) = pool else {
            self.pooling.set(0);
            self.pool_max_instances.set(0);
            return;
        };
        self.pooling.set(1);
        self.pool_max_instances.set(self.max_instances);
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let in_use = [
            ("component_instances", p.component_instances()),
            ("core_instances", p.core_instances()),
            ("memories", p.memories() as u64),
            ("tables", p.tables() as u64),
            ("stacks", p.stacks() as u64),
        ];
        for (resource, v) in in_use {
            self.pool_in_use
                .get_or_create(&ResourceLabels { resource })
                .set(clamp(v));
        }
        let warm = [
            ("memories", p.unused_warm_memories()),
            ("tables", p.unused_warm_tables()),
            ("stacks", p.unused_warm_stacks()),
        ];
        for (resource, v) in warm {
            self.pool_warm
                .get_or_create(&ResourceLabels { resource })
                .set(v.into());
        }
    }
}

fn backend_name(b: StorageBackend) -> &'static str {
    match b {
        StorageBackend::Embedded => "embedded",
        StorageBackend::Aws => "aws",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        let config: Config = toml::from_str("").unwrap();
        Metrics::new(&config).unwrap()
    }

    #[test]
    fn encodes_openmetrics_with_help_and_eof() {
        let m = metrics();
        m.http_request(Some("/v1/prompts"), 200, Duration::from_millis(3));
        m.http_request(None, 404, Duration::from_millis(1));
        m.auth_failure(Some("expired"));
        let text = m.encode(None, true);
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("# HELP mcp_prompts_http_requests "), "{text}");
        assert!(
            text.contains(
                "mcp_prompts_http_requests_total{route=\"/v1/prompts\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("mcp_prompts_http_requests_total{route=\"none\",status=\"404\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("mcp_prompts_auth_failures_total{reason=\"expired\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("mcp_prompts_reloads_total{result=\"failed\"} 0"),
            "{text}"
        );
        assert!(text.contains("mcp_prompts_pooling_allocator 0"), "{text}");
        let classic = m.encode(None, false);
        assert!(!classic.contains("# EOF"), "{classic}");
    }

    #[test]
    fn plugin_failures_are_labelled_by_plugin_and_kind() {
        let m = metrics();
        m.plugin_call(
            "renderer",
            World::Renderer,
            Duration::from_secs(1),
            Some("timeout"),
        );
        m.plugin_call("store", World::PromptHandler, Duration::from_secs(1), None);
        let text = m.encode(None, true);
        assert!(
            text.contains(
                "mcp_prompts_plugin_failures_total{plugin=\"renderer\",kind=\"timeout\"} 1"
            ),
            "{text}"
        );
        assert!(!text.contains("plugin=\"store\",kind="), "{text}");
    }

    #[test]
    fn token_check_is_exact() {
        let e = Endpoint {
            enabled: true,
            listen: None,
            token: Some("0123456789abcdef".into()),
        };
        assert!(e.authorized(Some(b"Bearer 0123456789abcdef")));
        assert!(!e.authorized(Some(b"Bearer 0123456789abcdeF")));
        assert!(!e.authorized(Some(b"Bearer 0123456789abcde")));
        assert!(!e.authorized(Some(b"0123456789abcdef")));
        assert!(!e.authorized(None));
    }
}
