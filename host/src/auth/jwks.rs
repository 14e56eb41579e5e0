//! A JSON Web Key Set fetched from an issuer and kept fresh.
//!
//! Rules (DESIGN.md §7): keys are fetched over HTTPS with a timeout and a size cap; an
//! unknown `kid` triggers at most one fetch per `min_refresh_interval` (concurrent misses
//! share it, so a flood of made-up `kid`s costs one request to the issuer per interval);
//! a failed fetch keeps the last good keys; a successful one replaces the set (so a key the
//! issuer retired stops verifying). Only RSA signing keys are kept: the providers using this
//! cache verify RS256 and nothing else.

use crate::telemetry::metrics::Metrics;
use arc_swap::ArcSwap;
use jsonwebtoken::DecodingKey;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("JWKS request failed: {0}")]
    Fetch(String),
    #[error("JWKS endpoint answered HTTP {0}")]
    Status(u16),
    #[error("JWKS document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("JWKS document is not a JSON key set: {0}")]
    Parse(String),
}

/// Settings of one key set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JwksSettings {
    pub uri: String,
    pub timeout: Duration,
    pub max_size: usize,
    /// Shortest time between two fetches caused by unknown `kid`s.
    pub min_refresh_interval: Duration,
    /// Keys older than this are re-fetched in the background on the next use.
    pub max_age: Duration,
}

struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

pub struct Jwks {
    settings: JwksSettings,
    client: reqwest::Client,
    keys: ArcSwap<KeySet>,
    /// When the last fetch was attempted (successful or not); the single-flight lock.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
    metrics: Option<Arc<Metrics>>,
}

impl Jwks {
    pub fn new(
        settings: JwksSettings,
        client: reqwest::Client,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            settings,
            client,
            keys: ArcSwap::from_pointee(KeySet {
                keys: HashMap::new(),
                fetched: None,
            }),
            last_attempt: tokio::sync::Mutex::new(None),
            metrics,
        }
    }

    pub fn uri(&self) -> &str {
        &self.settings.uri
    }

    /// Number of usable keys held now.
    pub fn len(&self) -> usize {
        self.keys.load().keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a successfully fetched set younger than `max_age` is held: then a prefetch
    /// (at start, and after every reload that kept this set) has nothing to do.
    pub fn is_fresh(&self) -> bool {
        self.keys
            .load()
            .fetched
            .is_some_and(|t| t.elapsed() < self.settings.max_age)
    }

    /// Fetches the set in the background unless it is fresh; a reload that keeps this set
    /// must not cost the issuer a request.
    pub fn prefetch(self: &Arc<Self>) {
        if self.is_fresh() {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move { this.refresh_if_due().await });
    }

    /// The key for `kid`, fetching the set when the `kid` is unknown and the rate limit
    /// allows. `None` means: no such key (the token is refused).
    pub async fn key(self: &Arc<Self>, kid: &str) -> Option<DecodingKey> {
        let set = self.keys.load();
        if let Some(k) = set.keys.get(kid) {
            if set
                .fetched
                .is_some_and(|t| t.elapsed() >= self.settings.max_age)
            {
                // Stale but usable: refresh behind the request, never in front of it.
                let this = Arc::clone(self);
                tokio::spawn(async move {
                    this.refresh_if_due().await;
                });
            }
            return Some(k.clone());
        }
        drop(set);
        self.refresh_if_due().await;
        self.keys.load().keys.get(kid).cloned()
    }

    /// Fetches the set unless a fetch was attempted less than `min_refresh_interval` ago.
    /// Callers arriving while a fetch runs wait for it and then see its result.
    pub async fn refresh_if_due(&self) {
        let mut last = self.last_attempt.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.settings.min_refresh_interval) {
            return;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(jwks_uri = %self.settings.uri, keys = keys.len(), "JWKS refreshed");
                self.keys.store(Arc::new(KeySet {
                    keys,
                    fetched: Some(Instant::now()),
                }));
                if let Some(m) = &self.metrics {
                    m.jwks_refresh(true);
                }
            }
            Err(e) => {
                tracing::warn!(
                    jwks_uri = %self.settings.uri,
                    error = %e,
                    kept_keys = self.len(),
                    "JWKS refresh failed; keeping the last good keys"
                );
                if let Some(m) = &self.metrics {
                    m.jwks_refresh(false);
                }
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, JwksError> {
        let fetch = async {
            let mut resp = self
                .client
                .get(&self.settings.uri)
                .header("accept", "application/json")
                .send()
                .await
                .map_err(|e| JwksError::Fetch(without_url(e)))?;
            if !resp.status().is_success() {
                return Err(JwksError::Status(resp.status().as_u16()));
            }
            let max = self.settings.max_size;
            if resp.content_length().is_some_and(|n| n as usize > max) {
                return Err(JwksError::TooLarge(max));
            }
            // Read chunk by chunk so a lying or missing Content-Length cannot make us buffer
            // more than the cap.
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| JwksError::Fetch(without_url(e)))?
            {
                if body.len() + chunk.len() > max {
                    return Err(JwksError::TooLarge(max));
                }
                body.extend_from_slice(&chunk);
            }
            parse_key_set(&body)
        };
        tokio::time::timeout(self.settings.timeout, fetch)
            .await
            .map_err(|_| JwksError::Fetch(format!("timed out after {:?}", self.settings.timeout)))?
    }
}

fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

/// Parses a JWKS document, keeping RSA signature keys usable for RS256.
///
/// Written here rather than with `jsonwebtoken::jwk::JwkSet` because that type rejects the
/// whole document when one key has a type or parameter it does not know; an issuer that
/// adds, say, an OKP key must not make its RSA keys unusable.
pub fn parse_key_set(body: &[u8]) -> Result<HashMap<String, DecodingKey>, JwksError> {
    #[derive(serde::Deserialize)]
    struct Doc {
        keys: Vec<serde_json::Value>,
    }
    let doc: Doc = serde_json::from_slice(body).map_err(|e| JwksError::Parse(e.to_string()))?;
    let mut keys = HashMap::new();
    for k in doc.keys {
        let s = |name: &str| k.get(name).and_then(|v| v.as_str());
        if s("kty") != Some("RSA") {
            continue;
        }
        if s("use").is_some_and(|u| u != "sig") || s("alg").is_some_and(|a| a != "RS256") {
            continue;
        }
        let (Some(kid), Some(n), Some(e)) = (s("kid"), s("n"), s("e")) else {
            continue;
        };
        if let Ok(key) = DecodingKey::from_rsa_components(n, e) {
            keys.insert(kid.to_string(), key);
        }
    }
    Ok(keys)
}

/// The HTTP client for key fetches: rustls with the aws-lc-rs provider (as the server) and
/// the operating system's trust store, no redirects (a key set must come from the
/// configured address), no proxy from the environment, no cookies.
pub fn http_client() -> Result<reqwest::Client, JwksError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // Unparseable system certificates are skipped, as browsers do.
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| JwksError::Fetch(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("mcp-prompts/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| JwksError::Fetch(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real 2048-bit modulus is not needed to test the filtering; DecodingKey accepts any
    // base64url components and only fails at verification.
    const N: &str = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";

    #[test]
    fn keeps_only_rsa_signature_keys() {
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "a", "n": N, "e": "AQAB", "alg": "RS256", "use": "sig"},
            {"kty": "RSA", "kid": "b", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "n": N, "e": "AQAB", "use": "enc"},
            {"kty": "RSA", "kid": "ps", "n": N, "e": "AQAB", "alg": "PS256"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "x", "y": "y"},
            {"kty": "OKP", "kid": "okp", "crv": "Ed25519", "x": "x"},
            {"kty": "RSA", "n": N, "e": "AQAB"},
            {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"}
        ]});
        let keys = parse_key_set(doc.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["a", "b"]);
    }

    #[test]
    fn rejects_non_key_sets() {
        assert!(parse_key_set(b"[]").is_err());
        assert!(parse_key_set(b"{\"keys\": 3}").is_err());
        assert!(parse_key_set(b"not json").is_err());
    }
}
