//! The baseline for `scripts/bench.sh`: a bare HTTPS responder on the same stack as the
//! server (tokio, rustls with the aws-lc-rs provider, TLS 1.2/1.3, ALPN h2 + http/1.1,
//! hyper-util's auto connection builder with the server's settings) that answers every
//! request with the same small JSON body. No routing, no auth, no plugins, no storage: what
//! the server measures above this is the cost of everything the server adds.
//!
//! ```sh
//! bare_responder --listen 127.0.0.1:0 --cert data/tls/cert.pem --key data/tls/key.pem
//! ```
//!
//! Prints `listening on https://ADDR` on stdout once it accepts connections; runs until
//! killed (SIGTERM / Ctrl-C).

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The fixed response body: small, JSON, like a health answer.
const BODY: &[u8] = br#"{"status":"ok","service":"bare-responder"}"#;

#[derive(Parser)]
#[command(about = "Bare hyper + rustls HTTPS responder (benchmark baseline)")]
struct Args {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// PEM certificate chain.
    #[arg(long)]
    cert: PathBuf,
    /// PEM private key.
    #[arg(long)]
    key: PathBuf,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare_responder: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read certificates from {}", cert.display()))?;
    if certs.is_empty() {
        bail!("no PEM certificate found in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("invalid certificate or key")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The server's own connection settings, with its config defaults.
fn connection_builder() -> auto::Builder<TokioExecutor> {
    mcp_prompts::http::server::connection_builder(&mcp_prompts::config::ServerConfig::default())
}

async fn respond(
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    // Read the request body (if any) as the server does, so POST baselines are comparable.
    req.into_body().collect().await?;
    let mut resp = Response::new(Full::new(Bytes::from_static(BODY)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let acceptor = TlsAcceptor::from(tls_config(&args.cert, &args.key)?);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("listening on https://{addr}");
    std::io::stdout().flush()?;
    let builder = Arc::new(connection_builder());
    loop {
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("bare_responder: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                .await
            {
                Ok(Ok(s)) => s,
                _ => return,
            };
            let conn =
                builder.serve_connection_with_upgrades(TokioIo::new(tls), service_fn(respond));
            let _ = conn.await;
        });
    }
}
