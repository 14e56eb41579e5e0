//! mcp-prompts default access policy.
//!
//! - reads (`read`, `list`, `render`) are open to anonymous callers unless
//!   `anonymous_read = false`;
//! - writes (`create`, `update`, `delete`) need an authenticated principal unless
//!   `write_requires_auth = false`, and, when `write_scopes` is non-empty, one of those
//!   scopes (or a group of the same name);
//! - with a `rate_limits` table, every allowed request spends one unit of the caller's
//!   budget for the current window (per principal, sized by tier; one shared budget for
//!   anonymous callers), reported in `X-RateLimit-*` headers; a spent budget is a 429.
//!
//! Access levels of individual prompts (`public`/`private`/`premium`) are not decided
//! here: only the prompt handler sees a prompt's level and author.
//!
//! The rules live in [`rules`], [`ratelimit`], [`evaluate`] and [`settings`] as plain
//! Rust so they are unit-tested natively; `glue` binds them to the WIT world `policy`.

pub mod evaluate;
pub mod ratelimit;
pub mod rules;
pub mod settings;

#[cfg(target_arch = "wasm32")]
mod glue;
