//! The Python policy example (plugins/examples/python-policy, built with componentize-py by
//! plugins/examples/build.sh) loaded by the real server and serving real requests over TLS,
//! and its hostile variant failing only its own requests.

use crate::common;

use common::{Server, base_config, example, prompt};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The default config plus the Python policy on `/v1/py` and the hostile one on
/// `/v1/pyh`. Compiled components are cached under target/ so that only the first run
/// pays Cranelift for the 18 MB interpreter.
fn config() -> String {
    let cache = common::repo_root().join("target/test-plugin-cache");
    base_config(&format!(
        r#"
[plugins.py-policy]
path = "{policy}"
world = "policy"
timeout = "5s"
memory_limit = "128MiB"
# componentize-py imports the world's every import, kv included, and all of WASI.
kv = ["py-unused"]
stub_wasi = ["sockets"]

[plugins.py-policy.config]
scope = "prompts:admin"

[plugins.py-hostile]
path = "{hostile}"
world = "policy"
timeout = "2s"
memory_limit = "96MiB"
kv = ["py-unused"]
stub_wasi = ["sockets"]

[[routes]]
path = "/v1/py"
handler = "prompt-store"
auth = "optional"
policies = ["py-policy"]

[[routes]]
path = "/v1/pyh"
handler = "prompt-store"
auth = "optional"
policies = ["py-hostile"]
"#,
        policy = example("python_policy").display(),
        hostile = example("python_hostile").display(),
    ))
    .replacen(
        "[runtime]\n",
        &format!("[runtime]\ncache_dir = \"{}\"\n", cache.display()),
        1,
    )
}

#[tokio::test]
async fn python_policy_and_its_hostile_variant() {
    let s = std::sync::Arc::new(Server::start_with(&config()));

    // Reads pass the policy (and reach the prompt store: 404 for a missing prompt).
    let r = s.client.get(s.url("/v1/py")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s.client.get(s.url("/v1/py/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Anonymous writes: 401 from the Python code.
    let r = s
        .client
        .post(s.url("/v1/py"))
        .json(&prompt("py1", "Hi {{who}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["detail"], "sign in to change prompts", "{v}");

    // Without the configured scope: 403 with an insufficient_scope challenge.
    let bob = s.token("bob", &[]);
    let r = s
        .client
        .post(s.url("/v1/py"))
        .bearer_auth(&bob)
        .json(&prompt("py1", "Hi {{who}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("scope=\"prompts:admin\""), "{challenge}");

    // With it: created, with the headers the policy adds.
    let admin = s.token("alice", &["--scope", "prompts:admin"]);
    let r = s
        .client
        .post(s.url("/v1/py"))
        .bearer_auth(&admin)
        .json(&prompt("py1", "Hi {{who}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-write-scope"], "prompts:admin");
    assert_eq!(r.headers()["x-policy-lang"], "python");
    let r = s.client.get(s.url("/v1/py/py1")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Healthy traffic through the good Python policy while the hostile one misbehaves.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let background = {
        let (s, stop) = (s.clone(), stop.clone());
        tokio::spawn(async move {
            let mut ok = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = s.client.get(s.url("/v1/py/py1")).send().await.unwrap();
                assert_eq!(r.status(), 200, "a healthy request failed");
                ok += 1;
            }
            ok
        })
    };
    let cases = [
        ("loop", 504u16, "/problems/plugin-timeout"),
        ("oom", 500, "/problems/plugin-limit"),
        ("raise", 500, "/problems/plugin-trap"),
    ];
    for (id, status, kind) in cases {
        let started = Instant::now();
        let r = s
            .client
            .get(s.url(&format!("/v1/pyh/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{id}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{id} took {:?}",
            started.elapsed()
        );
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["type"], kind, "{id}: {v}");
        // The hostile plugin still answers well-behaved calls afterwards.
        let r = s.client.get(s.url("/v1/pyh/py1")).send().await.unwrap();
        assert_eq!(r.status(), 200, "after {id}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ok = background.await.unwrap();
    assert!(ok > 0);
    let r = s.client.get(s.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
