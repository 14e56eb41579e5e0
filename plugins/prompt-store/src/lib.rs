//! mcp-prompts default prompt handler: the prompt model, input normalisation and
//! validation, and versioned storage on the host's kv interface.
//!
//! Everything but `glue` is plain Rust over the [`backend::Backend`] trait, so the rules
//! are unit-tested natively; `glue` binds them to the WIT world `prompt-handler`.

pub mod access;
pub mod apply;
pub mod backend;
pub mod blocks;
pub mod chat;
pub mod clock;
pub mod compose;
pub mod cursor;
pub mod input;
pub mod labels;
pub mod list;
pub mod model;
pub mod refs;
pub mod slug;
pub mod store;
pub mod validate;

#[cfg(target_arch = "wasm32")]
mod glue;

#[cfg(test)]
mod tests;
