//! Hardening, request hygiene and host-reserved namespaces (issue 15, items 5 and 7):
//! ambiguous headers are refused with 400, the bearer scheme is case-insensitive, HS256
//! tokens are held to the same `iat` rule as OIDC ones, unusable subjects are refused with
//! 401, and `check` refuses plugins granted the host's own kv namespaces.

use crate::common;

use common::{Server, base_config, run_cli};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HS256 token signed with the server's development secret, with `claims` over the
/// defaults (`iss`, `aud`, `sub`, `exp`).
fn dev_token(s: &Server, claims: Value) -> String {
    let secret = std::fs::read(s.data_dir().join("dev-secret")).unwrap();
    let secret: Vec<u8> = secret
        .into_iter()
        .rev()
        .skip_while(|b| *b == b'\n')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut c = json!({
        "iss": "mcp-prompts-dev",
        "aud": "mcp-prompts",
        "sub": "alice",
        "exp": now() + 600,
    });
    for (k, v) in claims.as_object().unwrap() {
        c[k] = v.clone();
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &c,
        &EncodingKey::from_secret(&secret).unwrap(),
    )
    .unwrap()
}

async fn me(s: &Server, auth: &str) -> (u16, Value) {
    let r = s
        .client
        .get(s.url("/users/me"))
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let s = Server::start();
    let t = s.token("alice", &[]);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let (status, body) = me(&s, &format!("{scheme} {t}")).await;
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    let (status, _) = me(&s, &format!("Basic {t}")).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn duplicate_authorization_headers_are_refused() {
    let s = Server::start();
    let alice = s.token("alice", &[]);
    let bob = s.token("bob", &[]);
    for path in ["/users/me", "/v1/prompts"] {
        let r = s
            .client
            .get(s.url(path))
            .header("authorization", format!("Bearer {alice}"))
            .header("authorization", format!("Bearer {bob}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["type"], "/problems/duplicate-authorization", "{v}");
    }
}

/// Sends raw HTTP/1.1 over plain TCP and returns the status line.
fn raw_status(port: u16, request: &str) -> String {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn http11_host_header_must_appear_exactly_once() {
    let s = Server::start_with(&base_config("").replace("mode = \"tls\"", "mode = \"plain\""));
    let port = s.port();
    let ok = raw_status(
        port,
        "GET /v1/prompts HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let missing = raw_status(
        port,
        "GET /v1/prompts HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(missing.starts_with("HTTP/1.1 400"), "{missing}");
    let twice = raw_status(
        port,
        "GET /v1/prompts HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    );
    assert!(twice.starts_with("HTTP/1.1 400"), "{twice}");
    // HTTP/1.0 predates Host and is still served.
    let old = raw_status(port, "GET /v1/prompts HTTP/1.0\r\n\r\n");
    assert!(
        old.starts_with("HTTP/1.0 200") || old.starts_with("HTTP/1.1 200"),
        "{old}"
    );
}

#[tokio::test]
async fn hs256_token_issued_in_the_future_is_refused() {
    let s = Server::start();
    let ok = dev_token(&s, json!({ "iat": now() }));
    assert_eq!(me(&s, &format!("Bearer {ok}")).await.0, 200);
    let future = dev_token(&s, json!({ "iat": now() + 3600 }));
    let (status, body) = me(&s, &format!("Bearer {future}")).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn unusable_subjects_are_refused_with_401() {
    let s = Server::start();
    let long = "a".repeat(513);
    for sub in ["", "al\u{0}ice", "ali\nce", "tab\there", long.as_str()] {
        let t = dev_token(&s, json!({ "sub": sub }));
        let (status, body) = me(&s, &format!("Bearer {t}")).await;
        assert_eq!(status, 401, "sub {sub:?}: {body}");
        // The problem names the reason, never storage internals.
        let text = body.to_string();
        assert!(
            !text.contains("redb") && !text.contains("storage"),
            "{text}"
        );
        // Also refused on a prompt route (optional auth: a bad token is still refused).
        let r = s
            .client
            .get(s.url("/v1/prompts"))
            .header("authorization", format!("Bearer {t}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "sub {sub:?} on /v1/prompts");
    }
    let edge = "b".repeat(512);
    let t = dev_token(&s, json!({ "sub": edge }));
    assert_eq!(me(&s, &format!("Bearer {t}")).await.0, 200);
}

fn check(extra: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        base_config(extra).replace("{data}", &dir.path().display().to_string()),
    )
    .unwrap();
    let (code, _, err) = run_cli(&["check", "--config", cfg.to_str().unwrap()]);
    (code, err)
}

#[test]
fn check_refuses_plugins_granted_host_namespaces() {
    let plugin = |kv: &str| {
        format!(
            "[plugins.greedy]\npath = \"{}\"\nworld = \"prompt-handler\"\nkv = [{kv}]\n\
             renderer = \"renderer\"\n",
            common::plugin("prompt_store").display()
        )
    };
    let (code, err) = check(&plugin("\"users\""));
    assert_ne!(code, 0);
    assert!(
        err.contains("plugins.greedy.kv") && err.contains("reserved"),
        "{err}"
    );
    let (code, err) = check(&plugin("\"prompts\", \"mcp-sessions\""));
    assert_ne!(code, 0);
    assert!(
        err.contains("mcp-sessions") && err.contains("reserved"),
        "{err}"
    );
    // A renamed profile namespace is what is reserved; "users" is then an ordinary name.
    let (code, err) = check(&format!(
        "[users]\nnamespace = \"profiles\"\n{}",
        plugin("\"profiles\"")
    ));
    assert_ne!(code, 0, "{err}");
    let (code, err) = check(&format!(
        "[users]\nnamespace = \"profiles\"\n{}",
        plugin("\"users\"")
    ));
    assert_eq!(code, 0, "{err}");
}
