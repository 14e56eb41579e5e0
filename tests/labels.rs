//! Labels over REST and MCP, on both storage backends (embedded redb and DynamoDB in a
//! real `moto_server`), against the real binary and plugins over TLS: moving, removing,
//! If-Match, protected labels, history, the default label on reads and apply, list
//! filters, and prompts written before labels existed.

use crate::common;
use crate::rest_suite;

use common::Server;
use common::moto::AwsEnv;
use reqwest::StatusCode;
use rest_suite::{Api, problem};
use serde_json::{Value, json};

/// `production` needs `prompts:deploy` to move on the prompt route.
fn protect(config: String) -> String {
    let anchor = "policies = [\"policy\"]\n";
    assert!(config.contains(anchor), "base_config's route changed");
    config.replacen(
        anchor,
        &format!("{anchor}protected_labels = {{ production = \"prompts:deploy\" }}\n"),
        1,
    )
}

fn embedded() -> Api {
    Api::new(Server::start_with(&protect(common::base_config(""))))
}

fn aws() -> Api {
    let env = AwsEnv::new();
    let config = protect(env.config(""));
    let (code, out, err) = env.bootstrap(&config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
    Api::new(Server::start_with_env(&config, env.env()))
}

/// A token allowed to deploy (move protected labels).
fn deployer(a: &Api) -> String {
    a.s.token(
        "dora",
        &["--scope", "prompts:write", "--scope", "prompts:deploy"],
    )
}

async fn send(
    a: &Api,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> reqwest::Response {
    let mut r = a.s.client.request(method, a.s.url(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    if let Some(m) = if_match {
        r = r.header("If-Match", m);
    }
    r.send().await.unwrap()
}

async fn put_label(
    a: &Api,
    token: &str,
    label: &str,
    version: u64,
    m: Option<&str>,
) -> reqwest::Response {
    send(
        a,
        reqwest::Method::PUT,
        &format!("/v1/prompts/lp/labels/{label}"),
        token,
        Some(json!({ "version": version })),
        m,
    )
    .await
}

async fn body(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

/// Three versions of `lp`: "v1", "v2", "v3".
async fn three_versions(a: &Api) {
    let r = a.post("/v1/prompts", &common::prompt("lp", "v1")).await;
    assert_eq!(r.status(), 201);
    for c in ["v2", "v3"] {
        let r = a
            .put("/v1/prompts/lp", &json!({ "content": c }), None)
            .await;
        assert_eq!(r.status(), 200);
    }
}

async fn content_of(a: &Api, path: &str) -> (String, u64) {
    let r = a.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    let v = body(r).await;
    (
        v["content"].as_str().unwrap().to_owned(),
        v["version"].as_u64().unwrap(),
    )
}

async fn labels_move_and_default_reads_follow(a: Api) {
    three_versions(&a).await;
    // No production label: reads serve latest.
    assert_eq!(content_of(&a, "/v1/prompts/lp").await.0, "v3");
    let v = body(a.get("/v1/prompts/lp/labels").await).await;
    assert_eq!(v["labels"][0]["name"], "latest");
    assert_eq!(v["labels"][0]["version"], 3);

    let r = put_label(&a, &a.token, "staging", 2, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("etag").unwrap(), "\"2\"");
    let l = body(r).await;
    assert_eq!(l["name"], "staging");
    assert_eq!(l["version"], 2);
    assert_eq!(l["updatedBy"], "alice");
    assert_eq!(
        content_of(&a, "/v1/prompts/lp?label=staging").await,
        ("v2".into(), 2)
    );
    let r = a.get("/v1/prompts/lp/labels/staging").await;
    assert_eq!(r.headers().get("etag").unwrap(), "\"2\"");

    // Deploying is moving production; the default read follows it, and so does apply.
    let dora = deployer(&a);
    assert_eq!(
        put_label(&a, &dora, "production", 1, None).await.status(),
        200
    );
    assert_eq!(content_of(&a, "/v1/prompts/lp").await.0, "v1");
    let r = a.post("/v1/prompts/lp/apply", &json!({})).await;
    assert_eq!(body(r).await["content"], "v1");
    let r = a
        .post("/v1/prompts/lp/apply?label=staging", &json!({}))
        .await;
    assert_eq!(body(r).await["content"], "v2");
    let r = a.post("/v1/prompts/lp/apply?version=3", &json!({})).await;
    assert_eq!(body(r).await["content"], "v3");
    // Pinned reads are unaffected.
    assert_eq!(content_of(&a, "/v1/prompts/lp?version=3").await.0, "v3");
    assert_eq!(content_of(&a, "/v1/prompts/lp?label=latest").await.0, "v3");

    // Rolling back is moving it back, guarded by If-Match on the label's version.
    let r = put_label(&a, &dora, "production", 3, Some("\"2\"")).await;
    let p = problem(r, StatusCode::PRECONDITION_FAILED).await;
    assert!(p["detail"].as_str().unwrap().contains("version 1"), "{p}");
    assert_eq!(
        put_label(&a, &dora, "production", 3, Some("\"1\""))
            .await
            .status(),
        200
    );
    assert_eq!(content_of(&a, "/v1/prompts/lp").await.0, "v3");

    // Removal: the default falls back to latest again.
    let r = send(
        &a,
        reqwest::Method::DELETE,
        "/v1/prompts/lp/labels/production",
        &dora,
        None,
        Some("\"3\""),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = a.get("/v1/prompts/lp/labels/production").await;
    problem(r, StatusCode::NOT_FOUND).await;
    let r = send(
        &a,
        reqwest::Method::DELETE,
        "/v1/prompts/lp/labels/production",
        &dora,
        None,
        None,
    )
    .await;
    problem(r, StatusCode::NOT_FOUND).await;

    // The audit trail: who moved it, when, from which version to which; paginated.
    let h = body(
        a.get("/v1/prompts/lp/labels/production/history?limit=2")
            .await,
    )
    .await;
    let moves = h["history"].as_array().unwrap();
    assert_eq!(moves.len(), 2);
    assert_eq!(
        (moves[0]["from"].clone(), moves[0]["to"].clone()),
        (Value::Null, json!(1))
    );
    assert_eq!(moves[0]["by"], "dora");
    assert!(moves[0]["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        (moves[1]["from"].clone(), moves[1]["to"].clone()),
        (json!(1), json!(3))
    );
    let cursor = h["nextCursor"].as_str().unwrap();
    let path = format!(
        "/v1/prompts/lp/labels/production/history?limit=2&cursor={}",
        urlencode(cursor)
    );
    let h = body(a.get(&path).await).await;
    let moves = h["history"].as_array().unwrap();
    assert_eq!(moves.len(), 1);
    assert_eq!(
        (moves[0]["from"].clone(), moves[0]["to"].clone()),
        (json!(3), Value::Null)
    );
    assert_eq!(h["nextCursor"], Value::Null);

    // A new version moves latest, never a named label.
    a.put("/v1/prompts/lp", &json!({ "content": "v4" }), None)
        .await;
    assert_eq!(content_of(&a, "/v1/prompts/lp?label=staging").await.0, "v2");
    assert_eq!(content_of(&a, "/v1/prompts/lp").await.0, "v4");
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn label_bad_inputs(a: Api) {
    three_versions(&a).await;
    // A version that does not exist.
    let p = problem(
        put_label(&a, &a.token, "staging", 9, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("version 9"), "{p}");
    // A prompt that does not exist.
    let r = send(
        &a,
        reqwest::Method::PUT,
        "/v1/prompts/nope/labels/staging",
        &a.token,
        Some(json!({"version": 1})),
        None,
    )
    .await;
    problem(r, StatusCode::NOT_FOUND).await;
    // latest is maintained automatically.
    let p = problem(
        put_label(&a, &a.token, "latest", 1, None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("latest"), "{p}");
    // Malformed names and bodies.
    let p = problem(
        put_label(&a, &a.token, "Prod", 1, None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("Prod"), "{p}");
    for bad in [json!({}), json!({"version": 0}), json!({"version": "2"})] {
        let r = send(
            &a,
            reqwest::Method::PUT,
            "/v1/prompts/lp/labels/staging",
            &a.token,
            Some(bad.clone()),
            None,
        )
        .await;
        let p = problem(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["errors"][0]["field"], "version", "{bad} -> {p}");
    }
    // A stale If-Match on a label that does not exist yet.
    problem(
        put_label(&a, &a.token, "staging", 1, Some("\"1\"")).await,
        StatusCode::PRECONDITION_FAILED,
    )
    .await;
    // Unknown label on read; both version and label.
    let p = problem(
        a.get("/v1/prompts/lp?label=canary").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("canary"), "{p}");
    problem(
        a.get("/v1/prompts/lp?label=canary&version=1").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Anonymous callers cannot move labels.
    let r =
        a.s.client
            .put(a.s.url("/v1/prompts/lp/labels/staging"))
            .json(&json!({"version": 1}))
            .send()
            .await
            .unwrap();
    assert!(r.status() == 401 || r.status() == 403, "{}", r.status());
}

async fn protected_labels_need_their_scope(a: Api) {
    three_versions(&a).await;
    // alice may write prompts but not deploy.
    let r = put_label(&a, &a.token, "production", 1, None).await;
    let www = r.headers().get("www-authenticate").cloned();
    let p = problem(r, StatusCode::FORBIDDEN).await;
    assert!(
        p["detail"].as_str().unwrap().contains("prompts:deploy"),
        "{p}"
    );
    let www = www.unwrap().to_str().unwrap().to_owned();
    assert!(
        www.contains("insufficient_scope") && www.contains("prompts:deploy"),
        "{www}"
    );
    // Not even its removal.
    let dora = deployer(&a);
    assert_eq!(
        put_label(&a, &dora, "production", 1, None).await.status(),
        200
    );
    let r = send(
        &a,
        reqwest::Method::DELETE,
        "/v1/prompts/lp/labels/production",
        &a.token,
        None,
        None,
    )
    .await;
    problem(r, StatusCode::FORBIDDEN).await;
    // Unprotected labels are free to move.
    assert_eq!(
        put_label(&a, &a.token, "staging", 2, None).await.status(),
        200
    );

    // The same rule over MCP: a tool call without the scope fails, with it succeeds.
    let alice = a.token.clone();
    let err = mcp_set_label(&a, &alice, "production", 2)
        .await
        .unwrap_err();
    assert!(err.contains("prompts:deploy"), "{err}");
    let ok = mcp_set_label(&a, &dora, "production", 2).await.unwrap();
    assert_eq!(ok["version"], 2);
    assert_eq!(content_of(&a, "/v1/prompts/lp").await.0, "v2");
}

async fn list_filters_by_label(a: Api) {
    three_versions(&a).await;
    let r = a.post("/v1/prompts", &common::prompt("other", "o")).await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        put_label(&a, &a.token, "staging", 1, None).await.status(),
        200
    );
    let ids = |v: Value| -> Vec<String> {
        v["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(body(a.get("/v1/prompts?label=staging").await).await),
        ["lp"]
    );
    assert_eq!(
        ids(body(a.get("/v1/prompts?label=latest").await).await),
        ["lp", "other"]
    );
    assert!(ids(body(a.get("/v1/prompts?label=canary").await).await).is_empty());
    problem(
        a.get("/v1/prompts?label=Bad%20Label").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn deleting_a_prompt_forgets_its_labels(a: Api) {
    three_versions(&a).await;
    assert_eq!(
        put_label(&a, &a.token, "staging", 2, None).await.status(),
        200
    );
    assert_eq!(a.delete("/v1/prompts/lp").await.status(), 204);
    let r = a.post("/v1/prompts", &common::prompt("lp", "fresh")).await;
    assert_eq!(r.status(), 201);
    let v = body(a.get("/v1/prompts/lp/labels").await).await;
    assert_eq!(v["labels"].as_array().unwrap().len(), 1, "{v}");
    problem(
        a.get("/v1/prompts/lp?label=staging").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let h = body(a.get("/v1/prompts/lp/labels/staging/history").await).await;
    assert_eq!(h["history"], json!([]));
}

async fn versions_keep_messages_and_delete_only_unlabelled(a: Api) {
    let mut first = common::prompt("lp", "v1");
    first["message"] = json!("initial import");
    assert_eq!(a.post("/v1/prompts", &first).await.status(), 201);
    let bob = a.s.token("bob", &["--scope", "prompts:write"]);
    let r = send(
        &a,
        reqwest::Method::PUT,
        "/v1/prompts/lp",
        &bob,
        Some(json!({"content": "v2", "message": "tighter wording"})),
        None,
    )
    .await;
    let v2 = body(r).await;
    assert_eq!(v2["message"], "tighter wording");
    assert_eq!(v2["versionAuthor"], "bob");
    assert_eq!(v2["author"], "alice");
    let r = a
        .put("/v1/prompts/lp", &json!({"content": "v3"}), None)
        .await;
    assert_eq!(body(r).await["message"], Value::Null);
    let all = body(a.get("/v1/prompts/lp/versions").await).await;
    let msgs: Vec<Value> = all["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["message"].clone())
        .collect();
    assert_eq!(
        msgs,
        [
            json!("initial import"),
            json!("tighter wording"),
            Value::Null
        ]
    );
    let r = a.put("/v1/prompts/lp", &json!({"message": 5}), None).await;
    let p = problem(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"][0]["field"], "message");

    assert_eq!(
        put_label(&a, &a.token, "staging", 2, None).await.status(),
        200
    );
    let p = problem(
        a.delete("/v1/prompts/lp/versions/2").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("staging"), "{p}");
    problem(
        a.delete("/v1/prompts/lp/versions/3").await,
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        a.delete("/v1/prompts/lp/versions/7").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        a.delete("/v1/prompts/lp/versions/x").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(a.delete("/v1/prompts/lp/versions/1").await.status(), 204);
    problem(
        a.get("/v1/prompts/lp?version=1").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        put_label(&a, &a.token, "canary", 1, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let all = body(a.get("/v1/prompts/lp/versions").await).await;
    assert_eq!(all["versions"].as_array().unwrap().len(), 2);
    // The remaining versions are untouched.
    assert_eq!(content_of(&a, "/v1/prompts/lp?version=2").await.0, "v2");
}

/// Calls the `set_label` MCP tool over Streamable HTTP with rmcp's client; the tool's
/// structured result, or its error text.
async fn mcp_set_label(a: &Api, token: &str, label: &str, version: u64) -> Result<Value, String> {
    use rmcp::ServiceExt;
    use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let pem = std::fs::read(a.s.data_dir().join("tls/cert.pem")).unwrap();
    let http = reqwest13::Client::builder()
        .tls_certs_only([reqwest13::Certificate::from_pem(&pem).unwrap()])
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let cfg = StreamableHttpClientTransportConfig::with_uri(a.s.url("/mcp"))
        .auth_header(token.to_string());
    let transport = StreamableHttpClientTransport::with_client(http, cfg);
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("labels-test", "1.0"),
    )
    .serve(transport)
    .await
    .expect("initialize");
    let args = match json!({ "id": "lp", "label": label, "version": version }) {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let r = client
        .call_tool(CallToolRequestParams::new("set_label".to_string()).with_arguments(args))
        .await
        .expect("tools/call");
    let _ = client.cancel().await;
    if r.is_error == Some(true) {
        Err(r
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n"))
    } else {
        Ok(r.structured_content.unwrap_or(Value::Null))
    }
}

/// A data directory written by release 0.1 (`mcp-prompts import` of `legacy`, twice with
/// different content, and `plain`): text prompts without labels. They read, render, list
/// and take labels without a migration.
#[tokio::test(flavor = "multi_thread")]
async fn prompts_written_by_release_0_1_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let kv = dir.path().join("data/kv");
    std::fs::create_dir_all(&kv).unwrap();
    std::fs::copy(
        common::repo_root().join("tests/fixtures/release-0.1/kv/kv.redb"),
        kv.join("kv.redb"),
    )
    .unwrap();
    let a = Api::new(Server::start_in(dir, &protect(common::base_config(""))));
    let (content, version) = content_of(&a, "/v1/prompts/legacy").await;
    assert_eq!(
        (content.as_str(), version),
        ("Hello {{name}}, second edition", 2)
    );
    assert_eq!(content_of(&a, "/v1/prompts/legacy?version=1").await.1, 1);
    assert_eq!(
        content_of(&a, "/v1/prompts/plain?label=latest").await.0,
        "Plain text prompt"
    );
    let v = body(a.get("/v1/prompts/legacy/labels").await).await;
    assert_eq!(
        v["labels"],
        json!([{"name": "latest", "version": 2, "updatedAt": v["labels"][0]["updatedAt"], "updatedBy": null}])
    );
    let r = send(
        &a,
        reqwest::Method::PUT,
        "/v1/prompts/legacy/labels/production",
        &deployer(&a),
        Some(json!({"version": 1})),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = a
        .post(
            "/v1/prompts/legacy/apply",
            &json!({"variables": {"name": "Ada"}}),
        )
        .await;
    assert_eq!(body(r).await["content"], "Hello Ada, first edition");
    let listed = body(a.get("/v1/prompts?label=production").await).await;
    assert_eq!(listed["prompts"].as_array().unwrap().len(), 1);
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

both_backends!(
    labels_move_and_default_reads_follow,
    label_bad_inputs,
    protected_labels_need_their_scope,
    list_filters_by_label,
    deleting_a_prompt_forgets_its_labels,
    versions_keep_messages_and_delete_only_unlabelled,
);
