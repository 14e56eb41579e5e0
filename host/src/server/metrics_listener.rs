//! `/metrics`: the scrape response (shared by the main listener's router and the separate
//! listener) and the optional separate plain-HTTP listener (`metrics.listen`).

use crate::api::Problem;
use crate::app::App;
use crate::router::{Body, method_not_allowed};
use crate::telemetry::metrics::{OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

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
    let mut resp = Response::new(Full::new(Bytes::from(text)));
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
    tokio::spawn(run(app, listener));
    Ok(Some(local))
}

async fn run(app: Arc<App>, listener: TcpListener) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(&app, &req)) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_headers(64)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "metrics connection ended with error");
            }
        });
    }
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
