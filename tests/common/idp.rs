//! A test identity provider: RS256 (and other) tokens signed with the fixed test keys in
//! `tests/fixtures/auth/` (test-only keys, never used anywhere else), and a JWKS served
//! over plain HTTP on 127.0.0.1 that counts every request by path, can switch key sets, and
//! can go down (503) to test the server's behaviour when the issuer is unreachable.

use base64::Engine as _;
use http_body_util::Full;
use hyper::body::Bytes;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn fixture(name: &str) -> PathBuf {
    super::repo_root().join("tests/fixtures/auth").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The public JWK of test key `rsa-a`, `rsa-b` or `rsa-c` (its `kid` is its name).
pub fn jwk(key: &str) -> serde_json::Value {
    serde_json::from_slice(&read(&format!("{key}.jwk.json"))).unwrap()
}

pub fn jwks(keys: &[&str]) -> String {
    serde_json::json!({ "keys": keys.iter().map(|k| jwk(k)).collect::<Vec<_>>() }).to_string()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[derive(Default)]
struct State {
    jwks: String,
    down: bool,
    hits: HashMap<String, usize>,
}

/// The JWKS server. Dropping it stops serving (the runtime thread ends with the process).
pub struct Idp {
    pub issuer: String,
    state: Arc<Mutex<State>>,
}

impl Idp {
    /// Serves `jwks(keys)` at `<issuer>/.well-known/jwks.json`; the issuer is
    /// `http://127.0.0.1:<port>/pool`.
    pub fn start(keys: &[&str]) -> Self {
        let state = Arc::new(Mutex::new(State {
            jwks: jwks(keys),
            ..Default::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let st = st.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let st = st.clone();
                            async move { Ok::<_, std::convert::Infallible>(serve(&st, req)) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        });
        Self {
            issuer: format!("http://127.0.0.1:{port}/pool"),
            state,
        }
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.issuer)
    }

    pub fn set_keys(&self, keys: &[&str]) {
        self.state.lock().unwrap().jwks = jwks(keys);
    }

    pub fn set_body(&self, body: &str) {
        self.state.lock().unwrap().jwks = body.to_string();
    }

    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// Requests seen for the JWKS path.
    pub fn jwks_fetches(&self) -> usize {
        self.hits("/pool/.well-known/jwks.json")
    }

    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.state.lock().unwrap().hits.values().sum()
    }

    /// An `[[auth.oidc]]` table for this issuer accepting access tokens of `client-1`.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "\n[[auth.oidc]]\nissuer = \"{}\"\nclient_ids = [\"client-1\"]\n{extra}\n",
            self.issuer
        )
    }

    /// Standard Cognito-style access-token claims for `sub`, valid for an hour.
    pub fn access_claims(&self, sub: &str) -> serde_json::Value {
        let now = now();
        serde_json::json!({
            "iss": self.issuer, "sub": sub, "client_id": "client-1", "token_use": "access",
            "scope": "prompts/read", "iat": now, "exp": now + 3600, "username": sub,
        })
    }

    /// Signs `claims` with RS256 and test key `key` (header `kid` = key name).
    pub fn sign(&self, key: &str, claims: &serde_json::Value) -> String {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(key.to_string());
        sign_with(
            h,
            &EncodingKey::from_rsa_pem(&read(&format!("{key}.pem"))).unwrap(),
            claims,
        )
    }

    pub fn token(&self, sub: &str) -> String {
        self.sign("rsa-a", &self.access_claims(sub))
    }
}

pub fn sign_with(h: Header, key: &EncodingKey, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

pub fn rsa_key(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(&read(&format!("{name}.pem"))).unwrap()
}

pub fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(&read("ec-p256.pem")).unwrap()
}

/// The PEM text of an RSA public key, for the classic "HS256 keyed with the public key"
/// confusion attack.
pub fn rsa_public_pem(name: &str) -> Vec<u8> {
    read(&format!("{name}.pub.pem"))
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token from raw header and claims JSON with the given signature bytes, for shapes no
/// JWT library will produce (`alg: none`, string `exp`, …).
pub fn raw_token(header: &serde_json::Value, claims: &serde_json::Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(sig)
    )
}

fn serve(
    st: &Mutex<State>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let mut s = st.lock().unwrap();
    *s.hits.entry(req.uri().path().to_string()).or_default() += 1;
    let (status, body) = if s.down {
        (503, "down".to_string())
    } else if req.uri().path() == "/pool/.well-known/jwks.json" {
        (200, s.jwks.clone())
    } else {
        (404, "not found".to_string())
    };
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}
