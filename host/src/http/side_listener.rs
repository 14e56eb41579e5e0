//! The accept loop shared by the small plain-HTTP/1 side listeners (metrics, redirect):
//! a connection cap, a header read timeout, and a synchronous responder. The main
//! listener (TLS, HTTP/2, drain) lives in `server.rs`.

use crate::http::Body;
use http::{Request, Response};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Serves `listener` until the process exits. `name` tags log lines.
pub async fn run<F>(
    listener: TcpListener,
    name: &'static str,
    max_connections: usize,
    header_read_timeout: Duration,
    respond: F,
) where
    F: Fn(&Request<hyper::body::Incoming>) -> Response<Body> + Send + Sync + 'static,
{
    let respond = Arc::new(respond);
    let permits = Arc::new(Semaphore::new(max_connections));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(listener = name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let respond = respond.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let resp = respond(&req);
                async move { Ok::<_, std::convert::Infallible>(resp) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .max_headers(64)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(listener = name, %peer, error = %e, "connection ended with error");
            }
        });
    }
}
