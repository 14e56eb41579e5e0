//! Access levels (enforced by the prompt-store plugin) and per-principal rate limits
//! (enforced by the policy plugin), against the real binary and plugins over TLS.

use crate::common;

use common::{Server, base_config, plugin};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The default config plus:
/// - `premium_tiers` for the store, so that tier `enterprise` also reads premium prompts;
/// - `/v1/open`: the same store behind a policy that lets anonymous callers write;
/// - `/v1/limited`: the same store behind the policy with rate limits (1 h window);
/// - `/v1/fast`: rate limit 1 per 2 s, to watch a window reset;
/// - `/v1/shared`: the store serving tenant `catalog` to every caller.
fn config() -> String {
    let policy = plugin("policy");
    base_config(&format!(
        r#"
[plugins.prompt-store.config]
premium_tiers = ["premium", "enterprise"]

[plugins.open]
path = "{policy}"
world = "policy"
kv = ["ratelimits"]        # imported by the component; unused without rate_limits

[plugins.open.config]
write_requires_auth = false

[[routes]]
path = "/v1/open"
handler = "prompt-store"
auth = "optional"
policies = ["open"]

[plugins.limits]
path = "{policy}"
world = "policy"
kv = ["ratelimits"]

[plugins.limits.config]
rate_window = "1h"

[plugins.limits.config.rate_limits]
free = 3
premium = 5
anonymous = 2

[[routes]]
path = "/v1/limited"
handler = "prompt-store"
auth = "optional"
policies = ["limits"]

[plugins.fast]
path = "{policy}"
world = "policy"
kv = ["fastlimits"]

[plugins.fast.config]
rate_window = "2s"
rate_namespace = "fastlimits"

[plugins.fast.config.rate_limits]
free = 1

[[routes]]
path = "/v1/fast"
handler = "prompt-store"
auth = "optional"
policies = ["fast"]

[[routes]]
path = "/v1/shared"
handler = "prompt-store"
auth = "optional"
policies = ["policy"]
tenant = "catalog"
"#,
        policy = policy.display()
    ))
}

/// Callers: anonymous, the author, another free user of the same tenant, a premium user,
/// an `enterprise` user (premium by config), and the author's subject in another tenant.
struct Callers {
    s: Server,
    alice: String,
    bob: String,
    carol: String,
    erin: String,
    alice_elsewhere: String,
}

impl Callers {
    fn start() -> Self {
        let s = Server::start_with(&config());
        let alice = s.token("alice", &[]);
        let bob = s.token("bob", &[]);
        let carol = s.token("carol", &["--tier", "premium"]);
        let erin = s.token("erin", &["--tier", "enterprise"]);
        let alice_elsewhere = s.token("alice", &["--tenant", "other"]);
        Callers {
            s,
            alice,
            bob,
            carol,
            erin,
            alice_elsewhere,
        }
    }

    fn who(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("anonymous", None),
            ("alice", Some(self.alice.as_str())),
            ("bob", Some(self.bob.as_str())),
            ("carol", Some(self.carol.as_str())),
        ]
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut r = self.s.client.request(method, self.s.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    async fn apply(&self, id: &str, token: Option<&str>) -> reqwest::Response {
        let path = format!("/v1/prompts/{id}/apply");
        let vars = json!({"variables": {}});
        self.send(reqwest::Method::POST, &path, token, Some(vars))
            .await
    }

    async fn put(&self, id: &str, token: &str) -> reqwest::Response {
        let path = format!("/v1/prompts/{id}");
        let change = json!({"description": "changed"});
        self.send(reqwest::Method::PUT, &path, Some(token), Some(change))
            .await
    }

    async fn delete(&self, id: &str, token: &str) -> reqwest::Response {
        let path = format!("/v1/prompts/{id}");
        self.send(reqwest::Method::DELETE, &path, Some(token), None)
            .await
    }
}

async fn problem(r: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status, "{:?}", r.url().path());
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    r.json().await.unwrap()
}

fn body(id: &str, level: &str, content: &str) -> Value {
    json!({"id": id, "name": format!("Prompt {id}"), "content": content, "accessLevel": level})
}

/// Alice creates `pub`, `priv` and `prem`, and two public templates that include the
/// private and the premium one as partials.
async fn seed(c: &Callers) {
    for (id, level, content) in [
        ("pub", "public", "public body"),
        ("priv", "private", "private body"),
        ("prem", "premium", "premium body"),
        ("inc-priv", "public", "A {{> priv}} Z"),
        ("inc-prem", "public", "A {{> prem}} Z"),
    ] {
        let r = c
            .send(
                reqwest::Method::POST,
                "/v1/prompts",
                Some(&c.alice),
                Some(body(id, level, content)),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{id}");
        let stored: Value = r.json().await.unwrap();
        assert_eq!(stored["author"], "alice");
        assert_eq!(stored["accessLevel"], level);
    }
}

async fn list_ids(c: &Callers, token: Option<&str>, limit: u32) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cur) => format!("/v1/prompts?limit={limit}&cursor={cur}"),
            None => format!("/v1/prompts?limit={limit}"),
        };
        let r = c.get(&path, token).await;
        assert_eq!(r.status(), StatusCode::OK);
        let page: Value = r.json().await.unwrap();
        let items = page["prompts"].as_array().unwrap();
        // Pages stay full: only the last may be short, and none is empty.
        assert!(!items.is_empty(), "empty page at {path}");
        ids.extend(items.iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match page["nextCursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit as usize, "short page before the end");
                cursor = Some(next.to_owned());
            }
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn reads_follow_access_levels() {
    let c = Callers::start();
    seed(&c).await;
    let absent = problem(
        c.get("/v1/prompts/no-such-prompt", Some(&c.bob)).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    for (name, token) in c.who() {
        for path in ["/v1/prompts/pub", "/v1/prompts/pub/versions"] {
            assert_eq!(c.get(path, token).await.status(), 200, "{name} {path}");
        }
        let author = name == "alice";
        let premium = author || name == "carol";
        for path in [
            "/v1/prompts/priv",
            "/v1/prompts/priv?version=1",
            "/v1/prompts/priv/versions",
        ] {
            let r = c.get(path, token).await;
            if author {
                assert_eq!(r.status(), 200, "{name} {path}");
                continue;
            }
            // Indistinguishable from a prompt that does not exist.
            let p = problem(r, StatusCode::NOT_FOUND).await;
            assert_eq!(p["type"], absent["type"], "{name} {path}");
            assert_eq!(p["title"], absent["title"]);
            assert!(!p.to_string().contains("private"), "{p}");
        }
        for path in ["/v1/prompts/prem", "/v1/prompts/prem/versions"] {
            let r = c.get(path, token).await;
            if premium {
                assert_eq!(r.status(), 200, "{name} {path}");
                continue;
            }
            let p = problem(r, StatusCode::FORBIDDEN).await;
            assert!(p["type"].as_str().unwrap().ends_with("forbidden"), "{p}");
            assert!(
                p["detail"]
                    .as_str()
                    .unwrap()
                    .contains("requires a premium subscription"),
                "{p}"
            );
        }
    }
    // `premium_tiers` from the plugin config: `enterprise` reads premium prompts.
    assert_eq!(c.get("/v1/prompts/prem", Some(&c.erin)).await.status(), 200);
    assert_eq!(c.get("/v1/prompts/priv", Some(&c.erin)).await.status(), 404);
    // Tenancy below the plugin: Alice in another tenant sees none of it.
    for id in ["pub", "priv", "prem"] {
        let r = c
            .get(&format!("/v1/prompts/{id}"), Some(&c.alice_elsewhere))
            .await;
        assert_eq!(r.status(), 404, "{id}");
    }
}

#[tokio::test]
async fn lists_are_filtered_and_pages_stay_full() {
    let c = Callers::start();
    seed(&c).await;
    // Bob's own private prompt, which only he lists.
    let r = c
        .send(
            reqwest::Method::POST,
            "/v1/prompts",
            Some(&c.bob),
            Some(body("bobs", "private", "b")),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let public = ["inc-prem", "inc-priv", "pub"];
    let cases: [(&str, Option<&str>, BTreeSet<String>); 5] = [
        ("anonymous", None, set(&public)),
        (
            "alice",
            Some(&c.alice),
            set(&["inc-prem", "inc-priv", "prem", "priv", "pub"]),
        ),
        (
            "bob",
            Some(&c.bob),
            set(&["bobs", "inc-prem", "inc-priv", "pub"]),
        ),
        (
            "carol",
            Some(&c.carol),
            set(&["inc-prem", "inc-priv", "prem", "pub"]),
        ),
        (
            "erin",
            Some(&c.erin),
            set(&["inc-prem", "inc-priv", "prem", "pub"]),
        ),
    ];
    for (name, token, want) in &cases {
        for limit in [1, 2, 3, 20] {
            let (ids, pages) = list_ids(&c, *token, limit).await;
            let got: BTreeSet<String> = ids.iter().cloned().collect();
            assert_eq!(&got, want, "{name} limit {limit}");
            assert_eq!(ids.len(), want.len(), "{name}: duplicates {ids:?}");
            assert_eq!(pages, want.len().div_ceil(limit as usize), "{name} {limit}");
        }
    }
    // Filtering by level never reveals someone else's private prompts.
    let r = c.get("/v1/prompts?accessLevel=private", Some(&c.bob)).await;
    let page: Value = r.json().await.unwrap();
    let ids: Vec<&str> = page["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["bobs"]);
}

#[tokio::test]
async fn apply_checks_prompts_and_partials() {
    let c = Callers::start();
    seed(&c).await;
    let apply = |id, token| c.apply(id, token);
    let r = apply("inc-priv", Some(&c.alice)).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"], "A private body Z");
    let r = apply("inc-prem", Some(&c.carol)).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"], "A premium body Z");

    for (name, token) in [("anonymous", None), ("bob", Some(c.bob.as_str()))] {
        problem(apply("priv", token).await, StatusCode::NOT_FOUND).await;
        problem(apply("prem", token).await, StatusCode::FORBIDDEN).await;
        // A public template must not leak a private partial: same answer as a partial
        // that does not exist, and no trace of its body.
        let p = problem(
            apply("inc-priv", token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(p["detail"], "partial 'priv' not found", "{name}");
        let p = problem(apply("inc-prem", token).await, StatusCode::FORBIDDEN).await;
        assert!(!p.to_string().contains("premium body"), "{p}");
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("requires a premium subscription"),
            "{name} {p}"
        );
    }
    // Carol is premium but not the author of the private partial.
    problem(
        apply("inc-priv", Some(&c.carol)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn writes_need_visibility() {
    let c = Callers::start();
    seed(&c).await;
    let put = |id, token| c.put(id, token);
    let delete = |id, token| c.delete(id, token);
    for token in [&c.bob, &c.carol] {
        problem(put("priv", token).await, StatusCode::NOT_FOUND).await;
        problem(delete("priv", token).await, StatusCode::NOT_FOUND).await;
    }
    let p = problem(put("prem", &c.bob).await, StatusCode::FORBIDDEN).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("requires a premium subscription")
    );
    problem(delete("prem", &c.bob).await, StatusCode::FORBIDDEN).await;
    // Nothing changed.
    for id in ["priv", "prem"] {
        let v: Value = c
            .get(&format!("/v1/prompts/{id}"), Some(&c.alice))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (v["version"].as_u64(), v["description"].is_null()),
            (Some(1), true)
        );
    }
    // Who can read may change (write scopes permitting); authorship stays.
    let r = put("prem", &c.carol).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["version"].as_u64(), v["author"].as_str()),
        (Some(2), Some("alice"))
    );
    assert_eq!(put("priv", &c.alice).await.status(), 200);
    assert_eq!(put("pub", &c.bob).await.status(), 200);
    // Making a prompt private hides it from the others at once.
    let r = c
        .send(
            reqwest::Method::PUT,
            "/v1/prompts/pub",
            Some(&c.alice),
            Some(json!({"accessLevel": "private"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(c.get("/v1/prompts/pub", Some(&c.bob)).await.status(), 404);
    assert_eq!(delete("priv", &c.alice).await.status(), 204);
    assert_eq!(delete("prem", &c.carol).await.status(), 204);
}

#[tokio::test]
async fn anonymous_private_prompts_are_refused() {
    let c = Callers::start();
    // `/v1/open` lets anonymous callers write; a private prompt still needs an owner.
    let r = c
        .send(
            reqwest::Method::POST,
            "/v1/open",
            None,
            Some(body("orphan", "private", "x")),
        )
        .await;
    let p = problem(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"][0]["field"], "accessLevel", "{p}");
    let r = c
        .send(
            reqwest::Method::POST,
            "/v1/open",
            None,
            Some(body("anon", "public", "x")),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c
        .send(
            reqwest::Method::PUT,
            "/v1/open/anon",
            None,
            Some(json!({"accessLevel": "private"})),
        )
        .await;
    let p = problem(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"][0]["field"], "accessLevel", "{p}");
}

#[tokio::test]
async fn callers_own_nothing_in_a_shared_tenant() {
    let c = Callers::start();
    // Alice of tenant `catalog` owns a private prompt there.
    let local = c.s.token("alice", &["--tenant", "catalog"]);
    let r = c
        .send(
            reqwest::Method::POST,
            "/v1/shared",
            Some(&local),
            Some(body("mine", "private", "x")),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(c.get("/v1/shared/mine", Some(&local)).await.status(), 200);
    // Alice of the default tenant is someone else, whatever her subject says.
    assert_eq!(c.get("/v1/shared/mine", Some(&c.alice)).await.status(), 404);
    // And she cannot own anything there: a private prompt would have no owner.
    let r = c
        .send(
            reqwest::Method::POST,
            "/v1/shared",
            Some(&c.alice),
            Some(body("hers", "private", "x")),
        )
        .await;
    let p = problem(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"][0]["field"], "accessLevel", "{p}");
    // Premium prompts there follow the caller's tier, as anywhere.
    let r = c
        .send(
            reqwest::Method::POST,
            "/v1/shared",
            Some(&c.alice),
            Some(body("gold", "premium", "x")),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert!(v["author"].is_null(), "{v}");
    assert_eq!(c.get("/v1/shared/gold", Some(&c.carol)).await.status(), 200);
    assert_eq!(c.get("/v1/shared/gold", Some(&c.alice)).await.status(), 403);
}

// ---- rate limits --------------------------------------------------------------------

fn header(r: &reqwest::Response, name: &str) -> Option<u64> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

/// (limit, remaining, reset) of an allowed response.
fn budget(r: &reqwest::Response) -> (u64, u64, u64) {
    let get = |n: &str| header(r, n).unwrap_or_else(|| panic!("no {n} on {}", r.status()));
    (
        get("x-ratelimit-limit"),
        get("x-ratelimit-remaining"),
        get("x-ratelimit-reset"),
    )
}

async fn spend(c: &Callers, path: &str, token: Option<&str>, limit: u64) {
    // The budget refills continuously (GCRA): each request spent pushes the time until
    // it is full again (`X-RateLimit-Reset`) further out.
    let mut last_reset = 0;
    for used in 1..=limit {
        let r = c.get(path, token).await;
        assert_eq!(r.status(), 200, "request {used}");
        let (l, remaining, reset) = budget(&r);
        assert_eq!((l, remaining), (limit, limit - used), "request {used}");
        assert!((1..=3600).contains(&reset), "{reset}");
        assert!(
            reset >= last_reset,
            "reset went down: {reset} < {last_reset}"
        );
        last_reset = reset;
    }
    let r = c.get(path, token).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = header(&r, "retry-after").expect("Retry-After");
    let (l, remaining, reset) = budget(&r);
    assert_eq!((l, remaining), (limit, 0));
    // Retry once one request's share of the window has refilled, well before it is full.
    assert!(
        (1..=3600).contains(&retry) && retry <= reset && reset <= 3600,
        "{retry} {reset}"
    );
    let p = problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(p["type"].as_str().unwrap().ends_with("rate-limited"), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("rate limit"), "{p}");
}

#[tokio::test]
async fn rate_limits_per_principal_and_tier() {
    let c = Callers::start();
    let path = "/v1/limited";
    // Free tier: 3 per window, then 429 with Retry-After and the same headers.
    spend(&c, path, Some(&c.alice), 3).await;
    // Every kind of request counts, and refused ones stay refused.
    let r = c.get("/v1/limited/pub", Some(&c.alice)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Bob's budget is his own; Carol's premium tier has 5; anonymous callers share 2.
    spend(&c, path, Some(&c.bob), 3).await;
    spend(&c, path, Some(&c.carol), 5).await;
    // The access rules answer first, and what they refuse is not counted: an anonymous
    // write is a 401 and leaves the shared anonymous budget (2) untouched.
    let r = c
        .send(
            reqwest::Method::POST,
            path,
            None,
            Some(body("x", "public", "x")),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("x-ratelimit-limit").is_none());
    spend(&c, path, None, 2).await;
    // A tier without an entry (and no `default`) is not limited: no headers.
    let r = c.get(path, Some(&c.erin)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-ratelimit-limit").is_none());
    // Alice in another tenant has a separate counter (kv is tenant-scoped).
    let r = c.get(path, Some(&c.alice_elsewhere)).await;
    assert_eq!(budget(&r).1, 2);
    // Routes without the limiting policy are not counted and carry no headers.
    let r = c.get("/v1/prompts", Some(&c.alice)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-ratelimit-remaining").is_none());
}

#[tokio::test]
async fn concurrent_requests_never_exceed_the_budget() {
    let c = Callers::start();
    let frank = c.s.token("frank", &["--tier", "premium"]);
    let requests = (0..12).map(|_| c.get("/v1/limited", Some(&frank)));
    let responses = futures_util::future::join_all(requests).await;
    let ok: Vec<&reqwest::Response> = responses.iter().filter(|r| r.status() == 200).collect();
    let limited = responses.iter().filter(|r| r.status() == 429).count();
    assert_eq!(
        (ok.len(), limited),
        (5, 7),
        "compare-and-set lost or double-counted"
    );
    let mut remaining: Vec<u64> = ok.iter().map(|r| budget(r).1).collect();
    remaining.sort_unstable();
    assert_eq!(remaining, [0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn the_window_resets() {
    let c = Callers::start();
    let r = c.get("/v1/fast", Some(&c.alice)).await;
    assert_eq!(budget(&r), (1, 0, 2));
    let r = c.get("/v1/fast", Some(&c.alice)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = header(&r, "retry-after").unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = c.get("/v1/fast", Some(&c.alice)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(budget(&r).1, 0);
}

/// The default policy's `write_scopes`: a write without one of them is a 403 with an RFC 6750
/// `insufficient_scope` challenge naming them; with one (or a group of that name) it passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_write_scope_is_an_insufficient_scope_challenge() {
    let s = Server::start_with(&base_config(&format!(
        r#"
[plugins.scoped]
path = "{}"
world = "policy"
kv = ["ratelimits"]

[plugins.scoped.config]
write_scopes = ["prompts:write", "prompts:admin"]

[[routes]]
path = "/v1/scoped"
handler = "prompt-store"
auth = "optional"
policies = ["scoped"]
"#,
        plugin("policy").display()
    )));
    let url = s.url("/v1/scoped");
    let reader = s.token("rita", &["--scope", "prompts:read"]);
    let r = s
        .client
        .post(&url)
        .bearer_auth(&reader)
        .json(&common::prompt("p1", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"mcp-prompts\", error=\"insufficient_scope\", scope=\"prompts:write prompts:admin\""
    );
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "/problems/insufficient-scope");
    assert!(
        p["detail"].as_str().unwrap().contains("prompts:write"),
        "{p}"
    );
    // Reads need no scope; anonymous writes are 401 (authentication first).
    assert_eq!(
        s.client
            .get(&url)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let r = s
        .client
        .post(&url)
        .json(&common::prompt("p1", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The scope, or a group of the same name, lets the write through.
    let writer = s.token("wade", &["--scope", "prompts:write"]);
    let r = s
        .client
        .post(&url)
        .bearer_auth(&writer)
        .json(&common::prompt("p1", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let admin = s.token("ada", &["--group", "prompts:admin"]);
    let r = s
        .client
        .post(&url)
        .bearer_auth(&admin)
        .json(&common::prompt("p2", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}
