//! Stored prompts (the plugin's JSON) as MCP prompts.

use crate::plugins::content::{ContentBlock as ContentBlock_, MessageContent};
use crate::plugins::{ChatMessage, ChatRole};
use rmcp::model::{
    ContentBlock, EmbeddedResource, Prompt, PromptArgument, PromptMessage, ResourceContents, Role,
};
use serde_json::Value;
use std::collections::HashMap;

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// One declared variable: (name, description, required). Plain-string variables (the
/// catalog's form) are required; a variable with a default never is, for the client.
pub fn variables(prompt: &Value) -> Vec<(String, Option<String>, bool)> {
    let Some(vars) = prompt.get("variables").and_then(Value::as_array) else {
        return Vec::new();
    };
    vars.iter()
        .filter_map(|v| match v {
            Value::String(name) => Some((name.clone(), None, true)),
            Value::Object(o) => {
                let name = o.get("name")?.as_str()?.to_string();
                let description = o
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let has_default = o.get("default").is_some_and(|d| !d.is_null());
                let required = o.get("required").and_then(Value::as_bool).unwrap_or(true);
                Some((name, description, required && !has_default))
            }
            _ => None,
        })
        .collect()
}

/// A variable's default value as text, for completion.
pub fn default_value(prompt: &Value, name: &str) -> Option<String> {
    let vars = prompt.get("variables")?.as_array()?;
    let var = vars
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(name))?;
    match var.get("default")? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The declared object of variable `name`, if it is declared as an object.
fn variable<'a>(prompt: &'a Value, name: &str) -> Option<&'a serde_json::Map<String, Value>> {
    prompt
        .get("variables")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .find(|o| o.get("name").and_then(Value::as_str) == Some(name))
}

/// Values known for variable `name`: its declared `options`, `examples` and `default`
/// (read defensively: any of them may be absent or of another shape), deduplicated.
pub fn known_values(prompt: &Value, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null | Value::Object(_) | Value::Array(_) => None,
        other => Some(other.to_string()),
    };
    if let Some(o) = variable(prompt, name) {
        for key in ["options", "examples", "enum"] {
            if let Some(a) = o.get(key).and_then(Value::as_array) {
                out.extend(a.iter().filter_map(text));
            }
        }
    }
    out.extend(default_value(prompt, name));
    let mut seen = std::collections::HashSet::new();
    out.retain(|v| seen.insert(v.clone()));
    out
}

/// The prompt's icon (`icon`: a URL, or `{src, mimeType, sizes}`), when it is an
/// http(s) or data URL.
fn icon(prompt: &Value) -> Option<rmcp::model::Icon> {
    let (src, mime) = match prompt.get("icon")? {
        Value::String(s) => (s.as_str(), None),
        Value::Object(o) => (
            o.get("src")?.as_str()?,
            o.get("mimeType").and_then(Value::as_str),
        ),
        _ => return None,
    };
    let ok =
        src.starts_with("https://") || src.starts_with("http://") || src.starts_with("data:image/");
    if !ok || src.len() > 8192 {
        return None;
    }
    let mut i = rmcp::model::Icon::new(src);
    if let Some(m) = mime {
        i.mime_type = Some(m.to_string());
    }
    Some(i)
}

/// MCP `Prompt`: name = id, title = the prompt's `title` (else its name), arguments = its
/// variables (each with a description, and a title when declared), icons from `icon`.
pub fn to_mcp(prompt: &Value) -> Option<Prompt> {
    let id = str_field(prompt, "id")?;
    let args: Vec<PromptArgument> = variables(prompt)
        .into_iter()
        .map(|(name, description, required)| {
            let description = description
                .unwrap_or_else(|| format!("Value of the template variable {{{{{name}}}}}"));
            let title = variable(prompt, &name)
                .and_then(|o| o.get("title"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let a = PromptArgument::new(name)
                .with_required(required)
                .with_description(description);
            match title {
                Some(t) => a.with_title(t),
                None => a,
            }
        })
        .collect();
    let mut args = args;
    args.extend(placeholders(prompt).into_iter().map(|name| {
        PromptArgument::new(name)
            .with_required(true)
            .with_description(
                "Messages to insert here: a JSON array of {\"role\": \"system\"|\"user\"|\"assistant\", \"content\": \"...\"} objects",
            )
    }));
    let mut p = Prompt::new(
        id,
        str_field(prompt, "description"),
        (!args.is_empty()).then_some(args),
    );
    if let Some(title) = str_field(prompt, "title").or_else(|| str_field(prompt, "name")) {
        p = p.with_title(title);
    }
    if let Some(i) = icon(prompt) {
        p = p.with_icons(vec![i]);
    }
    Some(p)
}

/// The rendered prompt as MCP messages: always the `user` role (a stored prompt is text
/// the client sends; the server never injects a `system` role).
pub fn messages(content: String) -> Vec<PromptMessage> {
    vec![PromptMessage::new_text(Role::User, content)]
}

/// The first line of a system message delivered over MCP (docs/mcp.md).
pub const SYSTEM_MARKER: &str = "[system]";

/// `_meta` key of the rendered version's `config` in a `prompts/get` result.
pub const CONFIG_META: &str = "mcp-prompts/config";

/// `_meta` key listing the original role of every message of a chat prompt's result
/// (one entry per MCP message: a message of several blocks has several).
pub const ROLES_META: &str = "mcp-prompts/roles";

/// A chat prompt's rendered messages as MCP messages, and the original role of each
/// (for [`ROLES_META`]).
///
/// - MCP prompts have only the `user` and `assistant` roles, so a system message travels
///   in place as `user` content whose first line is [`SYSTEM_MARKER`]: the model still
///   reads it as instructions, and a client that knows the convention (or reads
///   [`ROLES_META`]) can restore the role. When a system message starts with another
///   block than text, the marker is a text message of its own before it.
/// - A MCP prompt message holds one content block, so a message with several blocks
///   becomes that many consecutive messages of its role.
/// - Images travel inline as `ImageContent` (base64 and MIME type) from `inline`
///   (bytes by hash, fetched by the caller, as [`to_inline`] planned), until the
///   answer's image budget is spent; the rest as a text line naming their REST URL.
///   Embedded resources travel as `EmbeddedResource`;
///   resource links as `ResourceLink` when `links` (the session speaks 2025-06-18 or
///   later), else as a text line naming the link (2025-03-26 has no resource links).
pub fn chat_messages(
    messages: &[ChatMessage],
    inline: &Inline,
    links: bool,
) -> (Vec<PromptMessage>, Value) {
    let mut budget = inline.budget;
    let mut out = Vec::new();
    let mut roles = Vec::new();
    for m in messages {
        let (role, name) = match m.role {
            ChatRole::System => (Role::User, "system"),
            ChatRole::User => (Role::User, "user"),
            ChatRole::Assistant => (Role::Assistant, "assistant"),
        };
        let mut blocks: Vec<ContentBlock> = match &m.content {
            MessageContent::Text(t) => vec![ContentBlock::text(t.clone())],
            MessageContent::Blocks(b) => b
                .iter()
                .map(|b| block(b, inline, &mut budget, links))
                .collect(),
        };
        if m.role == ChatRole::System {
            match blocks.first_mut() {
                Some(ContentBlock::Text(t)) => t.text = format!("{SYSTEM_MARKER}\n{}", t.text),
                _ => blocks.insert(0, ContentBlock::text(SYSTEM_MARKER)),
            }
        }
        for b in blocks {
            out.push(PromptMessage::new(role.clone(), b));
            roles.push(Value::from(name));
        }
    }
    (out, Value::Array(roles))
}

/// The images one `prompts/get` answer sends inline: their bytes by hash, the budget
/// (`[media] max_inline_size`) and where the others can be fetched over REST.
pub struct Inline {
    pub images: HashMap<String, Vec<u8>>,
    pub budget: u64,
    /// `{route}/{id}/blobs/`: an image's REST URL is this and its hash.
    pub blobs: String,
}

/// The hashes whose bytes [`chat_messages`] will inline within `budget`: the image
/// blocks in order, each occurrence counted, while they fit. Both walk the same blocks
/// with the same stored sizes, so only what is sent is ever read from the store.
pub fn to_inline(messages: &[ChatMessage], mut budget: u64) -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    for m in messages {
        let MessageContent::Blocks(blocks) = &m.content else {
            continue;
        };
        for b in blocks {
            if let ContentBlock_::Image(r) = b
                && r.size <= budget
            {
                budget -= r.size;
                out.insert(r.sha256.clone());
            }
        }
    }
    out
}

/// One stored content block as a MCP content block.
fn block(b: &ContentBlock_, inline: &Inline, budget: &mut u64, links: bool) -> ContentBlock {
    use base64::Engine;
    match b {
        ContentBlock_::Text { text } => ContentBlock::text(text.clone()),
        ContentBlock_::Image(r) => match inline.images.get(&r.sha256) {
            Some(bytes) if r.size <= *budget => {
                *budget -= r.size;
                ContentBlock::image(
                    base64::engine::general_purpose::STANDARD.encode(bytes),
                    r.mime_type.clone(),
                )
            }
            // Said in text rather than by an empty image: a model reading the prompt
            // learns an image was there, a client where to fetch it.
            _ => ContentBlock::text(format!(
                "[image {} ({}, {} bytes) not inline: over media.max_inline_size for one answer; GET {}{}]",
                r.sha256, r.mime_type, r.size, inline.blobs, r.sha256
            )),
        },
        ContentBlock_::Resource { resource } => {
            let mut c = ResourceContents::text(resource.text.clone(), resource.uri.clone());
            if let Some(m) = &resource.mime_type {
                c = c.with_mime_type(m.clone());
            }
            ContentBlock::Resource(EmbeddedResource::new(c))
        }
        ContentBlock_::ResourceLink(l) if links => {
            let mut r = rmcp::model::Resource::new(l.uri.clone(), l.name.clone());
            r.mime_type = l.mime_type.clone();
            r.description = l.description.clone();
            ContentBlock::ResourceLink(r)
        }
        ContentBlock_::ResourceLink(l) => ContentBlock::text(match &l.description {
            Some(d) => format!("[resource link] {} <{}>: {d}", l.name, l.uri),
            None => format!("[resource link] {} <{}>", l.name, l.uri),
        }),
    }
}

/// Whether protocol revision `version` has resource links in content (2025-06-18 on).
pub fn has_resource_links(version: &str) -> bool {
    version >= rmcp::model::ProtocolVersion::V_2025_06_18.as_str()
}

/// The placeholders of a chat prompt (names, in order); none for a text prompt.
pub fn placeholders(prompt: &Value) -> Vec<String> {
    prompt
        .get("messages")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| i.get("type").and_then(Value::as_str) == Some("placeholder"))
                .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// MCP clients send `""` for an argument the user left blank: it is not a value, so
/// that a required argument left blank is reported missing and an optional one takes
/// its default.
pub fn drop_blank_args(args: &mut serde_json::Map<String, Value>) {
    args.retain(|_, v| !matches!(v, Value::String(s) if s.is_empty()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompt_arguments_follow_variables() {
        let p = json!({
            "id": "greet", "name": "Greeting", "description": "hello",
            "variables": [
                "who",
                {"name": "tone", "description": "how", "required": false, "default": null},
                {"name": "lang", "required": true, "default": "en"}
            ]
        });
        let m = to_mcp(&p).unwrap();
        assert_eq!(m.name, "greet");
        assert_eq!(m.title.as_deref(), Some("Greeting"));
        let args = m.arguments.unwrap();
        assert_eq!(args[0].required, Some(true));
        assert_eq!(args[1].required, Some(false));
        assert_eq!(args[1].description.as_deref(), Some("how"));
        assert_eq!(args[2].required, Some(false), "a default makes it optional");
        assert_eq!(default_value(&p, "lang").as_deref(), Some("en"));
        assert_eq!(
            args[0].description.as_deref(),
            Some("Value of the template variable {{who}}")
        );
        let q = json!({"id": "q", "title": "Q!", "icon": "https://x.example/i.png",
            "variables": [{"name": "tone", "title": "Tone", "options": ["warm", "dry", 3], "examples": "bad", "default": "warm"}]});
        let m = to_mcp(&q).unwrap();
        assert_eq!(m.title.as_deref(), Some("Q!"));
        assert_eq!(m.icons.unwrap()[0].src, "https://x.example/i.png");
        assert_eq!(m.arguments.unwrap()[0].title.as_deref(), Some("Tone"));
        assert_eq!(known_values(&q, "tone"), ["warm", "dry", "3"]);
        assert!(
            to_mcp(&json!({"id": "z", "icon": "javascript:x"}))
                .unwrap()
                .icons
                .is_none()
        );
        let mut given = serde_json::Map::new();
        given.insert("tone".into(), json!("x"));
        given.insert("who".into(), json!(""));
        drop_blank_args(&mut given);
        assert_eq!(Value::Object(given), json!({"tone": "x"}));
    }

    #[test]
    fn chat_prompts_deliver_system_messages_as_marked_user_messages() {
        use crate::plugins::content::{ImageRef, ResourceLink};
        let msg = |role, content| ChatMessage { role, content };
        let rendered = vec![
            msg(ChatRole::System, MessageContent::text("Be brief.")),
            msg(ChatRole::User, MessageContent::text("Hi")),
            msg(ChatRole::Assistant, MessageContent::text("Hello")),
        ];
        let none = Inline {
            images: HashMap::new(),
            budget: 0,
            blobs: "/v1/prompts/p/blobs/".into(),
        };
        let (out, roles) = chat_messages(&rendered, &none, true);
        let out = serde_json::to_value(out).unwrap();
        assert_eq!(out[0]["role"], "user");
        assert_eq!(out[0]["content"]["text"], "[system]\nBe brief.");
        assert_eq!(out[1]["content"]["text"], "Hi");
        assert_eq!(out[2]["role"], "assistant");
        assert_eq!(roles, json!(["system", "user", "assistant"]));

        // Blocks: one MCP message each; a system message starting with an image gets
        // its marker as a message of its own; links degrade to text before 2025-06-18.
        let sha = "ab".repeat(32);
        let image = ContentBlock_::Image(ImageRef {
            mime_type: "image/png".into(),
            sha256: sha.clone(),
            size: 3,
        });
        let link = ContentBlock_::ResourceLink(ResourceLink {
            uri: "https://x.example/a".into(),
            name: "a".into(),
            mime_type: None,
            description: None,
        });
        let rendered = vec![
            msg(
                ChatRole::System,
                MessageContent::Blocks(vec![image.clone()]),
            ),
            msg(ChatRole::User, MessageContent::Blocks(vec![image, link])),
        ];
        assert_eq!(to_inline(&rendered, 6).len(), 1);
        assert!(to_inline(&rendered, 2).is_empty());
        let images = Inline {
            images: HashMap::from([(sha.clone(), vec![1u8, 2, 3])]),
            budget: 6,
            blobs: "/v1/prompts/p/blobs/".into(),
        };
        let (out, roles) = chat_messages(&rendered, &images, true);
        let out = serde_json::to_value(out).unwrap();
        assert_eq!(roles, json!(["system", "system", "user", "user"]));
        assert_eq!(out[0]["content"]["text"], "[system]");
        assert_eq!(out[1]["content"]["type"], "image");
        assert_eq!(out[1]["content"]["data"], "AQID");
        assert_eq!(out[1]["content"]["mimeType"], "image/png");
        assert_eq!(out[3]["content"]["type"], "resource_link");
        // Past the budget an image is a line naming where to fetch it.
        let tight = Inline {
            budget: 3,
            ..images
        };
        let (cut, _) = chat_messages(&rendered, &tight, true);
        let cut = serde_json::to_value(cut).unwrap();
        assert_eq!(cut[1]["content"]["type"], "image");
        let line = cut[2]["content"]["text"].as_str().unwrap();
        assert!(
            line.contains(&format!("GET /v1/prompts/p/blobs/{sha}"))
                && line.contains("max_inline_size"),
            "{line}"
        );
        let images = Inline { budget: 6, ..tight };
        let (old, _) = chat_messages(&rendered, &images, false);
        let old = serde_json::to_value(old).unwrap();
        assert_eq!(
            old[3]["content"]["text"],
            "[resource link] a <https://x.example/a>"
        );
        assert!(has_resource_links("2025-06-18") && has_resource_links("2026-07-28"));
        assert!(!has_resource_links("2025-03-26"));
    }

    #[test]
    fn placeholders_are_required_arguments() {
        let p = json!({"id": "c", "type": "chat", "variables": ["topic"], "messages": [
            {"role": "user", "content": "{{topic}}"},
            {"type": "placeholder", "name": "history"}
        ]});
        let m = to_mcp(&p).unwrap();
        let args = m.arguments.unwrap();
        assert_eq!(args.len(), 2);
        assert_eq!(args[1].name, "history");
        assert_eq!(args[1].required, Some(true));
    }
}
