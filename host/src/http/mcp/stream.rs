//! The standalone server-to-client event stream: `GET /mcp` in a session (revisions
//! 2025-03-26 to 2025-11-25).
//!
//! One task per open stream polls the tenant's change feed (`service/changes.rs`) in
//! shared storage — so a change made on any host reaches every stream on every host —
//! starting at 250 ms and backing off to `mcp.poll_max` while nothing changes. Each poll
//! also re-reads the session, which is how DELETE, expiry and new subscriptions are seen
//! wherever they happened.
//!
//! Wire details: every batch of notifications ends with an event whose id is
//! `{revision}-{stream}` (unique across the session's streams); a client that reconnects
//! with `Last-Event-ID` gets every change after that revision again (at least once).
//! `retry:` tells clients how soon to reconnect, comments keep idle proxies from closing
//! the connection, and the per-stream buffer is bounded: a client that stops reading is
//! disconnected rather than buffered for, and resumes with its last event id. The stream
//! ends cleanly on DELETE, session expiry, a config reload (the client reconnects to the
//! new configuration) and shutdown (`/ready` goes false first).

use super::session;
use crate::app::{App, Snapshot};
use crate::http::Body;
use crate::service::changes;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Chunks buffered per stream before a non-reading client is dropped.
const BUFFER: usize = 64;
/// The fastest poll; also the delay right after a change.
const POLL_MIN: Duration = Duration::from_millis(250);
/// Most feed entries read per poll; a client further behind gets one catch-all batch.
const BATCH: u64 = 64;
/// The reconnect delay suggested to clients.
const RETRY_MS: u64 = 1000;

/// Who the stream belongs to.
pub(super) struct Owner {
    pub tenant: String,
    pub session: String,
}

/// `Last-Event-ID` → the revision it names.
pub(super) fn parse_last_event_id(v: &str) -> Option<u64> {
    v.split('-').next()?.parse().ok()
}

/// Opens the stream from revision `after` (exclusive).
pub(super) fn open(
    app: Arc<App>,
    snapshot: Arc<Snapshot>,
    owner: Owner,
    after: u64,
) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(BUFFER);
    let _ = tx.try_send(Bytes::from(format!("retry: {RETRY_MS}\n: stream open\n\n")));
    tokio::spawn(run(app, snapshot, owner, after, tx));
    let mut r = Response::new(Body::channel(rx));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies that buffer responses (nginx) would hold the events back.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    *r.status_mut() = StatusCode::OK;
    r
}

fn event(msg: &Value, id: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    out.push_str("event: message\ndata: ");
    out.push_str(&msg.to_string());
    out.push_str("\n\n");
    out
}

/// The notifications announcing `changes` to a session subscribed to `subscriptions`.
pub(super) fn notifications(changes: &[changes::Change], subscriptions: &[String]) -> Vec<Value> {
    if changes.is_empty() {
        return Vec::new();
    }
    let mut out = vec![
        json!({"jsonrpc": "2.0", "method": "notifications/prompts/list_changed"}),
        json!({"jsonrpc": "2.0", "method": "notifications/resources/list_changed"}),
    ];
    let everything = changes.iter().any(|c| c.prompt.is_none());
    for uri in subscriptions {
        let hit = everything
            || crate::mcp::resources::parse(uri)
                .is_some_and(|id| changes.iter().any(|c| c.prompt.as_deref() == Some(&id)));
        if hit {
            out.push(json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}));
        }
    }
    out
}

async fn run(
    app: Arc<App>,
    snapshot: Arc<Snapshot>,
    owner: Owner,
    mut cursor: u64,
    tx: mpsc::Sender<Bytes>,
) {
    let tag: String = session::new_id().chars().take(8).collect();
    let mcp = &snapshot.config.config.mcp;
    let storage = &app.storage;
    let mut delay = POLL_MIN;
    let mut last_sent = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = tx.closed() => return,
        }
        let current = app.snapshot();
        if !app.is_ready() || !current.is_some_and(|c| Arc::ptr_eq(&c, &snapshot)) {
            // Shutdown or reload: end the response; the client reconnects with its last
            // event id to a host (or configuration) that is still serving.
            return;
        }
        let s = match session::load(storage, &owner.tenant, &owner.session).await {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "event stream: session store unavailable");
                delay = (delay * 2).min(mcp.poll_max);
                continue;
            }
        };
        let rev = match changes::revision(storage, &owner.tenant).await {
            Ok(r) => r,
            Err(_) => {
                delay = (delay * 2).min(mcp.poll_max);
                continue;
            }
        };
        if rev > cursor {
            let batch = if rev - cursor > BATCH {
                vec![changes::Change {
                    revision: rev,
                    prompt: None,
                }]
            } else {
                match changes::since(storage, &owner.tenant, cursor, rev, BATCH as usize).await {
                    Ok(c) => c,
                    Err(_) => {
                        delay = (delay * 2).min(mcp.poll_max);
                        continue;
                    }
                }
            };
            let msgs = notifications(&batch, &s.subscriptions);
            let id = format!("{rev}-{tag}");
            let mut out = String::new();
            for (i, m) in msgs.iter().enumerate() {
                let last = i + 1 == msgs.len();
                out.push_str(&event(m, last.then_some(id.as_str())));
            }
            if tx.try_send(Bytes::from(out)).is_err() {
                return;
            }
            cursor = rev;
            last_sent = Instant::now();
            delay = POLL_MIN;
        } else {
            delay = (delay * 2).min(mcp.poll_max);
        }
        if last_sent.elapsed() >= mcp.keepalive {
            if tx
                .try_send(Bytes::from_static(b": keep-alive\n\n"))
                .is_err()
            {
                return;
            }
            last_sent = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_event_ids() {
        assert_eq!(parse_last_event_id("17-abcdefgh"), Some(17));
        assert_eq!(parse_last_event_id("17"), Some(17));
        assert_eq!(parse_last_event_id("x-1"), None);
    }

    #[test]
    fn subscribed_prompts_get_updates() {
        let c = vec![changes::Change {
            revision: 3,
            prompt: Some("a".into()),
        }];
        let subs = vec!["prompt://a".to_string(), "prompt://b".to_string()];
        let n = notifications(&c, &subs);
        assert_eq!(n.len(), 3);
        assert_eq!(n[2]["params"]["uri"], "prompt://a");
        assert!(notifications(&[], &subs).is_empty());
    }
}
