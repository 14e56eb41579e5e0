//! The REST API: `/v1/prompts` mapped onto prompt-handler plugin calls.

// A `Problem` (or a ready response) is only built on the error path, which allocates and
// serialises anyway; boxing it would add an allocation to every error for no gain.
#![allow(clippy::result_large_err)]

mod problem;
pub mod prompts;
pub mod users;

pub use problem::{FieldError, Problem, json, raw_json};
