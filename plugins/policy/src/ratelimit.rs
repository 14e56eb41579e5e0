//! Per-principal request budgets, kept by the host.
//!
//! Each request spends one unit of its caller's budget through the host's `limits`
//! import: an in-memory rate limiter keyed per plugin, tenant and key, so counting costs
//! no storage write and concurrent requests of one principal never race each other into
//! a refusal. A budget of `limit` per window refills continuously (a caller quiet for a
//! whole window may spend all of it at once), rather than resetting on a boundary.
//!
//! The key is `u/{tenant}/{subject}` (the principal's own tenant: on a shared-catalog
//! route the host scopes keys to the route's tenant, so the principal's is named here),
//! or `a/{client address}` for callers without a token (`anonymous` where the host gives
//! no address), so that one anonymous client cannot lock out the others.

use std::collections::BTreeMap;

/// Keys longer than this are hashed (kv keys are at most 512 bytes,
/// tenant prefix included).
const MAX_PLAIN_KEY: usize = 200;

/// Parsed `rate_limits` / `rate_window` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Window length in milliseconds (> 0).
    pub window_ms: u64,
    /// Requests per window by tier name.
    pub tiers: BTreeMap<String, u64>,
    /// For authenticated principals whose tier is not listed; `None`: not limited.
    pub default: Option<u64>,
    /// The budget of each anonymous client (by address) of a tenant; `None`: not limited.
    pub anonymous: Option<u64>,
}

impl Limits {
    /// The limit for a caller: `tier` of an authenticated principal, `None` for anonymous.
    pub fn limit_for(&self, tier: Option<&str>) -> Option<u64> {
        match tier {
            None => self.anonymous,
            Some(t) => self.tiers.get(t).copied().or(self.default),
        }
    }
}

/// Whose budget a request spends: a principal as (tenant, subject), or anonymous.
/// Tenant names contain no `/`, so the key is unambiguous.
pub fn counter_key(principal: Option<(&str, &str)>) -> String {
    match principal {
        None => "anonymous".to_owned(),
        Some((tenant, subject)) => {
            let key = format!("u/{tenant}/{subject}");
            if key.len() <= MAX_PLAIN_KEY {
                return key;
            }
            // Two 64-bit FNV-1a hashes with different offsets: a collision would merely
            // share a budget between two principals with absurdly long subjects.
            format!(
                "h/{:016x}{:016x}",
                fnv1a(key.as_bytes(), 0xcbf2_9ce4_8422_2325),
                fnv1a(key.as_bytes(), 0x6c62_272e_07bb_0142)
            )
        }
    }
}

/// The budget of an anonymous caller: one per client address (`None`, on a transport
/// without one: the shared anonymous budget).
pub fn anonymous_key(client: Option<&str>) -> String {
    match client {
        // Addresses are short; the bound only guards against a host sending anything else.
        Some(c) if c.len() <= MAX_PLAIN_KEY - 2 => format!("a/{c}"),
        Some(c) => format!("a/{:016x}", fnv1a(c.as_bytes(), 0xcbf2_9ce4_8422_2325)),
        None => "anonymous".to_owned(),
    }
}

fn fnv1a(bytes: &[u8], offset: u64) -> u64 {
    bytes.iter().fold(offset, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The host's request budgets (the `limits` import in the component, a map in unit
/// tests).
pub trait Budgets {
    /// Spends one request of `limit` per `window_ms` from `key`'s budget.
    fn spend(&self, key: &str, limit: u64, window_ms: u64) -> Spent;
}

/// What a budget said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Milliseconds until the budget is full again.
    pub reset_ms: u64,
    /// When refused: milliseconds until one more request fits.
    pub retry_after_ms: u64,
}

impl Spent {
    /// `X-RateLimit-*` response headers (seconds, rounded up: a client that waits the
    /// advertised time is never early).
    pub fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("X-RateLimit-Limit".to_owned(), self.limit.to_string()),
            (
                "X-RateLimit-Remaining".to_owned(),
                self.remaining.to_string(),
            ),
            (
                "X-RateLimit-Reset".to_owned(),
                self.reset_ms.div_ceil(1000).to_string(),
            ),
        ]
    }

    /// Whole seconds until a refused request may be retried (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_ms.div_ceil(1000).max(1)
    }
}

/// Parses a window such as `"60s"`, `"1m"`, `"1h"`, `"500ms"` or a bare number of
/// seconds. `None` for anything else, including zero.
pub fn parse_window(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let (digits, unit_ms) = if let Some(n) = raw.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = raw.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = raw.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = raw.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (raw, 1000)
    };
    let n: u64 = digits.trim().parse().ok()?;
    n.checked_mul(unit_ms).filter(|ms| *ms > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn keys_and_headers() {
        assert_eq!(counter_key(None), "anonymous");
        assert_eq!(anonymous_key(None), "anonymous");
        assert_eq!(anonymous_key(Some("192.0.2.1")), "a/192.0.2.1");
        assert_ne!(
            anonymous_key(Some("192.0.2.1")),
            anonymous_key(Some("192.0.2.2"))
        );
        assert_eq!(counter_key(Some(("acme", "alice"))), "u/acme/alice");
        // The same subject in another tenant is another principal.
        assert_ne!(
            counter_key(Some(("acme", "alice"))),
            counter_key(Some(("other", "alice")))
        );
        let long = "x".repeat(1000);
        let k = counter_key(Some(("acme", &long)));
        assert!(k.starts_with("h/") && k.len() == 34, "{k}");
        assert_ne!(k, counter_key(Some(("acme", &"y".repeat(1000)))));
        assert_ne!(k, counter_key(Some(("other", &long))));
        let b = Spent {
            allowed: true,
            limit: 60,
            remaining: 59,
            reset_ms: 11_001,
            retry_after_ms: 0,
        };
        assert_eq!(b.retry_after_secs(), 1);
        assert_eq!(
            b.headers(),
            [
                ("X-RateLimit-Limit".to_owned(), "60".to_owned()),
                ("X-RateLimit-Remaining".to_owned(), "59".to_owned()),
                ("X-RateLimit-Reset".to_owned(), "12".to_owned()),
            ]
        );
    }

    #[test]
    fn limits_per_caller() {
        let l = Limits {
            window_ms: MIN,
            tiers: [("free".to_owned(), 60), ("premium".to_owned(), 600)].into(),
            default: Some(30),
            anonymous: Some(10),
        };
        assert_eq!(l.limit_for(Some("free")), Some(60));
        assert_eq!(l.limit_for(Some("premium")), Some(600));
        assert_eq!(l.limit_for(Some("gold")), Some(30));
        assert_eq!(l.limit_for(None), Some(10));
        let open = Limits {
            default: None,
            anonymous: None,
            ..l
        };
        assert_eq!(open.limit_for(Some("gold")), None);
        assert_eq!(open.limit_for(None), None);
    }

    #[test]
    fn windows() {
        assert_eq!(parse_window("60s"), Some(60_000));
        assert_eq!(parse_window(" 2m "), Some(120_000));
        assert_eq!(parse_window("1h"), Some(3_600_000));
        assert_eq!(parse_window("250ms"), Some(250));
        assert_eq!(parse_window("90"), Some(90_000));
        for bad in ["", "0s", "-1s", "1d", "s", "1.5s", "abc"] {
            assert_eq!(parse_window(bad), None, "{bad}");
        }
    }
}
