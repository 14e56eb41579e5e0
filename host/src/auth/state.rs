//! Auth state that outlives config snapshots: the JWKS HTTP client, every OIDC provider's
//! key set, the development provider and the verified-token cache. A reload (SIGHUP or a
//! watched file) builds a new [`Authenticator`] from it, reusing what the new config does
//! not change, so a reload neither refetches key sets nor re-verifies every client's token.
//!
//! Reuse rules:
//! - a key set is kept while its provider's issuer and fetch settings (`jwks_uri`,
//!   timeout, size cap, refresh interval, max age) are unchanged; a changed provider gets
//!   a fresh set and a removed one is dropped;
//! - the development provider is kept while `[auth.dev]` is unchanged and its secret is
//!   the same (a file or variable is re-read on every reload, so replacing the secret file
//!   and reloading still revokes tokens signed with the old one; a Secrets Manager secret
//!   refreshes itself);
//! - the verified-token cache is kept only while the whole `[auth]` table is unchanged and
//!   the development secret is the same; anything else gets an empty cache, so a reload
//!   never keeps accepting a token the new config refuses, nor a principal mapped by old
//!   claim settings;
//! - the HTTP client is made once, on first need.

use super::jwks::{self, Jwks, JwksError, JwksSettings};
use super::oidc::jwks_settings;
use super::{
    Authenticator, ClaimMapping, DevProvider, DevSecretError, OidcProvider, VERIFIED_CACHE_ENTRIES,
    VerifiedCache,
};
use crate::config::{DevAuthConfig, LoadedConfig};
use crate::telemetry::metrics::Metrics;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("auth.oidc: cannot build the HTTP client for key sets: {0}")]
    Client(#[source] JwksError),
    #[error(transparent)]
    Dev(#[from] DevSecretError),
}

/// Long-lived auth state; one per process (owned by `App`).
pub struct AuthState {
    metrics: Option<Arc<Metrics>>,
    /// Async lock: building may await a Secrets Manager read; reloads are rare and
    /// serialised anyway, and requests never take this lock.
    held: tokio::sync::Mutex<Held>,
}

/// What the last successfully built authenticator used.
#[derive(Default)]
struct Held {
    client: Option<reqwest::Client>,
    jwks: HashMap<JwksKey, Arc<Jwks>>,
    dev: Option<(String, Arc<DevProvider>)>,
    cache: Option<(String, Arc<VerifiedCache>)>,
}

/// A key set's identity: whose keys, fetched how.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct JwksKey {
    issuer: String,
    settings: JwksSettings,
}

/// What a config section looks like, for "unchanged?" checks.
///
/// Compared by `Debug` text because the config types have no `PartialEq` (they live in
/// `config/`, outside this module) and because `Debug` covers every field, including ones
/// added later: a new auth setting can never be silently left out of the comparison and
/// keep a cache it should have cleared. The base directory is included because relative
/// secret paths resolve against it. Nothing here is secret: the config names where the
/// secret is, never its value.
fn fingerprint(lc: &LoadedConfig, section: &impl std::fmt::Debug) -> String {
    format!("{:?}|{section:?}", lc.base_dir)
}

impl AuthState {
    /// `metrics` receives JWKS refresh outcomes.
    pub fn new(metrics: Option<Arc<Metrics>>) -> Self {
        Self {
            metrics,
            held: tokio::sync::Mutex::new(Held::default()),
        }
    }

    /// The authenticator for `lc`'s `[auth]`, reusing key sets, the development provider
    /// and the verified-token cache of the previous call where the config allows (module
    /// docs). On error nothing is replaced: the running snapshot's state stays current.
    pub async fn authenticator(&self, lc: &LoadedConfig) -> Result<Authenticator, AuthSetupError> {
        let a = &lc.config.auth;
        let mut held = self.held.lock().await;

        let dev = match &a.dev {
            Some(dc) => Some(self.dev_provider(&held, lc, dc).await?),
            None => None,
        };
        let dev_kept = match (&dev, &held.dev) {
            (None, None) => true,
            (Some((_, new)), Some((_, old))) => Arc::ptr_eq(new, old),
            _ => false,
        };

        let mut client = held.client.clone();
        let mut jwks = HashMap::with_capacity(a.oidc.len());
        let mut oidc = Vec::with_capacity(a.oidc.len());
        for pc in &a.oidc {
            let key = JwksKey {
                issuer: pc.issuer.clone(),
                settings: jwks_settings(pc),
            };
            let set = match held.jwks.get(&key) {
                Some(set) => Arc::clone(set),
                None => {
                    let c = match &client {
                        Some(c) => c.clone(),
                        None => {
                            let c = jwks::http_client().map_err(AuthSetupError::Client)?;
                            client = Some(c.clone());
                            c
                        }
                    };
                    Arc::new(Jwks::new(key.settings.clone(), c, self.metrics.clone()))
                }
            };
            oidc.push(OidcProvider::with_jwks(pc, Arc::clone(&set)));
            jwks.insert(key, set);
        }

        let auth_fp = fingerprint(lc, a);
        let verified = match &held.cache {
            Some((fp, cache)) if *fp == auth_fp && dev_kept => Arc::clone(cache),
            // A new cache rather than clearing the shared one: requests still running on
            // the old snapshot could otherwise refill it under the old rules.
            _ => Arc::new(VerifiedCache::new(VERIFIED_CACHE_ENTRIES)),
        };
        tracing::debug!(
            key_sets = jwks.len(),
            key_sets_kept = jwks
                .values()
                .filter(|j| held.jwks.values().any(|o| Arc::ptr_eq(j, o)))
                .count(),
            dev_kept,
            token_cache_kept = held
                .cache
                .as_ref()
                .is_some_and(|(_, c)| Arc::ptr_eq(c, &verified)),
            "auth state"
        );

        let mapping = ClaimMapping::from_config(a);
        let auth = Authenticator::from_parts(
            dev.as_ref().map(|(_, d)| Arc::clone(d)),
            oidc,
            mapping,
            Arc::clone(&verified),
        );
        // Dropping the old map drops the key sets of removed or changed providers (once
        // the last snapshot using them is gone).
        *held = Held {
            client,
            jwks,
            dev,
            cache: Some((auth_fp, verified)),
        };
        Ok(auth)
    }

    /// The development provider for `dc`: the held one when its config and secret are
    /// unchanged, else the freshly loaded one.
    async fn dev_provider(
        &self,
        held: &Held,
        lc: &LoadedConfig,
        dc: &DevAuthConfig,
    ) -> Result<(String, Arc<DevProvider>), DevSecretError> {
        // Always loaded: a file or variable is cheap to re-read and is how a reload learns
        // that the secret changed; Secrets Manager answers from its process-wide registry
        // of refreshing secrets while the held provider keeps that secret alive.
        let fresh = DevProvider::load_async(lc, dc).await?;
        let fp = fingerprint(lc, dc);
        let provider = match &held.dev {
            Some((old_fp, old)) if *old_fp == fp && old.same_keys(&fresh) => Arc::clone(old),
            _ => Arc::new(fresh),
        };
        Ok((fp, provider))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;
    use std::path::Path;

    const OIDC: &str = r#"
[[auth.oidc]]
issuer = "http://127.0.0.1:9/pool"
client_ids = ["client-1"]

[[auth.oidc]]
issuer = "http://127.0.0.1:9/other"
client_ids = ["app-2"]
"#;

    fn config(dir: &Path, text: &str) -> LoadedConfig {
        let text = text.replace("{dir}", &dir.display().to_string());
        crate::config::parse(&dir.join("config.toml"), &text).expect("config")
    }

    fn base(dir: &Path, extra: &str) -> LoadedConfig {
        config(
            dir,
            &format!(
                "[auth.dev]\nsecret_file = \"{{dir}}/secret\"\ngenerate_if_missing = true\n{OIDC}{extra}"
            ),
        )
    }

    fn principal() -> Principal {
        Principal {
            subject: "alice".into(),
            issuer: None,
            tenant: "default".into(),
            scopes: vec![],
            groups: vec![],
            tier: "free".into(),
            tier_from_claim: false,
        }
    }

    /// Puts a token into `a`'s cache, as a successful verification would.
    fn remember(a: &Authenticator) {
        let now = crate::auth::cache::now_secs();
        a.verified.insert("tok", principal(), now + 60, now);
    }

    fn remembers(a: &Authenticator) -> bool {
        a.verified
            .get("tok", crate::auth::cache::now_secs())
            .is_some()
    }

    fn same_jwks(a: &Authenticator, b: &Authenticator, i: usize) -> bool {
        Arc::ptr_eq(a.oidc[i].jwks(), b.oidc[i].jwks())
    }

    fn same_dev(a: &Authenticator, b: &Authenticator) -> bool {
        match (&a.dev, &b.dev) {
            (Some(x), Some(y)) => Arc::ptr_eq(x, y),
            _ => false,
        }
    }

    #[tokio::test]
    async fn unchanged_config_keeps_key_sets_dev_provider_and_cache() {
        let dir = tempfile::tempdir().unwrap();
        let state = AuthState::new(None);
        let first = state.authenticator(&base(dir.path(), "")).await.unwrap();
        remember(&first);
        // Parsed again, as a reload does: equal content, new values.
        let second = state.authenticator(&base(dir.path(), "")).await.unwrap();
        assert!(same_jwks(&first, &second, 0) && same_jwks(&first, &second, 1));
        assert!(same_dev(&first, &second));
        assert!(Arc::ptr_eq(&first.verified, &second.verified));
        assert!(remembers(&second), "the cache survives the reload");
    }

    #[tokio::test]
    async fn changes_to_who_is_accepted_replace_the_cache_but_keep_key_sets() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let client_1 = "client_ids = [\"client-1\"]";
        let provider = |extra: &str| OIDC.replace(client_1, &format!("{client_1}\n{extra}"));
        // (what, text before [auth.dev], OIDC tables): each can change who is accepted or
        // what their principal looks like.
        let changed = [
            ("client_ids", "", OIDC.replace("client-1", "client-2")),
            (
                "audience",
                "",
                provider("audience = \"https://api.example\""),
            ),
            (
                "token_use",
                "",
                provider("token_use = [\"access\", \"id\"]"),
            ),
            ("leeway", "", provider("leeway = \"5m\"")),
            ("max_token_size", "", provider("max_token_size = 16384")),
            (
                "default_tenant",
                "[auth]\ndefault_tenant = \"acme\"\n",
                OIDC.into(),
            ),
            (
                "tenant_claim",
                "[auth]\ntenant_claim = \"org\"\n",
                OIDC.into(),
            ),
            ("tier_claim", "[auth]\ntier_claim = \"plan\"\n", OIDC.into()),
        ];
        for (what, auth, oidc) in changed {
            let lc = config(
                d,
                &format!(
                    "{auth}[auth.dev]\nsecret_file = \"{{dir}}/secret\"\ngenerate_if_missing = true\n{oidc}"
                ),
            );
            let state = AuthState::new(None);
            let before = state.authenticator(&base(d, "")).await.unwrap();
            remember(&before);
            let after = state.authenticator(&lc).await.unwrap();
            assert!(!remembers(&after), "{what}: the cache must not survive");
            assert!(!Arc::ptr_eq(&before.verified, &after.verified), "{what}");
            // How keys are fetched did not change: no refetch.
            assert!(
                same_jwks(&before, &after, 0) && same_jwks(&before, &after, 1),
                "{what}: key sets are kept"
            );
            assert!(same_dev(&before, &after), "{what}: dev provider is kept");
            // And back: the original rules, but not the first snapshot's cache.
            let again = state.authenticator(&base(d, "")).await.unwrap();
            assert!(!remembers(&again), "{what}: no cache resurrection");
        }
    }

    #[tokio::test]
    async fn changed_fetch_settings_or_issuer_get_a_fresh_key_set() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let state = AuthState::new(None);
        let before = state.authenticator(&base(d, "")).await.unwrap();
        remember(&before);
        // Only the second provider's refresh interval changes.
        let lc = base(d, "jwks_refresh_interval = \"1s\"\n");
        let after = state.authenticator(&lc).await.unwrap();
        assert!(
            same_jwks(&before, &after, 0),
            "the untouched provider keeps its set"
        );
        assert!(
            !same_jwks(&before, &after, 1),
            "the changed provider gets a fresh one"
        );
        assert!(!remembers(&after));

        // A different issuer (the first provider renamed), and a removed provider.
        let lc = config(
            d,
            "[auth.dev]\nsecret_file = \"{dir}/secret\"\ngenerate_if_missing = true\n\
             [[auth.oidc]]\nissuer = \"http://127.0.0.1:9/renamed\"\nclient_ids = [\"app-2\"]\n",
        );
        let renamed = state.authenticator(&lc).await.unwrap();
        assert!(!Arc::ptr_eq(renamed.oidc[0].jwks(), after.oidc[0].jwks()));
        assert!(!Arc::ptr_eq(renamed.oidc[0].jwks(), after.oidc[1].jwks()));
        let held = state.held.lock().await;
        assert_eq!(held.jwks.len(), 1, "removed providers' sets are dropped");
        assert!(held.client.is_some());
    }

    #[tokio::test]
    async fn a_new_dev_secret_replaces_the_provider_and_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let state = AuthState::new(None);
        let before = state.authenticator(&base(d, "")).await.unwrap();
        remember(&before);
        std::fs::write(d.join("secret"), "x".repeat(40)).unwrap();
        let after = state.authenticator(&base(d, "")).await.unwrap();
        assert!(!same_dev(&before, &after));
        assert!(
            !remembers(&after),
            "tokens of the old secret must be re-verified"
        );
        assert!(
            same_jwks(&before, &after, 0),
            "OIDC key sets are unaffected"
        );

        // The dev audience changed, same secret.
        let lc = config(
            d,
            &format!("[auth.dev]\nsecret_file = \"{{dir}}/secret\"\naudience = \"other\"\n{OIDC}"),
        );
        remember(&after);
        let aud = state.authenticator(&lc).await.unwrap();
        assert!(!same_dev(&after, &aud));
        assert!(!remembers(&aud));

        // Dev provider removed.
        let lc = config(d, OIDC);
        let none = state.authenticator(&lc).await.unwrap();
        assert!(none.dev.is_none());
        assert!(same_jwks(&aud, &none, 0));
    }

    #[tokio::test]
    async fn a_failed_build_replaces_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let state = AuthState::new(None);
        let before = state.authenticator(&base(d, "")).await.unwrap();
        remember(&before);
        std::fs::write(d.join("secret"), "short").unwrap();
        assert!(matches!(
            state.authenticator(&base(d, "")).await,
            Err(AuthSetupError::Dev(DevSecretError::TooShort { .. }))
        ));
        let held = state.held.lock().await;
        let cache = held.cache.as_ref().map(|(_, c)| c).unwrap();
        assert!(Arc::ptr_eq(cache, &before.verified));
    }
}
