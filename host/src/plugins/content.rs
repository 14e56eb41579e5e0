//! A rendered chat message's content as the prompt handler returns it (WIT
//! `applied.messages-json`): one text, or a list of content blocks whose images are
//! references to bytes the host stores (service/media.rs).

use serde::{Deserialize, Serialize};

/// A message's content. Untagged: a string is the text of a message written before
/// blocks existed (and of every message without blocks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Blocks(Vec<ContentBlock>),
}

impl MessageContent {
    pub fn text(t: impl Into<String>) -> Self {
        MessageContent::Text(t.into())
    }
}

/// One content block, shaped as MCP content blocks are except that an image is a
/// reference ([`ImageRef`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text { text: String },
    Image(ImageRef),
    Resource { resource: EmbeddedText },
    ResourceLink(ResourceLink),
}

/// An image the host stores content-addressed: what a version keeps instead of the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRef {
    pub mime_type: String,
    /// SHA-256 of the bytes, lower-case hex: the blob's key.
    pub sha256: String,
    pub size: u64,
}

/// An embedded text resource (MCP `TextResourceContents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedText {
    pub uri: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    pub text: String,
}

/// A link to a resource (MCP `ResourceLink`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceLink {
    pub uri: String,
    pub name: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}
