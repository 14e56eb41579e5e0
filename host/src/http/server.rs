//! Listeners and connection handling: hyper 1 (HTTP/1.1 or HTTP/2, chosen by ALPN on TLS and
//! by the client preface in plain mode) over rustls or plain TCP, with connection, header,
//! handshake and idle limits. Silent and idle connections are closed after
//! `server.idle_timeout`; when every slot is taken the oldest idle connection is evicted so
//! that new clients and health checks are still served.

use crate::app::App;
use crate::config::{ListenerMode, ServerConfig};
use crate::http::connections::{ConnState, GuardedBody, Table};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

/// How long an idle or evicted connection gets to close gracefully before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// While every slot is busy, how often to look again for an idle connection to evict.
const EVICT_RETRY: Duration = Duration::from_millis(100);

/// One builder per protocol choice, built once per listener.
struct Builders {
    auto: auto::Builder<TokioExecutor>,
    h1: auto::Builder<TokioExecutor>,
    h2: auto::Builder<TokioExecutor>,
}

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
    let table = Arc::new(Table::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let base = connection_builder(&sc);
    let builders = Arc::new(Builders {
        h1: base.clone().http1_only(),
        h2: base.clone().http2_only(),
        auto: base,
    });
    tokio::pin!(shutdown);
    'accept: loop {
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
        // A full table does not make the new client wait behind connections that are
        // doing nothing: the longest-idle one is asked to close and its slot reused. Only
        // when every connection is serving a request does the new one wait (and the
        // backlog absorbs the rest).
        // One eviction per close grace, so a slow-closing victim does not make us evict
        // a whole row of idle connections for one newcomer.
        let mut next_eviction = tokio::time::Instant::now();
        let permit = loop {
            if let Ok(p) = permits.clone().try_acquire_owned() {
                break p;
            }
            if tokio::time::Instant::now() >= next_eviction {
                if table.evict_oldest_idle() {
                    tracing::debug!(%peer, "connection table full; evicting the longest-idle connection");
                }
                next_eviction = tokio::time::Instant::now() + CLOSE_GRACE + EVICT_RETRY;
            }
            tokio::select! {
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => break p,
                    Err(_) => break 'accept,
                },
                _ = tokio::time::sleep(EVICT_RETRY) => {}
                _ = &mut shutdown => break 'accept,
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let builders = builders.clone();
        let registration = table.register();
        let limits = Limits {
            handshake: sc.tls_handshake_timeout,
            idle: sc.idle_timeout,
        };
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let state = registration.state.clone();
            serve_connection(app, stream, peer, acceptor, &builders, limits, state, stop).await;
            drop(registration);
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
    let _ = stop_tx.send(true);
    while !table.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if table.is_empty() {
        tracing::info!("all connections closed");
    } else {
        tracing::warn!("drain deadline reached; closing remaining connections");
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
        .max_buf_size(sc.max_header_size.0.max(8192) as usize)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(200)
        .max_header_list_size(sc.max_header_size.0.min(u32::MAX as u64) as u32)
        .max_pending_accept_reset_streams(Some(50))
        .max_local_error_reset_streams(Some(1024))
        .keep_alive_interval(Some(Duration::from_secs(30)));
    b
}

#[derive(Clone, Copy)]
struct Limits {
    handshake: Duration,
    idle: Duration,
}

#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    app: Arc<App>,
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    builders: &Builders,
    limits: Limits,
    state: Arc<ConnState>,
    stop: watch::Receiver<bool>,
) {
    match acceptor {
        Some(acceptor) => {
            let tls = tokio::select! {
                r = tokio::time::timeout(limits.handshake, acceptor.accept(stream)) => match r {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
                _ = state.evicted.notified() => return,
            };
            // The protocol the handshake agreed on is the one spoken: a client that asked
            // for http/1.1 cannot switch to HTTP/2 by sending its preface, and one that
            // negotiated h2 gets HTTP/2's limits from the first byte.
            let builder = match tls.get_ref().1.alpn_protocol() {
                Some(b"h2") => &builders.h2,
                Some(b"http/1.1") => &builders.h1,
                _ => &builders.auto,
            };
            drive(
                app,
                TokioIo::new(tls),
                peer,
                true,
                builder,
                limits,
                state,
                stop,
            )
            .await;
        }
        None => {
            drive(
                app,
                TokioIo::new(stream),
                peer,
                false,
                &builders.auto,
                limits,
                state,
                stop,
            )
            .await;
        }
    }
}

/// Serves one connection until the client closes it, it has been idle for
/// `limits.idle`, the table evicts it, or the server drains.
#[allow(clippy::too_many_arguments)]
async fn drive<I>(
    app: Arc<App>,
    io: TokioIo<I>,
    peer: SocketAddr,
    tls: bool,
    builder: &auto::Builder<TokioExecutor>,
    limits: Limits,
    state: Arc<ConnState>,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc_state = state.clone();
    let client = crate::http::client::Peer(peer.ip());
    let svc = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(client);
        let app = app.clone();
        let guard = svc_state.begin_request();
        async move {
            let resp = crate::http::router::handle(app, req, tls).await;
            Ok::<_, std::convert::Infallible>(resp.map(|b| GuardedBody::new(b, guard)))
        }
    });
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    // Set once the connection has been asked to close; after CLOSE_GRACE it is dropped.
    let mut closing: Option<tokio::time::Instant> = None;
    let stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
        closing = Some(tokio::time::Instant::now() + CLOSE_GRACE);
    }
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with error");
                }
                return;
            }
            _ = state.idle_for(limits.idle), if closing.is_none() => {
                tracing::debug!(%peer, "closing idle connection");
                conn.as_mut().graceful_shutdown();
                closing = Some(tokio::time::Instant::now() + CLOSE_GRACE);
            }
            _ = state.evicted.notified(), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(tokio::time::Instant::now() + CLOSE_GRACE);
            }
            r = stop.changed(), if closing.is_none() => {
                if r.is_err() || *stop.borrow() {
                    // Draining: requests in flight have finished (or the drain deadline
                    // passed); hyper completes any response it is writing.
                    conn.as_mut().graceful_shutdown();
                    closing = Some(tokio::time::Instant::now() + CLOSE_GRACE);
                }
            }
            _ = sleep_until_opt(closing) => return,
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
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
