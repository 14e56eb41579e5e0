//! The original system's prompt tools, with JSON Schemas (2020-12) whose fields are the
//! REST API's. Domain failures (not found, invalid, conflict, …) are tool results with
//! `isError: true` and a clear text, never protocol errors: the model can read and react.

use super::Call;
use crate::plugins::ListQuery;
use crate::service::Error as Problem;
use rmcp::model::{CallToolResult, ContentBlock, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};
use std::sync::Arc;

const SCHEMA: &str = "https://json-schema.org/draft/2020-12/schema";

fn schema(properties: Value, required: &[&str]) -> Arc<Map<String, Value>> {
    let mut m = Map::new();
    m.insert("$schema".into(), json!(SCHEMA));
    m.insert("type".into(), json!("object"));
    m.insert("properties".into(), properties);
    m.insert("required".into(), json!(required));
    m.insert("additionalProperties".into(), json!(false));
    Arc::new(m)
}

fn variables_schema() -> Value {
    json!({
        "type": "array",
        "description": "Template variables: names, or {name, description, required, default} objects",
        "items": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "description": {"type": ["string", "null"]},
                        "required": {"type": "boolean"},
                        "default": {}
                    },
                    "required": ["name"]
                }
            ]
        }
    })
}

/// `{role, content}`: one chat message.
fn chat_message_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "role": {"type": "string", "enum": ["system", "user", "assistant"]},
            "content": {"type": "string"}
        },
        "required": ["role", "content"]
    })
}

/// The fields of a prompt a client may set (REST `POST /v1/prompts` body).
fn prompt_fields() -> Map<String, Value> {
    let v = json!({
        "name": {"type": "string", "minLength": 1, "description": "Human-readable name"},
        "description": {"type": ["string", "null"]},
        "type": {"type": "string", "enum": ["text", "chat"], "description": "Fixed at creation; text (default) has content, chat has messages"},
        "content": {"type": "string", "description": "A text prompt's text; Handlebars template when it has {{variables}}"},
        "messages": {
            "type": "array",
            "description": "A chat prompt's messages, each a template, and placeholders filled at apply time with a list of messages",
            "items": {"oneOf": [
                chat_message_schema(),
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": "placeholder"},
                        "name": {"type": "string", "minLength": 1}
                    },
                    "required": ["type", "name"]
                }
            ]}
        },
        "isTemplate": {"type": "boolean"},
        "category": {"type": ["string", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "variables": variables_schema(),
        "accessLevel": {"type": "string", "enum": ["public", "private", "premium"]},
        "metadata": {"type": "object"},
        "config": {"type": ["object", "null"], "description": "What to run the prompt with (model, parameters, tools, response_format, ...), versioned with it; null removes it"}
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn list_properties(search_required: bool) -> Value {
    let mut p = json!({
        "category": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}, "description": "All of these tags must be present"},
        "accessLevel": {"type": "string", "enum": ["public", "private", "premium"]},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100},
        "cursor": {"type": "string", "description": "nextCursor of the previous page"}
    });
    let desc = if search_required {
        "Case-insensitive text to find in name, description and content"
    } else {
        "Optional case-insensitive text search"
    };
    p["search"] =
        json!({"type": "string", "minLength": usize::from(search_required), "description": desc});
    p
}

/// Every tool this server offers.
pub fn all() -> Vec<Tool> {
    let read = ToolAnnotations::new().read_only(true).open_world(false);
    let mut create_props = prompt_fields();
    create_props.insert(
        "id".into(),
        json!({"type": "string", "description": "Optional; derived from the name when absent"}),
    );
    let mut update_props = prompt_fields();
    update_props.insert("id".into(), json!({"type": "string", "minLength": 1}));
    update_props.insert(
        "expectedVersion".into(),
        json!({"type": "integer", "minimum": 1, "description": "Fail with a conflict unless the stored version is this (REST If-Match)"}),
    );
    vec![
        Tool::new(
            "list_prompts",
            "List stored prompts, optionally filtered by category, tags, access level or text; paginated with cursor",
            schema(list_properties(false), &[]),
        )
        .with_annotations(read.clone()),
        Tool::new(
            "get_prompt",
            "Get one stored prompt by id (optionally a past version)",
            schema(
                json!({
                    "id": {"type": "string", "minLength": 1},
                    "version": {"type": "integer", "minimum": 1}
                }),
                &["id"],
            ),
        )
        .with_annotations(read.clone()),
        Tool::new(
            "search_prompts",
            "Search stored prompts by text in name, description and content",
            schema(list_properties(true), &["search"]),
        )
        .with_annotations(read.clone()),
        Tool::new(
            "apply_template",
            "Render a stored prompt template with variables",
            schema(
                json!({
                    "id": {"type": "string", "minLength": 1},
                    "variables": {"type": "object", "description": "Variable values by name"}
                }),
                &["id"],
            ),
        )
        .with_annotations(read.clone()),
        Tool::new(
            "create_prompt",
            "Create a prompt",
            // `content` for text prompts, `messages` for chat prompts: the handler says
            // which is missing.
            schema(Value::Object(create_props), &["name"]),
        )
        .with_annotations(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(false)
                .open_world(false),
        ),
        Tool::new(
            "update_prompt",
            "Update a prompt's fields (the fields given replace the stored ones)",
            schema(Value::Object(update_props), &["id"]),
        )
        .with_annotations(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(true)
                .idempotent(true)
                .open_world(false),
        ),
        Tool::new(
            "list_versions",
            "Every version of a prompt (oldest first) and its labels (latest, production, ...)",
            schema(json!({"id": {"type": "string", "minLength": 1}}), &["id"]),
        )
        .with_annotations(read.clone()),
        Tool::new(
            "set_label",
            "Point a label (e.g. production, staging) at a version of a prompt: deploy or roll back. Protected labels need their scope; 'latest' moves by itself",
            schema(
                json!({
                    "id": {"type": "string", "minLength": 1},
                    "label": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$"},
                    "version": {"type": "integer", "minimum": 1},
                    "expectedVersion": {"type": "integer", "minimum": 1, "description": "Fail unless the label points at this version now (REST If-Match)"}
                }),
                &["id", "label", "version"],
            ),
        )
        .with_annotations(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
        ),
        Tool::new(
            "diff_prompt",
            "What changed between two versions of a prompt: a unified diff of its text or messages and the changes of config, tags, variables and access level",
            schema(
                json!({
                    "id": {"type": "string", "minLength": 1},
                    "from": {"type": ["integer", "string"], "description": "A version number or a label name (e.g. production)"},
                    "to": {"type": ["integer", "string"], "description": "A version number or a label name; default: latest"}
                }),
                &["id", "from"],
            ),
        )
        .with_annotations(read.clone()),
        Tool::new(
            "delete_prompt",
            "Delete a prompt and its versions",
            schema(json!({"id": {"type": "string", "minLength": 1}}), &["id"]),
        )
        .with_annotations(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(true)
                .idempotent(true)
                .open_world(false),
        ),
    ]
    .into_iter()
    .map(|t| {
        let out = output_schema(&t.name);
        t.with_raw_output_schema(out)
    })
    .collect()
}

/// The `outputSchema` of a tool whose success result has the shape `success`: either
/// that, or the problem document an error result carries as `structuredContent` (clients
/// validate both against the schema).
fn output(success: Value) -> Arc<Map<String, Value>> {
    let problem = json!({
        "type": "object",
        "description": "An error result: the REST problem document",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"}
        },
        "required": ["type", "title", "status", "detail"]
    });
    let mut m = Map::new();
    m.insert("$schema".into(), json!(SCHEMA));
    m.insert("type".into(), json!("object"));
    m.insert("anyOf".into(), json!([success, problem]));
    Arc::new(m)
}

fn prompt_output() -> Value {
    json!({
        "type": "object",
        "description": "A stored prompt, as GET /v1/prompts/{id} returns it",
        "properties": {
            "id": {"type": "string"},
            "version": {"type": "integer"},
            "name": {"type": "string"},
            "content": {"type": "string"}
        },
        "required": ["id", "version"]
    })
}

/// `outputSchema` per tool name.
fn output_schema(name: &str) -> Arc<Map<String, Value>> {
    match name {
        "list_prompts" | "search_prompts" => output(json!({
            "type": "object",
            "properties": {
                "prompts": {"type": "array", "items": prompt_output()},
                "nextCursor": {"type": ["string", "null"]}
            },
            "required": ["prompts"]
        })),
        "apply_template" => output(json!({
            "type": "object",
            "properties": {
                "content": {"type": "string"},
                "appliedVariables": {"type": "array", "items": {"type": "string"}},
                "missingVariables": {"type": "array", "items": {"type": "string"}},
                "messages": {
                    "type": ["array", "null"],
                    "description": "A chat prompt's rendered messages; null for a text prompt",
                    "items": chat_message_schema()
                },
                "config": {"type": ["object", "null"], "description": "The rendered version's config"}
            },
            "required": ["content"]
        })),
        "diff_prompt" => output(json!({
            "type": "object",
            "description": "As GET /v1/prompts/{id}/diff returns it",
            "properties": {
                "id": {"type": "string"},
                "from": {"type": "object"},
                "to": {"type": "object"},
                "identical": {"type": "boolean"},
                "text": {"type": "string", "description": "Unified diff; empty when the text is equal"},
                "config": {"type": "array"},
                "tags": {"type": "object"},
                "variables": {"type": "object"},
                "accessLevel": {"type": ["object", "null"]},
                "fields": {"type": "array"}
            },
            "required": ["id", "from", "to", "identical", "text"]
        })),
        "delete_prompt" => output(json!({
            "type": "object",
            "properties": {"deleted": {"type": "boolean"}, "id": {"type": "string"}},
            "required": ["deleted", "id"]
        })),
        _ => output(prompt_output()),
    }
}

/// Whether the named tool changes prompts (then `list_changed` is due).
pub fn is_write(name: &str) -> bool {
    matches!(
        name,
        "create_prompt" | "update_prompt" | "delete_prompt" | "set_label"
    )
}

/// An invalid argument, reported like a REST validation failure.
fn invalid(field: &str, message: &str) -> Problem {
    Problem::invalid_field(field, message)
}

fn string_arg(
    args: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<Option<String>, Problem> {
    match args.get(key) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(invalid(key, "is required")),
        Some(Value::String(s)) if required && s.trim().is_empty() => {
            Err(invalid(key, "must not be empty"))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(key, "must be a string")),
    }
}

fn int_arg(
    args: &Map<String, Value>,
    key: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, Problem> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(invalid(
                key,
                &format!("must be an integer from {min} to {max}"),
            )),
        },
    }
}

/// A version reference: an integer (a version) or a string (a version number or a
/// label name).
fn ref_arg(
    args: &Map<String, Value>,
    key: &str,
) -> Result<Option<crate::plugins::Selector>, Problem> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => crate::service::prompts::parse_ref(key, s).map(Some),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v >= 1 => Ok(Some(crate::plugins::Selector::Version(v))),
            _ => Err(invalid(key, "a version must be a positive integer")),
        },
        Some(_) => Err(invalid(key, "must be a version number or a label name")),
    }
}

fn list_filter(
    args: &Map<String, Value>,
    page_size: u32,
    search_required: bool,
) -> Result<ListQuery, Problem> {
    let allowed = [
        "category",
        "tags",
        "accessLevel",
        "limit",
        "cursor",
        "search",
    ];
    reject_unknown(args, &allowed)?;
    let tags = match args.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid("tags", "must be an array of strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("tags", "must be an array of strings")),
    };
    Ok(ListQuery {
        category: string_arg(args, "category", false)?,
        tags,
        text: string_arg(args, "search", search_required)?,
        access_level: string_arg(args, "accessLevel", false)?,
        label: string_arg(args, "label", false)?,
        limit: int_arg(args, "limit", 1, crate::service::prompts::MAX_LIMIT.into())?
            .map_or(page_size, |n| n as u32),
        cursor: string_arg(args, "cursor", false)?,
    })
}

fn reject_unknown(args: &Map<String, Value>, allowed: &[&str]) -> Result<(), Problem> {
    match args.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(k, "is not a parameter of this tool")),
        None => Ok(()),
    }
}

/// A successful result: the JSON as text, and as structured content.
fn ok(value: Value) -> CallToolResult {
    CallToolResult::structured(value)
}

/// A domain failure as a tool error: readable text plus the problem as structured data.
pub fn error_result(p: &Problem) -> CallToolResult {
    let mut text = format!("{} ({}): {}", p.kind.title(), p.code, p.detail);
    if let Some(m) = &p.missing_variables {
        text.push_str(&format!(" [missing: {}]", m.join(", ")));
    }
    let mut r = CallToolResult::error(vec![ContentBlock::text(text)]);
    r.structured_content = Some(p.document());
    r
}

/// Why a tool call is a JSON-RPC error rather than an error result.
pub enum CallError {
    /// An unknown tool (invalid params).
    Unknown(String),
    /// The caller's request budget is spent: the request was not served, which the
    /// client must see as a protocol error it can back off from
    /// (`errors::RATE_LIMITED`).
    RateLimited(Problem),
}

/// Argument names of the original system's tools, accepted so that agents prompted for
/// those tools keep working: (alias, name here).
const ALIASES: &[(&str, &str)] = &[("query", "search"), ("promptId", "id"), ("prompt_id", "id")];

/// Renames alias arguments to this server's names; the canonical name wins when both
/// are present (the alias is then reported as unknown).
fn resolve_aliases(mut args: Map<String, Value>) -> Map<String, Value> {
    for (alias, name) in ALIASES {
        if !args.contains_key(*name)
            && let Some(v) = args.remove(*alias)
        {
            args.insert((*name).to_string(), v);
        }
    }
    args
}

/// Runs a tool. `Err` for an unknown tool and for a spent rate limit.
pub async fn call(
    backend: &Call,
    name: &str,
    args: Map<String, Value>,
) -> Result<CallToolResult, CallError> {
    let args = resolve_aliases(args);
    let page_size = backend.page_size();
    let outcome = match name {
        "list_prompts" | "search_prompts" => {
            let search = name == "search_prompts";
            match list_filter(&args, page_size, search) {
                Ok(f) => backend
                    .list(f)
                    .await
                    .map(|(prompts, next)| json!({"prompts": prompts, "nextCursor": next})),
                Err(p) => Err(p),
            }
        }
        "get_prompt" => {
            async {
                reject_unknown(&args, &["id", "version"])?;
                let id = string_arg(&args, "id", true)?.unwrap_or_default();
                let version = int_arg(&args, "version", 1, u64::MAX)?;
                backend.get(&id, version).await
            }
            .await
        }
        "apply_template" => {
            async {
                reject_unknown(&args, &["id", "variables"])?;
                let id = string_arg(&args, "id", true)?.unwrap_or_default();
                let vars = match args.get("variables") {
                    None | Some(Value::Null) => json!({}),
                    Some(v @ Value::Object(_)) => v.clone(),
                    Some(_) => return Err(invalid("variables", "must be an object")),
                };
                let a = backend.apply(&id, &vars).await?;
                Ok(crate::service::prompts::applied_document(&a))
            }
            .await
        }
        "create_prompt" => {
            async {
                let mut allowed: Vec<&str> = vec!["id"];
                let fields = prompt_fields();
                allowed.extend(fields.keys().map(String::as_str));
                reject_unknown(&args, &allowed)?;
                backend.create(&Value::Object(args.clone())).await
            }
            .await
        }
        "update_prompt" => {
            async {
                let mut allowed: Vec<&str> = vec!["id", "expectedVersion"];
                let fields = prompt_fields();
                allowed.extend(fields.keys().map(String::as_str));
                reject_unknown(&args, &allowed)?;
                let id = string_arg(&args, "id", true)?.unwrap_or_default();
                let expected = int_arg(&args, "expectedVersion", 1, u64::MAX)?;
                let mut body = args.clone();
                body.remove("expectedVersion");
                body.remove("id");
                backend.update(&id, &Value::Object(body), expected).await
            }
            .await
        }
        "delete_prompt" => {
            async {
                reject_unknown(&args, &["id"])?;
                let id = string_arg(&args, "id", true)?.unwrap_or_default();
                backend.delete(&id).await?;
                Ok(json!({"deleted": true, "id": id}))
            }
            .await
        }
        "list_versions" => {
            async {
                reject_unknown(&args, &["id"])?;
                let id = string_arg(&args, "id", true)?.unwrap_or_default();
                let svc = backend.service()?;
                let permit = svc
                    .authorize(crate::service::policy::Action::Read, Some(&id))
                    .await?;
                let versions = svc.versions(&permit, &id).await?;
                let labels = svc.labels(&permit, &id).await?;
                let versions: Value = serde_json::from_str(versions.get())
                    .map_err(|e| Problem::internal(&backend.request.id, &e.to_string()))?;
                Ok(json!({"id": id, "versions": versions, "labels": labels}))
            }
            .await
        }
        "set_label" => {
            async {
                reject_unknown(&args, &["id", "label", "version", "expectedVersion"])?;
                let id = string_arg(&args, "id", true)?.unwrap_or_default();
                let label = string_arg(&args, "label", true)?.unwrap_or_default();
                let version = int_arg(&args, "version", 1, u64::MAX)?
                    .ok_or_else(|| invalid("version", "is required"))?;
                let expected = int_arg(&args, "expectedVersion", 1, u64::MAX)?;
                let svc = backend.service()?;
                let permit = svc
                    .authorize(crate::service::policy::Action::Update, Some(&id))
                    .await?;
                let l = svc
                    .set_label(&permit, &id, &label, version, expected)
                    .await?;
                Ok(json!(l))
            }
            .await
        }
        "diff_prompt" => {
            async {
                reject_unknown(&args, &["id", "from", "to"])?;
                let id = string_arg(&args, "id", true)?.unwrap_or_default();
                let from = ref_arg(&args, "from")?.ok_or_else(|| invalid("from", "is required"))?;
                let to = ref_arg(&args, "to")?.unwrap_or_else(crate::service::prompts::latest);
                let svc = backend.service()?;
                let permit = svc
                    .authorize(crate::service::policy::Action::Read, Some(&id))
                    .await?;
                let d = svc.diff(&permit, &id, &from, &to).await?;
                serde_json::to_value(d)
                    .map_err(|e| Problem::internal(&backend.request.id, &e.to_string()))
            }
            .await
        }
        other => return Err(CallError::Unknown(format!("unknown tool: {other}"))),
    };
    match outcome {
        Ok(v) => Ok(ok(v)),
        Err(p) if p.kind == crate::service::ErrorKind::RateLimited => {
            Err(CallError::RateLimited(p))
        }
        Err(p) => Ok(error_result(&p)),
    }
}
