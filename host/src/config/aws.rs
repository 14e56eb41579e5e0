//! `[storage.aws]` and the Secrets Manager source of `[auth.dev]` (docs/aws.md,
//! docs/configuration.md). Kept apart from schema.rs so the AWS settings live in one place.

use super::{ConfigError, LoadedConfig, is_valid_name};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The DynamoDB + S3 backend. Credentials always come from the default AWS chain (ECS task
/// role, environment, profile); there is deliberately no key for them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsStorageConfig {
    /// AWS region; when unset, the SDK's chain (`AWS_REGION`, profile, ECS metadata).
    pub region: Option<String>,
    /// Overrides every service endpoint (a local AWS-API server). When unset the SDK
    /// honours `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`.
    pub endpoint_url: Option<String>,
    /// S3 path-style addressing (`endpoint/bucket/key`), needed by most local servers.
    #[serde(default)]
    pub force_path_style: bool,
    /// Table for kv namespaces not listed in `namespaces`.
    #[serde(default = "default_table")]
    pub default_table: String,
    /// Per-namespace table and optional item lifetime (TTL), e.g. sessions.
    #[serde(default = "default_namespaces")]
    pub namespaces: BTreeMap<String, NamespaceTable>,
    /// S3 bucket for blob buckets not listed in `buckets`, and for kv values too large for
    /// a DynamoDB item.
    pub default_bucket: String,
    /// Plugin blob bucket name → S3 bucket.
    #[serde(default)]
    pub buckets: BTreeMap<String, String>,
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Deadline of one attempt of one AWS call.
    #[serde(default = "default_attempt_timeout", with = "humantime_serde")]
    pub attempt_timeout: Duration,
    /// Deadline of one AWS call including its retries (the retry budget).
    #[serde(default = "default_operation_timeout", with = "humantime_serde")]
    pub operation_timeout: Duration,
    /// Attempts per call (throttling, 5xx, timeouts are retried with jittered backoff).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceTable {
    pub table: String,
    /// Items expire this long after their last write (DynamoDB TTL attribute `expires_at`).
    #[serde(default, with = "humantime_serde")]
    pub ttl: Option<Duration>,
}

fn default_table() -> String {
    "mcp-prompts".into()
}
fn default_namespaces() -> BTreeMap<String, NamespaceTable> {
    let mut m = BTreeMap::new();
    for (ns, table, ttl) in [
        ("prompts", "mcp-prompts", None),
        ("users", "mcp-users", None),
        (
            "sessions",
            "mcp-sessions",
            Some(Duration::from_secs(24 * 3600)),
        ),
        // MCP sessions (http/mcp/session.rs) and the policy plugin's rate-limit counters.
        (
            "mcp-sessions",
            "mcp-sessions",
            Some(Duration::from_secs(24 * 3600)),
        ),
        (
            "ratelimits",
            "mcp-sessions",
            Some(Duration::from_secs(3600)),
        ),
    ] {
        m.insert(
            ns.to_string(),
            NamespaceTable {
                table: table.into(),
                ttl,
            },
        );
    }
    m
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_attempt_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_operation_timeout() -> Duration {
    Duration::from_secs(4)
}
fn default_max_attempts() -> u32 {
    3
}

/// `[auth.dev.secrets_manager]`: the HS256 secret from a Secrets Manager JSON secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsManagerSource {
    #[serde(default = "default_secret_id")]
    pub secret_id: String,
    /// Key inside the secret's JSON object.
    #[serde(default = "default_secret_key")]
    pub key: String,
    /// How often the secret is re-read.
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// How long the previous value stays valid after a rotation is seen.
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub grace_period: Duration,
    /// Region; when unset, `storage.aws.region`, then the SDK's chain.
    pub region: Option<String>,
}

fn default_secret_id() -> String {
    "mcp-prompts/secrets".into()
}
fn default_secret_key() -> String {
    "jwt_secret".into()
}
fn default_refresh() -> Duration {
    Duration::from_secs(300)
}
fn default_grace() -> Duration {
    Duration::from_secs(3600)
}

/// DynamoDB table names: 3-255 of `A-Z a-z 0-9 _ - .`.
fn is_table_name(s: &str) -> bool {
    (3..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// S3 bucket names: 3-63 of `a-z 0-9 . -`, starting and ending with a letter or digit.
fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

pub(super) fn validate(lc: &LoadedConfig) -> Result<(), ConfigError> {
    let c = &lc.config;
    if c.storage.backend == super::StorageBackend::Aws && c.storage.aws.is_none() {
        return Err(lc.invalid(
            "storage.aws",
            "required when storage.backend = \"aws\" (at least default_bucket)",
        ));
    }
    if let Some(a) = &c.storage.aws {
        if !is_table_name(&a.default_table) {
            return Err(lc.invalid(
                "storage.aws.default_table",
                format!("{:?} is not a DynamoDB table name", a.default_table),
            ));
        }
        for (ns, t) in &a.namespaces {
            let key = format!("storage.aws.namespaces.{ns}");
            if !is_valid_name(ns) {
                return Err(lc.invalid(key, "not a valid namespace name"));
            }
            if !is_table_name(&t.table) {
                return Err(lc.invalid(
                    format!("{key}.table"),
                    format!("{:?} is not a DynamoDB table name", t.table),
                ));
            }
            if t.ttl.is_some_and(|d| d < Duration::from_secs(1)) {
                return Err(lc.invalid(format!("{key}.ttl"), "must be at least 1s"));
            }
        }
        for (key, b) in
            std::iter::once(("storage.aws.default_bucket".to_string(), &a.default_bucket)).chain(
                a.buckets
                    .iter()
                    .map(|(n, b)| (format!("storage.aws.buckets.{n}"), b)),
            )
        {
            if !is_bucket_name(b) {
                return Err(lc.invalid(
                    key,
                    format!("{b:?} is not an S3 bucket name (3-63 of a-z 0-9 . -)"),
                ));
            }
        }
        if a.max_attempts == 0 || a.max_attempts > 10 {
            return Err(lc.invalid("storage.aws.max_attempts", "must be between 1 and 10"));
        }
        for (key, d) in [
            ("storage.aws.connect_timeout", a.connect_timeout),
            ("storage.aws.attempt_timeout", a.attempt_timeout),
            ("storage.aws.operation_timeout", a.operation_timeout),
        ] {
            if d < Duration::from_millis(10) || d > Duration::from_secs(120) {
                return Err(lc.invalid(key, "must be between 10ms and 120s"));
            }
        }
        if a.operation_timeout < a.attempt_timeout {
            return Err(lc.invalid(
                "storage.aws.operation_timeout",
                "must be at least storage.aws.attempt_timeout",
            ));
        }
        if let Some(u) = &a.endpoint_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(lc.invalid(
                "storage.aws.endpoint_url",
                "must be an http:// or https:// URL",
            ));
        }
    }
    if let Some(sm) = c.auth.dev.as_ref().and_then(|d| d.secrets_manager.as_ref()) {
        if sm.secret_id.is_empty() || sm.key.is_empty() {
            return Err(lc.invalid(
                "auth.dev.secrets_manager",
                "secret_id and key must not be empty",
            ));
        }
        if sm.refresh_interval < Duration::from_millis(100) {
            return Err(lc.invalid(
                "auth.dev.secrets_manager.refresh_interval",
                "must be at least 100ms",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_table_name("mcp-prompts"));
        assert!(!is_table_name("ab"));
        assert!(!is_table_name("a b c"));
        assert!(is_bucket_name("mcp-user-prompts-prod"));
        assert!(!is_bucket_name("Upper"));
        assert!(!is_bucket_name("-x-"));
    }
}
