//! Change notification: a per-tenant change feed in shared storage.
//!
//! Every successful prompt write (REST, MCP tools, stdio) bumps the tenant's revision, a
//! kv entry whose version is the counter, and then records what changed under that
//! revision (`feed/{rev}`, the prompt id). It lives in storage rather than in process
//! memory because the change may be made on one host and announced by another: an MCP
//! event stream served by any host polls the revision (one point read, with backoff) and
//! reads the feed entries after the last one it delivered, which also makes the
//! revision a resumable SSE event id (`Last-Event-ID`). A polled feed was chosen over
//! DynamoDB Streams because it works the same on the embedded store and on AWS, needs no
//! stream consumer per host, and costs one read per open stream per poll.
//!
//! The feed keeps the last [`FEED_LEN`] entries; older ones are deleted as new ones are
//! written, so a client resuming from further back is told "everything may have changed"
//! (a list_changed without per-prompt detail).

use crate::storage::{Precondition, Scope, Storage, StorageError, WriteOp};
use serde::{Deserialize, Serialize};

/// The host-reserved kv namespace of MCP sessions, the revision counter and the feed
/// (DynamoDB table `mcp-sessions` on AWS).
pub const NAMESPACE: &str = "mcp-sessions";
const REVISION_KEY: &str = "rev/prompts";
const FEED_PREFIX: &str = "feed/";
/// Feed entries kept per tenant.
pub const FEED_LEN: u64 = 256;

fn scope(tenant: &str) -> Scope {
    Scope {
        space: NAMESPACE.into(),
        tenant: tenant.into(),
    }
}

fn feed_key(rev: u64) -> String {
    format!("{FEED_PREFIX}{rev:020}")
}

/// One recorded change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Change {
    #[serde(skip)]
    pub revision: u64,
    /// The prompt that changed (`None`: unknown, e.g. a bulk import).
    pub prompt: Option<String>,
}

/// The tenant's prompt revision: the kv version of its counter entry (0: never bumped).
pub async fn revision(storage: &Storage, tenant: &str) -> Result<u64, StorageError> {
    Ok(storage
        .kv
        .get(&scope(tenant), REVISION_KEY)
        .await?
        .map_or(0, |e| e.version))
}

/// Records that the tenant's prompts changed. Every write bumps the entry's version.
pub async fn bump_revision(storage: &Storage, tenant: &str) -> Result<u64, StorageError> {
    let v = storage
        .kv
        .transact(
            &scope(tenant),
            vec![WriteOp::Put {
                key: REVISION_KEY.into(),
                value: b"{}".to_vec(),
                precondition: Precondition::None,
            }],
        )
        .await?;
    Ok(v.first().copied().unwrap_or(0))
}

/// Bumps the revision and records `prompt` under it, dropping the entry that fell out
/// of the window. The two steps are not atomic: a reader that sees the new revision
/// before its entry treats the missing entry as "something changed".
pub async fn record(
    storage: &Storage,
    tenant: &str,
    prompt: Option<&str>,
) -> Result<u64, StorageError> {
    let rev = bump_revision(storage, tenant).await?;
    let change = Change {
        revision: rev,
        prompt: prompt.map(str::to_string),
    };
    let value = serde_json::to_vec(&change).map_err(|e| StorageError::Invalid(e.to_string()))?;
    let mut ops = vec![WriteOp::Put {
        key: feed_key(rev),
        value,
        precondition: Precondition::None,
    }];
    if rev > FEED_LEN {
        ops.push(WriteOp::Delete {
            key: feed_key(rev - FEED_LEN),
            precondition: Precondition::None,
        });
    }
    storage.kv.transact(&scope(tenant), ops).await?;
    Ok(rev)
}

/// The changes after revision `after` up to `upto`, oldest first (at most `limit`).
/// A revision in that range without a feed entry (expired, or its entry not yet
/// written) comes back with `prompt: None`: the reader must assume anything changed.
pub async fn since(
    storage: &Storage,
    tenant: &str,
    after: u64,
    upto: u64,
    limit: usize,
) -> Result<Vec<Change>, StorageError> {
    if upto <= after {
        return Ok(Vec::new());
    }
    let start = feed_key(after);
    let want = ((upto - after) as usize).min(limit);
    let (entries, _) = storage
        .kv
        .query(&scope(tenant), FEED_PREFIX, Some(&start), want)
        .await?;
    let mut found = std::collections::BTreeMap::new();
    for e in entries {
        let Some(rev) = e
            .key
            .strip_prefix(FEED_PREFIX)
            .and_then(|r| r.parse::<u64>().ok())
        else {
            continue;
        };
        if rev > after && rev <= upto {
            let prompt = serde_json::from_slice::<Change>(&e.value)
                .ok()
                .and_then(|c| c.prompt);
            found.insert(rev, prompt);
        }
    }
    Ok((after + 1..=upto)
        .take(want)
        .map(|revision| Change {
            revision,
            prompt: found.get(&revision).cloned().flatten(),
        })
        .collect())
}

/// [`record`], for callers that carry on whatever happens: a failure costs a
/// notification, never the write that caused it.
pub async fn prompts_changed(storage: &Storage, tenant: &str, prompt: Option<&str>) {
    if let Err(e) = record(storage, tenant, prompt).await {
        tracing::warn!(error = %e, "could not record the prompt change for MCP notifications");
    }
}
