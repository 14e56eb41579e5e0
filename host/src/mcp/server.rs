//! The MCP protocol surface as an rmcp [`ServerHandler`]: rmcp parses requests, routes
//! methods and shapes results per revision; this module answers them from the prompt
//! handler plugin. Both transports (Streamable HTTP and stdio) drive this one handler.

use super::errors::to_error;
use super::{Call, prompts, resources, tools, version};
use crate::app::App;
use crate::plugins::ListQuery;
use crate::service::{self, Caller, ErrorKind};
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

/// The handler. Over HTTP every request carries its [`Call`] in the rmcp request's
/// extensions; over stdio the call is built per request from the local principal.
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

    fn call(&self, cx: &RmcpContext<RoleServer>) -> Result<Call, McpError> {
        if let Some(call) = cx.extensions.get::<Call>() {
            return Ok(call.clone());
        }
        let (Some(local), Some(snapshot)) = (&self.local, self.app.snapshot()) else {
            return Err(McpError::internal_error("no request context", None));
        };
        if super::route(&snapshot).is_none() {
            return Err(McpError::internal_error(
                "no prompt route is configured",
                None,
            ));
        }
        Ok(Call::new(
            self.app.clone(),
            Arc::new(service::Request {
                id: uuid::Uuid::new_v4().to_string(),
                caller: Caller {
                    tenant: local.principal.tenant.clone(),
                    principal: Some(local.principal.clone()),
                    client: None,
                },
                snapshot,
                spend: Default::default(),
            }),
            "stdio".into(),
        ))
    }
}

impl ServerHandler for PromptServer {
    fn get_info(&self) -> ServerConfig {
        #[allow(deprecated)] // logging: see `set_level`
        let caps = ServerCapabilities::builder()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_tools()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_resources_list_changed()
            .enable_logging()
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
        let call = self.call(&cx)?;
        let query = ListQuery {
            limit: call.page_size(),
            cursor: request.and_then(|r| r.cursor),
            ..ListQuery::default()
        };
        let (prompts, next_cursor) = call
            .list(query)
            .await
            .map_err(|e| to_error(&e, ErrorCode::INVALID_PARAMS))?;
        let mut r =
            ListPromptsResult::with_all_items(prompts.iter().filter_map(prompts::to_mcp).collect());
        r.next_cursor = next_cursor;
        Ok(r)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        cx: RmcpContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let call = self.call(&cx)?;
        let links = cx
            .peer
            .peer_info()
            .is_none_or(|i| prompts::has_resource_links(i.protocol_version.as_str()));
        get_prompt(&call, request, links).await.map(Into::into)
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
        let call = self.call(&cx)?;
        let name = request.name.to_string();
        let args = request.arguments.unwrap_or_default();
        let result = tools::call(&call, &name, args).await.map_err(|e| match e {
            tools::CallError::Unknown(m) => {
                McpError::invalid_params(m, Some(json!({"tool": name})))
            }
            tools::CallError::RateLimited(e) => super::errors::rate_limited(&e),
        })?;
        // The service has recorded the change for every session of the tenant, on any
        // host; a stdio client is told directly.
        if tools::is_write(&name) && result.is_error != Some(true) && self.local.is_some() {
            let _ = cx.peer.notify_prompt_list_changed().await;
        }
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RmcpContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let call = self.call(&cx)?;
        let query = ListQuery {
            limit: call.page_size(),
            cursor: request.and_then(|r| r.cursor),
            ..ListQuery::default()
        };
        let (prompts, next_cursor) = call
            .list(query)
            .await
            .map_err(|e| to_error(&e, ErrorCode::INVALID_PARAMS))?;
        let mut r = ListResourcesResult::with_all_items(
            prompts.iter().filter_map(resources::to_resource).collect(),
        );
        r.next_cursor = next_cursor;
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
        let call = self.call(&cx)?;
        let uri = request.uri;
        let not_found = || {
            McpError::resource_not_found(format!("no resource {uri}"), Some(json!({"uri": uri})))
        };
        let Some(id) = resources::parse(&uri) else {
            return Err(not_found());
        };
        let prompt = call.get(&id, None).await.map_err(|e| {
            if e.kind == ErrorKind::NotFound {
                not_found()
            } else {
                to_error(&e, ErrorCode::INVALID_PARAMS)
            }
        })?;
        let text = serde_json::to_string_pretty(&prompt)
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        let contents = ResourceContents::text(text, uri.clone()).with_mime_type(resources::MIME);
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    // Over HTTP the transport keeps subscriptions and the log level in the session and
    // never hands these to the handler; over stdio there is one client per process and
    // changes are announced directly, so accepting them is all there is to do.
    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        cx: RmcpContext<RoleServer>,
    ) -> Result<(), McpError> {
        let call = self.call(&cx)?;
        let Some(id) = resources::parse(&request.uri) else {
            return Err(McpError::resource_not_found(
                format!("no resource {}", request.uri),
                Some(json!({"uri": request.uri})),
            ));
        };
        call.get(&id, None)
            .await
            .map(|_| ())
            .map_err(|e| to_error(&e, ErrorCode::RESOURCE_NOT_FOUND))
    }

    async fn unsubscribe(
        &self,
        _request: rmcp::model::UnsubscribeRequestParams,
        _cx: RmcpContext<RoleServer>,
    ) -> Result<(), McpError> {
        Ok(())
    }

    // SEP-2577 deprecates logging for later revisions; the revisions served here still
    // define it.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        _request: rmcp::model::SetLevelRequestParams,
        _cx: RmcpContext<RoleServer>,
    ) -> Result<(), McpError> {
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        cx: RmcpContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let call = self.call(&cx)?;
        let typed = request.argument.value.clone();
        let values: Vec<String> = match &request.r#ref {
            Reference::Prompt(p) => {
                // Values the prompt declares for the argument: options, examples, default.
                let prompt = call
                    .get(&p.name, None)
                    .await
                    .map_err(|e| to_error(&e, ErrorCode::INVALID_PARAMS))?;
                let typed = typed.to_lowercase();
                prompts::known_values(&prompt, &request.argument.name)
                    .into_iter()
                    .filter(|v| v.to_lowercase().starts_with(&typed))
                    .collect()
            }
            Reference::Resource(r)
                if r.uri == resources::TEMPLATE && request.argument.name == "id" =>
            {
                let query = ListQuery {
                    limit: crate::service::prompts::MAX_LIMIT,
                    ..ListQuery::default()
                };
                let (prompts, _) = call
                    .list(query)
                    .await
                    .map_err(|e| to_error(&e, ErrorCode::INVALID_PARAMS))?;
                prompts
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

/// `prompts/get`: one policy decision and one handler call. Shared by the rmcp handler
/// (stdio) and the HTTP transport's direct path, which calls it without an rmcp service
/// (see `http/mcp/mod.rs`). `links`: whether the client's revision knows resource links.
pub(crate) async fn get_prompt(
    call: &Call,
    request: GetPromptRequestParams,
    links: bool,
) -> Result<GetPromptResult, McpError> {
    let mut args = request.arguments.unwrap_or_default();
    prompts::drop_blank_args(&mut args);
    let name = request.name;
    // `apply` reports what is missing and returns the description, and the handler
    // decodes placeholder fills sent as JSON text (MCP arguments are strings).
    let applied = call.apply(&name, &Value::Object(args)).await.map_err(|e| {
        match (&e.missing_variables, e.kind) {
            (Some(m), _) => McpError::invalid_params(
                format!("missing required argument: {}", m.join(", ")),
                Some(json!({"missingArguments": m})),
            ),
            (None, ErrorKind::NotFound) => McpError::invalid_params(
                format!("unknown prompt: {name}"),
                Some(json!({"name": name})),
            ),
            (None, _) => to_error(&e, ErrorCode::INVALID_PARAMS),
        }
    })?;
    let mut meta = serde_json::Map::new();
    if let Some(config) = &applied.config {
        meta.insert(prompts::CONFIG_META.into(), Value::Object(config.clone()));
    }
    let messages = match &applied.messages {
        Some(chat) => {
            let images = call
                .images(&name, chat)
                .await
                .map_err(|e| to_error(&e, ErrorCode::INVALID_PARAMS))?;
            let (messages, roles) = prompts::chat_messages(chat, &images, links);
            meta.insert(prompts::ROLES_META.into(), roles);
            messages
        }
        None => prompts::messages(applied.content),
    };
    let mut r = GetPromptResult::new(messages);
    r.description = applied.description;
    if !meta.is_empty() {
        r.meta = Some(rmcp::model::MetaObject(meta));
    }
    Ok(r)
}
