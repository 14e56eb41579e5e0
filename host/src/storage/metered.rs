//! A decorator around any [`KvStore`]/[`BlobStore`] that records each call's latency and
//! errors in the process metrics (`mcp_prompts_storage_*`, docs/metrics.md). Wrapped once,
//! where `App::new` opens storage, so every user (plugin imports, `/ready`) is measured.

use super::{
    BlobStore, Entry, KvStore, ObjectInfo, Precondition, Rider, Scope, Storage, StorageError,
    WriteOp,
};
use crate::config::StorageBackend;
use crate::telemetry::metrics::Metrics;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Instant;

/// Wraps both halves of `storage`.
pub fn wrap(storage: Storage, backend: StorageBackend, metrics: Arc<Metrics>) -> Storage {
    Storage {
        kv: Arc::new(MeteredKv {
            inner: storage.kv,
            m: Meter {
                backend,
                metrics: metrics.clone(),
            },
        }),
        blob: Arc::new(MeteredBlob {
            inner: storage.blob,
            m: Meter { backend, metrics },
        }),
        // Lease writes are counted by the cluster limiter itself (its own metrics), one
        // per block of requests rather than per call.
        leases: storage.leases,
    }
}

struct Meter {
    backend: StorageBackend,
    metrics: Arc<Metrics>,
}

impl Meter {
    async fn time<T>(
        &self,
        op: &'static str,
        f: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        let started = Instant::now();
        let r = f.await;
        self.metrics.storage_call(
            self.backend,
            op,
            started.elapsed(),
            r.as_ref().err().map(StorageError::kind),
        );
        r
    }
}

pub struct MeteredKv {
    inner: Arc<dyn KvStore>,
    m: Meter,
}

#[async_trait]
impl KvStore for MeteredKv {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError> {
        self.m.time("kv_get", self.inner.get(scope, key)).await
    }

    async fn transact_with(
        &self,
        scope: &Scope,
        ops: Vec<WriteOp>,
        rider: Option<Rider>,
    ) -> Result<Vec<u64>, StorageError> {
        self.m
            .time("kv_transact", self.inner.transact_with(scope, ops, rider))
            .await
    }

    async fn delete(
        &self,
        scope: &Scope,
        key: &str,
        precondition: Precondition,
    ) -> Result<bool, StorageError> {
        self.m
            .time("kv_delete", self.inner.delete(scope, key, precondition))
            .await
    }

    async fn query(
        &self,
        scope: &Scope,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Entry>, bool), StorageError> {
        self.m
            .time(
                "kv_query",
                self.inner.query(scope, prefix, start_after, limit),
            )
            .await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.m.time("kv_ping", self.inner.ping()).await
    }
}

pub struct MeteredBlob {
    inner: Arc<dyn BlobStore>,
    m: Meter,
}

#[async_trait]
impl BlobStore for MeteredBlob {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.m.time("blob_get", self.inner.get(scope, key)).await
    }

    async fn put(&self, scope: &Scope, key: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.m
            .time("blob_put", self.inner.put(scope, key, data))
            .await
    }

    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        self.m
            .time("blob_delete", self.inner.delete(scope, key))
            .await
    }

    async fn list(
        &self,
        scope: &Scope,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ObjectInfo>, bool), StorageError> {
        self.m
            .time(
                "blob_list",
                self.inner.list(scope, prefix, start_after, limit),
            )
            .await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.m.time("blob_ping", self.inner.ping()).await
    }
}
