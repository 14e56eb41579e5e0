//! A prompt's `config` (issue 13, item 5) over REST and MCP on both storage backends,
//! against the real binary and plugins over TLS: versioned with the prompt, returned by
//! GET and apply and in `prompts/get` `_meta`, size-limited (413), configurable limit.

use crate::common;
use crate::rest_suite;

use common::Server;
use common::moto::AwsEnv;
use reqwest::StatusCode;
use rest_suite::{Api, problem};
use serde_json::{Map, Value, json};

/// The prompt store's limit lowered to 2 KiB, to show it is configurable.
fn limited(config: String) -> String {
    let anchor = "[plugins.policy]\n";
    assert!(config.contains(anchor), "base_config's plugins changed");
    config.replacen(
        anchor,
        &format!("[plugins.prompt-store.config]\nmax_config_size = 2048\n\n{anchor}"),
        1,
    )
}

fn embedded() -> Api {
    Api::new(Server::start_with(&limited(common::base_config(""))))
}

fn aws() -> Api {
    let env = AwsEnv::new();
    let config = limited(env.config(""));
    let (code, out, err) = env.bootstrap(&config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
    Api::new(Server::start_with_env(&config, env.env()))
}

async fn body(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn run_config() -> Value {
    json!({
        "model": "gpt-x",
        "temperature": 0.3,
        "tools": [{"name": "search", "parameters": {"type": "object"}}],
        "response_format": {"type": "json_object"}
    })
}

async fn config_is_versioned_and_returned(a: Api) {
    let mut p = common::prompt("cfg", "Summarise {{text}}");
    p["config"] = run_config();
    let r = a.post("/v1/prompts", &p).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(
        body(a.get("/v1/prompts/cfg").await).await["config"],
        run_config()
    );

    // A new config is a new version; the old one keeps its own.
    let r = a
        .put(
            "/v1/prompts/cfg",
            &json!({"config": {"model": "gpt-y"}}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        body(a.get("/v1/prompts/cfg").await).await["config"],
        json!({"model": "gpt-y"})
    );
    assert_eq!(
        body(a.get("/v1/prompts/cfg?version=1").await).await["config"],
        run_config()
    );
    // Other updates keep it; null removes it.
    let r = a
        .put("/v1/prompts/cfg", &json!({"description": "d"}), None)
        .await;
    assert_eq!(body(r).await["config"], json!({"model": "gpt-y"}));

    // Apply returns the config of the version it rendered.
    let r = a
        .post(
            "/v1/prompts/cfg/apply?version=1",
            &json!({"variables": {"text": "t"}}),
        )
        .await;
    let applied = body(r).await;
    assert_eq!(applied["content"], "Summarise t");
    assert_eq!(applied["config"], run_config());
    let r = a
        .put("/v1/prompts/cfg", &json!({"config": null}), None)
        .await;
    assert_eq!(body(r).await["config"], Value::Null);
    let r = a
        .post(
            "/v1/prompts/cfg/apply",
            &json!({"variables": {"text": "t"}}),
        )
        .await;
    assert_eq!(body(r).await["config"], Value::Null);
    // Prompts without config say null.
    let r = a.post("/v1/prompts", &common::prompt("plain", "x")).await;
    assert_eq!(body(r).await["config"], Value::Null);

    // Bad inputs: not an object (400), too large (413, naming the limit), on create,
    // update and import alike; the body itself is well within max_body_size.
    let mut bad = common::prompt("bad", "x");
    bad["config"] = json!(["model"]);
    let p = problem(a.post("/v1/prompts", &bad).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"][0]["field"], "config", "{p}");
    let big = json!({"system_prompt_notes": "x".repeat(4096)});
    bad["config"] = big.clone();
    let p = problem(
        a.post("/v1/prompts", &bad).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(p["type"], "/problems/too-large");
    assert!(p["detail"].as_str().unwrap().contains("2048"), "{p}");
    problem(
        a.put("/v1/prompts/plain", &json!({"config": big}), None)
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    problem(
        a.put("/v1/prompts/bad?mode=replace", &bad, None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    problem(a.get("/v1/prompts/bad").await, StatusCode::NOT_FOUND).await;
    // Just under the limit is fine.
    let r = a
        .put(
            "/v1/prompts/plain",
            &json!({"config": {"k": "x".repeat(1900)}}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
}

async fn config_rides_in_mcp_meta(a: Api) {
    use rmcp::ServiceExt;
    use rmcp::model::{
        CallToolRequestParams, ClientCapabilities, ClientConfig, GetPromptRequestParams,
        Implementation,
    };
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let mut p = common::prompt("cfg", "Summarise {{text}}");
    p["config"] = run_config();
    assert_eq!(a.post("/v1/prompts", &p).await.status(), 201);

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
        Implementation::new("config-test", "1.0"),
    )
    .serve(StreamableHttpClientTransport::with_client(http, cfg))
    .await
    .expect("initialize");
    let got = client
        .get_prompt(GetPromptRequestParams::new("cfg").with_arguments(obj(json!({"text": "t"}))))
        .await
        .unwrap();
    assert_eq!(
        got.meta.expect("_meta").0["mcp-prompts/config"],
        run_config()
    );

    let r = client
        .call_tool(
            CallToolRequestParams::new("apply_template".to_string())
                .with_arguments(obj(json!({"id": "cfg", "variables": {"text": "t"}}))),
        )
        .await
        .unwrap();
    assert_eq!(r.structured_content.unwrap()["config"], run_config());
    let r = client
        .call_tool(
            CallToolRequestParams::new("get_prompt".to_string())
                .with_arguments(obj(json!({"id": "cfg"}))),
        )
        .await
        .unwrap();
    assert_eq!(r.structured_content.unwrap()["config"], run_config());
    // Too large through a tool: an error result carrying the 413 problem.
    let r = client
        .call_tool(
            CallToolRequestParams::new("update_prompt".to_string())
                .with_arguments(obj(json!({"id": "cfg", "config": {"k": "x".repeat(4096)}}))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert_eq!(r.structured_content.unwrap()["status"], 413);
    // A prompt without config has no config in _meta.
    assert_eq!(
        a.post("/v1/prompts", &common::prompt("plain", "x"))
            .await
            .status(),
        201
    );
    let got = client
        .get_prompt(GetPromptRequestParams::new("plain"))
        .await
        .unwrap();
    assert!(
        got.meta
            .is_none_or(|m| !m.0.contains_key("mcp-prompts/config"))
    );
    let _ = client.cancel().await;
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

both_backends!(config_is_versioned_and_returned, config_rides_in_mcp_meta);
