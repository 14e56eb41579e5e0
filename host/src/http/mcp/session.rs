//! MCP sessions (revisions 2025-06-18 and 2025-11-25), kept in the host kv store under
//! the namespace `mcp-sessions` (DynamoDB table `mcp-sessions` on AWS) and the caller's
//! tenant, so any host behind the load balancer can serve a session's next request.
//!
//! rmcp's own Streamable HTTP server keeps sessions in process memory, which breaks as
//! soon as a second host answers; that is why the transport and this store are ours.
//!
//! A record expires `session_ttl` after its last use: the expiry is checked on every read
//! (expired = absent) and pushed forward when a quarter of the TTL has passed. The kv
//! trait has no native TTL, so an expired record is deleted when it is next looked up.
//!
//! Sessions remember the tenant's prompt revision they last saw (`service/changes.rs`),
//! so that a change made on any host reaches every session as
//! `notifications/prompts/list_changed`.

use crate::storage::{Precondition, Scope, Storage, StorageError, WriteOp};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::service::changes::NAMESPACE;
use crate::service::changes::revision;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    #[serde(skip)]
    pub id: String,
    /// The authenticated subject the session belongs to (`None`: anonymous).
    pub subject: Option<String>,
    /// The negotiated protocol revision.
    pub version: String,
    /// The client's `initialize` params (client info, capabilities), as sent.
    pub client: serde_json::Value,
    pub expires_at: u64,
    /// The tenant prompt revision this session was last told about.
    pub seen_revision: u64,
    /// kv entry version, for compare-and-set on update.
    #[serde(skip)]
    pub entry_version: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn scope(tenant: &str) -> Scope {
    Scope {
        space: NAMESPACE.into(),
        tenant: tenant.into(),
    }
}

fn key(id: &str) -> String {
    format!("s/{id}")
}

/// 32 random bytes as URL-safe base64: 43 visible-ASCII characters, unguessable.
pub fn new_id() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A session id as a client may send it: visible ASCII (0x21–0x7E), bounded.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

pub async fn create(
    storage: &Storage,
    tenant: &str,
    subject: Option<String>,
    version: &str,
    client: serde_json::Value,
    ttl: Duration,
) -> Result<Session, StorageError> {
    let mut s = Session {
        id: new_id(),
        subject,
        version: version.to_string(),
        client,
        expires_at: now() + ttl.as_secs(),
        seen_revision: revision(storage, tenant).await?,
        entry_version: 0,
    };
    let value = serde_json::to_vec(&s).map_err(|e| StorageError::Invalid(e.to_string()))?;
    let v = storage
        .kv
        .transact(
            &scope(tenant),
            vec![WriteOp::Put {
                key: key(&s.id),
                value,
                precondition: Precondition::Absent,
            }],
        )
        .await?;
    s.entry_version = v.first().copied().unwrap_or(1);
    Ok(s)
}

/// The live session with this id, or `None` if it does not exist or has expired.
pub async fn load(
    storage: &Storage,
    tenant: &str,
    id: &str,
) -> Result<Option<Session>, StorageError> {
    if !is_valid_id(id) {
        return Ok(None);
    }
    let Some(entry) = storage.kv.get(&scope(tenant), &key(id)).await? else {
        return Ok(None);
    };
    let Ok(mut s) = serde_json::from_slice::<Session>(&entry.value) else {
        tracing::warn!("unreadable MCP session record; treating it as absent");
        return Ok(None);
    };
    if s.expires_at <= now() {
        let _ = delete(storage, tenant, id).await;
        return Ok(None);
    }
    s.id = id.to_string();
    s.entry_version = entry.version;
    Ok(Some(s))
}

/// Saves `seen_revision` and pushes the expiry forward when due. A concurrent update of
/// the same session wins (compare-and-set); this one is then simply dropped.
pub async fn touch(
    storage: &Storage,
    tenant: &str,
    s: &Session,
    seen: u64,
    ttl: Duration,
) -> Result<(), StorageError> {
    let t = now();
    let refresh = s.expires_at.saturating_sub(t) < ttl.as_secs() * 3 / 4;
    if !refresh && seen == s.seen_revision {
        return Ok(());
    }
    let mut next = s.clone();
    next.seen_revision = seen.max(s.seen_revision);
    next.expires_at = t + ttl.as_secs();
    let value = serde_json::to_vec(&next).map_err(|e| StorageError::Invalid(e.to_string()))?;
    match storage
        .kv
        .transact(
            &scope(tenant),
            vec![WriteOp::Put {
                key: key(&s.id),
                value,
                precondition: Precondition::Version(s.entry_version),
            }],
        )
        .await
    {
        Ok(_) | Err(StorageError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Ends a session; returns whether it existed.
pub async fn delete(storage: &Storage, tenant: &str, id: &str) -> Result<bool, StorageError> {
    if storage.kv.get(&scope(tenant), &key(id)).await?.is_none() {
        return Ok(false);
    }
    match storage
        .kv
        .transact(
            &scope(tenant),
            vec![WriteOp::Delete {
                key: key(id),
                precondition: Precondition::None,
            }],
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(StorageError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_visible_ascii_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert!(is_valid_id(&a));
        assert_eq!(a.len(), 43);
        assert!(!is_valid_id("with space"));
        assert!(!is_valid_id(""));
    }
}
