//! Binding to the WIT world `prompt-handler`.

use crate::{exhaust_memory, ok_prompt, recurse, spin};

wit_bindgen::generate!({
    path: "../../wit",
    world: "prompt-handler",
});

use exports::mcp_prompts::plugin::prompts as wit;
use mcp_prompts::plugin::types::CallContext;

fn not_found(id: &str) -> wit::HandlerError {
    wit::HandlerError::NotFound(format!("prompt '{id}' not found"))
}

struct Component;

impl wit::Guest for Component {
    fn list(
        _ctx: CallContext,
        _query: wit::ListQuery,
    ) -> Result<wit::PromptPage, wit::HandlerError> {
        Ok(wit::PromptPage {
            prompts_json: "[]".to_owned(),
            next_cursor: None,
        })
    }

    fn get(
        ctx: CallContext,
        id: String,
        _at: wit::Selector,
    ) -> Result<wit::Resolved, wit::HandlerError> {
        get_json(&ctx, id).map(|prompt_json| wit::Resolved {
            prompt_json,
            label: None,
        })
    }

    fn create(_ctx: CallContext, _prompt_json: String) -> Result<String, wit::HandlerError> {
        Err(not_found(""))
    }

    fn update(
        _ctx: CallContext,
        id: String,
        _prompt_json: String,
        _expected_version: Option<u64>,
    ) -> Result<String, wit::HandlerError> {
        Err(not_found(&id))
    }

    fn delete(_ctx: CallContext, id: String) -> Result<(), wit::HandlerError> {
        Err(not_found(&id))
    }

    fn upsert(
        _ctx: CallContext,
        _prompt_json: String,
    ) -> Result<(wit::UpsertOutcome, String), wit::HandlerError> {
        Err(not_found(""))
    }

    fn versions(_ctx: CallContext, id: String) -> Result<String, wit::HandlerError> {
        Err(not_found(&id))
    }

    fn apply(
        _ctx: CallContext,
        id: String,
        _at: wit::Selector,
        _variables_json: String,
    ) -> Result<wit::Applied, wit::HandlerError> {
        Err(not_found(&id))
    }

    fn delete_version(
        _ctx: CallContext,
        id: String,
        _version: u64,
    ) -> Result<(), wit::HandlerError> {
        Err(not_found(&id))
    }

    fn labels(_ctx: CallContext, id: String) -> Result<Vec<wit::Label>, wit::HandlerError> {
        Err(not_found(&id))
    }

    fn set_label(
        _ctx: CallContext,
        id: String,
        _label: String,
        _version: u64,
        _expected: Option<u64>,
    ) -> Result<wit::Label, wit::HandlerError> {
        Err(not_found(&id))
    }

    fn delete_label(
        _ctx: CallContext,
        id: String,
        _label: String,
        _expected: Option<u64>,
    ) -> Result<u64, wit::HandlerError> {
        Err(not_found(&id))
    }

    fn label_history(
        _ctx: CallContext,
        id: String,
        _label: String,
        _cursor: Option<String>,
        _limit: u32,
    ) -> Result<wit::HistoryPage, wit::HandlerError> {
        Err(not_found(&id))
    }
}

/// The prompt JSON for `id` (most ids misbehave on purpose).
fn get_json(_ctx: &CallContext, id: String) -> Result<String, wit::HandlerError> {
    match id.as_str() {
        "loop" => spin(),
        "oom" => {
            exhaust_memory();
            Err(wit::HandlerError::Internal("memory did not run out".into()))
        }
        "recurse" => {
            let depth = recurse(0);
            Err(wit::HandlerError::Internal(format!(
                "recursion ended at {depth}"
            )))
        }
        "trap" => core::arch::wasm32::unreachable(),
        // What this instance's memory remembers (warm instances, docs/plugins.md).
        "count" => Ok(crate::count_prompt(&_ctx.tenant)),
        // Reaches for a namespace the config did not grant: the host must refuse.
        "steal" => match mcp_prompts::plugin::kv::get("prompts", "p/secret") {
            Err(mcp_prompts::plugin::kv::KvError::Denied(reason)) => {
                Err(wit::HandlerError::Forbidden(reason))
            }
            other => Err(wit::HandlerError::Internal(format!(
                "the host did not refuse an ungranted namespace: {other:?}"
            ))),
        },
        // Uses its granted scratch namespace, to show grants do work.
        "scratch" => mcp_prompts::plugin::kv::put(
            "scratch",
            "k",
            format!("secret-of-{}", _ctx.tenant).as_bytes(),
            mcp_prompts::plugin::kv::Precondition::None,
        )
        .map(|v| ok_prompt(&format!("scratch-v{v}")))
        .map_err(|e| wit::HandlerError::Internal(format!("{e:?}"))),
        // Everything this tenant's scratch namespace holds, as `key=value` lines in
        // `content`: the cross-tenant test checks that no other tenant's entry appears.
        "scan" => {
            use mcp_prompts::plugin::kv;
            let mut lines = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = kv::query("scratch", "", cursor.as_deref(), 100)
                    .map_err(|e| wit::HandlerError::Internal(format!("{e:?}")))?;
                for e in page.entries {
                    lines.push(format!("{}={}", e.key, String::from_utf8_lossy(&e.value)));
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            let mut p: serde_json::Value = serde_json::from_str(&ok_prompt("scan"))
                .map_err(|e| wit::HandlerError::Internal(e.to_string()))?;
            p["content"] = serde_json::Value::String(lines.join("\n"));
            Ok(p.to_string())
        }
        // Tries to reach another tenant's (or namespace's) keys by forging the host's
        // key layout; every attempt must be refused. Reports the first one that was not.
        "forge" => {
            use mcp_prompts::plugin::kv::{self, Precondition};
            let keys = ["\0other\0k", "k\0", "../other/k", "scratch\0other\0k"];
            for k in keys {
                if let Ok(Some(e)) = kv::get("scratch", k) {
                    return Err(wit::HandlerError::Internal(format!("read {k:?}: {e:?}")));
                }
                if k.contains('\0') && kv::put("scratch", k, b"x", Precondition::None).is_ok() {
                    return Err(wit::HandlerError::Internal(format!("wrote {k:?}")));
                }
            }
            for ns in [
                "scratch\0other",
                "scratch/../prompts",
                "prompts",
                "users",
                "SCRATCH",
            ] {
                if kv::get(ns, "k").is_ok() || kv::query(ns, "", None, 10).is_ok() {
                    return Err(wit::HandlerError::Internal(format!(
                        "namespace {ns:?} answered"
                    )));
                }
            }
            Ok(ok_prompt("forge"))
        }
        _ => Ok(ok_prompt(&id)),
    }
}

export!(Component);
