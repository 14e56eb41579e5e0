//! Token verification cost with and without the verified-token cache
//! (host/src/auth/cache.rs), for HS256 development tokens and RS256 (Cognito / OIDC)
//! tokens. The ratio `verify (no cache)` / `cached` is what the cache buys per request on
//! a client that reuses its token.
//!
//! The RS256 provider is the real one: it fetches its key set over HTTP from a tiny
//! loopback server started here, with the test key of tests/fixtures/auth/.
//!
//! Run: `cargo bench -p mcp-prompts --bench auth`

use criterion::Criterion;
use mcp_prompts::auth::{Authenticator, ClaimMapping, DevProvider, OidcProvider};
use mcp_prompts::config;
use std::hint::black_box;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn mapping() -> ClaimMapping {
    ClaimMapping {
        default_tenant: "default".into(),
        tenant_claim: "custom:tenant".into(),
        tier_claim: "custom:subscriptionTier".into(),
        // The development issuer's subjects stay bare; the OIDC rows pay for qualifying.
        primary_issuer: Some("mcp-prompts-dev".into()),
        other_issuers: Vec::new(),
    }
}

/// (uncached authenticator, cached authenticator, token minter) sharing one secret.
fn hs256(secret_dir: &Path) -> (Authenticator, Authenticator, DevProvider) {
    let text = format!(
        "[auth.dev]\nsecret_file = \"{}\"\ngenerate_if_missing = true\n",
        secret_dir.join("secret").display()
    );
    let lc = config::parse(Path::new("bench.toml"), &text).expect("config");
    let dc = lc.config.auth.dev.clone().expect("dev provider");
    let load = || DevProvider::load(&lc, &dc).expect("secret");
    (
        Authenticator::with_cache(Some(load()), Vec::new(), mapping(), 0),
        Authenticator::new(Some(load()), Vec::new(), mapping()),
        load(),
    )
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/auth")
}

/// Serves the JWKS of test key `rsa-a` over HTTP/1.1 on 127.0.0.1; returns its issuer URL.
fn serve_jwks() -> String {
    let jwk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("rsa-a.jwk.json")).unwrap()).unwrap();
    let body = serde_json::json!({ "keys": [jwk] }).to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}/pool")
}

fn rs256(rt: &tokio::runtime::Runtime) -> (Authenticator, Authenticator, String) {
    let issuer = serve_jwks();
    let text = format!("[[auth.oidc]]\nissuer = \"{issuer}\"\nclient_ids = [\"client-1\"]\n");
    let lc = config::parse(Path::new("bench.toml"), &text).expect("config");
    let pc = lc.config.auth.oidc[0].clone();
    let client = mcp_prompts::auth::jwks::http_client().expect("client");
    let provider = || OidcProvider::new(&pc, client.clone(), None);
    let uncached = Authenticator::with_cache(None, vec![provider()], mapping(), 0);
    let cached = Authenticator::new(None, vec![provider()], mapping());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": issuer, "sub": "alice", "client_id": "client-1", "token_use": "access",
        "scope": "prompts/read", "iat": now, "exp": now + 3600,
    });
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some("rsa-a".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        &std::fs::read(fixtures().join("rsa-a.pem")).unwrap(),
    )
    .unwrap();
    let token = jsonwebtoken::encode(&h, &claims, &key).unwrap();
    let header = format!("Bearer {token}");
    // First use fetches the key set (inside a runtime: the fetch is async).
    rt.block_on(async {
        assert!(uncached.authenticate(&header).await.is_ok());
        assert!(cached.authenticate(&header).await.is_ok());
    });
    (uncached, cached, header)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().expect("tempdir");
    let (uncached, cached, minter) = hs256(dir.path());
    let token = minter
        .mint(
            "alice",
            &["prompts:write".to_string()],
            Duration::from_secs(3600),
            Default::default(),
        )
        .expect("mint");
    let header = format!("Bearer {token}");
    let (rs_uncached, rs_cached, rs_header) = rs256(&rt);
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3));
    let mut g = c.benchmark_group("authenticate");
    g.bench_function("HS256 verify (no cache)", |b| {
        b.iter(|| black_box(rt.block_on(uncached.authenticate(&header)).is_ok()))
    });
    g.bench_function("HS256 cached", |b| {
        b.iter(|| black_box(rt.block_on(cached.authenticate(&header)).is_ok()))
    });
    g.bench_function("RS256 verify (no cache)", |b| {
        b.iter(|| black_box(rt.block_on(rs_uncached.authenticate(&rs_header)).is_ok()))
    });
    g.bench_function("RS256 cached", |b| {
        b.iter(|| black_box(rt.block_on(rs_cached.authenticate(&rs_header)).is_ok()))
    });
    g.finish();
    c.final_summary();
}
