//! Everything HTTP: listeners, TLS and connection limits (`server.rs`, `tls.rs`), the
//! routing table and built-in endpoints (`router.rs`), CORS, problem bodies, and the two
//! HTTP adapters over the service layer — REST (`rest/`) and MCP's Streamable HTTP
//! transport (`mcp/`). Adapters translate HTTP to service types and back; what a request
//! means is decided in `service/`.

pub mod body;
pub mod client;
mod connections;
pub mod cors;
pub mod mcp;
pub mod metrics_listener;
pub mod problem;
pub mod proxy;
pub mod redirect;
pub mod rest;
pub mod router;
pub mod server;
mod side_listener;
pub mod tls;

pub use problem::{FieldError, Problem, json, raw_json};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A response body: complete in memory (every route), or a stream of chunks from a
/// channel (the MCP server-to-client event stream, whose end is not known up front), or
/// a relayed stream that may end in an error (a wasi:http component's body, http/proxy.rs).
pub struct Body(BodyKind);

enum BodyKind {
    Full(Option<Bytes>),
    Stream(tokio::sync::mpsc::Receiver<Bytes>),
    Relay(tokio::sync::mpsc::Receiver<Result<Bytes, BodyAborted>>),
}

/// A streamed body that could not be completed. Hyper aborts the response (resets the
/// stream, or closes the connection without the final chunk), so the client never takes
/// a truncated body for a whole one.
#[derive(Debug, thiserror::Error)]
#[error("response body aborted: {0}")]
pub struct BodyAborted(pub String);

impl Body {
    pub fn new(data: impl Into<Bytes>) -> Self {
        let b: Bytes = data.into();
        Self(BodyKind::Full((!b.is_empty()).then_some(b)))
    }

    /// A body that ends when the sender is dropped.
    pub fn channel(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Self {
        Self(BodyKind::Stream(rx))
    }

    /// A body that ends when the sender is dropped, or aborts at the first `Err`.
    pub fn relay(rx: tokio::sync::mpsc::Receiver<Result<Bytes, BodyAborted>>) -> Self {
        Self(BodyKind::Relay(rx))
    }
}

impl Default for Body {
    fn default() -> Self {
        Self(BodyKind::Full(None))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = BodyAborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match &mut self.0 {
            BodyKind::Full(b) => Poll::Ready(b.take().map(|b| Ok(hyper::body::Frame::data(b)))),
            BodyKind::Stream(rx) => rx
                .poll_recv(cx)
                .map(|c| c.map(|b| Ok(hyper::body::Frame::data(b)))),
            BodyKind::Relay(rx) => rx
                .poll_recv(cx)
                .map(|c| c.map(|r| r.map(hyper::body::Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.0, BodyKind::Full(None))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match &self.0 {
            BodyKind::Full(b) => {
                hyper::body::SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64))
            }
            BodyKind::Stream(_) | BodyKind::Relay(_) => hyper::body::SizeHint::default(),
        }
    }
}

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
