//! Blobs in S3. A plugin's logical bucket maps to an S3 bucket (`storage.aws.buckets`, else
//! `default_bucket`); the object key is `<logical bucket>/<tenant>/<key>`, so one S3 bucket
//! can hold several logical buckets and tenants never share a prefix.
//!
//! The host's own images of chat messages (logical bucket `_media`, which no plugin can
//! be granted) go to `storage.aws.media_bucket`, else `default_bucket`.
//!
//! Also holds kv values too large for a DynamoDB item, under `_kv/` in `default_bucket`
//! (logical bucket names start with a letter or digit, so `_kv/` cannot collide).

use super::{code, unavailable};
use crate::config::AwsStorageConfig;
use crate::storage::{
    BlobStore, MAX_BLOB_BYTES, MAX_PAGE, ObjectInfo, Scope, StorageError, check_key,
};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use std::collections::BTreeMap;

pub struct S3Blobs {
    client: Client,
    default_bucket: String,
    buckets: BTreeMap<String, String>,
    media_bucket: Option<String>,
}

impl S3Blobs {
    pub fn new(client: Client, cfg: &AwsStorageConfig) -> Self {
        Self {
            client,
            default_bucket: cfg.default_bucket.clone(),
            buckets: cfg.buckets.clone(),
            media_bucket: cfg.media_bucket.clone(),
        }
    }

    fn bucket(&self, scope: &Scope) -> &str {
        if scope.space == crate::storage::MEDIA_BUCKET
            && let Some(b) = &self.media_bucket
        {
            return b;
        }
        self.buckets
            .get(&scope.space)
            .map_or(self.default_bucket.as_str(), String::as_str)
    }

    fn object_prefix(scope: &Scope) -> String {
        format!("{}/{}/", scope.space, scope.tenant)
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let data =
                    out.body.collect().await.map_err(|e| {
                        StorageError::Unavailable(format!("s3 GetObject body: {e}"))
                    })?;
                Ok(Some(data.into_bytes().to_vec()))
            }
            Err(e) if code(&e) == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(unavailable("s3 GetObject", e)),
        }
    }

    /// Stores a kv value that does not fit in a DynamoDB item; returns its object key.
    /// The key is fresh (a UUID) and written with `If-None-Match: *`, so an offloaded value
    /// is never overwritten: the item's pointer always names exactly the bytes written.
    pub(super) async fn put_large_value(
        &self,
        table: &str,
        data: Vec<u8>,
    ) -> Result<String, StorageError> {
        let key = format!("_kv/{table}/{}", uuid::Uuid::new_v4().simple());
        self.client
            .put_object()
            .bucket(&self.default_bucket)
            .key(&key)
            .if_none_match("*")
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| unavailable("s3 PutObject", e))?;
        Ok(key)
    }

    pub(super) async fn get_large_value(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        self.get_object(&self.default_bucket, key)
            .await?
            .ok_or_else(|| {
                StorageError::Unavailable(format!(
                    "kv value object {key} is missing from bucket {}",
                    self.default_bucket
                ))
            })
    }

    /// Best effort: a leftover object wastes space but never changes what a read returns.
    pub(super) async fn delete_large_value(&self, key: &str) {
        if let Err(e) = self
            .client
            .delete_object()
            .bucket(&self.default_bucket)
            .key(key)
            .send()
            .await
        {
            tracing::warn!(object = key, error = %unavailable("s3 DeleteObject", e), "could not delete a replaced kv value object");
        }
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(key)?;
        let k = format!("{}{key}", Self::object_prefix(scope));
        self.get_object(self.bucket(scope), &k).await
    }

    async fn put(&self, scope: &Scope, key: &str, data: Vec<u8>) -> Result<(), StorageError> {
        check_key(key)?;
        if data.len() > MAX_BLOB_BYTES {
            return Err(StorageError::Invalid(format!(
                "object is {} bytes, the limit is {MAX_BLOB_BYTES}",
                data.len()
            )));
        }
        self.client
            .put_object()
            .bucket(self.bucket(scope))
            .key(format!("{}{key}", Self::object_prefix(scope)))
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| unavailable("s3 PutObject", e))?;
        Ok(())
    }

    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        check_key(key)?;
        let bucket = self.bucket(scope);
        let k = format!("{}{key}", Self::object_prefix(scope));
        // S3 DeleteObject does not say whether the object existed; ask first.
        let existed = match self
            .client
            .head_object()
            .bucket(bucket)
            .key(&k)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => false,
            Err(e) => return Err(unavailable("s3 HeadObject", e)),
        };
        if existed {
            self.client
                .delete_object()
                .bucket(bucket)
                .key(&k)
                .send()
                .await
                .map_err(|e| unavailable("s3 DeleteObject", e))?;
        }
        Ok(existed)
    }

    async fn list(
        &self,
        scope: &Scope,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ObjectInfo>, bool), StorageError> {
        let base = Self::object_prefix(scope);
        let limit = limit.clamp(1, MAX_PAGE);
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(self.bucket(scope))
            .prefix(format!("{base}{prefix}"))
            // One more than asked tells whether another page follows.
            .max_keys(i32::try_from(limit + 1).unwrap_or(i32::MAX));
        if let Some(after) = start_after {
            check_key(after)?;
            req = req.start_after(format!("{base}{after}"));
        }
        let out = req
            .send()
            .await
            .map_err(|e| unavailable("s3 ListObjectsV2", e))?;
        let mut objects: Vec<ObjectInfo> = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(ObjectInfo {
                    key: o.key()?.strip_prefix(base.as_str())?.to_string(),
                    size: u64::try_from(o.size().unwrap_or(0)).unwrap_or(0),
                })
            })
            .collect();
        let more = objects.len() > limit || out.is_truncated().unwrap_or(false);
        objects.truncate(limit);
        Ok((objects, more))
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.default_bucket)
            .send()
            .await
            .map_err(|e| unavailable("s3 HeadBucket", e))?;
        Ok(())
    }
}
