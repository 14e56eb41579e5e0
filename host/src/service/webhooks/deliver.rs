//! The delivery worker: one tokio task per serving host.
//!
//! Every `webhooks.poll_interval` it reads each webhook tenant's outbox (oldest first),
//! claims the events that are due (conditional write, outbox.rs) and POSTs each to its
//! remaining endpoints, a few at a time. A 2xx takes the endpoint off the event; anything
//! else (refused connection, timeout, non-2xx) schedules the next attempt after
//! `backoff_initial × 2^(attempts-1)` (at most `backoff_max`, ±20 % jitter), until
//! `max_attempts` or `max_age`, when the event is marked failed. The config is read from
//! the current snapshot at every poll, so a reload changes endpoints, secrets and timing
//! at the next one.

use super::outbox::{self, Record, Status};
use super::{EventKind, Targets};
use crate::app::App;
use futures::StreamExt as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events sent at once per tenant.
const CONCURRENCY: usize = 8;
/// Events looked at per tenant and poll (beyond them, the depth is still counted).
const BATCH: usize = 64;
/// An event its host never finalized (it died between the commit and the details) is
/// sent as it is once this old: far longer than any request takes.
const FINALIZE_GRACE_MS: u64 = 60_000;
/// Longest error text kept in a record.
const MAX_ERROR: usize = 300;

/// Starts the worker; it stops with the process.
pub fn spawn(app: Arc<App>) {
    tokio::spawn(async move {
        loop {
            let interval = app
                .snapshot()
                .map_or(Duration::from_secs(1), |s| s.webhooks.config.poll_interval);
            tokio::time::sleep(interval).await;
            if let Some(snap) = app.snapshot() {
                poll(&app, &snap.webhooks).await;
            }
        }
    });
}

async fn poll(app: &App, targets: &Targets) {
    for tenant in targets.tenants() {
        if let Err(e) = poll_tenant(app, targets, tenant).await {
            tracing::warn!(tenant, error = %e, "webhook outbox poll failed");
        }
    }
}

async fn poll_tenant(
    app: &App,
    targets: &Targets,
    tenant: &str,
) -> Result<(), crate::storage::StorageError> {
    let cfg = &targets.config;
    // Read up to the bound (+1) so the depth that `begin` checks is exact below it.
    let (waiting, more) = outbox::waiting(&app.storage, tenant, cfg.max_outbox + 1).await?;
    let depth = waiting.len() + usize::from(more);
    app.webhooks.set_depth(tenant, depth);
    app.metrics.webhook_outbox(tenant, depth);
    let now = outbox::now_ms();
    let due: Vec<(u64, Record)> = waiting
        .into_iter()
        .filter(|(_, r)| {
            r.next_ms <= now
                && r.lease_ms <= now
                && (r.finalized || r.created_ms + FINALIZE_GRACE_MS <= now)
        })
        .take(BATCH)
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    let finished = futures::stream::iter(due)
        .map(|(version, r)| attempt(app, targets, version, r))
        .buffer_unordered(CONCURRENCY)
        .fold(0usize, |n, done| async move { n + usize::from(done) })
        .await;
    if finished > 0 {
        outbox::trim(&app.storage, tenant, cfg.keep_recent).await?;
    }
    Ok(())
}

/// Claims and sends one event; true when it left the outbox.
async fn attempt(app: &App, targets: &Targets, version: u64, mut r: Record) -> bool {
    let cfg = &targets.config;
    let lease = outbox::now_ms() + cfg.lease.as_millis() as u64;
    let version = match outbox::claim(&app.storage, version, &mut r, lease).await {
        Ok(Some(v)) => v,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(id = %r.id, error = %e, "could not claim a webhook event");
            return false;
        }
    };
    let body = body(&r);
    let event = EventKind::label(&r.event);
    let mut remaining = Vec::new();
    let mut last_error = None;
    for url in std::mem::take(&mut r.targets) {
        let Some(target) = targets.get(&r.tenant, &url) else {
            // The endpoint left the config: nobody is left to send this to.
            tracing::warn!(id = %r.id, url = %url, "webhook endpoint no longer configured; not sent there");
            last_error = Some(format!("{url}: endpoint no longer configured"));
            continue;
        };
        let started = Instant::now();
        match send(app, cfg.timeout, target, &r.id, &body).await {
            Ok(()) => {
                app.metrics
                    .webhook_delivery(event, "delivered", started.elapsed());
                tracing::info!(id = %r.id, event, url = %url, attempt = r.attempts + 1, "webhook delivered");
            }
            Err(e) => {
                let give_up = r.attempts + 1 >= cfg.max_attempts
                    || outbox::now_ms().saturating_sub(r.created_ms)
                        >= cfg.max_age.as_millis() as u64;
                app.metrics.webhook_delivery(
                    event,
                    if give_up { "failed" } else { "retry" },
                    started.elapsed(),
                );
                tracing::warn!(id = %r.id, event, url = %url, attempt = r.attempts + 1, error = %e, give_up, "webhook delivery failed");
                let mut e = format!("{url}: {e}");
                e.truncate(MAX_ERROR);
                last_error = Some(e);
                remaining.push(url);
            }
        }
    }
    r.attempts += 1;
    if last_error.is_some() {
        r.last_error = last_error;
    }
    let done = if remaining.is_empty() {
        outbox::finish(&app.storage, version, &mut r, Status::Delivered).await
    } else if r.attempts >= cfg.max_attempts
        || outbox::now_ms().saturating_sub(r.created_ms) >= cfg.max_age.as_millis() as u64
    {
        r.targets = remaining;
        outbox::finish(&app.storage, version, &mut r, Status::Failed).await
    } else {
        r.targets = remaining;
        r.next_ms = outbox::now_ms() + backoff(cfg, r.attempts);
        r.lease_ms = 0;
        return match outbox::reschedule(&app.storage, version, &r).await {
            Ok(()) => false,
            Err(e) => {
                tracing::warn!(id = %r.id, error = %e, "could not reschedule a webhook event; its lease expires instead");
                false
            }
        };
    };
    match done {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(id = %r.id, error = %e, "could not record a webhook outcome; the event is sent again after its lease");
            false
        }
    }
}

/// The wait before attempt `attempts + 1`.
fn backoff(cfg: &crate::config::WebhooksConfig, attempts: u32) -> u64 {
    let base = cfg.backoff_initial.as_millis() as u64;
    let max = cfg.backoff_max.as_millis() as u64;
    let exp = base.saturating_mul(1u64 << attempts.saturating_sub(1).min(32));
    let wait = exp.min(max);
    // ±20 %: hosts and events that failed together do not retry in lockstep.
    let jitter = wait / 5;
    if jitter == 0 {
        return wait;
    }
    wait - jitter + rand::random::<u64>() % (2 * jitter + 1)
}

/// The JSON body: the same bytes on every attempt.
pub fn body(r: &Record) -> Vec<u8> {
    let timestamp = super::rfc3339(r.created_ms);
    let doc = serde_json::json!({
        "id": r.id,
        "type": r.event,
        "timestamp": timestamp,
        "tenant": r.tenant,
        "data": r.data,
    });
    doc.to_string().into_bytes()
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("{0}")]
    Http(String),
    #[error("the receiver answered {0}")]
    Status(u16),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

async fn send(
    app: &App,
    timeout: Duration,
    target: &super::Target,
    id: &str,
    body: &[u8],
) -> Result<(), SendError> {
    let ts = (outbox::now_ms() / 1000) as i64;
    let sig = target.key.signature(id, ts, body);
    let req = app
        .webhooks
        .client
        .post(&target.url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .timeout(timeout)
        .body(body.to_vec());
    let resp = match tokio::time::timeout(timeout, req.send()).await {
        Err(_) => return Err(SendError::Timeout(timeout)),
        Ok(Err(e)) if e.is_timeout() => return Err(SendError::Timeout(timeout)),
        Ok(Err(e)) => return Err(SendError::Http(error_chain(&e))),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(SendError::Status(status.as_u16()))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cfg = crate::config::WebhooksConfig {
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
            ..Default::default()
        };
        for (attempts, want) in [
            (1u32, 1000u64),
            (2, 2000),
            (3, 4000),
            (4, 8000),
            (5, 10_000),
            (60, 10_000),
        ] {
            let got = backoff(&cfg, attempts);
            assert!(
                got >= want * 4 / 5 && got <= want * 6 / 5,
                "{attempts}: {got}"
            );
        }
    }
}
