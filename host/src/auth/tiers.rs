//! The stored-profile tier of recently seen callers, cached next to the verified-token
//! cache so that a request whose token has no tier claim does not read the profile from
//! storage every time.
//!
//! Entries live [`TIER_TTL`] at most: a tier changed on another host (an operator's
//! `user set-tier`, billing) takes effect here within that bound. A change made through
//! this host (`PUT /users/me`, the admin and billing endpoints) invalidates the entry at
//! once.

use moka::sync::Cache;
use std::time::Duration;

/// Longest a cached tier is used (the documented bound on cross-host tier changes).
pub const TIER_TTL: Duration = Duration::from_secs(10);
/// Callers remembered at once.
const MAX_ENTRIES: u64 = 100_000;

/// `(namespace, tenant, subject)` → the profile's tier (`None`: the profile names none).
pub struct TierCache {
    entries: Cache<(String, String, String), Option<String>>,
}

impl Default for TierCache {
    fn default() -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(TIER_TTL)
                .build(),
        }
    }
}

impl TierCache {
    fn key(namespace: &str, tenant: &str, subject: &str) -> (String, String, String) {
        (namespace.into(), tenant.into(), subject.into())
    }

    /// `Some(tier)` when cached (the tier itself may be `None`).
    pub fn get(&self, namespace: &str, tenant: &str, subject: &str) -> Option<Option<String>> {
        self.entries.get(&Self::key(namespace, tenant, subject))
    }

    pub fn insert(&self, namespace: &str, tenant: &str, subject: &str, tier: Option<String>) {
        self.entries
            .insert(Self::key(namespace, tenant, subject), tier);
    }

    /// Forgets a caller's tier after their profile changed on this host.
    pub fn invalidate(&self, namespace: &str, tenant: &str, subject: &str) {
        self.entries
            .invalidate(&Self::key(namespace, tenant, subject));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_and_invalidates() {
        let c = TierCache::default();
        assert_eq!(c.get("users", "t", "alice"), None);
        c.insert("users", "t", "alice", Some("premium".into()));
        c.insert("users", "t", "bob", None);
        assert_eq!(c.get("users", "t", "alice"), Some(Some("premium".into())));
        assert_eq!(c.get("users", "t", "bob"), Some(None));
        assert_eq!(c.get("users", "u", "alice"), None, "tenants are apart");
        c.invalidate("users", "t", "alice");
        assert_eq!(c.get("users", "t", "alice"), None);
    }
}
