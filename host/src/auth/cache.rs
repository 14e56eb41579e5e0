//! Cache of successful token verifications, so that the steady state of a client reusing
//! its token costs one SHA-256 and a map lookup instead of a signature check (RS256 costs
//! ~20 µs of CPU here, HS256 ~1.4 µs).
//!
//! Keyed by SHA-256 of the whole token (a forged token cannot collide with a verified one),
//! bounded in size, and an entry is never used at or past the token's own `exp`. Written
//! by hand because it is a few dozen lines and needs per-entry expiry equal to each token's
//! `exp`, which general-purpose caches express only through extra machinery.

use super::Principal;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest an entry lives, whatever the token's `exp`: a verification depends on keys that
/// can be withdrawn (a JWKS key the issuer retired, an HS256 secret past its rotation grace
/// period), and this bounds how long a cached verification outlives them.
pub const MAX_ENTRY_SECS: u64 = 300;

pub struct VerifiedCache {
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

struct Entry {
    principal: Principal,
    /// Unix seconds; the entry is dead from this second on.
    expires_at: u64,
}

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The principal of a previously verified, still unexpired token.
    pub fn get(&self, token: &str, now: u64) -> Option<Principal> {
        let map = self.entries.lock().ok()?;
        let e = map.get(&key(token))?;
        (now < e.expires_at).then(|| e.principal.clone())
    }

    /// Remembers a verified token until its `exp`, at most [`MAX_ENTRY_SECS`].
    pub fn insert(&self, token: &str, principal: Principal, expires_at: u64, now: u64) {
        if self.capacity == 0 || expires_at <= now {
            return;
        }
        let expires_at = expires_at.min(now.saturating_add(MAX_ENTRY_SECS));
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        if map.len() >= self.capacity {
            map.retain(|_, e| e.expires_at > now);
        }
        if map.len() >= self.capacity {
            // Still full of live tokens: drop an arbitrary tenth rather than scanning for
            // the oldest; a dropped entry only costs one more verification.
            let victims: Vec<[u8; 32]> = map.keys().take(self.capacity / 10 + 1).copied().collect();
            for k in victims {
                map.remove(&k);
            }
        }
        map.insert(
            key(token),
            Entry {
                principal,
                expires_at,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(sub: &str) -> Principal {
        Principal {
            subject: sub.into(),
            tenant: "t".into(),
            scopes: vec![],
            groups: vec![],
            tier: "free".into(),
            tier_from_claim: true,
        }
    }

    #[test]
    fn entries_die_at_exp_and_other_tokens_miss() {
        let c = VerifiedCache::new(10);
        c.insert("tok-a", p("a"), 100, 50);
        assert_eq!(c.get("tok-a", 99).unwrap().subject, "a");
        assert!(c.get("tok-a", 100).is_none(), "never past exp");
        assert!(c.get("tok-b", 60).is_none());
        c.insert("expired", p("x"), 40, 50);
        assert!(
            c.get("expired", 10).is_none(),
            "already-expired tokens are not stored"
        );
    }

    #[test]
    fn size_is_bounded() {
        let c = VerifiedCache::new(20);
        for i in 0..100 {
            c.insert(&format!("tok-{i}"), p("s"), 1000, 1);
        }
        assert!(c.len() <= 20);
        assert!(c.get("tok-99", 2).is_some(), "the newest entry is kept");
    }

    #[test]
    fn entries_live_at_most_max_entry_secs() {
        let c = VerifiedCache::new(10);
        c.insert("t", p("a"), 1_000_000, 1000);
        assert!(c.get("t", 1000 + MAX_ENTRY_SECS - 1).is_some());
        assert!(c.get("t", 1000 + MAX_ENTRY_SECS).is_none());
    }
}
