//! Cost of one rate-limit check in the host's in-memory limiter (host/src/plugins/limits.rs,
//! the policy world's `limits` import): one hot key, a spread of keys, one key contended
//! by several threads, and the per-request dedup (`check_once`) a policy call goes through.
//! The kv compare-and-set counters it replaced cost a durable storage write per request.
//!
//! The leased (cluster-wide) path, `plugins::cluster_limits`: a check spending a token
//! this host already leased, with the lease write itself inline once per block of 100
//! (the server leases the next block in the background; here there is no runtime to do
//! that, so the amortised write shows). An in-process counter stands in for DynamoDB's
//! conditional `UpdateItem`: what is measured is the host's side of the hot path, not the
//! network round trip of one write per block.
//!
//! Run: `cargo bench -p mcp-prompts --bench limits`

use criterion::Criterion;
use mcp_prompts::config::LimitsConfig;
use mcp_prompts::plugins::cluster_limits::ClusterLimits;
use mcp_prompts::plugins::limits::{Key, Limiter, RequestSpend};
use mcp_prompts::storage::{Lease, LeaseStore, StorageError, granted};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// A budget no benchmark can spend: every check is allowed, as on the fast path.
const LIMIT: u64 = u64::MAX / 4;
const WINDOW: Duration = Duration::from_secs(3600);

fn key(k: &str) -> Key {
    Key {
        plugin: "policy".into(),
        tenant: "default".into(),
        key: k.into(),
    }
}

/// `threads` threads checking one key together; the time of the slowest.
fn contended(l: &Arc<Limiter>, threads: usize, iters: u64) -> Duration {
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (l, start) = (l.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let t = Instant::now();
                for _ in 0..iters {
                    black_box(l.check(key("u/default/hot"), 1, LIMIT, WINDOW).allowed);
                }
                t.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("bench thread"))
        .max()
        .unwrap_or_default()
}

/// The shared counter's semantics (add a block while below the limit), in process memory.
#[derive(Default)]
struct InProcessCounter {
    used: AtomicU64,
    writes: AtomicU64,
}

#[async_trait::async_trait]
impl LeaseStore for InProcessCounter {
    async fn lease(
        &self,
        _: &str,
        _: &str,
        block: u64,
        limit: u64,
        _: u64,
    ) -> Result<Lease, StorageError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let before = self.used.load(Ordering::Relaxed);
        if before >= limit {
            return Ok(Lease {
                granted: 0,
                used: before,
            });
        }
        let before = self.used.fetch_add(block, Ordering::Relaxed);
        Ok(Lease {
            granted: granted(before, block, limit),
            used: before + block,
        })
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3));
    let mut g = c.benchmark_group("limits");
    let l = Limiter::default();
    g.bench_function("check, one hot key", |b| {
        b.iter(|| black_box(l.check(key("u/default/alice"), 1, LIMIT, WINDOW).allowed))
    });
    let keys: Vec<String> = (0..100_000)
        .map(|i| format!("u/default/user-{i}"))
        .collect();
    for k in &keys {
        l.check(key(k), 1, LIMIT, WINDOW);
    }
    let mut i = 0;
    g.bench_function("check, 100k keys round robin", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(l.check(key(&keys[i]), 1, LIMIT, WINDOW).allowed)
        })
    });
    g.bench_function("check_once, fresh request", |b| {
        b.iter(|| {
            let spend = RequestSpend::default();
            black_box(
                l.check_once(&spend, key("u/default/alice"), 1, LIMIT, WINDOW)
                    .allowed,
            )
        })
    });
    let counter = Arc::new(InProcessCounter::default());
    let cluster = ClusterLimits::new(&LimitsConfig::default(), counter.clone(), None);
    g.bench_function("cluster check_once, leased tokens (a write per 100)", |b| {
        b.iter(|| {
            let spend = RequestSpend::default();
            let v = futures::executor::block_on(cluster.check_once(
                &l,
                &spend,
                key("u/default/alice"),
                1,
                LIMIT,
                WINDOW,
            ));
            black_box(v.allowed)
        })
    });
    let writes = counter.writes.load(Ordering::Relaxed);
    let used = counter.used.load(Ordering::Relaxed);
    eprintln!("cluster: {writes} lease writes for {used} tokens leased");
    let shared = Arc::new(Limiter::default());
    for threads in [2, 4] {
        g.bench_function(format!("check, one key, {threads} threads"), |b| {
            b.iter_custom(|iters| contended(&shared, threads, iters))
        });
    }
    g.finish();
    c.final_summary();
}
