//! Binding to the WIT world `prompt-handler`. Only the export is generated here; the
//! imports are the SDK's.

wit_bindgen::generate!({
    path: "wit",
    world: "prompt-handler",
    with: {
        "mcp-prompts:plugin/types@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::types,
        "mcp-prompts:plugin/kv@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::kv,
        "mcp-prompts:plugin/blob@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::blob,
        "mcp-prompts:plugin/rendering@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::rendering,
        "mcp-prompts:plugin/render@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::render,
        "mcp-prompts:plugin/log@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::log,
        "mcp-prompts:plugin/config@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::config,
    },
});

use crate::Error;
use exports::mcp_prompts::plugin::prompts as wit;
use mcp_prompts_plugin_sdk::config;
use mcp_prompts_plugin_sdk::kv::Host;
use mcp_prompts_plugin_sdk::wit::rendering::{RenderError, RenderRequest};
use mcp_prompts_plugin_sdk::wit::types::{CallContext, FieldError};
use wit::HandlerError;

fn namespace() -> String {
    config::get("namespace").unwrap_or_else(|| "@NAME@".to_owned())
}

fn wit_error(e: Error) -> HandlerError {
    match e {
        Error::NotFound(m) => HandlerError::NotFound(m),
        Error::Invalid { field, message } => HandlerError::Invalid(vec![FieldError { field, message }]),
        Error::Conflict(m) => HandlerError::Conflict(m),
        Error::PreconditionFailed(m) => HandlerError::PreconditionFailed(m),
        Error::Unavailable(m) => HandlerError::Unavailable(m),
        Error::Internal(m) => HandlerError::Internal(m),
    }
}

fn unsupported<T>(what: &str) -> Result<T, HandlerError> {
    Err(HandlerError::Forbidden(format!("@NAME@ does not support {what}")))
}

/// The version a selector names, if any (`current` and labels: the newest; only
/// `latest` exists).
fn version_of(at: &wit::Selector) -> Result<Option<u64>, HandlerError> {
    match at {
        wit::Selector::Current => Ok(None),
        wit::Selector::Version(v) => Ok(Some(*v)),
        wit::Selector::Labels(names) if names.iter().any(|n| n == "latest") => Ok(None),
        wit::Selector::Labels(names) => Err(HandlerError::NotFound(format!(
            "none of the labels {names:?} exists (only `latest`)"
        ))),
    }
}

struct Component;

impl wit::Guest for Component {
    fn list(_: CallContext, q: wit::ListQuery) -> Result<wit::PromptPage, HandlerError> {
        let (prompts_json, next_cursor) =
            crate::list(&Host, &namespace(), q.cursor.as_deref(), q.limit).map_err(wit_error)?;
        Ok(wit::PromptPage {
            prompts_json,
            next_cursor,
        })
    }

    fn get(_: CallContext, id: String, at: wit::Selector) -> Result<wit::Resolved, HandlerError> {
        let label = matches!(at, wit::Selector::Labels(_)).then(|| "latest".to_owned());
        let prompt_json = crate::get(&Host, &namespace(), &id, version_of(&at)?).map_err(wit_error)?;
        Ok(wit::Resolved { prompt_json, label })
    }

    fn create(_: CallContext, prompt_json: String) -> Result<String, HandlerError> {
        crate::create(&Host, &namespace(), &prompt_json).map_err(wit_error)
    }

    fn update(
        _: CallContext,
        id: String,
        prompt_json: String,
        expected: Option<u64>,
    ) -> Result<String, HandlerError> {
        crate::update(&Host, &namespace(), &id, &prompt_json, expected).map_err(wit_error)
    }

    fn delete(_: CallContext, id: String) -> Result<(), HandlerError> {
        crate::delete(&Host, &namespace(), &id).map_err(wit_error)
    }

    fn upsert(_: CallContext, _: String) -> Result<(wit::UpsertOutcome, String), HandlerError> {
        unsupported("imports (upsert)")
    }

    fn versions(_: CallContext, id: String) -> Result<String, HandlerError> {
        // Only the newest version is kept.
        let doc = crate::get(&Host, &namespace(), &id, None).map_err(wit_error)?;
        Ok(format!("[{doc}]"))
    }

    fn apply(
        _: CallContext,
        id: String,
        at: wit::Selector,
        variables_json: String,
    ) -> Result<wit::Applied, HandlerError> {
        let doc = crate::get(&Host, &namespace(), &id, version_of(&at)?).map_err(wit_error)?;
        let doc: serde_json::Value =
            serde_json::from_str(&doc).map_err(|e| HandlerError::Internal(e.to_string()))?;
        let template = doc["content"].as_str().unwrap_or_default().to_owned();
        let vars: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&variables_json)
            .map_err(|_| {
                HandlerError::Invalid(vec![FieldError {
                    field: "variables".into(),
                    message: "must be a JSON object".into(),
                }])
            })?;
        let request = RenderRequest {
            template,
            variables_json,
            partials: Vec::new(),
            required: Vec::new(),
        };
        let content = mcp_prompts_plugin_sdk::wit::render::render(&request).map_err(|e| match e {
            RenderError::MissingVariables(names) => HandlerError::MissingVariables(names),
            RenderError::Syntax(s) => HandlerError::RenderFailed(s.message),
            RenderError::MissingPartial(p) => HandlerError::RenderFailed(format!("missing partial '{p}'")),
            RenderError::PartialCycle(c) => HandlerError::RenderFailed(format!("partial cycle {c:?}")),
            RenderError::Failed(m) => HandlerError::RenderFailed(m),
        })?;
        Ok(wit::Applied {
            content,
            applied_variables: vars.keys().cloned().collect(),
            missing_variables: Vec::new(),
            messages_json: None,
            config_json: None,
            description: doc["description"].as_str().map(str::to_owned),
        })
    }

    fn delete_version(_: CallContext, _: String, _: u64) -> Result<(), HandlerError> {
        unsupported("deleting past versions (only the newest is kept)")
    }

    fn labels(_: CallContext, _: String) -> Result<Vec<wit::Label>, HandlerError> {
        unsupported("labels")
    }

    fn set_label(
        _: CallContext,
        _: String,
        _: String,
        _: u64,
        _: Option<u64>,
    ) -> Result<wit::Label, HandlerError> {
        unsupported("labels")
    }

    fn delete_label(_: CallContext, _: String, _: String, _: Option<u64>) -> Result<u64, HandlerError> {
        unsupported("labels")
    }

    fn label_history(
        _: CallContext,
        _: String,
        _: String,
        _: Option<String>,
        _: u32,
    ) -> Result<wit::HistoryPage, HandlerError> {
        unsupported("labels")
    }
}

export!(Component);
