//! The embedded backend: kv in redb (a pure-Rust, ACID, crash-safe embedded database),
//! blobs as files written with write-to-temp, fsync and atomic rename.
//!
//! Every redb commit uses `Durability::Immediate`, so a write acknowledged to a plugin is
//! on disk and survives `kill -9`. redb is synchronous: writes and range scans run on
//! tokio's blocking pool; point reads run inline (see `EmbeddedKv::get`).

use super::*;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One table for every namespace: the physical key is `namespace \0 tenant \0 key`, which
/// keeps prefix scans within one tenant and makes cross-tenant reads unrepresentable.
const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");

/// Whether another process holds the store under `data_dir` open (redb takes an exclusive
/// file lock): a running server, which the data commands then reach through its API
/// instead. A store that does not exist yet is not locked, and is not created here.
pub fn is_locked(data_dir: &Path) -> bool {
    let path = kv_dir(data_dir).join(KV_FILE);
    path.exists()
        && matches!(
            Database::create(&path),
            Err(redb::DatabaseError::DatabaseAlreadyOpen)
        )
}

pub struct EmbeddedKv {
    db: Arc<Database>,
}

impl EmbeddedKv {
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StorageError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
        let path = dir.join(KV_FILE);
        let db = Database::create(&path).map_err(|e| {
            StorageError::Unavailable(format!("cannot open {}: {e}", path.display()))
        })?;
        // Create the table up front so that read transactions never see it missing.
        let tx = db.begin_write().map_err(unavailable)?;
        tx.open_table(KV).map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(Self { db: Arc::new(db) })
    }

    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, StorageError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StorageError::Unavailable(format!("storage task failed: {e}")))?
    }
}

fn unavailable(e: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(e.to_string())
}

fn physical_prefix(scope: &Scope) -> String {
    format!("{}\0{}\0", scope.space, scope.tenant)
}

fn encode(version: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(value);
    out
}

fn decode(raw: &[u8]) -> Result<(u64, Vec<u8>), StorageError> {
    if raw.len() < 8 {
        return Err(StorageError::Unavailable(
            "corrupt kv record (too short)".into(),
        ));
    }
    let (v, rest) = raw.split_at(8);
    let mut b = [0u8; 8];
    b.copy_from_slice(v);
    Ok((u64::from_le_bytes(b), rest.to_vec()))
}

#[async_trait]
impl KvStore for EmbeddedKv {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError> {
        check_key(key)?;
        let pkey = format!("{}{key}", physical_prefix(scope));
        // Inline, not on the blocking pool: a point read is a B-tree walk over redb's page
        // cache (a few microseconds; a read transaction never waits for the writer), which
        // costs less than the hop to a blocking thread and back that every request would
        // otherwise pay several times. Scans and writes, which can take long, still hop.
        let tx = self.db.begin_read().map_err(unavailable)?;
        let table = tx.open_table(KV).map_err(unavailable)?;
        match table.get(pkey.as_str()).map_err(unavailable)? {
            None => Ok(None),
            Some(v) => {
                let (version, value) = decode(v.value())?;
                Ok(Some(Entry {
                    key: key.to_string(),
                    value,
                    version,
                }))
            }
        }
    }

    async fn transact_with(
        &self,
        scope: &Scope,
        ops: Vec<WriteOp>,
        rider: Option<Rider>,
    ) -> Result<Vec<u64>, StorageError> {
        check_ops(&ops)?;
        if let Some(r) = &rider {
            check_rider(r)?;
        }
        let prefix = physical_prefix(scope);
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(unavailable)?;
            let mut versions = Vec::with_capacity(ops.len());
            {
                let mut table = tx.open_table(KV).map_err(unavailable)?;
                for op in &ops {
                    let pkey = format!("{prefix}{}", op.key());
                    let current = match table.get(pkey.as_str()).map_err(unavailable)? {
                        Some(v) => Some(decode(v.value())?.0),
                        None => None,
                    };
                    let ok = match (op, current) {
                        (
                            WriteOp::Put { precondition, .. }
                            | WriteOp::Delete { precondition, .. },
                            cur,
                        ) => match (precondition, cur) {
                            (Precondition::None, _) => true,
                            (Precondition::Absent, None) => true,
                            (Precondition::Absent, Some(_)) => false,
                            (Precondition::Version(want), Some(have)) => *want == have,
                            (Precondition::Version(_), None) => false,
                        },
                    };
                    if !ok {
                        // Dropping the transaction without commit aborts every op.
                        return Err(StorageError::Conflict(op.key().to_string()));
                    }
                    match op {
                        WriteOp::Put { value, .. } => {
                            let next = current.unwrap_or(0) + 1;
                            table
                                .insert(pkey.as_str(), encode(next, value).as_slice())
                                .map_err(unavailable)?;
                            versions.push(next);
                        }
                        WriteOp::Delete { .. } => {
                            table.remove(pkey.as_str()).map_err(unavailable)?;
                            versions.push(0);
                        }
                    }
                }
                // The rider joins the same write transaction: both commit or neither.
                if let Some(r) = &rider {
                    let pkey = format!("{}{}", physical_prefix(&r.scope), r.key);
                    if table.get(pkey.as_str()).map_err(unavailable)?.is_some() {
                        return Err(StorageError::Conflict(r.key.clone()));
                    }
                    table
                        .insert(pkey.as_str(), encode(1, &r.value).as_slice())
                        .map_err(unavailable)?;
                }
            }
            tx.commit().map_err(unavailable)?;
            Ok(versions)
        })
        .await
    }

    async fn delete(
        &self,
        scope: &Scope,
        key: &str,
        precondition: Precondition,
    ) -> Result<bool, StorageError> {
        check_key(key)?;
        let pkey = format!("{}{key}", physical_prefix(scope));
        let key = key.to_string();
        self.blocking(move |db| {
            // Check and remove inside one write transaction: existence is exact.
            let tx = db.begin_write().map_err(unavailable)?;
            let existed = {
                let mut table = tx.open_table(KV).map_err(unavailable)?;
                let current = match table.get(pkey.as_str()).map_err(unavailable)? {
                    Some(v) => Some(decode(v.value())?.0),
                    None => None,
                };
                let ok = match (precondition, current) {
                    (Precondition::None, _) | (Precondition::Absent, None) => true,
                    (Precondition::Version(want), Some(have)) => want == have,
                    _ => false,
                };
                if !ok {
                    return Err(StorageError::Conflict(key));
                }
                if current.is_some() {
                    table.remove(pkey.as_str()).map_err(unavailable)?;
                }
                current.is_some()
            };
            if existed {
                tx.commit().map_err(unavailable)?;
            }
            Ok(existed)
        })
        .await
    }

    async fn query(
        &self,
        scope: &Scope,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Entry>, bool), StorageError> {
        let base = physical_prefix(scope);
        let full_prefix = format!("{base}{prefix}");
        let start = match start_after {
            Some(after) => {
                check_key(after)?;
                format!("{base}{after}")
            }
            None => full_prefix.clone(),
        };
        let skip_start = start_after.is_some();
        let limit = limit.clamp(1, MAX_PAGE);
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(unavailable)?;
            let table = tx.open_table(KV).map_err(unavailable)?;
            let mut out = Vec::new();
            let mut more = false;
            let mut bytes = 0usize;
            for item in table.range(start.as_str()..).map_err(unavailable)? {
                let (k, v) = item.map_err(unavailable)?;
                let k = k.value();
                if !k.starts_with(full_prefix.as_str()) {
                    break;
                }
                if skip_start && k == start {
                    continue;
                }
                if out.len() == limit || bytes >= super::MAX_PAGE_BYTES {
                    more = true;
                    break;
                }
                let (version, value) = decode(v.value())?;
                bytes += value.len();
                out.push(Entry {
                    key: k[base.len()..].to_string(),
                    value,
                    version,
                });
            }
            Ok((out, more))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.blocking(|db| {
            let tx = db.begin_read().map_err(unavailable)?;
            tx.open_table(KV).map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}

/// Blobs as files: `<dir>/<bucket>/<tenant>/<hex(key)>`. Hex keeps any key a safe file name
/// and preserves byte order and prefixes, so listing by prefix is a filtered, sorted scan.
pub struct EmbeddedBlobs {
    dir: PathBuf,
}

impl EmbeddedBlobs {
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StorageError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn scope_dir(&self, scope: &Scope) -> PathBuf {
        self.dir.join(&scope.space).join(&scope.tenant)
    }
}

fn io_err(e: std::io::Error) -> StorageError {
    StorageError::Unavailable(e.to_string())
}

async fn run_blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, StorageError> + Send + 'static,
) -> Result<R, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Unavailable(format!("storage task failed: {e}")))?
}

#[async_trait]
impl BlobStore for EmbeddedBlobs {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(key)?;
        let path = self.scope_dir(scope).join(hex::encode(key));
        run_blocking(move || match std::fs::read(&path) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(e)),
        })
        .await
    }

    async fn put(&self, scope: &Scope, key: &str, data: Vec<u8>) -> Result<(), StorageError> {
        check_key(key)?;
        if data.len() > MAX_BLOB_BYTES {
            return Err(StorageError::Invalid(format!(
                "object is {} bytes, the limit is {MAX_BLOB_BYTES}",
                data.len()
            )));
        }
        let dir = self.scope_dir(scope);
        let name = hex::encode(key);
        run_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(io_err)?;
            let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
            let result = (|| {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&data)?;
                f.sync_all()?;
                std::fs::rename(&tmp, dir.join(&name))?;
                // The rename is durable only once the directory entry is synced.
                std::fs::File::open(&dir)?.sync_all()
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result.map_err(io_err)
        })
        .await
    }

    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        check_key(key)?;
        let path = self.scope_dir(scope).join(hex::encode(key));
        run_blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(e)),
        })
        .await
    }

    async fn list(
        &self,
        scope: &Scope,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ObjectInfo>, bool), StorageError> {
        let dir = self.scope_dir(scope);
        let hex_prefix = hex::encode(prefix);
        let after = start_after.map(hex::encode);
        let limit = limit.clamp(1, MAX_PAGE);
        run_blocking(move || {
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], false)),
                Err(e) => return Err(io_err(e)),
            };
            let mut names = Vec::new();
            for ent in rd {
                let ent = ent.map_err(io_err)?;
                let Some(name) = ent.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if name.starts_with('.') || !name.starts_with(&hex_prefix) {
                    continue;
                }
                if after.as_ref().is_some_and(|a| name.as_str() <= a.as_str()) {
                    continue;
                }
                let size = ent.metadata().map_err(io_err)?.len();
                names.push((name, size));
            }
            names.sort();
            let more = names.len() > limit;
            names.truncate(limit);
            let objects = names
                .into_iter()
                .filter_map(|(n, size)| {
                    let key = String::from_utf8(hex::decode(n).ok()?).ok()?;
                    Some(ObjectInfo { key, size })
                })
                .collect();
            Ok((objects, more))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        let dir = self.dir.clone();
        run_blocking(move || std::fs::metadata(&dir).map(|_| ()).map_err(io_err)).await
    }
}

const KV_FILE: &str = "kv.redb";

fn kv_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("kv")
}

/// Opens the embedded kv and blob stores under `data_dir`.
pub fn open(data_dir: &Path) -> Result<Storage, StorageError> {
    Ok(Storage {
        kv: Arc::new(EmbeddedKv::open(&kv_dir(data_dir))?),
        blob: Arc::new(EmbeddedBlobs::open(&data_dir.join("blobs"))?),
        // One process's file: nothing to share budgets through (config/limits.rs refuses
        // `mode = "cluster"` with this backend).
        leases: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(t: &str) -> Scope {
        Scope {
            space: "prompts".into(),
            tenant: t.into(),
        }
    }

    fn put(key: &str, v: &str, p: Precondition) -> WriteOp {
        WriteOp::Put {
            key: key.into(),
            value: v.as_bytes().to_vec(),
            precondition: p,
        }
    }

    /// The rider commits with its transaction and never without it.
    #[tokio::test]
    async fn a_rider_commits_exactly_with_its_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let kv = EmbeddedKv::open(dir.path()).unwrap();
        let s = scope("a");
        let outbox = Scope {
            space: "webhooks".into(),
            tenant: "a".into(),
        };
        let rider = |k: &str| Rider {
            scope: outbox.clone(),
            key: k.into(),
            value: b"event".to_vec(),
        };
        // A refused transaction writes neither.
        let r = kv
            .transact_with(
                &s,
                vec![put("p", "v", Precondition::Version(7))],
                Some(rider("out/1")),
            )
            .await;
        assert!(matches!(r, Err(StorageError::Conflict(_))), "{r:?}");
        assert!(kv.get(&outbox, "out/1").await.unwrap().is_none());
        assert!(kv.get(&s, "p").await.unwrap().is_none());
        // A committed one writes both; the versions are the ops' only.
        let v = kv
            .transact_with(
                &s,
                vec![put("p", "v", Precondition::Absent)],
                Some(rider("out/1")),
            )
            .await
            .unwrap();
        assert_eq!(v, vec![1]);
        assert_eq!(
            kv.get(&outbox, "out/1").await.unwrap().unwrap().value,
            b"event"
        );
        // A rider whose key exists fails the whole transaction.
        let r = kv
            .transact_with(
                &s,
                vec![put("p", "w", Precondition::None)],
                Some(rider("out/1")),
            )
            .await;
        assert!(matches!(r, Err(StorageError::Conflict(k)) if k == "out/1"));
        assert_eq!(kv.get(&s, "p").await.unwrap().unwrap().value, b"v");
    }

    #[tokio::test]
    async fn a_query_page_ends_at_the_byte_budget() {
        let dir = tempfile::tempdir().unwrap();
        let kv = EmbeddedKv::open(dir.path()).unwrap();
        let s = scope("a");
        let big = "x".repeat(crate::storage::MAX_VALUE_BYTES);
        for i in 0..6 {
            kv.transact(&s, vec![put(&format!("k{i}"), &big, Precondition::None)])
                .await
                .unwrap();
        }
        let (page, more) = kv.query(&s, "k", None, 1000).await.unwrap();
        let per_page = crate::storage::MAX_PAGE_BYTES / crate::storage::MAX_VALUE_BYTES;
        assert_eq!((page.len(), more), (per_page, true));
        let last = page.last().unwrap().key.clone();
        let (rest, more) = kv.query(&s, "k", Some(&last), 1000).await.unwrap();
        assert_eq!((rest.len(), more), (6 - per_page, false));
    }

    #[tokio::test]
    async fn cas_versions_and_atomicity() {
        let dir = tempfile::tempdir().unwrap();
        let kv = EmbeddedKv::open(dir.path()).unwrap();
        let s = scope("a");
        assert_eq!(
            kv.transact(&s, vec![put("k", "1", Precondition::Absent)])
                .await
                .unwrap(),
            vec![1]
        );
        assert!(matches!(
            kv.transact(&s, vec![put("k", "x", Precondition::Absent)])
                .await,
            Err(StorageError::Conflict(_))
        ));
        assert_eq!(
            kv.transact(&s, vec![put("k", "2", Precondition::Version(1))])
                .await
                .unwrap(),
            vec![2]
        );
        // A failing op aborts the ops before it.
        let r = kv
            .transact(
                &s,
                vec![
                    put("other", "o", Precondition::None),
                    put("k", "3", Precondition::Version(1)),
                ],
            )
            .await;
        assert!(matches!(r, Err(StorageError::Conflict(k)) if k == "k"));
        assert!(kv.get(&s, "other").await.unwrap().is_none());
        let e = kv.get(&s, "k").await.unwrap().unwrap();
        assert_eq!((e.value.as_slice(), e.version), (b"2".as_slice(), 2));
    }

    #[tokio::test]
    async fn tenants_are_isolated_and_queries_paginate() {
        let dir = tempfile::tempdir().unwrap();
        let kv = EmbeddedKv::open(dir.path()).unwrap();
        for i in 0..5 {
            kv.transact(
                &scope("a"),
                vec![put(&format!("p/{i}"), "x", Precondition::None)],
            )
            .await
            .unwrap();
        }
        kv.transact(&scope("b"), vec![put("p/9", "y", Precondition::None)])
            .await
            .unwrap();
        assert!(kv.get(&scope("b"), "p/1").await.unwrap().is_none());
        let (page, more) = kv.query(&scope("a"), "p/", None, 2).await.unwrap();
        assert_eq!(
            page.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
            ["p/0", "p/1"]
        );
        assert!(more);
        let (page, more) = kv.query(&scope("a"), "p/", Some("p/1"), 10).await.unwrap();
        assert_eq!(page.len(), 3);
        assert!(!more);
    }

    #[tokio::test]
    async fn blobs_round_trip_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let b = EmbeddedBlobs::open(dir.path()).unwrap();
        let s = scope("a");
        b.put(&s, "x/1", b"one".to_vec()).await.unwrap();
        b.put(&s, "x/2", b"two".to_vec()).await.unwrap();
        b.put(&s, "y", b"why".to_vec()).await.unwrap();
        assert_eq!(b.get(&s, "x/2").await.unwrap().unwrap(), b"two");
        assert!(b.get(&scope("other"), "x/2").await.unwrap().is_none());
        let (l, more) = b.list(&s, "x/", None, 1).await.unwrap();
        assert_eq!((l[0].key.as_str(), more), ("x/1", true));
        let (l, more) = b.list(&s, "x/", Some("x/1"), 10).await.unwrap();
        assert_eq!((l.len(), more), (1, false));
        assert!(b.delete(&s, "y").await.unwrap());
        assert!(!b.delete(&s, "y").await.unwrap());
    }
}
