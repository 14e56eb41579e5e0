//! A small closed-loop HTTPS load generator for `scripts/bench.sh`.
//!
//! N connections (HTTP/1.1 keep-alive over rustls), each sending requests back to back:
//! first for `--warmup`, unmeasured, then for `--duration`, measured. Prints one JSON line:
//! requests/s, latency percentiles (µs), errors, and — with `--watch-pid` — the CPU time
//! the watched process (the server) spent during the measured window, per request.
//!
//! ```sh
//! loadgen --url https://127.0.0.1:3003/health --ca data/tls/cert.pem \
//!         --connections 16 --duration 10s --warmup 2s
//! loadgen --url https://127.0.0.1:3003/v1/prompts/greet/apply --ca data/tls/cert.pem \
//!         --method POST --body '{"variables":{"name":"Ada"}}'
//! ```
//!
//! `--expect-body TEXT` and `--jsonrpc` check each 2xx body (a JSON-RPC error inside a 200
//! is an error); 429 responses are counted apart (`status_429`) as well as in `errors`.
//!
//! `--url http://…` speaks plain HTTP/1.1 (no `--ca`), for peers that serve no TLS
//! (`scripts/bench_sdk.sh`). With `--watch-pid`, the watched process's resident memory
//! is sampled every 50 ms during the measured window and reported (`server_rss_*_kib`).
//!
//! Bounded: it stops by itself (every request has a timeout, the whole run a hard deadline)
//! and refuses any target that is not a loopback address.

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

#[derive(Parser, Clone)]
#[command(about = "Closed-loop HTTPS load generator (loopback targets only)")]
struct Args {
    /// Target URL: https://127.0.0.1:PORT/path (loopback addresses only).
    #[arg(long)]
    url: String,
    /// PEM file with the CA (or self-signed certificate) to trust (https targets).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Concurrent keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured duration, e.g. "10s".
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up before the measured window, e.g. "2s".
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// HTTP method: GET or POST.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Request body (JSON), sent with `content-type: application/json`.
    #[arg(long)]
    body: Option<String>,
    /// Extra request header "Name: value"; repeat for several.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Label copied into the JSON output.
    #[arg(long, default_value = "")]
    label: String,
    /// Report the CPU time this process (e.g. the server) used during the measured window.
    #[arg(long)]
    watch_pid: Option<u32>,
    /// Worker threads of the load generator (1 leaves the other core(s) to the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// A 2xx response whose body does not contain this text counts as an error.
    #[arg(long)]
    expect_body: Option<String>,
    /// The target speaks JSON-RPC: a 2xx response counts only if its body is a JSON-RPC
    /// response with a `result` (a JSON-RPC `error` inside a 200 is an error).
    #[arg(long)]
    jsonrpc: bool,
    /// Per-request timeout; a request over it counts as an error and reconnects.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let result = rt
        .context("cannot start the tokio runtime")
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Everything a connection task needs, shared.
struct Target {
    addr: SocketAddr,
    server_name: ServerName<'static>,
    /// `None`: plain HTTP.
    connector: Option<TlsConnector>,
    method: Method,
    uri: Uri,
    host: String,
    body: Bytes,
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    request_timeout: Duration,
    expect_body: Option<String>,
    jsonrpc: bool,
}

/// What one connection task measured.
struct Tally {
    hist: Histogram<u64>,
    requests: u64,
    errors: u64,
    non_2xx: u64,
    /// Responses with status 429 (also counted in `non_2xx` and `errors`).
    status_429: u64,
    /// 2xx responses whose body failed `--expect-body` / `--jsonrpc` (also in `errors`).
    bad_body: u64,
    bytes: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            // 1 µs .. 60 s at 3 significant digits.
            hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            requests: 0,
            errors: 0,
            non_2xx: 0,
            status_429: 0,
            bad_body: 0,
            bytes: 0,
            first_error: None,
        })
    }

    fn error(&mut self, measured: bool, msg: String) {
        if measured {
            self.errors += 1;
        }
        self.first_error.get_or_insert(msg);
    }
}

async fn run(args: Args) -> anyhow::Result<String> {
    if args.connections == 0 || args.connections > 1024 {
        bail!("--connections must be between 1 and 1024");
    }
    if args.duration.is_zero() || args.duration > Duration::from_secs(600) {
        bail!("--duration must be between 1ms and 600s");
    }
    if args.warmup > Duration::from_secs(600) {
        bail!("--warmup must be at most 600s");
    }
    let target = Arc::new(target(&args)?);

    let start = Instant::now();
    let measure_from = start + args.warmup;
    let measure_to = measure_from + args.duration;
    // Hard stop: nothing outlives the window by more than one request timeout.
    let hard_stop = measure_to + args.request_timeout + Duration::from_secs(5);

    let mut tasks = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let t = target.clone();
        tasks.push(tokio::spawn(connection_loop(t, measure_from, measure_to)));
    }

    // CPU of the watched process and of this one over the measured window, and the
    // watched process's resident memory: before, sampled during, after.
    let rss_before = args.watch_pid.and_then(rss_kib);
    tokio::time::sleep_until(measure_from).await;
    let cpu0 = args.watch_pid.and_then(cpu_ticks);
    let self0 = cpu_ticks(std::process::id());
    let mut rss_peak = rss_before;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while Instant::now() < measure_to {
        tokio::select! {
            _ = tick.tick() => {
                if let Some(r) = args.watch_pid.and_then(rss_kib) {
                    rss_peak = Some(rss_peak.map_or(r, |p| p.max(r)));
                }
            }
            _ = tokio::time::sleep_until(measure_to) => {}
        }
    }
    let cpu1 = args.watch_pid.and_then(cpu_ticks);
    let self1 = cpu_ticks(std::process::id());

    let mut total = Tally::new()?;
    for task in tasks {
        let left = hard_stop.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, task).await {
            Ok(Ok(Ok(t))) => {
                total.hist.add(&t.hist)?;
                total.requests += t.requests;
                total.errors += t.errors;
                total.non_2xx += t.non_2xx;
                total.status_429 += t.status_429;
                total.bad_body += t.bad_body;
                total.bytes += t.bytes;
                if total.first_error.is_none() {
                    total.first_error = t.first_error;
                }
            }
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(e)) => bail!("connection task failed: {e}"),
            Err(_) => bail!("connection task did not stop by the hard deadline"),
        }
    }

    let secs = args.duration.as_secs_f64();
    let pct = |q: f64| {
        if total.hist.is_empty() {
            serde_json::Value::Null
        } else {
            total.hist.value_at_quantile(q).into()
        }
    };
    let cpu_per_req = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if total.requests > 0 => {
            serde_json::json!((b.saturating_sub(a)) as f64 * TICK_US / total.requests as f64)
        }
        _ => serde_json::Value::Null,
    };
    let cpu_util = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => {
            serde_json::json!((b.saturating_sub(a)) as f64 * TICK_US / 1e6 / secs)
        }
        _ => serde_json::Value::Null,
    };
    let line = serde_json::json!({
        "label": args.label,
        "method": target.method.as_str(),
        "url": args.url,
        "connections": args.connections,
        "duration_s": secs,
        "warmup_s": args.warmup.as_secs_f64(),
        "requests": total.requests,
        "rps": total.requests as f64 / secs,
        "mean_us": if total.hist.is_empty() { serde_json::Value::Null } else { total.hist.mean().into() },
        "p50_us": pct(0.50),
        "p90_us": pct(0.90),
        "p99_us": pct(0.99),
        "max_us": if total.hist.is_empty() { serde_json::Value::Null } else { total.hist.max().into() },
        "errors": total.errors,
        "non_2xx": total.non_2xx,
        "status_429": total.status_429,
        "bad_body": total.bad_body,
        "response_bytes": total.bytes,
        "first_error": total.first_error,
        "server_cpu_us_per_req": cpu_per_req(cpu0, cpu1),
        "server_cpu_cores": cpu_util(cpu0, cpu1),
        "loadgen_cpu_cores": cpu_util(self0, self1),
        "server_rss_before_kib": rss_before,
        "server_rss_peak_kib": rss_peak,
        "server_rss_after_kib": args.watch_pid.and_then(rss_kib),
    });
    Ok(line.to_string())
}

/// Parses and checks the target: https (or plain http), an IP literal on loopback, a CA
/// we can read for https.
fn target(args: &Args) -> anyhow::Result<Target> {
    let uri: Uri = args
        .url
        .parse()
        .with_context(|| format!("--url {:?} is not a valid URL", args.url))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => bail!("--url must start with https:// or http://"),
    };
    let host = uri
        .host()
        .ok_or_else(|| anyhow!("--url has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let ip: IpAddr = host.parse().map_err(|_| {
        anyhow!("--url host {host:?} must be a loopback IP literal such as 127.0.0.1")
    })?;
    if !ip.is_loopback() {
        bail!("--url host {ip} is not a loopback address; loadgen only targets this machine");
    }
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let connector = if tls {
        let ca = args
            .ca
            .as_deref()
            .ok_or_else(|| anyhow!("an https --url needs --ca"))?;
        Some(TlsConnector::from(client_config(ca)?))
    } else {
        None
    };
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let method = match args.method.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        other => bail!("--method {other:?}: only GET and POST are supported"),
    };
    let mut headers = Vec::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| anyhow!("--header {h:?} must look like \"Name: value\""))?;
        headers.push((
            hyper::header::HeaderName::from_bytes(name.trim().as_bytes())
                .with_context(|| format!("--header {h:?}: invalid name"))?,
            hyper::header::HeaderValue::from_str(value.trim())
                .with_context(|| format!("--header {h:?}: invalid value"))?,
        ));
    }
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        server_name: ServerName::IpAddress(ip.into()),
        connector,
        method,
        uri: path
            .parse()
            .with_context(|| format!("invalid path {path:?}"))?,
        host: uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default(),
        body: args.body.clone().map(Bytes::from).unwrap_or_default(),
        headers,
        request_timeout: args.request_timeout,
        expect_body: args.expect_body.clone(),
        jsonrpc: args.jsonrpc,
    })
}

fn client_config(ca: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read certificates from {}", ca.display()))?;
    if certs.is_empty() {
        bail!("no PEM certificate found in {}", ca.display());
    }
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .with_context(|| format!("{}: not a usable CA certificate", ca.display()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // HTTP/1.1 keep-alive only: one request in flight per connection.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(t: &Target) -> anyhow::Result<Sender> {
    let tcp = TcpStream::connect(t.addr)
        .await
        .with_context(|| format!("connect {}", t.addr))?;
    let _ = tcp.set_nodelay(true);
    let Some(connector) = &t.connector else {
        let (sender, conn) = http1::handshake(TokioIo::new(tcp))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        return Ok(sender);
    };
    let tls = connector
        .connect(t.server_name.clone(), tcp)
        .await
        .context("TLS handshake")?;
    let (sender, conn) = http1::handshake(TokioIo::new(tls))
        .await
        .context("HTTP/1.1 handshake")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn request(t: &Target) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut b = Request::builder()
        .method(t.method.clone())
        .uri(t.uri.clone())
        .header(hyper::header::HOST, t.host.as_str());
    if t.method == Method::POST {
        b = b.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    for (n, v) in &t.headers {
        b = b.header(n, v);
    }
    Ok(b.body(Full::new(t.body.clone()))?)
}

/// One connection: requests back to back until `measure_to`; reconnects after an error.
async fn connection_loop(
    t: Arc<Target>,
    measure_from: Instant,
    measure_to: Instant,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let mut sender: Option<Sender> = None;
    loop {
        let sent = Instant::now();
        if sent >= measure_to {
            return Ok(tally);
        }
        let measured = sent >= measure_from;
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match tokio::time::timeout(t.request_timeout, connect(&t)).await {
                Ok(Ok(s)) => sender.insert(s),
                Ok(Err(e)) => {
                    tally.error(measured, format!("{e:#}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                Err(_) => {
                    tally.error(measured, "connect timed out".into());
                    continue;
                }
            },
        };
        let req = request(&t)?;
        let sent = Instant::now();
        let measured = sent >= measure_from;
        let outcome = tokio::time::timeout(t.request_timeout, async {
            s.ready().await?;
            let resp = s.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        })
        .await;
        let done = Instant::now();
        match outcome {
            Ok(Ok((status, body))) => {
                let bad = if status.is_success() {
                    check_body(&t, &body).err()
                } else {
                    None
                };
                // Count only requests that both started and finished inside the window.
                if measured && done <= measure_to {
                    tally.requests += 1;
                    tally.bytes += body.len() as u64;
                    let us = done.duration_since(sent).as_micros().max(1) as u64;
                    tally.hist.saturating_record(us);
                    if !status.is_success() {
                        tally.non_2xx += 1;
                        if status == hyper::StatusCode::TOO_MANY_REQUESTS {
                            tally.status_429 += 1;
                        }
                        tally.error(true, format!("HTTP {status}"));
                    } else if let Some(why) = bad {
                        tally.bad_body += 1;
                        tally.error(true, why);
                    }
                } else if !status.is_success() {
                    tally.error(false, format!("HTTP {status}"));
                } else if let Some(why) = bad {
                    tally.error(false, why);
                }
            }
            Ok(Err(e)) => {
                tally.error(measured, format!("{e}"));
                sender = None;
            }
            Err(_) => {
                tally.error(measured, "request timed out".into());
                sender = None;
            }
        }
    }
}

/// `--expect-body` and `--jsonrpc` on a 2xx body; `Err` says what was wrong.
fn check_body(t: &Target, body: &[u8]) -> Result<(), String> {
    let text = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    if let Some(want) = &t.expect_body
        && !String::from_utf8_lossy(body).contains(want.as_str())
    {
        return Err(format!("body lacks {want:?}: {}", text()));
    }
    if t.jsonrpc {
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| format!("body is not JSON ({e}): {}", text()))?;
        if v.get("error").is_some() || v.get("result").is_none() {
            return Err(format!("JSON-RPC error in a 2xx: {}", text()));
        }
    }
    Ok(())
}

/// Resident set size of a process in KiB (`VmRSS` of /proc/PID/status).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Linux USER_HZ is 100 on every mainstream architecture: one tick is 10 ms.
const TICK_US: f64 = 10_000.0;

/// utime + stime of a process (all threads), in clock ticks, from /proc/PID/stat.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}
