//! The load-balancer case with the other two client SDKs (the TypeScript one is in
//! tests/mcp_node_client.rs): rmcp and the official Python SDK hold a session on one
//! server process, subscribe to `prompt://{id}`, and receive `prompts/list_changed` and
//! `resources/updated` over their GET stream when a second server process on the same
//! (moto) AWS data changes the prompt.

use crate::common;

use common::moto::AwsEnv;
use common::*;
use rmcp::model::{
    ClientCapabilities, ClientConfig, GetPromptRequestParams, Implementation,
    ResourceUpdatedNotificationParam, SubscribeRequestParams,
};
use rmcp::service::NotificationContext;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;

/// Two server processes on one bootstrapped moto data set, and a prompt made on `b`.
struct Fleet {
    _aws: AwsEnv,
    a: Server,
    b: Server,
    tb: String,
}

async fn fleet() -> Fleet {
    let aws = AwsEnv::new();
    let config = aws.config("");
    let (code, out, err) = aws.bootstrap(&config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
    let a = Server::start_with_env(&config, aws.env());
    let b = Server::start_with_env(&config, aws.env());
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
    Fleet {
        _aws: aws,
        a,
        b,
        tb,
    }
}

impl Fleet {
    /// Changes the prompt through the other host.
    async fn change_on_b(&self, content: &str) {
        let r = self
            .b
            .client
            .put(self.b.url("/v1/prompts/shared"))
            .bearer_auth(&self.tb)
            .json(&json!({ "content": content }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
}

#[derive(Debug, PartialEq)]
enum Heard {
    ListChanged,
    Updated(String),
}

#[derive(Clone)]
struct Listener {
    info: ClientConfig,
    tx: mpsc::UnboundedSender<Heard>,
}

impl ClientHandler for Listener {
    async fn on_prompt_list_changed(&self, _cx: NotificationContext<RoleClient>) {
        let _ = self.tx.send(Heard::ListChanged);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        let _ = self.tx.send(Heard::Updated(params.uri));
    }

    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rmcp_client_hears_changes_made_on_another_host() {
    let f = fleet().await;
    let ta = f.a.token("alice", &["--scope", "prompts:write"]);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let listener = Listener {
        info: ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("rmcp-cross-host", "1.0"),
        ),
        tx,
    };
    let pem = std::fs::read(f.a.data_dir().join("tls/cert.pem")).unwrap();
    let http = reqwest13::Client::builder()
        .tls_certs_only([reqwest13::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let cfg = StreamableHttpClientTransportConfig::with_uri(f.a.url("/mcp")).auth_header(ta);
    let client = listener
        .serve(StreamableHttpClientTransport::with_client(http, cfg))
        .await
        .expect("initialize");
    let got = client
        .get_prompt(GetPromptRequestParams::new("shared"))
        .await
        .unwrap();
    assert_eq!(got.messages.len(), 1);
    // `resources/subscribe` is what the session revisions (2025-*) offer; rmcp marks it
    // deprecated only in favour of 2026-07-28's `subscriptions/listen`.
    #[allow(deprecated)]
    client
        .subscribe(SubscribeRequestParams::new("prompt://shared"))
        .await
        .unwrap();
    // The transport opens the GET stream once initialised; let it connect.
    tokio::time::sleep(Duration::from_millis(500)).await;
    f.change_on_b("second").await;
    let mut heard = Vec::new();
    while !(heard.contains(&Heard::ListChanged)
        && heard.contains(&Heard::Updated("prompt://shared".into())))
    {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(h)) => heard.push(h),
            _ => panic!("rmcp heard only {heard:?}"),
        }
    }
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_client_hears_changes_made_on_another_host() {
    let f = fleet().await;
    let ta = f.a.token("alice", &["--scope", "prompts:write"]);
    let mut child = Command::new("python3")
        .arg(repo_root().join("tests/mcp_python_watch.py"))
        .arg(f.a.url("/mcp"))
        .arg(&ta)
        .arg(f.a.data_dir().join("tls/cert.pem"))
        .arg("shared")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
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
                Err(_) => panic!("the Python client never printed {prefix}"),
            }
        }
    };
    let ready = wait_for("READY ");
    assert_eq!(ready["protocol"], "2025-11-25", "{ready}");
    assert_eq!(ready["messages"], 1);
    f.change_on_b("second").await;
    let notified = wait_for("NOTIFIED ");
    assert_eq!(notified["listChanged"], true, "{notified}");
    assert_eq!(notified["updated"], "prompt://shared", "{notified}");
    let status = child.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read as _;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "python client failed: {err}");
}
