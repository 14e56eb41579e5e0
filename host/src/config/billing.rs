//! `[billing]`: tiers that follow the customer's Stripe subscription (docs/billing.md,
//! docs/configuration.md#billing). Kept in its own file so the table and its checks live
//! in one place.

use super::{ConfigError, LoadedConfig, SecretsManagerSource, is_valid_name};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Stripe subscription statuses (https://docs.stripe.com/api/subscriptions/object#subscription_object-status).
pub const STRIPE_STATUSES: [&str; 8] = [
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
];

/// Paths the billing endpoints take when `[billing] enabled`.
pub const WEBHOOK_PATH: &str = "/v1/webhooks/stripe";
pub const SUBSCRIPTION_PATH: &str = "/v1/subscription";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingConfig {
    /// Serve the webhook and `/v1/subscription`, and let subscriptions decide tiers.
    #[serde(default)]
    pub enabled: bool,
    /// The tier of a user whose subscription ended (and of one without a mapped price).
    #[serde(default = "default_tier")]
    pub default_tier: String,
    /// Host-reserved kv namespace of the customer → user mapping.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Host-reserved kv namespace of the per-event idempotency records.
    #[serde(default = "default_events_namespace")]
    pub events_namespace: String,
    /// How long an event id is remembered (Stripe retries a delivery for up to 3 days).
    #[serde(default = "default_event_ttl", with = "humantime_serde")]
    pub event_ttl: Duration,
    /// Statuses in which a subscription grants its plan's tier.
    #[serde(default = "default_active_statuses")]
    pub active_statuses: Vec<String>,
    /// A subscription whose `current_period_end` passed this long ago no longer grants its
    /// tier, even without a `deleted` event (covers missed or delayed deliveries).
    #[serde(default = "default_period_end_grace", with = "humantime_serde")]
    pub period_end_grace: Duration,
    #[serde(default)]
    pub stripe: StripeConfig,
    /// The plans offered: the price id → tier map and `GET /v1/subscription/plans`.
    #[serde(default)]
    pub plans: Vec<PlanConfig>,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            default_tier: default_tier(),
            namespace: default_namespace(),
            events_namespace: default_events_namespace(),
            event_ttl: default_event_ttl(),
            active_statuses: default_active_statuses(),
            period_end_grace: default_period_end_grace(),
            stripe: StripeConfig::default(),
            plans: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeConfig {
    /// File holding the endpoint's signing secret (`whsec_…`); development.
    pub webhook_secret_file: Option<PathBuf>,
    /// Name of an environment variable holding the signing secret.
    pub webhook_secret_env: Option<String>,
    /// The signing secret from a Secrets Manager JSON secret, with rotation.
    pub secrets_manager: Option<StripeSecretsManager>,
    /// Largest difference between a signature's timestamp and now (Stripe's default: 5 min).
    #[serde(default = "default_tolerance", with = "humantime_serde")]
    pub tolerance: Duration,
    /// Subscription (or customer) metadata key naming our user: `"<iss>|<sub>"`.
    #[serde(default = "default_subject_key")]
    pub subject_metadata_key: String,
    /// Metadata key naming the user's tenant (absent: `auth.default_tenant`).
    #[serde(default = "default_tenant_key")]
    pub tenant_metadata_key: String,
    /// When set, events whose `livemode` differs are refused (a test-mode event never
    /// changes a production user, and the reverse).
    pub livemode: Option<bool>,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            webhook_secret_file: None,
            webhook_secret_env: None,
            secrets_manager: None,
            tolerance: default_tolerance(),
            subject_metadata_key: default_subject_key(),
            tenant_metadata_key: default_tenant_key(),
            livemode: None,
        }
    }
}

/// `[billing.stripe.secrets_manager]`: as `[auth.dev.secrets_manager]`, but the key
/// defaults to `stripe_webhook_secret` (the original system's secret layout).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSecretsManager {
    #[serde(default = "default_secret_id")]
    pub secret_id: String,
    #[serde(default = "default_secret_key")]
    pub key: String,
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh_interval: Duration,
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub grace_period: Duration,
    pub region: Option<String>,
}

impl StripeSecretsManager {
    pub fn source(&self) -> SecretsManagerSource {
        SecretsManagerSource {
            secret_id: self.secret_id.clone(),
            key: self.key.clone(),
            refresh_interval: self.refresh_interval,
            grace_period: self.grace_period,
            region: self.region.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// Our name for the plan (a name: `A-Z a-z 0-9 . _ -`).
    pub id: String,
    /// Display name.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The Stripe price id (`price_…`) whose subscriptions get `tier`.
    pub price_id: String,
    pub tier: String,
    /// Price in the currency's minor unit (cents), for display only.
    #[serde(default)]
    pub amount: Option<u64>,
    #[serde(default)]
    pub currency: Option<String>,
    /// `day`, `week`, `month` or `year`, for display only.
    #[serde(default)]
    pub interval: Option<String>,
}

fn default_tier() -> String {
    crate::auth::DEFAULT_TIER.into()
}
fn default_namespace() -> String {
    "billing".into()
}
fn default_events_namespace() -> String {
    "billing-events".into()
}
fn default_event_ttl() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
fn default_active_statuses() -> Vec<String> {
    ["active", "trialing", "past_due"]
        .map(String::from)
        .to_vec()
}
fn default_period_end_grace() -> Duration {
    Duration::from_secs(3600)
}
fn default_tolerance() -> Duration {
    Duration::from_secs(300)
}
fn default_subject_key() -> String {
    "mcp_prompts_subject".into()
}
fn default_tenant_key() -> String {
    "mcp_prompts_tenant".into()
}
fn default_secret_id() -> String {
    "mcp-prompts/secrets".into()
}
fn default_secret_key() -> String {
    "stripe_webhook_secret".into()
}
fn default_refresh() -> Duration {
    Duration::from_secs(300)
}
fn default_grace() -> Duration {
    Duration::from_secs(3600)
}

/// A tier value: what `user set-tier` accepts too.
fn is_tier(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.chars().all(|c| c.is_ascii_graphic())
}

/// Whether `path` is one of the billing endpoints or lies below one: such a route would be
/// shadowed. (A shorter prefix such as `/v1` is fine: the billing paths are carved out.)
fn overlaps(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    [WEBHOOK_PATH, SUBSCRIPTION_PATH]
        .iter()
        .any(|b| p == *b || p.starts_with(&format!("{b}/")))
}

/// Checks `[billing]` and its relations to the rest of the config.
pub(super) fn validate(lc: &LoadedConfig) -> Result<(), ConfigError> {
    let c = &lc.config;
    let b = &c.billing;
    if !b.enabled {
        return Ok(());
    }
    if !is_tier(&b.default_tier) {
        return Err(lc.invalid(
            "billing.default_tier",
            "must be 1-64 visible ASCII characters",
        ));
    }
    for (key, ns) in [
        ("billing.namespace", &b.namespace),
        ("billing.events_namespace", &b.events_namespace),
    ] {
        if !is_valid_name(ns) {
            return Err(lc.invalid(key, "must be a valid name"));
        }
        if *ns == c.users.namespace {
            return Err(lc.invalid(key, "must differ from users.namespace"));
        }
        // Reserved to the host: a plugin granted it could forge subscriptions or replays.
        if let Some((name, _)) = c.plugins.iter().find(|(_, p)| p.kv.contains(ns)) {
            return Err(lc.invalid(
                format!("plugins.{name}.kv"),
                format!("{ns:?} is reserved to the host by [billing]"),
            ));
        }
    }
    if b.namespace == b.events_namespace {
        return Err(lc.invalid(
            "billing.events_namespace",
            "must differ from billing.namespace",
        ));
    }
    if !c.users.enabled || !c.users.tier_from_profile {
        return Err(lc.invalid(
            "billing.enabled",
            "needs users.enabled and users.tier_from_profile: subscriptions live in the profiles",
        ));
    }
    let s = &b.stripe;
    let sources = [
        s.webhook_secret_file.is_some(),
        s.webhook_secret_env.is_some(),
        s.secrets_manager.is_some(),
    ];
    match sources.iter().filter(|x| **x).count() {
        0 => {
            return Err(lc.invalid(
                "billing.stripe",
                "needs webhook_secret_file, webhook_secret_env or secrets_manager",
            ));
        }
        1 => {}
        _ => {
            return Err(lc.invalid(
                "billing.stripe",
                "set only one of webhook_secret_file, webhook_secret_env and secrets_manager",
            ));
        }
    }
    if let Some(v) = &s.webhook_secret_env
        && (v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(lc.invalid(
            "billing.stripe.webhook_secret_env",
            "must be an environment variable name (A-Z a-z 0-9 _)",
        ));
    }
    if let Some(sm) = &s.secrets_manager {
        if sm.secret_id.is_empty() || sm.key.is_empty() {
            return Err(lc.invalid(
                "billing.stripe.secrets_manager",
                "secret_id and key must not be empty",
            ));
        }
        if sm.refresh_interval < Duration::from_millis(100) {
            return Err(lc.invalid(
                "billing.stripe.secrets_manager.refresh_interval",
                "must be at least 100ms",
            ));
        }
    }
    if s.tolerance < Duration::from_secs(1) || s.tolerance > Duration::from_secs(3600) {
        return Err(lc.invalid("billing.stripe.tolerance", "must be between 1s and 1h"));
    }
    for (key, v) in [
        (
            "billing.stripe.subject_metadata_key",
            &s.subject_metadata_key,
        ),
        ("billing.stripe.tenant_metadata_key", &s.tenant_metadata_key),
    ] {
        // Stripe metadata keys: at most 40 characters, no square brackets.
        if v.is_empty() || v.len() > 40 || v.contains(['[', ']']) {
            return Err(lc.invalid(key, "must be 1-40 characters without [ or ]"));
        }
    }
    // Records must outlive the window in which a signed request can be replayed.
    if b.event_ttl < s.tolerance.max(Duration::from_secs(60)) {
        return Err(lc.invalid(
            "billing.event_ttl",
            "must be at least 1m and at least billing.stripe.tolerance",
        ));
    }
    if let Some(aws) = &c.storage.aws
        && c.storage.backend == super::StorageBackend::Aws
        && let Some(t) = aws.namespaces.get(&b.events_namespace)
        && t.ttl.is_some_and(|ttl| ttl < b.event_ttl)
    {
        return Err(lc.invalid(
            format!("storage.aws.namespaces.{}.ttl", b.events_namespace),
            "is shorter than billing.event_ttl: DynamoDB would drop idempotency records early",
        ));
    }
    for st in &b.active_statuses {
        if !STRIPE_STATUSES.contains(&st.as_str()) || st == "canceled" {
            return Err(lc.invalid(
                "billing.active_statuses",
                format!(
                    "{st:?} is not a Stripe subscription status that can grant a tier ({})",
                    STRIPE_STATUSES.join(", ")
                ),
            ));
        }
    }
    let mut ids = Vec::new();
    let mut prices = Vec::new();
    for (i, p) in b.plans.iter().enumerate() {
        let key = |k: &str| format!("billing.plans[{i}].{k}");
        if !is_valid_name(&p.id) || ids.contains(&&p.id) {
            return Err(lc.invalid(key("id"), "must be a valid name, unique among the plans"));
        }
        ids.push(&p.id);
        if p.price_id.trim().is_empty() || prices.contains(&&p.price_id) {
            return Err(lc.invalid(
                key("price_id"),
                "must be a Stripe price id, unique among the plans",
            ));
        }
        prices.push(&p.price_id);
        if !is_tier(&p.tier) {
            return Err(lc.invalid(key("tier"), "must be 1-64 visible ASCII characters"));
        }
        if p.name.trim().is_empty() {
            return Err(lc.invalid(key("name"), "must not be empty"));
        }
    }
    for (i, r) in c.routes.iter().enumerate() {
        if overlaps(&r.path) {
            return Err(lc.invalid(
                format!("routes[{i}].path"),
                format!(
                    "is or lies below a billing endpoint ({WEBHOOK_PATH}, {SUBSCRIPTION_PATH})"
                ),
            ));
        }
    }
    if c.mcp.enabled && overlaps(&c.mcp.path) {
        return Err(lc.invalid(
            "mcp.path",
            format!("is or lies below a billing endpoint ({WEBHOOK_PATH}, {SUBSCRIPTION_PATH})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::overlaps;

    #[test]
    fn overlap_is_by_path_segment() {
        assert!(overlaps("/v1/subscription"));
        assert!(overlaps("/v1/subscription/"));
        assert!(overlaps("/v1/webhooks/stripe/x"));
        assert!(!overlaps("/v1"));
        assert!(!overlaps("/v1/prompts"));
        assert!(!overlaps("/v1/subscriptions"));
    }
}
