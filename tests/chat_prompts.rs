//! Chat prompts (issue 13, item 3) over REST, MCP (Streamable HTTP and stdio) on both
//! storage backends, against the real binary and plugins over TLS: messages as
//! templates, placeholders filled at apply time, the type fixed at creation, the bad
//! inputs (unknown role, placeholder missing), and system messages over MCP.

use crate::common;
use crate::rest_suite;

use common::Server;
use common::moto::AwsEnv;
use reqwest::StatusCode;
use rest_suite::{Api, problem};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, GetPromptRequestParams,
    Implementation, Role,
};
use serde_json::{Map, Value, json};

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

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

async fn body(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

fn tutor() -> Value {
    json!({
        "id": "tutor",
        "name": "Tutor",
        "type": "chat",
        "variables": ["topic", {"name": "tone", "default": "friendly"}],
        "messages": [
            {"role": "system", "content": "You are a {{tone}} tutor for {{topic}}."},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "Explain {{topic}} in one line."}
        ]
    })
}

async fn mcp_client(
    a: &Api,
) -> rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::InitializeRequestParams> {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let pem = std::fs::read(a.s.data_dir().join("tls/cert.pem")).unwrap();
    let http = reqwest13::Client::builder()
        .tls_certs_only([reqwest13::Certificate::from_pem(&pem).unwrap()])
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let cfg =
        StreamableHttpClientTransportConfig::with_uri(a.s.url("/mcp")).auth_header(a.token.clone());
    let transport = StreamableHttpClientTransport::with_client(http, cfg);
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("chat-test", "1.0"),
    )
    .serve(transport)
    .await
    .expect("initialize")
}

async fn chat_prompts_render_over_rest(a: Api) {
    let r = a.post("/v1/prompts", &tutor()).await;
    assert_eq!(r.status(), 201);
    let created = body(r).await;
    assert_eq!(created["type"], "chat");
    assert_eq!(created["content"], "");
    assert_eq!(created["messages"], tutor()["messages"]);
    assert_eq!(created["isTemplate"], true);

    // Text prompts say so, and have no messages.
    let r = a.post("/v1/prompts", &common::prompt("plain", "Hi")).await;
    let plain = body(r).await;
    assert_eq!(
        (plain["type"].clone(), plain["messages"].clone()),
        (json!("text"), Value::Null)
    );

    let got = body(a.get("/v1/prompts/tutor").await).await;
    assert_eq!(got["messages"], tutor()["messages"]);

    // Apply renders every message and inserts the history verbatim (not as a template).
    let history = json!([
        {"role": "user", "content": "What is {{topic}}?"},
        {"role": "assistant", "content": "A good question."}
    ]);
    let r = a
        .post(
            "/v1/prompts/tutor/apply",
            &json!({"variables": {"topic": "tides", "history": history}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let applied = body(r).await;
    assert_eq!(
        applied["messages"],
        json!([
            {"role": "system", "content": "You are a friendly tutor for tides."},
            {"role": "user", "content": "What is {{topic}}?"},
            {"role": "assistant", "content": "A good question."},
            {"role": "user", "content": "Explain tides in one line."}
        ])
    );
    let vars: Vec<&str> = applied["appliedVariables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(vars, ["tone", "topic"]);
    assert!(
        applied["content"]
            .as_str()
            .unwrap()
            .starts_with("You are a friendly tutor for tides.\n\n"),
        "{applied}"
    );
    // An empty history is a valid fill.
    let r = a
        .post(
            "/v1/prompts/tutor/apply",
            &json!({"variables": {"topic": "x", "history": []}}),
        )
        .await;
    assert_eq!(body(r).await["messages"].as_array().unwrap().len(), 2);
    // Text prompts answer messages: null.
    let r = a.post("/v1/prompts/plain/apply", &json!({})).await;
    assert_eq!(body(r).await["messages"], Value::Null);

    // The placeholder missing at apply: 400 naming it.
    let r = a
        .post(
            "/v1/prompts/tutor/apply",
            &json!({"variables": {"topic": "tides"}}),
        )
        .await;
    let p = problem(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["missingVariables"], json!(["history"]), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("history"), "{p}");
    // A fill of the wrong shape, or with an unknown role.
    let r = a
        .post(
            "/v1/prompts/tutor/apply",
            &json!({"variables": {"topic": "t", "history": [{"role": "tool", "content": "x"}]}}),
        )
        .await;
    let p = problem(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"][0]["field"], "variables.history[0].role", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("tool"), "{p}");

    // An unknown role on create: 400 naming it.
    let mut bad = tutor();
    bad["id"] = json!("bad");
    bad["messages"][2]["role"] = json!("developer");
    let p = problem(a.post("/v1/prompts", &bad).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"][0]["field"], "messages[2].role", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("'developer'"), "{p}");
    // Chat without messages, and a type that does not exist.
    let p = problem(
        a.post(
            "/v1/prompts",
            &json!({"id": "empty", "name": "E", "type": "chat"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "messages", "{p}");
    let p = problem(
        a.post(
            "/v1/prompts",
            &json!({"id": "v", "name": "V", "type": "voice", "content": "x"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "type", "{p}");

    // The type is fixed at creation, in both directions and on import too.
    let p = problem(
        a.put(
            "/v1/prompts/tutor",
            &json!({"type": "text", "content": "x"}),
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("fixed at creation"),
        "{p}"
    );
    let p = problem(
        a.put(
            "/v1/prompts/plain",
            &json!({"messages": [{"role": "user", "content": "x"}]}),
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "messages", "{p}");
    let p = problem(
        a.put(
            "/v1/prompts/plain?mode=replace",
            &json!({"name": "P", "type": "chat", "messages": [{"role": "user", "content": "x"}]}),
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "type", "{p}");

    // An update of the messages is a new version; the old one still renders as it was.
    let r = a
        .put(
            "/v1/prompts/tutor",
            &json!({"messages": [{"role": "user", "content": "Only {{topic}}"}]}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = a
        .post(
            "/v1/prompts/tutor/apply",
            &json!({"variables": {"topic": "waves"}}),
        )
        .await;
    assert_eq!(
        body(r).await["messages"],
        json!([{"role": "user", "content": "Only waves"}])
    );
    let r = a
        .post(
            "/v1/prompts/tutor/apply?version=1",
            &json!({"variables": {"topic": "waves", "history": []}}),
        )
        .await;
    assert_eq!(body(r).await["messages"].as_array().unwrap().len(), 2);
    // Searching finds words in messages.
    let listed = body(a.get("/v1/prompts?q=only%20waves").await).await;
    assert_eq!(listed["prompts"].as_array().unwrap().len(), 0);
    let listed = body(a.get("/v1/prompts?q=ONLY").await).await;
    assert_eq!(listed["prompts"][0]["id"], "tutor");
}

async fn chat_prompts_over_mcp(a: Api) {
    assert_eq!(a.post("/v1/prompts", &tutor()).await.status(), 201);
    let client = mcp_client(&a).await;

    // The placeholder is an argument, required like the variable without default.
    let listed = client.list_all_prompts().await.unwrap();
    let p = listed.iter().find(|p| p.name == "tutor").unwrap();
    let args: Vec<(String, Option<bool>)> = p
        .arguments
        .iter()
        .flatten()
        .map(|a| (a.name.clone(), a.required))
        .collect();
    assert_eq!(
        args,
        [
            ("topic".to_string(), Some(true)),
            ("tone".to_string(), Some(false)),
            ("history".to_string(), Some(true))
        ]
    );

    // MCP arguments are strings: the history travels as JSON text.
    let history = json!([{"role": "assistant", "content": "Earlier answer"}]).to_string();
    let got = client
        .get_prompt(
            GetPromptRequestParams::new("tutor")
                .with_arguments(obj(json!({"topic": "tides", "history": history}))),
        )
        .await
        .unwrap();
    let roles: Vec<Role> = got.messages.iter().map(|m| m.role.clone()).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::User]);
    let texts: Vec<String> = got
        .messages
        .iter()
        .map(|m| m.content.as_text().unwrap().text.clone())
        .collect();
    // No system role in MCP: the system message comes first as a marked user message.
    assert_eq!(texts[0], "[system]\nYou are a friendly tutor for tides.");
    assert_eq!(texts[1], "Earlier answer");
    assert_eq!(texts[2], "Explain tides in one line.");
    let meta = got.meta.expect("_meta");
    assert_eq!(
        meta.0["mcp-prompts/roles"],
        json!(["system", "assistant", "user"])
    );

    // A missing placeholder is invalid params naming it; so is one that is not JSON.
    let err = client
        .get_prompt(
            GetPromptRequestParams::new("tutor").with_arguments(obj(json!({"topic": "tides"}))),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("history"), "{err}");
    let err = client
        .get_prompt(
            GetPromptRequestParams::new("tutor")
                .with_arguments(obj(json!({"topic": "tides", "history": "hello"}))),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("history"), "{err}");

    // The apply_template tool returns the messages, create_prompt makes chat prompts.
    let r = client
        .call_tool(
            CallToolRequestParams::new("apply_template".to_string()).with_arguments(obj(
                json!({"id": "tutor", "variables": {"topic": "t", "history": []}}),
            )),
        )
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let s = r.structured_content.unwrap();
    assert_eq!(s["messages"][0]["role"], "system");
    let r = client
        .call_tool(
            CallToolRequestParams::new("create_prompt".to_string()).with_arguments(obj(json!({
                "id": "via-mcp", "name": "Via MCP", "type": "chat",
                "messages": [{"role": "assistant", "content": "hello"}]
            }))),
        )
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let r = client
        .call_tool(
            CallToolRequestParams::new("create_prompt".to_string()).with_arguments(obj(json!({
                "id": "bad-mcp", "name": "Bad", "type": "chat",
                "messages": [{"role": "narrator", "content": "x"}]
            }))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    let text = r.content[0].as_text().unwrap().text.clone();
    assert!(text.contains("narrator"), "{text}");
    let _ = client.cancel().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_prompts_over_stdio() {
    use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = common::base_config("\n[mcp.stdio]\nsubject = \"desk\"\n")
        .replace("{data}", &data.display().to_string());
    let config = dir.path().join("config.toml");
    std::fs::write(&config, cfg).unwrap();
    let cmd = tokio::process::Command::new(common::BIN).configure(|c| {
        c.arg("stdio").arg("--config").arg(&config);
    });
    let (transport, _stderr) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = ().serve(transport).await.expect("initialize over stdio");
    let r = client
        .call_tool(CallToolRequestParams::new("create_prompt").with_arguments(obj(tutor())))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let got = client
        .get_prompt(GetPromptRequestParams::new("tutor").with_arguments(obj(
            json!({"topic": "rivers", "tone": "stern", "history": "[]"}),
        )))
        .await
        .unwrap();
    let texts: Vec<String> = got
        .messages
        .iter()
        .map(|m| m.content.as_text().unwrap().text.clone())
        .collect();
    assert_eq!(
        texts,
        [
            "[system]\nYou are a stern tutor for rivers.",
            "Explain rivers in one line."
        ]
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

both_backends!(chat_prompts_render_over_rest, chat_prompts_over_mcp);
