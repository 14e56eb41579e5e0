//! Reclaims kv value objects (`_kv/<table>/…` in `default_bucket`) that no item refers to.
//!
//! The write path never deletes an object a committed item may reference: after an
//! unknown outcome (a timeout or lost response after the commit) it keeps the new object
//! (`dynamodb.rs`), which may then be an orphan. Deciding that needs the whole table's
//! pointers, so it is an operator's job (`mcp-prompts aws sweep`), not the request path's.
//!
//! Safety rests on the order and an age bound: objects are listed first and only those
//! older than `min_age` are candidates; the table is then scanned with strongly consistent
//! reads. A candidate that an item will reference later would need a write that uploaded
//! it more than `min_age` ago and has still not committed, which the SDK's operation
//! timeout (at most 120 s) rules out for any `min_age` of minutes.

use super::unavailable;
use crate::storage::StorageError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// What one table's sweep found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub table: String,
    /// Objects under the table's prefix.
    pub objects: usize,
    /// Of those, referenced by an item.
    pub referenced: usize,
    /// Unreferenced but younger than `min_age`: left alone.
    pub young: usize,
    /// Unreferenced and old enough: deleted (or, on a dry run, would be).
    pub orphans: Vec<String>,
}

/// Sweeps the objects of `table`. With `dry_run`, reports the orphans without deleting.
pub async fn sweep_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    table: &str,
    min_age: Duration,
    dry_run: bool,
) -> Result<SweepReport, StorageError> {
    let cutoff = SystemTime::now()
        .checked_sub(min_age)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = SweepReport {
        table: table.to_string(),
        ..SweepReport::default()
    };
    // 1. The candidates, listed before the table is read (module docs).
    let mut candidates = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(format!("_kv/{table}/"))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| unavailable("s3 ListObjectsV2", e))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            report.objects += 1;
            let modified = o
                .last_modified()
                .and_then(|t| SystemTime::try_from(*t).ok())
                .unwrap_or_else(SystemTime::now);
            candidates.push((key.to_string(), modified <= cutoff));
        }
    }
    if candidates.is_empty() {
        return Ok(report);
    }
    // 2. Every pointer the table holds.
    let referenced = pointers(dynamodb, table).await?;
    // 3. Old and unreferenced → orphan.
    for (key, old) in candidates {
        if referenced.contains(&key) {
            report.referenced += 1;
        } else if !old {
            report.young += 1;
        } else {
            report.orphans.push(key);
        }
    }
    if !dry_run {
        for key in &report.orphans {
            s3.delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| unavailable("s3 DeleteObject", e))?;
        }
    }
    Ok(report)
}

/// The `s3` pointers of every item of `table` (strongly consistent scan, pointers only).
async fn pointers(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<HashSet<String>, StorageError> {
    let mut out = HashSet::new();
    let mut pages = dynamodb
        .scan()
        .table_name(table)
        .consistent_read(true)
        .projection_expression("#p")
        .filter_expression("attribute_exists(#p)")
        .expression_attribute_names("#p", "s3")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| unavailable("dynamodb Scan", e))?;
        for item in page.items() {
            if let Some(AttributeValue::S(p)) = item.get("s3") {
                out.insert(p.clone());
            }
        }
    }
    Ok(out)
}
