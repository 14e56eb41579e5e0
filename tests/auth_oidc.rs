//! Cognito / OIDC tokens (RS256 via JWKS) against the real binary: real keys, a real JWKS
//! endpoint on 127.0.0.1 (tests/common/idp.rs), real TLS. Every way a token can be wrong
//! must end in a 401 whose body does not echo the token, and the issuer's key endpoint must
//! only ever be asked at the configured address, at most once per refresh interval.

use crate::common;

use common::idp::{self, Idp};
use common::{Server, base_config, run_cli};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::time::Duration;

/// A required-auth route with a required scope, beside the default optional route.
const ROUTES: &str = r#"
[[routes]]
path = "/v1/private"
handler = "prompt-store"
auth = "required"

[[routes]]
path = "/v1/scoped"
handler = "prompt-store"
auth = "required"
scopes = ["prompts/read", "prompts/admin"]
"#;

fn server(idp: &Idp, oidc_extra: &str) -> Server {
    Server::start_with(&base_config(&format!("{ROUTES}{}", idp.config(oidc_extra))))
}

async fn get(s: &Server, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = s.client.get(s.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

/// Asserts a 401 with an `invalid_token` challenge and a body that does not contain the token.
async fn assert_refused(s: &Server, token: &str, why: &str) {
    let r = get(s, "/v1/private", Some(token)).await;
    assert_eq!(r.status(), 401, "{why}: expected 401");
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.starts_with("Bearer realm=\"mcp-prompts\"")
            && challenge.contains("error=\"invalid_token\""),
        "{why}: challenge {challenge}"
    );
    let body = r.text().await.unwrap();
    assert!(!body.contains(token), "{why}: body echoes the token");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["status"], 401, "{why}: {problem}");
}

/// Fresh access claims: unique per call, so the verified-token cache never answers.
fn claims(idp: &Idp, sub: &str) -> serde_json::Value {
    let mut c = idp.access_claims(sub);
    c["jti"] = json!(uuid_like());
    c
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", idp::now(), N.fetch_add(1, Ordering::Relaxed))
}

fn rs256(kid: &str) -> Header {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.to_string());
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_access_token_is_accepted_and_maps_the_principal() {
    let idp = Idp::start(&["rsa-a"]);
    let s = server(&idp, "");
    // Without a token: 401 with a bare challenge (no error, nothing was presented).
    let r = get(&s, "/v1/private", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"mcp-prompts\""
    );

    let mut c = claims(&idp, "alice");
    c["custom:tenant"] = json!("acme");
    c["cognito:groups"] = json!(["editors"]);
    let t = idp.sign("rsa-a", &c);
    let r = get(&s, "/v1/private", Some(&t)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["cache-control"], "no-store");
    // The same token again is served from the verified-token cache: still fine, and the
    // key set was fetched once for both (at start, or on first use).
    assert_eq!(get(&s, "/v1/private", Some(&t)).await.status(), 200);
    assert_eq!(idp.jwks_fetches(), 1);
    // The access log names the subject, never the token.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = s.log_text();
    assert!(log.contains("\"subject\":\"alice\""), "{log}");
    assert!(!log.contains(&t));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_forged_tokens_are_refused() {
    let idp = Idp::start(&["rsa-a"]);
    let s = server(&idp, "");
    let good = claims(&idp, "mallory");
    let valid = idp.sign("rsa-a", &good);
    let parts: Vec<&str> = valid.split('.').collect();

    // Segments, base64 and JSON.
    for (why, t) in [
        ("one segment", "abc".to_string()),
        ("two segments", format!("{}.{}", parts[0], parts[1])),
        ("four segments", format!("{valid}.x")),
        ("bad base64", format!("{}.%%%.{}", parts[0], parts[2])),
        (
            "payload not JSON",
            format!("{}.{}.{}", parts[0], idp::b64(b"not json"), parts[2]),
        ),
        (
            "header not JSON",
            format!("{}.{}.{}", idp::b64(b"{"), parts[1], parts[2]),
        ),
        ("empty signature", format!("{}.{}.", parts[0], parts[1])),
    ] {
        assert_refused(&s, &t, why).await;
    }

    // alg: none, with and without a signature.
    let none = json!({"alg": "none", "typ": "JWT", "kid": "rsa-a"});
    assert_refused(&s, &idp::raw_token(&none, &good, b""), "alg none").await;
    assert_refused(&s, &idp::raw_token(&none, &good, b"sig"), "alg none + sig").await;

    // HS256 keyed with the RSA public key (algorithm confusion).
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("rsa-a".into());
    let confused = idp::sign_with(
        h,
        &EncodingKey::from_secret(&idp::rsa_public_pem("rsa-a")).unwrap(),
        &good,
    );
    assert_refused(&s, &confused, "HS256 with the RSA public key").await;

    // Other algorithms, even with a real key of the issuer's set.
    let mut h = Header::new(Algorithm::RS512);
    h.kid = Some("rsa-a".into());
    assert_refused(
        &s,
        &idp::sign_with(h, &idp::rsa_key("rsa-a"), &good),
        "RS512",
    )
    .await;
    let mut h = Header::new(Algorithm::PS256);
    h.kid = Some("rsa-a".into());
    assert_refused(
        &s,
        &idp::sign_with(h, &idp::rsa_key("rsa-a"), &good),
        "PS256",
    )
    .await;
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("rsa-a".into());
    assert_refused(&s, &idp::sign_with(h, &idp::ec_key(), &good), "ES256").await;

    // Tampered payload: a claim changed after signing.
    let mut evil = good.clone();
    evil["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        idp::b64(evil.to_string().as_bytes()),
        parts[2]
    );
    assert_refused(&s, &tampered, "tampered payload").await;
    // Signed by a key that is not in the issuer's set, under a kid that is.
    assert_refused(
        &s,
        &idp::sign_with(rs256("rsa-a"), &idp::rsa_key("rsa-b"), &good),
        "wrong key",
    )
    .await;

    // The untampered token still works.
    assert_eq!(get(&s, "/v1/private", Some(&valid)).await.status(), 200);

    // Not a Bearer token at all; a huge one.
    for h in ["Basic YWxpY2U6cGFzcw==", "Bearer", "Bearer    "] {
        let r = s
            .client
            .get(s.url("/v1/private"))
            .header("authorization", h)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{h}");
    }
    let huge = format!("{}.{}.{}", parts[0], "A".repeat(20_000), parts[2]);
    assert_refused(&s, &huge, "oversized").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_checked() {
    let idp = Idp::start(&["rsa-a"]);
    let s = server(
        &idp,
        "audience = \"https://prompts.example.com\"\nleeway = \"5s\"",
    );
    let now = idp::now();
    let base = || {
        let mut c = claims(&idp, "bob");
        c["aud"] = json!(["https://prompts.example.com"]);
        c
    };
    let ok = idp.sign("rsa-a", &base());
    assert_eq!(get(&s, "/v1/private", Some(&ok)).await.status(), 200);

    let mut cases: Vec<(&str, serde_json::Value)> = Vec::new();
    let mut c = base();
    c["exp"] = json!(now - 60);
    cases.push(("expired", c));
    let mut c = base();
    c["nbf"] = json!(now + 600);
    cases.push(("nbf in the future", c));
    let mut c = base();
    c["iat"] = json!(now + 600);
    cases.push(("iat in the future", c));
    let mut c = base();
    c.as_object_mut().unwrap().remove("exp");
    cases.push(("missing exp", c));
    let mut c = base();
    c["exp"] = json!((now + 3600).to_string());
    cases.push(("string exp", c));
    let mut c = base();
    c.as_object_mut().unwrap().remove("sub");
    cases.push(("missing sub", c));
    let mut c = base();
    c["client_id"] = json!("client-2");
    cases.push(("client not allowed", c));
    let mut c = base();
    c.as_object_mut().unwrap().remove("client_id");
    cases.push(("no client_id", c));
    let mut c = base();
    c["aud"] = json!("https://other.example.com");
    cases.push(("wrong audience", c));
    let mut c = base();
    c.as_object_mut().unwrap().remove("aud");
    cases.push(("no audience", c));
    let mut c = base();
    c["token_use"] = json!("id");
    cases.push(("id token on an access-only provider", c));
    let mut c = base();
    c["token_use"] = json!("refresh");
    cases.push(("unknown token_use", c));
    let mut c = base();
    c.as_object_mut().unwrap().remove("token_use");
    cases.push(("no token_use", c));
    let mut c = base();
    c["iss"] = json!(format!("{}-other", idp.issuer));
    cases.push(("unknown issuer", c));
    let mut c = base();
    c["custom:tenant"] = json!("../etc");
    cases.push(("bad tenant", c));
    for (why, c) in cases {
        assert_refused(&s, &idp.sign("rsa-a", &c), why).await;
    }
    // Within the leeway is fine.
    let mut c = base();
    c["nbf"] = json!(now + 2);
    assert_eq!(
        get(&s, "/v1/private", Some(&idp.sign("rsa-a", &c)))
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_when_allowed() {
    let idp = Idp::start(&["rsa-a"]);
    let s = server(&idp, "token_use = [\"id\"]");
    let mut c = claims(&idp, "carol");
    c.as_object_mut().unwrap().remove("client_id");
    c["token_use"] = json!("id");
    c["aud"] = json!("client-1");
    assert_eq!(
        get(&s, "/v1/private", Some(&idp.sign("rsa-a", &c)))
            .await
            .status(),
        200
    );
    c["aud"] = json!("client-2");
    assert_refused(&s, &idp.sign("rsa-a", &c), "id token for another client").await;
    // This provider takes ID tokens only: an access token is refused.
    assert_refused(
        &s,
        &idp.sign("rsa-a", &claims(&idp, "carol")),
        "access token",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_cost_at_most_one_fetch_per_interval_and_pointer_headers_are_ignored() {
    let idp = Idp::start(&["rsa-a"]);
    // A long interval: every fetch after the first one is visible as a failure here.
    let s = server(&idp, "jwks_refresh_interval = \"1h\"");
    let ok = idp.sign("rsa-a", &claims(&idp, "dave"));
    assert_eq!(get(&s, "/v1/private", Some(&ok)).await.status(), 200);
    let before = idp.jwks_fetches();
    assert_eq!(before, 1);

    // A flood of made-up kids, sequential and concurrent, and kids with path characters.
    let c = claims(&idp, "dave");
    let mut tokens: Vec<String> = (0..40)
        .map(|i| idp::sign_with(rs256(&format!("kid-{i}")), &idp::rsa_key("rsa-a"), &c))
        .collect();
    for kid in [
        "../../etc/passwd",
        "/pool/.well-known/jwks.json",
        "a/b?c=d#e",
        "%2e%2e%2f",
        "x".repeat(300).as_str(),
    ] {
        tokens.push(idp::sign_with(rs256(kid), &idp::rsa_key("rsa-a"), &c));
    }
    let futs = tokens.iter().map(|t| get(&s, "/v1/private", Some(t)));
    for r in futures_util::future::join_all(futs).await {
        assert_eq!(r.status(), 401);
    }
    assert!(
        idp.jwks_fetches() <= before + 1,
        "{} fetches for one interval",
        idp.jwks_fetches()
    );

    // jku / x5u / embedded jwk: never followed, never trusted. The embedded key is the
    // attacker's (rsa-c), pointing at it through every header.
    let evil_jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(idp::jwk("rsa-c")).unwrap();
    for (kid, which) in [("rsa-c", "unknown kid"), ("rsa-a", "known kid")] {
        let mut h = rs256(kid);
        h.jku = Some(format!("{}/evil-jku.json", idp.issuer));
        h.x5u = Some(format!("{}/evil-x5u.pem", idp.issuer));
        h.jwk = Some(evil_jwk.clone());
        let t = idp::sign_with(h, &idp::rsa_key("rsa-c"), &c);
        assert_refused(&s, &t, which).await;
    }
    assert_eq!(idp.hits("/pool/evil-jku.json"), 0);
    assert_eq!(idp.hits("/pool/evil-x5u.pem"), 0);
    // Only the JWKS path was ever asked for.
    assert_eq!(idp.total_hits(), idp.jwks_fetches());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_is_picked_up_after_one_refresh() {
    let idp = Idp::start(&["rsa-a"]);
    let s = server(&idp, "jwks_refresh_interval = \"2s\"");
    assert_eq!(
        get(
            &s,
            "/v1/private",
            Some(&idp.sign("rsa-a", &claims(&idp, "eve")))
        )
        .await
        .status(),
        200
    );
    // The issuer rotates: b is added, then a retired.
    idp.set_keys(&["rsa-a", "rsa-b"]);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = idp.jwks_fetches();
    let tb = idp.sign("rsa-b", &claims(&idp, "eve"));
    assert_eq!(get(&s, "/v1/private", Some(&tb)).await.status(), 200);
    assert_eq!(
        idp.jwks_fetches(),
        before + 1,
        "one refresh for the new kid"
    );
    // Still known: no further fetch.
    assert_eq!(
        get(
            &s,
            "/v1/private",
            Some(&idp.sign("rsa-b", &claims(&idp, "eve")))
        )
        .await
        .status(),
        200
    );
    assert_eq!(idp.jwks_fetches(), before + 1);

    idp.set_keys(&["rsa-b"]);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // A kid the server has not seen makes it refetch; the retired key is gone after that.
    let tc = idp::sign_with(rs256("rsa-c"), &idp::rsa_key("rsa-c"), &claims(&idp, "eve"));
    assert_refused(&s, &tc, "kid not in the set").await;
    assert_refused(&s, &idp.sign("rsa-a", &claims(&idp, "eve")), "retired key").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_good_keys_survive_an_outage_and_no_keys_means_no_access() {
    let idp = Idp::start(&["rsa-a"]);
    let s = server(&idp, "jwks_refresh_interval = \"1s\"");
    assert_eq!(
        get(
            &s,
            "/v1/private",
            Some(&idp.sign("rsa-a", &claims(&idp, "f")))
        )
        .await
        .status(),
        200
    );
    idp.set_down(true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // An unknown kid makes the server try (and fail) to refresh ...
    let before = idp.jwks_fetches();
    let tb = idp.sign("rsa-b", &claims(&idp, "f"));
    assert_refused(&s, &tb, "unknown kid while the issuer is down").await;
    assert_eq!(idp.jwks_fetches(), before + 1);
    // ... and the keys it had still verify.
    assert_eq!(
        get(
            &s,
            "/v1/private",
            Some(&idp.sign("rsa-a", &claims(&idp, "f")))
        )
        .await
        .status(),
        200
    );
    // Garbage from the endpoint is also a failed refresh, not an empty key set.
    idp.set_down(false);
    idp.set_body("{\"keys\": \"nope\"}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_refused(&s, &idp.sign("rsa-b", &claims(&idp, "f")), "bad JWKS body").await;
    assert_eq!(
        get(
            &s,
            "/v1/private",
            Some(&idp.sign("rsa-a", &claims(&idp, "f")))
        )
        .await
        .status(),
        200
    );
    let log = s.log_text();
    assert!(log.contains("JWKS refresh failed"), "{log}");

    // A server that never got any keys refuses everything (never accepts unverified).
    let down = Idp::start(&["rsa-a"]);
    down.set_down(true);
    let s2 = server(&down, "jwks_refresh_interval = \"1s\"");
    assert_refused(
        &s2,
        &down.sign("rsa-a", &claims(&down, "g")),
        "no keys at all",
    )
    .await;
    // When the issuer comes back, the next refresh makes tokens work.
    down.set_down(false);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(
            &s2,
            "/v1/private",
            Some(&down.sign("rsa-a", &claims(&down, "g")))
        )
        .await
        .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_read_only_from_the_authorization_header() {
    let idp = Idp::start(&["rsa-a"]);
    let s = server(&idp, "");
    let t = idp.sign("rsa-a", &claims(&idp, "h"));
    for q in ["access_token", "token", "id_token", "jwt"] {
        let r = s
            .client
            .get(s.url(&format!("/v1/private?{q}={t}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{q} in the query string");
    }
    // Identity headers from the client are ignored.
    let r = s
        .client
        .get(s.url("/v1/private"))
        .header("x-user-id", "admin")
        .header("x-amzn-oidc-identity", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A cookie is not a token either.
    let r = s
        .client
        .get(s.url("/v1/private"))
        .header("cookie", format!("token={t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_scopes_are_enforced_with_an_insufficient_scope_challenge() {
    let idp = Idp::start(&["rsa-a"]);
    let s = server(&idp, "");
    let mut c = claims(&idp, "i");
    c["scope"] = json!("prompts/read");
    let r = get(&s, "/v1/scoped", Some(&idp.sign("rsa-a", &c))).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"mcp-prompts\", error=\"insufficient_scope\", scope=\"prompts/read prompts/admin\""
    );
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["type"], "/problems/insufficient-scope");
    assert!(
        p["detail"].as_str().unwrap().contains("prompts/admin"),
        "{p}"
    );
    c["scope"] = json!("prompts/admin prompts/read openid");
    assert_eq!(
        get(&s, "/v1/scoped", Some(&idp.sign("rsa-a", &c)))
            .await
            .status(),
        200
    );
    // Without a token it is still a 401 first.
    assert_eq!(get(&s, "/v1/scoped", None).await.status(), 401);
}

#[test]
fn config_rules_for_providers() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            text.replace("{data}", &dir.path().display().to_string()),
        )
        .unwrap();
        run_cli(&["check", "--config", p.to_str().unwrap()])
    };
    // HS256 is refused in production.
    let (code, _, err) = check(&format!(
        "environment = \"production\"\n{}",
        base_config("")
    ));
    assert_ne!(code, 0);
    assert!(
        err.contains("auth.dev") && err.contains("production"),
        "{err}"
    );
    // Plain-HTTP key sets only for this machine.
    let (code, _, err) = check(&base_config(
        "[[auth.oidc]]\nissuer = \"http://idp.example.com/pool\"\nclient_ids = [\"c\"]\n",
    ));
    assert_ne!(code, 0);
    assert!(err.contains("auth.oidc[0].issuer"), "{err}");
    // Neither client ids nor audience: any app of the pool would do. Refused.
    let (code, _, err) = check(&base_config(
        "[[auth.oidc]]\nissuer = \"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc\"\n",
    ));
    assert_ne!(code, 0);
    assert!(err.contains("auth.oidc[0].client_ids"), "{err}");
    // Scopes on a route that allows anonymous requests make no sense.
    let (code, _, err) = check(&base_config(
        "[[routes]]\npath = \"/v1/x\"\nhandler = \"prompt-store\"\nscopes = [\"a\"]\n",
    ));
    assert_ne!(code, 0);
    assert!(err.contains("scopes"), "{err}");
}

/// RFC 9728: the protected-resource metadata names the OIDC issuer (where MCP clients get
/// tokens), and an RS256 token of that issuer opens `/mcp`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_metadata_names_the_oidc_issuer_and_accepts_its_tokens() {
    let idp = Idp::start(&["rsa-a"]);
    let s = server(&idp, "");
    let r = get(&s, "/.well-known/oauth-protected-resource/mcp", None).await;
    assert_eq!(r.status(), 200);
    let m: serde_json::Value = r.json().await.unwrap();
    assert_eq!(m["authorization_servers"], json!([idp.issuer]));
    assert_eq!(m["bearer_methods_supported"], json!(["header"]));
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    let t = idp.sign("rsa-a", &claims(&idp, "mcp-user"));
    let r = s
        .client
        .post(s.url("/mcp"))
        .bearer_auth(&t)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "ping")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["id"], 1, "{body}");
    assert!(body.get("result").is_some(), "{body}");
    let r = s
        .client
        .post(s.url("/mcp"))
        .bearer_auth("not.a.token")
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("resource_metadata="), "{challenge}");
}

/// Rewrites the server's config (`{ROUTES}`, then `extra`) and reloads it with SIGHUP,
/// returning once the `n`-th reload is logged.
fn reload_with(s: &Server, extra: &str, n: usize) {
    let text = base_config(&format!("{ROUTES}{extra}"))
        .replace("{data}", &s.data_dir().display().to_string());
    std::fs::write(&s.config, text).unwrap();
    let pid = s.child.as_ref().unwrap().id() as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let log = s.log_text();
        assert!(!log.contains("reload rejected"), "{log}");
        if log.matches("reloaded configuration and plugins").count() >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reload; log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// An `[[auth.oidc]]` table for `idp` accepting `client`, plus `extra` settings.
fn provider(idp: &Idp, client: &str, extra: &str) -> String {
    format!(
        "\n[[auth.oidc]]\nissuer = \"{}\"\nclient_ids = [\"{client}\"]\n{extra}\n",
        idp.issuer
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_keep_the_key_set_unless_the_auth_config_changed() {
    let idp = Idp::start(&["rsa-a"]);
    let s = server(&idp, "");
    let cached = idp.sign("rsa-a", &claims(&idp, "alice"));
    assert_eq!(get(&s, "/v1/private", Some(&cached)).await.status(), 200);
    assert_eq!(idp.jwks_fetches(), 1);

    // The same [auth] with another route: a real reload, and the key set is kept.
    let route = "\n[[routes]]\npath = \"/v2/prompts\"\nhandler = \"prompt-store\"\n";
    reload_with(&s, &format!("{route}{}", provider(&idp, "client-1", "")), 1);
    assert_eq!(get(&s, "/v2/prompts", None).await.status(), 200, "reloaded");
    let fresh = idp.sign("rsa-a", &claims(&idp, "bob"));
    assert_eq!(get(&s, "/v1/private", Some(&fresh)).await.status(), 200);
    assert_eq!(get(&s, "/v1/private", Some(&cached)).await.status(), 200);
    // Time for a background prefetch, had the reload started one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        idp.jwks_fetches(),
        1,
        "an unchanged provider is not fetched again"
    );

    // Another app client: the same keys, but tokens of client-1 (cached or not) are
    // refused from the reload on.
    reload_with(&s, &provider(&idp, "client-2", ""), 2);
    assert_refused(&s, &cached, "cached token of a client no longer accepted").await;
    assert_refused(&s, &fresh, "token of a client no longer accepted").await;
    let mut c = claims(&idp, "carol");
    c["client_id"] = json!("client-2");
    let client_2 = idp.sign("rsa-a", &c);
    assert_eq!(get(&s, "/v1/private", Some(&client_2)).await.status(), 200);
    assert_eq!(idp.jwks_fetches(), 1, "issuer and fetch settings unchanged");

    // Changed fetch settings: a fresh key set, fetched again.
    reload_with(&s, &provider(&idp, "client-2", "jwks_max_age = \"30m\""), 3);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while idp.jwks_fetches() < 2 {
        assert!(std::time::Instant::now() < deadline, "no refetch");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(get(&s, "/v1/private", Some(&client_2)).await.status(), 200);
    assert_eq!(idp.jwks_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_after_replacing_the_dev_secret_refuses_tokens_of_the_old_one() {
    let idp = Idp::start(&["rsa-a"]);
    let s = server(&idp, "");
    let old = s.token("dev-user", &[]);
    assert_eq!(get(&s, "/v1/private", Some(&old)).await.status(), 200);
    // Unchanged config and secret: still accepted.
    reload_with(&s, &idp.config(""), 1);
    assert_eq!(get(&s, "/v1/private", Some(&old)).await.status(), 200);

    std::fs::write(s.data_dir().join("dev-secret"), "ab".repeat(32)).unwrap();
    reload_with(&s, &idp.config(""), 2);
    assert_refused(&s, &old, "token signed with the replaced secret").await;
    let new = s.token("dev-user", &[]);
    assert_eq!(get(&s, "/v1/private", Some(&new)).await.status(), 200);
}
