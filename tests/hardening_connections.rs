//! Hardening, silent and heavy connections (issue 15, items 2 and 5): connections that send
//! nothing are closed after `server.idle_timeout`, whether silent since accept, idle between
//! keep-alive requests or on HTTP/2 without a preface; a full connection table evicts its
//! longest-idle connection so new clients and health checks are served; the protocol is the
//! one ALPN agreed; HTTP/1.1 header blocks are capped by `server.max_header_size`.

use crate::common;

use common::{Server, base_config};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};

fn server(settings: &str) -> Server {
    Server::start_with(&base_config("").replace("[server]", &format!("[server]\n{settings}")))
}

fn connector(s: &Server, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    let pem = std::fs::read(s.data_dir().join("tls/cert.pem")).unwrap();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(cfg))
}

async fn tls(s: &Server, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", s.port())).await.unwrap();
    connector(s, alpn)
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap()
}

/// True when the server closes the stream within `within` (reading and discarding whatever
/// it sends first, such as HTTP/2 SETTINGS).
async fn closed_by_server<S: AsyncRead + Unpin>(mut s: S, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

/// Reads one HTTP/1.1 response head and a Content-Length body.
async fn read_response<S: AsyncRead + Unpin>(s: &mut S) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed before a full response: {:?}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if out.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn silent_connection_after_tls_handshake_is_closed() {
    // header_read_timeout starts at the first byte; the idle timeout starts at accept.
    let s = server("idle_timeout = \"1s\"");
    let conn = tls(&s, &[b"http/1.1"]).await;
    assert!(
        closed_by_server(conn, Duration::from_secs(15)).await,
        "a connection that sent nothing after the handshake stayed open"
    );
}

#[tokio::test]
async fn silent_http2_connection_without_preface_is_closed() {
    let s = server("idle_timeout = \"1s\"");
    let conn = tls(&s, &[b"h2"]).await;
    assert_eq!(conn.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert!(
        closed_by_server(conn, Duration::from_secs(15)).await,
        "an HTTP/2 connection without a preface stayed open"
    );
}

#[tokio::test]
async fn silent_plain_tcp_connection_is_closed() {
    let s = Server::start_with(
        &base_config("")
            .replace("mode = \"tls\"", "mode = \"plain\"")
            .replace("[server]", "[server]\nidle_timeout = \"1s\""),
    );
    let tcp = TcpStream::connect(("127.0.0.1", s.port())).await.unwrap();
    assert!(closed_by_server(tcp, Duration::from_secs(15)).await);
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_independently_of_header_timeout() {
    // A long header_read_timeout must not keep an idle keep-alive connection open.
    let s = Server::start_with(
        &base_config("")
            .replace(
                "header_read_timeout = \"2s\"",
                "header_read_timeout = \"60s\"",
            )
            .replace("[server]", "[server]\nidle_timeout = \"1s\""),
    );
    let mut conn = tls(&s, &[b"http/1.1"]).await;
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let resp = read_response(&mut conn).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        closed_by_server(conn, Duration::from_secs(15)).await,
        "an idle keep-alive connection stayed open"
    );
}

#[tokio::test]
async fn full_connection_table_still_serves_health_checks_and_new_clients() {
    // Long idle timeout: only eviction can make room.
    let s = server("max_connections = 8\nidle_timeout = \"300s\"");
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(tls(&s, &[b"http/1.1"]).await);
    }
    for i in 0..3 {
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            s.client.get(s.url("/health")).send(),
        )
        .await
        .unwrap_or_else(|_| panic!("/health #{i} waited behind idle connections"))
        .unwrap();
        assert_eq!(r.status(), 200);
    }
    // The oldest silent connection was the one evicted.
    let first = held.remove(0);
    assert!(closed_by_server(first, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn alpn_http11_connection_is_not_switched_to_http2_by_a_preface() {
    let s = Server::start();
    let mut conn = tls(&s, &[b"http/1.1"]).await;
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    // HTTP/1.1 answers with an error status (hyper: 505) or just closes; HTTP/2 would
    // answer with a binary SETTINGS frame.
    let head = &buf[..n];
    assert!(
        n == 0 || head.starts_with(b"HTTP/1.1 4") || head.starts_with(b"HTTP/1.1 5"),
        "the server switched to HTTP/2 on an http/1.1 connection: {head:?}"
    );
}

#[tokio::test]
async fn oversized_http11_header_block_is_refused() {
    let s = server("max_header_size = \"16KiB\"");
    let mut conn = tls(&s, &[b"http/1.1"]).await;
    let big = "a".repeat(100 * 1024);
    let req = format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big}\r\n\r\n");
    // The server may stop reading before the whole block is sent.
    let _ = conn.write_all(req.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(
        !text.starts_with("HTTP/1.1 200"),
        "a 100 KiB header passed a 16 KiB cap: {text}"
    );
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
}
