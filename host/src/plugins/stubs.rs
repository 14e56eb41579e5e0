//! WASI families a plugin imports but is not granted (`plugins.NAME.stub_wasi`).
//!
//! Language toolchains (componentize-py, componentize-js) import every WASI interface
//! their runtime could use, whether or not the plugin's code does: a Python policy that
//! never opens a socket still imports `wasi:sockets/*`. Refusing such components would
//! make the default toolchain output unusable, and granting network access would break the
//! sandbox. A stub is the middle way, and an operator opts in to it per plugin:
//!
//! - `sockets`: the real `wasmtime-wasi` socket implementation, which is linked for every
//!   plugin, with TCP, UDP and name lookup disabled in the store's `WasiCtx`
//!   (`runtime.rs`, `new_store`): every operation returns `access-denied`, which the
//!   guest's runtime turns into an ordinary exception.
//! - `http`: no HTTP implementation is linked for the plugin worlds, so every
//!   `wasi:http` function is defined to trap. A plugin that calls one fails that call
//!   (`plugin-trap`); a plugin that never calls one runs normally.

use super::State;
use crate::config::{PluginConfig, StubWasi};
use std::borrow::Cow;
use wasmtime::component::{Component, Linker};

/// The linker for `component`: the shared one, or, when `http` is stubbed and imported, a
/// copy with the component's `wasi:http` imports defined to trap. `check_imports` has
/// already refused every import that is neither linked nor stubbed, so the trapping
/// definitions only ever cover stubbed families.
pub(super) fn linker_for<'a>(
    base: &'a Linker<State>,
    pc: &PluginConfig,
    component: &Component,
) -> wasmtime::Result<Cow<'a, Linker<State>>> {
    let ty = component.component_type();
    let imports_http = ty
        .imports(component.engine())
        .any(|(name, _)| name.starts_with(StubWasi::Http.prefix()));
    if !(imports_http && pc.stub_wasi.contains(&StubWasi::Http)) {
        return Ok(Cow::Borrowed(base));
    }
    let mut linker = base.clone();
    define_http_traps(&mut linker, component)?;
    Ok(Cow::Owned(linker))
}

/// Defines every function of the component's `wasi:http/*` imports to trap, and their
/// resources as host types. wasmtime's `define_unknown_imports_as_traps` cannot be used:
/// it looks names up exactly, so a component importing `wasi:io/poll@0.2.12` (newer than
/// the linked 0.2.x) gets a second, unrelated `pollable`, and the real `wasi:clocks` no
/// longer type-checks. The resources `wasi:http/types` takes from `wasi:io` must be
/// wasmtime-wasi's own types for the same reason.
fn define_http_traps(linker: &mut Linker<State>, component: &Component) -> wasmtime::Result<()> {
    use wasmtime::component::ResourceType;
    use wasmtime::component::types::ComponentItem;
    use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, IoError};
    let engine = component.engine();
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        if !name.starts_with(StubWasi::Http.prefix()) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let mut li = linker.instance(name)?;
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let full = format!("{name}#{export}");
                    li.func_new(export, move |_, _, _, _| {
                        wasmtime::bail!(
                            "{full} is a stub (plugins.NAME.stub_wasi = [\"http\"]): plugins have no HTTP"
                        )
                    })?;
                }
                ComponentItem::Resource(_) => {
                    let rt = match export {
                        "input-stream" => ResourceType::host::<DynInputStream>(),
                        "output-stream" => ResourceType::host::<DynOutputStream>(),
                        "pollable" => ResourceType::host::<DynPollable>(),
                        "io-error" | "error" => ResourceType::host::<IoError>(),
                        // No value of an http resource is ever created: every function
                        // that would make one traps.
                        _ => ResourceType::host::<()>(),
                    };
                    li.resource(export, rt, |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The refusal for an import outside the allowed WASI list, with the key that would
/// stub it when there is one.
pub(super) fn refusal(name: &str, import: &str) -> String {
    let base = format!(
        "imports {import}, which plugins are not granted (no sockets, HTTP or other host access)"
    );
    match [StubWasi::Sockets, StubWasi::Http]
        .into_iter()
        .find(|s| import.starts_with(s.prefix()))
    {
        Some(s) => format!(
            "{base}; to load it with stubs that fail when used, set plugins.{name}.stub_wasi = [\"{}\"]",
            s.as_str()
        ),
        None => base,
    }
}

/// Recognises wasmtime's per-store count limits (`resource limit exceeded: instance count
/// too high at 17`) and names the key that raises the one that was hit.
pub(super) fn count_limit(plugin: &str, message: &str) -> Option<String> {
    let rest = message.split("resource limit exceeded: ").nth(1)?;
    let (what, key) = if rest.starts_with("instance count") {
        ("core instances", "max_core_instances")
    } else if rest.starts_with("memory count") {
        ("memories", "max_memories")
    } else if rest.starts_with("table count") {
        ("tables", "max_tables")
    } else {
        return None;
    };
    Some(format!("{what} (plugins.{plugin}.{key})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_limits_name_their_key() {
        let m = "error while instantiating: resource limit exceeded: instance count too high at 17";
        assert_eq!(
            count_limit("py", m).as_deref(),
            Some("core instances (plugins.py.max_core_instances)")
        );
        assert_eq!(
            count_limit("py", "resource limit exceeded: memory count too high at 5").as_deref(),
            Some("memories (plugins.py.max_memories)")
        );
        assert_eq!(
            count_limit("py", "resource limit exceeded: table count too high at 41").as_deref(),
            Some("tables (plugins.py.max_tables)")
        );
        assert_eq!(count_limit("py", "wasm trap: unreachable"), None);
    }

    #[test]
    fn refusals_suggest_a_stub_only_where_one_exists() {
        let r = refusal("py", "wasi:sockets/tcp@0.2.0");
        assert!(r.contains("plugins.py.stub_wasi = [\"sockets\"]"), "{r}");
        let r = refusal("js", "wasi:http/outgoing-handler@0.2.3");
        assert!(r.contains("stub_wasi = [\"http\"]"), "{r}");
        let r = refusal("x", "acme:secret/vault");
        assert!(!r.contains("stub_wasi"), "{r}");
    }
}
