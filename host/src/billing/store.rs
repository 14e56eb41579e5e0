//! What billing keeps in storage, all in host-reserved kv namespaces (validation refuses
//! granting them to plugins) under the tenant [`HOST_TENANT`], which no real tenant can
//! have (tenant names start with a letter or digit):
//!
//! - `[billing] events_namespace`, key `evt/<event id>`: one record per processed event,
//!   `{"type", "created", "outcome", "expiresAt"}`. A record past `expiresAt` reads as
//!   absent; DynamoDB's TTL deletes it on AWS, [`sweep`] on the embedded store.
//! - `[billing] namespace`, key `cus/<customer id>`: the user a Stripe customer belongs to,
//!   `{"issuer", "subject", "tenant"}`, learnt from subscription metadata.
//! - The user's profile (`[users] namespace`, key = subject, in the user's tenant):
//!   `billing.stripe.subscriptions`, written with compare-and-set.

use super::events::{Decision, Event, Kind, StripeState, SubState, decide};
use crate::storage::{KvStore, Precondition, Scope, StorageError, WriteOp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The tenant of host-level billing records.
pub const HOST_TENANT: &str = "_billing";
/// Compare-and-set rounds before a contended profile write gives up (then 503: Stripe retries).
const MAX_ATTEMPTS: usize = 16;
/// Records looked at per sweep step.
const SWEEP_PAGE: usize = 100;

fn host_scope(ns: &str) -> Scope {
    Scope {
        space: ns.to_string(),
        tenant: HOST_TENANT.to_string(),
    }
}

pub fn event_key(id: &str) -> String {
    format!("evt/{id}")
}

/// Who a customer (or a subscription's metadata) names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub issuer: String,
    pub subject: String,
    pub tenant: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventRecord {
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    outcome: String,
    expires_at: i64,
}

/// Whether event `id` was processed and its record has not expired.
pub async fn seen(kv: &dyn KvStore, ns: &str, id: &str, now: i64) -> Result<bool, StorageError> {
    let Some(e) = kv.get(&host_scope(ns), &event_key(id)).await? else {
        return Ok(false);
    };
    // An unreadable record counts as present: reprocessing is harmless, but so is skipping
    // an event we did record.
    Ok(serde_json::from_slice::<EventRecord>(&e.value).map_or(true, |r| r.expires_at > now))
}

/// Records `event` as processed until `now + ttl`.
pub async fn record(
    kv: &dyn KvStore,
    ns: &str,
    event: &Event,
    outcome: &str,
    ttl_secs: i64,
    now: i64,
) -> Result<(), StorageError> {
    let rec = EventRecord {
        kind: Kind::of(&event.kind).label().to_string(),
        created: event.created,
        outcome: outcome.to_string(),
        expires_at: now.saturating_add(ttl_secs),
    };
    let value = serde_json::to_vec(&rec).map_err(|e| StorageError::Invalid(e.to_string()))?;
    kv.transact(
        &host_scope(ns),
        vec![WriteOp::Put {
            key: event_key(&event.id),
            value,
            precondition: Precondition::None,
        }],
    )
    .await
    .map(|_| ())
}

/// Deletes expired event records, one page per call, continuing after `cursor`; returns
/// the cursor of the next call (`None`: start over).
pub async fn sweep(
    kv: &dyn KvStore,
    ns: &str,
    cursor: Option<String>,
    now: i64,
) -> Result<Option<String>, StorageError> {
    let scope = host_scope(ns);
    let (page, more) = kv
        .query(&scope, "evt/", cursor.as_deref(), SWEEP_PAGE)
        .await?;
    for e in &page {
        let expired =
            serde_json::from_slice::<EventRecord>(&e.value).is_ok_and(|r| r.expires_at <= now);
        if expired {
            // A record rewritten since the read keeps living (version precondition).
            match kv
                .delete(&scope, &e.key, Precondition::Version(e.version))
                .await
            {
                Ok(_) | Err(StorageError::Conflict(_)) => {}
                Err(err) => return Err(err),
            }
        }
    }
    Ok(if more {
        page.last().map(|e| e.key.clone())
    } else {
        None
    })
}

fn customer_key(id: &str) -> String {
    format!("cus/{id}")
}

pub async fn customer(
    kv: &dyn KvStore,
    ns: &str,
    customer_id: &str,
) -> Result<Option<UserRef>, StorageError> {
    Ok(kv
        .get(&host_scope(ns), &customer_key(customer_id))
        .await?
        .and_then(|e| serde_json::from_slice(&e.value).ok()))
}

/// Remembers that `customer_id` is `user` (a later event without metadata finds them).
pub async fn remember_customer(
    kv: &dyn KvStore,
    ns: &str,
    customer_id: &str,
    user: &UserRef,
) -> Result<(), StorageError> {
    let value = serde_json::to_vec(user).map_err(|e| StorageError::Invalid(e.to_string()))?;
    kv.transact(
        &host_scope(ns),
        vec![WriteOp::Put {
            key: customer_key(customer_id),
            value,
            precondition: Precondition::None,
        }],
    )
    .await
    .map(|_| ())
}

/// Applies a subscription's new state to the user's profile unless the stored state is
/// newer (compare-and-set on the profile, so a concurrent `PUT /users/me`, `set-tier` or
/// delivery is never lost).
pub async fn apply(
    kv: &dyn KvStore,
    users_ns: &str,
    user: &UserRef,
    subscription_id: &str,
    kind: Kind,
    state: SubState,
    granting: impl Fn(&SubState) -> bool,
) -> Result<Decision, StorageError> {
    let scope = Scope {
        space: users_ns.to_string(),
        tenant: user.tenant.clone(),
    };
    for _ in 0..MAX_ATTEMPTS {
        let (mut profile, version) = match kv.get(&scope, &user.subject).await? {
            Some(e) => (
                serde_json::from_slice::<Map<String, Value>>(&e.value).unwrap_or_default(),
                e.version,
            ),
            None => (Map::new(), 0),
        };
        let mut stripe = StripeState::from_profile(&profile).unwrap_or_default();
        let d = decide(
            stripe.subscriptions.get(subscription_id),
            &state.event_id,
            state.event_created,
            kind,
        );
        if d != Decision::Apply {
            return Ok(d);
        }
        stripe.insert(subscription_id, state.clone(), &granting);
        stripe.store_in(&mut profile);
        let value =
            serde_json::to_vec(&profile).map_err(|e| StorageError::Invalid(e.to_string()))?;
        let precondition = if version == 0 {
            Precondition::Absent
        } else {
            Precondition::Version(version)
        };
        let op = WriteOp::Put {
            key: user.subject.clone(),
            value,
            precondition,
        };
        match kv.transact(&scope, vec![op]).await {
            Ok(_) => return Ok(Decision::Apply),
            Err(StorageError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StorageError::Unavailable(
        "the profile kept changing during the update".into(),
    ))
}
