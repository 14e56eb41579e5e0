//! Token verification cost with and without the verified-token cache
//! (host/src/auth/cache.rs): the ratio `verify (uncached)` / `cached lookup` is what the
//! cache buys per request on a client that reuses its token. HS256 development tokens here;
//! RS256 verification costs about 15× more, so its ratio is larger still.
//!
//! Run: `cargo bench -p mcp-prompts --bench auth`

use criterion::Criterion;
use futures::executor::block_on;
use mcp_prompts::auth::{Authenticator, ClaimMapping, DevProvider};
use mcp_prompts::config;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

/// (uncached authenticator, cached authenticator, token minter) sharing one secret.
fn authenticators(secret_dir: &Path) -> (Authenticator, Authenticator, DevProvider) {
    let text = format!(
        "[auth.dev]\nsecret_file = \"{}\"\ngenerate_if_missing = true\n",
        secret_dir.join("secret").display()
    );
    let lc = config::parse(Path::new("bench.toml"), &text).expect("config");
    let dc = lc.config.auth.dev.clone().expect("dev provider");
    let mapping = || ClaimMapping {
        default_tenant: "default".into(),
        tenant_claim: "custom:tenant".into(),
        tier_claim: "custom:subscriptionTier".into(),
    };
    let load = || DevProvider::load(&lc, &dc).expect("secret");
    (
        Authenticator::with_cache(Some(load()), Vec::new(), mapping(), 0),
        Authenticator::new(Some(load()), Vec::new(), mapping()),
        load(),
    )
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (uncached, cached, minter) = authenticators(dir.path());
    let token = minter
        .mint(
            "alice",
            &["prompts:write".to_string()],
            Duration::from_secs(3600),
            Default::default(),
        )
        .expect("mint");
    let header = format!("Bearer {token}");
    assert!(
        block_on(uncached.authenticate(&header)).is_ok()
            && block_on(cached.authenticate(&header)).is_ok()
    );
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3));
    let mut g = c.benchmark_group("authenticate");
    g.bench_function("verify (no cache)", |b| {
        b.iter(|| black_box(block_on(uncached.authenticate(&header)).is_ok()))
    });
    g.bench_function("cached", |b| {
        b.iter(|| black_box(block_on(cached.authenticate(&header)).is_ok()))
    });
    g.finish();
    c.final_summary();
}
