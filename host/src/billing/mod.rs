//! Subscriptions: tiers that follow the customer's Stripe subscription (docs/billing.md).
//!
//! Stripe calls `POST /v1/webhooks/stripe` ([`http`]) with signed events ([`signature`]);
//! `customer.subscription.*` events update the subscription state stored in the user's
//! profile ([`events`], [`store`]); the tier a request runs with is derived from that
//! state on every request ([`Billing::resolve`], called by the router's
//! `apply_profile_tier`), so a change applies from the next request on.
//!
//! Tier precedence with billing enabled: the operator's `user set-tier` value, then the
//! Stripe state (once the user has any subscription recorded: the plan's tier while it is
//! active, else `default_tier`), then the token's tier claim, then `"free"`.

pub mod events;
pub mod signature;
pub mod store;

use crate::config::{BillingConfig, LoadedConfig, PlanConfig};
use crate::secrets::{RotatingSecret, SecretBytes, SecretError};
use crate::storage::{KvStore, StorageError};
use events::{Decision, Event, Kind, StripeState, SubState, Subscription};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use store::UserRef;

/// Stripe's signing secrets are `whsec_` and 32 characters; shorter is a mistake.
const MIN_SECRET_BYTES: usize = 16;
/// Every this many recorded events, one page of expired records is swept.
const SWEEP_EVERY: u64 = 32;

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("billing.stripe.webhook_secret_file: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("billing.stripe.webhook_secret_env: environment variable {0} is not set")]
    EnvMissing(String),
    #[error("{key}: the secret is {len} bytes; at least {MIN_SECRET_BYTES} are required")]
    TooShort { key: &'static str, len: usize },
    #[error("billing.stripe.secrets_manager: {0}")]
    SecretsManager(#[from] SecretError),
}

/// Why an event could not be processed; each maps to the status Stripe needs to see.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Signed by Stripe but not an event we can read: 400 (retrying will not help).
    #[error("{0}")]
    Invalid(String),
    /// Storage failed: 503, so Stripe retries.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// What became of an event (the `outcome` label and the response body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Applied, but no configured plan has the subscription's price: it grants no tier.
    UnknownPrice,
    /// Older than the state stored for its subscription; recorded, not applied.
    Stale,
    /// This event id was processed already.
    Duplicate,
    /// Not a subscription event, or of the other mode (`livemode`).
    Ignored,
    /// No user found (no usable metadata, no customer mapping). Not recorded, so a resend
    /// from the Stripe dashboard is processed once the metadata or mapping is fixed.
    Unmatched,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::UnknownPrice => "unknown_price",
            Self::Stale => "stale",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::Unmatched => "unmatched",
        }
    }
}

/// Where a principal's tier came from (`GET /v1/subscription` `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Operator,
    Stripe,
    Token,
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Stripe => "stripe",
            Self::Token => "token",
            Self::Default => "default",
        }
    }
}

/// The effective tier and the subscription behind it.
#[derive(Debug)]
pub struct Resolved {
    pub tier: String,
    pub source: Source,
    /// The granting subscription, else the most recent one.
    pub subscription: Option<(String, SubState)>,
    pub plan: Option<PlanConfig>,
}

enum WebhookSecret {
    Static(SecretBytes),
    Rotating(Arc<RotatingSecret>),
}

/// The billing side of a config snapshot.
pub struct Billing {
    pub config: BillingConfig,
    secret: WebhookSecret,
    /// Issuers a subscription's metadata may name (those whose tokens we accept).
    issuers: Vec<String>,
    default_tenant: String,
    users_namespace: String,
    recorded: AtomicU64,
    sweep_cursor: Mutex<Option<String>>,
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Billing {
    /// `None` when `[billing]` is off. Reads the webhook secret (Secrets Manager: fetched
    /// now and refreshed in the background, with the rotation grace period).
    pub async fn load(
        lc: &LoadedConfig,
        issuers: Vec<String>,
    ) -> Result<Option<Arc<Self>>, BillingError> {
        let c = &lc.config;
        let b = &c.billing;
        if !b.enabled {
            return Ok(None);
        }
        let s = &b.stripe;
        let secret = if let Some(sm) = &s.secrets_manager {
            WebhookSecret::Rotating(
                crate::secrets::aws::load(&sm.source(), c.storage.aws.as_ref(), MIN_SECRET_BYTES)
                    .await?,
            )
        } else {
            let (raw, key) = if let Some(f) = &s.webhook_secret_file {
                let path = lc.resolve(f);
                let raw = tokio::fs::read(&path)
                    .await
                    .map_err(|source| BillingError::Read { path, source })?;
                (raw, "billing.stripe.webhook_secret_file")
            } else {
                let var = s.webhook_secret_env.clone().unwrap_or_default();
                let v = std::env::var(&var).map_err(|_| BillingError::EnvMissing(var))?;
                (v.into_bytes(), "billing.stripe.webhook_secret_env")
            };
            let raw = raw.trim_ascii().to_vec();
            if raw.len() < MIN_SECRET_BYTES {
                return Err(BillingError::TooShort {
                    key,
                    len: raw.len(),
                });
            }
            WebhookSecret::Static(SecretBytes::new(raw))
        };
        Ok(Some(Arc::new(Self {
            config: b.clone(),
            secret,
            issuers,
            default_tenant: c.auth.default_tenant.clone(),
            users_namespace: c.users.namespace.clone(),
            recorded: AtomicU64::new(0),
            sweep_cursor: Mutex::new(None),
        })))
    }

    /// The secrets a signature may be made with: the current one, and the previous one
    /// during its rotation grace period.
    pub fn accepted_secrets(&self) -> Vec<SecretBytes> {
        match &self.secret {
            WebhookSecret::Static(s) => vec![s.clone()],
            WebhookSecret::Rotating(r) => r.accepted(),
        }
    }

    /// The configured plan of a subscription: the first plan (in config order) whose price
    /// the subscription has.
    pub fn plan_of(&self, s: &SubState) -> Option<&PlanConfig> {
        self.config
            .plans
            .iter()
            .find(|p| s.price_ids.contains(&p.price_id))
    }

    /// Whether a subscription grants its plan's tier at `now`: an active status, its paid
    /// period (plus `period_end_grace`) not over, and a configured plan.
    pub fn grants(&self, s: &SubState, now: i64) -> bool {
        let grace = self.config.period_end_grace.as_secs() as i64;
        self.config.active_statuses.contains(&s.status)
            && s.current_period_end
                .is_none_or(|end| now < end.saturating_add(grace))
            && self.plan_of(s).is_some()
    }

    /// The effective tier for a profile and the token's tier claim (see the module docs
    /// for the precedence).
    pub fn resolve(&self, profile: &Map<String, Value>, claim: Option<&str>, now: i64) -> Resolved {
        let stripe = StripeState::from_profile(profile).unwrap_or_default();
        let granting = stripe
            .subscriptions
            .iter()
            .filter(|(_, s)| self.grants(s, now))
            .max_by_key(|(_, s)| (s.event_created, s.applied_at));
        let latest = stripe
            .subscriptions
            .iter()
            .max_by_key(|(_, s)| (s.event_created, s.applied_at));
        let shown = granting.or(latest).map(|(id, s)| (id.clone(), s.clone()));
        let plan = granting.and_then(|(_, s)| self.plan_of(s)).cloned();
        let (tier, source) = if let Some(t) = stored_tier(profile) {
            (t, Source::Operator)
        } else if let Some(p) = &plan {
            (p.tier.clone(), Source::Stripe)
        } else if !stripe.subscriptions.is_empty() {
            (self.config.default_tier.clone(), Source::Stripe)
        } else if let Some(c) = claim {
            (c.to_string(), Source::Token)
        } else {
            (crate::auth::DEFAULT_TIER.to_string(), Source::Default)
        };
        Resolved {
            tier,
            source,
            subscription: shown,
            plan,
        }
    }

    /// The user a subscription belongs to: its metadata (`"<iss>|<sub>"`, an issuer we
    /// trust, plus the tenant key), else the stored customer mapping.
    async fn user_of(
        &self,
        kv: &dyn KvStore,
        sub: &Subscription,
    ) -> Result<(Option<UserRef>, bool), StorageError> {
        let s = &self.config.stripe;
        if let Some(named) = sub.metadata(&s.subject_metadata_key) {
            // The subject may itself contain '|' (e.g. "auth0|123"); issuers do not.
            let parsed = named.split_once('|').and_then(|(iss, subject)| {
                let tenant = sub
                    .metadata(&s.tenant_metadata_key)
                    .unwrap_or(&self.default_tenant);
                let ok = self.issuers.iter().any(|i| i == iss)
                    && crate::config::is_valid_name(tenant)
                    && crate::storage::check_key(subject).is_ok();
                ok.then(|| UserRef {
                    issuer: iss.to_string(),
                    subject: subject.to_string(),
                    tenant: tenant.to_string(),
                })
            });
            match parsed {
                Some(u) => return Ok((Some(u), true)),
                None => tracing::warn!(
                    target: "billing",
                    subscription = %sub.id,
                    "subscription metadata {:?} does not name a user of a trusted issuer (\"<iss>|<sub>\"); trying the customer mapping",
                    s.subject_metadata_key
                ),
            }
        }
        Ok((
            store::customer(kv, &self.config.namespace, sub.customer_id()).await?,
            false,
        ))
    }

    /// Reads a verified body as an event (400 when it is not one: retrying cannot help).
    pub fn parse(body: &[u8]) -> Result<Event, ProcessError> {
        serde_json::from_slice(body)
            .map_err(|_| ProcessError::Invalid("the body is not a Stripe event".into()))
    }

    /// Processes one verified event. Idempotent: a redelivery is a `Duplicate`, and a
    /// crash between the profile write and the event record only means the redelivery is
    /// recognised by the profile's own ordering key instead.
    pub async fn process(
        &self,
        kv: &dyn KvStore,
        event: &Event,
        now: i64,
    ) -> Result<Outcome, ProcessError> {
        let kind = Kind::of(&event.kind);
        let ns = &self.config.events_namespace;
        crate::storage::check_key(&store::event_key(&event.id))
            .map_err(|_| ProcessError::Invalid("the event id is not usable".into()))?;
        if self
            .config
            .stripe
            .livemode
            .is_some_and(|m| m != event.livemode)
        {
            return Ok(Outcome::Ignored);
        }
        if store::seen(kv, ns, &event.id, now).await? {
            return Ok(Outcome::Duplicate);
        }
        let outcome = match kind {
            Kind::Other => Outcome::Ignored,
            _ => {
                let sub: Subscription =
                    serde_json::from_value(event.data.object.clone()).map_err(|_| {
                        ProcessError::Invalid("the event's object is not a subscription".into())
                    })?;
                let (user, from_metadata) = self.user_of(kv, &sub).await?;
                let Some(user) = user else {
                    tracing::warn!(
                        target: "billing",
                        event_id = %event.id,
                        subscription = %sub.id,
                        customer = %sub.customer_id(),
                        "no user for this subscription: set its metadata {:?} to \"<iss>|<sub>\" (docs/billing.md), then resend the event",
                        self.config.stripe.subject_metadata_key
                    );
                    return Ok(Outcome::Unmatched);
                };
                if from_metadata {
                    let known =
                        store::customer(kv, &self.config.namespace, sub.customer_id()).await?;
                    if known.as_ref() != Some(&user) {
                        store::remember_customer(
                            kv,
                            &self.config.namespace,
                            sub.customer_id(),
                            &user,
                        )
                        .await?;
                    }
                }
                let state = sub.state(event, kind, now);
                let grants_if_mapped = self.config.active_statuses.contains(&state.status);
                let unknown_price = grants_if_mapped && self.plan_of(&state).is_none();
                if unknown_price {
                    tracing::warn!(
                        target: "billing",
                        event_id = %event.id,
                        subscription = %sub.id,
                        prices = ?state.price_ids,
                        "no [[billing.plans]] entry has this subscription's price; it grants no tier"
                    );
                }
                let decision = store::apply(
                    kv,
                    &self.users_namespace,
                    &user,
                    &sub.id,
                    kind,
                    state,
                    |s| self.grants(s, now),
                )
                .await?;
                let outcome = match decision {
                    Decision::Apply if unknown_price => Outcome::UnknownPrice,
                    Decision::Apply => Outcome::Applied,
                    Decision::Stale => Outcome::Stale,
                    Decision::Duplicate => Outcome::Duplicate,
                };
                tracing::info!(
                    target: "billing",
                    event_id = %event.id,
                    event_type = kind.label(),
                    subscription = %sub.id,
                    tenant = %user.tenant,
                    subject = %user.subject,
                    outcome = outcome.as_str(),
                    "stripe event processed"
                );
                outcome
            }
        };
        store::record(
            kv,
            ns,
            event,
            outcome.as_str(),
            self.config.event_ttl.as_secs() as i64,
            now,
        )
        .await?;
        self.maybe_sweep(kv, now).await;
        Ok(outcome)
    }

    /// Now and then, one page of expired event records is deleted (the embedded store has
    /// no TTL of its own; on DynamoDB this only finds what its TTL has not removed yet).
    async fn maybe_sweep(&self, kv: &dyn KvStore, now: i64) {
        if !self
            .recorded
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            return;
        }
        let cursor = self.sweep_cursor.lock().ok().and_then(|c| c.clone());
        match store::sweep(kv, &self.config.events_namespace, cursor, now).await {
            Ok(next) => {
                if let Ok(mut c) = self.sweep_cursor.lock() {
                    *c = next;
                }
            }
            Err(e) => tracing::debug!(target: "billing", error = %e, "event record sweep failed"),
        }
    }
}

/// The operator-set tier of a profile (`user set-tier`), if any.
pub fn stored_tier(profile: &Map<String, Value>) -> Option<String> {
    profile
        .get("tier")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn billing() -> Billing {
        let mut config = BillingConfig {
            enabled: true,
            ..BillingConfig::default()
        };
        config.plans.push(PlanConfig {
            id: "premium-monthly".into(),
            name: "Premium".into(),
            description: None,
            price_id: "price_p".into(),
            tier: "premium".into(),
            amount: None,
            currency: None,
            interval: None,
        });
        Billing {
            config,
            secret: WebhookSecret::Static(SecretBytes::new(b"whsec_0123456789abcdef".to_vec())),
            issuers: vec!["iss".into()],
            default_tenant: "default".into(),
            users_namespace: "users".into(),
            recorded: AtomicU64::new(0),
            sweep_cursor: Mutex::new(None),
        }
    }

    fn profile(
        status: &str,
        price: &str,
        period_end: i64,
        tier: Option<&str>,
    ) -> Map<String, Value> {
        let mut p = json!({"billing": {"stripe": {"subscriptions": {"sub_1": {
            "customerId": "cus_1", "status": status, "priceIds": [price],
            "currentPeriodEnd": period_end, "cancelAtPeriodEnd": false,
            "eventId": "evt_1", "eventCreated": 10, "eventRank": 1, "appliedAt": 10
        }}}}});
        if let Some(t) = tier {
            p["tier"] = json!(t);
        }
        p.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn precedence_operator_stripe_claim_default() {
        let b = billing();
        let now = 1_000_000;
        let active = profile("active", "price_p", now + 100, None);
        let r = b.resolve(&active, Some("gold"), now);
        assert_eq!((r.tier.as_str(), r.source), ("premium", Source::Stripe));
        assert_eq!(r.plan.map(|p| p.id), Some("premium-monthly".into()));
        let op = profile("active", "price_p", now + 100, Some("staff"));
        assert_eq!(b.resolve(&op, Some("gold"), now).source, Source::Operator);
        let ended = profile("canceled", "price_p", now + 100, None);
        let r = b.resolve(&ended, Some("gold"), now);
        assert_eq!((r.tier.as_str(), r.source), ("free", Source::Stripe));
        assert_eq!(r.subscription.map(|(id, _)| id), Some("sub_1".into()));
        let none = Map::new();
        assert_eq!(b.resolve(&none, Some("gold"), now).source, Source::Token);
        let r = b.resolve(&none, None, now);
        assert_eq!((r.tier.as_str(), r.source), ("free", Source::Default));
    }

    #[test]
    fn expiry_grace_and_unknown_prices() {
        let b = billing();
        let now = 1_000_000;
        let grace = b.config.period_end_grace.as_secs() as i64;
        let in_grace = profile("active", "price_p", now - grace + 1, None);
        assert_eq!(b.resolve(&in_grace, None, now).tier, "premium");
        let past = profile("active", "price_p", now - grace, None);
        assert_eq!(b.resolve(&past, None, now).tier, "free");
        let unpaid = profile("unpaid", "price_p", now + 100, None);
        assert_eq!(b.resolve(&unpaid, None, now).tier, "free");
        let unknown = profile("active", "price_other", now + 100, None);
        let r = b.resolve(&unknown, None, now);
        assert_eq!((r.tier.as_str(), r.plan.is_none()), ("free", true));
    }
}
