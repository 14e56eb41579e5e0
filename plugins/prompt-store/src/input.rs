//! Normalisation of client input into a [`Draft`].
//!
//! Prompts arrive in several dialects: the original catalog (`content`, variables as plain
//! strings, `categories` arrays), the later AWS version (`template`), and exports with
//! variable objects `{name, description, required, type, default, options}`. This module
//! maps all of them onto one partial model and records type problems as field errors
//! instead of stopping at the first one, so the client sees everything wrong at once.
//!
//! What is deliberately dropped:
//! - server-managed fields (`version`, `createdAt`, `updatedAt`, `author`): the server
//!   sets them, a client cannot forge history or authorship;
//! - unknown fields such as the catalog's `examples`, and variables' `type`/`options`:
//!   the stored model is closed so every document has a predictable shape. Free-form data
//!   belongs in `metadata`, which is kept as given.
//!
//! `null` means "reset to the default": `description`/`category` become null,
//! `tags`/`variables` empty, `metadata` `{}`, `accessLevel` "public", `isTemplate` is
//! derived from the content. `null` is an error only for the required strings.

use crate::model::{AccessLevel, ChatItem, FieldError, PromptType, Variable};
use serde_json::{Map, Value};

/// The fields a client sent, after normalisation. `None` = absent (keep / default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub content: Option<String>,
    /// `text` or `chat`; only meaningful on create (the type is fixed afterwards).
    pub kind: Option<PromptType>,
    /// A chat prompt's messages; `null` reads as an empty list.
    pub messages: Option<Vec<ChatItem>>,
    /// `Some(None)`: derive from the content.
    pub is_template: Option<Option<bool>>,
    pub category: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub variables: Option<Vec<Variable>>,
    pub access_level: Option<AccessLevel>,
    pub metadata: Option<Map<String, Value>>,
    /// `Some(None)`: remove the config.
    pub config: Option<Option<Map<String, Value>>>,
    /// The commit message of the version this write creates (never inherited).
    pub message: Option<String>,
}

/// A draft plus every type problem found while building it.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub draft: Draft,
    pub errors: Vec<FieldError>,
}

const MUST_BE_STRING: &str = "must be a string";
const MUST_BE_STRINGS: &str = "must be an array of strings";

/// Parses a request body. A body that is not a JSON object yields a single error for
/// field "" (there is no field to blame).
pub fn parse_body(text: &str) -> Result<Parsed, Vec<FieldError>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(obj)) => Ok(normalise(&obj)),
        Ok(_) => Err(vec![FieldError::new("", "the body must be a JSON object")]),
        Err(e) => Err(vec![FieldError::new(
            "",
            format!("the body is not valid JSON: {e}"),
        )]),
    }
}

/// Normalises one prompt object.
pub fn normalise(obj: &Map<String, Value>) -> Parsed {
    let mut errors = Vec::new();
    let mut draft = Draft {
        id: required_string(obj, "id", &mut errors),
        name: required_string(obj, "name", &mut errors),
        description: nullable_string(obj, "description", &mut errors),
        content: content(obj, &mut errors),
        ..Draft::default()
    };

    draft.kind = match obj.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t == "text" => Some(PromptType::Text),
        Some(Value::String(t)) if t == "chat" => Some(PromptType::Chat),
        Some(_) => {
            errors.push(FieldError::new("type", "must be \"text\" or \"chat\""));
            None
        }
    };

    draft.messages = match obj.get("messages") {
        None => None,
        Some(Value::Null) => Some(Vec::new()),
        Some(v) => crate::chat::parse_messages(v, &mut errors),
    };

    draft.is_template = match obj.get("isTemplate") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Bool(b)) => Some(Some(*b)),
        Some(_) => {
            errors.push(FieldError::new("isTemplate", "must be a boolean"));
            None
        }
    };

    draft.category = category(obj, &mut errors);

    draft.tags = match obj.get("tags") {
        None => None,
        Some(Value::Null) => Some(Vec::new()),
        Some(v) => string_array(v).or_else(|| {
            errors.push(FieldError::new("tags", MUST_BE_STRINGS));
            None
        }),
    };

    draft.variables = match obj.get("variables") {
        None => None,
        Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| variable(i, item, &mut errors))
                .collect(),
        ),
        Some(_) => {
            errors.push(FieldError::new(
                "variables",
                "must be an array of names or {name, description, required, default} objects",
            ));
            None
        }
    };

    draft.access_level = match obj.get("accessLevel") {
        None => None,
        Some(Value::Null) => Some(AccessLevel::default()),
        Some(Value::String(s)) => AccessLevel::parse(s).or_else(|| {
            errors.push(FieldError::new(
                "accessLevel",
                "must be one of \"public\", \"private\", \"premium\"",
            ));
            None
        }),
        Some(_) => {
            errors.push(FieldError::new("accessLevel", MUST_BE_STRING));
            None
        }
    };

    draft.metadata = match obj.get("metadata") {
        None => None,
        Some(Value::Null) => Some(Map::new()),
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => {
            errors.push(FieldError::new("metadata", "must be an object"));
            None
        }
    };

    draft.config = match obj.get("config") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Object(m)) => Some(Some(m.clone())),
        Some(_) => {
            errors.push(FieldError::new("config", "must be an object or null"));
            None
        }
    };

    draft.message = match obj.get("message") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(_) => {
            errors.push(FieldError::new("message", MUST_BE_STRING));
            None
        }
    };

    Parsed { draft, errors }
}

/// A string field that may be absent but not null or another type.
fn required_string(
    obj: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match obj.get(field) {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(field, MUST_BE_STRING));
            None
        }
    }
}

/// A string field where null clears the value.
fn nullable_string(
    obj: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Option<String>> {
    match obj.get(field) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => {
            errors.push(FieldError::new(field, MUST_BE_STRING));
            None
        }
    }
}

/// `content`, or its alias `template`. Both may be sent only if they agree, so that a
/// client mixing dialects cannot silently lose one of two different bodies.
fn content(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    let content = required_string(obj, "content", errors);
    let template = required_string(obj, "template", errors);
    match (content, template) {
        (Some(c), Some(t)) if c != t => {
            errors.push(FieldError::new(
                "template",
                "is an alias of content and differs from it; send only one of them",
            ));
            Some(c)
        }
        (Some(c), _) => Some(c),
        (None, t) => t,
    }
}

/// `category`, falling back to the first entry of the catalog's `categories` array.
fn category(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<Option<String>> {
    if obj.contains_key("category") {
        return nullable_string(obj, "category", errors);
    }
    match obj.get("categories") {
        None | Some(Value::Null) => None,
        Some(v) => match string_array(v) {
            Some(list) => Some(list.into_iter().next()),
            None => {
                errors.push(FieldError::new("categories", MUST_BE_STRINGS));
                None
            }
        },
    }
}

fn string_array(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect()
}

/// One entry of `variables`: a plain name (required, as the catalog means it) or an
/// object. `type` and `options` are accepted but not kept (see the module docs).
fn variable(i: usize, item: &Value, errors: &mut Vec<FieldError>) -> Option<Variable> {
    let path = format!("variables[{i}]");
    let obj = match item {
        Value::String(name) => return Some(Variable::named(name.clone())),
        Value::Object(obj) => obj,
        _ => {
            errors.push(FieldError::new(
                path,
                "must be a name or an object with a name",
            ));
            return None;
        }
    };
    let before = errors.len();
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            errors.push(FieldError::new(format!("{path}.name"), "is required"));
            String::new()
        }
        Some(_) => {
            errors.push(FieldError::new(format!("{path}.name"), MUST_BE_STRING));
            String::new()
        }
    };
    let description = match obj.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(
                format!("{path}.description"),
                MUST_BE_STRING,
            ));
            None
        }
    };
    let required = match obj.get("required") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::new(
                format!("{path}.required"),
                "must be a boolean",
            ));
            true
        }
    };
    let default = match obj.get("default") {
        None | Some(Value::Null) => None,
        // Arrays and objects are useful defaults for `{{#each}}` and `{{obj.field}}`.
        Some(v) => Some(v.clone()),
    };
    (errors.len() == before).then_some(Variable {
        name,
        description,
        required,
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Parsed {
        parse_body(&v.to_string()).unwrap()
    }

    #[test]
    fn template_is_an_alias_of_content() {
        let p = parse(json!({"name": "n", "template": "Hi {{x}}"}));
        assert!(p.errors.is_empty());
        assert_eq!(p.draft.content.as_deref(), Some("Hi {{x}}"));

        let same = parse(json!({"content": "a", "template": "a"}));
        assert!(same.errors.is_empty());
        assert_eq!(same.draft.content.as_deref(), Some("a"));

        let differ = parse(json!({"content": "a", "template": "b"}));
        assert_eq!(differ.errors.len(), 1);
        assert_eq!(differ.errors[0].field, "template");
    }

    #[test]
    fn string_variables_are_required() {
        let p = parse(json!({"variables": ["task", "context"]}));
        assert_eq!(
            p.draft.variables,
            Some(vec![Variable::named("task"), Variable::named("context")])
        );
    }

    #[test]
    fn object_variables_keep_only_model_fields() {
        let p = parse(json!({"variables": [
            {"name": "a", "description": "d", "required": false, "default": 3, "type": "number", "options": [1, 2]},
            {"name": "b"},
            {"name": "c", "default": "x"}
        ]}));
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let vars = p.draft.variables.unwrap();
        assert_eq!(
            vars[0],
            Variable {
                name: "a".into(),
                description: Some("d".into()),
                required: false,
                default: Some(json!(3)),
            }
        );
        assert!(vars[1].required);
        assert_eq!(vars[2].default, Some(json!("x")));
    }

    #[test]
    fn variable_type_errors_name_the_element() {
        let p = parse(
            json!({"variables": [1, {"description": "no name"}, {"name": "x", "required": "yes", "default": [1]}]}),
        );
        let fields: Vec<_> = p.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["variables[0]", "variables[1].name", "variables[2].required",]
        );
        assert_eq!(p.draft.variables, Some(vec![]));
    }

    #[test]
    fn categories_fall_back_to_first_entry() {
        assert_eq!(
            parse(json!({"categories": ["a", "b"]})).draft.category,
            Some(Some("a".into()))
        );
        assert_eq!(parse(json!({"categories": []})).draft.category, Some(None));
        assert_eq!(
            parse(json!({"category": "c", "categories": ["a"]}))
                .draft
                .category,
            Some(Some("c".into()))
        );
        assert_eq!(
            parse(json!({"categories": "a"})).errors[0].field,
            "categories"
        );
    }

    #[test]
    fn server_managed_and_unknown_fields_are_ignored() {
        let p = parse(json!({
            "version": 7, "createdAt": "x", "updatedAt": "y", "author": "mallory",
            "examples": [{"name": "e"}], "whatever": true
        }));
        assert!(p.errors.is_empty());
        assert_eq!(p.draft, Draft::default());
    }

    #[test]
    fn wrong_types_are_reported_per_field() {
        let p = parse(json!({
            "id": 1, "name": null, "description": 2, "content": [], "isTemplate": "yes",
            "tags": ["a", 1], "accessLevel": "secret", "metadata": [], "variables": {}
        }));
        let got: Vec<_> = p
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("id", MUST_BE_STRING),
                ("name", MUST_BE_STRING),
                ("description", MUST_BE_STRING),
                ("content", MUST_BE_STRING),
                ("isTemplate", "must be a boolean"),
                ("tags", MUST_BE_STRINGS),
                (
                    "variables",
                    "must be an array of names or {name, description, required, default} objects"
                ),
                (
                    "accessLevel",
                    "must be one of \"public\", \"private\", \"premium\""
                ),
                ("metadata", "must be an object"),
            ]
        );
    }

    #[test]
    fn null_resets_optional_fields() {
        let p = parse(json!({
            "description": null, "category": null, "tags": null, "variables": null,
            "accessLevel": null, "metadata": null, "isTemplate": null
        }));
        assert!(p.errors.is_empty());
        assert_eq!(p.draft.description, Some(None));
        assert_eq!(p.draft.category, Some(None));
        assert_eq!(p.draft.tags, Some(vec![]));
        assert_eq!(p.draft.variables, Some(vec![]));
        assert_eq!(p.draft.access_level, Some(AccessLevel::Public));
        assert_eq!(p.draft.metadata, Some(Map::new()));
        assert_eq!(p.draft.is_template, Some(None));
    }

    #[test]
    fn non_object_bodies_blame_the_root() {
        for body in ["[]", "\"x\"", "3", "null", "{not json"] {
            let errs = parse_body(body).unwrap_err();
            assert_eq!(errs.len(), 1);
            assert_eq!(errs[0].field, "");
        }
    }
}
