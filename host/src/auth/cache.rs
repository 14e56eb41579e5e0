//! Cache of successful token verifications, so that the steady state of a client reusing
//! its token costs one SHA-256 and a map lookup instead of a signature check (RS256 costs
//! ~20 µs of CPU here, HS256 ~1.4 µs).
//!
//! Keyed by SHA-256 of the whole token (a forged token cannot collide with a verified one),
//! bounded in size (moka: TinyLFU admission, so a burst of one-shot tokens cannot flush the
//! tokens clients keep reusing), and an entry is never used at or past the token's own
//! `exp` nor more than [`MAX_ENTRY_SECS`] after it was verified.
//!
//! One cache belongs to one auth configuration: `AuthState` hands the same cache to the
//! next snapshot only when the auth config is unchanged, and a fresh one otherwise (never
//! a cleared shared one, which requests still running on the old snapshot could refill
//! with verifications the new config would refuse).

use super::Principal;
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest an entry lives, whatever the token's `exp`: a verification depends on keys that
/// can be withdrawn (a JWKS key the issuer retired, an HS256 secret past its rotation grace
/// period), and this bounds how long a cached verification outlives them.
pub const MAX_ENTRY_SECS: u64 = 300;

pub struct VerifiedCache {
    /// `None` when disabled (capacity 0: benchmarks of the uncached path).
    entries: Option<Cache<[u8; 32], Entry>>,
}

#[derive(Clone)]
struct Entry {
    principal: Principal,
    /// Unix seconds; the entry is dead from this second on. Checked on every read: moka's
    /// own expiry (below) runs on a monotonic clock from the insertion instant and can be
    /// up to a second late against the wall-clock `exp`; it only reclaims memory.
    expires_at: u64,
    /// `expires_at - now` at insertion, for moka's per-entry expiry.
    ttl: Duration,
}

/// Per-entry expiry: the token's own lifetime, capped at [`MAX_ENTRY_SECS`].
struct TokenExpiry;

impl moka::Expiry<[u8; 32], Entry> for TokenExpiry {
    fn expire_after_create(&self, _: &[u8; 32], e: &Entry, _: Instant) -> Option<Duration> {
        Some(e.ttl)
    }

    // The same token verified again (two requests raced past the cache): the new entry's
    // lifetime, which is never later than the old one's `exp`.
    fn expire_after_update(
        &self,
        _: &[u8; 32],
        e: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(e.ttl)
    }
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
    /// A cache of at most `capacity` verified tokens; 0 disables it.
    pub fn new(capacity: usize) -> Self {
        let entries = (capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity as u64)
                .expire_after(TokenExpiry)
                .build()
        });
        Self { entries }
    }

    /// The principal of a previously verified, still unexpired token.
    pub fn get(&self, token: &str, now: u64) -> Option<Principal> {
        let e = self.entries.as_ref()?.get(&key(token))?;
        (now < e.expires_at).then_some(e.principal)
    }

    /// Remembers a verified token until its `exp`, at most [`MAX_ENTRY_SECS`].
    pub fn insert(&self, token: &str, principal: Principal, expires_at: u64, now: u64) {
        let Some(entries) = &self.entries else {
            return;
        };
        if expires_at <= now {
            return;
        }
        let expires_at = expires_at.min(now.saturating_add(MAX_ENTRY_SECS));
        entries.insert(
            key(token),
            Entry {
                principal,
                expires_at,
                ttl: Duration::from_secs(expires_at - now),
            },
        );
    }

    /// Entries held (approximate: moka applies evictions in batches).
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.entry_count() as usize
        })
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
            issuer: None,
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
        assert!(c.len() <= 20, "{} entries", c.len());
        assert!(!c.is_empty());
    }

    #[test]
    fn entries_live_at_most_max_entry_secs() {
        let c = VerifiedCache::new(10);
        c.insert("t", p("a"), 1_000_000, 1000);
        assert!(c.get("t", 1000 + MAX_ENTRY_SECS - 1).is_some());
        assert!(c.get("t", 1000 + MAX_ENTRY_SECS).is_none());
    }

    #[test]
    fn moka_drops_entries_after_their_lifetime() {
        let c = VerifiedCache::new(10);
        let now = now_secs();
        c.insert("short", p("a"), now + 1, now);
        c.insert("long", p("b"), now + 100, now);
        std::thread::sleep(Duration::from_millis(1100));
        assert!(c.get("short", now).is_none(), "moka expired it by itself");
        assert!(c.get("long", now).is_some());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn capacity_zero_stores_nothing() {
        let c = VerifiedCache::new(0);
        c.insert("t", p("a"), 100, 1);
        assert!(c.get("t", 2).is_none());
        assert!(c.is_empty());
    }
}
