//! Webhooks (issue 13 step 8), black-box over TLS on both storage backends: a real
//! receiver on 127.0.0.1 in this process (hyper) verifies every request's Standard Webhooks
//! signature, timestamp and id; events for version created, label moved and prompt
//! deleted, over REST and MCP; a receiver that is down gets retries until it is up; a
//! server killed with SIGKILL after the commit delivers after its restart; a URL that is
//! neither https nor loopback http is a config error at `check`.

use crate::common;

use base64::Engine as _;
use common::Server;
use common::moto::{AwsEnv, free_port};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The endpoint's secret, in the Standard Webhooks form.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_ENV: &str = "TEST_WEBHOOK_SECRET";
/// How long a receiver tolerates a timestamp away from its clock.
const TOLERANCE_SECS: i64 = 300;

/// One request the receiver got, and what it made of it.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    verified: bool,
    replay: bool,
    body: Value,
}

/// A webhook receiver: verifies, records, answers 204 (or 400 when the signature or the
/// timestamp is wrong).
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let g = got.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (g, seen) = (g.clone(), seen.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (g, seen) = (g.clone(), seen.clone());
                        async move { Ok::<_, hyper::Error>(receive(req, &g, &seen).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Receiver { got, task }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` verified requests arrived.
    async fn wait_for(&self, n: usize, s: &Server) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got: Vec<Got> = self.got().into_iter().filter(|g| g.verified).collect();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} webhooks arrived: {:?}\nserver log:\n{}",
                got.len(),
                self.got(),
                s.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    req: hyper::Request<hyper::body::Incoming>,
    got: &Mutex<Vec<Got>>,
    seen: &Mutex<HashSet<String>>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use http_body_util::BodyExt as _;
    let h = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let json_type = h("content-type");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    // The receiver's side of the scheme: HMAC-SHA256 over "id.timestamp.body" with the
    // secret's base64 part, a timestamp within tolerance, an id not seen before.
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = <Hmac<sha2_hmac::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&body);
    let want = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fresh = ts
        .parse::<i64>()
        .is_ok_and(|t| (now - t).abs() <= TOLERANCE_SECS);
    let signed = sig.split(' ').any(|s| s == want);
    let verified = signed && fresh && json_type == "application/json";
    let replay = !seen.lock().unwrap().insert(id.clone());
    got.lock().unwrap().push(Got {
        id,
        verified,
        replay,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    hyper::Response::builder()
        .status(if verified { 204 } else { 400 })
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap()
}

/// The `[webhooks]` tables for a receiver on `port`: quick polls and retries.
fn webhooks_toml(port: u16) -> String {
    format!(
        r#"
[webhooks]
poll_interval = "100ms"
timeout = "2s"
lease = "5s"
backoff_initial = "200ms"
backoff_max = "1s"
max_attempts = 100
admin_scopes = ["webhooks:read"]

[[webhooks.endpoints]]
tenant = "default"
url = "http://127.0.0.1:{port}/hooks"
secret_env = "{SECRET_ENV}"
"#
    )
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Embedded,
    Aws,
}

/// A server on `backend` sending webhooks to `port`, and what it needs to restart.
struct Setup {
    config: String,
    env: Vec<(String, String)>,
    _aws: Option<AwsEnv>,
}

fn setup(backend: Backend, port: u16) -> Setup {
    let secret = vec![(SECRET_ENV.to_string(), SECRET.to_string())];
    match backend {
        Backend::Embedded => Setup {
            config: common::base_config(&webhooks_toml(port)),
            env: secret,
            _aws: None,
        },
        Backend::Aws => {
            let aws = AwsEnv::new();
            let config = aws.config(&webhooks_toml(port));
            let mut env = aws.env();
            env.extend(secret);
            let (code, out, err) = aws.bootstrap(&config);
            assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
            Setup {
                config,
                env,
                _aws: Some(aws),
            }
        }
    }
}

fn writer(s: &Server) -> String {
    s.token(
        "alice",
        &["--scope", "prompts:write", "--scope", "webhooks:read"],
    )
}

async fn send(
    s: &Server,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = s.client.request(method, s.url(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

async fn deliveries(s: &Server, token: &str) -> Value {
    let r = send(
        s,
        token,
        reqwest::Method::GET,
        "/v1/webhooks/deliveries",
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Waits until the status endpoint shows a pending event with `attempts` failed attempts.
async fn wait_failed_attempts(s: &Server, token: &str, attempts: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = deliveries(s, token).await;
        if v["pending"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["attempts"].as_u64().unwrap_or(0) >= attempts)
        {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "no event reached {attempts} attempts: {v}\n{}",
            s.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Version created (create, update), label moved (set, remove), prompt deleted: each
/// arrives once, signed, with the right body; the status endpoint lists them delivered.
async fn delivers_each_event(backend: Backend) {
    let port = free_port();
    let rx = Receiver::start(port).await;
    let st = setup(backend, port);
    let s = Server::start_with_env(&st.config, st.env.clone());
    let t = writer(&s);
    use reqwest::Method;
    let r = send(
        &s,
        &t,
        Method::POST,
        "/v1/prompts",
        Some(common::prompt("hooked", "v1 {{x}}")),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = send(
        &s,
        &t,
        Method::PUT,
        "/v1/prompts/hooked",
        Some(json!({"content": "v2 {{x}}"})),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = send(
        &s,
        &t,
        Method::PUT,
        "/v1/prompts/hooked/labels/production",
        Some(json!({"version": 1})),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = send(
        &s,
        &t,
        Method::DELETE,
        "/v1/prompts/hooked/labels/production",
        None,
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = send(&s, &t, Method::DELETE, "/v1/prompts/hooked", None).await;
    assert_eq!(r.status(), 204);
    // A failed write (the prompt is gone) sends nothing.
    let r = send(&s, &t, Method::DELETE, "/v1/prompts/hooked", None).await;
    assert_eq!(r.status(), 404);

    let got = rx.wait_for(5, &s).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = rx.got();
    assert_eq!(all.len(), 5, "exactly five requests: {all:?}");
    assert!(all.iter().all(|g| g.verified && !g.replay), "{all:?}");
    let summary: Vec<(String, Value)> = got
        .iter()
        .map(|g| {
            (
                g.body["type"].as_str().unwrap().to_string(),
                g.body["data"].clone(),
            )
        })
        .collect();
    let has = |ty: &str, data: Value| {
        assert!(
            summary.iter().any(|(t, d)| t == ty
                && data
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| d.get(k) == Some(v))),
            "no {ty} with {data}: {summary:?}"
        );
    };
    has(
        "version.created",
        json!({"prompt": "hooked", "version": 1, "route": "/v1/prompts"}),
    );
    has("version.created", json!({"prompt": "hooked", "version": 2}));
    has(
        "label.moved",
        json!({"prompt": "hooked", "label": "production", "version": 1}),
    );
    has(
        "label.moved",
        json!({"prompt": "hooked", "label": "production", "version": null, "previous": 1}),
    );
    has("prompt.deleted", json!({"prompt": "hooked"}));
    for g in &got {
        assert_eq!(g.body["id"], g.id, "the body's id is the webhook-id");
        assert_eq!(g.body["tenant"], "default");
        assert!(g.id.starts_with("msg_"), "{}", g.id);
    }
    let v = deliveries(&s, &t).await;
    assert_eq!(v["pending"], json!([]), "{v}");
    let recent = v["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 5, "{v}");
    assert!(recent.iter().all(|r| r["status"] == "delivered"), "{v}");
    // Metrics count them.
    let m = send(&s, &t, Method::GET, "/metrics", None).await;
    let text = m.text().await.unwrap();
    assert!(
        text.contains(
            "mcp_prompts_webhook_deliveries_total{event=\"version.created\",result=\"delivered\"} 2"
        ),
        "{text}"
    );
}

/// The receiver is down: attempts fail and are retried with backoff until it is up.
async fn retries_until_the_receiver_is_up(backend: Backend) {
    let port = free_port();
    let st = setup(backend, port);
    let s = Server::start_with_env(&st.config, st.env.clone());
    let t = writer(&s);
    let r = send(
        &s,
        &t,
        reqwest::Method::POST,
        "/v1/prompts",
        Some(common::prompt("later", "text")),
    )
    .await;
    assert_eq!(r.status(), 201);
    let v = wait_failed_attempts(&s, &t, 3).await;
    let p = &v["pending"][0];
    assert_eq!(p["type"], "version.created", "{v}");
    assert!(
        p["lastError"].as_str().unwrap().contains("127.0.0.1"),
        "{v}"
    );
    let rx = Receiver::start(port).await;
    let got = rx.wait_for(1, &s).await;
    assert_eq!(got[0].body["data"]["prompt"], "later");
    let m = send(&s, &t, reqwest::Method::GET, "/metrics", None).await;
    let text = m.text().await.unwrap();
    assert!(
        text.contains(
            "mcp_prompts_webhook_deliveries_total{event=\"version.created\",result=\"retry\"}"
        ),
        "{text}"
    );
}

/// Committed, not yet delivered (the receiver is down), SIGKILL; after the restart, with
/// the receiver up, the event arrives.
async fn delivered_after_kill9(backend: Backend) {
    let port = free_port();
    let st = setup(backend, port);
    let mut s = Server::start_with_env(&st.config, st.env.clone());
    let t = writer(&s);
    let r = send(
        &s,
        &t,
        reqwest::Method::POST,
        "/v1/prompts",
        Some(common::prompt("durable", "text")),
    )
    .await;
    assert_eq!(r.status(), 201);
    wait_failed_attempts(&s, &t, 1).await;
    let dir = s.kill9();
    let rx = Receiver::start(port).await;
    let s = Server::start_in_env(dir, &st.config, st.env.clone());
    let got = rx.wait_for(1, &s).await;
    assert_eq!(got[0].body["type"], "version.created");
    assert_eq!(got[0].body["data"]["prompt"], "durable");
    assert_eq!(got[0].body["data"]["version"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn delivers_each_event_embedded() {
    delivers_each_event(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delivers_each_event_aws() {
    delivers_each_event(Backend::Aws).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_until_the_receiver_is_up_embedded() {
    retries_until_the_receiver_is_up(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_until_the_receiver_is_up_aws() {
    retries_until_the_receiver_is_up(Backend::Aws).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delivered_after_kill9_embedded() {
    delivered_after_kill9(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delivered_after_kill9_aws() {
    delivered_after_kill9(Backend::Aws).await;
}

/// A change made with an MCP tool sends the same event as one over REST.
#[tokio::test(flavor = "multi_thread")]
async fn mcp_tool_writes_send_events() {
    let port = free_port();
    let rx = Receiver::start(port).await;
    let st = setup(Backend::Embedded, port);
    let s = Server::start_with_env(&st.config, st.env.clone());
    let t = writer(&s);
    let post = |body: Value, sid: Option<String>| {
        let mut r = s
            .client
            .post(s.url("/mcp"))
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(sid) = sid {
            r = r
                .header("mcp-session-id", sid)
                .header("mcp-protocol-version", "2025-06-18");
        }
        r.send()
    };
    let r = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let r = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "create_prompt", "arguments": {"id": "via-mcp", "name": "Via MCP", "content": "hi"}}}),
        Some(sid),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("\"isError\":false"), "{text}");
    let got = rx.wait_for(1, &s).await;
    assert_eq!(got[0].body["type"], "version.created");
    assert_eq!(got[0].body["data"]["prompt"], "via-mcp");
    assert_eq!(got[0].body["data"]["version"], 1);
}

/// The status endpoint needs one of `webhooks.admin_scopes`.
#[tokio::test(flavor = "multi_thread")]
async fn delivery_status_needs_its_scope() {
    let st = setup(Backend::Embedded, free_port());
    let s = Server::start_with_env(&st.config, st.env.clone());
    let r = s
        .client
        .get(s.url("/v1/webhooks/deliveries"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let t = s.token("bob", &["--scope", "prompts:write"]);
    let r = send(
        &s,
        &t,
        reqwest::Method::GET,
        "/v1/webhooks/deliveries",
        None,
    )
    .await;
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"].as_str().unwrap().contains("webhooks:read"),
        "{p}"
    );
}

/// `check` refuses a URL that is neither https nor http to loopback, naming the key.
#[test]
fn check_refuses_a_disallowed_url() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    for (url, why) in [
        ("http://hooks.example.com/x", "loopback"),
        ("ftp://127.0.0.1/x", "https"),
    ] {
        let toml = common::base_config(&format!(
            "[[webhooks.endpoints]]\ntenant = \"default\"\nurl = \"{url}\"\nsecret_env = \"{SECRET_ENV}\"\n"
        ))
        .replace("{data}", &dir.path().join("data").display().to_string());
        std::fs::write(&path, toml).unwrap();
        let (code, out, err) = common::run_cli(&["check", "--config", path.to_str().unwrap()]);
        assert_ne!(code, 0, "{out}{err}");
        assert!(err.contains("webhooks.endpoints[0].url"), "{err}");
        assert!(err.contains(why), "{err}");
    }
}

/// `check` reads the secret: a missing environment variable is named.
#[test]
fn check_names_a_missing_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let toml = common::base_config(
        "[[webhooks.endpoints]]\ntenant = \"default\"\nurl = \"https://hooks.example.com/x\"\nsecret_env = \"NO_SUCH_WEBHOOK_SECRET\"\n",
    )
    .replace("{data}", &dir.path().join("data").display().to_string());
    std::fs::write(&path, toml).unwrap();
    let (code, out, err) = common::run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("NO_SUCH_WEBHOOK_SECRET"), "{err}");
}

/// A reload changes the endpoints: events written after it go to the new URL.
#[tokio::test(flavor = "multi_thread")]
async fn reload_moves_the_endpoint() {
    let (old_port, new_port) = (free_port(), free_port());
    let old = Receiver::start(old_port).await;
    let new = Receiver::start(new_port).await;
    let st = setup(Backend::Embedded, old_port);
    let s = Server::start_with_env(&st.config, st.env.clone());
    let t = writer(&s);
    let r = send(
        &s,
        &t,
        reqwest::Method::POST,
        "/v1/prompts",
        Some(common::prompt("before", "text")),
    )
    .await;
    assert_eq!(r.status(), 201);
    old.wait_for(1, &s).await;
    let data = s.data_dir().display().to_string();
    std::fs::write(
        &s.config,
        common::base_config(&webhooks_toml(new_port)).replace("{data}", &data),
    )
    .unwrap();
    let pid = s.child.as_ref().unwrap().id() as i32;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s.log_text().contains("reloaded configuration and plugins") {
        assert!(Instant::now() < deadline, "no reload: {}", s.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = send(
        &s,
        &t,
        reqwest::Method::POST,
        "/v1/prompts",
        Some(common::prompt("after", "text")),
    )
    .await;
    assert_eq!(r.status(), 201);
    let got = new.wait_for(1, &s).await;
    assert_eq!(got[0].body["data"]["prompt"], "after");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        old.got().len(),
        1,
        "the old endpoint got only the first event"
    );
}

/// Two servers on one DynamoDB table both poll the outbox: each event is sent once.
#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_on_one_store_send_each_event_once() {
    let port = free_port();
    let rx = Receiver::start(port).await;
    let st = setup(Backend::Aws, port);
    let a = Server::start_with_env(&st.config, st.env.clone());
    let b = Server::start_with_env(&st.config, st.env.clone());
    // Each server generated its own development secret: a token per server.
    let (ta, tb) = (writer(&a), writer(&b));
    for i in 0..6 {
        let (s, t) = if i % 2 == 0 { (&a, &ta) } else { (&b, &tb) };
        let r = send(
            s,
            t,
            reqwest::Method::POST,
            "/v1/prompts",
            Some(common::prompt(&format!("shared-{i}"), "text")),
        )
        .await;
        assert_eq!(r.status(), 201);
    }
    rx.wait_for(6, &a).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let all = rx.got();
    assert_eq!(all.len(), 6, "each event once: {all:?}");
    assert!(all.iter().all(|g| g.verified && !g.replay), "{all:?}");
}
