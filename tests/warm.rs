//! Instance reuse (host/src/plugins/warm.rs), counted rather than timed: what a warm
//! instance's memory keeps between calls, whom it serves (one tenant only), when it is
//! discarded (max_calls, a failed call, reload), a request's render calls sharing one
//! renderer instance, and the Python policy example served warm.

use crate::common;

use common::{Server, base_config, example, hostile_config, prompt};
use serde_json::Value;

/// `mcp_prompts_plugin_instances_total{plugin, source}` now.
async fn instances(s: &Server, plugin: &str, source: &str) -> u64 {
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix =
        format!("mcp_prompts_plugin_instances_total{{plugin=\"{plugin}\",source=\"{source}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

/// The `count` prompt of the hostile plugin: `calls=N first=T now=U` from the memory of
/// the instance that served it.
async fn count(s: &Server, token: Option<&str>) -> String {
    let mut r = s.client.get(s.url("/v1/warm/count"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["content"].as_str().unwrap().to_string()
}

fn warm_config(max_calls: u32) -> String {
    hostile_config(&format!(
        r#"
[plugins.warm-hostile]
path = "{}"
world = "prompt-handler"
memory_limit = "32MiB"
timeout = "1s"
kv = ["scratch"]

[plugins.warm-hostile.warm]
max_calls = {max_calls}
max_idle = 4

[[routes]]
path = "/v1/warm"
handler = "warm-hostile"
auth = "optional"
"#,
        common::plugin("test_hostile").display()
    ))
}

#[tokio::test]
async fn a_warm_instance_keeps_its_memory_for_one_tenant_until_it_is_retired() {
    let s = Server::start_with(&warm_config(3));
    let acme = s.token("alice", &["--tenant", "acme"]);
    let other = s.token("bob", &["--tenant", "other"]);

    // Without [warm] every call is fresh: the memory never remembers a call.
    for _ in 0..3 {
        let r = s
            .client
            .get(s.url("/v1/hostile/count"))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["content"], "calls=1 first=default now=default", "{v}");
    }

    // One tenant's sequential calls share an instance until max_calls (3) is served.
    let seen: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(count(&s, Some(&acme)).await);
        }
        v
    };
    assert_eq!(
        seen,
        [
            "calls=1 first=acme now=acme",
            "calls=2 first=acme now=acme",
            "calls=3 first=acme now=acme",
            "calls=1 first=acme now=acme",
        ]
    );

    // Another tenant never gets that instance: its first call is a fresh one, and its
    // own instance remembers only its calls.
    assert_eq!(
        count(&s, Some(&other)).await,
        "calls=1 first=other now=other"
    );
    assert_eq!(
        count(&s, Some(&other)).await,
        "calls=2 first=other now=other"
    );
    // Anonymous callers are the default tenant, again separate.
    assert_eq!(count(&s, None).await, "calls=1 first=default now=default");
    assert_eq!(count(&s, Some(&acme)).await, "calls=2 first=acme now=acme");

    // A failed call discards its instance: the next one starts from fresh memory.
    let r = s
        .client
        .get(s.url("/v1/warm/trap"))
        .bearer_auth(&acme)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let after_trap = count(&s, Some(&acme)).await;
    assert_eq!(after_trap, "calls=1 first=acme now=acme");

    // So does a timeout: the endless loop ran on that instance, and it is gone too.
    assert_eq!(count(&s, Some(&acme)).await, "calls=2 first=acme now=acme");
    let r = s
        .client
        .get(s.url("/v1/warm/loop"))
        .bearer_auth(&acme)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(count(&s, Some(&acme)).await, "calls=1 first=acme now=acme");

    // The metric agrees. Fresh: acme's first, after max_calls, after the trap and after
    // the loop, other's and the default tenant's first. Warm: acme's 2nd, 3rd, the one
    // after the other tenants, the trap, the count before the loop and the loop; other's
    // 2nd.
    assert_eq!(instances(&s, "warm-hostile", "fresh").await, 6);
    assert_eq!(instances(&s, "warm-hostile", "warm").await, 7);
    assert_eq!(instances(&s, "hostile", "warm").await, 0);
    assert_eq!(instances(&s, "hostile", "fresh").await, 3);
}

#[tokio::test]
async fn a_reload_drops_the_warm_instances_of_the_old_configuration() {
    let s = Server::start_with(&warm_config(100));
    assert_eq!(count(&s, None).await, "calls=1 first=default now=default");
    assert_eq!(count(&s, None).await, "calls=2 first=default now=default");
    // The same configuration again is a new generation: its pool starts empty.
    let pid = s.child.as_ref().unwrap().id() as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !s.log_text().contains("reloaded configuration and plugins") {
        assert!(std::time::Instant::now() < deadline, "{}", s.log_text());
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(count(&s, None).await, "calls=1 first=default now=default");
}

#[tokio::test]
async fn a_requests_render_calls_share_one_renderer_instance() {
    let s = Server::start_with(&base_config(""));
    let admin = s.token("admin", &["--scope", "prompts:admin"]);
    // Three partials: the store renders, learns of a missing partial, fetches it and
    // renders again, four render calls for one apply.
    for (id, text) in [
        ("part-a", "A({{x}})"),
        ("part-b", "B {{> part-c}}"),
        ("part-c", "C"),
        ("whole", "{{> part-a}} {{> part-b}} {{x}}"),
    ] {
        let mut p = prompt(id, text);
        p["isTemplate"] = Value::Bool(true);
        let r = s
            .client
            .post(s.url("/v1/prompts"))
            .bearer_auth(&admin)
            .json(&p)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let fresh = instances(&s, "renderer", "fresh").await;
    let shared = instances(&s, "renderer", "request").await;
    let r = s
        .client
        .post(s.url("/v1/prompts/whole/apply"))
        .json(&serde_json::json!({"variables": {"x": "1"}}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["content"], "A(1) B C 1", "{v}");
    assert_eq!(instances(&s, "renderer", "fresh").await - fresh, 1);
    let reused = instances(&s, "renderer", "request").await - shared;
    assert!(
        reused >= 1,
        "the later render calls reused the instance: {reused}"
    );
}

#[tokio::test]
async fn the_python_policy_runs_warm() {
    let cache = common::repo_root().join("target/test-plugin-cache");
    let config = base_config(&format!(
        r#"
[plugins.py-policy]
path = "{}"
world = "policy"
timeout = "5s"
memory_limit = "128MiB"
kv = ["py-unused"]
stub_wasi = ["sockets"]

[plugins.py-policy.warm]
max_calls = 50

[[routes]]
path = "/v1/py"
handler = "prompt-store"
auth = "optional"
policies = ["py-policy"]
"#,
        example("python_policy").display()
    ))
    .replacen(
        "[runtime]\n",
        &format!("[runtime]\ncache_dir = \"{}\"\n", cache.display()),
        1,
    );
    let s = Server::start_with(&config);
    for _ in 0..10 {
        let r = s.client.get(s.url("/v1/py")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // Anonymous writes are still refused by the Python code on a warm instance.
    let r = s
        .client
        .post(s.url("/v1/py"))
        .json(&prompt("py-warm", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(instances(&s, "py-policy", "fresh").await, 1);
    assert_eq!(instances(&s, "py-policy", "warm").await, 10);
}
