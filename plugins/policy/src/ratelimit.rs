//! Per-principal request budgets: a fixed window per principal, counted in kv.
//!
//! One kv key per principal (`u/{tenant}/{subject}`; the host adds its own tenant prefix
//! below the plugin, which on a shared-catalog route is the route's tenant, hence the
//! principal's own tenant in the key) holds the
//! start of the principal's current window and how many requests it has used. Each
//! request reads the key and writes it back with a version precondition, retrying on a
//! conflict, so concurrent requests on any number of hosts never lose a count and the
//! number of keys stays bounded by the number of principals.
//!
//! The window starts with a principal's first request (not on the minute), so budgets
//! do not all reset at once. Time is the WASI wall clock: every host behind the load
//! balancer shares it, which a per-process monotonic clock would not be.

use std::collections::BTreeMap;

/// Attempts at the read-modify-write before the request is refused as a burst.
pub const MAX_ATTEMPTS: usize = 16;
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
    /// One budget shared by all anonymous callers of a tenant; `None`: not limited.
    pub anonymous: Option<u64>,
    /// kv namespace holding the counters (must be granted to the plugin).
    pub namespace: String,
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

fn fnv1a(bytes: &[u8], offset: u64) -> u64 {
    bytes.iter().fold(offset, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A kv failure, as far as the counter cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The version precondition failed: someone else counted first.
    Conflict,
    /// Anything else (not granted, unavailable, invalid key).
    Other(String),
}

/// The counter storage: kv in the component, a map in unit tests.
pub trait Counters {
    /// The value and its kv version.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError>;
    /// Writes `value` if the key is at `version` (`None`: the key must be absent).
    fn put(&self, key: &str, value: Vec<u8>, version: Option<u64>) -> Result<(), StoreError>;
}

/// The state of a budget after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u64,
    pub remaining: u64,
    /// Whole seconds until the window resets (at least 1).
    pub reset_secs: u64,
}

impl Budget {
    /// `X-RateLimit-*` response headers.
    pub fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("X-RateLimit-Limit".to_owned(), self.limit.to_string()),
            (
                "X-RateLimit-Remaining".to_owned(),
                self.remaining.to_string(),
            ),
            ("X-RateLimit-Reset".to_owned(), self.reset_secs.to_string()),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Counted; within the budget.
    Allowed(Budget),
    /// The budget is spent; retry after `reset_secs`.
    Limited(Budget),
    /// Too many concurrent requests raced on this principal's counter.
    Contended,
}

/// The stored counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Window {
    /// Window start, milliseconds since the Unix epoch.
    start: u64,
    count: u64,
}

/// Spends one request of `limit` per `window_ms` from `key`'s budget at time `now_ms`.
/// A request over the limit is not counted (it writes nothing).
pub fn take(
    store: &dyn Counters,
    key: &str,
    limit: u64,
    window_ms: u64,
    now_ms: u64,
) -> Result<Outcome, StoreError> {
    let window_ms = window_ms.max(1);
    for _ in 0..MAX_ATTEMPTS {
        let (current, version) = match store.get(key)? {
            None => (None, None),
            // An unreadable value (e.g. from another version of this plugin) starts over.
            Some((bytes, v)) => (serde_json::from_slice::<Window>(&bytes).ok(), Some(v)),
        };
        let window = match current {
            // Still running. A clock that went back by less than a window keeps it
            // running (`reset` is clamped below); by more, a new one starts.
            Some(w)
                if now_ms < w.start.saturating_add(window_ms) && now_ms + window_ms > w.start =>
            {
                w
            }
            _ => Window {
                start: now_ms,
                count: 0,
            },
        };
        let reset_ms = window
            .start
            .saturating_add(window_ms)
            .saturating_sub(now_ms)
            .clamp(1, window_ms);
        let budget = |remaining| Budget {
            limit,
            remaining,
            reset_secs: reset_ms.div_ceil(1000),
        };
        if window.count >= limit {
            return Ok(Outcome::Limited(budget(0)));
        }
        let next = Window {
            count: window.count + 1,
            ..window
        };
        let value = serde_json::to_vec(&next).map_err(|e| StoreError::Other(e.to_string()))?;
        match store.put(key, value, version) {
            Ok(()) => return Ok(Outcome::Allowed(budget(limit - next.count))),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(Outcome::Contended)
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
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    /// kv semantics: a version per key, +1 per write, precondition checked.
    #[derive(Default)]
    struct Mem {
        data: RefCell<HashMap<String, (Vec<u8>, u64)>>,
        /// Writes that fail with a conflict after bumping the version (a racing writer).
        races: Cell<usize>,
        fail: Option<String>,
    }

    impl Counters for Mem {
        fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
            if let Some(m) = &self.fail {
                return Err(StoreError::Other(m.clone()));
            }
            Ok(self.data.borrow().get(key).cloned())
        }

        fn put(&self, key: &str, value: Vec<u8>, version: Option<u64>) -> Result<(), StoreError> {
            let mut data = self.data.borrow_mut();
            if self.races.get() > 0 {
                self.races.set(self.races.get() - 1);
                // Someone else counted one request in between.
                let (old, v) = data.get(key).cloned().unwrap_or_default();
                let mut w: Window =
                    serde_json::from_slice(&old).unwrap_or(Window { start: 0, count: 0 });
                w.count += 1;
                data.insert(key.into(), (serde_json::to_vec(&w).unwrap(), v + 1));
                return Err(StoreError::Conflict);
            }
            let current = data.get(key).map(|(_, v)| *v);
            if current != version {
                return Err(StoreError::Conflict);
            }
            data.insert(key.into(), (value, current.unwrap_or(0) + 1));
            Ok(())
        }
    }

    fn allowed(remaining: u64, reset_secs: u64, limit: u64) -> Outcome {
        Outcome::Allowed(Budget {
            limit,
            remaining,
            reset_secs,
        })
    }

    const MIN: u64 = 60_000;
    const T0: u64 = 1_800_000_000_000;

    #[test]
    fn counts_down_then_limits_then_resets() {
        let m = Mem::default();
        assert_eq!(take(&m, "u/a", 3, MIN, T0), Ok(allowed(2, 60, 3)));
        assert_eq!(take(&m, "u/a", 3, MIN, T0 + 1_500), Ok(allowed(1, 59, 3)));
        assert_eq!(take(&m, "u/a", 3, MIN, T0 + 2_000), Ok(allowed(0, 58, 3)));
        let limited = Outcome::Limited(Budget {
            limit: 3,
            remaining: 0,
            reset_secs: 30,
        });
        assert_eq!(take(&m, "u/a", 3, MIN, T0 + 30_000), Ok(limited.clone()));
        // Refused requests are not counted and write nothing.
        let before = m.data.borrow().get("u/a").cloned();
        assert_eq!(take(&m, "u/a", 3, MIN, T0 + 30_000), Ok(limited));
        assert_eq!(m.data.borrow().get("u/a").cloned(), before);
        // Reset is never 0 while limited.
        assert!(matches!(
            take(&m, "u/a", 3, MIN, T0 + MIN - 1),
            Ok(Outcome::Limited(Budget { reset_secs: 1, .. }))
        ));
        // A new window starts at the next request after the old one ends.
        assert_eq!(take(&m, "u/a", 3, MIN, T0 + MIN), Ok(allowed(2, 60, 3)));
        // One key per principal, however many windows pass.
        assert_eq!(m.data.borrow().len(), 1);
    }

    #[test]
    fn principals_have_separate_budgets() {
        let m = Mem::default();
        for _ in 0..2 {
            take(&m, "u/a", 2, MIN, T0).unwrap();
        }
        assert!(matches!(
            take(&m, "u/a", 2, MIN, T0),
            Ok(Outcome::Limited(_))
        ));
        assert_eq!(take(&m, "u/b", 2, MIN, T0), Ok(allowed(1, 60, 2)));
    }

    #[test]
    fn conflicts_are_retried_and_every_request_counts() {
        let m = Mem::default();
        take(&m, "k", 10, MIN, T0).unwrap();
        m.races.set(3);
        // Three racing requests got in first: 1 + 3 + this one.
        assert_eq!(take(&m, "k", 10, MIN, T0), Ok(allowed(5, 60, 10)));
        m.races.set(MAX_ATTEMPTS);
        assert_eq!(take(&m, "k", 100, MIN, T0), Ok(Outcome::Contended));
    }

    #[test]
    fn zero_limit_blocks_and_storage_errors_surface() {
        let m = Mem::default();
        assert!(matches!(take(&m, "k", 0, MIN, T0), Ok(Outcome::Limited(_))));
        let broken = Mem {
            fail: Some("down".into()),
            ..Mem::default()
        };
        assert_eq!(
            take(&broken, "k", 5, MIN, T0),
            Err(StoreError::Other("down".into()))
        );
    }

    #[test]
    fn odd_clocks_and_values() {
        let m = Mem::default();
        take(&m, "k", 5, MIN, T0).unwrap();
        // Clock stepped back a little: same window, reset capped at the window length.
        assert_eq!(take(&m, "k", 5, MIN, T0 - 5_000), Ok(allowed(3, 60, 5)));
        // Stepped back by more than a window: a fresh one.
        assert_eq!(take(&m, "k", 5, MIN, T0 - 2 * MIN), Ok(allowed(4, 60, 5)));
        // Garbage in the key is overwritten, with its version as precondition.
        m.data
            .borrow_mut()
            .insert("k".into(), (b"junk".to_vec(), 7));
        assert_eq!(take(&m, "k", 5, MIN, T0), Ok(allowed(4, 60, 5)));
        assert_eq!(m.data.borrow()["k"].1, 8);
    }

    #[test]
    fn keys_and_headers() {
        assert_eq!(counter_key(None), "anonymous");
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
        let b = Budget {
            limit: 60,
            remaining: 59,
            reset_secs: 12,
        };
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
            namespace: "ratelimits".into(),
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
