//! `world = "proxy"` plugins: standard `wasi:http/proxy` components (what `wasmtime serve`
//! and Spin run), served through `wasmtime-wasi-http` the way `wasmtime serve` does.
//!
//! Each request gets a fresh store with the plugin's limits (memory, core instances,
//! tables, memories) and deadline, admitted by the plugin's `max_concurrency` gate. The
//! component runs in a task of its own so the response body can stream after the head
//! is sent; the task holds the admission permit and the store until the component
//! returns or its deadline passes, which also bounds a slowly streaming response.
//!
//! Outbound requests (`wasi:http/outgoing-handler`) go out only to hosts that
//! `plugins.NAME.allowed_outbound_hosts` allows; anything else fails with
//! `HttpRequestDenied` in the component, and the host logs it.
//!
//! This call path is separate from `Runtime::run` on purpose: the store type differs
//! (it carries the wasi:http context), and the call outlives the response head.

use super::runtime::{LoadError, LoadedPlugin, PluginFailure, Pre, Runtime};
use super::state::Limits;
use crate::config::outbound::OutboundHosts;
use crate::config::{PluginConfig, World};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

/// How long the host keeps a call past its deadline for host calls to notice (the epoch
/// deadline stops wasm code; this bounds time spent awaiting in host calls), as in
/// `Runtime::run`.
const WALL_GRACE: Duration = Duration::from_millis(250);

/// A loaded proxy component: pre-instantiated, with its parsed outbound allow-list.
pub struct ProxyPlugin {
    pre: ProxyPre<ProxyState>,
    allowed: Arc<OutboundHosts>,
}

/// The `T` of a proxy plugin's `Store`.
pub struct ProxyState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: Limits,
    hooks: Outbound,
}

impl WasiView for ProxyState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ProxyState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The outbound side of one call: the allow-list and the call's deadline.
struct Outbound {
    plugin: String,
    request_id: String,
    allowed: Arc<OutboundHosts>,
    deadline: Instant,
}

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                )>,
            > + Send,
    > {
        let uri = request.uri();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !self.allowed.allows(https, &host, port) {
            tracing::warn!(
                plugin = %self.plugin,
                request_id = %self.request_id,
                scheme = if https { "https" } else { "http" },
                host = %host,
                port,
                "outbound request denied: not in allowed_outbound_hosts"
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        // The whole exchange (connect, first byte, each frame) stays within the call's
        // deadline: an outbound request cannot keep the call alive past it.
        let left = self.deadline.saturating_duration_since(Instant::now());
        let cap = |d: Option<Duration>| Some(d.map_or(left, |d| d.min(left)));
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: cap(options.connect_timeout),
            first_byte_timeout: cap(options.first_byte_timeout),
            between_bytes_timeout: cap(options.between_bytes_timeout),
        };
        tracing::debug!(plugin = %self.plugin, host = %host, port, "outbound request");
        let mut default = DefaultSender;
        default.send_request(request, Some(options), fut)
    }
}

/// wasmtime-wasi-http's own sender (`default_send_request`), used for allowed requests.
struct DefaultSender;
impl WasiHttpHooks for DefaultSender {}

/// Compiles nothing (the component is compiled by the caller): links WASI and wasi:http
/// for `component` and pre-instantiates it as a `wasi:http/proxy`.
pub(super) fn load(
    engine: &Engine,
    name: &str,
    pc: &PluginConfig,
    component: &Component,
) -> Result<Pre, LoadError> {
    let refused = |e: wasmtime::Error| LoadError::Refused {
        plugin: name.to_string(),
        reason: format!("is not a wasi:http/proxy component: {e:#}"),
    };
    let allowed =
        OutboundHosts::parse(&pc.allowed_outbound_hosts).map_err(|(p, e)| LoadError::Refused {
            plugin: name.to_string(),
            reason: format!("allowed_outbound_hosts {p:?}: {e}"),
        })?;
    let mut linker: Linker<ProxyState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(refused)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(refused)?;
    let pre = linker
        .instantiate_pre(component)
        .and_then(ProxyPre::new)
        .map_err(refused)?;
    Ok(Pre::Proxy(Box::new(ProxyPlugin {
        pre,
        allowed: Arc::new(allowed),
    })))
}

/// What the request the component serves runs on behalf of.
pub struct ProxyCall {
    pub request_id: String,
    /// `https` when the client reached us over TLS.
    pub https: bool,
}

/// The response of a proxy call: the head, and a body that streams from the component.
pub type ProxyResponse = http::Response<ProxyBody>;

/// The component's response body, and how its call ended: a body that ends because the
/// call failed (deadline, trap, limit) must not look complete to the client.
pub struct ProxyBody {
    pub body: HyperOutgoingBody,
    pub outcome: tokio::sync::oneshot::Receiver<Result<(), PluginFailure>>,
}

/// Serves `req` with a proxy plugin. `Err` only for failures before the response head;
/// later ones reach the body's reader through [`ProxyBody::outcome`].
pub async fn serve<B>(
    rt: &Runtime,
    plugin: &Arc<LoadedPlugin>,
    call: ProxyCall,
    req: http::Request<B>,
) -> Result<ProxyResponse, PluginFailure>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<HttpError>,
{
    let started = Instant::now();
    let record = {
        let rt = rt.clone();
        let name = plugin.name.clone();
        move |failure: Option<&PluginFailure>| {
            if let Some(m) = rt.metrics() {
                m.plugin_call(
                    &name,
                    World::Proxy,
                    started.elapsed(),
                    failure.map(PluginFailure::kind),
                );
            }
        }
    };
    let Pre::Proxy(proxy) = &plugin.pre else {
        return Err(PluginFailure::Trap {
            plugin: plugin.name.clone(),
            message: format!("is a {} plugin, not a proxy", plugin.config.world.as_str()),
        });
    };
    // Admission before any allocation (admission.rs); the permit travels with the call.
    let Some(permit) = plugin.gate.admit().await else {
        let f = PluginFailure::AtCap {
            plugin: plugin.name.clone(),
            limit: plugin.config.max_concurrency,
        };
        record(Some(&f));
        return Err(f);
    };
    let deadline = Instant::now() + plugin.config.timeout;
    let mut store = new_store(rt, plugin, proxy, &call, deadline);
    let trap = |e: wasmtime::Error| PluginFailure::Trap {
        plugin: plugin.name.clone(),
        message: format!("{e:#}"),
    };
    let scheme = if call.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(scheme, req)
        .map_err(trap)?;
    let out = store
        .data_mut()
        .http()
        .new_response_outparam(head_tx)
        .map_err(trap)?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let pre = proxy.pre.clone();
    let owner = plugin.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let wall = owner.config.timeout + WALL_GRACE;
        // The store lives outside the timed future, so the outcome is known (and sent)
        // before the store, and with it the response body's sender, is dropped.
        let ran = tokio::time::timeout(wall, async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, out)
                .await
        })
        .await;
        let outcome = match ran {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(super::runtime::classify(&owner, e)),
            Err(_) => Err(PluginFailure::Timeout {
                plugin: owner.name.clone(),
                limit: owner.config.timeout,
            }),
        };
        record(outcome.as_ref().err());
        if let Err(f) = &outcome {
            tracing::warn!(plugin = %owner.name, failure = %f, "proxy call failed");
        }
        let _ = done_tx.send(outcome);
        drop(store);
    });
    match head_rx.await {
        Ok(Ok(resp)) => Ok(resp.map(|body| ProxyBody {
            body,
            outcome: done_rx,
        })),
        Ok(Err(code)) => Err(PluginFailure::Trap {
            plugin: plugin.name.clone(),
            message: format!("the component answered with error {code:?}"),
        }),
        // The store was dropped without a response: the call's outcome says why.
        Err(_) => Err(match done_rx.await {
            Ok(Err(f)) => f,
            _ => PluginFailure::Trap {
                plugin: plugin.name.clone(),
                message: "the component returned without setting a response".into(),
            },
        }),
    }
}

/// Instantiates the component once in a fresh store and runs nothing (`mcp-prompts
/// check`): a request could have effects (outbound calls), so none is sent.
pub async fn probe(rt: &Runtime, plugin: &Arc<LoadedPlugin>) -> Result<(), PluginFailure> {
    let Pre::Proxy(proxy) = &plugin.pre else {
        return Ok(());
    };
    let call = ProxyCall {
        request_id: format!("check-{}", uuid::Uuid::new_v4().simple()),
        https: true,
    };
    let deadline = Instant::now() + plugin.config.timeout;
    let mut store = new_store(rt, plugin, proxy, &call, deadline);
    let wall = plugin.config.timeout + WALL_GRACE;
    match tokio::time::timeout(wall, proxy.pre.instantiate_async(&mut store)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(super::runtime::classify(plugin, e)),
        Err(_) => Err(PluginFailure::Timeout {
            plugin: plugin.name.clone(),
            limit: plugin.config.timeout,
        }),
    }
}

fn new_store(
    rt: &Runtime,
    plugin: &LoadedPlugin,
    proxy: &ProxyPlugin,
    call: &ProxyCall,
    deadline: Instant,
) -> Store<ProxyState> {
    // As for every plugin: clocks, randomness and empty stdio; no directories, no
    // environment, no sockets. HTTP goes only through wasi:http and the allow-list.
    let wasi = WasiCtxBuilder::new()
        .allow_blocking_current_thread(false)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = ProxyState {
        wasi,
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        limits: Limits {
            memory: plugin.config.memory_limit.0 as usize,
            table_elements: 100_000,
            instances: plugin.config.max_core_instances as usize,
            tables: plugin.config.max_tables as usize,
            memories: plugin.config.max_memories as usize,
        },
        hooks: Outbound {
            plugin: plugin.name.clone(),
            request_id: call.request_id.clone(),
            allowed: proxy.allowed.clone(),
            deadline,
        },
    };
    let mut store = Store::new(rt.engine(), state);
    store.limiter(|s| &mut s.limits);
    // Check the deadline on every epoch tick and yield in between, as Runtime::new_store.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(super::runtime::DeadlineExceeded.into())
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store
}
