//! Everything HTTP: listeners, TLS and connection limits (`server.rs`, `tls.rs`), the
//! routing table and built-in endpoints (`router.rs`), CORS, problem bodies, and the two
//! HTTP adapters over the service layer — REST (`rest/`) and MCP's Streamable HTTP
//! transport (`mcp/`). Adapters translate HTTP to service types and back; what a request
//! means is decided in `service/`.

pub mod body;
mod connections;
pub mod cors;
pub mod mcp;
pub mod metrics_listener;
pub mod problem;
pub mod redirect;
pub mod rest;
pub mod router;
pub mod server;
mod side_listener;
pub mod tls;

pub use problem::{FieldError, Problem, json, raw_json};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;

/// Every response body the host produces is complete in memory.
pub type Body = Full<Bytes>;

pub fn method_not_allowed(allow: &str) -> Response<Body> {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method Not Allowed",
        format!("allowed methods: {allow}"),
    )
    .with_header(header::ALLOW, allow)
    .into_response()
}
