//! Prompt-handler plugin calls for MCP, each behind the route's policy chain: the same
//! plugin, principal, tenant and policies as the REST API (api/prompts.rs), so MCP can
//! never do what REST would refuse.

use super::CallEnv;
use crate::api::Problem;
use crate::api::prompts::{call_context, decide, failure, handler_error, internal};
use crate::app::Route;
use crate::plugins::CallScope;
use crate::plugins::bindings::prompts;
use serde_json::Value;

/// A page of prompts as the plugin returned them.
pub struct Page {
    pub prompts: Vec<Value>,
    pub next_cursor: Option<String>,
}

/// The result of rendering a prompt.
pub struct Applied {
    pub content: String,
    pub applied_variables: Vec<String>,
    pub missing_variables: Vec<String>,
}

/// Filters of a list call (the REST query parameters).
#[derive(Default, Clone)]
pub struct ListFilter {
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub text: Option<String>,
    pub access_level: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
}

pub struct Backend<'a> {
    env: &'a CallEnv,
    route: &'a Route,
}

impl<'a> Backend<'a> {
    pub fn new(env: &'a CallEnv, route: &'a Route) -> Self {
        Self { env, route }
    }

    async fn allow(&self, resource: Option<&str>, action: &str) -> Result<(), Problem> {
        // MCP has no per-request headers to carry `allow-with` headers back on (a
        // JSON-RPC batch of one may stream); allowed is allowed.
        decide(
            &self.env.app,
            &self.env.ctx,
            self.route,
            "POST",
            self.env.pattern.clone(),
            resource.map(str::to_string),
            action,
        )
        .await
        .map(|_| ())
    }

    fn scope(&self) -> CallScope {
        CallScope::new(&self.env.ctx.request_id, &self.env.ctx.tenant)
    }

    fn parse(&self, text: &str) -> Result<Value, Problem> {
        serde_json::from_str(text)
            .map_err(|e| internal(&self.env.ctx, format!("plugin returned invalid JSON: {e}")))
    }

    pub async fn list(&self, f: ListFilter) -> Result<Page, Problem> {
        self.allow(None, "list").await?;
        let cc = call_context(&self.env.ctx);
        let q = prompts::ListQuery {
            category: f.category,
            tags: f.tags,
            text: f.text,
            access_level: f.access_level,
            limit: f.limit,
            cursor: f.cursor,
        };
        let page = self
            .env
            .app
            .runtime
            .handler(
                &self.route.handler,
                &self.scope(),
                move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_list(&mut s, &cc, &q)
                        .await
                },
            )
            .await
            .map_err(|e| failure(&self.env.ctx, e))?
            .map_err(|e| handler_error(&self.env.ctx, e))?;
        let prompts = match self.parse(&page.prompts_json)? {
            Value::Array(a) => a,
            _ => {
                return Err(internal(
                    &self.env.ctx,
                    "plugin list did not return a JSON array".into(),
                ));
            }
        };
        Ok(Page {
            prompts,
            next_cursor: page.next_cursor,
        })
    }

    pub async fn get(&self, id: &str, version: Option<u64>) -> Result<Value, Problem> {
        self.allow(Some(id), "read").await?;
        let cc = call_context(&self.env.ctx);
        let id = id.to_string();
        let text = self
            .env
            .app
            .runtime
            .handler(
                &self.route.handler,
                &self.scope(),
                move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_get(&mut s, &cc, &id, version)
                        .await
                },
            )
            .await
            .map_err(|e| failure(&self.env.ctx, e))?
            .map_err(|e| handler_error(&self.env.ctx, e))?;
        self.parse(&text)
    }

    pub async fn create(&self, prompt: &Value) -> Result<Value, Problem> {
        self.allow(None, "create").await?;
        let cc = call_context(&self.env.ctx);
        let body = prompt.to_string();
        let text = self
            .env
            .app
            .runtime
            .handler(
                &self.route.handler,
                &self.scope(),
                move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_create(&mut s, &cc, &body)
                        .await
                },
            )
            .await
            .map_err(|e| failure(&self.env.ctx, e))?
            .map_err(|e| handler_error(&self.env.ctx, e))?;
        self.parse(&text)
    }

    pub async fn update(
        &self,
        id: &str,
        fields: &Value,
        expected: Option<u64>,
    ) -> Result<Value, Problem> {
        self.allow(Some(id), "update").await?;
        let cc = call_context(&self.env.ctx);
        let body = fields.to_string();
        let id = id.to_string();
        let text = self
            .env
            .app
            .runtime
            .handler(
                &self.route.handler,
                &self.scope(),
                move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_update(&mut s, &cc, &id, &body, expected)
                        .await
                },
            )
            .await
            .map_err(|e| failure(&self.env.ctx, e))?
            .map_err(|e| handler_error(&self.env.ctx, e))?;
        self.parse(&text)
    }

    pub async fn delete(&self, id: &str) -> Result<(), Problem> {
        self.allow(Some(id), "delete").await?;
        let cc = call_context(&self.env.ctx);
        let id = id.to_string();
        self.env
            .app
            .runtime
            .handler(
                &self.route.handler,
                &self.scope(),
                move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_delete(&mut s, &cc, &id)
                        .await
                },
            )
            .await
            .map_err(|e| failure(&self.env.ctx, e))?
            .map_err(|e| handler_error(&self.env.ctx, e))
    }

    pub async fn apply(&self, id: &str, variables: &Value) -> Result<Applied, Problem> {
        self.allow(Some(id), "render").await?;
        let cc = call_context(&self.env.ctx);
        let vars = variables.to_string();
        let id = id.to_string();
        let a = self
            .env
            .app
            .runtime
            .handler(
                &self.route.handler,
                &self.scope(),
                move |mut s, h| async move {
                    h.mcp_prompts_plugin_prompts()
                        .call_apply(&mut s, &cc, &id, &vars)
                        .await
                },
            )
            .await
            .map_err(|e| failure(&self.env.ctx, e))?
            .map_err(|e| handler_error(&self.env.ctx, e))?;
        Ok(Applied {
            content: a.content,
            applied_variables: a.applied_variables,
            missing_variables: a.missing_variables,
        })
    }
}

/// "not-found" from "/problems/not-found".
pub fn slug(p: &Problem) -> &str {
    p.kind.rsplit('/').next().unwrap_or(&p.kind)
}
