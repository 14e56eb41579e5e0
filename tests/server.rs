//! Listener behaviour: TLS versions, handshake and header timeouts, connection limit,
//! plain-HTTP mode.

use crate::common;

use common::{Server, base_config};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};

fn connector(s: &Server, versions: &[&'static rustls::SupportedProtocolVersion]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    let pem = std::fs::read(s.data_dir().join("tls/cert.pem")).unwrap();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

async fn get_health_over(conn: TlsConnector, port: u16) -> String {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut tls = conn
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    tls.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn tls12_and_tls13_are_served() {
    let s = Server::start();
    let r = get_health_over(connector(&s, &[&rustls::version::TLS12]), s.port()).await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let r = get_health_over(connector(&s, &[&rustls::version::TLS13]), s.port()).await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

/// Reads until EOF or error; returns whether the server closed the connection.
async fn closed_by_server<S: tokio::io::AsyncRead + Unpin>(mut s: S, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let r = tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    r.is_ok()
}

#[tokio::test]
async fn silent_tls_client_is_dropped_after_handshake_timeout() {
    let s = Server::start();
    let tcp = TcpStream::connect(("127.0.0.1", s.port())).await.unwrap();
    // tls_handshake_timeout is 2s in the test config; give it ample slack.
    assert!(closed_by_server(tcp, Duration::from_secs(15)).await);
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let s = Server::start();
    let tcp = TcpStream::connect(("127.0.0.1", s.port())).await.unwrap();
    let mut tls = connector(&s, &[&rustls::version::TLS13])
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    // Start a request and never finish its headers (header_read_timeout is 2s).
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(closed_by_server(tls, Duration::from_secs(15)).await);
}

// What a full connection table does (evicts its longest-idle connection) is tested in
// tests/hardening_connections.rs.

#[tokio::test]
async fn plain_mode_serves_http() {
    let s = Server::start_with(&base_config("").replace("mode = \"tls\"", "mode = \"plain\""));
    assert!(s.base.starts_with("http://"), "{}", s.base);
    let r = s.client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn ready_follows_storage_health() {
    let s = Server::start();
    assert_eq!(
        s.client.get(s.url("/ready")).send().await.unwrap().status(),
        200
    );
    let blobs = s.data_dir().join("blobs");
    let parked = s.data_dir().join("blobs-parked");
    std::fs::rename(&blobs, &parked).unwrap();
    assert_eq!(
        s.client.get(s.url("/ready")).send().await.unwrap().status(),
        503
    );
    assert_eq!(
        s.client
            .get(s.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    std::fs::rename(&parked, &blobs).unwrap();
    assert_eq!(
        s.client.get(s.url("/ready")).send().await.unwrap().status(),
        200
    );
}

#[test]
fn a_plugin_that_fails_to_load_stops_the_server_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config("")
        .replace("policy.wasm", "no-such-plugin.wasm")
        .replace("{data}", &dir.path().join("data").display().to_string());
    let path = dir.path().join("config.toml");
    std::fs::write(&path, cfg).unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"policy\"") && err.contains("no-such-plugin.wasm"),
        "{err}"
    );
}
