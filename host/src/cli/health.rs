//! `mcp-prompts health`: an HTTP probe for container health checks, so the runtime image
//! needs no curl. It reads no config and writes nothing, so it works as any user on a
//! read-only root filesystem.

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use std::process::ExitCode;
use std::time::Duration;

pub async fn probe(url: &str, timeout: Duration) -> anyhow::Result<ExitCode> {
    match tokio::time::timeout(timeout, get_status(url)).await {
        Ok(Ok(200)) => Ok(ExitCode::SUCCESS),
        Ok(Ok(status)) => {
            eprintln!("unhealthy: {url} answered {status}");
            Ok(ExitCode::FAILURE)
        }
        Ok(Err(e)) => {
            eprintln!("unhealthy: {url}: {e:#}");
            Ok(ExitCode::FAILURE)
        }
        Err(_) => {
            eprintln!("unhealthy: {url} did not answer within {timeout:?}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn get_status(url: &str) -> anyhow::Result<u16> {
    let uri: http::Uri = url.parse()?;
    if uri.scheme_str() != Some("http") {
        anyhow::bail!("only http:// URLs are supported (probe the plain listener or 127.0.0.1)");
    }
    let host = uri
        .host()
        .ok_or_else(|| anyhow::anyhow!("URL has no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = http::Request::get(path)
        .header(http::header::HOST, format!("{host}:{port}"))
        .header(http::header::USER_AGENT, "mcp-prompts-health")
        .body(Empty::<Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    Ok(resp.status().as_u16())
}
