//! Identity across issuers (issue 15 item 8), against the real binary over TLS: a server
//! trusting an OIDC issuer (tests/common/idp.rs) and the HS256 development issuer maps a
//! user of each to one tenant. Equal `sub`s from two issuers must be two callers for
//! profiles, private prompts (authorship), MCP sessions and rate-limit budgets, while data
//! keyed by a bare subject (everything written before identities were qualified) stays the
//! primary issuer's.

use crate::common;

use common::idp::Idp;
use common::{Server, base_config, plugin, run_cli};
use serde_json::{Value, json};

const V1: &str = "2025-06-18";
const DEV_ISSUER: &str = "mcp-prompts-dev";

/// The default config, the OIDC issuer `idp` (first, so primary unless `extra` pins
/// another) and a route behind a policy allowing 2 requests per hour per caller.
fn config(idp: &Idp, extra: &str) -> String {
    base_config(&format!(
        r#"
[auth]
{extra}

[plugins.limited]
path = "{policy}"
world = "policy"

[plugins.limited.config]
rate_window = "1h"

[plugins.limited.config.rate_limits]
free = 2
default = 2

[[routes]]
path = "/v1/limited"
handler = "prompt-store"
auth = "required"
policies = ["limited"]
{oidc}
"#,
        policy = plugin("policy").display(),
        oidc = idp.config(""),
    ))
}

async fn me(s: &Server, token: &str) -> Value {
    let r = s
        .client
        .get(s.url("/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn mcp(s: &Server, token: &str, body: &Value) -> reqwest::RequestBuilder {
    s.client
        .post(s.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(token)
        .body(body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_subjects_from_two_issuers_are_two_callers() {
    let idp = Idp::start(&["rsa-a"]);
    let s = Server::start_with(&config(&idp, ""));
    let cognito = idp.token("alice");
    let dev = s.token("alice", &["--scope", "prompts:write"]);

    // Who they are: the primary (first OIDC) issuer's subject bare, the other qualified.
    let v = me(&s, &cognito).await;
    assert_eq!(v["subject"], "alice", "{v}");
    assert_eq!(v["issuer"], idp.issuer, "{v}");
    let v = me(&s, &dev).await;
    assert_eq!(v["subject"], format!("{DEV_ISSUER}#alice"), "{v}");
    assert_eq!(v["issuer"], DEV_ISSUER, "{v}");

    // Profiles: one's profile is not the other's.
    let r = s
        .client
        .put(s.url("/users/me"))
        .bearer_auth(&cognito)
        .json(&json!({"displayName": "Cognito Alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(me(&s, &cognito).await["displayName"], "Cognito Alice");
    assert_eq!(me(&s, &dev).await["displayName"], Value::Null);

    // Authorship: a private prompt of one is invisible to the other.
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(&dev)
        .json(
            &json!({"id": "secret", "name": "Secret", "content": "dev alice only",
            "accessLevel": "private"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["author"], format!("{DEV_ISSUER}#alice"), "{v}");
    let own = s
        .client
        .get(s.url("/v1/prompts/secret"))
        .bearer_auth(&dev)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    let other = s
        .client
        .get(s.url("/v1/prompts/secret"))
        .bearer_auth(&cognito)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "the other issuer's alice read it");

    // MCP sessions: a session is its creator's only.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": V1, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let r = mcp(&s, &dev, &init).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "prompts/list"});
    let in_session = |t: &str| {
        mcp(&s, t, &list)
            .header("mcp-session-id", &sid)
            .header("mcp-protocol-version", V1)
    };
    assert_eq!(in_session(&dev).send().await.unwrap().status(), 200);
    let r = in_session(&cognito).send().await.unwrap();
    assert_eq!(r.status(), 404, "the other issuer's alice used the session");

    // Rate limits: spending one's budget leaves the other's.
    for t in [&dev, &dev] {
        let r = s
            .client
            .get(s.url("/v1/limited"))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = s
        .client
        .get(s.url("/v1/limited"))
        .bearer_auth(&dev)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let r = s
        .client
        .get(s.url("/v1/limited"))
        .bearer_auth(&cognito)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the budgets are shared across issuers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_subject_data_stays_the_primary_issuers_and_qualified_ones_are_addressable() {
    let idp = Idp::start(&["rsa-a"]);
    let mut s = Server::start_with(&config(&idp, ""));
    let cognito = idp.token("bob");
    let dev = s.token("bob", &[]);
    assert_eq!(me(&s, &cognito).await["tier"], "free");

    // The operator's tools write under the identity given: bare = the primary issuer's
    // user (as every tier stored before identities were qualified), qualified = another's.
    let config_path = s.config.clone();
    let dir = s.kill9();
    for (sub, tier) in [("bob", "premium"), (&*format!("{DEV_ISSUER}#bob"), "gold")] {
        let (code, out, err) = run_cli(&[
            "user",
            "set-tier",
            "--config",
            config_path.to_str().unwrap(),
            "--sub",
            sub,
            "--tier",
            tier,
        ]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let admin = "\n[users]\nadmin_scopes = [\"users:admin\"]\n";
    let s = Server::start_in(dir, &format!("{}{admin}", config(&idp, "")));
    assert_eq!(me(&s, &cognito).await["tier"], "premium");
    assert_eq!(me(&s, &dev).await["tier"], "gold");

    // The admin API addresses a qualified identity percent-encoded.
    let root = s.token("root", &["--scope", "users:admin"]);
    let r = s
        .client
        .get(s.url(&format!("/users/{DEV_ISSUER}%23bob/tier")))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["subject"], format!("{DEV_ISSUER}#bob"), "{v}");
    assert_eq!(v["tier"], "gold", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_primary_issuer_keeps_its_subjects_bare_and_nobody_poses_as_another() {
    let idp = Idp::start(&["rsa-a"]);
    let s = Server::start_with(&config(&idp, &format!("primary_issuer = \"{DEV_ISSUER}\"")));
    let dev = s.token("carol", &[]);
    assert_eq!(me(&s, &dev).await["subject"], "carol");
    let cognito = idp.token("carol");
    assert_eq!(
        me(&s, &cognito).await["subject"],
        format!("{}#carol", idp.issuer)
    );

    // A primary-issuer subject shaped like another issuer's qualified identity is refused,
    // whatever issuer it names.
    let posing = s.token(&format!("{}#carol", idp.issuer), &[]);
    let r = s
        .client
        .get(s.url("/users/me"))
        .bearer_auth(&posing)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A `#` elsewhere is an ordinary subject.
    let plain = s.token("team#carol", &[]);
    assert_eq!(me(&s, &plain).await["subject"], "team#carol");

    // A qualified identity is still at most 512 bytes.
    let long = idp.token(&"x".repeat(500));
    let r = s
        .client
        .get(s.url("/users/me"))
        .bearer_auth(&long)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[test]
fn config_rules_for_identities() {
    let dir = tempfile::tempdir().unwrap();
    let check = |extra: &str| {
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            base_config(extra).replace("{data}", &dir.path().display().to_string()),
        )
        .unwrap();
        run_cli(&["check", "--config", path.to_str().unwrap()])
    };
    let (code, _, err) = check("[auth]\nprimary_issuer = \"https://nobody.example\"\n");
    assert_ne!(code, 0);
    assert!(err.contains("auth.primary_issuer"), "{err}");
    let (code, _, err) =
        check("[[auth.oidc]]\nissuer = \"https://idp.example.com/pool#x\"\nclient_ids = [\"c\"]\n");
    assert_ne!(code, 0);
    assert!(
        err.contains("auth.oidc[0].issuer") && err.contains('#'),
        "{err}"
    );
}
