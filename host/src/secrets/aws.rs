//! The Secrets Manager source: a JSON secret (default `mcp-prompts/secrets`) and one key in
//! it (default `jwt_secret`), re-read every `refresh_interval` by a background task.

use super::{RotatingSecret, SecretBytes, SecretError};
use crate::config::{AwsStorageConfig, SecretsManagerSource};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// One refreshing secret per (region, secret, key) per process: a config reload reuses the
/// running one instead of starting a second refresher, and tokens keep verifying across it.
fn registry() -> &'static Mutex<HashMap<String, Weak<RotatingSecret>>> {
    static R: OnceLock<Mutex<HashMap<String, Weak<RotatingSecret>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Loads the secret (failing if it is missing or unusable) and keeps it fresh.
/// Values shorter than `min_len` bytes are refused, at start and on refresh.
pub async fn load(
    src: &SecretsManagerSource,
    storage: Option<&AwsStorageConfig>,
    min_len: usize,
) -> Result<Arc<RotatingSecret>, SecretError> {
    let region = src.region.as_deref();
    let id = format!(
        "{}|{}|{}|{}",
        region
            .or(storage.and_then(|s| s.region.as_deref()))
            .unwrap_or(""),
        src.secret_id,
        src.key,
        src.refresh_interval.as_millis()
    );
    if let Some(s) = registry()
        .lock()
        .ok()
        .and_then(|r| r.get(&id).and_then(Weak::upgrade))
    {
        return Ok(s);
    }
    let sdk = crate::storage::aws::load_sdk_config(storage, region).await;
    let client = Client::new(&sdk);
    let initial = fetch(&client, src, min_len).await?;
    let secret = Arc::new(RotatingSecret::new(initial, src.grace_period));
    if let Ok(mut r) = registry().lock() {
        r.insert(id, Arc::downgrade(&secret));
    }
    let weak = Arc::downgrade(&secret);
    let src = src.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(src.refresh_interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(secret) = weak.upgrade() else {
                return;
            };
            match fetch(&client, &src, min_len).await {
                Ok(v) => {
                    if secret.update(v) {
                        tracing::info!(
                            secret_id = %src.secret_id,
                            key = %src.key,
                            grace = ?src.grace_period,
                            "secret rotated; the previous value is accepted during the grace period"
                        );
                    }
                }
                // Keep serving with the last good value; say why without the value.
                Err(e) => {
                    tracing::warn!(error = %e, "secret refresh failed; keeping the last value")
                }
            }
        }
    });
    Ok(secret)
}

async fn fetch(
    client: &Client,
    src: &SecretsManagerSource,
    min_len: usize,
) -> Result<SecretBytes, SecretError> {
    let id = src.secret_id.clone();
    let out = match client.get_secret_value().secret_id(&id).send().await {
        Ok(o) => o,
        Err(e) => {
            if matches!(
                e.as_service_error(),
                Some(GetSecretValueError::ResourceNotFoundException(_))
            ) {
                return Err(SecretError::NotFound { id });
            }
            let reason = match e.as_service_error() {
                Some(s) => format!(
                    "{}: {}",
                    s.code().unwrap_or("error"),
                    s.message().unwrap_or("")
                ),
                None => aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            };
            return Err(SecretError::Unreadable { id, reason });
        }
    };
    let missing = || SecretError::MissingKey {
        id: src.secret_id.clone(),
        key: src.key.clone(),
    };
    // Parse errors are not reported in detail: serde_json's message can quote the input.
    let text = out.secret_string().ok_or_else(missing)?;
    let json: serde_json::Value = serde_json::from_str(text).map_err(|_| missing())?;
    let v = json
        .get(&src.key)
        .and_then(|v| v.as_str())
        .ok_or_else(missing)?;
    if v.len() < min_len {
        return Err(SecretError::Unreadable {
            id: src.secret_id.clone(),
            reason: format!(
                "{:?} is {} bytes; at least {min_len} are required",
                src.key,
                v.len()
            ),
        });
    }
    Ok(SecretBytes::new(v.as_bytes().to_vec()))
}
