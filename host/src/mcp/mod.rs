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
use crate::service::policy::{Action, Permit, Via};
use crate::service::prompts::Page;
use crate::service::{self, ErrorKind, PromptService};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

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
    /// What the transport needs besides the JSON-RPC reply; shared by the clones rmcp
    /// makes of this call.
    pub outcome: Arc<Mutex<Outcome>>,
    /// Over HTTP: the RFC 9728 metadata URL a 401 points to.
    pub resource_metadata: Option<String>,
}

/// Side results of one MCP request, read by the transport after dispatch.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The access decision that refused the request (401/403/429 on HTTP).
    pub denial: Option<service::Error>,
    /// The last permit's policy headers (rate-limit counters).
    pub headers: Vec<(String, String)>,
    /// The request's own events, for `notifications/message` (logging capability).
    pub logs: Vec<LogEvent>,
}

/// One event of the request, shown to the client if at or above its `logging/setLevel`.
#[derive(Debug, Clone)]
pub struct LogEvent {
    pub level: &'static str,
    pub data: Value,
}

/// RFC 5424 severities as MCP names them, least severe first.
pub const LOG_LEVELS: &[&str] = &[
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// Whether `level` is at or above `threshold` (unknown names: never).
pub fn log_passes(level: &str, threshold: &str) -> bool {
    let rank = |l: &str| LOG_LEVELS.iter().position(|x| *x == l);
    matches!((rank(level), rank(threshold)), (Some(a), Some(b)) if a >= b)
}

impl Call {
    pub fn new(app: Arc<App>, request: Arc<service::Request>, pattern: String) -> Self {
        Self {
            app,
            request,
            pattern,
            outcome: Arc::default(),
            resource_metadata: None,
        }
    }

    pub fn with_resource_metadata(mut self, url: Option<String>) -> Self {
        self.resource_metadata = url;
        self
    }

    /// Takes the side results gathered so far.
    pub fn take_outcome(&self) -> Outcome {
        self.outcome
            .lock()
            .map(|mut o| std::mem::take(&mut *o))
            .unwrap_or_default()
    }

    fn log(&self, level: &'static str, data: Value) {
        if let Ok(mut o) = self.outcome.lock()
            && o.logs.len() < 32
        {
            o.logs.push(LogEvent { level, data });
        }
    }

    /// The policy chain for `action`, remembering its headers or its refusal.
    async fn authorize(
        &self,
        svc: &PromptService<'_>,
        action: Action,
        resource: Option<&str>,
    ) -> Result<Permit, service::Error> {
        match svc.authorize(action, resource).await {
            Ok(p) => {
                self.note_permit(&p.headers);
                Ok(p)
            }
            Err(e) => {
                if matches!(
                    e.kind,
                    ErrorKind::Unauthorized
                        | ErrorKind::InsufficientScope
                        | ErrorKind::Forbidden
                        | ErrorKind::RateLimited
                ) && let Ok(mut o) = self.outcome.lock()
                {
                    o.denial = Some(e.clone());
                }
                Err(e)
            }
        }
    }

    fn note_permit(&self, headers: &[(String, String)]) {
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        if let (Some(left), Some(limit)) =
            (find("x-ratelimit-remaining"), find("x-ratelimit-limit"))
            && left.saturating_mul(10) <= limit
        {
            self.log(
                "warning",
                json!({"event": "rate-limit", "message": format!("{left} of {limit} requests left in this window"), "remaining": left, "limit": limit}),
            );
        }
        if let Ok(mut o) = self.outcome.lock() {
            o.headers = headers.to_vec();
        }
    }

    /// The policy decision `initialize` needs: the caller may read this route's prompts.
    /// Spends a rate-limit token like every other call.
    pub async fn authorize_session(&self) -> Result<(), service::Error> {
        let svc = self.service()?;
        self.authorize(&svc, Action::List, None).await.map(|_| ())
    }
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

    // Each call below runs the policy chain once; the permit's headers reach the HTTP
    // response through `outcome`.

    pub async fn list(&self, q: ListQuery) -> Result<(Vec<Value>, Option<String>), service::Error> {
        let svc = self.service()?;
        let permit = self.authorize(&svc, Action::List, None).await?;
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
        let permit = self.authorize(&svc, Action::Read, Some(id)).await?;
        let p = svc.get(&permit, id, version).await?;
        self.parse(&p.json)
    }

    pub async fn create(&self, prompt: &Value) -> Result<Value, service::Error> {
        let svc = self.service()?;
        let permit = self.authorize(&svc, Action::Create, None).await?;
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
        let permit = self.authorize(&svc, Action::Update, Some(id)).await?;
        let p = svc
            .update(&permit, id, fields.to_string(), expected)
            .await?;
        self.parse(&p.json)
    }

    pub async fn delete(&self, id: &str) -> Result<(), service::Error> {
        let svc = self.service()?;
        let permit = self.authorize(&svc, Action::Delete, Some(id)).await?;
        svc.delete(&permit, id).await
    }

    pub async fn apply(&self, id: &str, variables: &Value) -> Result<Applied, service::Error> {
        let svc = self.service()?;
        let permit = self.authorize(&svc, Action::Render, Some(id)).await?;
        let applied = svc.apply(&permit, id, variables.to_string()).await?;
        if !applied.missing_variables.is_empty() {
            self.log(
                "warning",
                json!({"event": "render", "prompt": id, "message": "template variables were not supplied", "missingVariables": applied.missing_variables}),
            );
        }
        self.log(
            "info",
            json!({"event": "render", "prompt": id, "message": format!("rendered {id}"), "appliedVariables": applied.applied_variables}),
        );
        Ok(applied)
    }

    /// The images that `messages` (a render of prompt `id`) send inline, within the
    /// answer's budget (`[media] max_inline_size`).
    pub async fn images(
        &self,
        id: &str,
        messages: &[crate::plugins::ChatMessage],
    ) -> Result<prompts::Inline, service::Error> {
        let svc = self.service()?;
        let budget = self.request.snapshot.config.config.media.max_inline_size.0;
        let wanted = prompts::to_inline(messages, budget);
        let images = if wanted.is_empty() {
            Default::default()
        } else {
            let permit = self.authorize(&svc, Action::Render, Some(id)).await?;
            svc.images_of(&permit, id, &wanted).await?
        };
        Ok(prompts::Inline {
            images,
            budget,
            blobs: format!("{}/{id}/blobs/", svc.route_path()),
        })
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
