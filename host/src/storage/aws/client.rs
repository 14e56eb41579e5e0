//! One place where AWS SDK clients are configured: region, endpoint, timeouts, retries.
//! Used by storage, `mcp-prompts aws bootstrap`, `import s3://…` and the secrets source.

use crate::config::AwsStorageConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::time::Duration;

/// Builds the shared SDK configuration: the default credential chain (never keys from our
/// config), region from `region` or the chain, and `endpoint_url` or the SDK's own
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` handling.
pub async fn load_sdk_config(cfg: Option<&AwsStorageConfig>, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = region.or(cfg.and_then(|c| c.region.as_deref())) {
        loader = loader.region(Region::new(r.to_string()));
    }
    if let Some(c) = cfg {
        if let Some(u) = &c.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        loader = loader
            .retry_config(retry_config(c.max_attempts))
            .timeout_config(timeout_config(
                c.connect_timeout,
                c.attempt_timeout,
                c.operation_timeout,
            ));
    } else {
        loader = loader
            .retry_config(retry_config(3))
            .timeout_config(timeout_config(
                Duration::from_secs(2),
                Duration::from_secs(3),
                Duration::from_secs(6),
            ));
    }
    loader.load().await
}

/// Standard mode: retries throttling, 5xx and transport errors with jittered exponential
/// backoff, limited by a client-side retry quota so an outage does not multiply load.
pub fn retry_config(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(1000))
}

pub fn timeout_config(connect: Duration, attempt: Duration, operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(connect)
        .read_timeout(attempt)
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}

/// The service clients of the storage backend.
#[derive(Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
}

impl AwsClients {
    pub async fn new(cfg: &AwsStorageConfig) -> Self {
        let sdk = load_sdk_config(Some(cfg), None).await;
        Self::from_sdk(&sdk, cfg)
    }

    pub fn from_sdk(sdk: &SdkConfig, cfg: &AwsStorageConfig) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(cfg.force_path_style)
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3),
        }
    }
}
