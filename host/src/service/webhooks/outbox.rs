//! The outbox: one kv entry per change event and tenant, in the host-reserved namespace
//! [`NAMESPACE`], from the prompt write that caused it until every endpoint took it (or
//! it was given up); then a record in the tenant's recent-deliveries log.
//!
//! - `out/{created ms, 13 digits}-{id}`: waiting events, oldest first. Created with the
//!   write's own transaction (plugins/rider.rs), so it exists exactly when the write
//!   committed; completed with the write's details right after (`finalized`).
//! - `log/{u64::MAX - done ms, 20 digits}-{id}`: delivered or failed events, newest first,
//!   trimmed to `webhooks.keep_recent`.
//!
//! Claims: a host takes an event by rewriting it with `lease_ms` in the future under the
//! version it read (a conditional put), so of two hosts polling one store only one sends
//! it; a host that dies mid-attempt leaves a lease that expires, and another host (or the
//! restarted one) sends it again. Delivery is at least once; receivers deduplicate on
//! `webhook-id`.

use crate::storage::{Entry, Precondition, Scope, Storage, StorageError, WriteOp};
use serde::{Deserialize, Serialize};

pub use crate::config::WEBHOOKS_NAMESPACE as NAMESPACE;

const OUT: &str = "out/";
const LOG: &str = "log/";

pub fn scope(tenant: &str) -> Scope {
    Scope {
        space: NAMESPACE.into(),
        tenant: tenant.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Pending,
    Delivered,
    Failed,
}

/// One event and where it stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The delivery id (`webhook-id`), the same on every attempt.
    pub id: String,
    #[serde(rename = "type")]
    pub event: String,
    pub tenant: String,
    pub created_ms: u64,
    /// The event's `data`: `prompt`, and `version`/`label` as the event has them.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Whether the write's details were added after it committed; an event that stays
    /// unfinalized (its host died in between) is sent as it is after a grace period.
    pub finalized: bool,
    /// Endpoint URLs that have not taken it yet.
    pub targets: Vec<String>,
    pub attempts: u32,
    /// Not before (unix ms).
    pub next_ms: u64,
    /// Claimed by a host until (unix ms).
    pub lease_ms: u64,
    pub last_error: Option<String>,
    #[serde(default)]
    pub status: Status,
    #[serde(default)]
    pub done_ms: Option<u64>,
}

impl Record {
    pub fn out_key(&self) -> String {
        format!("{OUT}{:013}-{}", self.created_ms, self.id)
    }

    fn log_key(&self, done_ms: u64) -> String {
        format!("{LOG}{:020}-{}", u64::MAX - done_ms, self.id)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, StorageError> {
        serde_json::to_vec(self).map_err(|e| StorageError::Invalid(e.to_string()))
    }

    fn from_entry(e: &Entry) -> Option<Self> {
        serde_json::from_slice(&e.value).ok()
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Writes the record under its key whatever is there (finalizing an event, or writing one
/// whose write committed without taking the rider).
pub async fn put(storage: &Storage, r: &Record) -> Result<(), StorageError> {
    storage
        .kv
        .transact(
            &scope(&r.tenant),
            vec![WriteOp::Put {
                key: r.out_key(),
                value: r.to_bytes()?,
                precondition: Precondition::None,
            }],
        )
        .await
        .map(|_| ())
}

/// Up to `limit` waiting events of `tenant`, oldest first, with their kv versions, and
/// whether more wait.
pub async fn waiting(
    storage: &Storage,
    tenant: &str,
    limit: usize,
) -> Result<(Vec<(u64, Record)>, bool), StorageError> {
    let scope = scope(tenant);
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let want = (limit - out.len()).min(crate::storage::MAX_PAGE);
        let (entries, more) = storage
            .kv
            .query(&scope, OUT, after.as_deref(), want)
            .await?;
        after = entries.last().map(|e| e.key.clone());
        out.extend(
            entries
                .iter()
                .filter_map(|e| Record::from_entry(e).map(|r| (e.version, r))),
        );
        if !more || out.len() >= limit || after.is_none() {
            return Ok((out, more));
        }
    }
}

/// Claims an event read at `version` until `lease_ms`; `None` when another host changed
/// it first. Returns the version of the claimed entry.
pub async fn claim(
    storage: &Storage,
    version: u64,
    r: &mut Record,
    lease_ms: u64,
) -> Result<Option<u64>, StorageError> {
    r.lease_ms = lease_ms;
    let ops = vec![WriteOp::Put {
        key: r.out_key(),
        value: r.to_bytes()?,
        precondition: Precondition::Version(version),
    }];
    match storage.kv.transact(&scope(&r.tenant), ops).await {
        Ok(v) => Ok(v.first().copied()),
        Err(StorageError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Puts a claimed event back with its new attempt count and time.
pub async fn reschedule(storage: &Storage, version: u64, r: &Record) -> Result<(), StorageError> {
    let ops = vec![WriteOp::Put {
        key: r.out_key(),
        value: r.to_bytes()?,
        precondition: Precondition::Version(version),
    }];
    match storage.kv.transact(&scope(&r.tenant), ops).await {
        Ok(_) | Err(StorageError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Moves a claimed event from the outbox to the log, in one transaction.
pub async fn finish(
    storage: &Storage,
    version: u64,
    r: &mut Record,
    status: Status,
) -> Result<(), StorageError> {
    let done = now_ms();
    r.status = status;
    r.done_ms = Some(done);
    r.lease_ms = 0;
    let ops = vec![
        WriteOp::Delete {
            key: r.out_key(),
            precondition: Precondition::Version(version),
        },
        WriteOp::Put {
            key: r.log_key(done),
            value: r.to_bytes()?,
            precondition: Precondition::None,
        },
    ];
    match storage.kv.transact(&scope(&r.tenant), ops).await {
        // Another host took it over after our lease ran out: its record stands.
        Ok(_) | Err(StorageError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The newest `limit` log records of `tenant`.
pub async fn recent(
    storage: &Storage,
    tenant: &str,
    limit: usize,
) -> Result<Vec<Record>, StorageError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let (entries, _) = storage.kv.query(&scope(tenant), LOG, None, limit).await?;
    Ok(entries.iter().filter_map(Record::from_entry).collect())
}

/// Deletes the log records after the newest `keep`.
pub async fn trim(storage: &Storage, tenant: &str, keep: usize) -> Result<(), StorageError> {
    let scope = scope(tenant);
    let (entries, _) = storage
        .kv
        .query(
            &scope,
            LOG,
            None,
            (keep + 100).min(crate::storage::MAX_PAGE),
        )
        .await?;
    let excess: Vec<WriteOp> = entries
        .iter()
        .skip(keep)
        .map(|e| WriteOp::Delete {
            key: e.key.clone(),
            precondition: Precondition::None,
        })
        .take(crate::storage::MAX_TRANSACT_OPS - 1)
        .collect();
    if excess.is_empty() {
        return Ok(());
    }
    storage.kv.transact(&scope, excess).await.map(|_| ())
}
