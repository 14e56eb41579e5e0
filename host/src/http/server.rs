//! Listeners and connection handling: hyper 1 (HTTP/1.1 and HTTP/2 via hyper-util's auto
//! builder) over rustls or plain TCP, with connection, header and handshake limits.

use crate::app::App;
use crate::config::{ListenerMode, ServerConfig};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// Runs the listener until `shutdown` resolves, then drains open connections for at most
/// `drain` before returning.
pub async fn run(
    app: Arc<App>,
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    sc: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
) {
    let permits = Arc::new(Semaphore::new(sc.max_connections));
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(connection_builder(&sc));
    tokio::pin!(shutdown);
    loop {
        // Waiting for a permit before accepting applies back-pressure at the TCP backlog
        // instead of accepting connections we would immediately have to drop.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let handshake_timeout = sc.tls_handshake_timeout;
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            serve_connection(
                app,
                stream,
                peer,
                acceptor,
                builder,
                handshake_timeout,
                watcher,
            )
            .await;
        });
    }
    drop(listener);
    // Draining: no new connections; requests in flight finish, and requests arriving on
    // open keep-alive connections are still answered (so a load balancer polling /ready
    // sees 503). Once nothing is in flight, connections are closed gracefully.
    let deadline = tokio::time::Instant::now() + drain;
    while app.inflight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep_until(deadline) => tracing::warn!("drain deadline reached; closing remaining connections"),
    }
}

/// hyper connection settings for the main listener (also used by the benchmark's bare
/// responder, so that the baseline speaks HTTP exactly as the server does).
pub fn connection_builder(sc: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(sc.header_read_timeout)
        .max_headers(sc.max_headers)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(200)
        .max_header_list_size(64 * 1024)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    b
}

async fn serve_connection(
    app: Arc<App>,
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    handshake_timeout: Duration,
    watcher: hyper_util::server::graceful::Watcher,
) {
    match acceptor {
        Some(acceptor) => {
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let svc = service_fn(move |req| {
                let app = app.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        crate::http::router::handle(app, req, true).await,
                    )
                }
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with error");
            }
        }
        None => {
            let svc = service_fn(move |req| {
                let app = app.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        crate::http::router::handle(app, req, false).await,
                    )
                }
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with error");
            }
        }
    }
}

/// Binds the configured address and builds the TLS acceptor for the listener mode.
pub async fn bind(
    sc: &ServerConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<(TcpListener, Option<TlsAcceptor>)> {
    let listener = TcpListener::bind(sc.listen).await?;
    let acceptor = match (sc.mode, tls) {
        (ListenerMode::Tls, Some(cfg)) => Some(TlsAcceptor::from(cfg)),
        _ => None,
    };
    Ok((listener, acceptor))
}
