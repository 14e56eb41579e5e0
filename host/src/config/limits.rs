//! `[limits]`: where the `limits` host capability keeps its budgets (docs/configuration.md,
//! docs/plugins.md "### limits").

use super::{ConfigError, Ctx, StorageBackend};
use serde::Deserialize;
use std::time::Duration;

/// Most tokens one lease takes. Large enough that a busy key costs one DynamoDB write per
/// hundred requests, small enough that what a host holds unspent is a small share of a
/// typical per-minute budget.
const LEASE_BLOCK: u64 = 100;
/// A lease write slower than this is treated as an outage: the request it holds up is
/// answered from the local limiter instead of waiting on DynamoDB.
const LEASE_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failed lease a host limits locally this long before asking DynamoDB again, so
/// an outage costs one timed-out write per interval rather than one per request.
const LEASE_RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitsMode {
    /// Budgets in each host's memory (GCRA): a fleet of N hosts admits up to N × limit.
    #[default]
    Local,
    /// Budgets shared by every host on the same storage: hosts lease blocks of tokens from
    /// a counter per key and window (plugins/cluster_limits.rs).
    Cluster,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    pub mode: LimitsMode,
    /// Most tokens one lease takes (a key whose limit is small takes less: a sixteenth of
    /// its limit, at least one).
    pub lease_block: u64,
    /// Deadline of one lease write; past it the request is limited locally.
    #[serde(with = "humantime_serde")]
    pub lease_timeout: Duration,
    /// How long a host limits locally after a failed lease before it tries again.
    #[serde(with = "humantime_serde")]
    pub lease_retry: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            mode: LimitsMode::Local,
            lease_block: LEASE_BLOCK,
            lease_timeout: LEASE_TIMEOUT,
            lease_retry: LEASE_RETRY,
        }
    }
}

impl LimitsConfig {
    pub(super) fn validate(&self, backend: StorageBackend, cx: &Ctx) -> Result<(), ConfigError> {
        if !(1..=1_000_000).contains(&self.lease_block) {
            return Err(cx.invalid("limits.lease_block", "must be between 1 and 1000000"));
        }
        if self.lease_timeout < Duration::from_millis(10)
            || self.lease_timeout > Duration::from_secs(10)
        {
            return Err(cx.invalid("limits.lease_timeout", "must be between 10ms and 10s"));
        }
        if self.lease_retry < Duration::from_millis(100)
            || self.lease_retry > Duration::from_secs(600)
        {
            return Err(cx.invalid("limits.lease_retry", "must be between 100ms and 10m"));
        }
        if self.mode == LimitsMode::Cluster && backend != StorageBackend::Aws {
            return Err(cx.invalid(
                "limits.mode",
                "\"cluster\" needs storage.backend = \"aws\" (the hosts share budgets through \
                 DynamoDB); the embedded store belongs to one process",
            ));
        }
        Ok(())
    }
}
