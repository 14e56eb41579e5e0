//! `/mcp` features beyond request/response, over real TLS against the real binary:
//! revision 2025-03-26, the GET event stream (notifications from any host,
//! `Last-Event-ID` resumption, close on DELETE), resource subscriptions, logging, the
//! Host/Origin rules, denials as HTTP statuses, and what a session may cost in storage.

use crate::common;

use common::*;
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use std::time::Duration;

const OLD: &str = "2025-03-26";
const V2: &str = "2025-11-25";

struct Mcp<'a> {
    s: &'a Server,
    token: Option<String>,
}

impl Mcp<'_> {
    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut r = self
            .s
            .client
            .post(self.s.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    async fn init(&self, version: &str) -> String {
        let r = self
            .post(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": version, "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"}}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["result"]["protocolVersion"], version);
        sid
    }

    fn in_session(&self, sid: &str, version: &str, body: &Value) -> reqwest::RequestBuilder {
        self.post(body)
            .header("mcp-session-id", sid)
            .header("mcp-protocol-version", version)
    }

    async fn rpc(&self, sid: &str, version: &str, method: &str, params: Value) -> Vec<Value> {
        let r = self
            .in_session(
                sid,
                version,
                &json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        let text = r.text().await.unwrap();
        if ct.starts_with("text/event-stream") {
            sse_messages(&text)
        } else {
            vec![serde_json::from_str(&text).unwrap()]
        }
    }

    fn stream(&self, sid: &str, last: Option<&str>) -> reqwest::RequestBuilder {
        let mut r = self
            .s
            .client
            .get(self.s.url("/mcp"))
            .header("accept", "text/event-stream")
            .header("mcp-session-id", sid);
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        if let Some(l) = last {
            r = r.header("last-event-id", l);
        }
        r
    }
}

fn sse_messages(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// Reads an event stream until `done` says enough; returns (messages, last event id).
async fn read_events(
    resp: reqwest::Response,
    done: impl Fn(&[Value]) -> bool,
) -> (Vec<Value>, Option<String>, String) {
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let msgs = sse_messages(&text);
        if done(&msgs) {
            break;
        }
        match tokio::time::timeout_at(deadline, body.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(_) => break,
            Err(_) => panic!("timed out waiting for events; got:\n{text}"),
        }
    }
    let last = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("id: "))
        .map(str::to_string);
    (sse_messages(&text), last, text)
}

async fn create(s: &Server, token: &str, id: &str, content: &str) {
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(token)
        .json(&prompt(id, content))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

async fn update(s: &Server, token: &str, id: &str, content: &str) {
    let r = s
        .client
        .put(s.url(&format!("/v1/prompts/{id}")))
        .bearer_auth(token)
        .json(&json!({"content": content}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn revision_2025_03_26_sessions() {
    let s = Server::start();
    let m = Mcp { s: &s, token: None };
    let sid = m.init(OLD).await;
    // Several concurrent POSTs of one session, each naming the revision in the header.
    let mut calls = Vec::new();
    for i in 0..8 {
        let body = json!({"jsonrpc": "2.0", "id": i, "method": if i % 2 == 0 { "tools/list" } else { "prompts/list" }});
        calls.push(m.in_session(&sid, OLD, &body).send());
    }
    for r in futures_util::future::join_all(calls).await {
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert!(v.get("result").is_some(), "{v}");
    }
    // Without the header: the negotiated revision.
    let r = m
        .post(&json!({"jsonrpc": "2.0", "id": 20, "method": "ping"}))
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Another supported revision than the negotiated one: 400.
    let r = m
        .in_session(
            &sid,
            V2,
            &json!({"jsonrpc": "2.0", "id": 21, "method": "ping"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn event_stream_subscriptions_and_resumption() {
    let s = Server::start();
    let token = s.token("alice", &[]);
    create(&s, &token, "watched", "v1").await;
    create(&s, &token, "other", "v1").await;
    let m = Mcp {
        s: &s,
        token: Some(token.clone()),
    };
    let sid = m.init(V2).await;
    let r = m
        .rpc(
            &sid,
            V2,
            "resources/subscribe",
            json!({"uri": "prompt://watched"}),
        )
        .await;
    assert_eq!(r.last().unwrap()["result"], json!({}));
    // Unknown resources cannot be subscribed to.
    let r = m
        .rpc(
            &sid,
            V2,
            "resources/subscribe",
            json!({"uri": "prompt://nope"}),
        )
        .await;
    assert_eq!(r.last().unwrap()["error"]["code"], -32002);

    let resp = m.stream(&sid, None).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    update(&s, &token, "other", "v2").await;
    update(&s, &token, "watched", "v2").await;
    let (msgs, last, text) = read_events(resp, |m| {
        m.iter()
            .any(|m| m["method"] == "notifications/resources/updated")
    })
    .await;
    assert!(text.contains("retry: "), "{text}");
    assert!(
        msgs.iter()
            .any(|m| m["method"] == "notifications/prompts/list_changed")
    );
    let updated: Vec<_> = msgs
        .iter()
        .filter(|m| m["method"] == "notifications/resources/updated")
        .collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["params"]["uri"], "prompt://watched");
    let last = last.expect("events carry ids");

    // A change while disconnected is delivered on reconnect with Last-Event-ID.
    let before: u64 = last.split('-').next().unwrap().parse().unwrap();
    update(&s, &token, "watched", "v3").await;
    let resp = m
        .stream(&sid, Some(&format!("{}-x", before)))
        .send()
        .await
        .unwrap();
    let (msgs, next, _) = read_events(resp, |m| {
        m.iter()
            .any(|m| m["method"] == "notifications/resources/updated")
    })
    .await;
    assert!(
        msgs.iter()
            .any(|m| m["params"]["uri"] == "prompt://watched")
    );
    let next: u64 = next.unwrap().split('-').next().unwrap().parse().unwrap();
    assert!(next > before);

    // After unsubscribing, only list changes arrive.
    m.rpc(
        &sid,
        V2,
        "resources/unsubscribe",
        json!({"uri": "prompt://watched"}),
    )
    .await;
    let resp = m.stream(&sid, None).send().await.unwrap();
    update(&s, &token, "watched", "v4").await;
    let (msgs, _, _) = read_events(resp, |m| {
        m.iter()
            .any(|m| m["method"] == "notifications/prompts/list_changed")
    })
    .await;
    assert!(
        !msgs
            .iter()
            .any(|m| m["method"] == "notifications/resources/updated")
    );

    // DELETE ends the session and its open stream.
    let resp = m.stream(&sid, None).send().await.unwrap();
    let r =
        m.s.client
            .delete(s.url("/mcp"))
            .bearer_auth(&token)
            .header("mcp-session-id", &sid)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 204);
    let ended = tokio::time::timeout(Duration::from_secs(10), resp.bytes()).await;
    assert!(ended.is_ok(), "the stream must end after DELETE");
    // And a stream of an unknown session is 404.
    let r = m.stream(&sid, None).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // Accept must name the event stream.
    let sid = m.init(V2).await;
    let r = s
        .client
        .get(s.url("/mcp"))
        .header("accept", "application/json")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
}

#[tokio::test(flavor = "multi_thread")]
async fn logging_levels_filter_the_request_events() {
    let s = Server::start();
    let token = s.token("alice", &[]);
    create(&s, &token, "greet", "Hello {{name}}").await;
    let m = Mcp {
        s: &s,
        token: Some(token),
    };
    let sid = m.init(V2).await;
    let get = json!({"name": "greet", "arguments": {"name": "Ann"}});
    // No level set: no log notifications.
    let msgs = m.rpc(&sid, V2, "prompts/get", get.clone()).await;
    assert!(!msgs.iter().any(|m| m["method"] == "notifications/message"));
    let r = m
        .rpc(&sid, V2, "logging/setLevel", json!({"level": "loud"}))
        .await;
    assert_eq!(r.last().unwrap()["error"]["code"], -32602);
    m.rpc(&sid, V2, "logging/setLevel", json!({"level": "info"}))
        .await;
    let msgs = m.rpc(&sid, V2, "prompts/get", get.clone()).await;
    let logs: Vec<_> = msgs
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .collect();
    assert!(!logs.is_empty(), "{msgs:?}");
    assert_eq!(logs[0]["params"]["level"], "info");
    assert_eq!(logs[0]["params"]["data"]["prompt"], "greet");
    assert!(msgs.last().unwrap()["result"]["messages"].is_array());
    m.rpc(&sid, V2, "logging/setLevel", json!({"level": "error"}))
        .await;
    let msgs = m.rpc(&sid, V2, "prompts/get", get).await;
    assert!(!msgs.iter().any(|m| m["method"] == "notifications/message"));
}

fn http1_client(s: &Server) -> reqwest::Client {
    let pem = std::fs::read(s.data_dir().join("tls/cert.pem")).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .http1_only()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn host_and_origin_rules() {
    let s = Server::start_with(&base_config(
        "[mcp]\nallowed_origins = [\"https://app.example.com\"]\n",
    ));
    let c = http1_client(&s);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": V2, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let port = s.port();
    let send = |host: Option<String>, origin: Option<&str>| {
        let mut r = c
            .post(s.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init.to_string());
        if let Some(h) = host {
            r = r.header("host", h);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    for (host, origin, want) in [
        (None, None, 200),
        (Some(format!("localhost:{port}")), None, 200),
        (Some(format!("127.0.0.1:{port}")), None, 200),
        (Some("evil.example".to_string()), None, 421),
        (Some(format!("localhost@evil.example:{port}")), None, 421),
        (
            Some(format!("evil.example:{port}")),
            Some("https://evil.example"),
            421,
        ),
        (
            Some(format!("localhost:{port}")),
            Some("https://evil.example"),
            403,
        ),
        (
            Some(format!("localhost:{port}")),
            Some("https://app.example.com"),
            200,
        ),
        // Same origin as the server itself needs no configuration.
        (
            Some(format!("localhost:{port}")),
            Some(&*Box::leak(
                format!("https://localhost:{port}").into_boxed_str(),
            )),
            200,
        ),
    ] {
        let r = send(host.clone(), origin).await.unwrap();
        assert_eq!(r.status(), want, "Host {host:?} Origin {origin:?}");
    }
    // The RFC 9728 metadata never reflects a Host outside the list.
    let r = c
        .get(s.url("/.well-known/oauth-protected-resource/mcp"))
        .header("host", "localhost@evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    let r = c
        .get(s.url("/.well-known/oauth-protected-resource/mcp"))
        .header("host", format!("localhost:{port}"))
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    // An untrusted forwarding header does not downgrade the TLS listener's scheme.
    assert_eq!(v["resource"], format!("https://localhost:{port}/mcp"));
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_resource_and_hosts() {
    let s = Server::start_with(&base_config(
        "[mcp]\nresource = \"https://prompts.example.com/mcp\"\nallowed_hosts = [\"localhost\"]\n",
    ));
    let c = http1_client(&s);
    let port = s.port();
    for (host, want) in [
        (format!("localhost:{port}"), 200),
        ("prompts.example.com".to_string(), 200),
        ("127.0.0.1".to_string(), 421),
    ] {
        let r = c
            .get(s.url("/.well-known/oauth-protected-resource"))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{host}");
        if want == 200 {
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["resource"], "https://prompts.example.com/mcp");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn denials_carry_their_http_status() {
    let s = Server::start_with(&base_config(
        r#"
[[routes]]
path = "/v1/limited"
handler = "prompt-store"
auth = "optional"
policies = ["limits"]

[plugins.limits]
path = "{policy}"
world = "policy"
kv = ["ratelimits"]

[plugins.limits.config]
rate_window = "1h"

[plugins.limits.config.rate_limits]
free = 50
anonymous = 4

[mcp]
route = "/v1/limited"
"#
        .replace("{policy}", &plugin("policy").display().to_string())
        .as_str(),
    ));
    let m = Mcp { s: &s, token: None };
    // initialize spends the budget like every call.
    let sid = m.init(V2).await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "prompts/list"});
    let r = m.in_session(&sid, V2, &list).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-ratelimit-remaining"));
    let mut last = None;
    for _ in 0..6 {
        let r = m.in_session(&sid, V2, &list).send().await.unwrap();
        if r.status() == 429 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("the anonymous budget runs out");
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32029, "a spent budget: {v}");
    assert!(v["error"]["data"]["retryAfter"].is_u64(), "{v}");
    // And initialize itself is refused once the budget is spent.
    let r = m
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": V2, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("mcp-session-id").is_none());

    // A write by an anonymous caller through a tool: 401 with a challenge.
    let s2 = Server::start();
    let m = Mcp {
        s: &s2,
        token: None,
    };
    let sid = m.init(V2).await;
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "create_prompt", "arguments": {"id": "x", "name": "X", "content": "t"}}});
    let r = m.in_session(&sid, V2, &call).send().await.unwrap();
    assert!(r.status() == 401 || r.status() == 403, "got {}", r.status());
    if r.status() == 401 {
        let ch = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(ch.contains("resource_metadata="), "{ch}");
    }
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].is_object(), "{v}");
}

/// Issue 15 item 1: `initialize` cannot fill the disk.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_bounded_in_size_and_number() {
    let s = Server::start_with(&base_config("[mcp]\nmax_sessions_per_principal = 3\n"));
    let m = Mcp { s: &s, token: None };
    let dir_size = || {
        fn walk(p: &std::path::Path) -> u64 {
            std::fs::read_dir(p)
                .map(|d| {
                    d.flatten()
                        .map(|e| {
                            let md = e.metadata().unwrap();
                            if md.is_dir() {
                                walk(&e.path())
                            } else {
                                md.len()
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&s.data_dir())
    };
    let first = m.init(V2).await;
    let before = dir_size();
    let junk = "x".repeat(250_000);
    for _ in 0..20 {
        let r = m
            .post(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": V2, "capabilities": {"experimental": {"junk": {"data": junk}}},
                "clientInfo": {"name": junk, "version": "1", "extra": junk}}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers().contains_key("mcp-session-id"),
            "{:.300}",
            r.text().await.unwrap()
        );
    }
    let grown = dir_size().saturating_sub(before);
    // 20 × 750 KB were sent; a few KiB per session may be kept.
    assert!(grown < 4_000_000, "the store grew by {grown} bytes");
    // The principal's oldest session made room for the newer ones.
    let r = m
        .in_session(
            &first,
            V2,
            &json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// A change made through one server reaches the event stream a client holds open on
/// another server process sharing the same (moto) DynamoDB data: the load-balancer case.
#[tokio::test(flavor = "multi_thread")]
async fn another_host_change_reaches_the_event_stream_on_aws() {
    let aws = common::moto::AwsEnv::new();
    let config = aws.config("");
    let (code, out, err) = aws.bootstrap(&config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
    let a = Server::start_with_env(&config, aws.env());
    let b = Server::start_with_env(&config, aws.env());
    let ta = a.token("alice", &["--scope", "prompts:write"]);
    let tb = b.token("alice", &["--scope", "prompts:write"]);
    create(&b, &tb, "shared", "v1").await;
    let m = Mcp {
        s: &a,
        token: Some(ta),
    };
    let sid = m.init(V2).await;
    let r = m
        .rpc(
            &sid,
            V2,
            "resources/subscribe",
            json!({"uri": "prompt://shared"}),
        )
        .await;
    assert_eq!(r.last().unwrap()["result"], json!({}));
    let resp = m.stream(&sid, None).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    update(&b, &tb, "shared", "v2").await;
    let (msgs, last, _) = read_events(resp, |m| {
        m.iter()
            .any(|m| m["method"] == "notifications/resources/updated")
    })
    .await;
    assert!(
        msgs.iter()
            .any(|m| m["method"] == "notifications/prompts/list_changed")
    );
    assert!(msgs.iter().any(|m| m["params"]["uri"] == "prompt://shared"));
    assert!(last.is_some());
}
