//! The `limits` host capability: request budgets in process memory.
//!
//! A generic cell rate algorithm (GCRA) per key: each key holds one number, its
//! theoretical arrival time (TAT). A quota of `limit` per `window` emits one request every
//! `T = window / limit`, with a tolerance of one whole window, so a caller quiet for a
//! window may spend its full budget at once and is then held to the steady rate. Checking
//! is one atomic compare-and-swap on the TAT: no lock, no storage write, and no request
//! within its budget is ever refused however many race on one key (a lost CAS retries
//! against the winner's value; it never gives up).
//!
//! Written by hand rather than with `governor`: the quota here comes with each call (a
//! policy's per-tier config, hot-reloaded), while `governor`'s keyed limiters fix one
//! quota per limiter; the algorithm itself is a dozen lines.
//!
//! Memory is bounded by [`MAX_KEYS`]: keys live in a `moka` cache and expire once idle
//! for their own window (by then their budget is full again, so forgetting them changes
//! nothing). Only when more than `MAX_KEYS` keys are active at once does eviction reset a
//! budget early; the `mcp_prompts_*` metrics do not count that, it is documented instead.

use moka::sync::Cache;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Active keys remembered at once (about 150 bytes each).
pub const MAX_KEYS: u64 = 200_000;

/// One key's state: the theoretical arrival time, in ns since the limiter's epoch, and
/// the window it was last checked with (its idle expiry).
struct Cell {
    tat: AtomicU64,
    window_ns: AtomicU64,
}

/// The budget of one key after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    pub reset: Duration,
    pub retry_after: Duration,
}

/// Who a key belongs to: the plugin and the tenant of the call, then the plugin's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub plugin: String,
    pub tenant: String,
    pub key: String,
}

struct IdleForWindow;

impl moka::Expiry<Key, Arc<Cell>> for IdleForWindow {
    fn expire_after_create(&self, _: &Key, cell: &Arc<Cell>, _: Instant) -> Option<Duration> {
        Some(Duration::from_nanos(cell.window_ns.load(Ordering::Relaxed)))
    }

    fn expire_after_read(
        &self,
        _: &Key,
        cell: &Arc<Cell>,
        _: Instant,
        _: Option<Duration>,
        _: Instant,
    ) -> Option<Duration> {
        Some(Duration::from_nanos(cell.window_ns.load(Ordering::Relaxed)))
    }
}

pub struct Limiter {
    epoch: Instant,
    cells: Cache<Key, Arc<Cell>>,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new(MAX_KEYS)
    }
}

impl Limiter {
    pub fn new(max_keys: u64) -> Self {
        Self {
            epoch: Instant::now(),
            cells: Cache::builder()
                .max_capacity(max_keys)
                .expire_after(IdleForWindow)
                .build(),
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Spends `cost` of `key`'s budget of `limit` per `window`.
    pub fn check(&self, key: Key, cost: u32, limit: u64, window: Duration) -> Verdict {
        let window_ns = u64::try_from(window.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        if limit == 0 {
            return Verdict {
                allowed: false,
                limit,
                remaining: 0,
                reset: window,
                retry_after: window,
            };
        }
        let cell = self.cells.get_with(key, || {
            Arc::new(Cell {
                tat: AtomicU64::new(0),
                window_ns: AtomicU64::new(window_ns),
            })
        });
        cell.window_ns.store(window_ns, Ordering::Relaxed);
        // T: one request's share of the window; tau: the burst tolerance (one window).
        let t = (window_ns / limit).max(1);
        let tau = window_ns;
        let increment = t.saturating_mul(u64::from(cost.max(1)));
        let mut tat = cell.tat.load(Ordering::Acquire);
        loop {
            let now = self.now_ns();
            let start = tat.max(now);
            let next = start.saturating_add(increment);
            let ahead = next - now;
            if ahead > tau {
                let used = start - now;
                return Verdict {
                    allowed: false,
                    limit,
                    remaining: tau.saturating_sub(used) / t,
                    reset: Duration::from_nanos(used),
                    retry_after: Duration::from_nanos(ahead - tau),
                };
            }
            match cell
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    return Verdict {
                        allowed: true,
                        limit,
                        remaining: (tau - ahead) / t,
                        reset: Duration::from_nanos(ahead),
                        retry_after: Duration::ZERO,
                    };
                }
                Err(current) => tat = current,
            }
        }
    }

    /// Keys remembered now (approximate; for metrics and tests).
    pub fn len(&self) -> u64 {
        self.cells.run_pending_tasks();
        self.cells.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Key {
        Key {
            plugin: "policy".into(),
            tenant: "t".into(),
            key: k.into(),
        }
    }

    #[test]
    fn a_full_budget_is_spent_then_refused() {
        let l = Limiter::default();
        let w = Duration::from_secs(60);
        for i in 0..10 {
            let v = l.check(key("a"), 1, 10, w);
            assert!(v.allowed, "request {i}");
            assert_eq!(v.remaining, 9 - i);
        }
        let v = l.check(key("a"), 1, 10, w);
        assert!(!v.allowed);
        assert_eq!(v.remaining, 0);
        // One request's share of the window (6 s) until the next fits.
        assert!(v.retry_after > Duration::from_secs(5) && v.retry_after <= Duration::from_secs(6));
        // Other keys and tenants have their own budgets.
        assert!(l.check(key("b"), 1, 10, w).allowed);
        let other = Key {
            tenant: "u".into(),
            ..key("a")
        };
        assert!(l.check(other, 1, 10, w).allowed);
    }

    #[test]
    fn budgets_refill_at_the_steady_rate() {
        let l = Limiter::default();
        let w = Duration::from_millis(100);
        for _ in 0..4 {
            assert!(l.check(key("a"), 1, 4, w).allowed);
        }
        assert!(!l.check(key("a"), 1, 4, w).allowed);
        std::thread::sleep(Duration::from_millis(30));
        assert!(l.check(key("a"), 1, 4, w).allowed, "25 ms refill one");
    }

    #[test]
    fn cost_and_zero_limits() {
        let l = Limiter::default();
        let w = Duration::from_secs(60);
        assert!(l.check(key("a"), 5, 10, w).allowed);
        let v = l.check(key("a"), 6, 10, w);
        assert!(!v.allowed, "a refused request spends nothing");
        assert!(l.check(key("a"), 5, 10, w).allowed);
        assert!(!l.check(key("z"), 1, 0, w).allowed);
    }

    #[test]
    fn no_request_within_the_budget_is_refused_under_contention() {
        let l = Arc::new(Limiter::default());
        let w = Duration::from_secs(3600);
        let allowed = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (l, allowed) = (l.clone(), allowed.clone());
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        if l.check(key("hot"), 1, 1000, w).allowed {
                            allowed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // 4000 attempts at a budget of 1000 per hour: exactly 1000 fit (plus at most the
        // few the steady rate refilled during the test).
        let n = allowed.load(Ordering::Relaxed);
        assert!((1000..=1002).contains(&n), "{n}");
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let l = Limiter::default();
        l.check(key("a"), 1, 1, Duration::from_millis(20));
        assert_eq!(l.len(), 1);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(l.len(), 0);
    }
}
