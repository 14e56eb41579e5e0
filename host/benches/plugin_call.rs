//! Per-call cost of the plugin runtime, in process, through the library API: every call
//! builds a fresh store, instantiates the component (from its `InstancePre`) and makes one
//! export call — exactly what a request does (host/src/plugins/runtime.rs).
//!
//! Each criterion group compares three instance allocators, so the ratio between them is
//! read off one report:
//!
//! - `pooling/keep_resident=1MiB` — the default `RuntimeConfig` (what the server runs with);
//! - `pooling/keep_resident=0`    — pooling, but slots are fully decommitted between uses;
//! - `on-demand`                  — `pooling = false`: mmap/munmap per instance.
//!
//! Groups: `policy.decide`, `renderer.render`, `prompt-store.get` (a kv read through the
//! host import), `prompt-store.apply` (kv read + a nested renderer instance), and
//! `policy.decide/2-tasks`, two tasks calling concurrently on a 2-worker runtime (reported
//! per call, so it is throughput-like: lower is better; it shows contention such as the TLB
//! shootdowns that decommitting memory causes).
//!
//! Needs the plugin components: `cargo plugins`. Without them the benchmark prints why and
//! exits successfully. Run: `cargo bench -p mcp-prompts --bench plugin_call`
//! (add `-- --measurement-time 3 --warm-up-time 1` for a quicker run).

use criterion::{BenchmarkId, Criterion};
use mcp_prompts::config::{self, ByteSize, LoadedConfig, RuntimeConfig};
use mcp_prompts::plugins::{
    Allocator, CallContext, Decision, LoadedPlugin, PolicyRequest, RenderRequest, Runtime, Selector,
};
use mcp_prompts::storage::{self, Storage};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PLUGINS: &[&str] = &["policy", "renderer", "prompt_store"];
const PROMPT_ID: &str = "bench-greet";

fn wasm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release")
}

/// One allocator configuration with its runtime and loaded plugins.
struct Variant {
    name: String,
    runtime: Runtime,
    policy: Arc<LoadedPlugin>,
    renderer: Arc<LoadedPlugin>,
    store: Arc<LoadedPlugin>,
}

fn plugin_config(dir: &Path) -> String {
    let p = |n: &str| dir.join(format!("{n}.wasm")).display().to_string();
    format!(
        r#"
[plugins.renderer]
path = "{renderer}"
world = "renderer"
memory_limit = "64MiB"
timeout = "2s"

[plugins.prompt-store]
path = "{store}"
world = "prompt-handler"
memory_limit = "64MiB"
timeout = "5s"
kv = ["prompts"]
renderer = "renderer"

[plugins.prompt-store.config]
namespace = "prompts"

[plugins.policy]
path = "{policy}"
world = "policy"
memory_limit = "16MiB"
timeout = "1s"
kv = ["ratelimits"]

[plugins.policy.config]
anonymous_read = true
write_requires_auth = true
write_scopes = []
"#,
        renderer = p("renderer"),
        store = p("prompt_store"),
        policy = p("policy"),
    )
}

async fn variant(name: String, rc: RuntimeConfig, lc: &LoadedConfig, storage: Storage) -> Variant {
    let want_pooling = rc.pooling;
    let runtime = Runtime::new(
        &rc,
        mcp_prompts::plugins::PoolShape::default(),
        storage,
        None,
    )
    .expect("plugin runtime");
    if want_pooling && runtime.allocator() != Allocator::Pooling {
        eprintln!(
            "warning: {name}: the pooling allocator is unavailable here; this variant runs on-demand"
        );
    }
    let set = runtime.load_all(lc).await.expect("load plugins");
    let get = |n: &str| set.get(n).cloned().expect("plugin loaded");
    Variant {
        name,
        policy: get("policy"),
        renderer: get("renderer"),
        store: get("prompt-store"),
        runtime,
    }
}

fn human(b: ByteSize) -> String {
    match b.0 {
        n if n > 0 && n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
        n if n > 0 && n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
        n => n.to_string(),
    }
}

fn call_context() -> CallContext {
    CallContext {
        request_id: "bench".into(),
        principal: None,
        tenant: "default".into(),
        spend: Default::default(),
        rider: None,
    }
}

fn policy_request() -> PolicyRequest {
    PolicyRequest {
        method: "GET".into(),
        route: "/v1/prompts/{id}".into(),
        resource: Some(PROMPT_ID.into()),
        action: "read".into(),
        client: Some("127.0.0.1".into()),
    }
}

fn render_request() -> RenderRequest {
    RenderRequest {
        template: "Hello {{name}}, let us talk about {{topic}}.".into(),
        variables_json: r#"{"name":"Ada","topic":"benchmarks"}"#.into(),
        partials: Vec::new(),
        required: vec!["name".into()],
    }
}

const VARIABLES: &str = r#"{"name":"Ada","topic":"benchmarks"}"#;

async fn decide(v: &Variant, req: &PolicyRequest) {
    let d = v
        .runtime
        .decide(&v.policy, &call_context(), req)
        .await
        .expect("policy call");
    black_box(d);
}

async fn render(v: &Variant, req: RenderRequest) {
    let out = v
        .runtime
        .render_template(&v.renderer, &call_context(), req)
        .await
        .expect("renderer call");
    black_box(out.expect("template renders"));
}

async fn get(v: &Variant) {
    let cx = call_context();
    let out = v
        .runtime
        .prompts(&v.store, &cx)
        .get(PROMPT_ID, &Selector::Current)
        .await
        .expect("prompt-store call");
    black_box(out.expect("prompt found"));
}

async fn apply(v: &Variant) {
    let cx = call_context();
    let out = v
        .runtime
        .prompts(&v.store, &cx)
        .apply(PROMPT_ID, &Selector::Current, VARIABLES.to_string())
        .await
        .expect("prompt-store call");
    black_box(out.expect("prompt applies"));
}

/// Creates (or leaves unchanged) the prompt the get/apply benchmarks read, and checks that
/// every call benchmarked below succeeds, so that no variant measures an error path.
async fn seed_and_check(v: &Variant) {
    let cx = call_context();
    let prompt = serde_json::json!({
        "id": PROMPT_ID,
        "name": "Benchmark greeting",
        "content": "Hello {{name}}, let us talk about {{topic}}.",
        "variables": ["name", "topic"],
    })
    .to_string();
    v.runtime
        .prompts(&v.store, &cx)
        .upsert(prompt)
        .await
        .expect("prompt-store call")
        .expect("seed prompt");
    let d = v
        .runtime
        .decide(&v.policy, &cx, &policy_request())
        .await
        .expect("policy call");
    assert!(
        matches!(d, Decision::Allow),
        "{}: the policy denied the benchmark request: {d:?}",
        v.name
    );
    render(v, render_request()).await;
    get(v).await;
    apply(v).await;
}

fn main() {
    let dir = wasm_dir();
    let missing: Vec<_> = PLUGINS
        .iter()
        .map(|n| dir.join(format!("{n}.wasm")))
        .filter(|p| !p.exists())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "plugin_call: skipped: plugin components missing ({}); run `cargo plugins` first",
            missing
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return;
    }

    // Two workers, like the server on this 2-core machine. Single-call benchmarks run on the
    // bench thread (`block_on`); the 2-tasks group spawns onto the workers.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let data = tempfile::tempdir().expect("temp dir");
    let cfg_path = data.path().join("bench.toml");
    let lc = config::parse(&cfg_path, &plugin_config(&dir)).expect("bench config");
    let storage = storage::embedded::open(data.path()).expect("embedded storage");

    let default = RuntimeConfig::default();
    let no_keep = RuntimeConfig {
        keep_resident: ByteSize(0),
        ..RuntimeConfig::default()
    };
    let on_demand = RuntimeConfig {
        pooling: false,
        ..RuntimeConfig::default()
    };
    let variants: Vec<Variant> = rt.block_on(async {
        let mut vs = Vec::new();
        for (name, rc) in [
            (
                format!("pooling/keep_resident={}", human(default.keep_resident)),
                default.clone(),
            ),
            ("pooling/keep_resident=0".to_string(), no_keep),
            ("on-demand".to_string(), on_demand),
        ] {
            let v = variant(name, rc, &lc, storage.clone()).await;
            seed_and_check(&v).await;
            vs.push(v);
        }
        vs
    });

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    {
        let mut g = c.benchmark_group("policy.decide");
        for v in &variants {
            g.bench_function(BenchmarkId::from_parameter(&v.name), |b| {
                b.to_async(&rt)
                    .iter(|| async { decide(v, &policy_request()).await })
            });
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group("renderer.render");
        for v in &variants {
            g.bench_function(BenchmarkId::from_parameter(&v.name), |b| {
                b.to_async(&rt)
                    .iter(|| async { render(v, render_request()).await })
            });
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group("prompt-store.get");
        for v in &variants {
            g.bench_function(BenchmarkId::from_parameter(&v.name), |b| {
                b.to_async(&rt).iter(|| async { get(v).await })
            });
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group("prompt-store.apply");
        for v in &variants {
            g.bench_function(BenchmarkId::from_parameter(&v.name), |b| {
                b.to_async(&rt).iter(|| async { apply(v).await })
            });
        }
        g.finish();
    }
    {
        // Two tasks on the two workers, each making half of the calls: time per call.
        let mut g = c.benchmark_group("policy.decide/2-tasks");
        for v in &variants {
            g.bench_function(BenchmarkId::from_parameter(&v.name), |b| {
                b.iter_custom(|iters| {
                    let per_task = iters.div_ceil(2);
                    let start = Instant::now();
                    rt.block_on(async {
                        let tasks: Vec<_> = (0..2)
                            .map(|_| {
                                let runtime = v.runtime.clone();
                                let policy = v.policy.clone();
                                tokio::spawn(async move {
                                    for _ in 0..per_task {
                                        let d = runtime
                                            .decide(&policy, &call_context(), &policy_request())
                                            .await
                                            .expect("policy call");
                                        black_box(d);
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.expect("bench task");
                        }
                    });
                    // Normalise to `iters` calls (the tasks made 2 * per_task).
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (2 * per_task) as f64)
                })
            });
        }
        g.finish();
    }

    c.final_summary();
    drop(variants);
}
