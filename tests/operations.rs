//! Operations: hot reload (file watch and SIGHUP) under load, graceful shutdown, JSON
//! logs, the compiled-plugin cache.

use crate::common;

use common::{Server, base_config, plugin, prompt};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn signal(s: &Server, sig: i32) {
    let pid = s.child.as_ref().unwrap().id() as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

fn count(s: &Server, needle: &str) -> usize {
    s.log_text().lines().filter(|l| l.contains(needle)).count()
}

fn wait_for_count(s: &Server, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(s, needle) < n {
        assert!(
            Instant::now() < deadline,
            "waited for {n} × {needle:?}; log:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A copy of a component with a custom section appended: same behaviour, new bytes, so
/// the host must treat it as a changed plugin.
fn variant_of(component: &Path, n: u32) -> Vec<u8> {
    let mut bytes = std::fs::read(component).unwrap();
    let name = b"mcp-prompts-test";
    let payload = n.to_le_bytes();
    let body_len = 1 + name.len() + payload.len();
    bytes.push(0); // custom section id
    bytes.push(body_len as u8); // LEB128, < 128
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    bytes
}

/// Replaces a file the way editors and build tools do: write aside, then rename.
fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn twenty_reloads_under_load_fail_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let live_renderer = dir.path().join("renderer-live.wasm");
    std::fs::copy(plugin("renderer"), &live_renderer).unwrap();
    let config_for = |timeout_ms: u32, broken: bool| {
        let mut c = base_config("[reload]\nwatch = true\ndebounce = \"100ms\"\n")
            .replace(
                &plugin("renderer").display().to_string(),
                &live_renderer.display().to_string(),
            )
            .replace("timeout = \"5s\"", &format!("timeout = \"{timeout_ms}ms\""));
        if broken {
            c.push_str("\n[this is not toml\n");
        }
        c
    };
    let s = Arc::new(Server::start_in(dir, &config_for(5000, false)));
    let token = s.token("alice", &[]);
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(&token)
        .json(&prompt("hot", "Hello {{who}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for i in 0..4 {
        let (s, stop, served) = (s.clone(), stop.clone(), served.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = if i % 2 == 0 {
                    s.client.get(s.url("/v1/prompts/hot")).send().await
                } else {
                    s.client
                        .post(s.url("/v1/prompts/hot/apply"))
                        .json(&json!({"variables": {"who": "you"}}))
                        .send()
                        .await
                };
                let r = r.expect("request failed during reload");
                let status = r.status();
                let body = r.text().await.unwrap();
                assert_eq!(status, 200, "request failed during reload: {body}");
                served.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let reloaded = "reloaded configuration and plugins";
    let config_path = s.config.clone();
    let data = s.data_dir().display().to_string();
    let write_config =
        |text: String| replace_file(&config_path, text.replace("{data}", &data).as_bytes());
    for n in 0..20u32 {
        let before = count(&s, reloaded);
        if n % 2 == 0 {
            // A config edit.
            write_config(config_for(4000 + n, false));
        } else {
            // A plugin swap: the renderer file is replaced by a different build.
            replace_file(&live_renderer, &variant_of(&plugin("renderer"), n));
        }
        wait_for_count(&s, reloaded, before + 1);
    }
    // An invalid change is rejected and the old snapshot keeps serving.
    let rejected = "reload rejected";
    write_config(config_for(4000, true));
    wait_for_count(&s, rejected, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    assert!(
        served.load(Ordering::Relaxed) > 20,
        "too little load to mean anything"
    );
    // The swapped renderer was compiled again, not served from a stale cache entry.
    assert!(
        count(&s, "\"source\":\"compiled\"") >= 10,
        "{}",
        s.log_text()
    );
    let r = s.client.get(s.url("/v1/prompts/hot")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn sighup_reloads_the_config() {
    let mut s = Server::start();
    let r = s.client.get(s.url("/v2/prompts")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let text = base_config("[[routes]]\npath = \"/v2/prompts\"\nhandler = \"prompt-store\"\n")
        .replace("{data}", &s.data_dir().display().to_string());
    std::fs::write(&s.config, text).unwrap();
    signal(&s, libc::SIGHUP);
    wait_for_count(&s, "reloaded configuration and plugins", 1);
    let r = s.client.get(s.url("/v2/prompts")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(s.is_running());
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let extra = format!(
        "[plugins.hostile]\npath = \"{}\"\nworld = \"prompt-handler\"\ntimeout = \"1500ms\"\nkv = [\"scratch\"]\n\n[[routes]]\npath = \"/v1/hostile\"\nhandler = \"hostile\"\nauth = \"none\"\n",
        plugin("test_hostile").display()
    );
    let mut s = Server::start_with(&base_config(&extra));
    // An established keep-alive connection, used to poll /ready during the drain.
    let poller = common::client_for(&s.data_dir(), true);
    assert_eq!(
        poller.get(s.url("/ready")).send().await.unwrap().status(),
        200
    );
    // A request that takes ~1.5 s is in flight when SIGTERM arrives.
    let slow = {
        let (client, url) = (s.client.clone(), s.url("/v1/hostile/loop"));
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&s, libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Draining: /ready says 503 on the open connection; new connections are refused.
    assert_eq!(
        poller.get(s.url("/ready")).send().await.unwrap().status(),
        503
    );
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", s.port()))
            .await
            .is_err(),
        "the listener still accepts connections while draining"
    );
    // The in-flight request gets its complete response (the plugin's own 504 deadline).
    assert_eq!(
        slow.await.unwrap().expect("in-flight request was cut off"),
        504
    );
    let status = s.child.as_mut().unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(0), "log:\n{}", s.log_text());
}

#[tokio::test]
async fn logs_are_json_with_request_fields_and_never_the_token() {
    let s = Server::start();
    let token = s.token("alice", &["--scope", "prompts:write"]);
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(&token)
        .header("x-request-id", "req-abc-123")
        .json(&prompt("logged", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers().get("x-request-id").unwrap(), "req-abc-123");
    let r = s
        .client
        .get(s.url("/v1/prompts/logged"))
        .header(
            "x-amzn-trace-id",
            "Root=1-67891233-abcdef012345678912345678",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("x-request-id").unwrap(),
        "Root=1-67891233-abcdef012345678912345678"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = s.log_text();
    let mut access = Vec::new();
    for line in log.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["target"] == "access" {
            access.push(v);
        }
    }
    let post = access
        .iter()
        .find(|v| v["request_id"] == "req-abc-123")
        .expect("access line for the POST");
    assert_eq!(post["status"], 201);
    assert_eq!(post["method"], "POST");
    assert_eq!(post["route"], "/v1/prompts");
    assert_eq!(post["subject"], "alice");
    assert_eq!(post["plugin"], "prompt-store");
    assert!(post["latency_us"].is_u64());
    assert!(
        access
            .iter()
            .any(|v| v["request_id"] == "Root=1-67891233-abcdef012345678912345678")
    );
    assert!(
        !log.contains(&token),
        "the bearer token leaked into the log"
    );
    let signature = token.rsplit('.').next().unwrap();
    assert!(!log.contains(signature));
}

#[test]
fn warm_start_loads_plugins_from_the_compile_cache() {
    let s = Server::start();
    assert_eq!(count(&s, "\"source\":\"compiled\""), 3, "{}", s.log_text());
    let mut s = s;
    let dir = s.kill9();
    let s = Server::start_in(dir, &base_config(""));
    assert_eq!(
        count(&s, "\"source\":\"disk-cache\""),
        3,
        "{}",
        s.log_text()
    );
    assert_eq!(count(&s, "\"source\":\"compiled\""), 0);
}
