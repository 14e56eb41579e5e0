//! Cluster-wide rate limits (`[limits] mode = "cluster"`): every host on the same storage
//! spends one budget per key and window, leased in blocks from a shared counter.
//!
//! Windows are fixed and aligned to the Unix epoch (`floor(unix_ms / window_ms)`), so every
//! host names the same counter without talking to the others. A host that runs out of
//! tokens for a key takes a block with ONE conditional write ([`LeaseStore::lease`]: add
//! `block` if the counter is below the limit); the hosts' blocks are disjoint ranges of the
//! counter and only their parts below the limit are granted, so the grants of one window
//! never sum to more than the limit. Tokens are spent locally with a compare-and-swap on
//! one word, the same lock-free hot path as the local limiter; when a key's tokens run
//! below a quarter block, the next block is leased in the background, so a busy key costs
//! one write per block and its requests do not wait on it. Unspent tokens expire with their
//! window (nothing is given back: a give-back write would cost as much as the lease).
//!
//! Error bound, per key and window, while the counter answers: the fleet admits at most
//! `limit` (exact; clocks skewed by `s` move each host's window edges by `s`). A request
//! may be refused before the fleet spent `limit` only while other hosts hold tokens they
//! have not spent: fewer than `1.25 × block` per host (one block plus the remainder that
//! triggered the prefetch), so at most `(hosts − 1) × 1.25 × block` below the limit.
//!
//! When the counter cannot be reached (an error, or no answer within `lease_timeout`) the
//! host falls back to its local limiter (the GCRA of limits.rs, the same quota per host)
//! for `lease_retry`, then tries again: logged once per outage, counted in
//! `mcp_prompts_limit_local_fallbacks_total`, never an error for the request, and never a
//! refusal of a request within the local budget.

use super::limits::{Key, Limiter, RequestSpend, Verdict};
use crate::config::LimitsConfig;
use crate::storage::LeaseStore;
use crate::telemetry::metrics::Metrics;
use moka::sync::Cache;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bits of a cell's state word that hold the token count; the rest hold the window index
/// (modulo 2^40, which repeats only after 2^40 windows: 34 years of 1 ms windows).
const TOKEN_BITS: u32 = 24;
const TOKEN_MASK: u64 = (1 << TOKEN_BITS) - 1;
const WINDOW_MASK: u64 = (1 << (64 - TOKEN_BITS)) - 1;
/// Lease counters outlive their window by this much (the table's TTL then deletes them).
const COUNTER_GRACE_SECS: u64 = 60;

/// The block a key of `limit` leases: `lease_block`, but no more than a sixteenth of the
/// limit (at least 1), so that a small budget is not held by one host.
pub fn block_for(lease_block: u64, limit: u64) -> u64 {
    lease_block.min(limit / 16).max(1)
}

/// The window containing `unix_ms` and when it ends (ms since the epoch).
pub fn window_of(unix_ms: u64, window_ms: u64) -> (u64, u64) {
    let w = window_ms.max(1);
    let idx = unix_ms / w;
    (idx, idx.saturating_add(1).saturating_mul(w))
}

fn pack(window: u64, tokens: u64) -> u64 {
    ((window & WINDOW_MASK) << TOKEN_BITS) | tokens.min(TOKEN_MASK)
}

/// Tokens a state word holds for `window` (0 if they belong to another window).
fn tokens_in(state: u64, window: u64) -> u64 {
    if state >> TOKEN_BITS == window & WINDOW_MASK {
        state & TOKEN_MASK
    } else {
        0
    }
}

/// One key's leased tokens on this host.
struct Cell {
    /// `pack(window, tokens)`: tokens of one window, swapped as one word so that a take
    /// and a new window's deposit cannot interleave.
    state: AtomicU64,
    /// `window + 1` when the shared counter of that window is spent (0: not known).
    exhausted: AtomicU64,
    /// The shared counter as the last lease saw it (for `remaining`).
    used: AtomicU64,
    window_ms: AtomicU64,
    /// Held while a lease write is in flight: one write per key per host at a time.
    lease: tokio::sync::Mutex<()>,
}

impl Cell {
    /// Takes `cost` tokens of `window`; the tokens left on success.
    fn take(&self, window: u64, cost: u64) -> Option<u64> {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let have = tokens_in(s, window);
            if have < cost {
                return None;
            }
            match self.state.compare_exchange_weak(
                s,
                pack(window, have - cost),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(have - cost),
                Err(now) => s = now,
            }
        }
    }

    /// Adds `granted` tokens of `window` (replacing those of an older window; a lease
    /// that lands after its window ended is dropped).
    fn deposit(&self, window: u64, granted: u64) {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            // The held window is newer when it is less than half the index space ahead.
            let (held, ours) = (s >> TOKEN_BITS, window & WINDOW_MASK);
            if held != ours && held.wrapping_sub(ours) & WINDOW_MASK < 1 << 39 {
                return;
            }
            let next = pack(window, tokens_in(s, window).saturating_add(granted));
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    fn is_exhausted(&self, window: u64) -> bool {
        self.exhausted.load(Ordering::Acquire) == window.wrapping_add(1)
    }
}

struct IdleForWindow;

impl moka::Expiry<Key, Arc<Cell>> for IdleForWindow {
    fn expire_after_create(&self, _: &Key, cell: &Arc<Cell>, _: Instant) -> Option<Duration> {
        Some(Duration::from_millis(
            cell.window_ms.load(Ordering::Relaxed),
        ))
    }

    fn expire_after_read(
        &self,
        _: &Key,
        cell: &Arc<Cell>,
        _: Instant,
        _: Option<Duration>,
        _: Instant,
    ) -> Option<Duration> {
        Some(Duration::from_millis(
            cell.window_ms.load(Ordering::Relaxed),
        ))
    }
}

/// Why a check must wait before it can answer.
enum Wait {
    /// No tokens here: lease a block of `window`, which ends at `end_ms`.
    Lease {
        cell: Arc<Cell>,
        idx: u64,
        end_ms: u64,
    },
}

/// What a lease attempt came to.
enum Leased {
    /// Tokens were deposited, or the window is known spent: look again.
    Done,
    /// The counter is unreachable: answer locally.
    Unreachable,
}

pub struct ClusterLimits {
    store: Arc<dyn LeaseStore>,
    lease_block: u64,
    timeout: Duration,
    retry: Duration,
    cells: Cache<Key, Arc<Cell>>,
    /// `Instant` of the end of the current fallback period, as ns since `epoch` (0: none).
    degraded_until: AtomicU64,
    /// Whether the current outage has been logged.
    logged: AtomicBool,
    epoch: Instant,
    metrics: Option<Arc<Metrics>>,
}

impl ClusterLimits {
    pub fn new(
        cfg: &LimitsConfig,
        store: Arc<dyn LeaseStore>,
        metrics: Option<Arc<Metrics>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            lease_block: cfg.lease_block,
            timeout: cfg.lease_timeout,
            retry: cfg.lease_retry,
            cells: Cache::builder()
                .max_capacity(super::limits::MAX_KEYS)
                .expire_after(IdleForWindow)
                .build(),
            degraded_until: AtomicU64::new(0),
            logged: AtomicBool::new(false),
            epoch: Instant::now(),
            metrics,
        })
    }

    fn mono_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether the host is limiting locally after a failed lease.
    pub fn degraded(&self) -> bool {
        self.mono_ns() < self.degraded_until.load(Ordering::Acquire)
    }

    /// Spends `cost` of `key`'s fleet-wide budget of `limit` per `window`, once per
    /// request (as [`Limiter::check_once`]); `local` answers while the counter is out of
    /// reach.
    pub async fn check_once(
        self: &Arc<Self>,
        local: &Limiter,
        spend: &RequestSpend,
        key: Key,
        cost: u32,
        limit: u64,
        window: Duration,
    ) -> Verdict {
        loop {
            if limit == 0 || self.degraded() {
                if limit > 0 {
                    self.count_fallback();
                }
                return local.check_once(spend, key, cost, limit, window);
            }
            let wait = match spend.once(&key, || self.try_check(&key, cost, limit, window)) {
                Ok(v) => return v,
                Err(w) => w,
            };
            let Wait::Lease { cell, idx, end_ms } = wait;
            match self.lease(&key, &cell, idx, end_ms, limit, cost).await {
                Leased::Done => continue,
                Leased::Unreachable => {
                    self.count_fallback();
                    return local.check_once(spend, key, cost, limit, window);
                }
            }
        }
    }

    /// The answer from tokens already here, without waiting; `Err` when a lease is needed.
    fn try_check(
        self: &Arc<Self>,
        key: &Key,
        cost: u32,
        limit: u64,
        window: Duration,
    ) -> Result<Verdict, Wait> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let now_ms = unix_ms();
        let (idx, end_ms) = window_of(now_ms, window_ms);
        let reset = Duration::from_millis(end_ms.saturating_sub(now_ms));
        let cell = self.cells.get_with(key.clone(), || {
            Arc::new(Cell {
                state: AtomicU64::new(0),
                exhausted: AtomicU64::new(0),
                used: AtomicU64::new(0),
                window_ms: AtomicU64::new(window_ms),
                lease: tokio::sync::Mutex::new(()),
            })
        });
        if cell.window_ms.load(Ordering::Relaxed) != window_ms {
            cell.window_ms.store(window_ms, Ordering::Relaxed);
        }
        let cost = u64::from(cost.max(1));
        if let Some(left) = cell.take(idx, cost) {
            let block = block_for(self.lease_block, limit);
            if left < block.div_ceil(4) && !cell.is_exhausted(idx) {
                self.prefetch(key, &cell, idx, end_ms, limit);
            }
            let unleased = limit.saturating_sub(cell.used.load(Ordering::Relaxed));
            return Ok(Verdict {
                allowed: true,
                limit,
                remaining: (left + unleased).min(limit),
                reset,
                retry_after: Duration::ZERO,
            });
        }
        if cell.is_exhausted(idx) {
            return Ok(Verdict {
                allowed: false,
                limit,
                remaining: tokens_in(cell.state.load(Ordering::Acquire), idx),
                reset,
                retry_after: reset,
            });
        }
        Err(Wait::Lease { cell, idx, end_ms })
    }

    /// Leases the next block off the request path, unless a lease of this key is in flight.
    fn prefetch(
        self: &Arc<Self>,
        key: &Key,
        cell: &Arc<Cell>,
        window: u64,
        end_ms: u64,
        limit: u64,
    ) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if cell.lease.try_lock().is_err() {
            return;
        }
        let (this, key, cell) = (self.clone(), key.clone(), cell.clone());
        rt.spawn(async move {
            // Only a refill: a failure here degrades like any lease, and the requests keep
            // spending what is left meanwhile.
            let _ = this.lease(&key, &cell, window, end_ms, limit, 1).await;
        });
    }

    /// One lease write for `cell`'s `window` (at most one in flight per cell).
    async fn lease(
        &self,
        key: &Key,
        cell: &Cell,
        window: u64,
        end_ms: u64,
        limit: u64,
        cost: u32,
    ) -> Leased {
        let _one = cell.lease.lock().await;
        let block = block_for(self.lease_block, limit);
        // Someone else's lease may have landed while this one waited for the lock (a
        // request needs `cost`; a prefetch, cost 1, stops at the watermark).
        let enough = u64::from(cost.max(1)).max(block.div_ceil(4));
        if tokens_in(cell.state.load(Ordering::Acquire), window) >= enough
            || cell.is_exhausted(window)
        {
            return Leased::Done;
        }
        if self.degraded() {
            return Leased::Unreachable;
        }
        let window_ms = cell.window_ms.load(Ordering::Relaxed).max(1);
        let counter = format!("{}#{window_ms}#{window}#{}", key.plugin, key.key);
        let expires_at = end_ms / 1000 + COUNTER_GRACE_SECS;
        let want = block.max(u64::from(cost));
        let r = tokio::time::timeout(
            self.timeout,
            self.store
                .lease(&key.tenant, &counter, want, limit, expires_at),
        )
        .await;
        match r {
            Ok(Ok(lease)) => {
                cell.used.fetch_max(lease.used, Ordering::Relaxed);
                if lease.granted > 0 {
                    cell.deposit(window, lease.granted);
                }
                if lease.granted < want {
                    cell.exhausted
                        .store(window.wrapping_add(1), Ordering::Release);
                }
                self.count_lease(if lease.granted > 0 {
                    "granted"
                } else {
                    "exhausted"
                });
                if self.logged.swap(false, Ordering::AcqRel) {
                    tracing::info!("cluster rate limits: the shared counter answers again");
                }
                Leased::Done
            }
            Ok(Err(e)) => {
                self.degrade(&e.to_string());
                Leased::Unreachable
            }
            Err(_) => {
                self.degrade(&format!("no answer within {:?}", self.timeout));
                Leased::Unreachable
            }
        }
    }

    fn degrade(&self, why: &str) {
        let until = self
            .mono_ns()
            .saturating_add(u64::try_from(self.retry.as_nanos()).unwrap_or(u64::MAX));
        self.degraded_until.fetch_max(until, Ordering::AcqRel);
        self.count_lease("failed");
        if !self.logged.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                error = %why,
                retry_in = ?self.retry,
                "cluster rate limits: the shared counter is unreachable; limiting on this host alone"
            );
        }
    }

    fn count_lease(&self, result: &'static str) {
        if let Some(m) = &self.metrics {
            m.limit_lease(result);
        }
    }

    fn count_fallback(&self) {
        if let Some(m) = &self.metrics {
            m.limit_local_fallback();
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Lease, StorageError, granted};

    fn key(k: &str) -> Key {
        Key {
            plugin: "policy".into(),
            tenant: "t".into(),
            key: k.into(),
        }
    }

    fn cell() -> Cell {
        Cell {
            state: AtomicU64::new(0),
            exhausted: AtomicU64::new(0),
            used: AtomicU64::new(0),
            window_ms: AtomicU64::new(60_000),
            lease: tokio::sync::Mutex::new(()),
        }
    }

    #[test]
    fn grants_are_disjoint_ranges_below_the_limit() {
        // Hosts leasing blocks of 30 from a limit of 100, in whatever order DynamoDB
        // serialises them: the grants add up to the limit exactly, never more.
        let (block, limit) = (30, 100);
        let mut counter = 0;
        let mut total = 0;
        while counter < limit {
            total += granted(counter, block, limit);
            counter += block;
        }
        assert_eq!(total, limit);
        assert_eq!(granted(90, 30, 100), 10, "the last lease is partial");
        assert_eq!(granted(100, 30, 100), 0);
        assert_eq!(
            granted(130, 30, 100),
            0,
            "a lost-answer retry's extra block"
        );
    }

    #[test]
    fn block_size_follows_the_limit() {
        assert_eq!(block_for(100, 1_000_000), 100);
        assert_eq!(block_for(100, 160), 10, "a sixteenth of a small limit");
        assert_eq!(block_for(100, 10), 1, "at least one");
        assert_eq!(block_for(1, 1_000_000), 1);
    }

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        assert_eq!(window_of(0, 60_000), (0, 60_000));
        assert_eq!(window_of(59_999, 60_000), (0, 60_000));
        assert_eq!(window_of(60_000, 60_000), (1, 120_000));
        assert_eq!(window_of(5, 0), (5, 6), "a zero window is one millisecond");
    }

    #[test]
    fn tokens_belong_to_their_window() {
        let c = cell();
        assert_eq!(c.take(7, 1), None, "nothing leased yet");
        c.deposit(7, 5);
        assert_eq!(c.take(7, 2), Some(3));
        assert_eq!(c.take(8, 1), None, "the next window starts empty");
        c.deposit(8, 4);
        assert_eq!(c.take(8, 4), Some(0));
        // A lease of the old window landing late adds nothing to the new one.
        c.deposit(7, 50);
        assert_eq!(c.take(8, 1), None);
        assert_eq!(c.take(7, 1), None, "window 7 is over for this cell");
        // Window indices wrap at 2^40: the window after the last index is still newer.
        let c = cell();
        c.deposit(WINDOW_MASK, 3);
        c.deposit(WINDOW_MASK + 1, 2);
        assert_eq!(c.take(WINDOW_MASK + 1, 2), Some(0));
        c.deposit(WINDOW_MASK, 5);
        assert_eq!(
            c.take(WINDOW_MASK + 1, 1),
            None,
            "a late lease of the old window"
        );
    }

    #[test]
    fn concurrent_takes_spend_each_token_once() {
        let c = Arc::new(cell());
        c.deposit(1, 4000);
        let taken = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (c, taken) = (c.clone(), taken.clone());
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        if c.take(1, 1).is_some() {
                            taken.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(taken.load(Ordering::Relaxed), 4000);
    }

    /// A counter that accepts the connection and never answers (a hung endpoint).
    struct Hung;

    #[async_trait::async_trait]
    impl LeaseStore for Hung {
        async fn lease(
            &self,
            _: &str,
            _: &str,
            _: u64,
            _: u64,
            _: u64,
        ) -> Result<Lease, StorageError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_hung_counter_degrades_to_the_local_limiter_once() {
        let cfg = LimitsConfig {
            lease_timeout: Duration::from_millis(20),
            lease_retry: Duration::from_secs(600),
            ..LimitsConfig::default()
        };
        let cluster = ClusterLimits::new(&cfg, Arc::new(Hung), None);
        let local = Limiter::default();
        let w = Duration::from_secs(3600);
        let mut allowed = 0;
        for _ in 0..5 {
            let v = cluster
                .check_once(&local, &RequestSpend::default(), key("k"), 1, 3, w)
                .await;
            allowed += u64::from(v.allowed);
        }
        assert!(cluster.degraded());
        // The local budget of 3, exactly, and no request waited on the store but the first.
        assert_eq!(allowed, 3);
    }
}
