//! `world = "proxy"` plugins: standard wasi:http/proxy components mounted as routes,
//! served by the real server over TLS. The Rust component is
//! plugins/examples/rust-http-route (`cargo plugins`), the JavaScript one
//! plugins/examples/js-http-route (componentize-js, plugins/examples/build.sh).

use crate::common;

use common::{Server, base_config, example, plugin};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A plain HTTP server on 127.0.0.1 answering `hello from upstream` to every request,
/// counting the requests it got: the target of the components' outbound requests.
async fn upstream() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                // Read up to the end of the request head; these requests have no body.
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "hello from upstream";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

fn config(allowed_port: u16, js: bool) -> String {
    let cache = common::repo_root().join("target/test-plugin-cache");
    let js_part = if js {
        format!(
            r#"
[plugins.js-route]
path = "{}"
world = "http"
timeout = "5s"
memory_limit = "128MiB"
allowed_outbound_hosts = ["http://127.0.0.1:{allowed_port}"]

[[routes]]
path = "/apps/js"
handler = "js-route"
auth = "optional"
"#,
            example("js_http_route").display()
        )
    } else {
        String::new()
    };
    base_config(&format!(
        r#"
[plugins.rust-route]
path = "{rust}"
world = "proxy"
timeout = "1s"
memory_limit = "32MiB"
allowed_outbound_hosts = ["http://127.0.0.1:{allowed_port}"]

[[routes]]
path = "/apps/rust"
handler = "rust-route"
auth = "optional"
policies = ["policy"]

[[routes]]
path = "/apps/secure"
handler = "rust-route"
auth = "required"
scopes = ["apps:use"]
{js_part}
"#,
        rust = plugin("rust_http_route").display(),
    ))
    .replacen(
        "[runtime]\n",
        &format!("[runtime]\ncache_dir = \"{}\"\n", cache.display()),
        1,
    )
}

async fn json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"));
    (status, v)
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn rust_proxy_component_serves_a_route_with_host_auth_limits_and_outbound_allow_list() {
    let (allowed, allowed_hits) = upstream().await;
    let (denied, denied_hits) = upstream().await;
    let s = Server::start_with(&config(allowed, false));
    let alice = s.token("alice", &["--scope", "apps:use", "--group", "staff"]);

    // Mounted at its prefix; the component sees the full path and the host's headers,
    // never the client's forgeries of them, nor the token the host consumed.
    let r = s
        .client
        .get(s.url("/apps/rust/echo?x=1"))
        .bearer_auth(&alice)
        .header("x-mcp-prompts-subject", "mallory")
        .header("X-Mcp-Prompts-Tenant", "victim")
        .header("x-mcp-prompts-forged", "1")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["path"], "/apps/rust/echo?x=1");
    let h = &v["headers"];
    assert_eq!(h["x-mcp-prompts-subject"], "alice", "{v}");
    assert_eq!(h["x-mcp-prompts-tenant"], "default", "{v}");
    assert_eq!(h["x-mcp-prompts-authenticated"], "true", "{v}");
    assert_eq!(h["x-mcp-prompts-scopes"], "apps:use", "{v}");
    assert_eq!(h["x-mcp-prompts-groups"], "staff", "{v}");
    assert_eq!(h["x-mcp-prompts-route"], "/apps/rust", "{v}");
    assert_eq!(h["x-mcp-prompts-path-info"], "/echo", "{v}");
    assert!(h["x-mcp-prompts-request-id"].is_string(), "{v}");
    assert!(
        h["x-mcp-prompts-full-url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://") && u.ends_with("/apps/rust/echo?x=1")),
        "{v}"
    );
    assert!(h.get("x-mcp-prompts-forged").is_none(), "{v}");
    assert!(h.get("authorization").is_none(), "{v}");
    assert_eq!(h["x-custom"], "kept");

    // Anonymous on an optional route: no subject, authenticated false.
    let r = s.client.get(s.url("/apps/rust/echo")).send().await.unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["headers"]["x-mcp-prompts-authenticated"], "false", "{v}");
    assert!(v["headers"].get("x-mcp-prompts-subject").is_none(), "{v}");

    // A required route: 401 without a token, 403 naming the scope without it.
    let r = s
        .client
        .get(s.url("/apps/secure/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let bob = s.token("bob", &[]);
    let r = s
        .client
        .get(s.url("/apps/secure/echo"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 403, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("apps:use"), "{v}");
    let r = s
        .client
        .get(s.url("/apps/secure/echo"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The route's policy chain runs first: the default policy refuses anonymous writes
    // (POST is a `create`), so the component never sees the request.
    let r = s
        .client
        .post(s.url("/apps/rust/upload"))
        .body("hello")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(status == 401 || status == 403, "{status}");
    assert_eq!(ctype, "application/problem+json");
    let r = s
        .client
        .post(s.url("/apps/rust/upload"))
        .bearer_auth(&alice)
        .body(vec![b'x'; 300_000])
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["bytes"], 300_000);

    // Bodies beyond server.max_body_size (1 MiB): 413, whether announced by
    // Content-Length or only discovered while streaming.
    let big = vec![b'x'; 1024 * 1024 + 1];
    let r = s
        .client
        .post(s.url("/apps/rust/upload"))
        .bearer_auth(&alice)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 413, "{v}");
    assert_eq!(v["type"], "/problems/payload-too-large", "{v}");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let r = s
        .client
        .post(s.url("/apps/rust/upload"))
        .bearer_auth(&alice)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 413, "{v}");

    // A large response streams through (8 MiB, 128 chunks), byte for byte.
    let r = s
        .client
        .get(s.url("/apps/rust/stream?chunks=128&size=65536"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-length").is_none());
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), 128 * 65536);
    for (i, chunk) in body.chunks(65536).enumerate() {
        assert!(
            chunk.iter().all(|&b| b == b'a' + (i % 26) as u8),
            "chunk {i}"
        );
    }

    // Outbound: an allowed host is reached; any other fails in the component with
    // HttpRequestDenied and is never connected to.
    let url = format!("http://127.0.0.1:{allowed}/hi");
    let r = s
        .client
        .get(s.url(&format!("/apps/rust/fetch?url={}", enc(&url))))
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["body"], "hello from upstream", "{v}");
    assert_eq!(allowed_hits.load(Ordering::SeqCst), 1);
    let url = format!("http://127.0.0.1:{denied}/hi");
    let r = s
        .client
        .get(s.url(&format!("/apps/rust/fetch?url={}", enc(&url))))
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 502, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("HttpRequestDenied"),
        "{v}"
    );
    assert_eq!(denied_hits.load(Ordering::SeqCst), 0);
    assert!(
        s.log_text().contains("outbound request denied"),
        "the host logs the denial"
    );

    // Hostile paths fail only their own request: an endless loop is a 504 while a
    // concurrent request on the same route is served; a memory bomb is a 500
    // plugin-limit; a panic a 500 plugin-trap.
    let looping = s.client.get(s.url("/apps/rust/loop")).send();
    let normal = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        s.client.get(s.url("/apps/rust/echo")).send().await.unwrap()
    };
    let (looped, normal) = tokio::join!(looping, normal);
    assert_eq!(normal.status(), 200);
    let (status, v) = json(looped.unwrap()).await;
    assert_eq!(status, 504, "{v}");
    assert_eq!(v["type"], "/problems/plugin-timeout", "{v}");
    let r = s.client.get(s.url("/apps/rust/bomb")).send().await.unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 500, "{v}");
    assert_eq!(v["type"], "/problems/plugin-limit", "{v}");
    let r = s
        .client
        .get(s.url("/apps/rust/panic"))
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 500, "{v}");
    assert_eq!(v["type"], "/problems/plugin-trap", "{v}");

    // A response that has started streaming and then runs past the deadline is
    // aborted, not ended as if complete.
    let r = s.client.get(s.url("/apps/rust/drip")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.bytes().await.is_err(),
        "a cut-off body must not look complete"
    );

    // Every call was recorded as a plugin call of the proxy world, and the route's
    // requests under its prefix.
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    let text = r.text().await.unwrap();
    assert!(
        text.lines().any(|l| l.contains("plugin=\"rust-route\"")
            && l.contains("world=\"proxy\"")
            && l.contains("_count")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("route=\"/apps/rust\"") && l.contains("status=\"504\"")),
        "{text}"
    );

    // After all that, the route still serves.
    let r = s.client.get(s.url("/apps/rust/echo")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn javascript_proxy_component_serves_a_route() {
    let (allowed, allowed_hits) = upstream().await;
    let (denied, denied_hits) = upstream().await;
    let s = Server::start_with(&config(allowed, true));
    let alice = s.token("alice", &["--tier", "premium"]);

    let r = s
        .client
        .get(s.url("/apps/js/echo?q=2"))
        .bearer_auth(&alice)
        .header("x-mcp-prompts-subject", "mallory")
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["runtime"], "starlingmonkey");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["path"], "/apps/js/echo?q=2", "{v}");
    assert_eq!(v["headers"]["x-mcp-prompts-subject"], "alice", "{v}");
    assert_eq!(v["headers"]["x-mcp-prompts-tier"], "premium", "{v}");
    assert_eq!(v["headers"]["x-mcp-prompts-path-info"], "/echo", "{v}");

    // fetch() goes through the same allow-list.
    let url = format!("http://127.0.0.1:{allowed}/hi");
    let r = s
        .client
        .get(s.url(&format!("/apps/js/fetch?url={}", enc(&url))))
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["body"], "hello from upstream", "{v}");
    assert_eq!(allowed_hits.load(Ordering::SeqCst), 1);
    let url = format!("http://127.0.0.1:{denied}/hi");
    let r = s
        .client
        .get(s.url(&format!("/apps/js/fetch?url={}", enc(&url))))
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 502, "{v}");
    assert_eq!(denied_hits.load(Ordering::SeqCst), 0);

    // An endless JavaScript loop is stopped by the deadline (5 s here).
    let r = s.client.get(s.url("/apps/js/loop")).send().await.unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, 504, "{v}");
    let r = s.client.get(s.url("/apps/js/echo")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// `mcp-prompts check` loads a config with a proxy route; config mistakes about proxy
/// plugins are refused at load with the key and the reason.
#[test]
fn check_accepts_proxy_routes_and_refuses_misconfigured_ones() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        let data = dir.path().join(format!("data-{name}"));
        std::fs::write(&p, body.replace("{data}", &data.to_string_lossy())).unwrap();
        p
    };
    let good = write("good.toml", &config(9, false));
    let (code, out, err) = common::run_cli(&["check", "--config", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("rust-route"), "{out}");

    for (name, from, to, needle) in [
        (
            "bad-pattern.toml",
            "allowed_outbound_hosts = [\"http://127.0.0.1:9\"]",
            "allowed_outbound_hosts = [\"127.0.0.1:9/path\"]",
            "allowed_outbound_hosts",
        ),
        (
            "outbound-on-policy.toml",
            "kv = [\"ratelimits\"]",
            "kv = [\"ratelimits\"]\nallowed_outbound_hosts = [\"https://example.com\"]",
            "only proxy",
        ),
        (
            "prompt-key-on-proxy.toml",
            "scopes = [\"apps:use\"]",
            "scopes = [\"apps:use\"]\nread_only = true",
            "read_only",
        ),
    ] {
        let cfg = config(9, false);
        assert!(cfg.contains(from), "{from}");
        let p = write(name, &cfg.replacen(from, to, 1));
        let (code, out, err) = common::run_cli(&["check", "--config", p.to_str().unwrap()]);
        assert_ne!(code, 0, "{name}: {out}");
        assert!(
            err.contains(needle) || out.contains(needle),
            "{name}: {out}\n{err}"
        );
    }
}
