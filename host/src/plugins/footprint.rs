//! What a component needs, read from its bytes before it is compiled.
//!
//! A component's imports and exports, and how many core instances, linear memories and
//! tables one instantiation creates, are fixed when it is built: the component model has
//! no dynamic instantiation. Reading them with `wasmparser` takes milliseconds even for an
//! 18 MB interpreter component, so the host can refuse a component whose imports are not
//! granted, or whose counts exceed its `plugins.NAME.max_*` limits, *before* spending
//! seconds in Cranelift, and can size the instance pool from the components it loads.

use super::engine::PoolShape;
use super::runtime::LoadError;
use crate::config::PluginConfig;
use std::path::Path;
use wasmparser::{Encoding, Instance, Parser, Payload};

/// Size of a wasm page when a memory declares no custom page size.
const WASM_PAGE: u64 = 64 * 1024;

/// The static needs of one component, for one instantiation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Top-level imports, e.g. `wasi:io/streams@0.2.0`, in the component's order.
    pub imports: Vec<String>,
    /// Top-level exports, e.g. `mcp-prompts:plugin/access-policy@0.2.0`.
    pub exports: Vec<String>,
    /// Core module instantiations.
    pub core_instances: u32,
    /// Linear memories defined by the instantiated modules (imported ones are shared).
    pub memories: u32,
    /// Tables defined by the instantiated modules.
    pub tables: u32,
    /// The most memories any one module defines (the pool's per-module limit).
    pub max_memories_per_module: u32,
    /// The most tables any one module defines.
    pub max_tables_per_module: u32,
    /// The largest initial size of any table, in elements.
    pub max_table_elements: u64,
    /// Initial size of all defined memories together, in bytes: set up on every call.
    pub initial_memory: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FootprintError {
    #[error("not a WebAssembly component: {0}")]
    Malformed(String),
    #[error(
        "is a core wasm module, not a component: build a component (e.g. `--target wasm32-wasip2`, componentize-py, componentize-js)"
    )]
    CoreModule,
}

/// What one core module defines.
#[derive(Debug, Clone, Copy, Default)]
struct ModuleNeeds {
    memories: u32,
    tables: u32,
    max_table_elements: u64,
    initial_memory: u64,
}

enum Frame {
    Module(ModuleNeeds),
    /// The modules a component defines, in its core module index space.
    Component(Vec<ModuleNeeds>),
}

/// Reads `bytes` as a component. Nested components are counted once each, which is exact
/// for what componentize-py, componentize-js and `wasm-component-ld` emit (they
/// instantiate each nested component once).
pub fn analyze(bytes: &[u8]) -> Result<Footprint, FootprintError> {
    let malformed = |e: wasmparser::BinaryReaderError| FootprintError::Malformed(e.to_string());
    let mut f = Footprint::default();
    let mut stack: Vec<Frame> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            Payload::Version { encoding, .. } => {
                if stack.is_empty() && encoding == Encoding::Module {
                    return Err(FootprintError::CoreModule);
                }
                stack.push(match encoding {
                    Encoding::Module => Frame::Module(ModuleNeeds::default()),
                    Encoding::Component => Frame::Component(Vec::new()),
                });
            }
            Payload::End(_) => {
                if let Some(Frame::Module(m)) = stack.pop()
                    && let Some(Frame::Component(modules)) = stack.last_mut()
                {
                    modules.push(m);
                }
            }
            Payload::MemorySection(reader) => {
                if let Some(Frame::Module(m)) = stack.last_mut() {
                    for mem in reader {
                        let mem = mem.map_err(malformed)?;
                        let page = mem.page_size_log2.map_or(WASM_PAGE, |l| 1u64 << l);
                        m.memories += 1;
                        m.initial_memory = m
                            .initial_memory
                            .saturating_add(mem.initial.saturating_mul(page));
                    }
                }
            }
            Payload::TableSection(reader) => {
                if let Some(Frame::Module(m)) = stack.last_mut() {
                    for table in reader {
                        let table = table.map_err(malformed)?;
                        m.tables += 1;
                        m.max_table_elements = m.max_table_elements.max(table.ty.initial);
                    }
                }
            }
            Payload::InstanceSection(reader) => {
                let Some(Frame::Component(modules)) = stack.last() else {
                    continue;
                };
                for instance in reader {
                    // `FromExports` only groups existing items; it creates nothing.
                    if let Instance::Instantiate { module_index, .. } =
                        instance.map_err(malformed)?
                    {
                        f.core_instances += 1;
                        // Imported or aliased modules are not in `modules`; components built
                        // by the usual toolchains define every module they instantiate.
                        if let Some(m) = modules.get(module_index as usize) {
                            f.memories += m.memories;
                            f.tables += m.tables;
                            f.max_memories_per_module = f.max_memories_per_module.max(m.memories);
                            f.max_tables_per_module = f.max_tables_per_module.max(m.tables);
                            f.max_table_elements = f.max_table_elements.max(m.max_table_elements);
                            f.initial_memory = f.initial_memory.saturating_add(m.initial_memory);
                        }
                    }
                }
            }
            Payload::ComponentImportSection(reader) if stack.len() == 1 => {
                for import in reader {
                    f.imports
                        .push(import.map_err(malformed)?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if stack.len() == 1 => {
                for export in reader {
                    f.exports
                        .push(export.map_err(malformed)?.name.name.to_string());
                }
            }
            // Parsing nested sections is `parse_all`'s job; skip bodies we do not read.
            _ => {}
        }
    }
    if stack.is_empty() && f == Footprint::default() {
        return Err(FootprintError::Malformed("empty input".into()));
    }
    Ok(f)
}

/// Whether `bare` (an import without its `@version`) is WASI that every plugin may import.
pub fn wasi_allowed(bare: &str) -> bool {
    super::runtime::WASI_ALLOWED
        .iter()
        .any(|p| bare.starts_with(p))
}

/// The checks that need no compiled code: the file is a component, its imports fit its
/// world, grants and `stub_wasi`, its counts fit its `plugins.NAME.max_*` limits and the
/// instance pool (`shape`, `None` without a pool).
pub(super) fn precheck(
    name: &str,
    pc: &PluginConfig,
    path: &Path,
    shape: Option<PoolShape>,
) -> Result<Footprint, LoadError> {
    let refused = |reason: String| LoadError::Refused {
        plugin: name.to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| LoadError::Compile {
        plugin: name.to_string(),
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let f = analyze(&bytes).map_err(|e| LoadError::Compile {
        plugin: name.to_string(),
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    super::runtime::check_imports(name, pc, f.imports.iter().map(String::as_str))?;
    for (what, need, limit, key) in [
        (
            "core instances",
            f.core_instances,
            pc.max_core_instances,
            "max_core_instances",
        ),
        ("memories", f.memories, pc.max_memories, "max_memories"),
        ("tables", f.tables, pc.max_tables, "max_tables"),
    ] {
        if need > limit {
            return Err(refused(format!(
                "creates {need} {what} per call, more than its limit of {limit}: \
                 set plugins.{name}.{key} = {need} (or more) in the config"
            )));
        }
    }
    if let Some(reason) = shape.and_then(|s| s.refuses(&f)) {
        return Err(refused(reason));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_module_is_not_a_component() {
        // `\0asm`, version 1: the smallest valid core module.
        let module = b"\0asm\x01\0\0\0";
        assert!(matches!(analyze(module), Err(FootprintError::CoreModule)));
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            analyze(b"not wasm at all"),
            Err(FootprintError::Malformed(_))
        ));
        assert!(matches!(analyze(b""), Err(FootprintError::Malformed(_))));
    }

    #[test]
    fn counts_the_default_plugins() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let path = root.join("target/wasm32-wasip2/release/policy.wasm");
        let Ok(bytes) = std::fs::read(&path) else {
            panic!("{} is missing: run `cargo plugins` first", path.display());
        };
        let f = analyze(&bytes).expect("the default policy is a component");
        assert!(
            f.exports
                .iter()
                .any(|e| e.starts_with("mcp-prompts:plugin/access-policy")),
            "{f:?}"
        );
        assert!(f.imports.iter().any(|i| i.starts_with("wasi:")), "{f:?}");
        // One Rust module plus the WASI adapter's shims: a handful, never dozens.
        assert!((1..=8).contains(&f.core_instances), "{f:?}");
        assert!(f.memories >= 1 && f.initial_memory >= WASM_PAGE, "{f:?}");
    }
}
