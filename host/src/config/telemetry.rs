//! `[logging]` and `[metrics]`: what the server tells its operators.

use super::{ConfigError, Ctx};
use serde::Deserialize;
use std::net::SocketAddr;

/// A `tracing` filter directive; `RUST_LOG` overrides it.
const LOG_LEVEL: &str = "info";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    pub format: LogFormat,
    /// `tracing` filter directive, e.g. "info" or "mcp_prompts=debug"; `RUST_LOG` wins.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            level: LOG_LEVEL.into(),
        }
    }
}

/// `/metrics` (docs/metrics.md). Read at start-up; changing it needs a restart.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Separate plain-HTTP listener for `/metrics`; when set, only it serves `/metrics`.
    pub listen: Option<SocketAddr>,
    /// Environment variable holding a static token required as `Authorization: Bearer`.
    pub bearer_token_env: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            bearer_token_env: None,
        }
    }
}

impl MetricsConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        if let Some(v) = &self.bearer_token_env
            && (v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(cx.invalid(
                "metrics.bearer_token_env",
                "must be an environment variable name (A-Z a-z 0-9 _)",
            ));
        }
        Ok(())
    }
}
