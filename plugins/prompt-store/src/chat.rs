//! Chat prompts: a list of role messages, each a template, and placeholders that the
//! caller fills at apply time with a list of messages (typically the conversation so far).
//!
//! Three shapes meet here:
//! - client input (`messages` of a create/update body), checked field by field so that
//!   every problem is reported at once with its path (`messages[2].role`);
//! - the stored [`ChatItem`]s, validated as a whole (limits, unique placeholders);
//! - placeholder values at apply time, which are *not* templates: they are the caller's
//!   data (user text, model output) and rendering them would let that data run
//!   template logic.

use crate::model::{ChatItem, Content, FieldError, Message, Role};
use crate::validate::{MAX_CONTENT_BYTES, is_valid_variable_name};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Upper bound on the entries of a chat prompt; real prompts have a handful.
pub const MAX_MESSAGES: usize = 100;
/// Upper bound on the messages one placeholder may be filled with.
pub const MAX_FILL_MESSAGES: usize = 1000;

const ROLES: &str = "system, user, assistant";

/// `messages` of a client body: `None` when it has errors (they are in `errors`).
pub fn parse_messages(v: &Value, errors: &mut Vec<FieldError>) -> Option<Vec<ChatItem>> {
    let Value::Array(items) = v else {
        errors.push(FieldError::new(
            "messages",
            "must be an array of {role, content} messages and {type: \"placeholder\", name} entries",
        ));
        return None;
    };
    let before = errors.len();
    let parsed: Vec<ChatItem> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| parse_item(&format!("messages[{i}]"), item, errors))
        .collect();
    (errors.len() == before).then_some(parsed)
}

fn parse_item(path: &str, item: &Value, errors: &mut Vec<FieldError>) -> Option<ChatItem> {
    let Value::Object(obj) = item else {
        errors.push(FieldError::new(
            path,
            "must be a {role, content} message or a {type: \"placeholder\", name} entry",
        ));
        return None;
    };
    match obj.get("type") {
        None | Some(Value::Null) => parse_message(path, obj, true, errors).map(ChatItem::Message),
        Some(Value::String(t)) if t == "placeholder" => match obj.get("name") {
            Some(Value::String(name)) => Some(ChatItem::placeholder(name.clone())),
            None | Some(Value::Null) => {
                errors.push(FieldError::new(format!("{path}.name"), "is required"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new(format!("{path}.name"), "must be a string"));
                None
            }
        },
        Some(other) => {
            errors.push(FieldError::new(
                format!("{path}.type"),
                format!("must be \"placeholder\" (a message has a role instead), got {other}"),
            ));
            None
        }
    }
}

/// A `{role, content}` object; `path` names it in errors. `blocks`: whether the content
/// may be a list of content blocks (stored messages) or only a string (a placeholder's
/// fill: the caller's conversation, which never carries image bytes to store).
fn parse_message(
    path: &str,
    obj: &Map<String, Value>,
    blocks: bool,
    errors: &mut Vec<FieldError>,
) -> Option<Message> {
    let role = match obj.get("role") {
        Some(Value::String(r)) => match Role::parse(r) {
            Some(role) => Some(role),
            None => {
                errors.push(FieldError::new(
                    format!("{path}.role"),
                    format!("unknown role '{r}': must be one of {ROLES}"),
                ));
                None
            }
        },
        None | Some(Value::Null) => {
            errors.push(FieldError::new(format!("{path}.role"), "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(
                format!("{path}.role"),
                format!("must be a string, one of {ROLES}"),
            ));
            None
        }
    };
    let field = format!("{path}.content");
    let content = match obj.get("content") {
        v @ Some(Value::Array(_)) if blocks => crate::blocks::parse_content(&field, v, errors),
        Some(Value::String(c)) => Some(Content::Text(c.clone())),
        None | Some(Value::Null) => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(
                field,
                if blocks {
                    "must be a string or an array of content blocks"
                } else {
                    "must be a string"
                },
            ));
            None
        }
    };
    Some(Message {
        role: role?,
        content: content?,
    })
}

/// Every problem with the stored messages of a chat prompt.
pub fn validate(items: &[ChatItem], errors: &mut Vec<FieldError>) {
    if items.is_empty() {
        errors.push(FieldError::new(
            "messages",
            "a chat prompt needs at least one message",
        ));
        return;
    }
    if items.len() > MAX_MESSAGES {
        errors.push(FieldError::new(
            "messages",
            format!("must have at most {MAX_MESSAGES} entries"),
        ));
    }
    let mut total = 0usize;
    let mut placeholders = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            ChatItem::Message(m) => {
                let texts = m.content.texts();
                total = texts
                    .iter()
                    .fold(total, |sum, t| sum.saturating_add(t.len()));
                crate::blocks::validate(&format!("messages[{i}].content"), &m.content, errors);
            }
            ChatItem::Placeholder(p) => {
                let field = format!("messages[{i}].name");
                if !is_valid_variable_name(&p.name) {
                    errors.push(FieldError::new(
                        field,
                        "must start with a letter or '_' and contain only letters, digits, '_', '.' or '-'",
                    ));
                } else if !placeholders.insert(p.name.as_str()) {
                    errors.push(FieldError::new(
                        field,
                        format!("duplicate placeholder '{}'", p.name),
                    ));
                }
            }
        }
    }
    if total > MAX_CONTENT_BYTES {
        errors.push(FieldError::new(
            "messages",
            "the messages' content must be at most 256 KiB in total",
        ));
    }
}

/// The names of the placeholders, in order.
pub fn placeholder_names(items: &[ChatItem]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|i| match i {
            ChatItem::Placeholder(p) => Some(p.name.as_str()),
            ChatItem::Message(_) => None,
        })
        .collect()
}

/// Why a placeholder could not be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillError {
    /// No value (absent or null).
    Missing,
    /// A value of the wrong shape; the field error names the element.
    Invalid(FieldError),
}

/// The messages a placeholder is filled with: `value` must be an array of
/// `{role, content}` objects (content a string), or a string holding one as JSON (MCP
/// prompt arguments are strings). Kept verbatim, never rendered.
pub fn fill(name: &str, value: Option<&Value>) -> Result<Vec<Message>, FillError> {
    let path = format!("variables.{name}");
    let decoded;
    let items = match value {
        None | Some(Value::Null) => return Err(FillError::Missing),
        Some(Value::Array(items)) => items,
        Some(Value::String(text)) if text.trim_start().starts_with('[') => {
            decoded = serde_json::from_str::<Value>(text).ok();
            match &decoded {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(FillError::Invalid(FieldError::new(
                        path,
                        format!(
                            "placeholder '{name}' must be filled with an array of {{role, content}} messages (this string is not a JSON array)"
                        ),
                    )));
                }
            }
        }
        Some(_) => {
            return Err(FillError::Invalid(FieldError::new(
                path,
                format!(
                    "placeholder '{name}' must be filled with an array of {{role, content}} messages"
                ),
            )));
        }
    };
    if items.len() > MAX_FILL_MESSAGES {
        return Err(FillError::Invalid(FieldError::new(
            path,
            format!("placeholder '{name}' takes at most {MAX_FILL_MESSAGES} messages"),
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let mut errors = Vec::new();
        let message = match item {
            Value::Object(obj) => parse_message(&item_path, obj, false, &mut errors),
            _ => {
                errors.push(FieldError::new(
                    item_path.as_str(),
                    "must be a {role, content} message",
                ));
                None
            }
        };
        match message {
            Some(m) => out.push(m),
            None => {
                let first = errors
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| FieldError::new(item_path, "is not a message"));
                return Err(FillError::Invalid(first));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> (Option<Vec<ChatItem>>, Vec<FieldError>) {
        let mut errors = Vec::new();
        let items = parse_messages(&v, &mut errors);
        (items, errors)
    }

    #[test]
    fn parses_messages_and_placeholders() {
        let (items, errors) = parse(json!([
            {"role": "system", "content": "Be {{tone}}"},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{q}}", "extra": 1}
        ]));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            items.unwrap(),
            [
                ChatItem::message(Role::System, "Be {{tone}}"),
                ChatItem::placeholder("history"),
                ChatItem::message(Role::User, "{{q}}"),
            ]
        );
    }

    #[test]
    fn unknown_roles_and_bad_shapes_are_named() {
        let (items, errors) = parse(json!([
            {"role": "tool", "content": "x"},
            {"content": "x"},
            {"role": "user", "content": 3},
            {"type": "image"},
            {"type": "placeholder"},
            "hello"
        ]));
        assert_eq!(items, None);
        let got: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            got,
            [
                "messages[0].role",
                "messages[1].role",
                "messages[2].content",
                "messages[3].type",
                "messages[4].name",
                "messages[5]"
            ]
        );
        assert!(
            errors[0].message.contains("'tool'"),
            "{}",
            errors[0].message
        );
        let (_, errors) = parse(json!({"role": "user"}));
        assert_eq!(errors[0].field, "messages");
    }

    #[test]
    fn validation_limits_and_duplicates() {
        let mut errors = Vec::new();
        validate(&[], &mut errors);
        assert_eq!(errors[0].field, "messages");

        let mut errors = Vec::new();
        validate(
            &[
                ChatItem::message(Role::User, " "),
                ChatItem::placeholder("h"),
                ChatItem::placeholder("h"),
                ChatItem::placeholder("1x"),
            ],
            &mut errors,
        );
        let got: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            got,
            [
                "messages[0].content",
                "messages[2].name",
                "messages[3].name"
            ]
        );

        let mut errors = Vec::new();
        let big = "x".repeat(MAX_CONTENT_BYTES / 2 + 1);
        validate(
            &[
                ChatItem::message(Role::User, big.clone()),
                ChatItem::message(Role::User, big),
            ],
            &mut errors,
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "messages");
    }

    #[test]
    fn fills_are_checked_not_rendered() {
        let v = json!([{"role": "user", "content": "{{evil}}"}, {"role": "assistant", "content": "ok"}]);
        let filled = fill("history", Some(&v)).unwrap();
        assert_eq!(filled[0].content, Content::Text("{{evil}}".into()));
        assert_eq!(filled[1].role, Role::Assistant);
        assert_eq!(fill("history", Some(&json!([]))).unwrap(), vec![]);
        assert_eq!(fill("history", None), Err(FillError::Missing));
        assert_eq!(fill("history", Some(&Value::Null)), Err(FillError::Missing));
        let Err(FillError::Invalid(e)) = fill("history", Some(&json!("hi"))) else {
            panic!("a string is not a message list");
        };
        assert_eq!(e.field, "variables.history");
        // MCP arguments are strings: a JSON array inside one is the same fill.
        let as_text = json!(v.to_string());
        assert_eq!(fill("history", Some(&as_text)).unwrap(), filled);
        let Err(FillError::Invalid(e)) = fill("history", Some(&json!("[not json"))) else {
            panic!("a string that is no JSON array is not a message list");
        };
        assert!(e.message.contains("not a JSON array"), "{}", e.message);
        let Err(FillError::Invalid(e)) =
            fill("history", Some(&json!([{"role": "robot", "content": "x"}])))
        else {
            panic!("unknown role");
        };
        assert_eq!(e.field, "variables.history[0].role");
        assert!(e.message.contains("robot"));
    }
}
