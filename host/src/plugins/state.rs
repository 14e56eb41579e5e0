//! Per-call store state and the host side of the plugin imports (kv, blob, render, log,
//! config, limits). Every import checks the calling plugin's grants and scopes keys to the call's
//! tenant before touching storage.

use super::bindings::{blob, config, kv, limits, log, render, rendering};
use super::runtime::{CallScope, LoadedPlugin, PluginFailure, Runtime};
use crate::storage::{self, Precondition, Scope, StorageError, WriteOp};
use base64::Engine as _;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The `T` of every plugin `Store`.
pub struct State {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limits: Limits,
    pub(super) plugin: Arc<LoadedPlugin>,
    pub(super) scope: CallScope,
    pub(super) runtime: Runtime,
    /// The renderer instance this call's `render` imports share (warm.rs): one per
    /// request, however many partials a template pulls in.
    pub(super) renderer_live: Option<super::warm::Live>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Resource limits of one store. Records which limit was hit so that the failure can be
/// reported as a limit (500 with `plugin-limit`) rather than as an anonymous trap.
pub struct Limits {
    pub memory: usize,
    pub table_elements: usize,
    pub instances: usize,
    pub tables: usize,
    pub memories: usize,
}

/// Raised (as the trap's error) when a plugin exceeds a configured limit.
#[derive(Debug, thiserror::Error)]
#[error("plugin exceeded its {what} limit ({limit})")]
pub struct LimitExceeded {
    pub what: &'static str,
    pub limit: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        if desired > self.memory {
            return Err(LimitExceeded {
                what: "memory",
                limit: self.memory,
            }
            .into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        if desired > self.table_elements {
            return Err(LimitExceeded {
                what: "table",
                limit: self.table_elements,
            }
            .into());
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }
    fn tables(&self) -> usize {
        self.tables
    }
    fn memories(&self) -> usize {
        self.memories
    }
}

impl State {
    fn kv_scope(&self, namespace: &str) -> Result<Scope, String> {
        if self.plugin.config.kv.iter().any(|n| n == namespace) {
            Ok(Scope {
                space: namespace.to_string(),
                tenant: self.scope.tenant.clone(),
            })
        } else {
            Err(format!(
                "kv namespace {namespace:?} is not granted to plugin {:?}",
                self.plugin.name
            ))
        }
    }

    fn blob_scope(&self, bucket: &str) -> Result<Scope, String> {
        if self.plugin.config.blob.iter().any(|b| b == bucket) {
            Ok(Scope {
                space: bucket.to_string(),
                tenant: self.scope.tenant.clone(),
            })
        } else {
            Err(format!(
                "blob bucket {bucket:?} is not granted to plugin {:?}",
                self.plugin.name
            ))
        }
    }
}

fn kv_err(e: StorageError) -> kv::KvError {
    match e {
        StorageError::Conflict(k) => kv::KvError::Conflict(k),
        StorageError::Invalid(m) => kv::KvError::Invalid(m),
        StorageError::Unavailable(m) => kv::KvError::Unavailable(m),
    }
}

fn blob_err(e: StorageError) -> blob::BlobError {
    match e {
        StorageError::Conflict(k) => blob::BlobError::Invalid(format!("conflict on {k}")),
        StorageError::Invalid(m) => blob::BlobError::Invalid(m),
        StorageError::Unavailable(m) => blob::BlobError::Unavailable(m),
    }
}

fn precondition(p: kv::Precondition) -> Precondition {
    match p {
        kv::Precondition::None => Precondition::None,
        kv::Precondition::Absent => Precondition::Absent,
        kv::Precondition::Version(v) => Precondition::Version(v),
    }
}

/// Cursors handed to plugins are opaque: base64url of the last key returned.
fn encode_cursor(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(c: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    String::from_utf8(raw).ok()
}

impl kv::Host for State {
    async fn get(
        &mut self,
        namespace: String,
        key: String,
    ) -> Result<Result<Option<kv::Entry>, kv::KvError>> {
        let scope = match self.kv_scope(&namespace) {
            Ok(s) => s,
            Err(m) => return Ok(Err(kv::KvError::Denied(m))),
        };
        let r = self.runtime.storage().kv.get(&scope, &key).await;
        Ok(r.map(|o| {
            o.map(|e| kv::Entry {
                key: e.key,
                value: e.value,
                version: e.version,
            })
        })
        .map_err(kv_err))
    }

    async fn put(
        &mut self,
        namespace: String,
        key: String,
        value: Vec<u8>,
        pre: kv::Precondition,
    ) -> Result<Result<u64, kv::KvError>> {
        let ops = vec![kv::WriteOp::Put(kv::PutOp {
            key,
            value,
            precondition: pre,
        })];
        Ok(self
            .transact(namespace, ops)
            .await?
            .map(|v| v.first().copied().unwrap_or(0)))
    }

    async fn delete(
        &mut self,
        namespace: String,
        key: String,
        pre: kv::Precondition,
    ) -> Result<Result<bool, kv::KvError>> {
        let scope = match self.kv_scope(&namespace) {
            Ok(s) => s,
            Err(m) => return Ok(Err(kv::KvError::Denied(m))),
        };
        Ok(self
            .runtime
            .storage()
            .kv
            .delete(&scope, &key, precondition(pre))
            .await
            .map_err(kv_err))
    }

    async fn transact(
        &mut self,
        namespace: String,
        ops: Vec<kv::WriteOp>,
    ) -> Result<Result<Vec<u64>, kv::KvError>> {
        let scope = match self.kv_scope(&namespace) {
            Ok(s) => s,
            Err(m) => return Ok(Err(kv::KvError::Denied(m))),
        };
        let ops = ops
            .into_iter()
            .map(|op| match op {
                kv::WriteOp::Put(p) => WriteOp::Put {
                    key: p.key,
                    value: p.value,
                    precondition: precondition(p.precondition),
                },
                kv::WriteOp::Delete(d) => WriteOp::Delete {
                    key: d.key,
                    precondition: precondition(d.precondition),
                },
            })
            .collect::<Vec<_>>();
        let kv = self.runtime.storage().kv.clone();
        // A transaction at the op limit has no room for the rider; the host then writes
        // the entry itself after the call (service/webhooks).
        let slot = self.scope.rider.clone();
        let rider = slot
            .as_ref()
            .filter(|_| ops.len() < storage::MAX_TRANSACT_OPS)
            .and_then(|s| s.take());
        let (Some(slot), Some(rider)) = (slot, rider) else {
            return Ok(kv.transact(&scope, ops).await.map_err(kv_err));
        };
        let r = kv.transact_with(&scope, ops, Some(rider.clone())).await;
        slot.settle(
            rider,
            match &r {
                Ok(_) => Ok(()),
                // Refused before anything was written: the rider waits for the retry.
                Err(StorageError::Conflict(_) | StorageError::Invalid(_)) => Err(true),
                Err(StorageError::Unavailable(_)) => Err(false),
            },
        );
        Ok(r.map_err(kv_err))
    }

    async fn query(
        &mut self,
        namespace: String,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Result<kv::Page, kv::KvError>> {
        let scope = match self.kv_scope(&namespace) {
            Ok(s) => s,
            Err(m) => return Ok(Err(kv::KvError::Denied(m))),
        };
        let after = match cursor.as_deref().map(decode_cursor) {
            None => None,
            Some(Some(k)) => Some(k),
            Some(None) => return Ok(Err(kv::KvError::Invalid("malformed cursor".into()))),
        };
        let limit = (limit as usize).clamp(1, storage::MAX_PAGE);
        let r = self
            .runtime
            .storage()
            .kv
            .query(&scope, &prefix, after.as_deref(), limit)
            .await;
        Ok(r.map(|(entries, more)| {
            let next_cursor = if more {
                entries.last().map(|e| encode_cursor(&e.key))
            } else {
                None
            };
            kv::Page {
                entries: entries
                    .into_iter()
                    .map(|e| kv::Entry {
                        key: e.key,
                        value: e.value,
                        version: e.version,
                    })
                    .collect(),
                next_cursor,
            }
        })
        .map_err(kv_err))
    }
}

impl blob::Host for State {
    async fn get(
        &mut self,
        bucket: String,
        key: String,
    ) -> Result<Result<Option<Vec<u8>>, blob::BlobError>> {
        let scope = match self.blob_scope(&bucket) {
            Ok(s) => s,
            Err(m) => return Ok(Err(blob::BlobError::Denied(m))),
        };
        Ok(self
            .runtime
            .storage()
            .blob
            .get(&scope, &key)
            .await
            .map_err(blob_err))
    }

    async fn put(
        &mut self,
        bucket: String,
        key: String,
        data: Vec<u8>,
    ) -> Result<Result<(), blob::BlobError>> {
        let scope = match self.blob_scope(&bucket) {
            Ok(s) => s,
            Err(m) => return Ok(Err(blob::BlobError::Denied(m))),
        };
        Ok(self
            .runtime
            .storage()
            .blob
            .put(&scope, &key, data)
            .await
            .map_err(blob_err))
    }

    async fn delete(
        &mut self,
        bucket: String,
        key: String,
    ) -> Result<Result<bool, blob::BlobError>> {
        let scope = match self.blob_scope(&bucket) {
            Ok(s) => s,
            Err(m) => return Ok(Err(blob::BlobError::Denied(m))),
        };
        Ok(self
            .runtime
            .storage()
            .blob
            .delete(&scope, &key)
            .await
            .map_err(blob_err))
    }

    async fn list(
        &mut self,
        bucket: String,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Result<blob::Listing, blob::BlobError>> {
        let scope = match self.blob_scope(&bucket) {
            Ok(s) => s,
            Err(m) => return Ok(Err(blob::BlobError::Denied(m))),
        };
        let after = match cursor.as_deref().map(decode_cursor) {
            None => None,
            Some(Some(k)) => Some(k),
            Some(None) => return Ok(Err(blob::BlobError::Invalid("malformed cursor".into()))),
        };
        let limit = (limit as usize).clamp(1, storage::MAX_PAGE);
        let r = self
            .runtime
            .storage()
            .blob
            .list(&scope, &prefix, after.as_deref(), limit)
            .await;
        Ok(r.map(|(objects, more)| blob::Listing {
            next_cursor: if more {
                objects.last().map(|o| encode_cursor(&o.key))
            } else {
                None
            },
            objects: objects
                .into_iter()
                .map(|o| blob::ObjectInfo {
                    key: o.key,
                    size: o.size,
                })
                .collect(),
        })
        .map_err(blob_err))
    }
}

impl render::Host for State {
    async fn render(
        &mut self,
        request: rendering::RenderRequest,
    ) -> Result<Result<String, rendering::RenderError>> {
        let Some(renderer) = self.plugin.renderer.clone() else {
            return Ok(Err(rendering::RenderError::Failed(format!(
                "plugin {:?} has no renderer configured (plugins.{}.renderer)",
                self.plugin.name, self.plugin.name
            ))));
        };
        // A failure inside the renderer (trap, timeout, limit) fails the caller's request
        // too: it is raised as a trap carrying the renderer's failure.
        let scope = super::runtime::CallScope {
            rider: None,
            ..self.scope.clone()
        };
        let local = self.renderer_live.take();
        match self
            .runtime
            .render(&renderer, &scope, Some(local), request)
            .await
        {
            Ok((r, live)) => {
                self.renderer_live = live;
                Ok(r)
            }
            Err(f) => Err(wasmtime::Error::new(NestedFailure(f))),
        }
    }
}

/// A failure of a plugin called through the host on behalf of another plugin.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NestedFailure(pub PluginFailure);

impl rendering::Host for State {}
impl super::bindings::types::Host for State {}

impl log::Host for State {
    async fn log(&mut self, level: log::Level, message: String) -> Result<()> {
        // Plugins are untrusted: cap what one call can put into the log.
        const MAX_LEN: usize = 2048;
        if self.scope.log_budget == 0 {
            return Ok(());
        }
        self.scope.log_budget -= 1;
        let mut message = message;
        if message.len() > MAX_LEN {
            let mut cut = MAX_LEN;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = self.plugin.name.as_str();
        let request_id = self.scope.request_id.as_str();
        match level {
            log::Level::Trace => tracing::trace!(target: "plugin", plugin, request_id, "{message}"),
            log::Level::Debug => tracing::debug!(target: "plugin", plugin, request_id, "{message}"),
            log::Level::Info => tracing::info!(target: "plugin", plugin, request_id, "{message}"),
            log::Level::Warn => tracing::warn!(target: "plugin", plugin, request_id, "{message}"),
            log::Level::Error => tracing::error!(target: "plugin", plugin, request_id, "{message}"),
        }
        Ok(())
    }
}

impl config::Host for State {
    async fn get(&mut self, key: String) -> Result<Option<String>> {
        Ok(self.plugin.config.config.get(&key).map(|v| match v {
            toml::Value::String(s) => s.clone(),
            other => serde_json::to_string(other).unwrap_or_default(),
        }))
    }

    async fn get_json(&mut self) -> Result<String> {
        Ok(self.plugin.config_json.clone())
    }
}

/// Keys longer than this are hashed: the plugin's key is untrusted, the memory is ours.
const MAX_LIMIT_KEY: usize = 256;

impl limits::Host for State {
    async fn check(
        &mut self,
        key: String,
        cost: u32,
        quota: limits::Quota,
    ) -> Result<limits::Verdict> {
        use sha2::Digest as _;
        let key = if key.len() > MAX_LIMIT_KEY {
            hex::encode(sha2::Sha256::digest(key.as_bytes()))
        } else {
            key
        };
        let key = super::limits::Key {
            plugin: self.plugin.name.clone(),
            tenant: self.scope.tenant.clone(),
            key,
        };
        let window = std::time::Duration::from_millis(quota.window_ms.max(1));
        let local = self.runtime.limiter();
        let v = match self.runtime.cluster_limits() {
            Some(cluster) => {
                cluster
                    .check_once(local, &self.scope.spend, key, cost, quota.limit, window)
                    .await
            }
            None => local.check_once(&self.scope.spend, key, cost, quota.limit, window),
        };
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Ok(limits::Verdict {
            allowed: v.allowed,
            limit: v.limit,
            remaining: v.remaining,
            reset_ms: ms(v.reset),
            retry_after_ms: ms(v.retry_after),
        })
    }
}
