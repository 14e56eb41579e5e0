//! `/metrics`: the exposition parses as OpenMetrics text and its counters move; the
//! separate-listener mode serves it only there; the bearer-token mode refuses without
//! the token.

use crate::common;

use common::{Server, base_config, hostile_config, prompt};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One sample line of the exposition.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed scrape: the samples plus the metric families that have `# HELP` and `# TYPE`.
#[derive(Debug)]
struct Scrape {
    samples: Vec<Sample>,
    help: BTreeMap<String, String>,
    types: BTreeMap<String, String>,
}

impl Scrape {
    /// Sum of the samples named `name` whose labels include all of `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.samples.iter().any(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

/// A small parser for the OpenMetrics text format (the subset the server writes:
/// `# HELP`/`# TYPE`/`# UNIT` lines, samples with optional quoted labels, `# EOF`).
/// Panics with the offending line on anything malformed.
fn parse(text: &str) -> Scrape {
    let mut samples = Vec::new();
    let mut help = BTreeMap::new();
    let mut types = BTreeMap::new();
    let mut saw_eof = false;
    for line in text.lines() {
        assert!(!saw_eof, "content after # EOF: {line:?}");
        if line == "# EOF" {
            saw_eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let family = parts.next().expect(line).to_string();
            let value = parts.next().unwrap_or("").to_string();
            match kind {
                "HELP" => {
                    help.insert(family, value);
                }
                "TYPE" => {
                    types.insert(family, value);
                }
                "UNIT" => {}
                _ => panic!("unknown comment line {line:?}"),
            }
            continue;
        }
        assert!(!line.is_empty(), "empty line in exposition");
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("sample without value: {line:?}"),
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let end;
            loop {
                // label name
                let start = chars.peek().expect(line).0;
                let mut eq = None;
                for (i, c) in chars.by_ref() {
                    if c == '=' {
                        eq = Some(i);
                        break;
                    }
                }
                let eq = eq.expect(line);
                let key = body[start..eq].to_string();
                assert_eq!(chars.next().map(|x| x.1), Some('"'), "{line:?}");
                let mut value = String::new();
                loop {
                    let (_, c) = chars.next().expect(line);
                    match c {
                        '\\' => match chars.next().expect(line).1 {
                            'n' => value.push('\n'),
                            other => value.push(other),
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.insert(key, value);
                match chars.next().expect(line) {
                    (_, ',') => continue,
                    (i, '}') => {
                        end = i;
                        break;
                    }
                    other => panic!("unexpected {other:?} in {line:?}"),
                }
            }
            rest = &body[end + 1..];
        }
        let value_text = rest.trim_start().split(' ').next().expect(line).to_string();
        let value = match value_text.as_str() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    assert!(saw_eof, "OpenMetrics exposition must end with # EOF");
    Scrape {
        samples,
        help,
        types,
    }
}

async fn scrape(client: &reqwest::Client, url: &str) -> Scrape {
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {url}");
    let ct = r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ct,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    parse(&r.text().await.unwrap())
}

#[tokio::test]
async fn counters_move_between_scrapes() {
    let s = Server::start_with(&hostile_config(""));
    let metrics = s.url("/metrics");
    let before = scrape(&s.client, &metrics).await;

    assert!(before.value("mcp_prompts_process_start_time_seconds", &[]) > 1.6e9);
    assert_eq!(
        before.value(
            "mcp_prompts_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert!(before.has("mcp_prompts_reloads_total", &[("result", "ok")]));
    assert!(before.has("mcp_prompts_jwks_refreshes_total", &[("result", "failed")]));

    // Traffic: a list, a create, a read, a 404, a refused token, plugin failures.
    let token = s.token("alice", &[]);
    let r = s.client.get(s.url("/v1/prompts")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(&token)
        .json(&prompt("metrics-1", "hello {{name}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = s
        .client
        .get(s.url("/v1/prompts/metrics-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .get(s.url("/definitely/not/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s
        .client
        .get(s.url("/v1/prompts"))
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .client
        .get(s.url("/v1/hostile/trap"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let r = s.client.get(s.url("/v1/hostile/oom")).send().await.unwrap();
    assert_eq!(r.status(), 500);

    let after = scrape(&s.client, &metrics).await;
    // Every family is documented.
    for family in after.types.keys() {
        assert!(
            after.help.get(family).is_some_and(|h| !h.is_empty()),
            "{family} has no HELP"
        );
    }
    // Families appear once they have a series (storage_errors only after an error).
    for family in [
        "mcp_prompts_http_requests",
        "mcp_prompts_http_request_duration_seconds",
        "mcp_prompts_plugin_call_duration_seconds",
        "mcp_prompts_plugin_failures",
        "mcp_prompts_auth_failures",
        "mcp_prompts_storage_operation_duration_seconds",
        "mcp_prompts_reloads",
        "mcp_prompts_jwks_refreshes",
        "mcp_prompts_pooling_allocator",
        "mcp_prompts_pool_in_use",
        "mcp_prompts_pool_max_component_instances",
        "mcp_prompts_process_start_time_seconds",
        "mcp_prompts_build",
    ] {
        assert!(after.types.contains_key(family), "{family} missing");
    }
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };

    let req = "mcp_prompts_http_requests_total";
    assert!(delta(req, &[("route", "/v1/prompts"), ("status", "200")]) >= 2.0);
    assert_eq!(
        delta(req, &[("route", "/v1/prompts"), ("status", "201")]),
        1.0
    );
    assert_eq!(
        delta(req, &[("route", "/v1/prompts"), ("status", "401")]),
        1.0
    );
    assert_eq!(delta(req, &[("route", "none"), ("status", "404")]), 1.0);
    assert_eq!(
        delta(req, &[("route", "/v1/hostile"), ("status", "500")]),
        2.0
    );
    // The first scrape itself is counted by the time of the second.
    assert!(delta(req, &[("route", "/metrics"), ("status", "200")]) >= 1.0);
    // The raw path never becomes a label.
    assert!(
        !after.samples.iter().any(|s| s
            .labels
            .values()
            .any(|v| v.contains("metrics-1") || v.contains("not/here"))),
        "a raw path leaked into a label"
    );
    assert!(
        delta(
            "mcp_prompts_http_request_duration_seconds_count",
            &[("route", "/v1/prompts")]
        ) >= 4.0
    );

    let calls = "mcp_prompts_plugin_call_duration_seconds_count";
    assert!(
        delta(
            calls,
            &[("plugin", "prompt-store"), ("world", "prompt-handler")]
        ) >= 3.0
    );
    assert!(delta(calls, &[("plugin", "policy"), ("world", "policy")]) >= 3.0);
    let failures = "mcp_prompts_plugin_failures_total";
    assert_eq!(
        delta(failures, &[("plugin", "hostile"), ("kind", "trap")]),
        1.0
    );
    assert_eq!(
        delta(failures, &[("plugin", "hostile"), ("kind", "limit")]),
        1.0
    );
    assert_eq!(delta(failures, &[("plugin", "prompt-store")]), 0.0);

    assert_eq!(
        delta("mcp_prompts_auth_failures_total", &[("reason", "invalid")]),
        1.0
    );

    let storage = "mcp_prompts_storage_operation_duration_seconds_count";
    assert!(delta(storage, &[("backend", "embedded")]) >= 3.0);
    assert!(delta(storage, &[("backend", "embedded"), ("op", "kv_transact")]) >= 1.0);
    assert!(delta(storage, &[("backend", "embedded"), ("op", "kv_get")]) >= 1.0);

    // Pool occupancy is sampled at scrape time when the pooling allocator is in use.
    if after.value("mcp_prompts_pooling_allocator", &[]) == 1.0 {
        for resource in [
            "component_instances",
            "core_instances",
            "memories",
            "tables",
            "stacks",
        ] {
            assert!(
                after.has("mcp_prompts_pool_in_use", &[("resource", resource)]),
                "pool_in_use{{resource={resource}}} missing"
            );
        }
        assert_eq!(
            after.value("mcp_prompts_pool_max_component_instances", &[]),
            200.0
        );
    }

    // Classic Prometheus text on request; other methods are refused.
    let r = s
        .client
        .get(&metrics)
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("mcp_prompts_http_requests_total{")
    );
    let r = s.client.post(&metrics).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

/// Waits for the separate listener's address in the server's JSON log.
fn metrics_addr(s: &Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for line in s.log_text().lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                && let Some(a) = v["metrics_addr"].as_str()
            {
                return a.to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no metrics_addr in log:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn separate_listener_serves_metrics_only_there() {
    let s = Server::start_with(&base_config("\n[metrics]\nlisten = \"127.0.0.1:0\"\n"));
    let addr = metrics_addr(&s);
    let plain = reqwest::Client::new();
    let url = format!("http://{addr}/metrics");
    let before = scrape(&plain, &url).await;
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404, "main listener must not serve /metrics");
    let r = s.client.get(s.url("/v1/prompts")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let after = scrape(&plain, &url).await;
    let key = [("route", "none"), ("status", "404")];
    assert_eq!(
        after.value("mcp_prompts_http_requests_total", &key)
            - before.value("mcp_prompts_http_requests_total", &key),
        1.0
    );
    let key = [("route", "/v1/prompts"), ("status", "200")];
    assert_eq!(
        after.value("mcp_prompts_http_requests_total", &key)
            - before.value("mcp_prompts_http_requests_total", &key),
        1.0
    );
    // The metrics listener serves nothing else.
    let r = plain
        .get(format!("http://{addr}/v1/prompts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = plain
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

const TOKEN_ENV: &str = "MCP_PROMPTS_TEST_METRICS_TOKEN";
const TOKEN: &str = "metrics-scrape-token-0123456789";

#[tokio::test]
async fn bearer_token_is_required_when_configured() {
    // The token reaches the server's environment only (this process runs every test).
    let s = Server::start_with_env(
        &base_config(&format!(
            "\n[metrics]\nbearer_token_env = \"{TOKEN_ENV}\"\n"
        )),
        vec![(TOKEN_ENV.to_string(), TOKEN.to_string())],
    );
    let url = s.url("/metrics");
    let r = s.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = s
        .client
        .get(&url)
        .bearer_auth("metrics-scrape-token-012345678X")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // An API token is not a metrics token.
    let jwt = s.token("alice", &[]);
    let r = s.client.get(&url).bearer_auth(&jwt).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = s.client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let parsed = parse(&body);
    assert!(
        parsed.value(
            "mcp_prompts_http_requests_total",
            &[("route", "/metrics"), ("status", "401")]
        ) >= 3.0
    );
    assert!(!body.contains(TOKEN), "the token must never be exposed");
    // The API itself is unaffected.
    let r = s.client.get(s.url("/v1/prompts")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn unset_token_variable_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        base_config("\n[metrics]\nbearer_token_env = \"MCP_PROMPTS_SURELY_UNSET_METRICS_TOKEN\"\n")
            .replace("{data}", &data.display().to_string()),
    )
    .unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("metrics.bearer_token_env")
            && stderr.contains("MCP_PROMPTS_SURELY_UNSET_METRICS_TOKEN"),
        "{stderr}"
    );
}
