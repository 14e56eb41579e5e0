//! `mcp-prompts stdio --config FILE`: see mcp/stdio.rs.

pub use crate::mcp::stdio::run;
