//! Renderer plugin: Handlebars-compatible template rendering for mcp-prompts, exported as
//! the `template-renderer` interface of the `mcp-prompts:plugin` WIT package.
//!
//! Everything but the component glue is plain Rust in [`engine`], `budget`, `cache`,
//! [`partials`], [`nesting`] and [`syntax`], so the logic builds and is unit-tested on the
//! native target too.

// Public so that the native build (tests, and the host if it wants a reference renderer)
// sees the engine as API rather than dead code.
mod budget;
mod cache;
pub mod engine;
mod nesting;
mod partials;
mod syntax;

// The bindings' import stubs only link inside a component, so the glue is wasm-only.
#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod tests;

// proptest runs natively only (`cargo test --manifest-path plugins/Cargo.toml`).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod props;
