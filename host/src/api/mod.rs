//! The REST API: `/v1/prompts` mapped onto prompt-handler plugin calls.

mod problem;
pub mod prompts;

pub use problem::{FieldError, Problem, json, raw_json};
