//! mcp-prompts default access policy.
//!
//! - reads (`read`, `list`, `render`) are open to anonymous callers unless
//!   `anonymous_read = false`;
//! - writes (`create`, `update`, `delete`) need an authenticated principal unless
//!   `write_requires_auth = false`, and, when `write_scopes` is non-empty, one of those
//!   scopes (or a group of the same name).
//!
//! The rules live in [`rules`] and [`settings`] as plain Rust so they are unit-tested
//! natively; `glue` binds them to the WIT world `policy`.

pub mod rules;
pub mod settings;

#[cfg(target_arch = "wasm32")]
mod glue;
