//! The stored prompt model.
//!
//! This is the only shape the plugin ever writes or returns. Client input is never
//! deserialised into it directly: `input` normalises the many shapes found in the wild
//! (catalog files, older exports) first, so that this type can stay strict and every
//! output carries every field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A prompt as stored under `p/{id}` and `v/{id}/{version}`.
///
/// Optional fields serialise as `null` and lists as `[]` (never omitted), so clients can
/// rely on every key being present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prompt {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// Fixed at creation. Documents written before chat prompts existed have no `type`
    /// and read as text, so old data needs no migration.
    #[serde(rename = "type", default)]
    pub kind: PromptType,
    /// The template of a text prompt; empty for a chat prompt.
    pub content: String,
    /// The messages of a chat prompt, each a template or a placeholder; `null` for a
    /// text prompt.
    #[serde(default)]
    pub messages: Option<Vec<ChatItem>>,
    pub is_template: bool,
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub variables: Vec<Variable>,
    /// 1 on create, +1 per update. Independent of the kv entry version (which is only
    /// used for compare-and-set) so that the model stays meaningful outside the store.
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub access_level: AccessLevel,
    pub author: Option<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// What to run the prompt with (model, parameters, tools, response format, ...),
    /// versioned with it; `null` when none. Free-form, size-limited (`max_config_size`).
    #[serde(default)]
    pub config: Option<Map<String, Value>>,
    /// The commit message of this version, as the writer gave it.
    #[serde(default)]
    pub message: Option<String>,
    /// Subject of the principal that wrote this version (`author` is who created the
    /// prompt and owns it). `null` for imports and for versions written before 0.2.
    #[serde(default)]
    pub version_author: Option<String>,
}

/// Whether a prompt is one text template or a list of role messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptType {
    #[default]
    Text,
    Chat,
}

impl PromptType {
    pub fn as_str(self) -> &'static str {
        match self {
            PromptType::Text => "text",
            PromptType::Chat => "chat",
        }
    }
}

/// The author of a chat message, as the leading LLM APIs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::System, Role::User, Role::Assistant];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One message: a role and its content (for a stored message templates, for a rendered
/// one the result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Content,
}

impl Message {
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: Content::Text(text.into()),
        }
    }
}

/// A message's content: one text, or a list of [`Block`]s (multimodal content). Untagged
/// so that every message written before blocks existed (a string) reads and writes
/// exactly as before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

impl Content {
    /// The texts a person reads: the text itself, or the text blocks' and embedded
    /// resources' texts in order (for search, size limits and the joined rendering).
    pub fn texts(&self) -> Vec<&str> {
        match self {
            Content::Text(t) => vec![t.as_str()],
            Content::Blocks(blocks) => blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Text { text } => Some(text.as_str()),
                    Block::Resource { resource } => Some(resource.text.as_str()),
                    Block::Image(_) | Block::ResourceLink(_) => None,
                })
                .collect(),
        }
    }

    /// The templates of this content: the text, or the text blocks (embedded resources
    /// are passed through verbatim, never rendered).
    pub fn templates(&self) -> Vec<&str> {
        match self {
            Content::Text(t) => vec![t.as_str()],
            Content::Blocks(blocks) => blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// One block of multimodal content, shaped as MCP content blocks are (`type` tag,
/// camelCase fields), except that an image holds a reference to its bytes: the host
/// stores them content-addressed and resolves the reference on the way out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// A template, rendered at apply time like a text message.
    Text {
        text: String,
    },
    Image(ImageRef),
    /// An embedded text resource, passed through verbatim.
    Resource {
        resource: EmbeddedText,
    },
    ResourceLink(ResourceLink),
}

/// An image stored by the host: its MIME type, the SHA-256 of its bytes (lower-case hex)
/// and their length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRef {
    pub mime_type: String,
    pub sha256: String,
    pub size: u64,
}

/// The contents of an embedded resource (MCP `TextResourceContents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedText {
    pub uri: String,
    pub mime_type: Option<String>,
    pub text: String,
}

/// A link to a resource the client may fetch (MCP `ResourceLink`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceLink {
    pub uri: String,
    pub name: String,
    pub mime_type: Option<String>,
    pub description: Option<String>,
}

/// Marks a placeholder entry: serialises as `"type": "placeholder"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaceholderTag {
    Placeholder,
}

/// Where the caller's list of messages (e.g. the conversation so far) goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placeholder {
    #[serde(rename = "type")]
    pub tag: PlaceholderTag,
    pub name: String,
}

/// An entry of a chat prompt's `messages`. Untagged: a placeholder is recognised by its
/// `"type": "placeholder"`, a message by its `role`; only this plugin writes them, and
/// `input` has checked the client's shapes field by field before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatItem {
    Placeholder(Placeholder),
    Message(Message),
}

impl ChatItem {
    pub fn placeholder(name: impl Into<String>) -> Self {
        ChatItem::Placeholder(Placeholder {
            tag: PlaceholderTag::Placeholder,
            name: name.into(),
        })
    }

    pub fn message(role: Role, content: impl Into<String>) -> Self {
        ChatItem::Message(Message::text(role, content))
    }
}

/// A declared template variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    pub description: Option<String>,
    pub required: bool,
    /// Any JSON value, stored as given (a default of `"3"` stays a string, `3` a number).
    pub default: Option<Value>,
}

impl Variable {
    /// A variable declared by name only (the catalog's plain-string form).
    pub fn named(name: impl Into<String>) -> Self {
        Variable {
            name: name.into(),
            description: None,
            required: true,
            default: None,
        }
    }
}

/// Who may see a prompt; enforced by [`crate::access`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    #[default]
    Public,
    Private,
    Premium,
}

impl AccessLevel {
    pub const ALL: [AccessLevel; 3] = [
        AccessLevel::Public,
        AccessLevel::Private,
        AccessLevel::Premium,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Public => "public",
            AccessLevel::Private => "private",
            AccessLevel::Premium => "premium",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == s)
    }
}

/// One field-level validation problem (mirrors the WIT `field-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_every_field_even_when_empty() {
        let p = Prompt {
            id: "a".into(),
            name: "A".into(),
            description: None,
            kind: PromptType::Text,
            content: "x".into(),
            messages: None,
            is_template: false,
            category: None,
            tags: vec![],
            variables: vec![Variable::named("v")],
            version: 1,
            created_at: "t".into(),
            updated_at: "t".into(),
            access_level: AccessLevel::Public,
            author: None,
            metadata: Map::new(),
            config: None,
            message: None,
            version_author: None,
        };
        let v = serde_json::to_value(&p).unwrap();
        let obj = v.as_object().unwrap();
        for key in [
            "id",
            "name",
            "description",
            "type",
            "content",
            "messages",
            "isTemplate",
            "category",
            "tags",
            "variables",
            "version",
            "createdAt",
            "updatedAt",
            "accessLevel",
            "author",
            "metadata",
            "config",
            "message",
            "versionAuthor",
        ] {
            assert!(obj.contains_key(key), "missing {key}");
        }
        assert_eq!(obj["description"], Value::Null);
        assert_eq!(obj["accessLevel"], "public");
        assert_eq!(obj["metadata"], serde_json::json!({}));
        assert_eq!(
            obj["variables"],
            serde_json::json!([{"name": "v", "description": null, "required": true, "default": null}])
        );
        let back: Prompt = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn documents_without_type_read_as_text() {
        let old = serde_json::json!({
            "id": "a", "name": "A", "description": null, "content": "x", "isTemplate": false,
            "category": null, "tags": [], "variables": [], "version": 1,
            "createdAt": "t", "updatedAt": "t", "accessLevel": "public", "author": null,
            "metadata": {}
        });
        let p: Prompt = serde_json::from_value(old).unwrap();
        assert_eq!(p.kind, PromptType::Text);
        assert_eq!(p.messages, None);
    }

    #[test]
    fn chat_items_round_trip() {
        let items = vec![
            ChatItem::message(Role::System, "Be {{tone}}"),
            ChatItem::placeholder("history"),
            ChatItem::message(Role::User, "{{question}}"),
        ];
        let v = serde_json::to_value(&items).unwrap();
        assert_eq!(
            v,
            serde_json::json!([
                {"role": "system", "content": "Be {{tone}}"},
                {"type": "placeholder", "name": "history"},
                {"role": "user", "content": "{{question}}"}
            ])
        );
        let back: Vec<ChatItem> = serde_json::from_value(v).unwrap();
        assert_eq!(back, items);
    }
}
