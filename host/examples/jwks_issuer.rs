//! A local stand-in for a Cognito user pool, for `scripts/bench.sh`'s RS256 row: serves a
//! JWKS over plain HTTP on 127.0.0.1 at `<issuer>/.well-known/jwks.json` (the layout
//! Cognito uses) and prints one Cognito-shaped access token (`kid`, `token_use`,
//! `client_id`, `iss`) signed with the matching RSA key.
//!
//! ```sh
//! jwks_issuer --key tests/fixtures/auth/rsa-a.pem --jwk tests/fixtures/auth/rsa-a.jwk.json \
//!             --sub bench-user --client-id bench-client
//! ```
//!
//! Prints `token TOKEN` and then `listening on http://127.0.0.1:PORT/pool` (the issuer) on
//! stdout; runs until killed. The keys are the repository's test-only fixtures.

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(about = "Local JWKS issuer with one RS256 token (benchmarks only)")]
struct Args {
    /// RSA private key (PEM) that signs the token.
    #[arg(long)]
    key: PathBuf,
    /// The public JWK of that key (its `kid` becomes the token's `kid`).
    #[arg(long)]
    jwk: PathBuf,
    #[arg(long, default_value = "bench-user")]
    sub: String,
    #[arg(long, default_value = "bench-client")]
    client_id: String,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jwks_issuer: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let jwk: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&args.jwk).with_context(|| format!("cannot read {}", args.jwk.display()))?,
    )
    .context("the JWK is not JSON")?;
    let Some(kid) = jwk.get("kid").and_then(|k| k.as_str()).map(str::to_string) else {
        bail!("{}: the JWK has no kid", args.jwk.display());
    };
    let pem =
        std::fs::read(&args.key).with_context(|| format!("cannot read {}", args.key.display()))?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).context("not an RSA private key")?;

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind 127.0.0.1")?;
    let issuer = format!("http://{}/pool", listener.local_addr()?);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = serde_json::json!({
        "iss": issuer, "sub": args.sub, "client_id": args.client_id, "token_use": "access",
        "scope": "prompts/read", "iat": now, "exp": now + args.ttl, "username": args.sub,
        "jti": format!("bench-{now}"),
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid);
    let token = jsonwebtoken::encode(&header, &claims, &key).context("cannot sign")?;
    let body = Bytes::from(serde_json::json!({ "keys": [jwk] }).to_string());
    let path: Arc<str> = "/pool/.well-known/jwks.json".into();

    let mut out = std::io::stdout().lock();
    writeln!(out, "token {token}")?;
    writeln!(out, "listening on {issuer}")?;
    out.flush()?;
    drop(out);

    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => continue,
        };
        let (body, path) = (body.clone(), path.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let (body, path) = (body.clone(), path.clone());
                async move {
                    let resp = if req.uri().path() == &*path {
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                    } else {
                        Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::new(Bytes::new()))
                    };
                    resp.map_err(|e| anyhow::anyhow!(e))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
