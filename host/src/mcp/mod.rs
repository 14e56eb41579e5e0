//! MCP: the prompts of one REST route served to MCP clients.
//!
//! - [`server`]: the protocol surface (prompts, tools, resources, completion) as an
//!   `rmcp` [`ServerHandler`](rmcp::ServerHandler), shared by both transports.
//! - [`backend`]: prompt-handler plugin calls behind the route's policy chain — the same
//!   calls, principal, tenant and policies as the REST API.
//! - [`http`]: Streamable HTTP at `/mcp` (revisions 2025-06-18, 2025-11-25 with sessions,
//!   and the stateless 2026-07-28), with [`session`] state in the host kv store.
//! - [`metadata`]: RFC 9728 protected-resource metadata.
//! - [`stdio`]: `mcp-prompts stdio` for desktop clients.

// Plugin-call failures are `Problem`s, as in the REST API (api/mod.rs): built only on the
// error path, where boxing would add an allocation for no gain.
#![allow(clippy::result_large_err)]

pub mod backend;
pub mod http;
pub mod metadata;
pub mod prompts;
pub mod resources;
pub mod server;
pub mod session;
pub mod stdio;
pub mod tools;
pub mod version;
mod wire;

use crate::app::{Route, Snapshot};
use std::sync::Arc;

/// The route MCP serves: `[mcp] route`, or the first route. Built per request from the
/// snapshot so that a reload changes MCP together with the REST route it mirrors.
pub fn route(snapshot: &Snapshot) -> Option<&Route> {
    let mcp = &snapshot.config.config.mcp;
    match &mcp.route {
        Some(path) => {
            let path = path.trim_end_matches('/');
            snapshot.routes.iter().find(|r| r.path == path)
        }
        // Routes are sorted longest-first; "the first route" means the config's order.
        None => snapshot.config.config.routes.first().and_then(|first| {
            let path = first.path.trim_end_matches('/');
            snapshot.routes.iter().find(|r| r.path == path)
        }),
    }
}

/// Everything one MCP request runs with: the app, the caller and the route. Travels to
/// the [`server::PromptServer`] in the rmcp request's extensions.
#[derive(Clone)]
pub struct CallEnv {
    pub app: Arc<crate::app::App>,
    pub ctx: Arc<crate::router::RequestContext>,
    pub route_path: String,
    /// The route pattern the policies see, e.g. `/mcp`.
    pub pattern: String,
}
