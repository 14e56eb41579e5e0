//! The HS256 development provider: a shared secret from a file or an environment variable.

use super::{AuthError, Claims};
use crate::config::{DevAuthConfig, LoadedConfig};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sha2::Digest as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Shorter secrets make HS256 brute-forceable (RFC 7518 §3.2 requires ≥ 256 bits).
const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum DevSecretError {
    #[error("{key}: cannot read the secret file {path}: {source}")]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{key}: cannot write a generated secret to {path}: {source}")]
    Write {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("auth.dev.secret_env: environment variable {0} is not set")]
    EnvMissing(String),
    #[error("{key}: the secret is {len} bytes; at least {MIN_SECRET_BYTES} are required")]
    TooShort { key: &'static str, len: usize },
    #[error("auth.dev: unusable secret: {0}")]
    Key(String),
    #[error("cannot sign token: {0}")]
    Sign(String),
    #[error("auth.dev.secrets_manager: {0}")]
    SecretsManager(#[from] crate::secrets::SecretError),
}

/// Where the HMAC key comes from: fixed (file, env) or rotating (Secrets Manager).
enum Keys {
    Static {
        encoding: EncodingKey,
        decoding: DecodingKey,
        /// SHA-256 of the secret: tells a reload whether the file's content changed,
        /// without keeping a second copy of the secret.
        digest: [u8; 32],
    },
    Rotating(std::sync::Arc<crate::secrets::RotatingSecret>),
}

pub struct DevProvider {
    issuer: String,
    audience: String,
    keys: Keys,
    validation: Validation,
}

impl DevProvider {
    /// As [`DevProvider::load`], and also the Secrets Manager source (which needs a tokio
    /// runtime: it fetches the secret and refreshes it in the background).
    pub async fn load_async(lc: &LoadedConfig, dc: &DevAuthConfig) -> Result<Self, DevSecretError> {
        let Some(sm) = &dc.secrets_manager else {
            return Self::load(lc, dc);
        };
        let secret =
            crate::secrets::aws::load(sm, lc.config.storage.aws.as_ref(), MIN_SECRET_BYTES).await?;
        Ok(Self {
            issuer: dc.issuer.clone(),
            audience: dc.audience.clone(),
            keys: Keys::Rotating(secret),
            validation: validation(dc),
        })
    }

    /// Loads the secret named by `[auth.dev]`, generating it first if so configured.
    pub fn load(lc: &LoadedConfig, dc: &DevAuthConfig) -> Result<Self, DevSecretError> {
        if dc.secrets_manager.is_some() {
            return Err(DevSecretError::Key(
                "auth.dev.secrets_manager needs DevProvider::load_async".into(),
            ));
        }
        let (secret, key) = if let Some(file) = &dc.secret_file {
            let path = lc.resolve(file);
            if dc.generate_if_missing && !path.exists() {
                generate(&path)?;
            }
            let raw = std::fs::read(&path).map_err(|source| DevSecretError::Read {
                key: "auth.dev.secret_file",
                path: path.clone(),
                source,
            })?;
            (trim_newline(raw), "auth.dev.secret_file")
        } else {
            let var = dc.secret_env.clone().unwrap_or_default();
            let v = std::env::var(&var).map_err(|_| DevSecretError::EnvMissing(var.clone()))?;
            (v.into_bytes(), "auth.dev.secret_env")
        };
        if secret.len() < MIN_SECRET_BYTES {
            return Err(DevSecretError::TooShort {
                key,
                len: secret.len(),
            });
        }
        Ok(Self {
            issuer: dc.issuer.clone(),
            audience: dc.audience.clone(),
            keys: Keys::Static {
                encoding: EncodingKey::from_secret(&secret)
                    .map_err(|e| DevSecretError::Key(e.to_string()))?,
                decoding: DecodingKey::from_secret(&secret)
                    .map_err(|e| DevSecretError::Key(e.to_string()))?,
                digest: sha2::Sha256::digest(&secret).into(),
            },
            validation: validation(dc),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether `other` verifies with the same secret: the same value from a file or the
    /// environment, or the same refreshing Secrets Manager secret (which rotates itself).
    pub(super) fn same_keys(&self, other: &DevProvider) -> bool {
        match (&self.keys, &other.keys) {
            (Keys::Static { digest: a, .. }, Keys::Static { digest: b, .. }) => a == b,
            (Keys::Rotating(a), Keys::Rotating(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub(super) fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify_signature(token)?;
        if !super::iat_acceptable(&claims, super::cache::now_secs(), self.validation.leeway) {
            return Err(AuthError::Invalid);
        }
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        let map = |e: jsonwebtoken::errors::Error| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid,
        };
        match &self.keys {
            Keys::Static { decoding, .. } => {
                jsonwebtoken::decode::<Claims>(token, decoding, &self.validation)
                    .map(|d| d.claims)
                    .map_err(map)
            }
            // After a rotation the previous secret verifies during its grace period.
            Keys::Rotating(secret) => {
                let mut last = AuthError::Invalid;
                for s in secret.accepted() {
                    let Ok(key) = DecodingKey::from_secret(s.expose()) else {
                        continue;
                    };
                    match jsonwebtoken::decode::<Claims>(token, &key, &self.validation) {
                        Ok(d) => return Ok(d.claims),
                        Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                            last = map(e);
                        }
                        Err(e) => return Err(map(e)),
                    }
                }
                Err(last)
            }
        }
    }

    /// Mints a development token (the `token` subcommand).
    pub fn mint(
        &self,
        subject: &str,
        scopes: &[String],
        ttl: Duration,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, DevSecretError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("aud".into(), self.audience.clone().into());
        claims.insert("sub".into(), subject.into());
        claims.insert("iat".into(), now.into());
        claims.insert("nbf".into(), now.into());
        claims.insert("exp".into(), (now + ttl.as_secs()).into());
        claims.insert("jti".into(), uuid::Uuid::new_v4().to_string().into());
        if !scopes.is_empty() {
            claims.insert("scope".into(), scopes.join(" ").into());
        }
        for (k, v) in extra {
            claims.insert(k, v);
        }
        let encoding = match &self.keys {
            Keys::Static { encoding, .. } => encoding.clone(),
            Keys::Rotating(secret) => EncodingKey::from_secret(secret.current().expose())
                .map_err(|e| DevSecretError::Key(e.to_string()))?,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &encoding)
            .map_err(|e| DevSecretError::Sign(e.to_string()))
    }
}

fn validation(dc: &DevAuthConfig) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    validation.set_issuer(&[dc.issuer.as_str()]);
    validation.set_audience(&[dc.audience.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = dc.leeway.as_secs();
    validation.validate_nbf = true;
    validation
}

fn trim_newline(mut raw: Vec<u8>) -> Vec<u8> {
    while raw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        raw.pop();
    }
    raw
}

/// Writes 32 random bytes, hex-encoded, readable by the owner only.
fn generate(path: &std::path::Path) -> Result<(), DevSecretError> {
    use rand::RngCore;
    use std::io::Write;
    let err = |source| DevSecretError::Write {
        key: "auth.dev.secret_file",
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => f.write_all(hex::encode(bytes).as_bytes()).map_err(err),
        // Another process generated it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(e)),
    }
}
