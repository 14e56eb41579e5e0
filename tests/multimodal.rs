//! Multimodal chat messages (issue 13, item 4) over REST, MCP (Streamable HTTP and stdio)
//! on both storage backends, against the real binary and plugins over TLS: content
//! blocks (text, image, embedded resource, resource link), image bytes stored once by
//! the host under their SHA-256 (files next to the embedded store; S3 via moto), served
//! at `/v1/prompts/{id}/blobs/{sha256}` with the prompt's access rules, and inline as
//! base64 over MCP; the bad inputs (too large 413, not an image or another type than
//! declared 415, bad blocks 400).

use crate::common;
use crate::rest_suite;

use base64::Engine;
use common::Server;
use common::moto::AwsEnv;
use reqwest::StatusCode;
use rest_suite::{Api, problem};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ContentBlock, GetPromptRequestParams,
    Implementation, ResourceContents, Role,
};
use serde_json::{Map, Value, json};
use sha2::Digest;

/// A 1×1 transparent PNG (67 bytes).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// The image limits of these tests: room for the PNG, not for the oversized one; two
/// PNGs inline in one MCP answer, not three.
const LIMIT: &str = "\n[media]\nmax_image_size = 2048\nmax_inline_size = 150\n";

/// A started server and where its image blobs can be counted.
struct Media {
    a: Api,
    aws: Option<AwsEnv>,
}

impl Media {
    fn media_bucket(env: &AwsEnv) -> String {
        format!("mcp-media-{}", env.suffix)
    }

    /// Objects in the host's image store, by walking it (files or S3 keys).
    async fn blob_count(&self) -> usize {
        match &self.aws {
            None => {
                let dir = self.a.s.data_dir().join("blobs/_media");
                let mut n = 0;
                for tenant in std::fs::read_dir(&dir).unwrap() {
                    let tenant = tenant.unwrap().path();
                    n += std::fs::read_dir(&tenant)
                        .unwrap()
                        .filter(|f| {
                            let name = f.as_ref().unwrap().file_name();
                            !name.to_string_lossy().starts_with('.')
                        })
                        .count();
                }
                n
            }
            Some(env) => env
                .s3()
                .await
                .list_objects_v2()
                .bucket(Self::media_bucket(env))
                .prefix("_media/")
                .send()
                .await
                .unwrap()
                .contents()
                .len(),
        }
    }
}

fn embedded() -> Media {
    Media {
        a: Api::new(Server::start_with(&common::base_config(LIMIT))),
        aws: None,
    }
}

fn aws() -> Media {
    let env = AwsEnv::new();
    // The images go to a bucket of their own (`storage.aws.media_bucket`), which
    // bootstrap creates.
    let config = env.config(LIMIT).replace(
        "max_attempts = 3\n",
        &format!(
            "max_attempts = 3\nmedia_bucket = \"{}\"\n",
            Media::media_bucket(&env)
        ),
    );
    assert!(config.contains("media_bucket"), "storage_toml changed");
    let (code, out, err) = env.bootstrap(&config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
    assert!(out.contains(&Media::media_bucket(&env)), "{out}");
    Media {
        a: Api::new(Server::start_with_env(&config, env.env())),
        aws: Some(env),
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
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

fn image(mime: &str, bytes: &[u8]) -> Value {
    json!({"type": "image", "mimeType": mime, "data": b64(bytes)})
}

/// A chat prompt with one message of each kind of block.
fn vision() -> Value {
    json!({
        "id": "vision",
        "name": "Vision",
        "type": "chat",
        "variables": ["subject"],
        "messages": [
            {"role": "system", "content": "You describe {{subject}} images."},
            {"role": "user", "content": [
                {"type": "text", "text": "Describe this {{subject}}:"},
                image("image/png", PNG),
                {"type": "resource", "resource": {"uri": "file:///notes/{{subject}}.md", "mimeType": "text/markdown", "text": "Notes on {{subject}}"}},
                {"type": "resource_link", "uri": "https://example.com/guide.pdf", "name": "guide.pdf", "mimeType": "application/pdf", "description": "The style guide"}
            ]}
        ]
    })
}

fn image_ref() -> Value {
    json!({"type": "image", "mimeType": "image/png", "sha256": sha(PNG), "size": PNG.len()})
}

async fn images_are_stored_once_and_served_over_rest(m: Media) {
    let a = &m.a;
    let r = a.post("/v1/prompts", &vision()).await;
    assert_eq!(r.status(), 201);
    let created = body(r).await;
    // The version holds the reference, never the bytes.
    assert_eq!(created["messages"][1]["content"][1], image_ref());
    assert!(!created.to_string().contains(&b64(PNG)), "{created}");
    let got = body(a.get("/v1/prompts/vision").await).await;
    assert_eq!(got["messages"], created["messages"]);
    // Old-style messages are still plain strings.
    assert_eq!(
        got["messages"][0]["content"],
        "You describe {{subject}} images."
    );

    // The bytes, with their type, immutable caching and the hash as validator.
    let path = format!("/v1/prompts/vision/blobs/{}", sha(PNG));
    let r = a.get(&path).await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["etag"], format!("\"{}\"", sha(PNG)));
    assert!(
        h["cache-control"].to_str().unwrap().contains("immutable"),
        "{h:?}"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    let r =
        a.s.client
            .get(a.s.url(&path))
            .header("If-None-Match", format!("\"{}\"", sha(PNG)))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 304);
    // A hash the prompt does not reference is not found, even if well-formed.
    let r = a
        .get(&format!("/v1/prompts/vision/blobs/{}", sha(b"other")))
        .await;
    problem(r, StatusCode::NOT_FOUND).await;
    let r = a.get("/v1/prompts/vision/blobs/not-a-hash").await;
    problem(r, StatusCode::NOT_FOUND).await;

    // Apply renders text blocks and passes the others through.
    let r = a
        .post(
            "/v1/prompts/vision/apply",
            &json!({"variables": {"subject": "cat"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let applied = body(r).await;
    let blocks = &applied["messages"][1]["content"];
    assert_eq!(blocks[0]["text"], "Describe this cat:");
    assert_eq!(blocks[1], image_ref());
    assert_eq!(blocks[2]["resource"]["text"], "Notes on {{subject}}");
    assert_eq!(blocks[3]["name"], "guide.pdf");

    // A second version with the same image (sent as bytes again), and a third sent as
    // the reference a read returned: one object in the store.
    let mut v2 = vision();
    v2["messages"][1]["content"][0]["text"] = json!("Now this {{subject}}:");
    let r = a.put("/v1/prompts/vision?mode=replace", &v2, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["version"], 2);
    let mut v3 = got.clone();
    v3["messages"][1]["content"] =
        json!([{"type": "text", "text": "Only {{subject}}"}, image_ref()]);
    let r = a
        .put(
            "/v1/prompts/vision",
            &json!({"messages": v3["messages"]}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["messages"][1]["content"][1], image_ref());
    assert_eq!(m.blob_count().await, 1, "content-addressed: stored once");
    // Re-importing the same document writes nothing.
    let r = a.put("/v1/prompts/vision?mode=replace", &v2, None).await;
    assert_eq!(r.headers()["upsert-outcome"], "updated");
    let r = a.put("/v1/prompts/vision?mode=replace", &v2, None).await;
    assert_eq!(r.headers()["upsert-outcome"], "unchanged");
    // The diff names the image by hash.
    let d = body(a.get("/v1/prompts/vision/diff?from=1&to=3").await).await;
    assert!(
        d["text"]
            .as_str()
            .unwrap()
            .contains(&format!("sha256:{}", sha(PNG))),
        "{d}"
    );
}

async fn bad_blocks_are_refused_with_their_status(m: Media) {
    let a = &m.a;
    let with = |block: Value| {
        json!({"id": "bad", "name": "Bad", "type": "chat", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}, block]}
        ]})
    };
    // Too large: a real PNG header followed by more than the limit.
    let mut big = PNG.to_vec();
    big.extend(std::iter::repeat_n(0u8, 4096));
    let p = problem(
        a.post("/v1/prompts", &with(image("image/png", &big))).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(p["type"], "/problems/too-large", "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("messages[0].content[1]"),
        "{p}"
    );
    assert!(p["detail"].as_str().unwrap().contains("2048"), "{p}");
    // Not an image, whatever it declares.
    let p = problem(
        a.post("/v1/prompts", &with(image("image/png", b"just some text")))
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert_eq!(p["type"], "/problems/unsupported-media-type", "{p}");
    assert_eq!(
        p["errors"][0]["field"], "messages[0].content[1].data",
        "{p}"
    );
    // A PNG declared as JPEG; an SVG (a type this server does not accept).
    let p = problem(
        a.post("/v1/prompts", &with(image("image/jpeg", PNG))).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("image/jpeg") && detail.contains("image/png"),
        "{p}"
    );
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'/>";
    let p = problem(
        a.post("/v1/prompts", &with(image("image/svg+xml", svg)))
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert_eq!(
        p["errors"][0]["field"], "messages[0].content[1].mimeType",
        "{p}"
    );
    // Not base64; a block type that does not exist; a relative URI; a reference to an
    // image that was never stored.
    let p = problem(
        a.post(
            "/v1/prompts",
            &with(json!({"type": "image", "mimeType": "image/png", "data": "%%%"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        p["errors"][0]["field"], "messages[0].content[1].data",
        "{p}"
    );
    let p = problem(
        a.post("/v1/prompts", &with(json!({"type": "video", "uri": "x"})))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        p["errors"][0]["field"], "messages[0].content[1].type",
        "{p}"
    );
    assert!(p["detail"].as_str().unwrap().contains("'video'"), "{p}");
    let p = problem(
        a.post(
            "/v1/prompts",
            &with(json!({"type": "resource_link", "uri": "guide.pdf", "name": "g"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "messages[0].content[1].uri", "{p}");
    let p = problem(
        a.post(
            "/v1/prompts",
            &with(json!({"type": "image", "mimeType": "image/png", "sha256": sha(b"never"), "size": 5})),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        p["errors"][0]["field"], "messages[0].content[1].sha256",
        "{p}"
    );
    // Nothing was stored by the refused writes, and nothing was created.
    assert_eq!(m.blob_count_or_zero().await, 0);
    problem(a.get("/v1/prompts/bad").await, StatusCode::NOT_FOUND).await;
}

impl Media {
    async fn blob_count_or_zero(&self) -> usize {
        if self.aws.is_none() && !self.a.s.data_dir().join("blobs/_media").exists() {
            return 0;
        }
        self.blob_count().await
    }
}

async fn images_follow_the_prompts_access_rules(m: Media) {
    let a = &m.a;
    let mut private = vision();
    private["id"] = json!("secret");
    private["accessLevel"] = json!("private");
    assert_eq!(a.post("/v1/prompts", &private).await.status(), 201);
    let path = format!("/v1/prompts/secret/blobs/{}", sha(PNG));
    let get_as = |token: Option<String>| {
        let mut r = a.s.client.get(a.s.url(&path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(get_as(Some(a.token.clone())).await.unwrap().status(), 200);
    // Anonymous, another user of the tenant, another tenant: as for the prompt.
    assert_eq!(get_as(None).await.unwrap().status(), 404);
    let bob = a.s.token("bob", &[]);
    assert_eq!(get_as(Some(bob)).await.unwrap().status(), 404);
    let other = a.s.token("alice", &["--tenant", "globex"]);
    assert_eq!(get_as(Some(other.clone())).await.unwrap().status(), 404);
    // Nor can another user of the tenant borrow it by its hash into a prompt of theirs,
    // on create or on a write to a prompt of their own: the refusal is the one an
    // unknown hash gets, so it does not tell that the image exists.
    let bob_writes = a.s.token("bob", &["--scope", "prompts:write"]);
    let borrow = |method: reqwest::Method, path: &str, doc: Value| {
        a.s.client
            .request(method, a.s.url(path))
            .bearer_auth(bob_writes.clone())
            .json(&doc)
            .send()
    };
    let doc = json!({"id": "bobs", "name": "B", "type": "chat", "messages": [
        {"role": "user", "content": [image_ref()]}
    ]});
    let p = problem(
        borrow(reqwest::Method::POST, "/v1/prompts", doc.clone())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let unknown = p["errors"][0].clone();
    assert_eq!(unknown["field"], "messages[0].content[0].sha256", "{p}");
    let own = json!({"id": "bobs", "name": "B", "type": "chat", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "mine"}]}
    ]});
    let r = borrow(reqwest::Method::POST, "/v1/prompts", own)
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let p = problem(
        borrow(reqwest::Method::PUT, "/v1/prompts/bobs?mode=replace", doc)
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(p["errors"][0], unknown, "{p}");
    let never = json!({"id": "bobs", "name": "B", "type": "chat", "messages": [
        {"role": "user", "content": [
            {"type": "image", "mimeType": "image/png", "sha256": sha(b"never"), "size": 5}
        ]}
    ]});
    let p = problem(
        borrow(reqwest::Method::PUT, "/v1/prompts/bobs?mode=replace", never)
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        p["errors"][0]["message"], unknown["message"],
        "an absent image and another user's are refused alike: {p}"
    );
    // Bob's prompt has no image to serve under that hash.
    let r = a.get(&format!("/v1/prompts/bobs/blobs/{}", sha(PNG))).await;
    problem(r, StatusCode::NOT_FOUND).await;
    // Another tenant cannot borrow the image by its hash either.
    let r =
        a.s.client
            .post(a.s.url("/v1/prompts"))
            .bearer_auth(a.s.token("alice", &["--tenant", "globex", "--scope", "prompts:write"]))
            .json(
                &json!({"id": "borrow", "name": "B", "type": "chat", "messages": [
                    {"role": "user", "content": [image_ref()]}
                ]}),
            )
            .send()
            .await
            .unwrap();
    let p = problem(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        p["errors"][0]["field"], "messages[0].content[0].sha256",
        "{p}"
    );
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
        Implementation::new("multimodal-test", "1.0"),
    )
    .serve(transport)
    .await
    .expect("initialize")
}

/// What `prompts/get` of [`vision`] must return, whatever the transport.
fn check_vision_result(got: &rmcp::model::GetPromptResult, subject: &str) {
    let roles: Vec<Role> = got.messages.iter().map(|m| m.role.clone()).collect();
    assert_eq!(roles, vec![Role::User; 5]);
    // No system role in MCP: the system message comes first as a marked user message.
    assert_eq!(
        got.messages[0].content.as_text().unwrap().text,
        format!("[system]\nYou describe {subject} images.")
    );
    assert_eq!(
        got.messages[1].content.as_text().unwrap().text,
        format!("Describe this {subject}:")
    );
    // The image arrives inline, as base64 with its MIME type.
    let ContentBlock::Image(img) = &got.messages[2].content else {
        panic!("not an image: {:?}", got.messages[2]);
    };
    assert_eq!(img.mime_type, "image/png");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&img.data)
            .unwrap(),
        PNG
    );
    let ContentBlock::Resource(res) = &got.messages[3].content else {
        panic!("not a resource: {:?}", got.messages[3]);
    };
    let ResourceContents::TextResourceContents {
        uri,
        mime_type,
        text,
        ..
    } = &res.resource
    else {
        panic!("not a text resource: {res:?}");
    };
    assert_eq!(
        (uri.as_str(), mime_type.as_deref(), text.as_str()),
        (
            "file:///notes/{{subject}}.md",
            Some("text/markdown"),
            "Notes on {{subject}}"
        )
    );
    let ContentBlock::ResourceLink(link) = &got.messages[4].content else {
        panic!("not a resource link: {:?}", got.messages[4]);
    };
    assert_eq!(
        (
            link.uri.as_str(),
            link.name.as_str(),
            link.mime_type.as_deref()
        ),
        (
            "https://example.com/guide.pdf",
            "guide.pdf",
            Some("application/pdf")
        )
    );
    let meta = got.meta.as_ref().expect("_meta");
    assert_eq!(
        meta.0["mcp-prompts/roles"],
        json!(["system", "user", "user", "user", "user"])
    );
}

async fn images_arrive_inline_over_mcp(m: Media) {
    let a = &m.a;
    assert_eq!(a.post("/v1/prompts", &vision()).await.status(), 201);
    let client = mcp_client(a).await;
    let got = client
        .get_prompt(
            GetPromptRequestParams::new("vision").with_arguments(obj(json!({"subject": "dog"}))),
        )
        .await
        .unwrap();
    check_vision_result(&got, "dog");

    // create_prompt takes image blocks too, with the same checks.
    let mut v = vision();
    v["id"] = json!("via-mcp");
    let r = client
        .call_tool(CallToolRequestParams::new("create_prompt").with_arguments(obj(v.clone())))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    v["id"] = json!("via-mcp-bad");
    v["messages"][1]["content"][1] = image("image/gif", PNG);
    let r = client
        .call_tool(CallToolRequestParams::new("create_prompt").with_arguments(obj(v)))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    let text = r.content[0].as_text().unwrap().text.clone();
    assert!(text.contains("image/gif"), "{text}");
    assert_eq!(m.blob_count().await, 1);

    // One answer carries at most `max_inline_size` of images (each occurrence counted):
    // the third PNG travels as a line naming its REST URL, which serves it.
    let three = json!({"id": "three", "name": "Three", "type": "chat", "messages": [
        {"role": "user", "content": [image("image/png", PNG), image("image/png", PNG)]},
        {"role": "user", "content": [image("image/png", PNG)]}
    ]});
    assert_eq!(a.post("/v1/prompts", &three).await.status(), 201);
    let got = client
        .get_prompt(GetPromptRequestParams::new("three"))
        .await
        .unwrap();
    assert_eq!(got.messages.len(), 3);
    for m in &got.messages[..2] {
        assert!(matches!(m.content, ContentBlock::Image(_)), "{m:?}");
    }
    let line = &got.messages[2].content.as_text().expect("a text line").text;
    let url = format!("/v1/prompts/three/blobs/{}", sha(PNG));
    assert!(line.contains(&format!("GET {url}")), "{line}");
    let r = a.get(&url).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), PNG);
    let _ = client.cancel().await;
}

/// The official MCP Python SDK (PyPI `mcp`, installed by scripts/test.sh) parses the
/// image, resource and resource-link blocks of a chat prompt as its own types, at a
/// session revision and at the stateless one.
#[tokio::test(flavor = "multi_thread")]
async fn images_reach_the_official_python_sdk() {
    let m = embedded();
    let a = &m.a;
    assert_eq!(a.post("/v1/prompts", &vision()).await.status(), 201);
    let script = common::repo_root().join("tests/mcp_python_client.py");
    let ca = a.s.data_dir().join("tls/cert.pem");
    for mode in ["legacy", "2026-07-28"] {
        let out = tokio::process::Command::new("python3")
            .arg(&script)
            .arg(a.s.url("/mcp"))
            .arg(&a.token)
            .arg(&ca)
            .arg(mode)
            .arg("vision")
            .arg(r#"{"subject": "owl"}"#)
            .output()
            .await
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{mode}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_str(stdout.trim()).unwrap();
        let msgs = v["messages"].as_array().unwrap();
        let types: Vec<&str> = msgs
            .iter()
            .map(|m| m["content"]["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            ["text", "text", "image", "resource", "resource_link"],
            "{mode}: {v}"
        );
        assert_eq!(msgs[1]["content"]["text"], "Describe this owl:");
        let img = &msgs[2]["content"];
        assert_eq!(img["mimeType"], "image/png", "{img}");
        assert_eq!(b64(PNG), img["data"].as_str().unwrap());
        // Only text blocks are templates; a resource is passed through as stored.
        assert_eq!(
            msgs[3]["content"]["resource"]["text"],
            "Notes on {{subject}}"
        );
        assert_eq!(msgs[4]["content"]["uri"], "https://example.com/guide.pdf");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn images_arrive_inline_over_stdio() {
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
        .call_tool(CallToolRequestParams::new("create_prompt").with_arguments(obj(vision())))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let got = client
        .get_prompt(
            GetPromptRequestParams::new("vision").with_arguments(obj(json!({"subject": "bird"}))),
        )
        .await
        .unwrap();
    check_vision_result(&got, "bird");
    let _ = client.cancel().await;
    // The bytes are in the blob store next to the embedded database.
    let stored = data.join("blobs/_media");
    assert!(stored.exists(), "{}", stored.display());
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
    images_are_stored_once_and_served_over_rest,
    bad_blocks_are_refused_with_their_status,
    images_follow_the_prompts_access_rules,
    images_arrive_inline_over_mcp,
);
