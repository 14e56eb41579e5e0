//! `[storage.aws]` and the Secrets Manager source of `[auth.dev]` (docs/aws.md,
//! docs/configuration.md). Kept together so the AWS settings live in one place.

use super::names::is_valid_name;
use super::{ConfigError, Ctx};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Table of kv namespaces that `namespaces` does not list.
const DEFAULT_TABLE: &str = "mcp-prompts";
/// Session items expire a day after their last write.
const SESSION_TTL: Option<Duration> = Some(Duration::from_secs(24 * 3600));
/// Rate-limit counters matter only within their window (`rate_window`, 60 s in the
/// example configs); an hour keeps the table small without cutting a window short.
const RATELIMIT_TTL: Option<Duration> = Some(Duration::from_secs(3600));
/// The namespaces the server and the default plugins use: (namespace, table, item TTL).
/// MCP sessions (http/mcp/session.rs) and the policy plugin's rate-limit counters are
/// short-lived, so they share the sessions table and its TTL.
const NAMESPACES: &[(&str, &str, Option<Duration>)] = &[
    ("prompts", "mcp-prompts", None),
    ("users", "mcp-users", None),
    ("sessions", "mcp-sessions", SESSION_TTL),
    ("mcp-sessions", "mcp-sessions", SESSION_TTL),
    ("ratelimits", "mcp-sessions", RATELIMIT_TTL),
    // [billing]: customer → user mapping (kept), webhook event ids (expire).
    ("billing", "mcp-users", None),
    ("billing-events", "mcp-sessions", BILLING_EVENT_TTL),
];
/// Webhook event-id records outlive Stripe's retry schedule (3 days) with room to spare.
const BILLING_EVENT_TTL: Option<Duration> = Some(Duration::from_secs(30 * 24 * 3600));
/// Deadline for opening a connection to an AWS endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Deadline of one attempt; a slower answer is retried rather than waited for.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Room for a retry after a timed-out attempt; plugin `timeout`s should stay above it.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(4);
/// Attempts per call: the first and two retries with jittered backoff.
const MAX_ATTEMPTS: u32 = 3;

/// The DynamoDB + S3 backend. Credentials always come from the default AWS chain (ECS task
/// role, environment, profile); there is deliberately no key for them.
//
// `default_bucket` is required, so this type has no `Default` to take a container-level
// `#[serde(default)]` from; the optional keys with a non-empty default name it through a
// `default = "…"` function returning the constant above.
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
    #[serde(default = "aws_default::table")]
    pub default_table: String,
    /// Per-namespace table and optional item lifetime (TTL), e.g. sessions.
    #[serde(default = "aws_default::namespaces")]
    pub namespaces: BTreeMap<String, NamespaceTable>,
    /// S3 bucket for blob buckets not listed in `buckets`, and for kv values too large for
    /// a DynamoDB item.
    pub default_bucket: String,
    /// Plugin blob bucket name → S3 bucket.
    #[serde(default)]
    pub buckets: BTreeMap<String, String>,
    /// S3 bucket of the images in chat messages (under `_media/<tenant>/<sha256>`);
    /// `default_bucket` when unset.
    #[serde(default)]
    pub media_bucket: Option<String>,
    #[serde(default = "aws_default::connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Deadline of one attempt of one AWS call.
    #[serde(default = "aws_default::attempt_timeout", with = "humantime_serde")]
    pub attempt_timeout: Duration,
    /// Deadline of one AWS call including its retries (the retry budget).
    #[serde(default = "aws_default::operation_timeout", with = "humantime_serde")]
    pub operation_timeout: Duration,
    /// Attempts per call (throttling, 5xx, timeouts are retried with jittered backoff).
    #[serde(default = "aws_default::max_attempts")]
    pub max_attempts: u32,
}

/// serde's `default = "…"` takes a function, not a constant.
mod aws_default {
    use super::*;

    pub fn table() -> String {
        DEFAULT_TABLE.into()
    }
    pub fn namespaces() -> BTreeMap<String, NamespaceTable> {
        NAMESPACES
            .iter()
            .map(|&(ns, table, ttl)| {
                let table = table.into();
                (ns.to_string(), NamespaceTable { table, ttl })
            })
            .collect()
    }
    pub fn connect_timeout() -> Duration {
        CONNECT_TIMEOUT
    }
    pub fn attempt_timeout() -> Duration {
        ATTEMPT_TIMEOUT
    }
    pub fn operation_timeout() -> Duration {
        OPERATION_TIMEOUT
    }
    pub fn max_attempts() -> u32 {
        MAX_ATTEMPTS
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceTable {
    pub table: String,
    /// Items expire this long after their last write (DynamoDB TTL attribute `expires_at`).
    #[serde(default, with = "humantime_serde")]
    pub ttl: Option<Duration>,
}

/// The secret docs/aws.md has operators create, and the member of its JSON object that
/// holds the HS256 secret.
const SECRET_ID: &str = "mcp-prompts/secrets";
const SECRET_KEY: &str = "jwt_secret";
/// How often the secret is re-read, so a rotation is seen within minutes.
const REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// Tokens signed with the previous value outlive a rotation by this much.
const GRACE_PERIOD: Duration = Duration::from_secs(3600);

/// `[auth.dev.secrets_manager]`: the HS256 secret from a Secrets Manager JSON secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsManagerSource {
    pub secret_id: String,
    /// Key inside the secret's JSON object.
    pub key: String,
    /// How often the secret is re-read.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// How long the previous value stays valid after a rotation is seen.
    #[serde(with = "humantime_serde")]
    pub grace_period: Duration,
    /// Region; when unset, `storage.aws.region`, then the SDK's chain.
    pub region: Option<String>,
}

impl Default for SecretsManagerSource {
    fn default() -> Self {
        Self {
            secret_id: SECRET_ID.into(),
            key: SECRET_KEY.into(),
            refresh_interval: REFRESH_INTERVAL,
            grace_period: GRACE_PERIOD,
            region: None,
        }
    }
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

impl AwsStorageConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        let a = self;
        if !is_table_name(&a.default_table) {
            return Err(cx.invalid(
                "storage.aws.default_table",
                format!("{:?} is not a DynamoDB table name", a.default_table),
            ));
        }
        for (ns, t) in &a.namespaces {
            let key = format!("storage.aws.namespaces.{ns}");
            if !is_valid_name(ns) {
                return Err(cx.invalid(key, "not a valid namespace name"));
            }
            if !is_table_name(&t.table) {
                return Err(cx.invalid(
                    format!("{key}.table"),
                    format!("{:?} is not a DynamoDB table name", t.table),
                ));
            }
            if t.ttl.is_some_and(|d| d < Duration::from_secs(1)) {
                return Err(cx.invalid(format!("{key}.ttl"), "must be at least 1s"));
            }
        }
        for (key, b) in
            std::iter::once(("storage.aws.default_bucket".to_string(), &a.default_bucket)).chain(
                a.buckets
                    .iter()
                    .map(|(n, b)| (format!("storage.aws.buckets.{n}"), b))
                    .chain(
                        a.media_bucket
                            .iter()
                            .map(|b| ("storage.aws.media_bucket".to_string(), b)),
                    ),
            )
        {
            if !is_bucket_name(b) {
                return Err(cx.invalid(
                    key,
                    format!("{b:?} is not an S3 bucket name (3-63 of a-z 0-9 . -)"),
                ));
            }
        }
        if a.max_attempts == 0 || a.max_attempts > 10 {
            return Err(cx.invalid("storage.aws.max_attempts", "must be between 1 and 10"));
        }
        for (key, d) in [
            ("storage.aws.connect_timeout", a.connect_timeout),
            ("storage.aws.attempt_timeout", a.attempt_timeout),
            ("storage.aws.operation_timeout", a.operation_timeout),
        ] {
            if d < Duration::from_millis(10) || d > Duration::from_secs(120) {
                return Err(cx.invalid(key, "must be between 10ms and 120s"));
            }
        }
        if a.operation_timeout < a.attempt_timeout {
            return Err(cx.invalid(
                "storage.aws.operation_timeout",
                "must be at least storage.aws.attempt_timeout",
            ));
        }
        if let Some(u) = &a.endpoint_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(cx.invalid(
                "storage.aws.endpoint_url",
                "must be an http:// or https:// URL",
            ));
        }
        Ok(())
    }
}

impl SecretsManagerSource {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        if self.secret_id.is_empty() || self.key.is_empty() {
            return Err(cx.invalid(
                "auth.dev.secrets_manager",
                "secret_id and key must not be empty",
            ));
        }
        if self.refresh_interval < Duration::from_millis(100) {
            return Err(cx.invalid(
                "auth.dev.secrets_manager.refresh_interval",
                "must be at least 100ms",
            ));
        }
        Ok(())
    }
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
