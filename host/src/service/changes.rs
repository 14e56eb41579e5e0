//! Change notification: a per-tenant prompt revision in shared storage.
//!
//! Every successful prompt write (REST, MCP tools, stdio) bumps the tenant's revision, a
//! kv entry whose version is the counter. It lives in storage rather than in process
//! memory because the change may be made on one host and announced by another: an MCP
//! session served by any host compares the revision with the one it last saw and sends
//! `notifications/prompts/list_changed` when it moved.

use crate::storage::{Precondition, Scope, Storage, StorageError, WriteOp};

/// The host-reserved kv namespace of MCP sessions and the revision counter
/// (DynamoDB table `mcp-sessions` on AWS).
pub const NAMESPACE: &str = "mcp-sessions";
const REVISION_KEY: &str = "rev/prompts";

fn scope(tenant: &str) -> Scope {
    Scope {
        space: NAMESPACE.into(),
        tenant: tenant.into(),
    }
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

/// [`bump_revision`], for callers that carry on whatever happens: a failure costs a
/// notification, never the write that caused it.
pub async fn prompts_changed(storage: &Storage, tenant: &str) {
    if let Err(e) = bump_revision(storage, tenant).await {
        tracing::warn!(error = %e, "could not record the prompt change for MCP notifications");
    }
}
