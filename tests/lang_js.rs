//! The JavaScript renderer example (plugins/examples/js-renderer, built with
//! componentize-js by plugins/examples/build.sh) behind the default prompt store, loaded by
//! the real server and rendering real requests over TLS; and the hostile JavaScript
//! policy (plugins/examples/js-hostile) failing only its own requests.

use crate::common;

use common::{Server, base_config, example, prompt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The default config plus a second prompt store on `/v1/js` whose renderer is the
/// JavaScript component. Compiled components are cached under target/.
fn config() -> String {
    let cache = common::repo_root().join("target/test-plugin-cache");
    base_config(&format!(
        r#"
[plugins.js-renderer]
path = "{renderer}"
world = "renderer"
timeout = "5s"
memory_limit = "128MiB"
# componentize-js imports wasi:http for `fetch`, which this renderer never calls.
stub_wasi = ["http"]

[plugins.js-store]
path = "{store}"
world = "prompt-handler"
kv = ["js-prompts"]
renderer = "js-renderer"
timeout = "10s"

[plugins.js-store.config]
namespace = "js-prompts"

[[routes]]
path = "/v1/js"
handler = "js-store"
auth = "optional"

[plugins.js-hostile]
path = "{hostile}"
world = "policy"
timeout = "2s"
memory_limit = "96MiB"
# componentize-js imports every import of the policy world, kv included.
kv = ["js-unused"]
stub_wasi = ["http"]

[[routes]]
path = "/v1/jsh"
handler = "prompt-store"
auth = "optional"
policies = ["js-hostile"]
"#,
        hostile = example("js_hostile").display(),
        renderer = example("js_renderer").display(),
        store = common::plugin("prompt_store").display(),
    ))
    .replacen(
        "[runtime]\n",
        &format!("[runtime]\ncache_dir = \"{}\"\n", cache.display()),
        1,
    )
}

#[tokio::test]
async fn javascript_renderer_renders_variables_partials_and_errors() {
    let s = Arc::new(Server::start_with(&config()));
    let token = s.token("alice", &[]);
    for (id, content) in [
        ("footer", "-- {{who}}"),
        ("greet", "Hi {{who}} from {{place.city}} {{> footer}}"),
        ("loop-a", "a {{> loop-b}}"),
        ("loop-b", "b {{> loop-a}}"),
    ] {
        let r = s
            .client
            .post(s.url("/v1/js"))
            .bearer_auth(&token)
            .json(&prompt(id, content))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{id}: {}", r.text().await.unwrap());
    }

    // Variables (nested) and a partial that the store supplies on demand after the
    // renderer asked for it with `missing-partial`.
    let r = s
        .client
        .post(s.url("/v1/js/greet/apply"))
        .json(&json!({"variables": {"who": "JS", "place": {"city": "Lyon"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"], "Hi JS from Lyon -- JS", "{v}");

    // A partial cycle comes back as the renderer's own error, not as a trap.
    let r = s
        .client
        .post(s.url("/v1/js/loop-a/apply"))
        .json(&json!({"variables": {}}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["type"], "/problems/render-failed", "{v}");

    // The same prompt through the Rust renderer gives the same text: the JS example
    // keeps the renderer contract for what it supports.
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(&token)
        .json(&prompt("greet", "Hi {{who}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = s
        .client
        .post(s.url("/v1/prompts/greet/apply"))
        .json(&json!({"variables": {"who": "JS"}}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"], "Hi JS", "{v}");

    // The hostile policy: an endless loop, a memory bomb and a throw each fail only their
    // own request, while requests through the good plugins keep succeeding meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (s, stop) = (s.clone(), stop.clone());
        tokio::spawn(async move {
            let mut ok = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let r = s
                    .client
                    .post(s.url("/v1/js/greet/apply"))
                    .json(&json!({"variables": {"who": "JS", "place": {"city": "Lyon"}}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "a healthy request failed");
                ok += 1;
            }
            ok
        })
    };
    for (id, status, kind) in [
        ("loop", 504u16, "/problems/plugin-timeout"),
        ("oom", 500, "/problems/plugin-limit"),
        ("raise", 500, "/problems/plugin-trap"),
    ] {
        let started = Instant::now();
        let r = s
            .client
            .get(s.url(&format!("/v1/jsh/{id}")))
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
        // The hostile plugin still answers well-behaved calls afterwards (the prompt
        // store behind it: 200 for the prompt created above).
        let r = s.client.get(s.url("/v1/jsh/greet")).send().await.unwrap();
        assert_eq!(r.status(), 200, "after {id}");
    }
    stop.store(true, Ordering::Relaxed);
    let ok = background.await.unwrap();
    assert!(ok > 0);
    let r = s.client.get(s.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
