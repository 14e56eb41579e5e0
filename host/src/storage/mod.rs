//! Storage behind the plugins' `kv` and `blob` imports.
//!
//! Backends see a [`Scope`] (namespace or bucket, plus tenant) on every call, so tenant
//! isolation is a property of the key space rather than something each plugin must get right.

pub mod aws;
pub mod embedded;
pub mod metered;

use async_trait::async_trait;
use std::sync::Arc;

/// Where a call lands: a granted namespace (kv) or bucket (blob), within one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub space: String,
    pub tenant: String,
}

/// The logical blob bucket of the images in chat messages, kept by the host
/// (service/media.rs). Plugin bucket names start with a letter or digit, so no plugin can
/// be granted it.
pub const MEDIA_BUCKET: &str = "_media";

/// Longest key a plugin may use (DynamoDB's sort key limit is 1024 bytes; stay well inside).
pub const MAX_KEY_BYTES: usize = 512;
/// Largest kv value. The AWS backend keeps values above its item limit (400 KB) in S3
/// behind a pointer, so this is a bound on memory per call, not on DynamoDB.
pub const MAX_VALUE_BYTES: usize = 4 * 1024 * 1024;
/// Largest blob object.
pub const MAX_BLOB_BYTES: usize = 64 * 1024 * 1024;
/// Most writes in one transaction (DynamoDB's TransactWriteItems limit).
pub const MAX_TRANSACT_OPS: usize = 100;
/// Most entries in one query page.
pub const MAX_PAGE: usize = 1000;
/// Most value bytes in one query page: a page ends early (with more to come) once its
/// values reach this, so one query holds at most this much (plus one value) in host memory
/// instead of `MAX_PAGE × MAX_VALUE_BYTES`.
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
/// Most S3 reads of offloaded values in flight for one query page.
pub const MAX_PAGE_FETCHES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Vec<u8>,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    None,
    Absent,
    Version(u64),
}

#[derive(Debug, Clone)]
pub enum WriteOp {
    Put {
        key: String,
        value: Vec<u8>,
        precondition: Precondition,
    },
    Delete {
        key: String,
        precondition: Precondition,
    },
}

impl WriteOp {
    pub fn key(&self) -> &str {
        match self {
            WriteOp::Put { key, .. } | WriteOp::Delete { key, .. } => key,
        }
    }
}

/// An entry the host creates together with a plugin's transaction, in a scope of its own:
/// written only if the transaction commits, and never without it (the webhook outbox:
/// service/webhooks). Its key must be absent (a fresh id); its value is small.
#[derive(Debug, Clone)]
pub struct Rider {
    pub scope: Scope,
    pub key: String,
    pub value: Vec<u8>,
}

/// Largest rider value: it always fits one DynamoDB item inline.
pub const MAX_RIDER_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A precondition failed on this key.
    #[error("precondition failed for key {0:?}")]
    Conflict(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl StorageError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageError::Conflict(_) => "conflict",
            StorageError::Invalid(_) => "invalid",
            StorageError::Unavailable(_) => "unavailable",
        }
    }
}

#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError>;

    /// Applies all ops atomically; returns each op's new version (0 for deletes).
    async fn transact(&self, scope: &Scope, ops: Vec<WriteOp>) -> Result<Vec<u64>, StorageError> {
        self.transact_with(scope, ops, None).await
    }

    /// [`KvStore::transact`], and when `rider` is given also creates the rider's entry in
    /// the same atomic commit (a rider whose key exists fails the whole transaction with
    /// a conflict on that key). Returns the versions of `ops` only.
    async fn transact_with(
        &self,
        scope: &Scope,
        ops: Vec<WriteOp>,
        rider: Option<Rider>,
    ) -> Result<Vec<u64>, StorageError>;

    /// Deletes `key` under `precondition` and reports whether it existed, in one atomic
    /// step (a `Version` precondition on a missing key is a conflict).
    async fn delete(
        &self,
        scope: &Scope,
        key: &str,
        precondition: Precondition,
    ) -> Result<bool, StorageError>;

    /// Entries with `prefix`, ascending, strictly after `start_after` if given.
    /// Returns at most `limit` entries and whether more may follow.
    async fn query(
        &self,
        scope: &Scope,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Entry>, bool), StorageError>;

    /// Cheap liveness probe for `/ready`.
    async fn ping(&self) -> Result<(), StorageError>;
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    async fn put(&self, scope: &Scope, key: &str, data: Vec<u8>) -> Result<(), StorageError>;
    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError>;
    async fn list(
        &self,
        scope: &Scope,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ObjectInfo>, bool), StorageError>;
    async fn ping(&self) -> Result<(), StorageError>;
}

/// What one lease of rate-limit tokens got ([`LeaseStore::lease`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Tokens this host may spend: `min(block, limit - counter before)`, 0 when the
    /// counter had already reached the limit.
    pub granted: u64,
    /// The shared counter after this lease (tokens leased by every host so far; it may
    /// exceed the limit by less than one block, the part of the last lease not granted).
    pub used: u64,
}

/// Counters shared by every host on the same storage, from which the cluster-wide rate
/// limits lease blocks of tokens (plugins/cluster_limits.rs). Only shared backends have
/// one: a counter in one process's embedded store would limit nothing across hosts.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// In ONE atomic conditional write: when counter `key` of `tenant` is below `limit`
    /// (or absent), adds `block` to it, and reports what was granted. A counter at or over
    /// the limit is left alone and grants 0. `expires_at` (epoch seconds) is when the
    /// counter may be forgotten (its window is over).
    async fn lease(
        &self,
        tenant: &str,
        key: &str,
        block: u64,
        limit: u64,
        expires_at: u64,
    ) -> Result<Lease, StorageError>;
}

/// The grant of a lease that moved a counter from `before` by `block` under `limit`: the
/// leases of all hosts take disjoint ranges `[before, before + block)` of the counter, and
/// only the part of each range below `limit` is spendable, so the grants of one window
/// never sum to more than `limit`.
pub fn granted(before: u64, block: u64, limit: u64) -> u64 {
    limit.saturating_sub(before).min(block)
}

/// Opens the configured backend.
pub async fn open(config: &crate::config::LoadedConfig) -> Result<Storage, StorageError> {
    match config.config.storage.backend {
        crate::config::StorageBackend::Embedded => {
            let data_dir = config.data_dir();
            tokio::task::spawn_blocking(move || embedded::open(&data_dir))
                .await
                .map_err(|e| StorageError::Unavailable(format!("storage task failed: {e}")))?
        }
        crate::config::StorageBackend::Aws => match &config.config.storage.aws {
            Some(aws) => aws::open(aws).await,
            None => Err(StorageError::Invalid(
                "storage.backend = \"aws\" needs [storage.aws]".into(),
            )),
        },
    }
}

/// The storage a running server hands to plugins.
#[derive(Clone)]
pub struct Storage {
    pub kv: Arc<dyn KvStore>,
    pub blob: Arc<dyn BlobStore>,
    /// Shared counters for cluster-wide rate limits (`None`: this backend has none).
    pub leases: Option<Arc<dyn LeaseStore>>,
}

impl Storage {
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.kv.ping().await?;
        self.blob.ping().await
    }
}

/// Checks a plugin-supplied key before it reaches a backend.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() {
        return Err(StorageError::Invalid("key must not be empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StorageError::Invalid(format!(
            "key is {} bytes, the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    if key.contains('\0') {
        return Err(StorageError::Invalid("key must not contain NUL".into()));
    }
    Ok(())
}

/// Checks a rider before it reaches a backend.
pub fn check_rider(rider: &Rider) -> Result<(), StorageError> {
    check_key(&rider.key)?;
    if rider.value.len() > MAX_RIDER_BYTES {
        return Err(StorageError::Invalid(format!(
            "rider value is {} bytes, the limit is {MAX_RIDER_BYTES}",
            rider.value.len()
        )));
    }
    Ok(())
}

/// Checks a transaction before it reaches a backend.
pub fn check_ops(ops: &[WriteOp]) -> Result<(), StorageError> {
    if ops.is_empty() {
        return Err(StorageError::Invalid(
            "transaction has no operations".into(),
        ));
    }
    if ops.len() > MAX_TRANSACT_OPS {
        return Err(StorageError::Invalid(format!(
            "transaction has {} operations, the limit is {MAX_TRANSACT_OPS}",
            ops.len()
        )));
    }
    let mut keys = std::collections::HashSet::new();
    for op in ops {
        check_key(op.key())?;
        if !keys.insert(op.key()) {
            return Err(StorageError::Invalid(format!(
                "key {:?} appears twice in one transaction",
                op.key()
            )));
        }
        if let WriteOp::Put { value, .. } = op
            && value.len() > MAX_VALUE_BYTES
        {
            return Err(StorageError::Invalid(format!(
                "value for {:?} is {} bytes, the limit is {MAX_VALUE_BYTES}",
                op.key(),
                value.len()
            )));
        }
    }
    Ok(())
}
