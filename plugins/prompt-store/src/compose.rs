//! Turning a [`Draft`] into a full [`Prompt`]: defaults on create, merge on update.
//! Both return the candidate unvalidated; callers validate the result as a whole.

use crate::input::Draft;
use crate::model::{ChatItem, FieldError, Prompt, PromptType};
use crate::slug::slugify;

/// Server-set values for a write.
pub struct Stamp<'a> {
    /// RFC 3339 UTC time of the write.
    pub now: &'a str,
    /// The caller's subject, recorded as author on create.
    pub author: Option<&'a str>,
    /// Who writes this version (the caller's subject, any tenant), for its history.
    pub by: Option<&'a str>,
}

/// Whether a body looks like a template. Used when the client does not say: the catalog
/// omits `isTemplate` in many files, and they are templates exactly when they contain
/// placeholders.
fn looks_like_template(content: &str) -> bool {
    content.contains("{{")
}

/// [`looks_like_template`] for a whole prompt: a chat prompt is a template when any
/// message is, or when it has a placeholder (it needs input to be complete).
fn derive_is_template(content: &str, messages: Option<&[ChatItem]>) -> bool {
    looks_like_template(content)
        || messages.unwrap_or_default().iter().any(|i| match i {
            ChatItem::Message(m) => m.content.templates().into_iter().any(looks_like_template),
            ChatItem::Placeholder(_) => true,
        })
}

/// The messages a prompt of type `kind` gets from `given`: a chat prompt always has a
/// list (empty fails validation with a clear message), a text prompt keeps what the
/// client sent so that validation can refuse it rather than drop it silently.
fn messages_for(kind: PromptType, given: Option<Vec<ChatItem>>) -> Option<Vec<ChatItem>> {
    match kind {
        PromptType::Chat => Some(given.unwrap_or_default()),
        PromptType::Text => given.filter(|m| !m.is_empty()),
    }
}

/// The error for a write that would change a stored prompt's type: the type is fixed at
/// creation, because clients that fetch by label must not find a text prompt turned
/// into a message list (or back) under the same id.
pub fn type_change(stored: PromptType, requested: Option<PromptType>) -> Option<FieldError> {
    match requested {
        Some(t) if t != stored => Some(FieldError::new(
            "type",
            format!(
                "is fixed at creation: this prompt is \"{}\"; create a new prompt for \"{}\"",
                stored.as_str(),
                t.as_str()
            ),
        )),
        _ => None,
    }
}

/// The prompt a create request describes, with version 1. The id is derived from the
/// name when absent; an extra error is returned if that yields nothing usable.
pub fn new_prompt(draft: Draft, stamp: &Stamp) -> (Prompt, Vec<FieldError>) {
    let mut errors = Vec::new();
    let name = draft.name.unwrap_or_default();
    let id = match draft.id {
        Some(id) => id,
        None => {
            let slug = slugify(&name);
            // Without a usable name the name error says it all; only blame the id when
            // the name is fine but yields no slug (e.g. only punctuation).
            if slug.is_empty() && !name.trim().is_empty() {
                errors.push(FieldError::new(
                    "id",
                    "is required: it cannot be derived from this name",
                ));
            }
            slug
        }
    };
    let content = draft.content.unwrap_or_default();
    let kind = draft.kind.unwrap_or_default();
    let messages = messages_for(kind, draft.messages);
    let is_template = draft
        .is_template
        .flatten()
        .unwrap_or_else(|| derive_is_template(&content, messages.as_deref()));
    let prompt = Prompt {
        id,
        name,
        description: draft.description.flatten(),
        kind,
        content,
        messages,
        is_template,
        category: draft.category.flatten(),
        tags: draft.tags.unwrap_or_default(),
        variables: draft.variables.unwrap_or_default(),
        version: 1,
        created_at: stamp.now.to_owned(),
        updated_at: stamp.now.to_owned(),
        access_level: draft.access_level.unwrap_or_default(),
        author: stamp.author.map(str::to_owned),
        metadata: draft.metadata.unwrap_or_default(),
        config: draft.config.flatten(),
        message: draft.message,
        version_author: stamp.by.map(str::to_owned),
    };
    (prompt, errors)
}

/// `stored` updated with the fields present in `draft`; absent ones keep their stored
/// values. Identity and history (`id`, `createdAt`, `author`) never change; the version
/// goes up by one.
pub fn merge(stored: &Prompt, draft: Draft, stamp: &Stamp) -> Prompt {
    let content = draft.content.unwrap_or_else(|| stored.content.clone());
    let messages = match draft.messages {
        Some(m) => messages_for(stored.kind, Some(m)),
        None => stored.messages.clone(),
    };
    let is_template = match draft.is_template {
        None => stored.is_template,
        Some(Some(b)) => b,
        Some(None) => derive_is_template(&content, messages.as_deref()),
    };
    Prompt {
        id: stored.id.clone(),
        name: draft.name.unwrap_or_else(|| stored.name.clone()),
        description: draft
            .description
            .unwrap_or_else(|| stored.description.clone()),
        // Callers refuse a type change first (`type_change`).
        kind: stored.kind,
        content,
        messages,
        is_template,
        category: draft.category.unwrap_or_else(|| stored.category.clone()),
        tags: draft.tags.unwrap_or_else(|| stored.tags.clone()),
        variables: draft.variables.unwrap_or_else(|| stored.variables.clone()),
        version: stored.version.saturating_add(1),
        created_at: stored.created_at.clone(),
        updated_at: stamp.now.to_owned(),
        access_level: draft.access_level.unwrap_or(stored.access_level),
        author: stored.author.clone(),
        metadata: draft.metadata.unwrap_or_else(|| stored.metadata.clone()),
        config: draft.config.unwrap_or_else(|| stored.config.clone()),
        message: draft.message,
        version_author: stamp.by.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse_body;
    use crate::model::{AccessLevel, Variable};
    use serde_json::json;

    const STAMP: Stamp = Stamp {
        now: "2026-01-01T00:00:00.000Z",
        author: Some("alice"),
        by: Some("alice"),
    };

    fn draft(v: serde_json::Value) -> Draft {
        let parsed = parse_body(&v.to_string()).unwrap();
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        parsed.draft
    }

    #[test]
    fn create_derives_id_and_defaults() {
        let (p, errors) = new_prompt(
            draft(json!({"name": "Basic Template", "content": "Hi {{x}}"})),
            &STAMP,
        );
        assert!(errors.is_empty());
        assert_eq!(p.id, "basic-template");
        assert!(p.is_template);
        assert_eq!(p.version, 1);
        assert_eq!(p.author.as_deref(), Some("alice"));
        assert_eq!(p.created_at, STAMP.now);
        assert_eq!(p.access_level, AccessLevel::Public);

        let (p, _) = new_prompt(draft(json!({"name": "x", "content": "plain"})), &STAMP);
        assert!(!p.is_template);
    }

    #[test]
    fn create_reports_underivable_id() {
        let (_, errors) = new_prompt(draft(json!({"name": "!!!", "content": "c"})), &STAMP);
        assert_eq!(errors[0].field, "id");
        // No name: the name's own error is enough.
        let (_, errors) = new_prompt(draft(json!({"content": "c"})), &STAMP);
        assert!(errors.is_empty());
    }

    #[test]
    fn merge_replaces_present_fields_only() {
        let (stored, _) = new_prompt(
            draft(json!({
                "id": "p", "name": "Old", "description": "desc", "content": "Hi {{x}}",
                "tags": ["a"], "variables": ["x"], "category": "c", "metadata": {"k": 1}
            })),
            &STAMP,
        );
        let later = Stamp {
            now: "2026-02-02T00:00:00.000Z",
            author: Some("bob"),
            by: Some("bob"),
        };
        let merged = merge(
            &stored,
            draft(
                json!({"name": "New", "description": null, "tags": ["b", "c"], "accessLevel": "premium"}),
            ),
            &later,
        );
        assert_eq!(merged.name, "New");
        assert_eq!(merged.description, None);
        assert_eq!(merged.tags, ["b", "c"]);
        assert_eq!(merged.access_level, AccessLevel::Premium);
        // Untouched fields are kept.
        assert_eq!(merged.content, "Hi {{x}}");
        assert_eq!(merged.variables, [Variable::named("x")]);
        assert_eq!(merged.category.as_deref(), Some("c"));
        assert_eq!(merged.metadata, stored.metadata);
        // Server-managed fields.
        assert_eq!(merged.version, 2);
        assert_eq!(merged.created_at, STAMP.now);
        assert_eq!(merged.updated_at, later.now);
        assert_eq!(merged.author.as_deref(), Some("alice"));
    }

    #[test]
    fn chat_prompts_compose_and_keep_their_type() {
        use crate::model::Role;
        let (p, _) = new_prompt(
            draft(json!({"id": "c", "name": "c", "type": "chat", "messages": [
                {"role": "system", "content": "plain"},
                {"type": "placeholder", "name": "history"}
            ]})),
            &STAMP,
        );
        assert_eq!(p.kind, PromptType::Chat);
        assert!(p.is_template, "a placeholder needs input");
        assert_eq!(p.content, "");
        let merged = merge(
            &p,
            draft(json!({"messages": [{"role": "user", "content": "hi"}]})),
            &STAMP,
        );
        assert_eq!(merged.kind, PromptType::Chat);
        assert_eq!(
            merged.messages,
            Some(vec![ChatItem::message(Role::User, "hi")])
        );
        assert!(type_change(PromptType::Chat, Some(PromptType::Text)).is_some());
        assert!(type_change(PromptType::Chat, Some(PromptType::Chat)).is_none());
        assert!(type_change(PromptType::Text, None).is_none());
        // A text prompt never gains an empty message list by accident.
        let (t, _) = new_prompt(
            draft(json!({"id": "t", "name": "t", "content": "x", "messages": null})),
            &STAMP,
        );
        assert_eq!(t.messages, None);
    }

    #[test]
    fn merge_with_template_alias_and_derived_flag() {
        let (stored, _) = new_prompt(
            draft(json!({"id": "p", "name": "n", "content": "plain"})),
            &STAMP,
        );
        let merged = merge(
            &stored,
            draft(json!({"template": "now {{x}}", "isTemplate": null})),
            &STAMP,
        );
        assert_eq!(merged.content, "now {{x}}");
        assert!(merged.is_template);
        // Absent isTemplate keeps the stored flag even when the content changes.
        let merged = merge(&stored, draft(json!({"content": "now {{x}}"})), &STAMP);
        assert!(!merged.is_template);
    }
}
