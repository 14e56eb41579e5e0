//! Diffs between versions (issue 13, item 6) over REST, the MCP tool `diff_prompt` and
//! the CLI, on both storage backends, against the real binary and plugins over TLS.

use crate::common;
use crate::rest_suite;

use common::Server;
use common::moto::AwsEnv;
use reqwest::StatusCode;
use rest_suite::{Api, problem};
use serde_json::{Value, json};

fn embedded() -> Api {
    Api::new(Server::start_with(&common::base_config("")))
}

fn aws() -> Api {
    let env = AwsEnv::new();
    let config = env.config("");
    let (code, out, err) = env.bootstrap(&config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
    Api::new(Server::start_with_env(&config, env.env()))
}

async fn body(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

/// `dp` in three versions; version 2 is labelled `staging`.
async fn history(a: &Api) {
    let r = a
        .post(
            "/v1/prompts",
            &json!({
                "id": "dp", "name": "Diffed", "content": "line one\nline two\nline three\n",
                "tags": ["a", "b"], "variables": ["x"],
                "config": {"model": "small", "temperature": 0.2}
            }),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = a
        .put(
            "/v1/prompts/dp",
            &json!({
                "content": "line one\nline 2\nline three\n", "tags": ["b", "c"],
                "variables": ["x", {"name": "y", "default": "z"}],
                "config": {"model": "large", "temperature": 0.2, "tools": [{"name": "search"}]},
                "accessLevel": "private"
            }),
            None,
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = a
        .put("/v1/prompts/dp", &json!({"name": "Renamed"}), None)
        .await;
    assert_eq!(r.status(), 200);
    let r =
        a.s.client
            .put(a.s.url("/v1/prompts/dp/labels/staging"))
            .bearer_auth(&a.token)
            .json(&json!({"version": 2}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
}

async fn get(a: &Api, path: &str) -> reqwest::Response {
    a.s.client
        .get(a.s.url(path))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap()
}

async fn diffs_over_rest(a: Api) {
    history(&a).await;
    let r = get(&a, "/v1/prompts/dp/diff?from=1&to=staging").await;
    assert_eq!(r.status(), 200);
    let d = body(r).await;
    assert_eq!(d["from"], json!({"version": 1, "label": null}));
    assert_eq!(d["to"], json!({"version": 2, "label": "staging"}));
    assert_eq!(d["identical"], false);
    let text = d["text"].as_str().unwrap();
    assert!(
        text.starts_with("--- dp@1\n+++ dp@staging (version 2)\n"),
        "{text}"
    );
    assert!(text.contains("-line two\n+line 2\n"), "{text}");
    assert!(text.contains(" line one\n"), "context lines: {text}");
    assert_eq!(
        d["config"],
        json!([
            {"path": "/model", "op": "changed", "from": "small", "to": "large"},
            {"path": "/tools", "op": "added", "to": [{"name": "search"}]}
        ])
    );
    assert_eq!(d["tags"], json!({"added": ["c"], "removed": ["a"]}));
    assert_eq!(d["variables"]["added"], json!(["y"]));
    assert_eq!(d["variables"]["removed"], json!([]));
    assert_eq!(
        d["accessLevel"],
        json!({"field": "accessLevel", "from": "public", "to": "private"})
    );
    assert_eq!(d["fields"], json!([]));

    // Only the name changed from 2 to 3 (latest); a version against itself is identical.
    let d = body(get(&a, "/v1/prompts/dp/diff?from=staging&to=latest").await).await;
    assert_eq!(d["text"], "");
    assert_eq!(
        d["fields"],
        json!([{"field": "name", "from": "Diffed", "to": "Renamed"}])
    );
    let d = body(get(&a, "/v1/prompts/dp/diff?from=2&to=2").await).await;
    assert_eq!(d["identical"], true);
    // `to` defaults to latest.
    let d = body(get(&a, "/v1/prompts/dp/diff?from=1").await).await;
    assert_eq!(d["to"]["version"], 3);

    // Bad inputs.
    let p = problem(
        get(&a, "/v1/prompts/dp/diff?to=2").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("from"), "{p}");
    let p = problem(
        get(&a, "/v1/prompts/dp/diff?from=9").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("9"), "{p}");
    let p = problem(
        get(&a, "/v1/prompts/dp/diff?from=canary").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("canary"), "{p}");
    problem(
        get(&a, "/v1/prompts/dp/diff?from=0").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        get(&a, "/v1/prompts/nope/diff?from=1").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let r =
        a.s.client
            .post(a.s.url("/v1/prompts/dp/diff?from=1"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 405);

    // Chat prompts diff their messages with roles.
    let r = a
        .post(
            "/v1/prompts",
            &json!({"id": "dc", "name": "C", "type": "chat", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"}
            ]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = a
        .put(
            "/v1/prompts/dc",
            &json!({"messages": [{"role": "system", "content": "Be very brief."}, {"role": "user", "content": "Hi"}]}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let d = body(get(&a, "/v1/prompts/dc/diff?from=1&to=2").await).await;
    let text = d["text"].as_str().unwrap();
    assert!(
        text.contains(" [system]\n-Be brief.\n+Be very brief.\n"),
        "{text}"
    );
}

async fn diffs_over_mcp(a: Api) {
    use rmcp::ServiceExt;
    use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    history(&a).await;
    let pem = std::fs::read(a.s.data_dir().join("tls/cert.pem")).unwrap();
    let http = reqwest13::Client::builder()
        .tls_certs_only([reqwest13::Certificate::from_pem(&pem).unwrap()])
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let cfg =
        StreamableHttpClientTransportConfig::with_uri(a.s.url("/mcp")).auth_header(a.token.clone());
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("diff-test", "1.0"),
    )
    .serve(StreamableHttpClientTransport::with_client(http, cfg))
    .await
    .expect("initialize");
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "diff_prompt"));
    let call = |args: Value| {
        let args = args.as_object().unwrap().clone();
        CallToolRequestParams::new("diff_prompt".to_string()).with_arguments(args)
    };
    let r = client
        .call_tool(call(json!({"id": "dp", "from": 1, "to": "staging"})))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let d = r.structured_content.unwrap();
    assert!(d["text"].as_str().unwrap().contains("+line 2"), "{d}");
    assert_eq!(d["to"]["label"], "staging");
    let r = client
        .call_tool(call(json!({"id": "dp", "from": "1", "to": "nope"})))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert_eq!(r.structured_content.unwrap()["status"], 404);
    let r = client.call_tool(call(json!({"id": "dp"}))).await.unwrap();
    assert_eq!(r.is_error, Some(true));
    let _ = client.cancel().await;
}

/// `mcp-prompts diff`: the unified diff and a summary on stdout; exit 0 when identical,
/// 1 when different, 2 on an error (as diff(1)), usable in CI.
async fn diffs_from_the_cli(mut a: Api) {
    history(&a).await;
    let env = a.s.env.clone();
    // The embedded store is locked by its server; the AWS one is shared.
    let dir = if env.is_empty() {
        Some(a.s.kill9())
    } else {
        None
    };
    let config = match &dir {
        Some(d) => d.path().join("config.toml"),
        None => a.s.config.clone(),
    };
    let run = |args: &[&str]| {
        let out = std::process::Command::new(common::BIN)
            .arg("diff")
            .arg("--config")
            .arg(&config)
            // dp is private since version 2: only its author sees it.
            .args(["--subject", "alice"])
            .args(args)
            .envs(env.iter().cloned())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["dp", "--from", "1", "--to", "staging"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("-line two\n+line 2\n"), "{out}");
    assert!(
        out.contains("config /model: \"small\" -> \"large\""),
        "{out}"
    );
    assert!(out.contains("tags: +c -a"), "{out}");
    let (code, out, err) = run(&["dp", "--from", "2", "--to", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&["dp", "--from", "1", "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["to"]["version"], 3);
    let (code, _, err) = run(&["dp", "--from", "7"]);
    assert_eq!(code, 2);
    assert!(err.contains("7"), "{err}");
    // Anonymously, the private prompt does not exist.
    let out = std::process::Command::new(common::BIN)
        .args(["diff", "--config"])
        .arg(&config)
        .args(["dp", "--from", "1"])
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    drop(dir);
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name(super::embedded()).await
                }
            )*
        }
        mod aws_backend {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name(super::aws()).await
                }
            )*
        }
    };
}

both_backends!(diffs_over_rest, diffs_over_mcp, diffs_from_the_cli);
