//! Rate limits as a host capability (the policy world's `limits` import), against the
//! real binary and plugins over TLS: no request below its budget is refused however many
//! of one principal's requests race, a spent budget is `429` with `Retry-After` on REST
//! and the rate-limited JSON-RPC error with HTTP `429` on MCP, and one request spends
//! once however many policy decisions it needs. Anonymous budgets are per client address.

use crate::common;

use common::{Server, base_config, plugin};
use futures_util::future::join_all;
use serde_json::{Value, json};

const V3: &str = "2026-07-28";
/// `errors::RATE_LIMITED` in host/src/mcp/errors.rs.
const RATE_LIMITED: i64 = -32029;

/// The default config with `/v1/prompts` behind a policy of `budget` requests per hour
/// for every authenticated tier, and `/mcp` serving that route.
fn config(budget: u64) -> String {
    base_config(&format!(
        r#"
[plugins.limited]
path = "{policy}"
world = "policy"

[plugins.limited.config]
rate_window = "1h"

[plugins.limited.config.rate_limits]
free = {budget}
default = {budget}

[[routes]]
path = "/v1/limited"
handler = "prompt-store"
auth = "required"
policies = ["limited"]

[mcp]
route = "/v1/limited"
"#,
        policy = plugin("policy").display()
    ))
}

async fn seed(s: &Server, token: &str) {
    let r = s
        .client
        .post(s.url("/v1/limited"))
        .bearer_auth(token)
        .json(&json!({
            "id": "greet", "name": "Greet", "content": "Hello {{name}}!",
            "isTemplate": true,
            "variables": [{"name": "name", "required": true}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

fn get(s: &Server, token: &str) -> reqwest::RequestBuilder {
    s.client.get(s.url("/v1/limited/greet")).bearer_auth(token)
}

/// A stateless (2026-07-28) MCP request.
fn mcp(
    s: &Server,
    token: &str,
    method: &str,
    name: &str,
    mut params: Value,
) -> reqwest::RequestBuilder {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": V3,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    s.client
        .post(s.url("/mcp"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", V3)
        .header("mcp-method", method)
        .header("mcp-name", name)
        .body(json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).to_string())
}

fn prompts_get(s: &Server, token: &str) -> reqwest::RequestBuilder {
    mcp(
        s,
        token,
        "prompts/get",
        "greet",
        json!({"name": "greet", "arguments": {"name": "Ann"}}),
    )
}

async fn status_and_json(r: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, headers, v)
}

fn remaining(h: &reqwest::header::HeaderMap) -> u64 {
    h["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Many concurrent requests of one principal, far below its budget: every one is served,
/// on REST and on MCP (the old kv compare-and-set refused some as "too many concurrent
/// requests").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_below_the_budget_are_all_served() {
    let s = Server::start_with(&config(1_000_000));
    let token = s.token("hot", &[]);
    seed(&s, &token).await;
    for round in 0..3 {
        let rest = join_all((0..150).map(|_| status_and_json(get(&s, &token)))).await;
        let statuses: Vec<u16> = rest.iter().map(|(st, _, _)| *st).collect();
        assert!(
            statuses.iter().all(|&st| st == 200),
            "round {round}: REST {:?}",
            statuses.iter().filter(|&&st| st != 200).collect::<Vec<_>>()
        );
        assert!(
            rest.iter()
                .all(|(_, h, _)| h.contains_key("x-ratelimit-remaining"))
        );
        let rpc = join_all((0..100).map(|_| status_and_json(prompts_get(&s, &token)))).await;
        for (st, _, v) in &rpc {
            assert_eq!(*st, 200, "round {round}: {v}");
            assert!(v.get("error").is_none(), "round {round}: {v}");
            assert_eq!(
                v["result"]["messages"][0]["content"]["text"], "Hello Ann!",
                "{v}"
            );
        }
    }
}

/// A spent budget: REST answers 429 with `Retry-After`; MCP answers HTTP 429 with
/// `Retry-After` and the rate-limited JSON-RPC error (not -32600) for prompts/get and
/// tools; an MCP `prompts/get` (a read and a render, two policy decisions) spends one.
#[tokio::test(flavor = "multi_thread")]
async fn a_spent_budget_is_429_on_rest_and_mcp() {
    let s = Server::start_with(&config(5));
    let token = s.token("ann", &[]);
    // The create spends 1 of 5.
    seed(&s, &token).await;
    // Two prompts/get spend one each: 2 left after them.
    for _ in 0..2 {
        let (st, _, v) = status_and_json(prompts_get(&s, &token)).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["result"]["messages"][0]["content"]["text"], "Hello Ann!");
    }
    let (st, h, _) = status_and_json(get(&s, &token)).await;
    assert_eq!(
        (st, remaining(&h)),
        (200, 1),
        "prompts/get spent more than one"
    );
    let (st, h, _) = status_and_json(get(&s, &token)).await;
    assert_eq!((st, remaining(&h)), (200, 0));

    // REST: 429 problem with Retry-After within one request's share of the hour.
    let (st, h, p) = status_and_json(get(&s, &token)).await;
    assert_eq!(st, 429, "{p}");
    assert_eq!(p["type"], "/problems/rate-limited", "{p}");
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=720).contains(&retry), "{retry}");
    assert_eq!(remaining(&h), 0);

    // MCP prompts/get and tools/call: HTTP 429, Retry-After, JSON-RPC RATE_LIMITED.
    let tool = mcp(
        &s,
        &token,
        "tools/call",
        "get_prompt",
        json!({"name": "get_prompt", "arguments": {"id": "greet"}}),
    );
    for (what, req) in [
        ("prompts/get", prompts_get(&s, &token)),
        ("tools/call", tool),
    ] {
        let (st, h, v) = status_and_json(req).await;
        assert_eq!(st, 429, "{what}: {v}");
        assert_eq!(v["id"], 7, "{what}: {v}");
        assert_eq!(v["error"]["code"], RATE_LIMITED, "{what}: {v}");
        assert_eq!(v["error"]["data"]["status"], 429, "{what}: {v}");
        assert_eq!(v["error"]["data"]["type"], "/problems/rate-limited");
        let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
        assert_eq!(v["error"]["data"]["retryAfter"], retry, "{what}: {v}");
        assert!((1..=720).contains(&retry), "{what}: {retry}");
        assert_eq!(remaining(&h), 0, "{what}");
    }

    // Another principal's budget is untouched.
    let other = s.token("bea", &[]);
    let (st, h, _) = status_and_json(get(&s, &other)).await;
    assert_eq!((st, remaining(&h)), (200, 4));
}

/// Racing requests past a small budget: exactly the budget is served, the rest are 429
/// (nothing lost, nothing counted twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_past_a_small_budget_serves_exactly_the_budget() {
    let s = Server::start_with(&config(21));
    let token = s.token("cid", &[]);
    seed(&s, &token).await;
    let all = join_all((0..60).map(|_| status_and_json(get(&s, &token)))).await;
    let ok = all.iter().filter(|(st, _, _)| *st == 200).count();
    let limited = all.iter().filter(|(st, _, _)| *st == 429).count();
    assert_eq!((ok, limited), (20, 40));
    let mut left: Vec<u64> = all
        .iter()
        .filter(|(st, _, _)| *st == 200)
        .map(|(_, h, _)| remaining(h))
        .collect();
    left.sort_unstable();
    assert_eq!(left, (0..20).collect::<Vec<_>>());
}

/// `/v1/anon` with an anonymous budget of 2 per hour; `trusted` is `server.trusted_proxies`.
fn anonymous_config(trusted: &str) -> String {
    base_config(&format!(
        r#"
[plugins.limited]
path = "{policy}"
world = "policy"

[plugins.limited.config]
rate_window = "1h"

[plugins.limited.config.rate_limits]
anonymous = 2

[[routes]]
path = "/v1/anon"
handler = "prompt-store"
auth = "optional"
policies = ["limited"]

[mcp]
route = "/v1/anon"
"#,
        policy = plugin("policy").display()
    ))
    .replace(
        "header_read_timeout = \"2s\"",
        &format!("header_read_timeout = \"2s\"\ntrusted_proxies = {trusted}"),
    )
}

async fn anon_status(s: &Server, forwarded_for: &str) -> u16 {
    s.client
        .get(s.url("/v1/anon"))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Issue 15 item 4: anonymous budgets are per client, so one anonymous client cannot lock
/// out the others; the client is the peer, or behind a trusted proxy the forwarded hop,
/// and an untrusted peer cannot pick its address with the header.
#[tokio::test(flavor = "multi_thread")]
async fn anonymous_budgets_are_per_client_and_forwarding_is_believed_only_from_trusted_proxies() {
    // The test client reaches the server from 127.0.0.1: untrusted here.
    let s = Server::start_with(&anonymous_config("[]"));
    assert_eq!(anon_status(&s, "198.51.100.1").await, 200);
    assert_eq!(anon_status(&s, "198.51.100.1").await, 200);
    // Another forwarded address does not help: the budget is the peer's.
    assert_eq!(anon_status(&s, "198.51.100.2").await, 429);

    // Behind a trusted proxy (loopback plays the load balancer), each forwarded client
    // has its own budget, and a forged leftmost hop is ignored.
    let s = Server::start_with(&anonymous_config("[\"127.0.0.0/8\"]"));
    assert_eq!(anon_status(&s, "198.51.100.1").await, 200);
    assert_eq!(anon_status(&s, "203.0.113.50, 198.51.100.1").await, 200);
    assert_eq!(anon_status(&s, "198.51.100.1").await, 429);
    assert_eq!(anon_status(&s, "198.51.100.2").await, 200);
    // The same on MCP: the spent client gets -32029 with 429, another client is served.
    let rpc = |xff: &'static str| {
        s.client
            .post(s.url("/mcp"))
            .header("x-forwarded-for", xff)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", V3)
            .header("mcp-method", "prompts/list")
            .body(
                json!({"jsonrpc": "2.0", "id": 1, "method": "prompts/list", "params": {"_meta": {
                    "io.modelcontextprotocol/protocolVersion": V3,
                    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
                    "io.modelcontextprotocol/clientCapabilities": {}}}})
                .to_string(),
            )
    };
    let (st, _, v) = status_and_json(rpc("198.51.100.1")).await;
    assert_eq!(
        (st, v["error"]["code"].as_i64()),
        (429, Some(RATE_LIMITED)),
        "{v}"
    );
    let (st, _, v) = status_and_json(rpc("198.51.100.3")).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["result"]["prompts"].is_array(), "{v}");
}
