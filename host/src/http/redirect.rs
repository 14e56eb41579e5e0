//! `[redirect]`: an optional plain-HTTP listener that answers every request with a 301 to
//! `https://{canonical_host}{path and query}`. The request's `Host` header (and an
//! absolute-form request target's authority) is never used, so the redirect cannot be
//! pointed at another site.

use crate::config::RedirectConfig;
use crate::http::Body;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// Connections the redirect listener serves at once.
const MAX_CONNECTIONS: usize = 256;

/// Binds and starts the listener when `redirect.listen` is set; returns the bound address.
/// Runs until the process exits.
pub async fn spawn(
    cfg: &RedirectConfig,
    header_read_timeout: Duration,
) -> std::io::Result<Option<SocketAddr>> {
    let (Some(addr), Some(host)) = (cfg.listen, cfg.canonical_host.clone()) else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(redirect_addr = %local, canonical_host = %host, "redirect listener up");
    println!("mcp-prompts redirect on http://{local}");
    tokio::spawn(super::side_listener::run(
        listener,
        "redirect",
        MAX_CONNECTIONS,
        header_read_timeout,
        move |req| redirect(&host, req),
    ));
    Ok(Some(local))
}

/// The 301 for one request: only the path and query come from the request.
pub fn redirect<B>(canonical_host: &str, req: &Request<B>) -> Response<Body> {
    let pq = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .filter(|pq| pq.starts_with('/'))
        .unwrap_or("/");
    let location = format!("https://{canonical_host}{pq}");
    let mut resp = Response::new(crate::http::Body::new(Bytes::new()));
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    let h = resp.headers_mut();
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            h.insert(header::LOCATION, v);
        }
        Err(_) => {
            // Cannot happen for a URI hyper parsed; fall back to the site root.
            if let Ok(v) = HeaderValue::from_str(&format!("https://{canonical_host}/")) {
                h.insert(header::LOCATION, v);
            }
        }
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_host_and_absolute_form() {
        let req = Request::builder()
            .uri("http://evil.example/a/b?x=1&y=2")
            .header(header::HOST, "evil.example")
            .body(())
            .unwrap();
        let r = redirect("prompts.example.com", &req);
        assert_eq!(r.status(), 301);
        assert_eq!(
            r.headers()[header::LOCATION],
            "https://prompts.example.com/a/b?x=1&y=2"
        );
        let star = Request::builder().uri("*").body(()).unwrap();
        assert_eq!(
            redirect("h:8443", &star).headers()[header::LOCATION],
            "https://h:8443/"
        );
    }
}
