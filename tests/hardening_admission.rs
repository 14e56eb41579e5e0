//! Hardening, CPU starvation (issue 15, item 3): per-plugin and per-route concurrency caps
//! refuse calls beyond the cap with 503 and `Retry-After` before an instance is created,
//! while other plugins, other routes and the built-in endpoints keep being served.

use crate::common;

use common::{Server, hostile_config};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

fn spawn_loops(s: &Arc<Server>, path: &str, n: usize) -> Vec<tokio::task::JoinHandle<u16>> {
    (0..n)
        .map(|_| {
            let s = s.clone();
            let url = s.url(path);
            tokio::spawn(async move { s.client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect()
}

async fn assert_busy(r: reqwest::Response, names: &str) {
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "/problems/busy", "{v}");
    let detail = v["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(names), "{v}");
}

#[tokio::test]
async fn plugin_concurrency_cap_refuses_extra_calls_and_spares_the_rest() {
    let s = Arc::new(Server::start_with(&hostile_config("").replace(
        "timeout = \"1s\"",
        "timeout = \"3s\"\nmax_concurrency = 2\nqueue_timeout = \"300ms\"",
    )));
    let loops = spawn_loops(&s, "/v1/hostile/loop", 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A third call into the same plugin waits its queue_timeout, then is refused: it is
    // not queued behind the loops for their whole 3 s.
    let started = std::time::Instant::now();
    let r = s.client.get(s.url("/v1/hostile/ok")).send().await.unwrap();
    let waited = started.elapsed();
    assert_busy(r, "max_concurrency").await;
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(2500),
        "refused after {waited:?}"
    );
    // Other plugins and built-in routes are unaffected.
    let r = s.client.get(s.url("/v1/prompts")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s.client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        loops.iter().any(|l| !l.is_finished()),
        "the loops ended before the checks ran; the test proved nothing"
    );
    for l in loops {
        assert_eq!(l.await.unwrap(), 504);
    }
    let r = s.client.get(s.url("/v1/hostile/ok")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn route_concurrency_cap_refuses_extra_requests_of_that_route_only() {
    let s = Arc::new(Server::start_with(
        &hostile_config(
            r#"
[[routes]]
path = "/v1/slow"
handler = "hostile"
auth = "none"
max_concurrency = 1
"#,
        )
        .replace("timeout = \"1s\"", "timeout = \"3s\""),
    ));
    let loops = spawn_loops(&s, "/v1/slow/loop", 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = s.client.get(s.url("/v1/slow/ok")).send().await.unwrap();
    assert_busy(r, "/v1/slow").await;
    // The same plugin through another route is still served.
    let r = s.client.get(s.url("/v1/hostile/ok")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        !loops[0].is_finished(),
        "the loop ended before the checks ran"
    );
    for l in loops {
        assert_eq!(l.await.unwrap(), 504);
    }
    let r = s.client.get(s.url("/v1/slow/ok")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn zero_route_concurrency_is_refused_at_check() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        hostile_config("max_concurrency = 0").replace("{data}", &dir.path().display().to_string()),
    )
    .unwrap();
    let (code, _, err) = common::run_cli(&["check", "--config", cfg.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("max_concurrency"), "{err}");
}

#[tokio::test]
async fn render_budget_refuses_quiet_nested_loops_with_a_4xx_naming_the_problem() {
    let s = Server::start_with(&common::base_config(""));
    let t = s.token("alice", &[]);
    let mut p = common::prompt(
        "spin",
        "{{#each xs}}{{#each ../xs}}{{#each ../../xs}}{{/each}}{{/each}}{{/each}}",
    );
    p["variables"] = serde_json::json!([{"name": "xs", "required": false, "default": []}]);
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(&t)
        .json(&p)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let xs: Vec<u32> = (0..200).collect();
    // Anonymous, as in the probe: a public template anyone may apply.
    let r = s
        .client
        .post(s.url("/v1/prompts/spin/apply"))
        .json(&serde_json::json!({ "variables": { "xs": xs } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "/problems/render-failed", "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("render budget exceeded"),
        "{v}"
    );
}
