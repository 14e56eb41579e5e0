//! `/mcp` at the HTTP and JSON-RPC level: what a misbehaving or hostile client gets.
//! Raw requests on purpose — a real client never sends most of these.

use crate::common;

use common::*;
use serde_json::{Value, json};

const V1: &str = "2025-06-18";
const V2: &str = "2025-11-25";
const V3: &str = "2026-07-28";

fn config(extra: &str) -> String {
    base_config(&format!(
        r#"
[mcp]
allowed_origins = ["https://app.example.com"]
scopes_supported = ["prompts:read"]
{extra}
"#
    ))
}

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

    /// `initialize` → the session id.
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

    /// A 2026-07-28 request with the right headers and `_meta`.
    fn stateless(
        &self,
        method: &str,
        name: Option<&str>,
        mut params: Value,
    ) -> reqwest::RequestBuilder {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": V3,
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}
        });
        let mut r = self
            .post(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
            .header("mcp-protocol-version", V3)
            .header("mcp-method", method);
        if let Some(n) = name {
            r = r.header("mcp-name", n);
        }
        r
    }
}

async fn body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

/// The JSON-RPC messages of an SSE body.
fn sse_messages(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn jsonrpc_and_http_errors() {
    let s = Server::start_with(&config(""));
    let m = Mcp { s: &s, token: None };
    // Malformed JSON.
    let r = s
        .client
        .post(s.url("/mcp"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (st, v) = body(r).await;
    assert_eq!((st, v["error"]["code"].as_i64()), (400, Some(-32700)));
    assert!(v["id"].is_null());
    // Not JSON-RPC 2.0.
    let (st, v) = body(
        m.post(&json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_i64(), v["id"].as_i64()),
        (400, Some(-32600), Some(1))
    );
    let (_, v) = body(
        m.post(&json!({"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["error"]["code"], -32600);
    let (_, v) = body(
        m.post(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping", "params": [1]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["error"]["code"], -32600);
    // Batches are not part of these revisions.
    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]);
    let (st, v) = body(m.post(&batch).send().await.unwrap()).await;
    assert_eq!((st, v["error"]["code"].as_i64()), (400, Some(-32600)));
    assert!(v["error"]["message"].as_str().unwrap().contains("batch"));
    // Wrong content type / Accept.
    let r = s
        .client
        .post(s.url("/mcp"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = s
        .client
        .post(s.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "text/html")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    let r = s
        .client
        .post(s.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406, "text/event-stream must be accepted too");
    // Other methods.
    let r = s.client.put(s.url("/mcp")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    // GET is the event stream: it needs Accept: text/event-stream (`*/*` will do) and
    // a session.
    let r = s
        .client
        .get(s.url("/mcp"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    let r = s.client.get(s.url("/mcp")).send().await.unwrap();
    assert_eq!(
        r.status(),
        400,
        "*/* accepts the stream; the session is missing"
    );
    let r = s
        .client
        .get(s.url("/mcp"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_2025() {
    let s = Server::start_with(&config(""));
    let alice = Mcp {
        s: &s,
        token: Some(s.token("alice", &[])),
    };
    let bob = Mcp {
        s: &s,
        token: Some(s.token("bob", &[])),
    };
    for version in [V1, V2] {
        let sid = alice.init(version).await;
        assert!(
            sid.len() >= 32 && sid.bytes().all(|b| b.is_ascii_graphic()),
            "{sid}"
        );
        // notifications/initialized → 202.
        let r = alice
            .in_session(
                &sid,
                version,
                &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let (st, v) = body(
            alice
                .in_session(
                    &sid,
                    version,
                    &json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
                )
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, &v["result"]), (200, &json!({})));
        // Unknown method.
        let (st, v) = body(
            alice
                .in_session(
                    &sid,
                    version,
                    &json!({"jsonrpc": "2.0", "id": 3, "method": "prompts/teleport"}),
                )
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (st, v["error"]["code"].as_i64()),
            (200, Some(-32601)),
            "{v}"
        );
        // Bad params.
        let (_, v) = body(alice.in_session(&sid, version, &json!({"jsonrpc": "2.0", "id": 4, "method": "prompts/get", "params": {"name": 5}})).send().await.unwrap()).await;
        assert_eq!(v["error"]["code"], -32602, "{v}");
        // Missing session id.
        let (st, v) = body(
            alice
                .post(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, v["error"]["code"].as_i64()), (400, Some(-32600)));
        // Unknown session id and another subject's session id: 404.
        let r = alice
            .in_session(
                "not-a-session",
                version,
                &json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = bob
            .in_session(
                &sid,
                version,
                &json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "bob must not use alice's session");
        let r = s
            .client
            .post(s.url("/mcp"))
            .header("content-type", "application/json")
            .header("mcp-session-id", &sid)
            .body(json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "anonymous must not use alice's session");
        // A version header that is not the session's.
        let other = if version == V1 { V2 } else { V1 };
        let (st, v) = body(
            alice
                .in_session(
                    &sid,
                    other,
                    &json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}),
                )
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, v["error"]["code"].as_i64()), (400, Some(-32020)));
        let (st, v) = body(
            alice
                .in_session(
                    &sid,
                    "1999-01-01",
                    &json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}),
                )
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, v["error"]["code"].as_i64()), (400, Some(-32022)));
        // DELETE ends it (bob cannot).
        let r = s
            .client
            .delete(s.url("/mcp"))
            .bearer_auth(bob.token.as_ref().unwrap())
            .header("mcp-session-id", &sid)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = s
            .client
            .delete(s.url("/mcp"))
            .bearer_auth(alice.token.as_ref().unwrap())
            .header("mcp-session-id", &sid)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let r = alice
            .in_session(
                &sid,
                version,
                &json!({"jsonrpc": "2.0", "id": 8, "method": "ping"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = s
            .client
            .delete(s.url("/mcp"))
            .bearer_auth(alice.token.as_ref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "DELETE without a session id");
    }
    // An unknown requested revision is answered with ours.
    let r = alice
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    let (_, v) = body(r).await;
    assert_eq!(v["result"]["protocolVersion"], V2);
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_live_in_the_kv_store() {
    // A session survives a restart on the same data: it is not process memory, so any
    // host sharing the store can serve it.
    let s = Server::start_with(&config(""));
    let token = s.token("alice", &["--ttl", "2h"]);
    let m = Mcp {
        s: &s,
        token: Some(token.clone()),
    };
    let sid = m.init(V2).await;
    let mut s = s;
    let dir = s.kill9();
    let s2 = Server::start_in(dir, &config(""));
    let m2 = Mcp {
        s: &s2,
        token: Some(token),
    };
    let (st, v) = body(
        m2.in_session(
            &sid,
            V2,
            &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["result"]["tools"].as_array().unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_changed_rides_on_the_next_response() {
    let s = Server::start_with(&config(""));
    let token = s.token("alice", &[]);
    let m = Mcp {
        s: &s,
        token: Some(token),
    };
    let watcher = m.init(V1).await;
    let writer = m.init(V2).await;
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "create_prompt", "arguments": {"id": "n1", "name": "N1", "content": "text"}}});
    let r = m.in_session(&writer, V2, &call).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let msgs = sse_messages(&r.text().await.unwrap());
    assert_eq!(msgs[0]["method"], "notifications/prompts/list_changed");
    assert_eq!(msgs[1]["result"]["isError"], false);
    // The other session hears of it on its next request, once.
    let ping = json!({"jsonrpc": "2.0", "id": 4, "method": "ping"});
    let r = m.in_session(&watcher, V1, &ping).send().await.unwrap();
    let msgs = sse_messages(&r.text().await.unwrap());
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["method"], "notifications/prompts/list_changed");
    assert_eq!(msgs[1]["id"], 4);
    let r = m.in_session(&watcher, V1, &ping).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    // A change through the REST API is announced too.
    let r = s
        .client
        .delete(s.url("/v1/prompts/n1"))
        .bearer_auth(m.token.as_ref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = m.in_session(&watcher, V1, &ping).send().await.unwrap();
    let msgs = sse_messages(&r.text().await.unwrap());
    assert_eq!(msgs[0]["method"], "notifications/prompts/list_changed");
}

#[test]
fn config_errors_name_the_mcp_key() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key) in [
        ("[mcp]\nroute = \"/nowhere\"\n", "mcp.route"),
        ("[mcp]\npath = \"/v1/prompts/mcp\"\n", "mcp.path"),
        ("[mcp]\npath = \"/health\"\n", "mcp.path"),
        ("[mcp]\nallowed_origins = [\"*\"]\n", "mcp.allowed_origins"),
        ("[mcp]\npage_size = 0\n", "mcp.page_size"),
        ("[mcp]\nresource = \"ftp://x/mcp\"\n", "mcp.resource"),
    ] {
        let cfg = base_config(extra).replace("{data}", &dir.path().display().to_string());
        let path = dir.path().join("c.toml");
        std::fs::write(&path, cfg).unwrap();
        let (code, _, err) = run_cli(&["check", "--config", path.to_str().unwrap()]);
        assert_eq!(code, 1, "{extra}: {err}");
        assert!(err.contains(key), "{extra}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stateless_2026() {
    let s = Server::start_with(&config(""));
    let token = s.token("alice", &[]);
    let m = Mcp {
        s: &s,
        token: Some(token.clone()),
    };
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(&token)
        .json(&prompt("p1", "Hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (st, v) = body(
        m.stateless("server/discover", None, json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["result"]["supportedVersions"],
        json!(["2025-03-26", V1, V2, V3])
    );
    let (_, v) = body(m.stateless("ping", None, json!({})).send().await.unwrap()).await;
    assert_eq!(v["result"], json!({}));
    let (st, v) = body(
        m.stateless("prompts/list", None, json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["result"]["prompts"][0]["name"], "p1", "{v}");
    let (_, v) = body(
        m.stateless("prompts/get", Some("p1"), json!({"name": "p1"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["result"]["messages"][0]["role"], "user", "{v}");
    let (_, v) = body(
        m.stateless(
            "tools/call",
            Some("get_prompt"),
            json!({"name": "get_prompt", "arguments": {"id": "p1"}}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(v["result"]["structuredContent"]["id"], "p1", "{v}");
    let (_, v) = body(
        m.stateless(
            "resources/read",
            Some("prompt://p1"),
            json!({"uri": "prompt://p1"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(v["result"]["contents"][0]["uri"], "prompt://p1", "{v}");
    // Mcp-Name as Base64.
    let (_, v) = body(
        m.stateless(
            "prompts/get",
            Some("=?base64?cDE=?="),
            json!({"name": "p1"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert!(v["result"].is_object(), "{v}");

    // Header mismatches: -32020.
    let (st, v) = body(
        m.stateless("prompts/list", None, json!({}))
            .header("mcp-method", "tools/list")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_i64()),
        (400, Some(-32020)),
        "duplicate/mismatched Mcp-Method: {v}"
    );
    let mut req = m.post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": V3, "io.modelcontextprotocol/clientCapabilities": {}}}}));
    req = req
        .header("mcp-protocol-version", V3)
        .header("mcp-method", "prompts/list");
    let (st, v) = body(req.send().await.unwrap()).await;
    assert_eq!((st, v["error"]["code"].as_i64()), (400, Some(-32020)));
    let (st, v) = body(
        m.stateless(
            "tools/call",
            Some("delete_prompt"),
            json!({"name": "get_prompt", "arguments": {"id": "p1"}}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_i64()),
        (400, Some(-32020)),
        "Mcp-Name mismatch"
    );
    let (st, v) = body(
        m.stateless(
            "tools/call",
            None,
            json!({"name": "get_prompt", "arguments": {"id": "p1"}}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_i64()),
        (400, Some(-32020)),
        "Mcp-Name missing"
    );
    let req = m.post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": V3, "io.modelcontextprotocol/clientCapabilities": {}}}}))
        .header("mcp-protocol-version", V2).header("mcp-method", "tools/list");
    let (st, v) = body(req.send().await.unwrap()).await;
    assert_eq!(
        (st, v["error"]["code"].as_i64()),
        (400, Some(-32020)),
        "version header vs _meta"
    );
    // Unsupported version: -32022 listing ours.
    let req = m.post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {}}}}))
        .header("mcp-protocol-version", "2099-01-01").header("mcp-method", "tools/list");
    let (st, v) = body(req.send().await.unwrap()).await;
    assert_eq!((st, v["error"]["code"].as_i64()), (400, Some(-32022)));
    assert_eq!(
        v["error"]["data"]["supported"],
        json!(["2025-03-26", V1, V2, V3])
    );
    // Unknown method.
    let (_, v) = body(
        m.stateless("prompts/teleport", None, json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["error"]["code"], -32601, "{v}");
    // GET and DELETE: 405.
    let r = s
        .client
        .get(s.url("/mcp"))
        .bearer_auth(&token)
        .header("mcp-protocol-version", V3)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = s
        .client
        .delete(s.url("/mcp"))
        .bearer_auth(&token)
        .header("mcp-protocol-version", V3)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn origin_and_auth() {
    let s = Server::start_with(&config(""));
    let m = Mcp { s: &s, token: None };
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": V2, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let r = m
        .post(&ping)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = m
        .post(&ping)
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // RFC 9728 metadata at both paths.
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["resource"], format!("{}/mcp", s.base));
        assert_eq!(v["authorization_servers"], json!(["mcp-prompts-dev"]));
        assert_eq!(v["scopes_supported"], json!(["prompts:read"]));
        assert_eq!(v["bearer_methods_supported"], json!(["header"]));
    }
    // Invalid token: 401 naming the metadata.
    let r = s
        .client
        .post(s.url("/mcp"))
        .bearer_auth("garbage")
        .header("content-type", "application/json")
        .body(ping.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            s.base
        )),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn required_auth_audience_and_query_tokens() {
    let cfg = base_config(
        r#"
[mcp]
route = "/v2/prompts"
audience = "https://prompts.example.com/mcp"
resource = "https://prompts.example.com/mcp"

[[routes]]
path = "/v2/prompts"
handler = "prompt-store"
auth = "required"
policies = ["policy"]
"#,
    );
    let s = Server::start_with(&cfg);
    let token = s.token("alice", &[]);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": V2, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    // No token; a token in the query string is never read.
    for url in [s.url("/mcp"), s.url(&format!("/mcp?access_token={token}"))] {
        let r = s
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(init.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let challenge = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.contains("resource_metadata=\"https://prompts.example.com/.well-known/oauth-protected-resource/mcp\""), "{challenge}");
    }
    // A valid token for another audience (the dev tokens' "mcp-prompts").
    let r = s
        .client
        .post(s.url("/mcp"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let v: Value = s
        .client
        .get(s.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["resource"], "https://prompts.example.com/mcp");
}

#[tokio::test(flavor = "multi_thread")]
async fn audience_binding_accepts_the_right_audience() {
    let cfg = base_config(
        r#"
[mcp]
audience = "mcp-prompts"
"#,
    );
    let s = Server::start_with(&cfg);
    let m = Mcp {
        s: &s,
        token: Some(s.token("alice", &[])),
    };
    let sid = m.init(V2).await;
    assert!(!sid.is_empty());
}
