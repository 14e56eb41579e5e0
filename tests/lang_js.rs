//! The JavaScript renderer example (plugins/examples/js-renderer, built with
//! componentize-js by plugins/examples/build.sh) behind the default prompt store, loaded by
//! the real server and rendering real requests over TLS.

use crate::common;

use common::{Server, base_config, example, prompt};
use serde_json::{Value, json};

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
"#,
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
    let s = Server::start_with(&config());
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
}
