//! Validation of a complete prompt (after defaults or a merge), collecting every problem.

use crate::model::{FieldError, Prompt, PromptType};
use crate::slug::MAX_ID_LEN;
use std::collections::HashSet;

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_CONTENT_BYTES: usize = 256 * 1024;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_CATEGORY_CHARS: usize = 200;
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_CHARS: usize = 64;
pub const MAX_VARIABLE_NAME_CHARS: usize = 128;
pub const MAX_MESSAGE_CHARS: usize = 1000;
/// Default limit of a prompt's `config` (compact JSON bytes): room for a model, its
/// parameters and a few tool schemas, small enough that every read stays cheap.
pub const DEFAULT_MAX_CONFIG_BYTES: usize = 16 * 1024;

/// `too-large` when `config` is bigger than `limit` bytes as compact JSON.
pub fn check_config_size(
    config: Option<&serde_json::Map<String, serde_json::Value>>,
    limit: usize,
) -> Result<(), crate::backend::Error> {
    let Some(config) = config else {
        return Ok(());
    };
    let size = serde_json::to_vec(config)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > limit {
        return Err(crate::backend::Error::TooLarge(format!(
            "config is {size} bytes; at most {limit} are accepted (prompt-store config max_config_size)"
        )));
    }
    Ok(())
}

/// Whether `id` is a valid prompt id: 1..=128 chars of `[A-Za-z0-9._-]`, starting with a
/// letter or digit. Ids become kv keys and URL segments, hence the small alphabet (no
/// `/`, so `v/{id}/` prefixes of different prompts never overlap).
pub fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `name` is a valid variable name: `[A-Za-z_][A-Za-z0-9_.-]*`.
pub fn is_valid_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Every problem with `p`, in field order.
pub fn validate(p: &Prompt) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !is_valid_id(&p.id) {
        errors.push(FieldError::new(
            "id",
            "must be 1 to 128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit",
        ));
    }
    if p.name.trim().is_empty() {
        errors.push(FieldError::new("name", "is required"));
    } else if p.name.chars().count() > MAX_NAME_CHARS {
        errors.push(FieldError::new(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if let Some(d) = &p.description
        && d.chars().count() > MAX_DESCRIPTION_CHARS
    {
        errors.push(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    match (p.kind, &p.messages) {
        (PromptType::Text, messages) => {
            if p.content.trim().is_empty() {
                errors.push(FieldError::new("content", "is required"));
            } else if p.content.len() > MAX_CONTENT_BYTES {
                errors.push(FieldError::new("content", "must be at most 256 KiB"));
            }
            if messages.is_some() {
                errors.push(FieldError::new(
                    "messages",
                    "only chat prompts have messages (this prompt's type is \"text\")",
                ));
            }
        }
        (PromptType::Chat, messages) => {
            if !p.content.is_empty() {
                errors.push(FieldError::new(
                    "content",
                    "a chat prompt has messages instead of content",
                ));
            }
            crate::chat::validate(messages.as_deref().unwrap_or_default(), &mut errors);
        }
    }
    if let Some(c) = &p.category
        && c.chars().count() > MAX_CATEGORY_CHARS
    {
        errors.push(FieldError::new(
            "category",
            format!("must be at most {MAX_CATEGORY_CHARS} characters"),
        ));
    }
    validate_tags(&p.tags, &mut errors);
    validate_variables(p, &mut errors);
    if let Some(m) = &p.message
        && m.chars().count() > MAX_MESSAGE_CHARS
    {
        errors.push(FieldError::new(
            "message",
            format!("must be at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    errors
}

fn validate_tags(tags: &[String], errors: &mut Vec<FieldError>) {
    if tags.len() > MAX_TAGS {
        errors.push(FieldError::new(
            "tags",
            format!("must have at most {MAX_TAGS} tags"),
        ));
    }
    for (i, tag) in tags.iter().enumerate() {
        if tag.trim().is_empty() {
            errors.push(FieldError::new(format!("tags[{i}]"), "must not be empty"));
        } else if tag.chars().count() > MAX_TAG_CHARS {
            errors.push(FieldError::new(
                format!("tags[{i}]"),
                format!("must be at most {MAX_TAG_CHARS} characters"),
            ));
        }
    }
}

fn validate_variables(p: &Prompt, errors: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (i, var) in p.variables.iter().enumerate() {
        let field = format!("variables[{i}].name");
        if !is_valid_variable_name(&var.name) {
            errors.push(FieldError::new(
                field,
                "must start with a letter or '_' and contain only letters, digits, '_', '.' or '-'",
            ));
        } else if var.name.len() > MAX_VARIABLE_NAME_CHARS {
            errors.push(FieldError::new(
                field,
                format!("must be at most {MAX_VARIABLE_NAME_CHARS} characters"),
            ));
        } else if !seen.insert(var.name.as_str()) {
            errors.push(FieldError::new(
                field,
                format!("duplicate variable '{}'", var.name),
            ));
        }
    }
}

/// Joins normalisation errors with validation errors. A field that already has a type
/// error is not reported again by validation (a `name` of the wrong type would otherwise
/// also show up as "is required").
pub fn combine(mut type_errors: Vec<FieldError>, validation: Vec<FieldError>) -> Vec<FieldError> {
    let covered = |field: &str| {
        type_errors.iter().any(|e| {
            field == e.field
                || field
                    .strip_prefix(e.field.as_str())
                    .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('.'))
        })
    };
    let extra: Vec<_> = validation
        .into_iter()
        .filter(|e| !covered(&e.field))
        .collect();
    type_errors.extend(extra);
    type_errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccessLevel, Variable};

    fn prompt() -> Prompt {
        Prompt {
            id: "ok-id_1.0".into(),
            name: "Name".into(),
            description: None,
            kind: PromptType::Text,
            content: "Hello {{x}}".into(),
            messages: None,
            is_template: true,
            category: None,
            tags: vec!["a".into()],
            variables: vec![Variable::named("x")],
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
            access_level: AccessLevel::Public,
            author: None,
            metadata: Default::default(),
            config: None,
            message: None,
            version_author: None,
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn valid_prompt_has_no_errors() {
        assert!(validate(&prompt()).is_empty());
    }

    #[test]
    fn ids() {
        for ok in ["a", "A9", "9-a.b_c", &"x".repeat(128)] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in ["", "-a", ".a", "_a", "a/b", "a b", "ä", &"x".repeat(129)] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn variable_names() {
        for ok in ["a", "_a", "repo_uri", "a.b-c", "A1"] {
            assert!(is_valid_variable_name(ok), "{ok}");
        }
        for bad in ["", "1a", "-a", "a b", "a{", "é"] {
            assert!(!is_valid_variable_name(bad), "{bad}");
        }
    }

    #[test]
    fn collects_every_problem_with_messages() {
        let mut p = prompt();
        p.id = "/bad".into();
        p.name = " ".into();
        p.description = Some("d".repeat(2001));
        p.content = String::new();
        p.category = Some("c".repeat(201));
        p.tags = vec!["ok".into(), "t".repeat(65), "".into()];
        p.variables = vec![
            Variable::named("x"),
            Variable::named("1x"),
            Variable::named("x"),
        ];
        let errors = validate(&p);
        assert_eq!(
            fields(&errors),
            [
                "id",
                "name",
                "description",
                "content",
                "category",
                "tags[1]",
                "tags[2]",
                "variables[1].name",
                "variables[2].name"
            ]
        );
        assert_eq!(errors[1].message, "is required");
        assert_eq!(errors[2].message, "must be at most 2000 characters");
        assert_eq!(errors[5].message, "must be at most 64 characters");
        assert_eq!(errors[8].message, "duplicate variable 'x'");
    }

    #[test]
    fn limits() {
        let mut p = prompt();
        p.name = "n".repeat(201);
        p.content = "c".repeat(MAX_CONTENT_BYTES + 1);
        p.tags = vec!["t".into(); 51];
        let errors = validate(&p);
        assert_eq!(fields(&errors), ["name", "content", "tags"]);
        assert_eq!(errors[1].message, "must be at most 256 KiB");

        // Limits count characters, not bytes (except the content's size limit).
        let mut p = prompt();
        p.name = "ž".repeat(200);
        p.content = "c".repeat(MAX_CONTENT_BYTES);
        assert!(validate(&p).is_empty());
    }

    #[test]
    fn chat_prompts_have_messages_not_content() {
        use crate::model::{ChatItem, Role};
        let mut p = prompt();
        p.kind = PromptType::Chat;
        p.messages = Some(vec![ChatItem::message(Role::User, "Hi {{x}}")]);
        assert_eq!(fields(&validate(&p)), ["content"]);
        p.content = String::new();
        assert!(validate(&p).is_empty());
        p.messages = Some(vec![]);
        assert_eq!(fields(&validate(&p)), ["messages"]);

        let mut t = prompt();
        t.messages = Some(vec![ChatItem::message(Role::User, "x")]);
        assert_eq!(fields(&validate(&t)), ["messages"]);
    }

    #[test]
    fn combine_skips_fields_with_type_errors() {
        let type_errors = vec![
            FieldError::new("name", "must be a string"),
            FieldError::new("tags", "x"),
        ];
        let validation = vec![
            FieldError::new("name", "is required"),
            FieldError::new("tags[3]", "too long"),
            FieldError::new("tagsx", "other"),
            FieldError::new("content", "is required"),
        ];
        let all = combine(type_errors, validation);
        assert_eq!(fields(&all), ["name", "tags", "tagsx", "content"]);
    }
}
