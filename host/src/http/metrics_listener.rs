//! `/metrics`: the scrape response (shared by the main listener's router and the separate
//! listener) and the optional separate plain-HTTP listener (`metrics.listen`).

use crate::app::App;
use crate::http::Problem;
use crate::http::{Body, method_not_allowed};
use crate::telemetry::metrics::{OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Connections the separate listener serves at once (scrapers, not clients).
const MAX_CONNECTIONS: usize = 32;

/// Answers a request for `/metrics`: GET/HEAD only, the bearer token if one is configured,
/// OpenMetrics text unless the client asks for `text/plain` only.
pub fn scrape<B>(app: &App, req: &Request<B>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if !app.metrics.endpoint.authorized(authorization) {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "a valid bearer token is required for /metrics",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")
        .into_response();
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let openmetrics =
        accept.contains("application/openmetrics-text") || !accept.contains("text/plain");
    let pool = app.runtime.pooling_metrics();
    let text = app.metrics.encode(pool.as_ref(), openmetrics);
    let content_type = if openmetrics {
        OPENMETRICS_CONTENT_TYPE
    } else {
        PROMETHEUS_TEXT_CONTENT_TYPE
    };
    let mut resp = Response::new(crate::http::Body::new(Bytes::from(text)));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Binds and starts the separate listener when `metrics.listen` is set; returns the bound
/// address. It serves only `/metrics` (everything else is 404) and runs until the process
/// exits.
pub async fn spawn(app: Arc<App>) -> std::io::Result<Option<SocketAddr>> {
    let Some(addr) = app.metrics.endpoint.separate_listener() else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(metrics_addr = %local, "metrics listener up");
    println!("mcp-prompts metrics on http://{local}/metrics");
    tokio::spawn(super::side_listener::run(
        listener,
        "metrics",
        MAX_CONNECTIONS,
        Duration::from_secs(10),
        move |req| respond(&app, req),
    ));
    Ok(Some(local))
}

fn respond<B>(app: &App, req: &Request<B>) -> Response<Body> {
    let mut resp = if req.uri().path() == "/metrics" {
        scrape(app, req)
    } else {
        Problem::not_found(format!("no route for {}", req.uri().path())).into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
