//! The JSON-RPC and HTTP wire details of `/mcp`: message classification, error bodies,
//! event-stream framing, `Accept` matching and the SEP-2243 standard headers.

use crate::http::Body;
use crate::mcp::version;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use rmcp::model::{ErrorCode, ErrorData};
use serde_json::{Map, Value, json};

pub(super) const METHOD_HEADER: &str = "mcp-method";
pub(super) const NAME_HEADER: &str = "mcp-name";
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// A JSON-RPC error message.
pub(super) fn rpc_error(id: Option<&Value>, e: &ErrorData) -> Value {
    let mut m = Map::new();
    m.insert("jsonrpc".into(), json!("2.0"));
    // An id we could not read is null (2025) — the 2026 schema also accepts it absent,
    // and null is what every revision's clients understand.
    m.insert("id".into(), id.cloned().unwrap_or(Value::Null));
    m.insert(
        "error".into(),
        serde_json::to_value(e).unwrap_or(Value::Null),
    );
    Value::Object(m)
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    crate::http::json(status, body)
}

pub(super) fn rpc_error_response(
    status: StatusCode,
    id: Option<&Value>,
    e: ErrorData,
) -> Response<Body> {
    json_response(status, &rpc_error(id, &e))
}

pub(super) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    let mut all = h.get_all(name).iter();
    let Some(v) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(format!("duplicate {name} header"));
    }
    v.to_str()
        .map(Some)
        .map_err(|_| format!("{name} header is not visible ASCII"))
}

/// Header values that needed it are sent as `=?base64?…?=` (SEP-2243).
pub(super) fn decode_header_value(v: &str) -> Option<String> {
    use base64::Engine as _;
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        None => Some(v.to_string()),
    }
}

/// Does the `Accept` header admit `mime` (exactly, `type/*` or `*/*`, q > 0)?
pub(super) fn accepts(accept: &str, mime: &str) -> bool {
    let (ty, _) = mime.split_once('/').unwrap_or((mime, ""));
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let m = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q_zero = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !q_zero && (m == mime || m == "*/*" || m == format!("{ty}/*"))
    })
}

/// What kind of JSON-RPC message a POST carried.
pub(super) enum Incoming {
    Request {
        id: Value,
        method: String,
        msg: Value,
    },
    Notification {
        method: String,
    },
    /// A response to a server request; we send none, so it is acknowledged and dropped.
    Response,
}

/// Parses a POST body and classifies it: not JSON is `-32700` (parse error), JSON that
/// is not one JSON-RPC message is `-32600` (invalid request), with the id when it could
/// be read.
pub(super) fn decode(body: &[u8]) -> Result<Incoming, (Option<Value>, ErrorData)> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        (
            None,
            ErrorData::parse_error(format!("the body is not valid JSON: {e}"), None),
        )
    })?;
    classify(value)
}

pub(super) fn classify(v: Value) -> Result<Incoming, (Option<Value>, ErrorData)> {
    let invalid =
        |id: Option<Value>, m: &str| Err((id, ErrorData::invalid_request(m.to_string(), None)));
    let Value::Object(o) = &v else {
        if v.is_array() {
            return invalid(
                None,
                "JSON-RPC batches are not supported (removed in MCP 2025-06-18): send one message per request",
            );
        }
        return invalid(None, "the body must be a JSON-RPC 2.0 message object");
    };
    let id = o.get("id").cloned();
    if let Some(id) = &id
        && !(id.is_string() || id.is_i64() || id.is_u64())
    {
        return invalid(None, "id must be a string or an integer");
    }
    if o.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(id, "jsonrpc must be \"2.0\"");
    }
    match o.get("method") {
        Some(Value::String(m)) => {
            if let Some(p) = o.get("params")
                && !p.is_object()
            {
                return invalid(id, "params must be an object");
            }
            let method = m.clone();
            Ok(match id {
                Some(id) => Incoming::Request { id, method, msg: v },
                None => Incoming::Notification { method },
            })
        }
        Some(_) => invalid(id, "method must be a string"),
        None if id.is_some() && (o.contains_key("result") || o.contains_key("error")) => {
            Ok(Incoming::Response)
        }
        None => invalid(id, "not a JSON-RPC request, notification or response"),
    }
}

pub(super) fn meta_version(msg: &Value) -> Option<String> {
    msg.get("params")?
        .get("_meta")?
        .get(META_VERSION)?
        .as_str()
        .map(str::to_string)
}

pub(super) fn accepted() -> Response<Body> {
    let mut r = Response::new(Body::new(Bytes::new()));
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

pub(super) fn unsupported(requested: &str) -> ErrorData {
    ErrorData::new(
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
        format!(
            "unsupported protocol version {requested:?}; supported: {}",
            version::supported_strings().join(", ")
        ),
        Some(json!({"requested": requested, "supported": version::supported_strings()})),
    )
}

/// SEP-2243: `Mcp-Method` must equal the body's method and, for methods that name a
/// target, `Mcp-Name` the name/uri in the body.
pub(super) fn check_standard_headers(
    h: &HeaderMap,
    method: &str,
    params: Option<&Value>,
) -> Result<(), String> {
    match header_str(h, METHOD_HEADER)? {
        None => return Err("missing required Mcp-Method header".into()),
        Some(v) if v != method => {
            return Err(format!(
                "Mcp-Method header {v:?} does not match body method {method:?}"
            ));
        }
        Some(_) => {}
    }
    let key = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => "uri",
        _ => return Ok(()),
    };
    let Some(expected) = params.and_then(|p| p.get(key)).and_then(Value::as_str) else {
        return Ok(());
    };
    match header_str(h, NAME_HEADER)? {
        None => Err(format!("missing required Mcp-Name header for {method}")),
        Some(raw) => {
            let got = decode_header_value(raw).ok_or("Mcp-Name header is not valid Base64")?;
            if got == expected {
                Ok(())
            } else {
                Err(format!(
                    "Mcp-Name header {got:?} does not match body {key} {expected:?}"
                ))
            }
        }
    }
}

/// An SSE body with one `message` event per JSON-RPC message.
pub(super) fn sse(messages: &[Value]) -> Response<Body> {
    let mut out = String::new();
    for m in messages {
        out.push_str("event: message\ndata: ");
        out.push_str(&m.to_string());
        out.push_str("\n\n");
    }
    let mut r = Response::new(Body::new(Bytes::from(out)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r
}

#[cfg(test)]
#[path = "wire_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_ranges() {
        assert!(accepts(
            "application/json, text/event-stream",
            "text/event-stream"
        ));
        assert!(accepts("*/*", "application/json"));
        assert!(accepts("application/*;q=0.5", "application/json"));
        assert!(!accepts("application/json;q=0", "application/json"));
        assert!(!accepts("text/html", "application/json"));
    }

    #[test]
    fn classify_messages() {
        assert!(matches!(
            classify(json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])),
            Err((None, e)) if e.code == ErrorCode::INVALID_REQUEST
        ));
        assert!(matches!(
            classify(json!({"jsonrpc": "1.0", "id": 1, "method": "ping"})),
            Err((Some(_), e)) if e.code == ErrorCode::INVALID_REQUEST
        ));
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})),
            Ok(Incoming::Notification { .. })
        ));
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "id": 3, "result": {}})),
            Ok(Incoming::Response)
        ));
    }

    #[test]
    fn header_values() {
        assert_eq!(
            decode_header_value("=?base64?aMOpbGxv?=").as_deref(),
            Some("héllo")
        );
        assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
        let mut h = HeaderMap::new();
        h.insert(METHOD_HEADER, HeaderValue::from_static("tools/call"));
        h.insert(NAME_HEADER, HeaderValue::from_static("get_prompt"));
        let p = json!({"name": "get_prompt"});
        assert!(check_standard_headers(&h, "tools/call", Some(&p)).is_ok());
        assert!(check_standard_headers(&h, "tools/list", None).is_err());
        let other = json!({"name": "delete_prompt"});
        assert!(check_standard_headers(&h, "tools/call", Some(&other)).is_err());
    }
}
