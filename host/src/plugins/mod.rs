//! The WebAssembly plugin runtime (wasmtime 48, component model).
//!
//! One engine and one linker for the process, an `InstancePre` per plugin, and a fresh
//! store per call (or a warm one: warm.rs) with memory/table/instance limits and an epoch
//! deadline.

pub mod admission;
pub(crate) mod bindings;
mod cache;
mod calls;
pub mod cluster_limits;
pub mod content;
mod engine;
mod footprint;
pub mod limits;
pub mod proxy;
pub mod rider;
mod runtime;
mod state;
mod stubs;
pub mod warm;

pub use calls::{
    Applied, CallContext, ChatMessage, ChatRole, Decision, Denial, FieldError, HandlerError,
    HandlerResult, HistoryPage, Label, LabelMove, ListQuery, PolicyRequest, PromptCalls,
    PromptPage, RenderError, RenderRequest, Resolved, Selector, UpsertOutcome,
};
pub use engine::{Allocator, PoolShape};
pub use footprint::{Footprint, FootprintError, analyze, wasi_allowed};
pub use runtime::{CallScope, LoadError, LoadedPlugin, PluginFailure, PluginSet, Pre, Runtime};
pub use state::State;
