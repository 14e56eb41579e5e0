//! HTTP hygiene: CORS from the `[cors]` allow-list and the `[redirect]` listener, against the
//! real binary over real sockets.

use crate::common;

use common::{BIN, Server, base_config, run_cli};
use reqwest::Response;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example";

fn cors_server(credentials: bool) -> Server {
    Server::start_with(&base_config(&format!(
        r#"
[[routes]]
path = "/v1/private"
handler = "prompt-store"
auth = "required"

[cors]
allowed_origins = ["{APP}", "http://localhost:5173"]
allow_credentials = {credentials}
max_age = "5m"
"#
    )))
}

fn cors_headers(r: &Response) -> Vec<String> {
    r.headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing {name}: {:?}", r.headers()))
        .to_str()
        .unwrap()
}

async fn preflight(s: &Server, path: &str, origin: &str) -> Response {
    s.client
        .request(reqwest::Method::OPTIONS, s.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "PUT")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn preflight_from_allowed_origin_is_answered_before_auth() {
    let s = cors_server(false);
    // `/v1/private` requires a token; a preflight carries none and must still get 204.
    for path in ["/v1/private/x", "/v1/prompts", "/health"] {
        let r = preflight(&s, path, APP).await;
        assert_eq!(r.status(), 204, "{path}");
        assert_eq!(header(&r, "access-control-allow-origin"), APP);
        let methods = header(&r, "access-control-allow-methods");
        for m in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
            assert!(methods.contains(m), "{methods}");
        }
        let headers = header(&r, "access-control-allow-headers");
        for h in ["authorization", "content-type", "if-match", "x-request-id"] {
            assert!(headers.contains(h), "{headers}");
        }
        assert_eq!(header(&r, "access-control-max-age"), "300");
        assert!(
            r.headers()
                .get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap().contains("Origin"))
        );
        assert!(
            r.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
        assert!(r.headers().get("www-authenticate").is_none());
        assert!(r.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn preflight_from_unknown_origin_is_refused_without_cors_headers() {
    let s = cors_server(false);
    for origin in [
        EVIL,
        "null",
        "https://app.example.com.evil.example",
        "http://app.example.com",
        "https://app.example.com:8443",
    ] {
        let r = preflight(&s, "/v1/prompts", origin).await;
        assert_eq!(r.status(), 403, "{origin}");
        assert!(cors_headers(&r).is_empty(), "{origin}: {:?}", r.headers());
        assert_eq!(header(&r, "content-type"), "application/problem+json");
    }
}

#[tokio::test]
async fn preflight_when_cors_is_off_gets_no_cors_headers() {
    let s = Server::start();
    let r = preflight(&s, "/v1/prompts", APP).await;
    assert_eq!(r.status(), 403);
    assert!(cors_headers(&r).is_empty(), "{:?}", r.headers());
}

#[tokio::test]
async fn actual_request_from_allowed_origin_gets_cors_headers() {
    let s = cors_server(true);
    let r = s
        .client
        .get(s.url("/v1/prompts"))
        .header("Origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), APP);
    assert_eq!(header(&r, "access-control-allow-credentials"), "true");
    let expose = header(&r, "access-control-expose-headers");
    for h in ["etag", "location", "x-request-id", "retry-after"] {
        assert!(expose.contains(h), "{expose}");
    }
    assert!(
        r.headers()
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap().contains("Origin"))
    );
    // Errors carry them too, so the browser lets the page read the problem.
    let r = s
        .client
        .get(s.url("/v1/private/nope"))
        .header("Origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        "http://localhost:5173"
    );
}

#[tokio::test]
async fn actual_request_from_unknown_origin_is_served_without_cors_headers() {
    let s = cors_server(true);
    for origin in [EVIL, "null", "*"] {
        let r = s
            .client
            .get(s.url("/v1/prompts"))
            .header("Origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{origin}");
        assert!(cors_headers(&r).is_empty(), "{origin}: {:?}", r.headers());
        // The other hygiene headers are still there.
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert!(r.headers().get("strict-transport-security").is_some());
    }
    let r = s.client.get(s.url("/health")).send().await.unwrap();
    assert!(cors_headers(&r).is_empty());
}

fn check(extra: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config.toml");
    std::fs::write(
        &p,
        base_config(extra).replace("{data}", &dir.path().join("data").display().to_string()),
    )
    .unwrap();
    let (code, _, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    (code, err)
}

#[test]
fn check_refuses_wildcard_and_malformed_origins() {
    let (code, err) = check("[cors]\nallowed_origins = [\"*\"]\n");
    assert_ne!(code, 0);
    assert!(
        err.contains("cors.allowed_origins") && err.contains("\"*\""),
        "{err}"
    );
    let (code, err) = check("[cors]\nallowed_origins = [\"https://app.example.com/\"]\n");
    assert_ne!(code, 0);
    assert!(err.contains("cors.allowed_origins"), "{err}");
    let (code, err) = check("[cors]\nallowed_origins = [\"https://app.example.com\"]\n");
    assert_eq!(code, 0, "{err}");
    let (code, err) = check("[redirect]\nlisten = \"127.0.0.1:0\"\n");
    assert_ne!(code, 0);
    assert!(err.contains("redirect.canonical_host"), "{err}");
    let (code, err) =
        check("[redirect]\nlisten = \"127.0.0.1:0\"\ncanonical_host = \"https://x.example/\"\n");
    assert_ne!(code, 0);
    assert!(err.contains("redirect.canonical_host"), "{err}");
}

/// A server with only the redirect listener of interest; returns it and the listener's
/// address as printed on stdout.
struct Redirect {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    addr: String,
}

impl Drop for Redirect {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redirect_server(canonical: &str) -> Redirect {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nmode = \"plain\"\n\n[storage]\ndata_dir = \"{}\"\n\n\
             [logging]\nformat = \"json\"\n\n[redirect]\nlisten = \"127.0.0.1:0\"\ncanonical_host = \"{canonical}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("mcp-prompts redirect on http://") {
                let _ = tx.send(a.to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("redirect listener did not start");
    Redirect {
        child,
        _dir: dir,
        addr,
    }
}

fn raw(addr: &str, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn location(resp: &str) -> &str {
    resp.lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .unwrap_or_else(|| panic!("no Location: {resp}"))
        .trim()
}

#[test]
fn redirect_uses_canonical_host_never_the_request_host() {
    let r = redirect_server("prompts.example.com:8443");
    let resp = raw(
        &r.addr,
        "GET /v1/prompts/abc?tag=a%20b&limit=5 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 301"), "{resp}");
    assert_eq!(
        location(&resp),
        "https://prompts.example.com:8443/v1/prompts/abc?tag=a%20b&limit=5"
    );
    assert!(!resp.contains("evil.example"), "{resp}");
    // Absolute-form target naming another host, and a POST: still the canonical host.
    let resp = raw(
        &r.addr,
        "POST http://evil.example/x?y=1 HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 301"), "{resp}");
    assert_eq!(location(&resp), "https://prompts.example.com:8443/x?y=1");
    // No Host header at all (HTTP/1.0).
    let resp = raw(&r.addr, "GET / HTTP/1.0\r\n\r\n");
    assert!(
        resp.starts_with("HTTP/1.0 301") || resp.starts_with("HTTP/1.1 301"),
        "{resp}"
    );
    assert_eq!(location(&resp), "https://prompts.example.com:8443/");
}

#[test]
fn redirect_listener_times_out_silent_clients() {
    let r = redirect_server("prompts.example.com");
    let started = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(&r.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    // Default header_read_timeout is 10s; the connection must be closed well before 30s.
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
}
