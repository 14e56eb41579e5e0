//! `GET`/`PUT /users/me` and the stored tier, against the real binary.

use crate::common;

use common::{Server, base_config, run_cli};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_me_shows_the_principal_and_the_stored_profile() {
    let s = Server::start_with(&base_config(""));
    let me = s.url("/users/me");

    let r = s.client.get(&me).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"mcp-prompts\""
    );
    let r = s
        .client
        .get(&me)
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let t = s.token(
        "alice",
        &[
            "--tenant",
            "acme",
            "--scope",
            "prompts:write",
            "--group",
            "editors",
        ],
    );
    let r = s.client.get(&me).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers().get("etag").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["subject"], "alice");
    assert_eq!(v["tenant"], "acme");
    assert_eq!(v["tier"], "free");
    assert_eq!(v["scopes"], json!(["prompts:write"]));
    assert_eq!(v["groups"], json!(["editors"]));
    assert_eq!(v["displayName"], Value::Null);

    // The user sets their profile.
    let r = s
        .client
        .put(&me)
        .bearer_auth(&t)
        .json(&json!({"displayName": "Alice A.", "email": "alice@example.com", "preferences": {"theme": "dark"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"1\"");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["displayName"], "Alice A.");
    assert!(v["createdAt"].is_string() && v["updatedAt"].is_string());

    // GET → modify → PUT works with the read-only fields echoed unchanged ...
    let mut v: Value = s
        .client
        .get(&me)
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["preferences"], json!({"theme": "dark"}));
    v["displayName"] = json!("Alice");
    let r = s
        .client
        .put(&me)
        .bearer_auth(&t)
        .header("if-match", "\"1\"")
        .json(&v)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    // ... but a stale If-Match is 412, and changing a read-only field is 400.
    let r = s
        .client
        .put(&me)
        .bearer_auth(&t)
        .header("if-match", "\"1\"")
        .json(&v)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let mut forged = v.clone();
    forged["tier"] = json!("premium");
    forged["tenant"] = json!("globex");
    let r = s
        .client
        .put(&me)
        .bearer_auth(&t)
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"tier") && fields.contains(&"tenant"),
        "{p}"
    );

    // Field validation, content type, size, method.
    for (body, field) in [
        (json!({"email": "not-an-address"}), "email"),
        (json!({"displayName": ""}), "displayName"),
        (json!({"displayName": 7}), "displayName"),
        (json!({"preferences": [1, 2]}), "preferences"),
        (json!({"isAdmin": true}), "isAdmin"),
    ] {
        let r = s
            .client
            .put(&me)
            .bearer_auth(&t)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    let r = s
        .client
        .put(&me)
        .bearer_auth(&t)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let big = json!({"preferences": {"x": "y".repeat(20_000)}});
    let r = s
        .client
        .put(&me)
        .bearer_auth(&t)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = s
        .client
        .post(&me)
        .bearer_auth(&t)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = s
        .client
        .put(&me)
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Nothing of that changed the stored profile.
    let v: Value = s
        .client
        .get(&me)
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["displayName"].as_str(), v["tier"].as_str()),
        (Some("Alice"), Some("free"))
    );

    // Same subject in another tenant: another profile.
    let other = s.token("alice", &["--tenant", "globex"]);
    let v: Value = s
        .client
        .get(&me)
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["displayName"], Value::Null);
    assert_eq!(v["tenant"], "globex");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tier_comes_from_the_claim_or_else_the_stored_profile() {
    let mut s = Server::start_with(&base_config(""));
    let t = s.token("bob", &[]);
    let v: Value = s
        .client
        .get(s.url("/users/me"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["tier"], "free");

    // The operator sets bob's tier (server stopped: the embedded store has one writer).
    let config = s.config.clone();
    let dir = s.kill9();
    let (code, out, err) = run_cli(&[
        "user",
        "set-tier",
        "--config",
        config.to_str().unwrap(),
        "--sub",
        "bob",
        "--tier",
        "premium",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("tier premium"), "{out}");
    let (code, _, err) = run_cli(&[
        "user",
        "set-tier",
        "--config",
        config.to_str().unwrap(),
        "--sub",
        "bob",
        "--tier",
        "bad tier",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--tier"), "{err}");
    let s = Server::start_in(dir, &base_config(""));

    let v: Value = s
        .client
        .get(s.url("/users/me"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["tier"], "premium");
    // A tier claim wins over the profile.
    let claimed = s.token("bob", &["--tier", "gold"]);
    let v: Value = s
        .client
        .get(s.url("/users/me"))
        .bearer_auth(&claimed)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["tier"], "gold");
    // The user's own PUT keeps the operator's tier.
    let r = s
        .client
        .put(s.url("/users/me"))
        .bearer_auth(&t)
        .json(&json!({"displayName": "Bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tier"], "premium");
}
