//! The WebAssembly plugin runtime (wasmtime 48, component model).
//!
//! One engine and one linker for the process, an `InstancePre` per plugin, and a fresh
//! store per call with memory/table/instance limits and an epoch deadline.

pub mod admission;
pub(crate) mod bindings;
mod cache;
mod calls;
pub mod content;
mod engine;
mod footprint;
pub mod limits;
pub mod proxy;
pub mod rider;
mod runtime;
mod state;
mod stubs;

pub use calls::{
    Applied, CallContext, ChatMessage, ChatRole, Decision, Denial, FieldError, HandlerError,
    HandlerResult, HistoryPage, Label, LabelMove, ListQuery, PolicyRequest, PromptCalls,
    PromptPage, RenderError, RenderRequest, Resolved, Selector, UpsertOutcome,
};
pub use engine::{Allocator, PoolShape};
pub use footprint::{Footprint, FootprintError, analyze, wasi_allowed};
pub use runtime::{CallScope, LoadError, LoadedPlugin, PluginFailure, PluginSet, Pre, Runtime};
pub use state::State;
