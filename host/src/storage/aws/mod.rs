//! The AWS backend: kv in DynamoDB ([`dynamodb`]), blobs in S3 ([`s3`]). docs/aws.md has
//! the key schema, bucket layout and the IAM policy these calls need.
//!
//! Every host is stateless: all state, including version counters, lives in DynamoDB, so
//! several servers behind a load balancer serve one consistent data set. Faults are bounded:
//! the SDK retries throttling, 5xx and transport errors with jittered backoff within
//! `operation_timeout`, after which the call fails as [`StorageError::Unavailable`] (a 503
//! with `Retry-After` on the REST side).

pub mod client;
pub mod dynamodb;
pub mod s3;
pub mod sweep;

pub use client::{AwsClients, load_sdk_config};

use super::{Storage, StorageError};
use crate::config::AwsStorageConfig;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::sync::Arc;

/// Opens the DynamoDB kv store and the S3 blob store described by `[storage.aws]`.
/// Nothing is contacted yet: `/ready` (ping) reports whether AWS answers.
pub async fn open(cfg: &AwsStorageConfig) -> Result<Storage, StorageError> {
    Ok(open_with(AwsClients::new(cfg).await, cfg))
}

/// As [`open`], with clients configured by the caller (tests, tools).
pub fn open_with(clients: AwsClients, cfg: &AwsStorageConfig) -> Storage {
    let blobs = Arc::new(s3::S3Blobs::new(clients.s3, cfg));
    let kv = Arc::new(dynamodb::DynamoKv::new(
        clients.dynamodb,
        blobs.clone(),
        cfg,
    ));
    Storage {
        kv: kv.clone(),
        blob: blobs,
        leases: Some(kv),
    }
}

/// Maps an SDK error that is not one of the operation's expected outcomes (those are
/// matched by the caller) to `Unavailable`, with the AWS error code but no request data.
pub(crate) fn unavailable<E, R>(op: &'static str, e: SdkError<E, R>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = match &e {
        SdkError::ServiceError(s) => format!(
            "{}: {}",
            s.err().code().unwrap_or("unknown error"),
            s.err().message().unwrap_or("")
        ),
        SdkError::TimeoutError(_) => "timed out".to_string(),
        _ => DisplayErrorContext(&e).to_string(),
    };
    StorageError::Unavailable(format!("{op}: {detail}"))
}

/// The AWS error code of a service error, if it is one.
pub(crate) fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

/// Whether a failed write may nonetheless have been applied: a timeout, a lost connection or
/// a 5xx can follow the commit. Only a 4xx service error is a definite "not written". An S3
/// object written for such a write must be kept, since the committed item may point at it.
pub(crate) fn maybe_applied<E>(e: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> bool {
    match e {
        SdkError::ServiceError(s) => s.raw().status().as_u16() >= 500,
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    }
}
