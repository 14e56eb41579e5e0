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
    let bytes = read_json_bytes(req, max).await?;
    let text = utf8(&bytes)?;
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(malformed(&e));
    }
    Ok(text.to_owned())
}

/// The body of a request that must be `application/json` (or `+json`), within `max`.
async fn read_json_bytes<B>(req: Request<B>, max: usize) -> Result<Bytes, Problem>
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
    crate::http::body::read_limited(req, max).await
}

fn utf8(bytes: &[u8]) -> Result<&str, Problem> {
    std::str::from_utf8(bytes)
        .map_err(|_| Problem::bad_request("malformed-json", "request body is not valid UTF-8"))
}

fn malformed(e: &serde_json::Error) -> Problem {
    Problem::bad_request(
        "malformed-json",
        format!("request body is not valid JSON: {e}"),
    )
}

/// `{"variables": {...}}`, parsed once: the variables object is passed on as the text
/// the client sent (the handler parses it), never re-serialised.
#[derive(serde::Deserialize)]
struct ApplyBody<'a> {
    #[serde(borrow, default)]
    variables: Option<&'a serde_json::value::RawValue>,
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
    let bytes = read_json_bytes(req, max).await?;
    let text = utf8(&bytes)?;
    let invalid = |m: &str| {
        let mut p = Problem::bad_request("validation-failed", m.to_string());
        p.errors = Some(vec![FieldError {
            field: "variables".into(),
            message: m.to_string(),
        }]);
        p
    };
    let body: ApplyBody = match serde_json::from_str(text) {
        Ok(b) => b,
        // Valid JSON of another shape (an array, a string) is a validation error, not
        // malformed JSON.
        Err(e) if e.is_data() => {
            return Err(invalid(
                "the body must be a JSON object like {\"variables\": {...}}",
            ));
        }
        Err(e) => return Err(malformed(&e)),
    };
    match body.variables.map(|v| v.get()) {
        None | Some("null") => Ok("{}".into()),
        Some(v) if v.starts_with('{') => Ok(v.to_owned()),
        Some(_) => Err(invalid("variables must be a JSON object")),
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn apply_request(body: &str) -> Request<Full<Bytes>> {
        Request::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap()
    }

    async fn variables(body: &str) -> Result<String, (u16, String)> {
        apply_variables(apply_request(body), 1024)
            .await
            .map_err(|p| (p.status, p.detail.clone()))
    }

    #[tokio::test]
    async fn apply_bodies_pass_the_variables_text_through() {
        assert_eq!(
            variables(r#"{"variables": {"a": "x", "n": [1, 2]}}"#).await,
            Ok(r#"{"a": "x", "n": [1, 2]}"#.into())
        );
        assert_eq!(variables(r#"{"variables": null}"#).await, Ok("{}".into()));
        assert_eq!(variables(r#"{"other": 1}"#).await, Ok("{}".into()));
        assert_eq!(variables("{}").await, Ok("{}".into()));
    }

    #[tokio::test]
    async fn apply_bodies_of_the_wrong_shape_are_named() {
        let (status, detail) = variables(r#"{"variables": [1]}"#).await.unwrap_err();
        assert_eq!(
            (status, detail.as_str()),
            (400, "variables must be a JSON object")
        );
        let (status, detail) = variables("[1]").await.unwrap_err();
        assert_eq!(status, 400);
        assert!(detail.contains("must be a JSON object"), "{detail}");
        let (status, detail) = variables(r#"{"variables": {"a": }"#).await.unwrap_err();
        assert_eq!(status, 400);
        assert!(
            detail.starts_with("request body is not valid JSON"),
            "{detail}"
        );
    }
}
