//! RFC 9457 problem details: every error response of the API has this shape.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

/// Problem type URIs are relative references under `/problems/`, documented in
/// docs/api.md; clients match on `type`, humans read `title` and `detail`.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Field-level validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// Names of missing template variables.
    #[serde(rename = "missingVariables", skip_serializing_if = "Option::is_none")]
    pub missing_variables: Option<Vec<String>>,
    /// Correlates a server-side failure with its log line.
    #[serde(rename = "errorId", skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip)]
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            errors: None,
            missing_variables: None,
            error_id: None,
            request_id: None,
            headers: Vec::new(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not Found", detail)
    }

    pub fn bad_request(slug: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, slug, "Bad Request", detail)
    }

    pub fn with_header(mut self, name: http::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    pub fn into_response(self) -> Response<crate::http::Body> {
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = Response::new(crate::http::Body::new(Bytes::from(body)));
        *resp.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (k, v) in self.headers {
            resp.headers_mut().append(k, v);
        }
        resp
    }
}

/// A JSON success response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<crate::http::Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    let mut resp = Response::new(crate::http::Body::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A JSON response from already-serialised JSON text (as plugins return it).
pub fn raw_json(status: StatusCode, body: String) -> Response<crate::http::Body> {
    let mut resp = Response::new(crate::http::Body::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Headers a policy may set. Framing, security and CORS headers stay the host's.
fn policy_header(name: &str, value: &str) -> Option<(http::HeaderName, HeaderValue)> {
    const RESERVED: &[&str] = &[
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "set-cookie",
        "strict-transport-security",
        "www-authenticate",
        "x-request-id",
    ];
    let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
    // CORS is the host's too (http/cors.rs, from `[cors]`).
    if RESERVED.contains(&name.as_str()) || name.as_str().starts_with("access-control-") {
        return None;
    }
    Some((name, HeaderValue::from_str(value).ok()?))
}

/// The policy headers that may go on a response.
pub fn policy_headers(hs: Vec<(String, String)>) -> Vec<(http::HeaderName, HeaderValue)> {
    hs.iter().filter_map(|(k, v)| policy_header(k, v)).collect()
}

/// A service error as an HTTP problem: the kind's status and title, the error's problem
/// type, and the headers HTTP semantics call for (challenges, `Allow`, `Retry-After`).
impl From<crate::service::Error> for Problem {
    fn from(e: crate::service::Error) -> Self {
        use crate::service::{Challenge, ErrorKind};
        let status =
            StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut p = Problem::new(status, e.code, e.kind.title(), e.detail);
        if !e.fields.is_empty() {
            p.errors = Some(
                e.fields
                    .into_iter()
                    .map(|f| FieldError {
                        field: f.field,
                        message: f.message,
                    })
                    .collect(),
            );
        }
        p.missing_variables = e.missing_variables;
        p.error_id = e.error_id;
        p.request_id = e.request_id;
        p.headers.extend(policy_headers(e.headers));
        match e.kind {
            ErrorKind::Unauthorized => {
                let challenge = match e.challenge {
                    Some(Challenge::InvalidToken(r)) => format!(
                        "Bearer realm=\"mcp-prompts\", error=\"invalid_token\", error_description=\"{r}\""
                    ),
                    _ => "Bearer realm=\"mcp-prompts\"".to_string(),
                };
                p = p.with_header(header::WWW_AUTHENTICATE, &challenge);
            }
            ErrorKind::InsufficientScope => {
                let challenge = format!(
                    "Bearer realm=\"mcp-prompts\", error=\"insufficient_scope\", scope=\"{}\"",
                    e.scopes.join(" ")
                );
                p = p.with_header(header::WWW_AUTHENTICATE, &challenge);
            }
            ErrorKind::ReadOnly => p = p.with_header(header::ALLOW, "GET"),
            ErrorKind::Unavailable | ErrorKind::Busy => p = p.with_header(header::RETRY_AFTER, "1"),
            _ => {}
        }
        p
    }
}
