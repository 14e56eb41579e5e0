//! `mcp-prompts plugin inspect FILE`, and the harmless call per world that `inspect` times
//! and `check` makes to every plugin.
//!
//! Compiling and import-checking a component says nothing about whether it runs: an
//! interpreter component can load and then trap on every call (instance limits, a missing
//! stub, a crash in its start-up code). A real call on a fresh instance is the only honest
//! test, so both commands make one, with inputs every world must accept without side
//! effects: a policy is asked about an anonymous `list`, a renderer renders a one-line
//! template, a prompt handler lists one prompt of an empty scratch store.

use crate::config::{self, World};
use crate::plugins::{
    CallContext, Footprint, ListQuery, LoadedPlugin, PluginFailure, PolicyRequest, PoolShape,
    RenderRequest, Runtime, analyze,
};
use clap::Subcommand;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Print what a component is: the world it matches, its imports and exports, the
    /// grants it needs, its core instance count and initial memory, and the measured time
    /// of a fresh instance plus one harmless call.
    Inspect {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Timed calls after the first (each on a fresh instance, as the server makes them).
        #[arg(long, default_value_t = 5)]
        runs: u32,
    },
    /// Create a plugin project: the WIT, the guest helpers, a minimal implementation of
    /// the world, a test, a build script, the config to paste and a README.
    New {
        /// The plugin's name: lowercase letters, digits and '-' (also its config key).
        name: String,
        #[arg(long, value_enum)]
        lang: crate::cli::plugin_new::Lang,
        #[arg(long, value_enum)]
        world: crate::cli::plugin_new::NewWorld,
        /// Where to create it (default: ./NAME); must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print the WIT this binary speaks (`mcp-prompts:plugin@X.Y.Z`), or write it to a file
    /// for a toolchain to build against.
    Wit {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn run(cmd: PluginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::Inspect { file, runs } => inspect(&file, runs).await,
        PluginCommand::New {
            name,
            lang,
            world,
            dir,
        } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            match crate::cli::plugin_new::create(lang, world, &name, &dir) {
                Ok(created) => {
                    println!("{created}");
                    Ok(ExitCode::SUCCESS)
                }
                // Bad input is a usage error (2, like clap's own); a failed write is not.
                Err(e @ crate::cli::plugin_new::NewError::Write { .. }) => Err(e.into()),
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        PluginCommand::Wit { out } => {
            let wit = crate::cli::plugin_new::PLUGIN_WIT;
            match out {
                None => print!("{wit}"),
                Some(path) => {
                    std::fs::write(&path, wit)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                    eprintln!(
                        "wrote {} (mcp-prompts:plugin@{})",
                        path.display(),
                        crate::cli::plugin_new::wit_version()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Which world a component's exports implement.
fn world_of(f: &Footprint) -> Option<World> {
    let exports = |iface: &str| {
        f.exports
            .iter()
            .any(|e| e.starts_with(&format!("mcp-prompts:plugin/{iface}@")))
    };
    if exports("prompts") {
        Some(World::PromptHandler)
    } else if exports("template-renderer") {
        Some(World::Renderer)
    } else if exports("access-policy") {
        Some(World::Policy)
    } else if f
        .exports
        .iter()
        .any(|e| e.starts_with("wasi:http/incoming-handler@"))
    {
        Some(World::Proxy)
    } else {
        None
    }
}

/// What the config must grant for each import, as TOML lines for `[plugins.NAME]`.
#[derive(Default)]
struct Grants {
    kv: bool,
    blob: bool,
    renderer: bool,
    stub_wasi: Vec<&'static str>,
    refused: Vec<String>,
}

fn grants(f: &Footprint) -> Grants {
    let mut g = Grants::default();
    for import in &f.imports {
        let bare = import.split('@').next().unwrap_or(import);
        match bare {
            "mcp-prompts:plugin/kv" => g.kv = true,
            "mcp-prompts:plugin/blob" => g.blob = true,
            "mcp-prompts:plugin/render" => g.renderer = true,
            _ if bare.starts_with("mcp-prompts:plugin/") => {}
            _ if bare.starts_with("wasi:sockets/") => push_once(&mut g.stub_wasi, "sockets"),
            _ if bare.starts_with("wasi:http/") => push_once(&mut g.stub_wasi, "http"),
            _ if crate::plugins::wasi_allowed(bare) => {}
            _ => g.refused.push(import.clone()),
        }
    }
    g
}

fn push_once(v: &mut Vec<&'static str>, s: &'static str) {
    if !v.contains(&s) {
        v.push(s);
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

async fn inspect(file: &Path, runs: u32) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let f = analyze(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let world = world_of(&f);
    let mut g = grants(&f);
    if world == Some(World::Proxy) {
        // A proxy component gets the real wasi:http, not a stub.
        g.stub_wasi.retain(|s| *s != "http");
    }
    let mut out = String::new();
    writeln!(out, "file: {} ({} bytes)", file.display(), bytes.len())?;
    match world {
        Some(w) => writeln!(out, "world: {}", w.as_str())?,
        None => writeln!(
            out,
            "world: none (exports no mcp-prompts:plugin access-policy, template-renderer or prompts interface)"
        )?,
    }
    writeln!(out, "exports:")?;
    for e in &f.exports {
        writeln!(out, "  {e}")?;
    }
    writeln!(out, "imports:")?;
    for i in &f.imports {
        writeln!(out, "  {i}")?;
    }
    writeln!(out, "grants needed in [plugins.NAME]:")?;
    let mut any = false;
    for (needed, line) in [
        (
            g.kv,
            "  kv = [\"NAMESPACE\"]   (imports mcp-prompts:plugin/kv)",
        ),
        (
            g.blob,
            "  blob = [\"BUCKET\"]    (imports mcp-prompts:plugin/blob)",
        ),
        (
            g.renderer,
            "  renderer = \"NAME\"    (imports mcp-prompts:plugin/render)",
        ),
    ] {
        if needed {
            writeln!(out, "{line}")?;
            any = true;
        }
    }
    if !g.stub_wasi.is_empty() {
        let list: Vec<String> = g.stub_wasi.iter().map(|s| format!("\"{s}\"")).collect();
        writeln!(
            out,
            "  stub_wasi = [{}]   (imports WASI that plugins are not granted)",
            list.join(", ")
        )?;
        any = true;
    }
    if !any {
        writeln!(out, "  none")?;
    }
    for r in &g.refused {
        writeln!(out, "  REFUSED: imports {r}, which no configuration grants")?;
    }
    writeln!(
        out,
        "core instances: {} (plugins.NAME.max_core_instances, default 100)",
        f.core_instances
    )?;
    writeln!(
        out,
        "memories: {}, tables: {} (largest initial table: {} elements)",
        f.memories, f.tables, f.max_table_elements
    )?;
    writeln!(
        out,
        "initial memory: {} (set up on every call; counts toward memory_limit)",
        mib(f.initial_memory)
    )?;
    print!("{out}");
    let Some(world) = world else {
        return Ok(ExitCode::FAILURE);
    };
    if !g.refused.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    if g.renderer {
        println!(
            "instantiate + call: not measured (a prompt handler that renders needs a renderer plugin; use `check` with a config)"
        );
        return Ok(ExitCode::SUCCESS);
    }

    // Load it the way the server does, from a scratch config with the grants it needs.
    let scratch = tempfile::tempdir()?;
    let path = std::path::absolute(file)?;
    let cfg = scratch_config(scratch.path(), &path, world, &g, &f);
    let cfg_path = scratch.path().join("inspect.toml");
    std::fs::write(&cfg_path, cfg)?;
    let lc = config::load(&cfg_path)?;
    let storage = crate::storage::embedded::open(&scratch.path().join("data"))?;
    let runtime = Runtime::new(
        &lc.config.runtime,
        PoolShape::for_config(&lc),
        storage,
        None,
    )?;
    let compile = Instant::now();
    let set = runtime.load_all(&lc).await?;
    let compiled = compile.elapsed();
    let Some(plugin) = set.get("inspected") else {
        anyhow::bail!("the scratch config lost its plugin");
    };
    println!("compile: {}", ms(compiled));
    let tenant = lc.config.auth.default_tenant.clone();
    match probe(&runtime, plugin, &tenant).await {
        Ok(first) => {
            let mut times = Vec::new();
            for _ in 0..runs {
                match probe(&runtime, plugin, &tenant).await {
                    Ok(t) => times.push(t),
                    Err(e) => {
                        println!("instantiate + call: FAILED on a later call: {e}");
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
            times.sort();
            let median = times.get(times.len() / 2).copied().unwrap_or(first);
            println!(
                "instantiate + call: first {}, median of {runs} {} (a fresh instance per call)",
                ms(first),
                ms(median)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("instantiate + call: FAILED: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A config holding only the inspected component, granted what it imports, with limits
/// wide enough that the measurement is of the component and not of a default.
fn scratch_config(dir: &Path, file: &Path, world: World, g: &Grants, f: &Footprint) -> String {
    let toml_str = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut c = String::new();
    let data = dir.join("data");
    let _ = writeln!(
        c,
        "[storage]\ndata_dir = {}\n",
        toml_str(&data.to_string_lossy())
    );
    let _ = writeln!(c, "[runtime]\nmax_instances = 8\ncompile_cache = false\n");
    let _ = writeln!(
        c,
        "[plugins.inspected]\npath = {}\nworld = \"{}\"\nmemory_limit = \"256MiB\"\ntimeout = \"30s\"",
        toml_str(&file.to_string_lossy()),
        world.as_str()
    );
    let _ = writeln!(
        c,
        "max_core_instances = {}\nmax_memories = {}\nmax_tables = {}",
        f.core_instances.clamp(1, 10_000),
        f.memories.clamp(1, 10_000),
        f.tables.clamp(1, 10_000)
    );
    if g.kv {
        let _ = writeln!(c, "kv = [\"inspect\"]");
    }
    if g.blob {
        let _ = writeln!(c, "blob = [\"inspect\"]");
    }
    if !g.stub_wasi.is_empty() {
        let list: Vec<String> = g.stub_wasi.iter().map(|s| format!("\"{s}\"")).collect();
        let _ = writeln!(c, "stub_wasi = [{}]", list.join(", "));
    }
    c
}

/// One harmless call on a fresh instance; the time includes instantiation. A domain answer
/// of any kind (allow or deny, a render error, a handler error) counts as success: only a
/// failure to answer (trap, timeout, limit) is a failure.
pub async fn probe(
    runtime: &Runtime,
    plugin: &Arc<LoadedPlugin>,
    tenant: &str,
) -> Result<Duration, PluginFailure> {
    let cx = CallContext {
        request_id: format!("check-{}", uuid::Uuid::new_v4().simple()),
        principal: None,
        tenant: tenant.to_string(),
        spend: Default::default(),
        rider: None,
    };
    let started = Instant::now();
    match plugin.config.world {
        World::Policy => {
            let request = PolicyRequest {
                method: "GET".into(),
                route: "/check".into(),
                resource: None,
                action: "list".into(),
                client: None,
            };
            runtime.decide(plugin, &cx, &request).await.map(|_| ())?;
        }
        World::Renderer => {
            let request = RenderRequest {
                template: "Hello {{name}}".into(),
                variables_json: r#"{"name":"check"}"#.into(),
                ..RenderRequest::default()
            };
            runtime
                .render_template(plugin, &cx, request)
                .await
                .map(|_| ())?;
        }
        // Instantiated, but sent no request: a request could have effects (outbound).
        World::Proxy => crate::plugins::proxy::probe(runtime, plugin).await?,
        World::PromptHandler => {
            let q = ListQuery {
                limit: 1,
                ..ListQuery::default()
            };
            runtime.prompts(plugin, &cx).list(&q).await.map(|_| ())?;
        }
    }
    Ok(started.elapsed())
}
