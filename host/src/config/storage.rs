//! `[storage]`: which backend holds plugin data and where local files go. The AWS backend's
//! own table, `[storage.aws]`, is in aws.rs.

use super::{AwsStorageConfig, ConfigError, Ctx};
use serde::Deserialize;
use std::path::PathBuf;

/// The embedded database: a single server needs nothing else.
const BACKEND: StorageBackend = StorageBackend::Embedded;
/// Relative to the config file's folder, like every path in it.
const DATA_DIR: &str = "data";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Embedded,
    /// DynamoDB + S3 (`[storage.aws]`, docs/aws.md).
    Aws,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    /// Holds the embedded database, blobs, the generated TLS certificate and dev secret.
    pub data_dir: PathBuf,
    /// DynamoDB + S3 settings; required when `backend = "aws"`.
    pub aws: Option<AwsStorageConfig>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: BACKEND,
            data_dir: PathBuf::from(DATA_DIR),
            aws: None,
        }
    }
}

impl StorageConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        if self.backend == StorageBackend::Aws && self.aws.is_none() {
            return Err(cx.invalid(
                "storage.aws",
                "required when storage.backend = \"aws\" (at least default_bucket)",
            ));
        }
        match &self.aws {
            Some(a) => a.validate(cx),
            None => Ok(()),
        }
    }
}
