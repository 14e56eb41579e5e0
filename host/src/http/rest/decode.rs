//! Request decoding shared by the REST adapters: JSON bodies within the size limit,
//! `If-Match`, query parameters.

use crate::http::problem::{FieldError, Problem};
use bytes::Bytes;
use http::{Request, StatusCode, header};

/// Reads a JSON body within the size limit. Returns the text, checked to be valid JSON.
pub async fn read_json<B>(req: Request<B>, max: usize) -> Result<String, Problem>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported Media Type",
            format!(
                "send the body as application/json (got {:?})",
                if ct.is_empty() { "nothing" } else { ct }
            ),
        ));
    }
    let bytes = crate::http::body::read_limited(req, max).await?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| Problem::bad_request("malformed-json", "request body is not valid UTF-8"))?;
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&text) {
        return Err(Problem::bad_request(
            "malformed-json",
            format!("request body is not valid JSON: {e}"),
        ));
    }
    Ok(text)
}

/// `{"variables": {...}}` → the variables object as JSON text.
pub async fn apply_variables<B>(req: Request<B>, max: usize) -> Result<String, Problem>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // An empty body means "no variables" so that templates without placeholders are easy.
    let empty = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0");
    if empty {
        return Ok("{}".into());
    }
    let text = read_json(req, max).await?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Problem::bad_request(
            "malformed-json",
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    let invalid = |m: &str| {
        let mut p = Problem::bad_request("validation-failed", m.to_string());
        p.errors = Some(vec![FieldError {
            field: "variables".into(),
            message: m.to_string(),
        }]);
        p
    };
    match value {
        serde_json::Value::Object(mut o) => match o.remove("variables") {
            None | Some(serde_json::Value::Null) => Ok("{}".into()),
            Some(v @ serde_json::Value::Object(_)) => Ok(v.to_string()),
            Some(_) => Err(invalid("variables must be a JSON object")),
        },
        _ => Err(invalid(
            "the body must be a JSON object like {\"variables\": {...}}",
        )),
    }
}

/// `If-Match: "3"` (also `W/"3"` or a bare `3`) → Some(3); `*` or absent → None.
///
/// Parsed by hand rather than with the `headers` crate's `IfMatch`: the prompt store
/// compares-and-sets against exactly one version inside the plugin, so what we need is
/// that one number, not a matcher over a list of entity tags evaluated before the write.
pub fn if_match<B>(req: &Request<B>) -> Result<Option<u64>, Problem> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| Problem::bad_request("invalid-if-match", "If-Match is not ASCII"))?
        .trim();
    if s == "*" {
        return Ok(None);
    }
    let tag = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    tag.parse::<u64>().map(Some).map_err(|_| {
        Problem::bad_request(
            "invalid-if-match",
            format!("If-Match must be a version ETag such as \"3\", got {s}"),
        )
    })
}

pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
