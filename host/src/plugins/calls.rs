//! Typed calls into plugins, in host types.
//!
//! The generated WIT bindings (`bindings.rs`) stay inside `plugins/`: the service layer
//! calls [`Runtime::prompts`] and [`Runtime::decide`] with the plain Rust types below, and
//! this module converts them to and from the generated ones. One place knows how a call
//! maps onto an export, so a WIT change touches this file and nothing above it.

use super::bindings::{access_policy, prompts, types};
use super::runtime::{CallScope, LoadedPlugin, PluginFailure, Runtime};
use crate::auth::Principal;
use std::sync::Arc;

/// Who a plugin call runs for: the request, the caller (if authenticated) and the tenant
/// the host has resolved (a shared catalog route's, or the caller's).
#[derive(Debug, Clone)]
pub struct CallContext {
    pub request_id: String,
    pub principal: Option<Principal>,
    pub tenant: String,
    /// What the request has spent of its rate limits; clones of one request share it.
    pub spend: super::limits::RequestSpend,
    /// A host entry to commit with the call's first transaction (plugins/rider.rs).
    pub rider: Option<Arc<super::rider::RiderSlot>>,
}

impl CallContext {
    fn scope(&self) -> CallScope {
        CallScope {
            spend: self.spend.clone(),
            rider: self.rider.clone(),
            ..CallScope::new(&self.request_id, &self.tenant)
        }
    }

    fn to_wit(&self) -> types::CallContext {
        types::CallContext {
            request_id: self.request_id.clone(),
            principal: self.principal.as_ref().map(|p| types::Principal {
                subject: p.subject.clone(),
                tenant: p.tenant.clone(),
                scopes: p.scopes.clone(),
                groups: p.groups.clone(),
                tier: p.tier.clone(),
            }),
            tenant: self.tenant.clone(),
        }
    }
}

/// Filters and page of a `list` call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub text: Option<String>,
    pub access_level: Option<String>,
    /// Only prompts that carry this label.
    pub label: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// Which version of a prompt a read addresses (the WIT `selector`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Current,
    Version(u64),
    /// The first of these labels the prompt has.
    Labels(Vec<String>),
}

impl Selector {
    fn to_wit(&self) -> prompts::Selector {
        match self {
            Selector::Current => prompts::Selector::Current,
            Selector::Version(n) => prompts::Selector::Version(*n),
            Selector::Labels(ls) => prompts::Selector::Labels(ls.clone()),
        }
    }
}

/// A prompt as read: its JSON and the label that resolved the read, if any.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub prompt_json: String,
    pub label: Option<String>,
}

/// A label of a prompt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Label {
    pub name: String,
    pub version: u64,
    pub updated_at: String,
    pub updated_by: Option<String>,
}

impl From<prompts::Label> for Label {
    fn from(l: prompts::Label) -> Self {
        Label {
            name: l.name,
            version: l.version,
            updated_at: l.updated_at,
            updated_by: l.updated_by,
        }
    }
}

/// One move of a label; `from: None` = created, `to: None` = removed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LabelMove {
    pub label: String,
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub by: Option<String>,
    pub at: String,
}

/// A page of label moves, oldest first.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub moves: Vec<LabelMove>,
    pub next_cursor: Option<String>,
}

/// A page of prompts as the plugin returned them: a JSON array, unparsed.
#[derive(Debug, Clone)]
pub struct PromptPage {
    pub prompts_json: String,
    pub next_cursor: Option<String>,
}

/// The result of rendering a prompt.
#[derive(Debug, Clone)]
pub struct Applied {
    /// A text prompt's rendering; for a chat prompt its messages' contents joined.
    pub content: String,
    pub applied_variables: Vec<String>,
    pub missing_variables: Vec<String>,
    /// A chat prompt's rendered messages; `None` for a text prompt.
    pub messages: Option<Vec<ChatMessage>>,
    /// The rendered version's `config` object, if it has one.
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
    /// The rendered version's description.
    pub description: Option<String>,
}

/// Who speaks a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

/// One rendered chat message (WIT `applied.messages-json`, element).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: super::content::MessageContent,
}

/// `messages-json` as the plugin sent it, checked: a plugin's malformed answer is its
/// internal error, never a document passed on to a client.
fn chat_messages(json: Option<String>) -> Result<Option<Vec<ChatMessage>>, HandlerError> {
    json.map(|text| {
        serde_json::from_str(&text).map_err(|e| {
            HandlerError::Internal(format!(
                "applied.messages-json is not a list of {{role, content}} messages (content a string or content blocks): {e}"
            ))
        })
    })
    .transpose()
}

/// `config-json` as the plugin sent it, checked to be a JSON object.
fn config_object(
    json: Option<String>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, HandlerError> {
    json.map(|text| {
        serde_json::from_str(&text).map_err(|e| {
            HandlerError::Internal(format!("applied.config-json is not a JSON object: {e}"))
        })
    })
    .transpose()
}

/// What an import did with one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created,
    Updated,
    Unchanged,
}

/// One invalid field of a plugin's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A prompt handler's domain error (the WIT `handler-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerError {
    NotFound(String),
    Invalid(Vec<FieldError>),
    Conflict(String),
    PreconditionFailed(String),
    MissingVariables(Vec<String>),
    RenderFailed(String),
    Forbidden(String),
    /// Part of the input exceeds a limit of the handler (e.g. the prompt's config).
    TooLarge(String),
    Unavailable(String),
    Internal(String),
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandlerError::Invalid(errors) => {
                let text: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                f.write_str(&text.join("; "))
            }
            HandlerError::MissingVariables(v) => write!(f, "missing variables: {}", v.join(", ")),
            HandlerError::NotFound(m)
            | HandlerError::Conflict(m)
            | HandlerError::PreconditionFailed(m)
            | HandlerError::RenderFailed(m)
            | HandlerError::Forbidden(m)
            | HandlerError::TooLarge(m)
            | HandlerError::Unavailable(m)
            | HandlerError::Internal(m) => f.write_str(m),
        }
    }
}

impl From<prompts::HandlerError> for HandlerError {
    fn from(e: prompts::HandlerError) -> Self {
        use prompts::HandlerError as E;
        match e {
            E::NotFound(m) => Self::NotFound(m),
            E::Invalid(errors) => Self::Invalid(
                errors
                    .into_iter()
                    .map(|e| FieldError {
                        field: e.field,
                        message: e.message,
                    })
                    .collect(),
            ),
            E::Conflict(m) => Self::Conflict(m),
            E::PreconditionFailed(m) => Self::PreconditionFailed(m),
            E::MissingVariables(v) => Self::MissingVariables(v),
            E::RenderFailed(m) => Self::RenderFailed(m),
            E::Forbidden(m) => Self::Forbidden(m),
            E::TooLarge(m) => Self::TooLarge(m),
            E::Unavailable(m) => Self::Unavailable(m),
            E::Internal(m) => Self::Internal(m),
        }
    }
}

/// A prompt-handler call: the outer error is the plugin failing to answer (trap,
/// timeout, limit), the inner one the plugin's own domain answer.
pub type HandlerResult<T> = Result<Result<T, HandlerError>, PluginFailure>;

/// What a policy is asked about.
#[derive(Debug, Clone)]
pub struct PolicyRequest {
    pub method: String,
    /// The route pattern, e.g. `/v1/prompts/{id}` or `/mcp`.
    pub route: String,
    pub resource: Option<String>,
    pub action: String,
    /// The client's address (`http::client`), `None` on stdio.
    pub client: Option<String>,
}

/// A policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Allowed; the headers go on the response (rate-limit counters, for instance).
    AllowWith(Vec<(String, String)>),
    Deny(Denial),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    /// Scopes that would have allowed the request (an `insufficient_scope` refusal).
    pub required_scopes: Vec<String>,
}

fn headers(hs: Vec<access_policy::Header>) -> Vec<(String, String)> {
    hs.into_iter().map(|h| (h.name, h.value)).collect()
}

impl From<access_policy::Decision> for Decision {
    fn from(d: access_policy::Decision) -> Self {
        match d {
            access_policy::Decision::Allow => Decision::Allow,
            access_policy::Decision::AllowWith(hs) => Decision::AllowWith(headers(hs)),
            access_policy::Decision::Deny(d) => Decision::Deny(Denial {
                status: d.status,
                reason: d.reason,
                headers: headers(d.headers),
                required_scopes: d.required_scopes,
            }),
        }
    }
}

/// The prompts interface of one prompt-handler plugin, called on behalf of `cx`.
pub struct PromptCalls<'a> {
    runtime: &'a Runtime,
    plugin: &'a Arc<LoadedPlugin>,
    cx: &'a CallContext,
}

impl Runtime {
    /// The prompt-handler calls of `plugin` for one caller.
    pub fn prompts<'a>(
        &'a self,
        plugin: &'a Arc<LoadedPlugin>,
        cx: &'a CallContext,
    ) -> PromptCalls<'a> {
        PromptCalls {
            runtime: self,
            plugin,
            cx,
        }
    }

    /// Asks a policy plugin for a decision about `request` made by `cx`.
    pub async fn decide(
        &self,
        plugin: &Arc<LoadedPlugin>,
        cx: &CallContext,
        request: &PolicyRequest,
    ) -> Result<Decision, PluginFailure> {
        let wit = cx.to_wit();
        let info = access_policy::RequestInfo {
            request_id: wit.request_id,
            principal: wit.principal,
            tenant: wit.tenant,
            method: request.method.clone(),
            route: request.route.clone(),
            resource: request.resource.clone(),
            action: request.action.clone(),
            client: request.client.clone(),
        };
        self.policy(plugin, &cx.scope(), info)
            .await
            .map(Decision::from)
    }
}

/// Writes one prompt-handler export call: an instance (runtime.rs), the call, the error
/// mapping.
macro_rules! handler_call {
    ($self:ident, |$s:ident, $h:ident, $cc:ident| $call:expr) => {{
        let $cc = $self.cx.to_wit();
        let r = $self
            .runtime
            .handler(
                $self.plugin,
                &$self.cx.scope(),
                move |mut $s, $h| async move {
                    let r = $call.await;
                    ($s, r)
                },
            )
            .await?;
        Ok(r.map_err(HandlerError::from))
    }};
}

impl PromptCalls<'_> {
    pub async fn list(&self, q: &ListQuery) -> HandlerResult<PromptPage> {
        let query = prompts::ListQuery {
            category: q.category.clone(),
            tags: q.tags.clone(),
            text: q.text.clone(),
            access_level: q.access_level.clone(),
            label: q.label.clone(),
            limit: q.limit,
            cursor: q.cursor.clone(),
        };
        let r: HandlerResult<prompts::PromptPage> =
            handler_call!(self, |s, h, cc| h.call_list(&mut s, &cc, &query));
        r.map(|r| {
            r.map(|p| PromptPage {
                prompts_json: p.prompts_json,
                next_cursor: p.next_cursor,
            })
        })
    }

    /// The addressed version of a prompt.
    pub async fn get(&self, id: &str, at: &Selector) -> HandlerResult<Resolved> {
        let id = id.to_string();
        let at = at.to_wit();
        let r: HandlerResult<prompts::Resolved> =
            handler_call!(self, |s, h, cc| h.call_get(&mut s, &cc, &id, &at));
        r.map(|r| {
            r.map(|p| Resolved {
                prompt_json: p.prompt_json,
                label: p.label,
            })
        })
    }

    /// Deletes one past, unlabelled version.
    pub async fn delete_version(&self, id: &str, version: u64) -> HandlerResult<()> {
        let id = id.to_string();
        handler_call!(self, |s, h, cc| h
            .call_delete_version(&mut s, &cc, &id, version))
    }

    /// Every label of a prompt, `latest` first.
    pub async fn labels(&self, id: &str) -> HandlerResult<Vec<Label>> {
        let id = id.to_string();
        let r: HandlerResult<Vec<prompts::Label>> =
            handler_call!(self, |s, h, cc| h.call_labels(&mut s, &cc, &id));
        r.map(|r| r.map(|ls| ls.into_iter().map(Label::from).collect()))
    }

    pub async fn set_label(
        &self,
        id: &str,
        label: &str,
        version: u64,
        expected: Option<u64>,
    ) -> HandlerResult<Label> {
        let (id, label) = (id.to_string(), label.to_string());
        let r: HandlerResult<prompts::Label> = handler_call!(self, |s, h, cc| h
            .call_set_label(&mut s, &cc, &id, &label, version, expected));
        r.map(|r| r.map(Label::from))
    }

    /// Removes a label; returns the version it pointed at.
    pub async fn delete_label(
        &self,
        id: &str,
        label: &str,
        expected: Option<u64>,
    ) -> HandlerResult<u64> {
        let (id, label) = (id.to_string(), label.to_string());
        handler_call!(self, |s, h, cc| h
            .call_delete_label(&mut s, &cc, &id, &label, expected))
    }

    pub async fn label_history(
        &self,
        id: &str,
        label: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> HandlerResult<HistoryPage> {
        let (id, label) = (id.to_string(), label.to_string());
        let r: HandlerResult<prompts::HistoryPage> = handler_call!(self, |s, h, cc| h
            .call_label_history(&mut s, &cc, &id, &label, cursor.as_deref(), limit));
        r.map(|r| {
            r.map(|p| HistoryPage {
                moves: p
                    .moves
                    .into_iter()
                    .map(|m| LabelMove {
                        label: m.label,
                        from: m.from_version,
                        to: m.to_version,
                        by: m.by,
                        at: m.at,
                    })
                    .collect(),
                next_cursor: p.next_cursor,
            })
        })
    }

    pub async fn create(&self, prompt_json: String) -> HandlerResult<String> {
        handler_call!(self, |s, h, cc| h.call_create(&mut s, &cc, &prompt_json))
    }

    pub async fn update(
        &self,
        id: &str,
        fields_json: String,
        expected: Option<u64>,
    ) -> HandlerResult<String> {
        let id = id.to_string();
        handler_call!(self, |s, h, cc| h.call_update(
            &mut s,
            &cc,
            &id,
            &fields_json,
            expected
        ))
    }

    pub async fn delete(&self, id: &str) -> HandlerResult<()> {
        let id = id.to_string();
        handler_call!(self, |s, h, cc| h.call_delete(&mut s, &cc, &id))
    }

    /// Creates or updates from a full document (import); says which it did.
    pub async fn upsert(&self, prompt_json: String) -> HandlerResult<(UpsertOutcome, String)> {
        let r: HandlerResult<(prompts::UpsertOutcome, String)> =
            handler_call!(self, |s, h, cc| h.call_upsert(&mut s, &cc, &prompt_json));
        r.map(|r| {
            r.map(|(o, json)| {
                let o = match o {
                    prompts::UpsertOutcome::Created => UpsertOutcome::Created,
                    prompts::UpsertOutcome::Updated => UpsertOutcome::Updated,
                    prompts::UpsertOutcome::Unchanged => UpsertOutcome::Unchanged,
                };
                (o, json)
            })
        })
    }

    /// Every version of a prompt, as a JSON array.
    pub async fn versions(&self, id: &str) -> HandlerResult<String> {
        let id = id.to_string();
        handler_call!(self, |s, h, cc| h.call_versions(&mut s, &cc, &id))
    }

    pub async fn apply(
        &self,
        id: &str,
        at: &Selector,
        variables_json: String,
    ) -> HandlerResult<Applied> {
        let id = id.to_string();
        let at = at.to_wit();
        let r: HandlerResult<prompts::Applied> = handler_call!(self, |s, h, cc| h.call_apply(
            &mut s,
            &cc,
            &id,
            &at,
            &variables_json
        ));
        r.map(|r| {
            r.and_then(|a| {
                Ok(Applied {
                    messages: chat_messages(a.messages_json)?,
                    config: config_object(a.config_json)?,
                    content: a.content,
                    applied_variables: a.applied_variables,
                    missing_variables: a.missing_variables,
                    description: a.description,
                })
            })
        })
    }
}

/// A template and what it renders with (the WIT `render-request`).
#[derive(Debug, Clone, Default)]
pub struct RenderRequest {
    pub template: String,
    /// Variables as a JSON object.
    pub variables_json: String,
    /// `(name, template)` of each partial available to `{{> name}}`.
    pub partials: Vec<(String, String)>,
    /// Variables that must be present (non-null).
    pub required: Vec<String>,
}

/// Why a template did not render, as one line of text (syntax errors with their
/// position, missing partials and variables by name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

impl Runtime {
    /// Renders through a renderer plugin directly (benchmarks, tools); prompt handlers
    /// reach their renderer through the `render` import instead.
    pub async fn render_template(
        &self,
        plugin: &Arc<LoadedPlugin>,
        cx: &CallContext,
        request: RenderRequest,
    ) -> Result<Result<String, RenderError>, PluginFailure> {
        use super::bindings::rendering;
        let wit = rendering::RenderRequest {
            template: request.template,
            variables_json: request.variables_json,
            partials: request
                .partials
                .into_iter()
                .map(|(name, template)| rendering::Partial { name, template })
                .collect(),
            required: request.required,
        };
        let (r, _) = self.render(plugin, &cx.scope(), None, wit).await?;
        Ok(r.map_err(|e| {
            RenderError(match e {
                rendering::RenderError::Syntax(s) => match s.position {
                    Some(p) => format!("{} at {}:{}", s.message, p.line, p.column),
                    None => s.message,
                },
                rendering::RenderError::MissingPartial(p) => format!("missing partial {p}"),
                rendering::RenderError::PartialCycle(c) => {
                    format!("partial cycle: {}", c.join(" > "))
                }
                rendering::RenderError::MissingVariables(v) => {
                    format!("missing variables: {}", v.join(", "))
                }
                rendering::RenderError::Failed(m) => m,
            })
        }))
    }
}
