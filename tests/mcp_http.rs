//! MCP over Streamable HTTP with a real MCP client (rmcp's, over HTTPS) for every
//! revision: prompts with arguments and pagination, every tool with its error paths,
//! resources, completion and `notifications/prompts/list_changed`.

use crate::common;

use common::*;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig,
    GetPromptRequestParams, Implementation, PaginatedRequestParams, ProtocolVersion,
    ReadResourceRequestParams, ResourceContents, Role,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Counts `notifications/prompts/list_changed`.
#[derive(Clone)]
struct Client {
    info: ClientConfig,
    changed: Arc<AtomicUsize>,
}

impl ClientHandler for Client {
    async fn on_prompt_list_changed(&self, _cx: NotificationContext<RoleClient>) {
        self.changed.fetch_add(1, Ordering::SeqCst);
    }

    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }
}

fn mcp_config() -> String {
    base_config(
        r#"
[mcp]
page_size = 2
scopes_supported = ["prompts:read", "prompts:write"]
"#,
    )
}

fn https(s: &Server) -> reqwest13::Client {
    let pem = std::fs::read(s.data_dir().join("tls/cert.pem")).unwrap();
    reqwest13::Client::builder()
        .tls_certs_only([reqwest13::Certificate::from_pem(&pem).unwrap()])
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Prompts the tests use, created through the REST API.
async fn seed(s: &Server, token: &str) {
    let prompts = [
        json!({
            "id": "greet", "name": "Greeting", "description": "Greets someone",
            "content": "Hello {{name}}!{{#if tone}} ({{tone}}){{/if}}",
            "variables": [
                {"name": "name", "description": "who to greet", "required": true},
                {"name": "tone", "required": false, "default": "friendly"}
            ]
        }),
        prompt("alpha", "Alpha text about rust"),
        prompt("beta", "Beta text"),
    ];
    for p in prompts {
        let r = s
            .client
            .post(s.url("/v1/prompts"))
            .bearer_auth(token)
            .json(&p)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
}

async fn connect(
    s: &Server,
    token: &str,
    rev: &ProtocolVersion,
) -> (RunningService<RoleClient, Client>, Arc<AtomicUsize>) {
    let changed = Arc::new(AtomicUsize::new(0));
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("mcp-test", "1.0"),
    )
    .with_protocol_version(rev.clone());
    let handler = Client {
        info,
        changed: changed.clone(),
    };
    let cfg =
        StreamableHttpClientTransportConfig::with_uri(s.url("/mcp")).auth_header(token.to_string());
    let transport = StreamableHttpClientTransport::with_client(https(s), cfg);
    let service = if rev.has_initialize() {
        handler.serve(transport).await.expect("initialize")
    } else {
        handler
            .serve_with_lifecycle(
                transport,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![rev.clone()],
                },
            )
            .await
            .expect("discover")
    };
    (service, changed)
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

async fn tool(c: &RunningService<RoleClient, Client>, name: &str, a: Value) -> CallToolResult {
    c.call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args(a)))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn exercise(rev: ProtocolVersion) {
    let s = Server::start_with(&mcp_config());
    let token = s.token("alice", &[]);
    seed(&s, &token).await;
    let (c, changed) = connect(&s, &token, &rev).await;
    if rev.has_initialize() {
        let info = c.peer_info().expect("server info");
        assert_eq!(info.protocol_version, rev, "negotiated revision");
        assert!(info.capabilities.prompts.is_some());
    }

    // prompts/list: one page of 2, then the rest by cursor.
    let page = c.list_prompts(None).await.unwrap();
    assert_eq!(page.prompts.len(), 2);
    let cursor = page.next_cursor.clone().expect("a next cursor");
    let rest = c
        .list_prompts(Some(
            PaginatedRequestParams::default().with_cursor(Some(cursor)),
        ))
        .await
        .unwrap();
    let all = c.list_all_prompts().await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(page.prompts.len() + rest.prompts.len(), 3);
    let greet = all
        .iter()
        .find(|p| p.name == "greet")
        .expect("greet listed");
    assert_eq!(greet.title.as_deref(), Some("Greeting"));
    assert_eq!(greet.description.as_deref(), Some("Greets someone"));
    let a = greet.arguments.as_ref().expect("arguments");
    assert_eq!(a.len(), 2);
    assert_eq!((a[0].name.as_str(), a[0].required), ("name", Some(true)));
    assert_eq!((a[1].name.as_str(), a[1].required), ("tone", Some(false)));

    // prompts/get renders user messages.
    let got = c
        .get_prompt(
            GetPromptRequestParams::new("greet").with_arguments(args(json!({"name": "Ann"}))),
        )
        .await
        .unwrap();
    assert_eq!(got.messages.len(), 1);
    assert_eq!(got.messages[0].role, Role::User);
    let t = got.messages[0]
        .content
        .as_text()
        .expect("text")
        .text
        .clone();
    assert_eq!(t, "Hello Ann! (friendly)");
    // A missing required argument is invalid params naming it.
    let err = c
        .get_prompt(GetPromptRequestParams::new("greet"))
        .await
        .expect_err("missing argument");
    let msg = format!("{err:?}");
    assert!(
        msg.contains("-32602") || msg.contains("InvalidParams") || msg.contains("INVALID_PARAMS"),
        "{msg}"
    );
    assert!(msg.contains("name"), "{msg}");
    let err = c
        .get_prompt(GetPromptRequestParams::new("nope"))
        .await
        .expect_err("unknown prompt");
    assert!(format!("{err:?}").contains("nope"));

    // Tools.
    let tools = c.list_all_tools().await.unwrap();
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "apply_template",
            "create_prompt",
            "delete_prompt",
            "diff_prompt",
            "get_prompt",
            "list_prompts",
            "list_versions",
            "search_prompts",
            "set_label",
            "update_prompt"
        ]
    );
    for t in &tools {
        assert_eq!(
            t.input_schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(t.input_schema["type"], "object");
    }

    let r = tool(&c, "list_prompts", json!({"limit": 2})).await;
    assert_eq!(r.is_error, Some(false));
    let sc = r.structured_content.clone().expect("structured content");
    assert_eq!(sc["prompts"].as_array().unwrap().len(), 2);
    assert!(sc["nextCursor"].is_string());
    let r = tool(&c, "search_prompts", json!({"search": "rust"})).await;
    let sc = r.structured_content.clone().unwrap();
    let ids: Vec<_> = sc["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["alpha"]);
    let r = tool(&c, "search_prompts", json!({})).await;
    assert_eq!(r.is_error, Some(true), "search needs a query");
    assert!(text(&r).contains("search"), "{}", text(&r));
    let r = tool(&c, "get_prompt", json!({"id": "alpha"})).await;
    assert_eq!(
        r.structured_content.unwrap()["content"],
        "Alpha text about rust"
    );
    let r = tool(&c, "get_prompt", json!({"id": "missing"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("not-found"), "{}", text(&r));
    let r = tool(
        &c,
        "apply_template",
        json!({"id": "greet", "variables": {"name": "Bo", "tone": "warm"}}),
    )
    .await;
    assert_eq!(r.structured_content.unwrap()["content"], "Hello Bo! (warm)");
    let r = tool(&c, "apply_template", json!({"id": "greet"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("name"), "{}", text(&r));

    let before = changed.load(Ordering::SeqCst);
    let r = tool(
        &c,
        "create_prompt",
        json!({"id": "gamma", "name": "Gamma", "content": "Hi {{x}}", "variables": ["x"]}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(r.structured_content.unwrap()["version"], 1);
    let r = tool(
        &c,
        "create_prompt",
        json!({"id": "gamma", "name": "Gamma", "content": "again"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("conflict"), "{}", text(&r));
    let r = tool(&c, "create_prompt", json!({"name": "No content"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("content"), "{}", text(&r));
    let r = tool(
        &c,
        "update_prompt",
        json!({"id": "gamma", "content": "Bye {{x}}", "expectedVersion": 7}),
    )
    .await;
    assert_eq!(r.is_error, Some(true), "stale version");
    assert!(text(&r).contains("precondition"), "{}", text(&r));
    let r = tool(
        &c,
        "update_prompt",
        json!({"id": "gamma", "content": "Bye {{x}}", "expectedVersion": 1}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(r.structured_content.unwrap()["version"], 2);
    let r = tool(&c, "update_prompt", json!({"id": "ghost", "content": "x"})).await;
    assert_eq!(r.is_error, Some(true));
    let r = tool(&c, "delete_prompt", json!({"id": "gamma"})).await;
    assert_eq!(r.is_error, Some(false));
    let r = tool(&c, "delete_prompt", json!({"id": "gamma"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("not-found"), "{}", text(&r));
    let err = c
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await
        .expect_err("unknown tool");
    assert!(format!("{err:?}").contains("no_such_tool"));

    if rev.has_initialize() {
        // Writes through MCP reach the session as list_changed (on a response stream).
        let _ = c.list_prompts(None).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while changed.load(Ordering::SeqCst) == before && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            changed.load(Ordering::SeqCst) > before,
            "no list_changed notification"
        );
    }

    // Resources.
    let res = c.list_all_resources().await.unwrap();
    let mut uris: Vec<_> = res.iter().map(|r| r.uri.clone()).collect();
    uris.sort();
    assert_eq!(uris, ["prompt://alpha", "prompt://beta", "prompt://greet"]);
    let first = c.list_resources(None).await.unwrap();
    assert_eq!(first.resources.len(), 2);
    assert!(first.next_cursor.is_some());
    let read = c
        .read_resource(ReadResourceRequestParams::new("prompt://greet"))
        .await
        .unwrap();
    match &read.contents[0] {
        ResourceContents::TextResourceContents {
            text,
            mime_type,
            uri,
            ..
        } => {
            assert_eq!(uri, "prompt://greet");
            assert_eq!(mime_type.as_deref(), Some("application/json"));
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["id"], "greet");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        c.read_resource(ReadResourceRequestParams::new("prompt://none"))
            .await
            .is_err()
    );
    let templates = c.list_all_resource_templates().await.unwrap();
    assert_eq!(templates[0].uri_template, "prompt://{id}");

    // Completion.
    let done = c
        .complete_prompt_argument("greet", "tone", "fr", None)
        .await
        .unwrap();
    assert_eq!(done.values, ["friendly"]);
    let done = c
        .complete_resource_argument("prompt://{id}", "id", "al", None)
        .await
        .unwrap();
    assert_eq!(done.values, ["alpha"]);

    c.cancel().await.unwrap();
    // The revision was really used: sessions only for the handshake revisions.
    let log = s.log_text();
    assert_eq!(
        log.contains("MCP session started"),
        rev.has_initialize(),
        "{log}"
    );
    if rev.has_initialize() {
        assert!(log.contains(&format!("\"version\":\"{rev}\"")), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn revision_2025_03_26() {
    exercise(ProtocolVersion::V_2025_03_26).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revision_2025_06_18() {
    exercise(ProtocolVersion::V_2025_06_18).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revision_2025_11_25() {
    exercise(ProtocolVersion::V_2025_11_25).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revision_2026_07_28() {
    exercise(ProtocolVersion::V_2026_07_28).await;
}

/// The official MCP Python SDK (PyPI `mcp`, installed by scripts/test.sh) against the same
/// server: the handshake at every session revision (the older ones offered as older SDK
/// releases do) and the stateless 2026-07-28.
#[tokio::test(flavor = "multi_thread")]
async fn official_python_sdk() {
    let s = Server::start_with(&mcp_config());
    let token = s.token("py", &[]);
    seed(&s, &token).await;
    let script = repo_root().join("tests/mcp_python_client.py");
    let ca = s.data_dir().join("tls/cert.pem");
    for (mode, protocol) in [
        ("legacy@2025-03-26", "2025-03-26"),
        ("legacy@2025-06-18", "2025-06-18"),
        ("legacy", "2025-11-25"),
        ("2026-07-28", "2026-07-28"),
    ] {
        let out = tokio::process::Command::new("python3")
            .arg(&script)
            .arg(s.url("/mcp"))
            .arg(&token)
            .arg(&ca)
            .arg(mode)
            .output()
            .await
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{mode}: {stdout}\n{stderr}");
        let v: Value =
            serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        assert_eq!(v["protocol"], protocol);
        assert_eq!(
            v["prompts"],
            json!(["alpha", "beta", "greet"]),
            "paginated list"
        );
        assert_eq!(
            v["get"],
            json!({"role": "user", "text": "Hello Py! (friendly)"})
        );
        assert!(v["missing"].as_str().unwrap().contains("name"), "{v}");
        assert_eq!(v["tools"].as_array().unwrap().len(), 10);
        assert_eq!(v["apply"]["isError"], false);
        assert_eq!(v["apply"]["structured"]["content"], "Hello Z! (friendly)");
        assert_eq!(v["absent"]["isError"], true);
        assert!(v["absent"]["text"].as_str().unwrap().contains("not-found"));
        assert_eq!(
            v["resources"],
            json!(["prompt://alpha", "prompt://beta", "prompt://greet"])
        );
        assert_eq!(v["read"], "greet");
    }
}
