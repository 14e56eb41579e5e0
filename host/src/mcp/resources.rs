//! Stored prompts as MCP resources `prompt://{id}` (JSON documents).

use rmcp::model::{Resource, ResourceTemplate};
use serde_json::Value;

pub const SCHEME: &str = "prompt://";
pub const TEMPLATE: &str = "prompt://{id}";
pub const MIME: &str = "application/json";

/// Characters escaped in the id part: everything but RFC 3986 unreserved characters.
const ID: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn uri(id: &str) -> String {
    format!("{SCHEME}{}", percent_encoding::utf8_percent_encode(id, ID))
}

/// The prompt id of a `prompt://{id}` URI.
pub fn parse(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix(SCHEME)?;
    if rest.is_empty() || rest.contains(['/', '?', '#']) {
        return None;
    }
    percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

pub fn to_resource(prompt: &Value) -> Option<Resource> {
    let id = prompt.get("id")?.as_str()?;
    let mut r = Resource::new(uri(id), id).with_mime_type(MIME);
    if let Some(n) = prompt.get("name").and_then(Value::as_str) {
        r = r.with_title(n);
    }
    if let Some(d) = prompt.get("description").and_then(Value::as_str) {
        r = r.with_description(d);
    }
    Some(r)
}

pub fn template() -> ResourceTemplate {
    ResourceTemplate::new(TEMPLATE, "prompt")
        .with_title("Stored prompt")
        .with_description("A stored prompt as JSON, by id")
        .with_mime_type(MIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_round_trip() {
        assert_eq!(uri("code-review"), "prompt://code-review");
        assert_eq!(parse(&uri("a b/c")).as_deref(), Some("a b/c"));
        assert_eq!(parse("prompt://"), None);
        assert_eq!(parse("file:///x"), None);
        assert_eq!(parse("prompt://a/b"), None);
    }
}
