//! The MCP protocol surface as an rmcp [`ServerHandler`]: rmcp parses requests, routes
//! methods and shapes results per revision; this module answers them from the prompt
//! handler plugin. Both transports (Streamable HTTP and stdio) drive this one handler.

use super::backend::{Backend, ListFilter, slug};
use super::{CallEnv, prompts, resources, session, tools, version};
use crate::api::Problem;
use crate::app::App;
use crate::router::RequestContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, CompletionInfo,
    ErrorCode, GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Reference, ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext as RmcpContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::sync::Arc;

/// Who `mcp-prompts stdio` acts as (from `[mcp.stdio]`).
#[derive(Clone)]
pub struct Local {
    pub principal: crate::auth::Principal,
}

/// The handler. Over HTTP every request carries its [`CallEnv`] in the rmcp request's
/// extensions; over stdio the env is built per request from the local principal.
#[derive(Clone)]
pub struct PromptServer {
    app: Arc<App>,
    local: Option<Local>,
}

impl PromptServer {
    pub fn http(app: Arc<App>) -> Self {
        Self { app, local: None }
    }

    pub fn stdio(app: Arc<App>, local: Local) -> Self {
        Self {
            app,
            local: Some(local),
        }
    }

    fn env(&self, cx: &RmcpContext<RoleServer>) -> Result<CallEnv, McpError> {
        if let Some(env) = cx.extensions.get::<CallEnv>() {
            return Ok(env.clone());
        }
        let (Some(local), Some(snapshot)) = (&self.local, self.app.snapshot()) else {
            return Err(McpError::internal_error("no request context", None));
        };
        let route = super::route(&snapshot)
            .ok_or_else(|| McpError::internal_error("no prompt route is configured", None))?;
        let route_path = route.path.clone();
        Ok(CallEnv {
            app: self.app.clone(),
            ctx: Arc::new(RequestContext {
                request_id: uuid::Uuid::new_v4().to_string(),
                max_body: snapshot.config.config.server.max_body_size.0 as usize,
                tenant: local.principal.tenant.clone(),
                principal: Some(local.principal.clone()),
                snapshot,
            }),
            route_path,
            pattern: "stdio".into(),
        })
    }

    fn page_size(env: &CallEnv) -> u32 {
        env.ctx.snapshot.config.config.mcp.page_size
    }
}

/// Runs `f` with a backend for the env's route.
macro_rules! with_backend {
    ($env:expr, |$b:ident| $body:expr) => {{
        let env = &$env;
        let snapshot = env.ctx.snapshot.clone();
        let route = snapshot
            .routes
            .iter()
            .find(|r| r.path == env.route_path)
            .ok_or_else(|| McpError::internal_error("the MCP route is gone", None))?;
        let $b = Backend::new(env, route);
        $body
    }};
}

/// A problem from a plugin call as a JSON-RPC error (for protocol methods; tools report
/// problems as results instead). `not_found` is the code a missing item gets.
pub fn to_error(p: &Problem, not_found: ErrorCode) -> McpError {
    let data = serde_json::to_value(p).ok();
    match p.status {
        404 => McpError::new(not_found, p.detail.clone(), data),
        400 | 409 | 412 | 422 => McpError::invalid_params(p.detail.clone(), data),
        // Access decisions: not a malformed request, not a server fault.
        401 | 403 | 429 => McpError::new(
            ErrorCode::INVALID_REQUEST,
            format!("{}: {}", p.title, p.detail),
            data,
        ),
        _ => McpError::internal_error(format!("{} ({})", p.detail, slug(p)), data),
    }
}

impl ServerHandler for PromptServer {
    fn get_info(&self) -> ServerConfig {
        let caps = ServerCapabilities::builder()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_tools()
            .enable_resources()
            .enable_completions()
            .build();
        ServerConfig::new(caps)
            .with_protocol_version(version::LATEST_SESSION)
            .with_server_info(
                Implementation::new("mcp-prompts", env!("CARGO_PKG_VERSION"))
                    .with_title("mcp-prompts"),
            )
            .with_instructions(
                "Prompts are served as MCP prompts (name = prompt id) and as resources \
                 prompt://{id}; the tools list, search, render and manage them.",
            )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(version::SUPPORTED)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RmcpContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let env = self.env(&cx)?;
        let filter = ListFilter {
            limit: Self::page_size(&env),
            cursor: request.and_then(|r| r.cursor),
            ..ListFilter::default()
        };
        let page = with_backend!(env, |b| b.list(filter).await)
            .map_err(|p| to_error(&p, ErrorCode::INVALID_PARAMS))?;
        let mut r = ListPromptsResult::with_all_items(
            page.prompts.iter().filter_map(prompts::to_mcp).collect(),
        );
        r.next_cursor = page.next_cursor;
        Ok(r)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        cx: RmcpContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let env = self.env(&cx)?;
        let args = request.arguments.unwrap_or_default();
        let name = request.name;
        let result = with_backend!(env, |b| {
            let prompt = b.get(&name, None).await.map_err(|p| {
                if p.status == 404 {
                    McpError::invalid_params(
                        format!("unknown prompt: {name}"),
                        Some(json!({"name": name})),
                    )
                } else {
                    to_error(&p, ErrorCode::INVALID_PARAMS)
                }
            })?;
            let missing = prompts::missing_required(&prompt, &args);
            if !missing.is_empty() {
                return Err(McpError::invalid_params(
                    format!("missing required argument: {}", missing.join(", ")),
                    Some(json!({"missingArguments": missing})),
                ));
            }
            let applied = b.apply(&name, &Value::Object(args)).await.map_err(|p| {
                match &p.missing_variables {
                    Some(m) => McpError::invalid_params(
                        format!("missing required argument: {}", m.join(", ")),
                        Some(json!({"missingArguments": m})),
                    ),
                    None => to_error(&p, ErrorCode::INVALID_PARAMS),
                }
            })?;
            let mut r = GetPromptResult::new(prompts::messages(applied.content));
            r.description = prompt
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok::<_, McpError>(r)
        })?;
        Ok(result.into())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RmcpContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools::all()))
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        tools::all().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RmcpContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let env = self.env(&cx)?;
        let name = request.name.to_string();
        let args = request.arguments.unwrap_or_default();
        let page_size = Self::page_size(&env);
        let result = with_backend!(env, |b| tools::call(&b, &name, args, page_size).await)
            .map_err(|m| McpError::invalid_params(m, Some(json!({"tool": name}))))?;
        if tools::is_write(&name) && result.is_error != Some(true) {
            // Every session of the tenant, on any host, learns of the change.
            session::prompts_changed(self.app.runtime.storage(), &env.ctx.tenant).await;
            if self.local.is_some() {
                let _ = cx.peer.notify_prompt_list_changed().await;
            }
        }
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RmcpContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let env = self.env(&cx)?;
        let filter = ListFilter {
            limit: Self::page_size(&env),
            cursor: request.and_then(|r| r.cursor),
            ..ListFilter::default()
        };
        let page = with_backend!(env, |b| b.list(filter).await)
            .map_err(|p| to_error(&p, ErrorCode::INVALID_PARAMS))?;
        let mut r = ListResourcesResult::with_all_items(
            page.prompts
                .iter()
                .filter_map(resources::to_resource)
                .collect(),
        );
        r.next_cursor = page.next_cursor;
        Ok(r)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RmcpContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            resources::template(),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        cx: RmcpContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let env = self.env(&cx)?;
        let uri = request.uri;
        let not_found = || {
            McpError::resource_not_found(format!("no resource {uri}"), Some(json!({"uri": uri})))
        };
        let Some(id) = resources::parse(&uri) else {
            return Err(not_found());
        };
        let prompt = with_backend!(env, |b| b.get(&id, None).await).map_err(|p| {
            if p.status == 404 {
                not_found()
            } else {
                to_error(&p, ErrorCode::INVALID_PARAMS)
            }
        })?;
        let text = serde_json::to_string_pretty(&prompt)
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        let contents = ResourceContents::text(text, uri.clone()).with_mime_type(resources::MIME);
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        cx: RmcpContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let env = self.env(&cx)?;
        let typed = request.argument.value.clone();
        let values: Vec<String> = match &request.r#ref {
            Reference::Prompt(p) => {
                // The only values known for a prompt argument: its declared default.
                let prompt = with_backend!(env, |b| b.get(&p.name, None).await)
                    .map_err(|p| to_error(&p, ErrorCode::INVALID_PARAMS))?;
                prompts::default_value(&prompt, &request.argument.name)
                    .into_iter()
                    .filter(|v| v.starts_with(&typed))
                    .collect()
            }
            Reference::Resource(r)
                if r.uri == resources::TEMPLATE && request.argument.name == "id" =>
            {
                let filter = ListFilter {
                    limit: crate::api::prompts::MAX_LIMIT,
                    ..ListFilter::default()
                };
                let page = with_backend!(env, |b| b.list(filter).await)
                    .map_err(|p| to_error(&p, ErrorCode::INVALID_PARAMS))?;
                page.prompts
                    .iter()
                    .filter_map(|p| p.get("id").and_then(Value::as_str))
                    .filter(|id| id.starts_with(&typed))
                    .map(str::to_string)
                    .collect()
            }
            _ => Vec::new(),
        };
        let values: Vec<String> = values.into_iter().take(100).collect();
        let info = CompletionInfo::new(values).map_err(|e| McpError::internal_error(e, None))?;
        Ok(CompleteResult::new(info))
    }
}
