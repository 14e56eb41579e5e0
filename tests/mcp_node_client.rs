//! Interop with the official MCP TypeScript SDK client (npm `@modelcontextprotocol/sdk`,
//! installed in tests/node by scripts/test.sh): it lists and gets prompts, calls a tool,
//! lists, reads and subscribes to resources on one server process, and receives
//! `prompts/list_changed` and `resources/updated` over its GET stream when a second server
//! process on the same (moto) AWS data changes the prompt.

use crate::common;

use common::moto::AwsEnv;
use common::*;
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn typescript_sdk_client_hears_changes_made_on_another_host() {
    let node_dir = repo_root().join("tests/node");
    assert!(
        node_dir
            .join("node_modules/@modelcontextprotocol/sdk")
            .exists(),
        "run `npm ci --prefix tests/node` (scripts/test.sh does)"
    );
    let aws = AwsEnv::new();
    let config = aws.config("");
    let (code, out, err) = aws.bootstrap(&config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
    let a = Server::start_with_env(&config, aws.env());
    let b = Server::start_with_env(&config, aws.env());
    let ta = a.token("alice", &["--scope", "prompts:write"]);
    let tb = b.token("alice", &["--scope", "prompts:write"]);
    let r = b
        .client
        .post(b.url("/v1/prompts"))
        .bearer_auth(&tb)
        .json(&prompt("shared", "first"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let mut child = Command::new("node")
        .arg(node_dir.join("client.mjs"))
        .arg(a.url("/mcp"))
        .arg(&ta)
        .arg("shared")
        .env("NODE_EXTRA_CA_CERTS", a.data_dir().join("tls/cert.pem"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait_for = |prefix: &str| -> Value {
        loop {
            match rx.recv_timeout(Duration::from_secs(40)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return serde_json::from_str(rest).unwrap();
                    }
                }
                Err(_) => panic!("the Node client never printed {prefix}"),
            }
        }
    };
    let ready = wait_for("READY ");
    assert_eq!(ready["version"], "2025-11-25", "{ready}");
    assert!(
        ready["prompts"]
            .as_array()
            .unwrap()
            .contains(&json!("shared"))
    );
    assert_eq!(ready["messages"], 1);
    assert!(
        ready["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("search_prompts"))
    );
    assert_eq!(ready["toolError"], false);
    assert!(
        ready["resources"]
            .as_array()
            .unwrap()
            .contains(&json!("prompt://shared"))
    );
    assert_eq!(ready["read"], "prompt://shared");

    let r = b
        .client
        .put(b.url("/v1/prompts/shared"))
        .bearer_auth(&tb)
        .json(&json!({"content": "second"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let notified = wait_for("NOTIFIED ");
    assert_eq!(notified["listChanged"], true);
    assert_eq!(notified["updated"], "prompt://shared");
    let status = child.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read as _;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "node client failed: {err}");
}
