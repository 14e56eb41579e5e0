//! The deployment as code (deploy/, docs/deploy.md) against the real binary:
//!
//! - the data plane of the synthesized CDK template (tables, buckets, secret) deployed into
//!   a local moto_server through its CloudFormation API, then `check` with
//!   config/production.toml as shipped and a REST round trip on those resources;
//! - scripts/post_deploy_check.sh against a local TLS server with the redirect listener and
//!   CORS on, and its failures when a check does not hold.
//!
//! `deploy/cdk.out` comes from `cdk synth` (deploy/scripts/check.sh; scripts/test.sh runs it
//! before the Rust tests).

use crate::common;

use common::moto::{AwsEnv, Moto, free_port};
use common::{BIN, Server, base_config, repo_root};
use std::process::Command;

fn template() -> std::path::PathBuf {
    let t = repo_root().join("deploy/cdk.out/McpPromptsSecurityStack.template.json");
    assert!(
        t.exists(),
        "{} is missing: run deploy/scripts/check.sh (scripts/test.sh does)",
        t.display()
    );
    t
}

/// The physical names `deploy/scripts/moto_deploy.py` reports.
#[derive(serde::Deserialize, Debug)]
struct DataPlane {
    tables: Vec<String>,
    buckets: Vec<String>,
    secrets: Vec<String>,
    moto_ignored: Vec<String>,
}

fn deploy_data_plane(aws: &AwsEnv) -> DataPlane {
    let out = Command::new("python3")
        .arg(repo_root().join("deploy/scripts/moto_deploy.py"))
        .arg(template())
        .arg(aws.endpoint())
        .envs(aws.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "moto_deploy.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// config/production.toml's environment for the resources of the template.
fn production_env(
    aws: &AwsEnv,
    plane: &DataPlane,
    data: &std::path::Path,
) -> Vec<(String, String)> {
    let bucket = |prefix: &str| {
        plane
            .buckets
            .iter()
            .find(|b| b.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}* bucket in {plane:?}"))
            .clone()
    };
    let mut env = aws.env();
    env.extend(
        [
            (
                "MCP_PROMPTS_PLUGIN_DIR",
                repo_root()
                    .join("target/wasm32-wasip2/release")
                    .display()
                    .to_string(),
            ),
            ("MCP_PROMPTS_DATA_DIR", data.display().to_string()),
            ("MCP_PROMPTS_LISTEN", "127.0.0.1:0".to_string()),
            ("MCP_PROMPTS_USER_BUCKET", bucket("mcp-user-prompts-")),
            ("MCP_PROMPTS_CATALOG_BUCKET", bucket("mcp-prompts-catalog-")),
            ("MCP_PROMPTS_COGNITO_POOL_ID", "us-east-1_TestPool".into()),
            ("MCP_PROMPTS_COGNITO_CLIENT_ID", "test-client".into()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    env
}

#[tokio::test]
async fn synthesized_data_plane_in_moto_serves_the_real_binary() {
    common::plugin("prompt_store");
    // A moto of its own: the template's table names are fixed (mcp-prompts, ...).
    let moto = Moto::start();
    let aws = AwsEnv::on(moto.port);
    let plane = deploy_data_plane(&aws);
    // What moto's CloudFormation does not implement is reported, not hidden (the
    // assertions tests in deploy/test cover those properties on the template).
    for note in &plane.moto_ignored {
        eprintln!("moto did not apply: {note}");
    }
    let mut tables = plane.tables.clone();
    tables.sort();
    assert_eq!(tables, ["mcp-prompts", "mcp-sessions", "mcp-users"]);
    assert_eq!(plane.secrets, ["mcp-prompts/secrets"]);

    // 1. `check` with config/production.toml exactly as shipped (the tables take their
    //    default names, which are the template's).
    let data = tempfile::tempdir().unwrap();
    let env = production_env(&aws, &plane, data.path());
    let production = repo_root().join("config/production.toml");
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&production)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // 2. Serve on those resources. Cognito cannot run here (and its JWKS is on the
    //    internet), so the served variant is production.toml as a staging stage: the OIDC
    //    provider replaced by HS256 service tokens whose key is the template's secret.
    let text = std::fs::read_to_string(&production).unwrap();
    let start = text
        .find("[[auth.oidc]]")
        .expect("production.toml: [[auth.oidc]]");
    let end =
        start + text[start..].find("leeway = \"30s\"\n").unwrap() + "leeway = \"30s\"\n".len();
    let staging = format!(
        "{}{}\n[auth.dev]\nissuer = \"mcp-prompts-staging\"\n[auth.dev.secrets_manager]\nsecret_id = \"{}\"\nkey = \"jwt_secret\"\n",
        &text[..start],
        &text[end..],
        plane.secrets[0]
    )
    .replace(
        "environment = \"production\"",
        "environment = \"development\"",
    );
    assert!(staging.contains("environment = \"development\""));
    let server = Server::start_with_env(&staging, env);
    let token = server.token("deployer", &["--scope", "prompts/write"]);
    let c = &server.client;
    let r = c
        .post(server.url("/v1/prompts"))
        .bearer_auth(&token)
        .json(&common::prompt("deployed", "Hello {{name}} from the stack"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = c
        .post(server.url("/v1/prompts/deployed/apply"))
        .json(&serde_json::json!({"variables": {"name": "Ada"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["content"], "Hello Ada from the stack", "{body}");
    // The write is in the table the template created, under the documented partition key
    // (`<namespace>#<tenant>`, docs/aws.md); the sort keys are the plugin's own.
    let items = aws
        .dynamodb()
        .await
        .query()
        .table_name("mcp-prompts")
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S("prompts#default".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = items
        .items()
        .iter()
        .filter_map(|i| i.get("sk")?.as_s().ok().map(String::as_str))
        .collect();
    assert!(
        keys.iter().any(|k| k.contains("deployed")),
        "no item of the prompt under prompts#default: {keys:?}"
    );
    // A token signed with any other key is refused: the secret really is the key.
    let r = c
        .get(server.url("/users/me"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// A TLS server with the redirect listener and CORS, as the post-deployment checks expect.
fn check_target() -> (Server, u16, &'static str) {
    let (https, http) = (free_port(), free_port());
    let origin = "https://app.example.test";
    let config = base_config(&format!(
        r#"
[redirect]
listen = "127.0.0.1:{http}"
canonical_host = "127.0.0.1:{https}"

[cors]
allowed_origins = ["{origin}"]

[metrics]
enabled = false
"#
    ))
    .replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{https}\""),
    );
    (Server::start_with(&config), http, origin)
}

fn run_check(server: &Server, env: &[(&str, String)]) -> (i32, String) {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/post_deploy_check.sh"))
        .arg(server.url(""))
        .env(
            "CACERT",
            server.data_dir().join("tls/cert.pem").display().to_string(),
        )
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn post_deploy_check_passes_against_a_local_tls_server() {
    let (server, http, origin) = check_target();
    let token = server.token("alice", &[]);
    let (code, out) = run_check(
        &server,
        &[
            ("TOKEN", token),
            ("ORIGIN", origin.to_string()),
            ("HTTP_URL", format!("http://127.0.0.1:{http}")),
        ],
    );
    assert_eq!(code, 0, "{out}");
    for check in [
        "ok    GET /health is 200",
        "ok    GET /ready is 200",
        "ok    HTTP answers 301 to ",
        "ok    CORS preflight from a foreign origin",
        "ok    CORS preflight from https://app.example.test is 204",
        "ok    GET /users/me without a token is 401 (Bearer",
        "ok    GET /users/me with the token is 200",
        "ok    /metrics is not public",
        "ok    TLS 1.2 handshake verifies",
        "ok    TLS 1.1 is refused",
    ] {
        assert!(out.contains(check), "missing {check:?} in\n{out}");
    }
    assert!(!out.contains("skip"), "{out}");
}

#[test]
fn post_deploy_check_fails_when_a_check_does_not_hold() {
    let (server, _http, _) = check_target();
    // No redirect listener where HTTP_URL points, a token that does not verify, an origin
    // the server does not allow, and a CA that is not the server's.
    let other = tempfile::tempdir().unwrap();
    let stranger = Server::start_in(other, &base_config(""));
    let (code, out) = run_check(
        &server,
        &[
            ("TOKEN", "not-a-token".to_string()),
            ("ORIGIN", "https://elsewhere.example.test".to_string()),
            ("HTTP_URL", format!("http://127.0.0.1:{}", free_port())),
        ],
    );
    assert_eq!(code, 1, "{out}");
    for check in [
        "FAIL  HTTP redirect",
        "FAIL  CORS preflight from https://elsewhere.example.test",
        "FAIL  GET /users/me with the token",
        "3 check(s) failed",
    ] {
        assert!(out.contains(check), "missing {check:?} in\n{out}");
    }
    // With the wrong CA the TLS check fails too (and curl cannot connect at all).
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/post_deploy_check.sh"))
        .arg(server.url(""))
        .env(
            "CACERT",
            stranger
                .data_dir()
                .join("tls/cert.pem")
                .display()
                .to_string(),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  TLS 1.2 handshake"), "{text}");
    assert!(text.contains("FAIL  GET /health"), "{text}");
}
