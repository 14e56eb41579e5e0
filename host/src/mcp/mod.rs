//! MCP: the prompts of one REST route served to MCP clients, over any transport.
//!
//! - [`server`]: the protocol surface (prompts, tools, resources, completion) as an
//!   `rmcp` [`ServerHandler`](rmcp::ServerHandler), shared by both transports.
//! - [`Call`]: one MCP request's service calls — the same [`PromptService`], principal,
//!   tenant and policies as the REST API, so MCP can never do what REST would refuse.
//! - [`errors`]: service errors as JSON-RPC errors.
//! - [`stdio`]: `mcp-prompts stdio` for desktop clients. The Streamable HTTP transport
//!   (`/mcp`, sessions, RFC 9728 metadata) is `http/mcp/`.

// Service errors travel by value on the error path only.
#![allow(clippy::result_large_err)]

pub mod errors;
pub mod prompts;
pub mod resources;
pub mod server;
pub mod stdio;
pub mod tools;
pub mod version;

use crate::app::{App, Route, Snapshot};
use crate::plugins::{Applied, ListQuery};
use crate::service::policy::{Action, Via};
use crate::service::prompts::Page;
use crate::service::{self, PromptService};
use serde_json::Value;
use std::sync::Arc;

/// The route MCP serves: `[mcp] route`, or the first route. Looked up per request in the
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

/// One MCP request: the app, the resolved service request and how policies see the
/// transport. Travels to [`server::PromptServer`] in the rmcp request's extensions.
#[derive(Clone)]
pub struct Call {
    pub app: Arc<App>,
    pub request: Arc<service::Request>,
    /// The route pattern the policies see, e.g. `/mcp` or `stdio`.
    pub pattern: String,
}

impl Call {
    /// The prompt service of the MCP route, on this request's snapshot.
    fn service(&self) -> Result<PromptService<'_>, service::Error> {
        let route = route(&self.request.snapshot).ok_or_else(|| {
            service::Error::internal(&self.request.id, "no prompt route is configured for MCP")
        })?;
        let via = Via {
            method: "POST".into(),
            pattern: self.pattern.clone(),
        };
        Ok(PromptService::new(&self.app, &self.request, route, via))
    }

    pub fn page_size(&self) -> u32 {
        self.request.snapshot.config.config.mcp.page_size
    }

    pub fn tenant(&self) -> &str {
        &self.request.caller.tenant
    }

    // MCP has no per-request headers to carry a policy's `allow-with` headers back on,
    // so each call below spends its permit and drops the headers: allowed is allowed.

    pub async fn list(&self, q: ListQuery) -> Result<(Vec<Value>, Option<String>), service::Error> {
        let svc = self.service()?;
        let permit = svc.authorize(Action::List, None).await?;
        let Page {
            prompts,
            next_cursor,
        } = svc.list(&permit, &q).await?;
        let prompts: Vec<Value> = serde_json::from_str(prompts.get()).map_err(|_| {
            service::Error::internal(&self.request.id, "plugin list did not return a JSON array")
        })?;
        Ok((prompts, next_cursor))
    }

    pub async fn get(&self, id: &str, version: Option<u64>) -> Result<Value, service::Error> {
        let svc = self.service()?;
        let permit = svc.authorize(Action::Read, Some(id)).await?;
        let p = svc.get(&permit, id, version).await?;
        self.parse(&p.json)
    }

    pub async fn create(&self, prompt: &Value) -> Result<Value, service::Error> {
        let svc = self.service()?;
        let permit = svc.authorize(Action::Create, None).await?;
        let p = svc.create(&permit, prompt.to_string()).await?;
        self.parse(&p.json)
    }

    pub async fn update(
        &self,
        id: &str,
        fields: &Value,
        expected: Option<u64>,
    ) -> Result<Value, service::Error> {
        let svc = self.service()?;
        let permit = svc.authorize(Action::Update, Some(id)).await?;
        let p = svc
            .update(&permit, id, fields.to_string(), expected)
            .await?;
        self.parse(&p.json)
    }

    pub async fn delete(&self, id: &str) -> Result<(), service::Error> {
        let svc = self.service()?;
        let permit = svc.authorize(Action::Delete, Some(id)).await?;
        svc.delete(&permit, id).await
    }

    pub async fn apply(&self, id: &str, variables: &Value) -> Result<Applied, service::Error> {
        let svc = self.service()?;
        let permit = svc.authorize(Action::Render, Some(id)).await?;
        svc.apply(&permit, id, variables.to_string()).await
    }

    fn parse(&self, text: &str) -> Result<Value, service::Error> {
        serde_json::from_str(text).map_err(|e| {
            service::Error::internal(
                &self.request.id,
                &format!("plugin returned invalid JSON: {e}"),
            )
        })
    }
}
