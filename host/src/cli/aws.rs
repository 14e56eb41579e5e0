//! `mcp-prompts aws bootstrap --config FILE`: creates what the config's AWS backend needs
//! (DynamoDB tables with TTL, S3 buckets, the Secrets Manager secret) where it is missing.
//! Idempotent; meant for development and tests. Production infrastructure is the operator's
//! (docs/aws.md lists it).
//!
//! `mcp-prompts aws sweep --config FILE`: deletes kv value objects that no item refers to
//! (`storage/aws/sweep.rs` says why that is safe while servers run).

use crate::config::{self, LoadedConfig};
use crate::storage::aws::sweep::sweep_table;
use crate::storage::aws::{AwsClients, load_sdk_config};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use clap::Subcommand;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Subcommand)]
pub enum AwsCommand {
    /// Create the tables (with TTL), buckets and secret the config names, if missing.
    Bootstrap {
        #[arg(long, short, env = "MCP_PROMPTS_CONFIG")]
        config: PathBuf,
    },
    /// Delete the kv value objects (`_kv/` in default_bucket) that no item refers to and
    /// that are older than --min-age. Safe while servers run.
    Sweep {
        #[arg(long, short, env = "MCP_PROMPTS_CONFIG")]
        config: PathBuf,
        /// Only objects at least this old: a younger one may belong to a write in flight.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        min_age: Duration,
        /// Print what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(cmd: AwsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AwsCommand::Bootstrap { config } => bootstrap(&config::load(&config)?).await,
        AwsCommand::Sweep {
            config,
            min_age,
            dry_run,
        } => sweep(&config::load(&config)?, min_age, dry_run).await,
    }
}

async fn sweep(lc: &LoadedConfig, min_age: Duration, dry_run: bool) -> anyhow::Result<ExitCode> {
    let Some(aws) = lc.config.storage.aws.as_ref() else {
        anyhow::bail!(
            "{}: [storage.aws] is not configured; there are no value objects to sweep",
            lc.file.display()
        );
    };
    let clients = AwsClients::new(aws).await;
    let tables: std::collections::BTreeSet<&str> = std::iter::once(aws.default_table.as_str())
        .chain(aws.namespaces.values().map(|t| t.table.as_str()))
        .collect();
    for table in tables {
        let r = sweep_table(
            &clients.dynamodb,
            &clients.s3,
            &aws.default_bucket,
            table,
            min_age,
            dry_run,
        )
        .await
        .map_err(|e| anyhow::anyhow!("sweeping the value objects of table {table}: {e}"))?;
        let verb = if dry_run { "would delete" } else { "deleted" };
        for key in &r.orphans {
            println!("{verb} {key}");
        }
        println!(
            "{table}: objects {}, referenced {}, young {}, orphans {}",
            r.objects,
            r.referenced,
            r.young,
            r.orphans.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn err(what: String, e: impl std::error::Error) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", DisplayErrorContext(e))
}

async fn bootstrap(lc: &LoadedConfig) -> anyhow::Result<ExitCode> {
    let aws = lc.config.storage.aws.as_ref();
    let secret = lc
        .config
        .auth
        .dev
        .as_ref()
        .and_then(|d| d.secrets_manager.as_ref());
    if aws.is_none() && secret.is_none() {
        anyhow::bail!(
            "{}: neither [storage.aws] nor [auth.dev.secrets_manager] is configured; nothing to create",
            lc.file.display()
        );
    }
    if let Some(aws) = aws {
        let clients = AwsClients::new(aws).await;
        // Table → whether any namespace stored in it has a TTL.
        let mut tables: BTreeMap<&str, bool> = BTreeMap::new();
        tables.insert(&aws.default_table, false);
        for t in aws.namespaces.values() {
            *tables.entry(&t.table).or_default() |= t.ttl.is_some();
        }
        for (table, ttl) in tables {
            create_table(&clients.dynamodb, table, ttl).await?;
        }
        let mut buckets: Vec<&str> = aws.buckets.values().map(String::as_str).collect();
        buckets.push(&aws.default_bucket);
        buckets.extend(aws.media_bucket.as_deref());
        buckets.sort_unstable();
        buckets.dedup();
        let region = clients.s3.config().region().map(|r| r.to_string());
        for b in buckets {
            create_bucket(&clients.s3, b, region.as_deref()).await?;
        }
    }
    if let Some(src) = secret {
        let sdk = load_sdk_config(aws, src.region.as_deref()).await;
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        match client
            .describe_secret()
            .secret_id(&src.secret_id)
            .send()
            .await
        {
            Ok(_) => println!("secret {}: exists", src.secret_id),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                use rand::RngCore;
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                let mut value = serde_json::Map::new();
                value.insert(src.key.clone(), hex::encode(bytes).into());
                let value = serde_json::Value::Object(value);
                client
                    .create_secret()
                    .name(&src.secret_id)
                    .secret_string(value.to_string())
                    .send()
                    .await
                    .map_err(|e| err(format!("secret {}: cannot create", src.secret_id), e))?;
                println!(
                    "secret {}: created with a random {:?}",
                    src.secret_id, src.key
                );
            }
            Err(e) => return Err(err(format!("secret {}", src.secret_id), e)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    ttl: bool,
) -> anyhow::Result<()> {
    match client.describe_table().table_name(table).send().await {
        Ok(_) => println!("table {table}: exists"),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            let attr = |name: &str| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
            };
            let key = |name: &str, kind| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build()
            };
            let r = client
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(attr("pk")?)
                .attribute_definitions(attr("sk")?)
                .key_schema(key("pk", KeyType::Hash)?)
                .key_schema(key("sk", KeyType::Range)?)
                .send()
                .await;
            match r {
                Ok(_) => println!("table {table}: created"),
                // Another bootstrap got there first.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_in_use_exception()) =>
                {
                    println!("table {table}: exists")
                }
                Err(e) => return Err(err(format!("table {table}: cannot create"), e)),
            }
            wait_active(client, table).await?;
        }
        Err(e) => return Err(err(format!("table {table}"), e)),
    }
    if ttl {
        let current = client
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .map_err(|e| err(format!("table {table}: cannot read TTL"), e))?;
        let enabled = current
            .time_to_live_description()
            .and_then(|d| d.attribute_name())
            == Some("expires_at");
        if enabled {
            println!("table {table}: TTL on expires_at exists");
        } else {
            client
                .update_time_to_live()
                .table_name(table)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name("expires_at")
                        .enabled(true)
                        .build()?,
                )
                .send()
                .await
                .map_err(|e| err(format!("table {table}: cannot enable TTL"), e))?;
            println!("table {table}: TTL enabled on expires_at");
        }
    }
    Ok(())
}

async fn wait_active(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::TableStatus;
    for _ in 0..120 {
        let d = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| err(format!("table {table}"), e))?;
        if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    anyhow::bail!("table {table}: not ACTIVE after 60s")
}

async fn create_bucket(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    region: Option<&str>,
) -> anyhow::Result<()> {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        println!("bucket {bucket}: exists");
        return Ok(());
    }
    let mut req = client.create_bucket().bucket(bucket);
    // us-east-1 is the one region that must not be named as a location constraint.
    if let Some(r) = region.filter(|r| *r != "us-east-1") {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(r))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => println!("bucket {bucket}: created"),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
        {
            println!("bucket {bucket}: exists")
        }
        Err(e) => return Err(err(format!("bucket {bucket}: cannot create"), e)),
    }
    Ok(())
}
