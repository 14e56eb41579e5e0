//! Binding to the WIT world `prompt-handler`: converts between the generated types and
//! the plain ones the logic uses, and implements [`Backend`] with the host imports.

use crate::access::{self, Viewer};
use crate::apply::{self, Applied};
use crate::backend::{
    self, Backend, Entry, Error, KvError, Page, RenderError, RenderRequest, WriteOp,
};
use crate::{clock, labels, list, store};
use std::cell::OnceCell;
use std::rc::Rc;

wit_bindgen::generate!({
    path: "../../wit",
    world: "prompt-handler",
});

use exports::mcp_prompts::plugin::prompts as wit;
use mcp_prompts::plugin::types::{CallContext, FieldError};
use mcp_prompts::plugin::{config, kv, log, render, rendering};

const DEFAULT_NAMESPACE: &str = "prompts";

/// The host as seen by one call, with the plugin's settings.
struct Host {
    settings: Rc<Settings>,
}

/// The plugin configuration, read by an instance's first call: it cannot change under a
/// live instance (a reload replaces the instances), and a warm instance serves many calls.
struct Settings {
    namespace: String,
    /// Tiers that may read premium prompts (`premium_tiers`).
    premium_tiers: Vec<String>,
}

thread_local! {
    static SETTINGS: OnceCell<Rc<Settings>> = const { OnceCell::new() };
}

impl Settings {
    fn read() -> Self {
        let namespace = config::get("namespace")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        let premium_tiers = access::parse_premium_tiers(config::get("premium_tiers").as_deref())
            .unwrap_or_else(|warning| {
                log::log(log::Level::Warn, &warning);
                Vec::new()
            });
        Settings {
            namespace,
            premium_tiers,
        }
    }
}

impl Host {
    fn new() -> Self {
        let settings = SETTINGS.with(|s| s.get_or_init(|| Rc::new(Settings::read())).clone());
        Host { settings }
    }

    /// The caller, judged against this plugin's premium tiers.
    fn viewer<'a>(&self, ctx: &'a CallContext) -> Viewer<'a> {
        match &ctx.principal {
            Some(p) => Viewer::new(
                author(ctx).unwrap_or(""),
                &p.tier,
                &self.settings.premium_tiers,
            ),
            None => Viewer::ANONYMOUS,
        }
    }
}

fn kv_error(e: kv::KvError) -> KvError {
    match e {
        kv::KvError::Denied(m) => KvError::Denied(m),
        kv::KvError::Conflict(m) => KvError::Conflict(m),
        kv::KvError::Invalid(m) => KvError::Invalid(m),
        kv::KvError::Unavailable(m) => KvError::Unavailable(m),
    }
}

fn precondition(p: backend::Precondition) -> kv::Precondition {
    match p {
        backend::Precondition::None => kv::Precondition::None,
        backend::Precondition::Absent => kv::Precondition::Absent,
        backend::Precondition::Version(v) => kv::Precondition::Version(v),
    }
}

fn entry(e: kv::Entry) -> Entry {
    Entry {
        key: e.key,
        value: e.value,
        version: e.version,
    }
}

impl Backend for Host {
    fn kv_get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        kv::get(&self.settings.namespace, key)
            .map(|e| e.map(entry))
            .map_err(kv_error)
    }

    fn kv_transact(&self, ops: Vec<WriteOp>) -> Result<Vec<u64>, KvError> {
        let ops: Vec<kv::WriteOp> = ops
            .into_iter()
            .map(|op| match op {
                WriteOp::Put {
                    key,
                    value,
                    precondition: p,
                } => kv::WriteOp::Put(kv::PutOp {
                    key,
                    value,
                    precondition: precondition(p),
                }),
                WriteOp::Delete {
                    key,
                    precondition: p,
                } => kv::WriteOp::Delete(kv::DeleteOp {
                    key,
                    precondition: precondition(p),
                }),
            })
            .collect();
        kv::transact(&self.settings.namespace, &ops).map_err(kv_error)
    }

    fn kv_query(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<Page, KvError> {
        kv::query(&self.settings.namespace, prefix, cursor, limit)
            .map(|page| Page {
                entries: page.entries.into_iter().map(entry).collect(),
                next_cursor: page.next_cursor,
            })
            .map_err(kv_error)
    }

    fn render(&self, request: &RenderRequest) -> Result<String, RenderError> {
        let request = rendering::RenderRequest {
            template: request.template.clone(),
            variables_json: request.variables_json.clone(),
            partials: request
                .partials
                .iter()
                .map(|(name, template)| rendering::Partial {
                    name: name.clone(),
                    template: template.clone(),
                })
                .collect(),
            required: request.required.clone(),
        };
        render::render(&request).map_err(|e| match e {
            rendering::RenderError::Syntax(s) => RenderError::Syntax {
                message: s.message,
                position: s.position.map(|p| (p.line, p.column)),
                source_name: s.source_name,
            },
            rendering::RenderError::MissingPartial(name) => RenderError::MissingPartial(name),
            rendering::RenderError::PartialCycle(chain) => RenderError::PartialCycle(chain),
            rendering::RenderError::MissingVariables(names) => RenderError::MissingVariables(names),
            rendering::RenderError::Failed(m) => RenderError::Failed(m),
        })
    }

    fn warn(&self, message: &str) {
        log::log(log::Level::Warn, message);
    }

    fn now(&self) -> String {
        clock::now_rfc3339()
    }

    fn max_config_bytes(&self) -> usize {
        // Only writes need it: read when asked.
        config::get("max_config_size")
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(crate::validate::DEFAULT_MAX_CONFIG_BYTES)
    }
}

fn handler_error(e: Error) -> wit::HandlerError {
    match e {
        Error::NotFound(m) => wit::HandlerError::NotFound(m),
        Error::Invalid(errors) => wit::HandlerError::Invalid(
            errors
                .into_iter()
                .map(|e| FieldError {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        ),
        Error::Conflict(m) => wit::HandlerError::Conflict(m),
        Error::PreconditionFailed(m) => wit::HandlerError::PreconditionFailed(m),
        Error::MissingVariables(names) => wit::HandlerError::MissingVariables(names),
        Error::RenderFailed(m) => wit::HandlerError::RenderFailed(m),
        Error::Forbidden(m) => wit::HandlerError::Forbidden(m),
        Error::TooLarge(m) => wit::HandlerError::TooLarge(m),
        Error::Unavailable(m) => wit::HandlerError::Unavailable(m),
        Error::Internal(m) => {
            // Internal errors mean misconfiguration or a bug: make them visible in the
            // host log, not only in the response.
            log::log(log::Level::Error, &m);
            wit::HandlerError::Internal(m)
        }
    }
}

/// The caller's subject, recorded as author of new prompts and matched against the
/// author of stored ones; `None` outside the caller's own tenant (see [`access::owner`]).
fn author(ctx: &CallContext) -> Option<&str> {
    ctx.principal
        .as_ref()
        .and_then(|p| access::owner(&p.subject, &p.tenant, &ctx.tenant))
}

struct Component;

impl wit::Guest for Component {
    fn list(ctx: CallContext, query: wit::ListQuery) -> Result<wit::PromptPage, wit::HandlerError> {
        let query = list::Query {
            category: query.category,
            tags: query.tags,
            text: query.text,
            access_level: query.access_level,
            label: query.label,
            limit: query.limit,
            cursor: query.cursor,
        };
        let run = || {
            let host = Host::new();
            let page = list::list(&host, host.viewer(&ctx), &query)?;
            Ok(wit::PromptPage {
                prompts_json: list::to_json(&page)?,
                next_cursor: page.next_cursor,
            })
        };
        run().map_err(handler_error)
    }

    fn get(
        ctx: CallContext,
        id: String,
        at: wit::Selector,
    ) -> Result<wit::Resolved, wit::HandlerError> {
        let host = Host::new();
        let run = || {
            let (label, prompt) = store::select(&host, host.viewer(&ctx), &id, &selector(at))?;
            Ok(wit::Resolved {
                prompt_json: store::to_json(&prompt)?,
                label,
            })
        };
        run().map_err(handler_error)
    }

    fn create(ctx: CallContext, prompt_json: String) -> Result<String, wit::HandlerError> {
        store::create(&Host::new(), &prompt_json, author(&ctx)).map_err(handler_error)
    }

    fn update(
        ctx: CallContext,
        id: String,
        prompt_json: String,
        expected_version: Option<u64>,
    ) -> Result<String, wit::HandlerError> {
        let host = Host::new();
        store::update(
            &host,
            host.viewer(&ctx),
            &id,
            &prompt_json,
            expected_version,
        )
        .map_err(handler_error)
    }

    fn delete(ctx: CallContext, id: String) -> Result<(), wit::HandlerError> {
        let host = Host::new();
        store::delete(&host, host.viewer(&ctx), &id).map_err(handler_error)
    }

    fn upsert(
        ctx: CallContext,
        prompt_json: String,
    ) -> Result<(wit::UpsertOutcome, String), wit::HandlerError> {
        let host = Host::new();
        // A call without a principal is the operator's local import; an API caller is
        // held to the access levels an update would be.
        let viewer = ctx.principal.is_some().then(|| host.viewer(&ctx));
        let (outcome, json) =
            store::upsert_as(&host, &prompt_json, author(&ctx), viewer).map_err(handler_error)?;
        let outcome = match outcome {
            store::Outcome::Created => wit::UpsertOutcome::Created,
            store::Outcome::Updated => wit::UpsertOutcome::Updated,
            store::Outcome::Unchanged => wit::UpsertOutcome::Unchanged,
        };
        Ok((outcome, json))
    }

    fn versions(ctx: CallContext, id: String) -> Result<String, wit::HandlerError> {
        let host = Host::new();
        store::versions(&host, host.viewer(&ctx), &id).map_err(handler_error)
    }

    fn apply(
        ctx: CallContext,
        id: String,
        at: wit::Selector,
        variables_json: String,
    ) -> Result<wit::Applied, wit::HandlerError> {
        let host = Host::new();
        apply::apply(
            &host,
            host.viewer(&ctx),
            &id,
            &selector(at),
            &variables_json,
        )
        .and_then(
            |Applied {
                 content,
                 applied_variables,
                 missing_variables,
                 messages,
                 config,
                 description,
             }| {
                let messages_json = messages
                    .map(|m| serde_json::to_string(&m))
                    .transpose()
                    .map_err(|e| Error::Internal(format!("cannot serialise messages: {e}")))?;
                let config_json = config
                    .map(|c| serde_json::to_string(&c))
                    .transpose()
                    .map_err(|e| Error::Internal(format!("cannot serialise config: {e}")))?;
                Ok(wit::Applied {
                    content,
                    applied_variables,
                    missing_variables,
                    messages_json,
                    config_json,
                    description,
                })
            },
        )
        .map_err(handler_error)
    }

    fn delete_version(ctx: CallContext, id: String, version: u64) -> Result<(), wit::HandlerError> {
        let host = Host::new();
        labels::delete_version(&host, host.viewer(&ctx), &id, version).map_err(handler_error)
    }

    fn labels(ctx: CallContext, id: String) -> Result<Vec<wit::Label>, wit::HandlerError> {
        let host = Host::new();
        labels::list(&host, host.viewer(&ctx), &id)
            .map(|ls| ls.into_iter().map(label).collect())
            .map_err(handler_error)
    }

    fn set_label(
        ctx: CallContext,
        id: String,
        name: String,
        version: u64,
        expected: Option<u64>,
    ) -> Result<wit::Label, wit::HandlerError> {
        let host = Host::new();
        labels::set(
            &host,
            host.viewer(&ctx),
            &id,
            &name,
            version,
            expected,
            mover(&ctx),
        )
        .map(label)
        .map_err(handler_error)
    }

    fn delete_label(
        ctx: CallContext,
        id: String,
        name: String,
        expected: Option<u64>,
    ) -> Result<u64, wit::HandlerError> {
        let host = Host::new();
        labels::remove(&host, host.viewer(&ctx), &id, &name, expected, mover(&ctx))
            .map_err(handler_error)
    }

    fn label_history(
        ctx: CallContext,
        id: String,
        name: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<wit::HistoryPage, wit::HandlerError> {
        let host = Host::new();
        labels::history(
            &host,
            host.viewer(&ctx),
            &id,
            &name,
            cursor.as_deref(),
            limit,
        )
        .map(|page| wit::HistoryPage {
            moves: page
                .moves
                .into_iter()
                .map(|m| wit::LabelMove {
                    label: m.label,
                    from_version: m.from,
                    to_version: m.to,
                    by: m.by,
                    at: m.at,
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
        .map_err(handler_error)
    }
}

fn selector(at: wit::Selector) -> store::Selector {
    match at {
        wit::Selector::Current => store::Selector::Current,
        wit::Selector::Version(n) => store::Selector::Version(n),
        wit::Selector::Labels(ls) => store::Selector::Labels(ls),
    }
}

fn label(l: labels::Label) -> wit::Label {
    wit::Label {
        name: l.name,
        version: l.version,
        updated_at: l.updated_at,
        updated_by: l.updated_by,
    }
}

/// Who moved a label, for its history: the caller's subject, whatever the tenant (a
/// move is an audit record, not an ownership claim).
fn mover(ctx: &CallContext) -> Option<&str> {
    ctx.principal.as_ref().map(|p| p.subject.as_str())
}

export!(Component);
