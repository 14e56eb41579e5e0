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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// What one request has spent so far, per key: a request spends a key's budget at most
/// once, however many policy decisions it needs (MCP `prompts/get` reads, then renders;
/// an import asks for create and update). Shared by the clones of one request.
#[derive(Clone, Default)]
pub struct RequestSpend(Arc<Mutex<Vec<(Key, Verdict)>>>);

impl RequestSpend {
    /// Runs `check` for `key` unless this request already spent it (then the verdict it
    /// got then). `check` returns `Err` when it cannot decide without waiting (the cluster
    /// limiter needs a lease): nothing is recorded and the caller waits, then asks again.
    /// The request's lock is held across `check`, which never waits, so two decisions of
    /// one request cannot both spend.
    pub fn once<E>(
        &self,
        key: &Key,
        check: impl FnOnce() -> Result<Verdict, E>,
    ) -> Result<Verdict, E> {
        let mut spent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, v)) = spent.iter().find(|(k, _)| k == key) {
            return Ok(*v);
        }
        let v = check()?;
        spent.push((key.clone(), v));
        Ok(v)
    }
}

impl std::fmt::Debug for RequestSpend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestSpend")
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

    /// [`Limiter::check`], unless this request already spent `key`: then the verdict it
    /// got then, spending nothing more.
    pub fn check_once(
        &self,
        spend: &RequestSpend,
        key: Key,
        cost: u32,
        limit: u64,
        window: Duration,
    ) -> Verdict {
        let checked = spend.once(&key, || {
            Ok::<_, std::convert::Infallible>(self.check(key.clone(), cost, limit, window))
        });
        match checked {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// Spends `cost` of `key`'s budget of `limit` per `window`.
    pub fn check(&self, key: Key, cost: u32, limit: u64, window: Duration) -> Verdict {
        self.check_at(key, cost, limit, window, self.now_ns())
    }

    /// [`Limiter::check`] at `now_ns` nanoseconds after the limiter's epoch (the clock
    /// is a parameter so that tests and benchmarks need not sleep).
    pub fn check_at(
        &self,
        key: Key,
        cost: u32,
        limit: u64,
        window: Duration,
        now_ns: u64,
    ) -> Verdict {
        let window_ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX).max(1);
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
        if cell.window_ns.load(Ordering::Relaxed) != window_ns {
            cell.window_ns.store(window_ns, Ordering::Relaxed);
        }
        // T: one request's share of the window; tau: the burst tolerance, `limit` shares
        // (one window, rounded down to whole shares so that exactly `limit` fit).
        let t = (window_ns / limit).max(1);
        let tau = t.saturating_mul(limit);
        let increment = t.saturating_mul(u64::from(cost.max(1)));
        let now = now_ns;
        let mut tat = cell.tat.load(Ordering::Acquire);
        loop {
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
        let t0 = 1_000_000_000;
        for _ in 0..4 {
            assert!(l.check_at(key("a"), 1, 4, w, t0).allowed);
        }
        let v = l.check_at(key("a"), 1, 4, w, t0);
        assert!(!v.allowed);
        assert_eq!(v.retry_after, Duration::from_millis(25));
        assert!(!l.check_at(key("a"), 1, 4, w, t0 + 24_999_999).allowed);
        let v = l.check_at(key("a"), 1, 4, w, t0 + 25_000_000);
        assert!(v.allowed, "25 ms refill one");
        assert_eq!(v.remaining, 0);
        // A whole quiet window refills the whole budget, and no more.
        let later = t0 + 1_000_000_000;
        for _ in 0..4 {
            assert!(l.check_at(key("a"), 1, 4, w, later).allowed);
        }
        assert!(!l.check_at(key("a"), 1, 4, w, later).allowed);
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
    fn a_request_spends_a_key_once() {
        let l = Limiter::default();
        let w = Duration::from_secs(60);
        let one = RequestSpend::default();
        let a = l.check_once(&one, key("a"), 1, 10, w);
        let again = l.check_once(&one.clone(), key("a"), 1, 10, w);
        assert_eq!((a.remaining, again), (9, a));
        assert_eq!(l.check_once(&one, key("b"), 1, 10, w).remaining, 9);
        let other = RequestSpend::default();
        assert_eq!(l.check_once(&other, key("a"), 1, 10, w).remaining, 8);
    }

    #[test]
    fn memory_is_bounded_by_the_key_capacity() {
        let l = Limiter::new(100);
        let w = Duration::from_secs(3600);
        for i in 0..1_000 {
            l.check(key(&format!("k{i}")), 1, 10, w);
        }
        assert!(l.len() <= 100, "{}", l.len());
    }
}
