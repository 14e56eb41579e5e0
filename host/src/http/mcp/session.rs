//! MCP sessions (revisions 2025-03-26 to 2025-11-25) in the host-reserved kv namespace
//! `mcp-sessions`, so that any host behind the load balancer serves any session.
//!
//! A session record holds named, bounded fields only — never the client's `initialize`
//! params as sent — so that it stays a few KiB whatever a client sends
//! ([`MAX_RECORD_BYTES`]). Its expiry is set at creation and pushed forward when a
//! quarter of the TTL has passed.
//!
//! Disk is bounded three ways: each principal (subject, or "anonymous" per tenant) holds
//! at most `mcp.max_sessions_per_principal` sessions (an index entry lists them; the
//! oldest is evicted to make room); every `initialize` sweeps a bounded, random window of
//! the tenant's sessions and deletes the expired ones ([`SWEEP_BATCH`] reads), which
//! reclaims abandoned sessions on the embedded store (DynamoDB also expires them by its
//! TTL attribute); and an expired record is deleted when it is next looked up.
//!
//! Sessions remember the tenant's prompt revision they last saw (`service/changes.rs`),
//! their resource subscriptions and their `logging/setLevel` level.

use crate::storage::{Precondition, Scope, Storage, StorageError, WriteOp};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::service::changes::NAMESPACE;
use crate::service::changes::revision;

/// Upper bound of a stored session record.
pub const MAX_RECORD_BYTES: usize = 4096;
/// Resource subscriptions one session may hold.
pub const MAX_SUBSCRIPTIONS: usize = 16;
/// Longest subscribed URI.
pub const MAX_URI_BYTES: usize = 160;
/// Session records examined per sweep.
const SWEEP_BATCH: usize = 8;
const NAME_BYTES: usize = 128;
const VERSION_BYTES: usize = 64;

/// What a session keeps of the client's `initialize`: who it says it is, bounded.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientInfo {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl ClientInfo {
    /// The named fields of `initialize` params' `clientInfo`, each cut to its bound.
    pub fn from_params(params: &serde_json::Value) -> Self {
        let info = params.get("clientInfo");
        let field = |k: &str, max: usize| {
            info.and_then(|i| i.get(k))
                .and_then(serde_json::Value::as_str)
                .map(|s| truncate(s, max))
        };
        Self {
            name: field("name", NAME_BYTES).unwrap_or_else(|| "unknown".into()),
            version: field("version", VERSION_BYTES).unwrap_or_else(|| "0".into()),
            title: field("title", NAME_BYTES),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    #[serde(skip)]
    pub id: String,
    /// The authenticated subject the session belongs to (`None`: anonymous).
    pub subject: Option<String>,
    /// The negotiated protocol revision.
    pub version: String,
    pub client: ClientInfo,
    pub expires_at: u64,
    /// The tenant prompt revision this session was last told about.
    pub seen_revision: u64,
    /// `prompt://…` URIs the client subscribed to.
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// The `logging/setLevel` level; `None`: no log notifications.
    #[serde(default)]
    pub log_level: Option<String>,
    /// kv entry version, for compare-and-set on update.
    #[serde(skip)]
    pub entry_version: u64,
}

/// The sessions of one principal, oldest first: `(id, expires_at)`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    sessions: Vec<(String, u64)>,
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

/// Subjects are arbitrary text up to 512 bytes; the index key is their digest.
fn index_key(subject: Option<&str>) -> String {
    use sha2::Digest as _;
    match subject {
        Some(s) => format!("p/{}", hex::encode(sha2::Sha256::digest(s.as_bytes()))),
        None => "p/anonymous".into(),
    }
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

fn encode(s: &Session) -> Result<Vec<u8>, StorageError> {
    let v = serde_json::to_vec(s).map_err(|e| StorageError::Invalid(e.to_string()))?;
    if v.len() > MAX_RECORD_BYTES {
        return Err(StorageError::Invalid(format!(
            "session record of {} bytes exceeds {MAX_RECORD_BYTES}",
            v.len()
        )));
    }
    Ok(v)
}

/// Starts a session for `subject`, evicting the principal's oldest one when it already
/// holds `max_per_principal`.
pub async fn create(
    storage: &Storage,
    tenant: &str,
    subject: Option<String>,
    version: &str,
    client: ClientInfo,
    ttl: Duration,
    max_per_principal: usize,
) -> Result<Session, StorageError> {
    sweep(storage, tenant).await;
    let mut s = Session {
        id: new_id(),
        subject,
        version: version.to_string(),
        client,
        expires_at: now() + ttl.as_secs(),
        seen_revision: revision(storage, tenant).await?,
        subscriptions: Vec::new(),
        log_level: None,
        entry_version: 0,
    };
    let value = encode(&s)?;
    let ikey = index_key(s.subject.as_deref());
    // The index is updated by compare-and-set with the new record in one transaction;
    // a concurrent `initialize` of the same principal makes one of them retry.
    for _ in 0..8 {
        let current = storage.kv.get(&scope(tenant), &ikey).await?;
        let (mut index, pre) = match &current {
            Some(e) => (
                serde_json::from_slice::<Index>(&e.value).unwrap_or_default(),
                Precondition::Version(e.version),
            ),
            None => (Index::default(), Precondition::Absent),
        };
        let t = now();
        let mut ops = Vec::new();
        index.sessions.retain(|(id, exp)| {
            let keep = *exp > t;
            if !keep {
                evict(id, &mut ops);
            }
            keep
        });
        while index.sessions.len() >= max_per_principal.max(1) {
            let (id, _) = index.sessions.remove(0);
            evict(&id, &mut ops);
        }
        index.sessions.push((s.id.clone(), s.expires_at));
        let ivalue =
            serde_json::to_vec(&index).map_err(|e| StorageError::Invalid(e.to_string()))?;
        ops.push(WriteOp::Put {
            key: ikey.clone(),
            value: ivalue,
            precondition: pre,
        });
        ops.push(WriteOp::Put {
            key: key(&s.id),
            value: value.clone(),
            precondition: Precondition::Absent,
        });
        match storage.kv.transact(&scope(tenant), ops).await {
            Ok(v) => {
                s.entry_version = v.last().copied().unwrap_or(1);
                return Ok(s);
            }
            Err(StorageError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StorageError::Unavailable(
        "too many concurrent session starts for one principal".into(),
    ))
}

fn evict(id: &str, ops: &mut Vec<WriteOp>) {
    ops.push(WriteOp::Delete {
        key: key(id),
        precondition: Precondition::None,
    });
}

/// Deletes expired sessions among a bounded random window of the tenant's records.
async fn sweep(storage: &Storage, tenant: &str) {
    let start = format!("s/{}", new_id());
    let Ok((entries, _)) = storage
        .kv
        .query(&scope(tenant), "s/", Some(&start), SWEEP_BATCH)
        .await
    else {
        return;
    };
    let t = now();
    for e in entries {
        let expired = serde_json::from_slice::<serde_json::Value>(&e.value)
            .ok()
            .and_then(|v| v.get("expiresAt").and_then(serde_json::Value::as_u64))
            .is_none_or(|exp| exp <= t);
        if expired {
            let _ = storage
                .kv
                .delete(&scope(tenant), &e.key, Precondition::Version(e.version))
                .await;
        }
    }
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
    if !refresh && seen <= s.seen_revision {
        return Ok(());
    }
    let mut next = s.clone();
    next.seen_revision = seen.max(s.seen_revision);
    if refresh {
        next.expires_at = t + ttl.as_secs();
    }
    match put(storage, tenant, &next).await {
        Ok(_) | Err(StorageError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn put(storage: &Storage, tenant: &str, s: &Session) -> Result<u64, StorageError> {
    let value = encode(s)?;
    let v = storage
        .kv
        .transact(
            &scope(tenant),
            vec![WriteOp::Put {
                key: key(&s.id),
                value,
                precondition: Precondition::Version(s.entry_version),
            }],
        )
        .await?;
    Ok(v.first().copied().unwrap_or(0))
}

/// Why a session update was refused.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("session not found or expired")]
    Gone,
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Applies `f` to the live session by compare-and-set, retrying on concurrent updates.
pub async fn update(
    storage: &Storage,
    tenant: &str,
    id: &str,
    f: impl Fn(&mut Session) -> Result<(), String>,
) -> Result<Session, UpdateError> {
    for _ in 0..8 {
        let Some(mut s) = load(storage, tenant, id).await? else {
            return Err(UpdateError::Gone);
        };
        f(&mut s).map_err(UpdateError::Refused)?;
        match put(storage, tenant, &s).await {
            Ok(v) => {
                s.entry_version = v;
                return Ok(s);
            }
            Err(StorageError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StorageError::Unavailable("the session is being updated concurrently".into()).into())
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
    use serde_json::json;

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

    #[test]
    fn client_info_is_named_and_bounded() {
        let big = "é".repeat(100_000);
        let c = ClientInfo::from_params(&json!({
            "clientInfo": {"name": big, "version": "1", "junk": big},
            "capabilities": {"x": big}
        }));
        assert!(c.name.len() <= NAME_BYTES);
        assert_eq!(c.version, "1");
        let s = Session {
            id: String::new(),
            subject: Some("x".repeat(512)),
            version: "2025-11-25".into(),
            client: c,
            expires_at: 1,
            seen_revision: 1,
            subscriptions: vec!["u".repeat(MAX_URI_BYTES); MAX_SUBSCRIPTIONS],
            log_level: Some("debug".into()),
            entry_version: 0,
        };
        assert!(encode(&s).is_ok());
    }
}
