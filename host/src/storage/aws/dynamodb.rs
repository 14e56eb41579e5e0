//! kv in DynamoDB.
//!
//! Key schema (docs/aws.md): partition key `pk` = `<namespace>#<tenant>`, sort key `sk` =
//! the plugin's key. A namespace maps to a table (`storage.aws.namespaces`, else
//! `default_table`); keeping the namespace in `pk` lets several namespaces share a table
//! without ever sharing keys. Attributes: `ver` (N, the entry's version), `val` (B, the
//! value) or `s3` (S, object key of a value too large for an item), `expires_at` (N, epoch
//! seconds, the table's TTL attribute, for namespaces with a `ttl`).
//!
//! Semantics match the embedded backend (storage/mod.rs): preconditions are condition
//! expressions evaluated by DynamoDB; a single write is one `UpdateItem`/`DeleteItem` that
//! also returns the old item (`ReturnValues=ALL_OLD`) for the new version and existence; a
//! multi-op transaction is one `TransactWriteItems` (all or nothing) guarded by the exact
//! versions read just before, retried when a concurrent writer got in between. Reads are
//! strongly consistent. Expired items (TTL deletion lags by up to days) read as absent.

use super::s3::S3Blobs;
use super::{code, unavailable};
use crate::config::AwsStorageConfig;
use crate::storage::{
    Entry, KvStore, MAX_PAGE, Precondition, Rider, Scope, StorageError, WriteOp, check_key,
    check_ops, check_rider,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Get, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactGetItem, TransactWriteItem,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Values above this go to S3 (a DynamoDB item is at most 400 KB including names and keys).
pub const INLINE_LIMIT: usize = 350 * 1024;
/// Rounds of read-versions-then-write before a contended transaction gives up.
const TRANSACT_ROUNDS: usize = 8;

type Item = HashMap<String, AttributeValue>;

pub struct DynamoKv {
    client: Client,
    blobs: Arc<S3Blobs>,
    default_table: String,
    namespaces: BTreeMap<String, (String, Option<Duration>)>,
}

/// What a read found under one key.
struct Current {
    version: u64,
    pointer: Option<String>,
}

impl DynamoKv {
    pub fn new(client: Client, blobs: Arc<S3Blobs>, cfg: &AwsStorageConfig) -> Self {
        Self {
            client,
            blobs,
            default_table: cfg.default_table.clone(),
            namespaces: cfg
                .namespaces
                .iter()
                .map(|(ns, t)| (ns.clone(), (t.table.clone(), t.ttl)))
                .collect(),
        }
    }

    fn table(&self, scope: &Scope) -> (&str, Option<Duration>) {
        match self.namespaces.get(&scope.space) {
            Some((t, ttl)) => (t.as_str(), *ttl),
            None => (self.default_table.as_str(), None),
        }
    }

    fn key(scope: &Scope, key: &str) -> Item {
        HashMap::from([
            ("pk".to_string(), pk(scope)),
            ("sk".to_string(), AttributeValue::S(key.to_string())),
        ])
    }

    /// The entry an item holds, fetching an offloaded value from S3.
    async fn entry(&self, key: String, item: &Item) -> Result<Entry, StorageError> {
        let version = version_of(item)?;
        let value = match (item.get("val"), item.get("s3")) {
            (Some(AttributeValue::B(b)), _) => b.as_ref().to_vec(),
            (_, Some(AttributeValue::S(ptr))) => self.blobs.get_large_value(ptr).await?,
            _ => {
                return Err(StorageError::Unavailable(format!(
                    "corrupt kv item {key:?}: neither val nor s3"
                )));
            }
        };
        Ok(Entry {
            key,
            value,
            version,
        })
    }

    /// Stores the value inline or in S3; returns the attributes to write.
    async fn value_attrs(&self, table: &str, value: &[u8]) -> Result<ValueAttr, StorageError> {
        if value.len() <= INLINE_LIMIT {
            Ok(ValueAttr::Inline(Blob::new(value.to_vec())))
        } else {
            Ok(ValueAttr::S3(
                self.blobs.put_large_value(table, value.to_vec()).await?,
            ))
        }
    }

    async fn put_one(
        &self,
        scope: &Scope,
        key: &str,
        value: &[u8],
        pre: Precondition,
    ) -> Result<u64, StorageError> {
        let (table, ttl) = self.table(scope);
        let attr = self.value_attrs(table, value).await?;
        let mut x = Expr::default();
        let mut set = Vec::new();
        // The value is in exactly one of `val` and `s3`; drop the other.
        let remove = match &attr {
            ValueAttr::Inline(b) => {
                set.push(format!(
                    "{} = {}",
                    x.name("val"),
                    x.value(AttributeValue::B(b.clone()))
                ));
                x.name("s3")
            }
            ValueAttr::S3(ptr) => {
                set.push(format!(
                    "{} = {}",
                    x.name("s3"),
                    x.value(AttributeValue::S(ptr.clone()))
                ));
                x.name("val")
            }
        };
        if let Some(ttl) = ttl {
            set.push(format!("{} = {}", x.name("expires_at"), x.num(expiry(ttl))));
        }
        let ver = x.name("ver");
        let one = x.num(1);
        let update = format!("SET {} REMOVE {remove} ADD {ver} {one}", set.join(", "));
        let condition = x.condition(pre, ttl.is_some());
        let r = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(Self::key(scope, key)))
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(x.names))
            .set_expression_attribute_values(Some(x.values))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match r {
            Ok(out) => {
                let old = out.attributes();
                // After a retry whose first attempt was applied, ALL_OLD is this write's own
                // item: its object is the one just committed, not a replaced one.
                if let Some(o) = old
                    && let Some(ptr) = pointer_of(o)
                    && !holds(o, &attr)
                {
                    self.blobs.delete_large_value(&ptr).await;
                }
                Ok(match old {
                    Some(o) if !o.is_empty() => version_of(o)? + 1,
                    _ => 1,
                })
            }
            Err(e) => {
                // The SDK retries an attempt whose response was lost; if that attempt was
                // applied, the retry fails its own condition. The item then holds exactly
                // what this call wrote (a fresh S3 pointer is proof; inline bytes nearly
                // so): that is this write's success, not a conflict.
                if let Some(UpdateItemError::ConditionalCheckFailedException(c)) =
                    e.as_service_error()
                    && let Some(now) = c.item().filter(|i| holds(i, &attr))
                {
                    let v = version_of(now)?;
                    let ours = match pre {
                        Precondition::Version(want) => v == want + 1,
                        Precondition::Absent => v >= 1,
                        Precondition::None => true,
                    };
                    if ours {
                        return Ok(v);
                    }
                }
                let referenced = matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(c))
                        if c.item().is_some_and(|i| holds(i, &attr))
                );
                if let ValueAttr::S3(ptr) = &attr {
                    if referenced || super::maybe_applied(&e) {
                        // The item may now point at the object; an orphan wastes space,
                        // a deleted referenced object loses the value.
                        tracing::warn!(object = %ptr, "kv write outcome unknown; keeping its value object");
                    } else {
                        self.blobs.delete_large_value(ptr).await;
                    }
                }
                if code(&e) == Some("ConditionalCheckFailedException") {
                    Err(StorageError::Conflict(key.to_string()))
                } else {
                    Err(unavailable("dynamodb UpdateItem", e))
                }
            }
        }
    }

    /// Reads the current version (and S3 pointer) of every key, strongly consistent and
    /// as one snapshot.
    async fn read_versions(
        &self,
        scope: &Scope,
        keys: &[&str],
    ) -> Result<Vec<Option<Current>>, StorageError> {
        let (table, ttl) = self.table(scope);
        let mut gets = Vec::with_capacity(keys.len());
        for k in keys {
            let get = Get::builder()
                .table_name(table)
                .set_key(Some(Self::key(scope, k)))
                .projection_expression("#v, #s, #e")
                .expression_attribute_names("#v", "ver")
                .expression_attribute_names("#s", "s3")
                .expression_attribute_names("#e", "expires_at")
                .build()
                .map_err(|e| StorageError::Unavailable(format!("dynamodb Get: {e}")))?;
            gets.push(TransactGetItem::builder().get(get).build());
        }
        let out = self
            .client
            .transact_get_items()
            .set_transact_items(Some(gets))
            .send()
            .await
            .map_err(|e| unavailable("dynamodb TransactGetItems", e))?;
        let now = now_secs();
        let mut current = Vec::with_capacity(keys.len());
        for r in out.responses() {
            current.push(match r.item() {
                // An expired item reads as absent; the write's guard then accepts it.
                Some(item) if !(item.is_empty() || ttl.is_some() && expired(item, now)) => {
                    Some(Current {
                        version: version_of(item)?,
                        pointer: pointer_of(item),
                    })
                }
                _ => None,
            });
        }
        if current.len() != keys.len() {
            return Err(StorageError::Unavailable(
                "dynamodb TransactGetItems returned the wrong number of items".into(),
            ));
        }
        Ok(current)
    }

    async fn transact_many(
        &self,
        scope: &Scope,
        ops: &[WriteOp],
        rider: Option<&Rider>,
    ) -> Result<Vec<u64>, StorageError> {
        let (table, ttl) = self.table(scope);
        // Large values go to S3 once, before the first round; the items only point at them.
        let mut attrs = Vec::with_capacity(ops.len());
        for op in ops {
            attrs.push(match op {
                WriteOp::Put { value, .. } => match self.value_attrs(table, value).await {
                    Ok(a) => Some(a),
                    Err(e) => {
                        self.discard(&attrs).await;
                        return Err(e);
                    }
                },
                WriteOp::Delete { .. } => None,
            });
        }
        let result = self
            .transact_rounds(scope, table, ttl, ops, &attrs, rider)
            .await;
        match result {
            Ok((versions, replaced)) => {
                for ptr in &replaced {
                    self.blobs.delete_large_value(ptr).await;
                }
                Ok(versions)
            }
            Err(Failed {
                error,
                maybe_applied: false,
            }) => {
                self.discard(&attrs).await;
                Err(error)
            }
            Err(Failed { error, .. }) => {
                // A round may have committed: its items would point at these objects.
                for a in attrs.iter().flatten() {
                    if let ValueAttr::S3(ptr) = a {
                        tracing::warn!(object = %ptr, "kv transaction outcome unknown; keeping its value object");
                    }
                }
                Err(error)
            }
        }
    }

    /// The rider as one more item of the transaction: a new item (version 1) in its own
    /// scope's table, guarded by its absence. It is small (`MAX_RIDER_BYTES`), so inline.
    fn rider_item(&self, r: &Rider) -> Result<TransactWriteItem, StorageError> {
        let (table, ttl) = self.table(&r.scope);
        let mut x = Expr::default();
        let guard = x
            .condition(Precondition::Absent, ttl.is_some())
            .unwrap_or_default();
        let mut item = Self::key(&r.scope, &r.key);
        item.insert("ver".into(), AttributeValue::N("1".into()));
        item.insert("val".into(), AttributeValue::B(Blob::new(r.value.clone())));
        if let Some(ttl) = ttl {
            item.insert(
                "expires_at".into(),
                AttributeValue::N(expiry(ttl).to_string()),
            );
        }
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(guard)
            .set_expression_attribute_names(Some(x.names))
            .set_expression_attribute_values(non_empty(x.values))
            .build()
            .map_err(|e| StorageError::Unavailable(format!("dynamodb Put: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn discard(&self, attrs: &[Option<ValueAttr>]) {
        for a in attrs.iter().flatten() {
            if let ValueAttr::S3(ptr) = a {
                self.blobs.delete_large_value(ptr).await;
            }
        }
    }

    /// Returns the new versions and the S3 objects the write replaced.
    async fn transact_rounds(
        &self,
        scope: &Scope,
        table: &str,
        ttl: Option<Duration>,
        ops: &[WriteOp],
        attrs: &[Option<ValueAttr>],
        rider: Option<&Rider>,
    ) -> Result<(Vec<u64>, Vec<String>), Failed> {
        let keys: Vec<&str> = ops.iter().map(WriteOp::key).collect();
        for _ in 0..TRANSACT_ROUNDS {
            // Every earlier round was cancelled (not applied), so until this round's write
            // is sent, nothing of this transaction is committed.
            let current = self
                .read_versions(scope, &keys)
                .await
                .map_err(Failed::not_applied)?;
            // The caller's preconditions, against the state just read.
            for (op, cur) in ops.iter().zip(&current) {
                let (WriteOp::Put { precondition, .. } | WriteOp::Delete { precondition, .. }) = op;
                let ok = match (precondition, cur) {
                    (Precondition::None, _) | (Precondition::Absent, None) => true,
                    (Precondition::Version(want), Some(c)) => *want == c.version,
                    _ => false,
                };
                if !ok {
                    return Err(Failed::not_applied(StorageError::Conflict(
                        op.key().to_string(),
                    )));
                }
            }
            // The write is guarded by exactly what was read, so the versions returned are
            // exact and a concurrent writer makes the whole transaction fail (then re-read).
            let mut items = Vec::with_capacity(ops.len());
            let mut versions = Vec::with_capacity(ops.len());
            let exp = ttl.map(expiry);
            for ((op, cur), attr) in ops.iter().zip(&current).zip(attrs) {
                let mut x = Expr::default();
                let guard = match cur {
                    Some(c) => format!("{} = {}", x.name("ver"), x.num(c.version)),
                    None => x
                        .condition(Precondition::Absent, ttl.is_some())
                        .unwrap_or_default(),
                };
                let item = match (op, attr) {
                    (WriteOp::Put { key, .. }, Some(attr)) => {
                        let next = cur.as_ref().map_or(1, |c| c.version + 1);
                        versions.push(next);
                        let mut item = Self::key(scope, key);
                        item.insert("ver".into(), AttributeValue::N(next.to_string()));
                        match attr {
                            ValueAttr::Inline(b) => {
                                item.insert("val".into(), AttributeValue::B(b.clone()))
                            }
                            ValueAttr::S3(p) => {
                                item.insert("s3".into(), AttributeValue::S(p.clone()))
                            }
                        };
                        if let Some(exp) = exp {
                            item.insert("expires_at".into(), AttributeValue::N(exp.to_string()));
                        }
                        let put = Put::builder()
                            .table_name(table)
                            .set_item(Some(item))
                            .condition_expression(guard)
                            .set_expression_attribute_names(Some(x.names))
                            .set_expression_attribute_values(non_empty(x.values))
                            .build()
                            .map_err(|e| {
                                Failed::not_applied(StorageError::Unavailable(format!(
                                    "dynamodb Put: {e}"
                                )))
                            })?;
                        TransactWriteItem::builder().put(put).build()
                    }
                    (op, _) => {
                        versions.push(0);
                        let del = Delete::builder()
                            .table_name(table)
                            .set_key(Some(Self::key(scope, op.key())))
                            .condition_expression(guard)
                            .set_expression_attribute_names(Some(x.names))
                            .set_expression_attribute_values(non_empty(x.values))
                            .build()
                            .map_err(|e| {
                                Failed::not_applied(StorageError::Unavailable(format!(
                                    "dynamodb Delete: {e}"
                                )))
                            })?;
                        TransactWriteItem::builder().delete(del).build()
                    }
                };
                items.push(item);
            }
            if let Some(r) = rider {
                items.push(self.rider_item(r).map_err(Failed::not_applied)?);
            }
            let r = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                // Makes the SDK's own retries of this round idempotent: a retry after a
                // lost response must not fail on the versions its first attempt wrote.
                .client_request_token(uuid::Uuid::new_v4().to_string())
                .send()
                .await;
            match r {
                Ok(_) => {
                    let replaced = current
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.pointer)
                        .collect();
                    return Ok((versions, replaced));
                }
                Err(e) => {
                    let retry = matches!(
                        e.as_service_error(),
                        Some(TransactWriteItemsError::TransactionCanceledException(t))
                            if t.cancellation_reasons().iter().all(|r| matches!(
                                r.code(),
                                None | Some("None" | "ConditionalCheckFailed" | "TransactionConflict")
                            ))
                    ) || code(&e) == Some("TransactionConflictException");
                    if !retry {
                        return Err(Failed {
                            maybe_applied: super::maybe_applied(&e),
                            error: unavailable("dynamodb TransactWriteItems", e),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(5 + rand::random::<u64>() % 20)).await;
                }
            }
        }
        Err(Failed::not_applied(StorageError::Unavailable(
            "transaction kept conflicting with concurrent writers; retry".into(),
        )))
    }
}

/// A failed transaction, and whether it may have been committed regardless.
struct Failed {
    error: StorageError,
    maybe_applied: bool,
}

impl Failed {
    fn not_applied(error: StorageError) -> Self {
        Self {
            error,
            maybe_applied: false,
        }
    }
}

enum ValueAttr {
    Inline(Blob),
    S3(String),
}

/// Whether `item` holds the value `attr` describes.
fn holds(item: &Item, attr: &ValueAttr) -> bool {
    match (attr, item.get("val"), item.get("s3")) {
        (ValueAttr::Inline(b), Some(AttributeValue::B(have)), _) => have == b,
        (ValueAttr::S3(p), _, Some(AttributeValue::S(have))) => have == p,
        _ => false,
    }
}

fn non_empty(m: HashMap<String, AttributeValue>) -> Option<HashMap<String, AttributeValue>> {
    (!m.is_empty()).then_some(m)
}

fn pk(scope: &Scope) -> AttributeValue {
    // Namespaces and tenants are `is_valid_name`s, which never contain '#'.
    AttributeValue::S(format!("{}#{}", scope.space, scope.tenant))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn expiry(ttl: Duration) -> u64 {
    now_secs() + ttl.as_secs()
}

fn expired(item: &Item, now: u64) -> bool {
    matches!(item.get("expires_at"), Some(AttributeValue::N(n)) if n.parse::<u64>().is_ok_and(|e| e <= now))
}

fn version_of(item: &Item) -> Result<u64, StorageError> {
    match item.get("ver") {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| StorageError::Unavailable(format!("corrupt kv version {n:?}"))),
        _ => Err(StorageError::Unavailable(
            "corrupt kv item: no version".into(),
        )),
    }
}

fn pointer_of(item: &Item) -> Option<String> {
    match item.get("s3") {
        Some(AttributeValue::S(p)) => Some(p.clone()),
        _ => None,
    }
}

fn key_of(item: &Item) -> Option<String> {
    match item.get("sk") {
        Some(AttributeValue::S(k)) => Some(k.clone()),
        _ => None,
    }
}

/// Expression attribute names and values, numbered as they are used (DynamoDB rejects
/// unused ones, and attribute names must not collide with its reserved words).
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, n: &str) -> String {
        let placeholder = format!("#{n}");
        self.names.insert(placeholder.clone(), n.to_string());
        placeholder
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    fn num(&mut self, n: u64) -> String {
        self.value(AttributeValue::N(n.to_string()))
    }

    /// A precondition as a condition expression; expired items count as absent.
    fn condition(&mut self, pre: Precondition, ttl: bool) -> Option<String> {
        match pre {
            Precondition::None => None,
            Precondition::Absent => {
                let ver = self.name("ver");
                Some(if ttl {
                    let exp = self.name("expires_at");
                    let now = self.num(now_secs());
                    format!("attribute_not_exists({ver}) OR {exp} <= {now}")
                } else {
                    format!("attribute_not_exists({ver})")
                })
            }
            Precondition::Version(v) => {
                let ver = self.name("ver");
                let want = self.num(v);
                Some(if ttl {
                    let exp = self.name("expires_at");
                    let now = self.num(now_secs());
                    format!("{ver} = {want} AND {exp} > {now}")
                } else {
                    format!("{ver} = {want}")
                })
            }
        }
    }
}

#[async_trait]
impl KvStore for DynamoKv {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError> {
        check_key(key)?;
        let (table, ttl) = self.table(scope);
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(Self::key(scope, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("dynamodb GetItem", e))?;
        match out.item() {
            Some(item) if !item.is_empty() => {
                if ttl.is_some() && expired(item, now_secs()) {
                    return Ok(None);
                }
                Ok(Some(self.entry(key.to_string(), item).await?))
            }
            _ => Ok(None),
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
            // With a rider even one op is a transaction: the two items commit together.
            return self.transact_many(scope, &ops, Some(r)).await;
        }
        if let [op] = ops.as_slice() {
            return match op {
                WriteOp::Put {
                    key,
                    value,
                    precondition,
                } => Ok(vec![self.put_one(scope, key, value, *precondition).await?]),
                WriteOp::Delete { key, precondition } => {
                    self.delete(scope, key, *precondition).await?;
                    Ok(vec![0])
                }
            };
        }
        self.transact_many(scope, &ops, None).await
    }

    async fn delete(
        &self,
        scope: &Scope,
        key: &str,
        precondition: Precondition,
    ) -> Result<bool, StorageError> {
        check_key(key)?;
        let (table, ttl) = self.table(scope);
        let mut x = Expr::default();
        let condition = x.condition(precondition, ttl.is_some());
        let r = self
            .client
            .delete_item()
            .table_name(table)
            .set_key(Some(Self::key(scope, key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(non_empty_names(x.names))
            .set_expression_attribute_values(non_empty(x.values))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match r {
            Ok(out) => match out.attributes() {
                Some(old) if !old.is_empty() => {
                    if let Some(ptr) = pointer_of(old) {
                        self.blobs.delete_large_value(&ptr).await;
                    }
                    Ok(!(ttl.is_some() && expired(old, now_secs())))
                }
                _ => Ok(false),
            },
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => {
                Err(StorageError::Conflict(key.to_string()))
            }
            Err(e) => Err(unavailable("dynamodb DeleteItem", e)),
        }
    }

    async fn query(
        &self,
        scope: &Scope,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Entry>, bool), StorageError> {
        let (table, ttl) = self.table(scope);
        let limit = limit.clamp(1, MAX_PAGE);
        let mut start = match start_after {
            Some(after) => {
                check_key(after)?;
                Some(Self::key(scope, after))
            }
            None => None,
        };
        let now = now_secs();
        let mut items: Vec<Item> = Vec::new();
        // DynamoDB pages stop at 1 MB and expired items are dropped here, so one response
        // can be short: keep reading (from exactly where the last one stopped, so nothing
        // repeats) until the page plus one look-ahead item is full or the range ends.
        let more = loop {
            let mut req = self
                .client
                .query()
                .table_name(table)
                .consistent_read(true)
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", pk(scope))
                .limit(i32::try_from(limit + 1 - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            req = if prefix.is_empty() {
                req.key_condition_expression("#pk = :pk")
            } else {
                req.key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", "sk")
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_string()))
            };
            let out = req
                .send()
                .await
                .map_err(|e| unavailable("dynamodb Query", e))?;
            for item in out.items() {
                if !(ttl.is_some() && expired(item, now)) {
                    items.push(item.clone());
                }
            }
            if items.len() > limit {
                break true;
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break false,
            }
        };
        items.truncate(limit);
        // Offloaded values are fetched a few at a time, in order, and the page ends once
        // its values reach MAX_PAGE_BYTES: host memory per query stays bounded.
        let mut entries = Vec::with_capacity(items.len());
        let mut bytes = 0usize;
        for chunk in items.chunks(crate::storage::MAX_PAGE_FETCHES) {
            let mut fetches = Vec::with_capacity(chunk.len());
            for item in chunk {
                let key = key_of(item)
                    .ok_or_else(|| StorageError::Unavailable("corrupt kv item: no sk".into()))?;
                fetches.push(self.entry(key, item));
            }
            for e in futures::future::try_join_all(fetches).await? {
                bytes += e.value.len();
                entries.push(e);
            }
            if bytes >= crate::storage::MAX_PAGE_BYTES && entries.len() < items.len() {
                return Ok((entries, true));
            }
        }
        Ok((entries, more))
    }

    async fn ping(&self) -> Result<(), StorageError> {
        // A GetItem of a key no scope can produce (namespaces start with a letter or digit)
        // needs no permission beyond what serving needs.
        let mut tables: Vec<&str> = self.namespaces.values().map(|(t, _)| t.as_str()).collect();
        tables.push(self.default_table.as_str());
        tables.sort_unstable();
        tables.dedup();
        futures::future::try_join_all(tables.into_iter().map(|t| async move {
            self.client
                .get_item()
                .table_name(t)
                .key("pk", AttributeValue::S("_ping".into()))
                .key("sk", AttributeValue::S("_ping".into()))
                .send()
                .await
                .map_err(|e| unavailable("dynamodb GetItem (ping)", e))
        }))
        .await?;
        Ok(())
    }
}

/// The partition of rate-limit lease counters: a namespace no plugin can be granted (plugin
/// namespaces start with a letter or digit), in the table of the `ratelimits` namespace
/// (the short-lived sessions table by default).
const LEASE_SPACE: &str = "_limits";
/// The namespace whose table holds the lease counters.
const LEASE_TABLE_OF: &str = "ratelimits";

#[async_trait]
impl crate::storage::LeaseStore for DynamoKv {
    async fn lease(
        &self,
        tenant: &str,
        key: &str,
        block: u64,
        limit: u64,
        expires_at: u64,
    ) -> Result<crate::storage::Lease, StorageError> {
        check_key(key)?;
        let (table, _) = self.table(&Scope {
            space: LEASE_TABLE_OF.into(),
            tenant: tenant.into(),
        });
        let scope = Scope {
            space: LEASE_SPACE.into(),
            tenant: tenant.into(),
        };
        let mut x = Expr::default();
        let used = x.name("used");
        let exp = x.name("expires_at");
        let add = x.num(block);
        let at = x.num(expires_at);
        let lim = x.num(limit);
        // One conditional UpdateItem per block: ADD is atomic on the item, so concurrent
        // leases of every host take disjoint ranges of the counter; once it reaches the
        // limit the condition fails and the counter stops moving.
        let r = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(Self::key(&scope, key)))
            .update_expression(format!("ADD {used} {add} SET {exp} = {at}"))
            .condition_expression(format!("attribute_not_exists({used}) OR {used} < {lim}"))
            .set_expression_attribute_names(Some(x.names))
            .set_expression_attribute_values(Some(x.values))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let used_of = |item: Option<&Item>| -> Result<u64, StorageError> {
            match item.and_then(|i| i.get("used")) {
                Some(AttributeValue::N(n)) => n
                    .parse()
                    .map_err(|_| StorageError::Unavailable(format!("corrupt lease counter {n:?}"))),
                _ => Err(StorageError::Unavailable(
                    "lease counter missing from the answer".into(),
                )),
            }
        };
        match r {
            Ok(out) => {
                let after = used_of(out.attributes())?;
                // A retry of an attempt whose answer was lost adds a second block: that
                // block is counted and never granted, so it can only make the fleet stricter.
                let before = after.saturating_sub(block);
                Ok(crate::storage::Lease {
                    granted: crate::storage::granted(before, block, limit),
                    used: after,
                })
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    Ok(crate::storage::Lease {
                        granted: 0,
                        used: used_of(c.item()).unwrap_or(limit),
                    })
                }
                _ => Err(unavailable("dynamodb UpdateItem (lease)", e)),
            },
        }
    }
}

fn non_empty_names(m: HashMap<String, String>) -> Option<HashMap<String, String>> {
    (!m.is_empty()).then_some(m)
}

/// Throttling and lost responses are faults a local AWS-API server cannot produce, so they
/// are simulated here with `aws-smithy-mocks` at the HTTP layer (the SDK's real retry
/// classifier and backoff run); everything else is tested against moto (tests/aws.rs).
#[cfg(test)]
mod faults {
    use super::*;
    use crate::config::{AwsStorageConfig, NamespaceTable};
    use crate::storage::aws::client::{retry_config, timeout_config};
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_smithy_mocks::{MockResponseInterceptor, RuleMode, create_mock_http_client, mock};

    const THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#;

    fn cfg() -> AwsStorageConfig {
        AwsStorageConfig {
            region: Some("us-east-1".into()),
            endpoint_url: None,
            force_path_style: false,
            default_table: "t".into(),
            namespaces: BTreeMap::from([(
                "prompts".to_string(),
                NamespaceTable {
                    table: "t".into(),
                    ttl: None,
                },
            )]),
            default_bucket: "b".into(),
            buckets: BTreeMap::new(),
            media_bucket: None,
            connect_timeout: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(1),
            operation_timeout: Duration::from_secs(3),
            max_attempts: 3,
        }
    }

    fn kv(rule: &aws_smithy_mocks::Rule) -> DynamoKv {
        let creds = aws_sdk_dynamodb::config::Credentials::new("a", "b", None, None, "test");
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(creds.clone())
            .http_client(create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::Sequential)
                    .with_rule(rule),
            )
            .retry_config(retry_config(3))
            .timeout_config(timeout_config(
                Duration::from_secs(1),
                Duration::from_secs(1),
                Duration::from_secs(3),
            ))
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .credentials_provider(creds)
                .http_client(create_mock_http_client())
                .build(),
        );
        let cfg = cfg();
        DynamoKv::new(
            Client::from_conf(conf),
            Arc::new(S3Blobs::new(s3, &cfg)),
            &cfg,
        )
    }

    fn scope() -> Scope {
        Scope {
            space: "prompts".into(),
            tenant: "t".into(),
        }
    }

    #[tokio::test]
    async fn throttling_is_retried_with_backoff_then_succeeds() {
        let rule = mock!(Client::get_item)
            .sequence()
            .http_status(400, Some(THROTTLED.into()))
            .times(2)
            .output(|| {
                GetItemOutput::builder()
                    .item("sk", AttributeValue::S("k".into()))
                    .item("ver", AttributeValue::N("3".into()))
                    .item("val", AttributeValue::B(Blob::new(b"v".to_vec())))
                    .build()
            })
            .build();
        let kv = kv(&rule);
        let e = kv.get(&scope(), "k").await.unwrap().unwrap();
        assert_eq!((e.value.as_slice(), e.version), (b"v".as_slice(), 3));
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn persistent_throttling_is_unavailable_within_the_budget() {
        let rule = mock!(Client::get_item)
            .sequence()
            .http_status(400, Some(THROTTLED.into()))
            .repeatedly()
            .build();
        let kv = kv(&rule);
        let started = std::time::Instant::now();
        let r = kv.get(&scope(), "k").await;
        assert!(
            matches!(&r, Err(StorageError::Unavailable(m)) if m.contains("ThrottlingException")),
            "{r:?}"
        );
        assert_eq!(rule.num_calls(), 3, "max_attempts");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_retry_after_a_lost_response_is_not_a_conflict() {
        // The first attempt "fails" with a 500 after DynamoDB applied it; the SDK's retry
        // then fails its condition against the item the first attempt wrote.
        let applied = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{"ver":{"N":"8"},"val":{"B":"dg=="}}}"#;
        let rule = mock!(Client::update_item)
            .sequence()
            .http_status(500, None)
            .http_status(400, Some(applied.into()))
            .build();
        let v = kv(&rule)
            .transact(
                &scope(),
                vec![WriteOp::Put {
                    key: "k".into(),
                    value: b"v".to_vec(),
                    precondition: Precondition::Version(7),
                }],
            )
            .await
            .unwrap();
        assert_eq!((v, rule.num_calls()), (vec![8], 2));

        // Another writer's value behind the failed condition is a conflict.
        let other = applied.replace("dg==", "eA==");
        let rule = mock!(Client::update_item)
            .sequence()
            .http_status(400, Some(other))
            .build();
        let r = kv(&rule)
            .transact(
                &scope(),
                vec![WriteOp::Put {
                    key: "k".into(),
                    value: b"v".to_vec(),
                    precondition: Precondition::Version(7),
                }],
            )
            .await;
        assert!(
            matches!(&r, Err(StorageError::Conflict(k)) if k == "k"),
            "{r:?}"
        );
    }

    /// S3 answering every PutObject and DeleteObject; the returned rule counts deletions.
    fn s3_counting_deletes() -> (aws_sdk_s3::Client, aws_smithy_mocks::Rule) {
        use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
        use aws_sdk_s3::operation::put_object::PutObjectOutput;
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| PutObjectOutput::builder().build());
        let del = mock!(aws_sdk_s3::Client::delete_object)
            .then_output(|| DeleteObjectOutput::builder().build());
        let creds = aws_sdk_s3::config::Credentials::new("a", "b", None, None, "test");
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .credentials_provider(creds)
                .http_client(create_mock_http_client())
                .interceptor(
                    MockResponseInterceptor::new()
                        .rule_mode(RuleMode::MatchAny)
                        .with_rule(&put)
                        .with_rule(&del),
                )
                .build(),
        );
        (client, del)
    }

    /// A DynamoDB kv whose DynamoDB answers by `rules` (in order) and whose S3 counts
    /// deletions.
    fn kv_offloading(
        rules: &[&aws_smithy_mocks::Rule],
        mode: RuleMode,
    ) -> (DynamoKv, aws_smithy_mocks::Rule) {
        let creds = aws_sdk_dynamodb::config::Credentials::new("a", "b", None, None, "test");
        let mut interceptor = MockResponseInterceptor::new().rule_mode(mode);
        for r in rules {
            interceptor = interceptor.with_rule(r);
        }
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .retry_config(retry_config(3))
            .timeout_config(timeout_config(
                Duration::from_secs(1),
                Duration::from_secs(1),
                Duration::from_secs(3),
            ))
            .build();
        let (s3, del) = s3_counting_deletes();
        let cfg = cfg();
        let kv = DynamoKv::new(
            Client::from_conf(conf),
            Arc::new(S3Blobs::new(s3, &cfg)),
            &cfg,
        );
        (kv, del)
    }

    fn large() -> Vec<u8> {
        vec![b'x'; INLINE_LIMIT + 1]
    }

    /// The S3 pointer an UpdateItem request writes.
    fn written_pointer(req: &aws_sdk_dynamodb::operation::update_item::UpdateItemInput) -> String {
        req.expression_attribute_values()
            .into_iter()
            .flat_map(|m| m.values())
            .find_map(|v| match v {
                AttributeValue::S(p) if p.starts_with("_kv/") => Some(p.clone()),
                _ => None,
            })
            .expect("the update writes an S3 pointer")
    }

    fn put(precondition: Precondition, value: Vec<u8>) -> Vec<WriteOp> {
        vec![WriteOp::Put {
            key: "k".into(),
            value,
            precondition,
        }]
    }

    #[tokio::test]
    async fn retried_unconditional_put_does_not_delete_its_own_object() {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
        // The first attempt is applied but its response lost; the SDK's retry is applied
        // again and returns, as ALL_OLD, the item the first attempt wrote: our own
        // pointer. smithy-mocks cannot compute a response from the input across retries,
        // so the mock answers the one attempt exactly as that retry would.
        let retried = mock!(Client::update_item).then_compute_output(|req| {
            UpdateItemOutput::builder()
                .attributes("ver", AttributeValue::N("5".into()))
                .attributes("s3", AttributeValue::S(written_pointer(req)))
                .build()
        });
        let (kv, deletes) = kv_offloading(&[&retried], RuleMode::Sequential);
        let v = kv
            .transact(&scope(), put(Precondition::None, large()))
            .await;
        assert_eq!(v.unwrap(), vec![6]);
        assert_eq!(
            deletes.num_calls(),
            0,
            "deleted the object the item points at"
        );
    }

    #[tokio::test]
    async fn replaced_object_is_still_reclaimed() {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
        let rule = mock!(Client::update_item).then_output(|| {
            UpdateItemOutput::builder()
                .attributes("ver", AttributeValue::N("5".into()))
                .attributes("s3", AttributeValue::S("_kv/t/older".into()))
                .build()
        });
        let (kv, deletes) = kv_offloading(&[&rule], RuleMode::Sequential);
        let v = kv
            .transact(&scope(), put(Precondition::None, large()))
            .await;
        assert_eq!(v.unwrap(), vec![6]);
        assert_eq!(deletes.num_calls(), 1);
    }

    #[tokio::test]
    async fn put_with_unknown_outcome_keeps_its_object() {
        // Every attempt "fails" after DynamoDB may have applied it.
        let rule = mock!(Client::update_item)
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build();
        let (kv, deletes) = kv_offloading(&[&rule], RuleMode::Sequential);
        let r = kv
            .transact(&scope(), put(Precondition::Version(7), large()))
            .await;
        assert!(matches!(r, Err(StorageError::Unavailable(_))), "{r:?}");
        assert_eq!(
            deletes.num_calls(),
            0,
            "deleted an object a committed item may reference"
        );
    }

    #[tokio::test]
    async fn put_refused_outright_discards_its_object() {
        let other = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{"ver":{"N":"9"},"val":{"B":"eA=="}}}"#;
        let rule = mock!(Client::update_item)
            .sequence()
            .http_status(400, Some(other.into()))
            .build();
        let (kv, deletes) = kv_offloading(&[&rule], RuleMode::Sequential);
        let r = kv
            .transact(&scope(), put(Precondition::Version(7), large()))
            .await;
        assert!(matches!(r, Err(StorageError::Conflict(_))), "{r:?}");
        assert_eq!(
            deletes.num_calls(),
            1,
            "an unreferenced object is reclaimed"
        );
    }

    fn two_puts() -> Vec<WriteOp> {
        vec![
            WriteOp::Put {
                key: "a".into(),
                value: large(),
                precondition: Precondition::None,
            },
            WriteOp::Put {
                key: "b".into(),
                value: b"small".to_vec(),
                precondition: Precondition::None,
            },
        ]
    }

    fn both_absent() -> aws_smithy_mocks::Rule {
        use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsOutput;
        use aws_sdk_dynamodb::types::ItemResponse;
        mock!(Client::transact_get_items).then_output(|| {
            TransactGetItemsOutput::builder()
                .responses(ItemResponse::builder().build())
                .responses(ItemResponse::builder().build())
                .build()
        })
    }

    #[tokio::test]
    async fn transaction_with_unknown_outcome_keeps_its_objects() {
        let write = mock!(Client::transact_write_items)
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build();
        let get = both_absent();
        let (kv, deletes) = kv_offloading(&[&get, &write], RuleMode::MatchAny);
        let r = kv.transact(&scope(), two_puts()).await;
        assert!(matches!(r, Err(StorageError::Unavailable(_))), "{r:?}");
        assert_eq!(write.num_calls(), 3);
        assert_eq!(
            deletes.num_calls(),
            0,
            "deleted an object a committed item may reference"
        );
    }

    #[tokio::test]
    async fn transaction_refused_outright_discards_its_objects() {
        let refused =
            r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"bad"}"#;
        let write = mock!(Client::transact_write_items)
            .sequence()
            .http_status(400, Some(refused.into()))
            .build();
        let get = both_absent();
        let (kv, deletes) = kv_offloading(&[&get, &write], RuleMode::MatchAny);
        let r = kv.transact(&scope(), two_puts()).await;
        assert!(matches!(r, Err(StorageError::Unavailable(_))), "{r:?}");
        assert_eq!(deletes.num_calls(), 1);
    }

    #[tokio::test]
    async fn put_timing_out_after_commit_keeps_its_object() {
        // A DynamoDB endpoint that accepts the request and never answers: every attempt
        // times out (attempt_timeout 1 s), as when the commit's response is lost.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = std::thread::spawn(move || {
            let mut held = Vec::new();
            for c in listener.incoming().take(3) {
                held.push(c);
            }
            std::thread::sleep(Duration::from_secs(5));
        });
        let creds = aws_sdk_dynamodb::config::Credentials::new("a", "b", None, None, "test");
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(format!("http://{addr}"))
            .retry_config(retry_config(2))
            .timeout_config(timeout_config(
                Duration::from_secs(1),
                Duration::from_millis(500),
                Duration::from_secs(2),
            ))
            .build();
        let (s3, deletes) = s3_counting_deletes();
        let cfg = cfg();
        let kv = DynamoKv::new(
            Client::from_conf(conf),
            Arc::new(S3Blobs::new(s3, &cfg)),
            &cfg,
        );
        let r = kv
            .transact(&scope(), put(Precondition::Version(7), large()))
            .await;
        assert!(matches!(r, Err(StorageError::Unavailable(_))), "{r:?}");
        assert_eq!(
            deletes.num_calls(),
            0,
            "deleted an object a committed item may reference"
        );
        drop(hold);
    }
}
