//! Stripe events and the subscription state kept per user, with the ordering rule that
//! keeps a late delivery from rolling a newer state back. Pure functions: no storage here.
//!
//! Shapes follow Stripe's API reference (event object, subscription object). Only the
//! fields used are read; everything else, including payment details, is ignored and never
//! stored. Since API version 2025-03-31 `current_period_end` lives on the subscription
//! items rather than the subscription; both places are read.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Statuses a subscription never leaves (Stripe cannot reactivate a canceled subscription).
pub const TERMINAL: [&str; 2] = ["canceled", "incomplete_expired"];

/// Subscriptions remembered per user (old, ended ones are dropped first).
pub const MAX_SUBSCRIPTIONS: usize = 8;

#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds at which Stripe created the event: the order of events.
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

/// What an event type means here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Created,
    Updated,
    Deleted,
    /// Another `customer.subscription.*` event (paused, resumed, trial_will_end, …): it
    /// carries the subscription as it is now, so it is applied like `updated`.
    OtherSubscription,
    Other,
}

impl Kind {
    pub fn of(t: &str) -> Self {
        match t {
            "customer.subscription.created" => Self::Created,
            "customer.subscription.updated" => Self::Updated,
            "customer.subscription.deleted" => Self::Deleted,
            t if t.starts_with("customer.subscription.") => Self::OtherSubscription,
            _ => Self::Other,
        }
    }

    /// The metric label: a closed set whatever Stripe sends.
    pub fn label(self) -> &'static str {
        match self {
            Self::Created => "customer.subscription.created",
            Self::Updated => "customer.subscription.updated",
            Self::Deleted => "customer.subscription.deleted",
            Self::OtherSubscription => "customer.subscription.other",
            Self::Other => "other",
        }
    }

    /// Tie-break between events of the same second: a subscription is created before it is
    /// updated, and deleted last.
    fn rank(self) -> u8 {
        match self {
            Self::Created => 0,
            Self::Updated | Self::OtherSubscription | Self::Other => 1,
            Self::Deleted => 2,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub customer: Expandable,
    pub status: String,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub current_period_end: Option<i64>,
    #[serde(default)]
    pub cancel_at_period_end: Option<bool>,
    #[serde(default)]
    pub items: Option<List<Item>>,
    /// Legacy single-plan field.
    #[serde(default)]
    pub plan: Option<IdOnly>,
}

/// A reference Stripe sends as an id, or as the object when expanded.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Expandable {
    Id(String),
    Object { id: String },
}

#[derive(Debug, Deserialize)]
pub struct List<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

#[derive(Debug, Deserialize)]
pub struct Item {
    #[serde(default)]
    pub price: Option<IdOnly>,
    #[serde(default)]
    pub plan: Option<IdOnly>,
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct IdOnly {
    pub id: String,
}

impl Subscription {
    pub fn customer_id(&self) -> &str {
        match &self.customer {
            Expandable::Id(id) | Expandable::Object { id } => id,
        }
    }

    /// A metadata value, if it is a non-empty string.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .as_ref()?
            .get(key)?
            .as_str()
            .filter(|s| !s.is_empty())
    }

    /// Every price the subscription is for, items first (then the legacy `plan`).
    pub fn price_ids(&self) -> Vec<String> {
        let mut v = Vec::new();
        for it in self.items.iter().flat_map(|l| &l.data) {
            if let Some(id) = it.price.as_ref().or(it.plan.as_ref()).map(|p| &p.id)
                && !v.contains(id)
            {
                v.push(id.clone());
            }
        }
        if let Some(p) = &self.plan
            && !v.contains(&p.id)
        {
            v.push(p.id.clone());
        }
        v
    }

    /// The end of the paid period: the subscription's own field (API versions before
    /// 2025-03-31), else the latest of its items'.
    pub fn period_end(&self) -> Option<i64> {
        self.current_period_end.or_else(|| {
            self.items
                .iter()
                .flat_map(|l| &l.data)
                .filter_map(|i| i.current_period_end)
                .max()
        })
    }

    /// The state this event leaves the subscription in.
    pub fn state(&self, event: &Event, kind: Kind, now: i64) -> SubState {
        let mut status = self.status.clone();
        // A deleted subscription has ended, whatever status the object carries.
        if kind == Kind::Deleted && !TERMINAL.contains(&status.as_str()) {
            status = "canceled".into();
        }
        SubState {
            customer_id: self.customer_id().to_string(),
            status,
            price_ids: self.price_ids(),
            current_period_end: self.period_end(),
            cancel_at_period_end: self.cancel_at_period_end.unwrap_or(false),
            event_id: event.id.clone(),
            event_created: event.created,
            event_rank: kind.rank(),
            applied_at: now,
        }
    }
}

/// One subscription as stored in the user's profile (`billing.stripe.subscriptions.<id>`).
/// The tier is not stored: it is derived from `price_ids` with the configured plans when
/// read, so fixing the plans fixes every user at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubState {
    pub customer_id: String,
    pub status: String,
    #[serde(default)]
    pub price_ids: Vec<String>,
    #[serde(default)]
    pub current_period_end: Option<i64>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    /// The last event applied, its `created` and type rank: the ordering key.
    pub event_id: String,
    pub event_created: i64,
    #[serde(default)]
    pub event_rank: u8,
    /// When it was applied here (unix seconds).
    #[serde(default)]
    pub applied_at: i64,
}

/// The Stripe part of a profile: `{"billing": {"stripe": {"subscriptions": {...}}}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeState {
    #[serde(default)]
    pub subscriptions: BTreeMap<String, SubState>,
}

impl StripeState {
    pub fn from_profile(profile: &serde_json::Map<String, serde_json::Value>) -> Option<Self> {
        let v = profile.get("billing")?.get("stripe")?;
        serde_json::from_value(v.clone()).ok()
    }

    pub fn store_in(&self, profile: &mut serde_json::Map<String, serde_json::Value>) {
        let billing = profile
            .entry("billing")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if !billing.is_object() {
            *billing = serde_json::Value::Object(Default::default());
        }
        if let (Some(b), Ok(v)) = (billing.as_object_mut(), serde_json::to_value(self)) {
            b.insert("stripe".into(), v);
        }
    }

    /// Inserts `state` and keeps at most [`MAX_SUBSCRIPTIONS`], dropping the oldest ended
    /// ones first (then the oldest at all), never the one just inserted.
    pub fn insert(&mut self, id: &str, state: SubState, granting: impl Fn(&SubState) -> bool) {
        self.subscriptions.insert(id.to_string(), state);
        while self.subscriptions.len() > MAX_SUBSCRIPTIONS {
            let victim = self
                .subscriptions
                .iter()
                .filter(|(k, _)| k.as_str() != id)
                .min_by_key(|(_, s)| (granting(s), s.event_created))
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => self.subscriptions.remove(&k),
                None => break,
            };
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Apply,
    /// An older event than the one applied (or one that would revive an ended subscription).
    Stale,
    /// This very event was applied already.
    Duplicate,
}

/// Whether an event (`id`, `created`, `kind`) may replace the stored state of its
/// subscription. Events are ordered by (`created`, type rank); within the same second and
/// rank the later delivery wins, except that nothing replaces an ended subscription but
/// its own deletion.
pub fn decide(existing: Option<&SubState>, id: &str, created: i64, kind: Kind) -> Decision {
    let Some(old) = existing else {
        return Decision::Apply;
    };
    if old.event_id == id {
        return Decision::Duplicate;
    }
    let rank = kind.rank();
    if TERMINAL.contains(&old.status.as_str()) && kind != Kind::Deleted {
        return Decision::Stale;
    }
    let new_key = (created, rank);
    let old_key = (old.event_created, old.event_rank);
    if new_key > old_key || (new_key == old_key && kind != Kind::Created) {
        Decision::Apply
    } else {
        Decision::Stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(id: &str, created: i64, kind: Kind, status: &str) -> SubState {
        SubState {
            customer_id: "cus_1".into(),
            status: status.into(),
            price_ids: vec![],
            current_period_end: None,
            cancel_at_period_end: false,
            event_id: id.into(),
            event_created: created,
            event_rank: kind.rank(),
            applied_at: 0,
        }
    }

    #[test]
    fn ordering() {
        use Decision::*;
        assert_eq!(decide(None, "e1", 10, Kind::Updated), Apply);
        let upd = st("e2", 20, Kind::Updated, "active");
        assert_eq!(decide(Some(&upd), "e2", 20, Kind::Updated), Duplicate);
        assert_eq!(decide(Some(&upd), "e1", 10, Kind::Updated), Stale, "older");
        assert_eq!(decide(Some(&upd), "e3", 30, Kind::Updated), Apply, "newer");
        assert_eq!(
            decide(Some(&upd), "e0", 20, Kind::Created),
            Stale,
            "created in the same second as an update came first"
        );
        assert_eq!(decide(Some(&upd), "e4", 20, Kind::Updated), Apply);
        assert_eq!(decide(Some(&upd), "e5", 20, Kind::Deleted), Apply);
        let del = st("e6", 30, Kind::Deleted, "canceled");
        assert_eq!(decide(Some(&del), "e7", 40, Kind::Updated), Stale, "ended");
        assert_eq!(decide(Some(&del), "e2", 20, Kind::Updated), Stale);
        assert_eq!(decide(Some(&del), "e8", 31, Kind::Deleted), Apply);
    }

    #[test]
    fn parses_both_period_end_layouts_and_prices() {
        let legacy: Subscription = serde_json::from_value(serde_json::json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
            "current_period_end": 100, "plan": {"id": "price_a"},
            "items": {"object": "list", "data": [{"price": {"id": "price_a"}}]}
        }))
        .unwrap();
        assert_eq!(legacy.period_end(), Some(100));
        assert_eq!(legacy.price_ids(), vec!["price_a"]);
        let basil: Subscription = serde_json::from_value(serde_json::json!({
            "id": "sub_2", "customer": {"id": "cus_2", "object": "customer"}, "status": "active",
            "metadata": {"k": "v", "n": null},
            "items": {"data": [
                {"price": {"id": "price_b"}, "current_period_end": 200},
                {"price": {"id": "price_c"}, "current_period_end": 300}
            ]}
        }))
        .unwrap();
        assert_eq!(basil.period_end(), Some(300));
        assert_eq!(basil.customer_id(), "cus_2");
        assert_eq!(basil.price_ids(), vec!["price_b", "price_c"]);
        assert_eq!(basil.metadata("k"), Some("v"));
        assert_eq!(basil.metadata("n"), None);
    }

    #[test]
    fn insert_keeps_a_bounded_set() {
        let mut s = StripeState::default();
        for i in 0..20 {
            s.insert(
                &format!("sub_{i}"),
                st(&format!("e{i}"), i, Kind::Updated, "canceled"),
                |x| x.status == "active",
            );
        }
        assert_eq!(s.subscriptions.len(), MAX_SUBSCRIPTIONS);
        assert!(s.subscriptions.contains_key("sub_19"));
        assert!(!s.subscriptions.contains_key("sub_0"));
    }
}
