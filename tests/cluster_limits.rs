//! Cluster-wide rate limits (`[limits] mode = "cluster"`) against a real `moto_server`:
//! two server processes on one DynamoDB share one budget (the fleet admits at most the
//! limit, and refuses early by no more than the documented bound), tokens are leased in
//! blocks (far fewer lease writes than requests), and a shared counter that cannot be
//! reached degrades to each host's local limiter: no 500, and no request within the local
//! budget refused.

use crate::common;

use common::moto::AwsEnv;
use common::{Server, plugin};
use futures_util::future::join_all;
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

/// A day: the fixed window the test's requests fall into (a test straddling midnight UTC
/// would see two budgets; the scenario then runs again, see `window_index`).
const WINDOW: &str = "24h";
const WINDOW_MS: u64 = 24 * 3600 * 1000;

fn window_index() -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    ms / WINDOW_MS
}

/// `/v1/limited` behind a policy of `budget` per day for every tier, leased in blocks of
/// `block`; `storage_extra` goes into the `[storage.aws]` table's neighbourhood.
fn config(aws: &AwsEnv, budget: u64, block: u64, limits_extra: &str) -> String {
    aws.config(&format!(
        r#"
[limits]
mode = "cluster"
lease_block = {block}
{limits_extra}

[plugins.limited]
path = "{policy}"
world = "policy"

[plugins.limited.config]
rate_window = "{WINDOW}"

[plugins.limited.config.rate_limits]
free = {budget}
default = {budget}

[[routes]]
path = "/v1/limited"
handler = "prompt-store"
auth = "required"
policies = ["limited"]
"#,
        policy = plugin("policy").display()
    ))
}

fn bootstrap(aws: &AwsEnv, config: &str) {
    let (code, out, err) = aws.bootstrap(config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
}

async fn seed(s: &Server, token: &str) {
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(token)
        .json(&json!({"id": "greet", "name": "Greet", "content": "Hello {{name}}!"}))
        .send()
        .await
        .unwrap();
    assert!(
        r.status() == 201 || r.status() == 409,
        "{}",
        r.text().await.unwrap()
    );
}

/// `n` GETs of the limited prompt, `concurrency` at a time: the statuses.
async fn burst(s: &Server, token: &str, n: usize, concurrency: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(concurrency) {
        let rs = join_all(chunk.iter().map(|_| {
            s.client
                .get(s.url("/v1/limited/greet"))
                .bearer_auth(token)
                .send()
        }))
        .await;
        out.extend(rs.into_iter().map(|r| r.unwrap().status().as_u16()));
    }
    out
}

/// A counter of `/metrics` (the sum over its label sets matching `labels`).
async fn metric(s: &Server, name: &str, labels: &str) -> f64 {
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_share_one_budget_leased_in_blocks() {
    let aws = AwsEnv::new();
    // block_for(4, 64) = 4: sixteen blocks make the budget.
    let (budget, block) = (64u64, 4u64);
    // A slow moto on a busy machine must not count as an outage: a lease past
    // lease_timeout falls back to local limits, which by design admit beyond the fleet's.
    let cfg = config(&aws, budget, block, "lease_timeout = \"10s\"");
    bootstrap(&aws, &cfg);
    let env = aws.env();
    let (a, b) = tokio::task::spawn_blocking(move || {
        (
            Server::start_with_env(&cfg, env.clone()),
            Server::start_with_env(&cfg, env),
        )
    })
    .await
    .unwrap();
    let writer = a.token("writer", &["--scope", "prompts:write"]);
    seed(&a, &writer).await;

    for attempt in 0.. {
        // Each attempt is a new principal, so a new budget (the key is per subject).
        let sub = format!("fleet-{attempt}");
        let (ta, tb) = (a.token(&sub, &[]), b.token(&sub, &[]));
        let before = window_index();
        // 60 requests on each host, 8 at a time on each, both hosts at once: 120 attempts
        // at a budget of 64.
        let (sa, sb) = tokio::join!(burst(&a, &ta, 60, 8), burst(&b, &tb, 60, 8));
        if window_index() != before && attempt == 0 {
            continue; // the day changed mid-burst: two budgets; run it again.
        }
        let all: Vec<u16> = sa.iter().chain(&sb).copied().collect();
        assert!(
            all.iter().all(|&s| s == 200 || s == 429),
            "only 200 and 429: {all:?}"
        );
        let ok = all.iter().filter(|&&s| s == 200).count() as u64;
        let served_a = sa.iter().filter(|&&s| s == 200).count();
        let served_b = sb.iter().filter(|&&s| s == 200).count();
        // Never over the fleet-wide budget; short of it by at most what the other host
        // may hold unspent (1.25 blocks, docs/configuration.md "[limits]").
        assert!(
            ok <= budget,
            "fleet admitted {ok} > {budget} ({served_a} + {served_b})"
        );
        assert!(
            ok + (block * 5).div_ceil(4) >= budget,
            "fleet admitted only {ok} of {budget} ({served_a} + {served_b})"
        );
        // Both hosts spent from the one budget.
        assert!(served_a > 0 && served_b > 0, "{served_a} + {served_b}");
        break;
    }

    // Leases are one write per block, not per request: 64 tokens in blocks of 4 is 16
    // granted leases fleet-wide (plus the exhausted answers), against 120 requests.
    let (ga, gb) = (
        metric(&a, "mcp_prompts_limit_leases_total", "result=\"granted\"").await,
        metric(&b, "mcp_prompts_limit_leases_total", "result=\"granted\"").await,
    );
    assert!(ga >= 1.0 && gb >= 1.0, "{ga} {gb}");
    assert!(
        ga + gb <= (budget / block) as f64 * 2.0,
        "{ga} + {gb} granted leases"
    );
    assert_eq!(
        metric(&a, "mcp_prompts_limit_leases_total", "result=\"failed\"").await,
        0.0
    );

    // The counters are items of the sessions table under the `_limits` partition.
    let items = aws
        .dynamodb()
        .await
        .scan()
        .table_name(aws.sessions_table())
        .send()
        .await
        .unwrap()
        .items()
        .to_vec();
    let counters: Vec<_> = items
        .iter()
        .filter(|i| i["pk"].as_s().is_ok_and(|p| p == "_limits#default"))
        .collect();
    assert!(!counters.is_empty(), "{items:?}");
    for c in &counters {
        let used: u64 = c["used"].as_n().unwrap().parse().unwrap();
        // The counter stops moving once it reached the limit (plus less than one block).
        assert!(used < budget + block, "{c:?}");
        assert!(c.contains_key("expires_at"), "{c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_counter_degrades_to_local_limits_without_errors() {
    let aws = AwsEnv::new();
    let budget = 10u64;
    let cfg = config(&aws, budget, 100, "lease_retry = \"10m\"");
    // The lease counters get a table of their own, which disappears once the server is
    // ready: every lease write then fails at DynamoDB while the prompt tables are fine,
    // so only the limiter is affected.
    let leases = format!("{}-leases", aws.sessions_table());
    let cfg = cfg.replacen(
        &format!(
            "[storage.aws.namespaces.ratelimits]\ntable = \"{}\"",
            aws.sessions_table()
        ),
        &format!("[storage.aws.namespaces.ratelimits]\ntable = \"{leases}\""),
        1,
    );
    assert!(cfg.contains(&leases));
    bootstrap(&aws, &cfg);
    let env = aws.env();
    let s = tokio::task::spawn_blocking(move || Server::start_with_env(&cfg, env))
        .await
        .unwrap();
    aws.dynamodb()
        .await
        .delete_table()
        .table_name(&leases)
        .send()
        .await
        .unwrap();
    let writer = s.token("writer", &["--scope", "prompts:write"]);
    seed(&s, &writer).await;
    let token = s.token("solo", &[]);
    let statuses = burst(&s, &token, 14, 7).await;
    // The local limiter's budget, exactly: none of the first `budget` refused, no error.
    let ok = statuses.iter().filter(|&&st| st == 200).count() as u64;
    let refused = statuses.iter().filter(|&&st| st == 429).count() as u64;
    assert_eq!((ok, refused), (budget, 14 - budget), "{statuses:?}");
    // One failed lease opened the fallback period; the rest were answered locally without
    // asking DynamoDB again.
    let failed = metric(&s, "mcp_prompts_limit_leases_total", "result=\"failed\"").await;
    assert!((1.0..=2.0).contains(&failed), "{failed} failed leases");
    assert!(metric(&s, "mcp_prompts_limit_local_fallbacks_total", "").await >= 13.0);
    let log = s.log_text();
    assert_eq!(
        log.matches("the shared counter is unreachable").count(),
        1,
        "logged once per outage:\n{log}"
    );
}
