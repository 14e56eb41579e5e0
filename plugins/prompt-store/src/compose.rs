//! Turning a [`Draft`] into a full [`Prompt`]: defaults on create, merge on update.
//! Both return the candidate unvalidated; callers validate the result as a whole.

use crate::input::Draft;
use crate::model::{FieldError, Prompt};
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
    let is_template = draft
        .is_template
        .flatten()
        .unwrap_or_else(|| looks_like_template(&content));
    let prompt = Prompt {
        id,
        name,
        description: draft.description.flatten(),
        content,
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
    let is_template = match draft.is_template {
        None => stored.is_template,
        Some(Some(b)) => b,
        Some(None) => looks_like_template(&content),
    };
    Prompt {
        id: stored.id.clone(),
        name: draft.name.unwrap_or_else(|| stored.name.clone()),
        description: draft
            .description
            .unwrap_or_else(|| stored.description.clone()),
        content,
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
