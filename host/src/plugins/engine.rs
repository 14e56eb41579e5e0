//! The one wasmtime `Engine` of the process and its epoch ticker.

use crate::config::RuntimeConfig;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    Pooling,
    OnDemand,
}

/// What one pool slot (one component instance, i.e. one plugin call) holds, taken from the
/// components the configuration loads (`PoolShape::for_config`). The pool reserves
/// `runtime.max_instances` times this, so a Rust-only configuration keeps the small pool
/// it always had and an interpreter component gets the room it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolShape {
    pub core_instances: u32,
    pub memories: u32,
    pub tables: u32,
    pub memories_per_module: u32,
    pub tables_per_module: u32,
    /// Elements a pooled table can hold; growth beyond fails as a table limit.
    pub table_elements: usize,
}

/// Slot shape for Rust guests: one core module plus small adapter shims for WASI.
pub const RUST_SHAPE: PoolShape = PoolShape {
    core_instances: 4,
    memories: 1,
    tables: 4,
    memories_per_module: 1,
    tables_per_module: 1,
    table_elements: 20_000,
};

impl Default for PoolShape {
    fn default() -> Self {
        RUST_SHAPE
    }
}

impl PoolShape {
    /// The smallest shape that holds one call of every plugin in `lc` (within its
    /// `plugins.NAME.max_*` limits, which refuse anything larger at load). A plugin whose
    /// file cannot be read or parsed is skipped here: loading it reports the reason.
    pub fn for_config(lc: &crate::config::LoadedConfig) -> Self {
        let mut shape = RUST_SHAPE;
        for pc in lc.config.plugins.values() {
            let Ok(bytes) = std::fs::read(lc.resolve(&pc.path)) else {
                continue;
            };
            if let Ok(f) = super::footprint::analyze(&bytes) {
                shape.widen(&f, pc);
            }
        }
        shape
    }

    fn widen(&mut self, f: &super::footprint::Footprint, pc: &crate::config::PluginConfig) {
        self.core_instances = self
            .core_instances
            .max(f.core_instances.min(pc.max_core_instances));
        self.memories = self.memories.max(f.memories.min(pc.max_memories));
        self.tables = self.tables.max(f.tables.min(pc.max_tables));
        self.memories_per_module = self.memories_per_module.max(f.max_memories_per_module);
        self.tables_per_module = self.tables_per_module.max(f.max_tables_per_module);
        let elements = usize::try_from(f.max_table_elements).unwrap_or(usize::MAX);
        self.table_elements = self.table_elements.max(elements);
    }

    /// Why one call of a component with footprint `f` cannot run in a pool of this shape,
    /// if it cannot (a plugin added by a reload may need more than the pool built at
    /// start-up holds).
    pub fn refuses(&self, f: &super::footprint::Footprint) -> Option<String> {
        let over = |what: &str, need: u64, have: u64| {
            (need > have).then(|| {
                format!(
                    "needs {need} {what} per call, but the instance pool was sized at start-up \
                     for {have}: restart the server to resize it"
                )
            })
        };
        over(
            "core instances",
            f.core_instances.into(),
            self.core_instances.into(),
        )
        .or_else(|| over("memories", f.memories.into(), self.memories.into()))
        .or_else(|| over("tables", f.tables.into(), self.tables.into()))
        .or_else(|| {
            over(
                "memories in one module",
                f.max_memories_per_module.into(),
                self.memories_per_module.into(),
            )
        })
        .or_else(|| {
            over(
                "tables in one module",
                f.max_tables_per_module.into(),
                self.tables_per_module.into(),
            )
        })
        .or_else(|| {
            over(
                "table elements",
                f.max_table_elements,
                self.table_elements as u64,
            )
        })
    }
}

/// Builds the engine: pooling allocator if the configuration asks for it and the machine
/// can reserve the virtual memory, on-demand otherwise.
pub fn build(rc: &RuntimeConfig, shape: PoolShape) -> Result<(Engine, Allocator), wasmtime::Error> {
    if rc.pooling {
        match Engine::new(&base_config(rc, Some(pooling_config(rc, shape)))) {
            Ok(engine) => return Ok((engine, Allocator::Pooling)),
            Err(e) => tracing::warn!(
                error = %e,
                "pooling allocator unavailable (virtual memory too short?); using on-demand allocation"
            ),
        }
    }
    Ok((Engine::new(&base_config(rc, None))?, Allocator::OnDemand))
}

fn base_config(rc: &RuntimeConfig, pooling: Option<PoolingAllocationConfig>) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    c.max_wasm_stack(rc.max_wasm_stack.0 as usize);
    // Fibers run wasm on their own stacks; leave room for host frames above the wasm limit.
    c.async_stack_size(rc.max_wasm_stack.0 as usize + 1024 * 1024);
    c.memory_init_cow(true);
    if let Some(p) = pooling {
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    c
}

fn pooling_config(rc: &RuntimeConfig, shape: PoolShape) -> PoolingAllocationConfig {
    let mut p = PoolingAllocationConfig::new();
    let n = rc.max_instances;
    p.total_component_instances(n);
    // Each slot holds one call of the largest component loaded (PoolShape::for_config).
    p.total_core_instances(n.saturating_mul(shape.core_instances));
    p.total_memories(n.saturating_mul(shape.memories));
    p.total_tables(n.saturating_mul(shape.tables));
    p.max_memories_per_module(shape.memories_per_module);
    p.max_tables_per_module(shape.tables_per_module);
    p.table_elements(shape.table_elements);
    p.total_stacks(n);
    p.max_memory_size(rc.max_memory.0 as usize);
    // Keeping a little memory resident across instances avoids decommit/recommit work and
    // the TLB shootdowns it causes: instantiation drops from ~22 µs (50-110 µs under load)
    // to ~7 µs on the reference machine.
    p.linear_memory_keep_resident(rc.keep_resident.0 as usize);
    p.table_keep_resident(rc.keep_resident.0 as usize);
    p
}

/// Starts the single ticker thread that advances the engine's epoch every `tick`. Plugin
/// deadlines are counted in ticks; the thread ends when the engine is dropped.
pub fn start_epoch_ticker(engine: &Engine, tick: std::time::Duration) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match engine.upgrade() {
                    Some(e) => e.increment_epoch(),
                    None => break,
                }
            }
        })
        .ok();
}
