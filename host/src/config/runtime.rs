//! `[runtime]`: the wasmtime engine and its instance pool, shared by every plugin.

use super::{ByteSize, ConfigError, Ctx};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Pool slots; a request uses one to three (policy, handler, renderer).
const MAX_INSTANCES: u32 = 1000;
/// Every pool slot reserves this much address space, so it also sizes the pool.
const MAX_MEMORY: ByteSize = ByteSize::mib(256);
/// Plugin deadlines are this precise; shorter ticks cost CPU on every running plugin.
const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Memory a pool slot keeps between instances, so a reused slot does not page-fault.
const KEEP_RESIDENT: ByteSize = ByteSize::mib(1);
/// wasmtime's own default native stack for wasm code.
const MAX_WASM_STACK: ByteSize = ByteSize(512 * 1024);

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Use wasmtime's pooling allocator (falls back to on-demand if it cannot reserve memory).
    pub pooling: bool,
    /// Concurrent plugin instances the pool holds (each request uses one to three).
    pub max_instances: u32,
    /// Upper bound for any plugin's `memory_limit`; sizes the pool's memory slots.
    pub max_memory: ByteSize,
    /// Epoch tick: the granularity of plugin deadlines and of yielding to other requests.
    #[serde(with = "humantime_serde")]
    pub epoch_tick: Duration,
    /// Memory kept resident per pool slot between instances (avoids page faults on reuse).
    pub keep_resident: ByteSize,
    /// Maximum native stack for wasm code (deep recursion traps beyond it).
    pub max_wasm_stack: ByteSize,
    /// Keep compiled plugins on disk so a restart skips compilation.
    pub compile_cache: bool,
    /// Where the compiled-plugin cache lives (default: `<data_dir>/plugin-cache`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            pooling: true,
            max_instances: MAX_INSTANCES,
            max_memory: MAX_MEMORY,
            epoch_tick: EPOCH_TICK,
            keep_resident: KEEP_RESIDENT,
            max_wasm_stack: MAX_WASM_STACK,
            compile_cache: true,
            cache_dir: None,
        }
    }
}

impl RuntimeConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        if self.max_instances == 0 {
            return Err(cx.invalid("runtime.max_instances", "must be at least 1"));
        }
        if self.epoch_tick < Duration::from_millis(1) || self.epoch_tick > Duration::from_secs(1) {
            return Err(cx.invalid("runtime.epoch_tick", "must be between 1ms and 1s"));
        }
        Ok(())
    }
}
