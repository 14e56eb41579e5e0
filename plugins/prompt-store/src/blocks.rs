//! Multimodal message content: a list of blocks (text, image, embedded resource,
//! resource link) in place of a message's text.
//!
//! Images never reach this plugin as bytes: the host checks and stores them
//! content-addressed and hands over a reference (`mimeType`, `sha256`, `size`), so a
//! prompt version stays small and the same image in many versions is stored once. This
//! module checks the shape of every block, naming each problem with its path
//! (`messages[1].content[2].type`).

use crate::model::{Block, Content, EmbeddedText, FieldError, ImageRef, ResourceLink};
use serde_json::{Map, Value};

/// Upper bound on the blocks of one message; real messages have a text and an image or two.
pub const MAX_BLOCKS: usize = 32;
/// Longest URI accepted in a resource block.
pub const MAX_URI_BYTES: usize = 2048;
/// The image types the host accepts (it checks the bytes' signature against the type).
pub const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

const BLOCK_TYPES: &str = "text, image, resource, resource_link";

/// A message's `content` as the client sent it: a string, or an array of blocks.
/// `None` when it has errors (they are in `errors`).
pub fn parse_content(
    path: &str,
    v: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> Option<Content> {
    match v {
        Some(Value::String(c)) => Some(Content::Text(c.clone())),
        Some(Value::Array(items)) => {
            let before = errors.len();
            let blocks: Vec<Block> = items
                .iter()
                .enumerate()
                .filter_map(|(i, b)| parse_block(&format!("{path}[{i}]"), b, errors))
                .collect();
            (errors.len() == before).then_some(Content::Blocks(blocks))
        }
        None | Some(Value::Null) => {
            errors.push(FieldError::new(path, "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(
                path,
                "must be a string or an array of content blocks",
            ));
            None
        }
    }
}

fn parse_block(path: &str, v: &Value, errors: &mut Vec<FieldError>) -> Option<Block> {
    let Value::Object(obj) = v else {
        errors.push(FieldError::new(
            path,
            format!("must be a content block: an object with a type ({BLOCK_TYPES})"),
        ));
        return None;
    };
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                format!("{path}.type"),
                format!("is required: one of {BLOCK_TYPES}"),
            ));
            return None;
        }
        Some(_) => {
            errors.push(FieldError::new(
                format!("{path}.type"),
                format!("must be a string, one of {BLOCK_TYPES}"),
            ));
            return None;
        }
    };
    let mut f = Fields { obj, path, errors };
    match kind {
        "text" => Some(Block::Text {
            text: f.string("text")?,
        }),
        "image" => {
            if obj.contains_key("data") {
                // The host replaces `data` by a reference before the plugin is called.
                f.errors.push(FieldError::new(
                    format!("{path}.data"),
                    "image bytes must be stored by the host; the handler takes a reference (sha256, size)",
                ));
                return None;
            }
            let mime_type = f.string("mimeType");
            let sha256 = f.string("sha256");
            let size = f.size("size");
            Some(Block::Image(ImageRef {
                mime_type: mime_type?,
                sha256: sha256?,
                size: size?,
            }))
        }
        "resource" => {
            let Some(Value::Object(res)) = obj.get("resource") else {
                f.errors.push(FieldError::new(
                    format!("{path}.resource"),
                    "is required: an object {uri, mimeType, text}",
                ));
                return None;
            };
            let inner = format!("{path}.resource");
            let mut r = Fields {
                obj: res,
                path: &inner,
                errors: &mut *f.errors,
            };
            let uri = r.string("uri");
            let mime_type = r.optional_string("mimeType");
            let text = r.string("text");
            Some(Block::Resource {
                resource: EmbeddedText {
                    uri: uri?,
                    mime_type: mime_type?,
                    text: text?,
                },
            })
        }
        "resource_link" => {
            let uri = f.string("uri");
            let name = f.string("name");
            let mime_type = f.optional_string("mimeType");
            let description = f.optional_string("description");
            Some(Block::ResourceLink(ResourceLink {
                uri: uri?,
                name: name?,
                mime_type: mime_type?,
                description: description?,
            }))
        }
        other => {
            f.errors.push(FieldError::new(
                format!("{path}.type"),
                format!("unknown block type '{other}': must be one of {BLOCK_TYPES}"),
            ));
            None
        }
    }
}

/// Reads the fields of one object, recording what is missing or mistyped.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    path: &'a str,
    errors: &'a mut Vec<FieldError>,
}

impl Fields<'_> {
    fn string(&mut self, key: &str) -> Option<String> {
        match self.obj.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(
                    format!("{}.{key}", self.path),
                    "is required",
                ));
                None
            }
            Some(_) => {
                self.errors.push(FieldError::new(
                    format!("{}.{key}", self.path),
                    "must be a string",
                ));
                None
            }
        }
    }

    /// `Some(None)` when absent or null; `None` on error.
    fn optional_string(&mut self, key: &str) -> Option<Option<String>> {
        match self.obj.get(key) {
            Some(Value::String(s)) => Some(Some(s.clone())),
            None | Some(Value::Null) => Some(None),
            Some(_) => {
                self.errors.push(FieldError::new(
                    format!("{}.{key}", self.path),
                    "must be a string",
                ));
                None
            }
        }
    }

    fn size(&mut self, key: &str) -> Option<u64> {
        match self.obj.get(key).and_then(Value::as_u64) {
            Some(n) => Some(n),
            None => {
                self.errors.push(FieldError::new(
                    format!("{}.{key}", self.path),
                    "is required: the image's size in bytes",
                ));
                None
            }
        }
    }
}

/// Every problem with stored content at `path` (e.g. `messages[2].content`).
pub fn validate(path: &str, content: &Content, errors: &mut Vec<FieldError>) {
    let blocks = match content {
        Content::Text(t) => {
            if t.trim().is_empty() {
                errors.push(FieldError::new(path, "is required"));
            }
            return;
        }
        Content::Blocks(b) => b,
    };
    if blocks.is_empty() {
        errors.push(FieldError::new(path, "needs at least one content block"));
        return;
    }
    if blocks.len() > MAX_BLOCKS {
        errors.push(FieldError::new(
            path,
            format!("must have at most {MAX_BLOCKS} content blocks"),
        ));
    }
    for (i, block) in blocks.iter().enumerate() {
        let at = format!("{path}[{i}]");
        match block {
            Block::Text { text } => {
                if text.trim().is_empty() {
                    errors.push(FieldError::new(format!("{at}.text"), "is required"));
                }
            }
            Block::Image(img) => {
                if !IMAGE_TYPES.contains(&img.mime_type.as_str()) {
                    errors.push(FieldError::new(
                        format!("{at}.mimeType"),
                        format!(
                            "unsupported image type '{}': must be one of {}",
                            img.mime_type,
                            IMAGE_TYPES.join(", ")
                        ),
                    ));
                }
                if !is_sha256_hex(&img.sha256) {
                    errors.push(FieldError::new(
                        format!("{at}.sha256"),
                        "must be 64 lower-case hex digits",
                    ));
                }
                if img.size == 0 {
                    errors.push(FieldError::new(format!("{at}.size"), "must be positive"));
                }
            }
            Block::Resource { resource } => {
                check_uri(&format!("{at}.resource.uri"), &resource.uri, errors);
                check_mime(
                    &format!("{at}.resource.mimeType"),
                    resource.mime_type.as_deref(),
                    errors,
                );
            }
            Block::ResourceLink(link) => {
                check_uri(&format!("{at}.uri"), &link.uri, errors);
                if link.name.trim().is_empty() {
                    errors.push(FieldError::new(format!("{at}.name"), "is required"));
                } else if link.name.chars().count() > crate::validate::MAX_NAME_CHARS {
                    errors.push(FieldError::new(
                        format!("{at}.name"),
                        format!(
                            "must be at most {} characters",
                            crate::validate::MAX_NAME_CHARS
                        ),
                    ));
                }
                check_mime(&format!("{at}.mimeType"), link.mime_type.as_deref(), errors);
                if link
                    .description
                    .as_deref()
                    .is_some_and(|d| d.chars().count() > crate::validate::MAX_DESCRIPTION_CHARS)
                {
                    errors.push(FieldError::new(
                        format!("{at}.description"),
                        format!(
                            "must be at most {} characters",
                            crate::validate::MAX_DESCRIPTION_CHARS
                        ),
                    ));
                }
            }
        }
    }
}

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An absolute URI (RFC 3986 §4.3): a scheme, `:`, something after it, no spaces or
/// control characters. Relative references would mean nothing to the client that
/// receives the prompt.
fn check_uri(field: &str, uri: &str, errors: &mut Vec<FieldError>) {
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
        let mut b = scheme.bytes();
        matches!(b.next(), Some(c) if c.is_ascii_alphabetic())
            && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
            && !rest.is_empty()
    });
    if uri.len() > MAX_URI_BYTES {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_URI_BYTES} bytes"),
        ));
    } else if !scheme_ok || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(FieldError::new(
            field,
            format!(
                "must be an absolute URI (scheme:rest, e.g. https://… or file:///…), got {uri:?}"
            ),
        ));
    }
}

/// A MIME type of the form `type/subtype` (parameters allowed), if given.
fn check_mime(field: &str, mime: Option<&str>, errors: &mut Vec<FieldError>) {
    let Some(m) = mime else { return };
    let essence = m.split(';').next().unwrap_or_default().trim();
    let ok = essence.split_once('/').is_some_and(|(t, s)| {
        let token = |x: &str| {
            !x.is_empty()
                && x.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
        };
        token(t) && token(s)
    });
    if !ok || m.len() > 255 {
        errors.push(FieldError::new(
            field,
            format!("must be a MIME type such as text/plain, got {m:?}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn parse(v: Value) -> (Option<Content>, Vec<FieldError>) {
        let mut errors = Vec::new();
        let c = parse_content("messages[0].content", Some(&v), &mut errors);
        (c, errors)
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn parses_every_block_type_and_round_trips() {
        let v = json!([
            {"type": "text", "text": "Look at {{thing}}"},
            {"type": "image", "mimeType": "image/png", "sha256": SHA, "size": 67},
            {"type": "resource", "resource": {"uri": "file:///notes.md", "mimeType": "text/markdown", "text": "# Notes"}},
            {"type": "resource_link", "uri": "https://example.com/a.pdf", "name": "a.pdf"}
        ]);
        let (c, errors) = parse(v);
        assert!(errors.is_empty(), "{errors:?}");
        let c = c.unwrap();
        let mut errors = Vec::new();
        validate("messages[0].content", &c, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(c.texts(), ["Look at {{thing}}", "# Notes"]);
        assert_eq!(c.templates(), ["Look at {{thing}}"]);
        let out = serde_json::to_value(&c).unwrap();
        assert_eq!(
            out[1],
            json!({"type": "image", "mimeType": "image/png", "sha256": SHA, "size": 67})
        );
        assert_eq!(out[3]["mimeType"], Value::Null);
        let back: Content = serde_json::from_value(out).unwrap();
        assert_eq!(back, c);
        // A string stays a string.
        let s: Content = serde_json::from_value(json!("hi")).unwrap();
        assert_eq!(s, Content::Text("hi".into()));
        assert_eq!(serde_json::to_value(&s).unwrap(), json!("hi"));
    }

    #[test]
    fn bad_blocks_are_named() {
        let (c, errors) = parse(json!([
            {"type": "video", "url": "x"},
            {"text": "no type"},
            {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "x"}},
            {"type": "resource_link", "uri": 3},
            "plain"
        ]));
        assert_eq!(c, None);
        assert_eq!(
            fields(&errors),
            [
                "messages[0].content[0].type",
                "messages[0].content[1].type",
                "messages[0].content[2].data",
                "messages[0].content[3].resource.text",
                "messages[0].content[4].uri",
                "messages[0].content[4].name",
                "messages[0].content[5]"
            ]
        );
        assert!(
            errors[0].message.contains("'video'"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn stored_blocks_are_validated() {
        let c: Content = serde_json::from_value(json!([
            {"type": "text", "text": " "},
            {"type": "image", "mimeType": "image/svg+xml", "sha256": "ABC", "size": 0},
            {"type": "resource", "resource": {"uri": "notes.md", "mimeType": "text", "text": "x"}},
            {"type": "resource_link", "uri": "https://ok.example/x y", "name": ""}
        ]))
        .unwrap();
        let mut errors = Vec::new();
        validate("m", &c, &mut errors);
        assert_eq!(
            fields(&errors),
            [
                "m[0].text",
                "m[1].mimeType",
                "m[1].sha256",
                "m[1].size",
                "m[2].resource.uri",
                "m[2].resource.mimeType",
                "m[3].uri",
                "m[3].name"
            ]
        );
        let mut errors = Vec::new();
        validate("m", &Content::Blocks(vec![]), &mut errors);
        assert_eq!(fields(&errors), ["m"]);
    }
}
