//! `mcp-prompts import`: loads prompt JSON files through the route's prompt handler, so
//! imported prompts are normalised and validated exactly like ones sent over the API.

use crate::app::App;
use crate::config;
use crate::plugins::{CallContext, UpsertOutcome};
use std::path::Path;
use std::process::ExitCode;

#[derive(Default)]
struct Counts {
    created: usize,
    updated: usize,
    unchanged: usize,
    rejected: Vec<(String, String)>,
}

/// One prompt document: where it came from, and its text or why it could not be read.
type Document = (String, Result<String, String>);

pub async fn run(
    path: &Path,
    source: &str,
    route: Option<String>,
    tenant: Option<String>,
) -> anyhow::Result<ExitCode> {
    let lc = config::load(path)?;
    crate::telemetry::init(&lc.config.logging);
    if let Some(t) = &tenant
        && !config::is_valid_name(t)
    {
        anyhow::bail!("--tenant {t:?}: not a valid tenant id");
    }
    let documents = match source.strip_prefix("s3://") {
        Some(location) => read_s3(&lc, location).await?,
        None => read_dir(Path::new(source))?,
    };
    let app = App::start(lc).await.map_err(|e| {
        anyhow::anyhow!("{e:#}\n(is a server running on the same data directory? import while it is stopped, or use the REST API)")
    })?;
    let snapshot = app
        .snapshot()
        .ok_or_else(|| anyhow::anyhow!("plugins were not loaded"))?;
    let route =
        match &route {
            Some(r) => snapshot
                .routes
                .iter()
                .find(|x| x.path == r.trim_end_matches('/'))
                .ok_or_else(|| anyhow::anyhow!("--route {r}: no such route in the config"))?,
            None => {
                let first =
                    snapshot.config.config.routes.first().ok_or_else(|| {
                        anyhow::anyhow!("the config has no routes to import into")
                    })?;
                let path = first.path.trim_end_matches('/');
                snapshot
                    .routes
                    .iter()
                    .find(|x| x.path == path)
                    .ok_or_else(|| anyhow::anyhow!("route {path} was not loaded"))?
            }
        };
    // A shared catalog route has its own tenant; import there unless told otherwise.
    let tenant = tenant
        .or_else(|| route.tenant.clone())
        .unwrap_or_else(|| snapshot.config.config.auth.default_tenant.clone());
    let mut counts = Counts::default();
    for (file, text) in documents {
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                counts.rejected.push((file, format!("cannot read: {e}")));
                continue;
            }
        };
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&text) {
            counts.rejected.push((file, format!("not valid JSON: {e}")));
            continue;
        }
        let cx = CallContext {
            request_id: format!("import-{}", uuid::Uuid::new_v4()),
            principal: None,
            tenant: tenant.clone(),
        };
        let r = app.runtime.prompts(&route.handler, &cx).upsert(text).await;
        match r {
            Ok(Ok((UpsertOutcome::Created, _))) => counts.created += 1,
            Ok(Ok((UpsertOutcome::Updated, _))) => counts.updated += 1,
            Ok(Ok((UpsertOutcome::Unchanged, _))) => counts.unchanged += 1,
            Ok(Err(e)) => counts.rejected.push((file, e.to_string())),
            Err(f) => counts.rejected.push((file, f.to_string())),
        }
    }
    println!(
        "created {}, updated {}, unchanged {}, rejected {}",
        counts.created,
        counts.updated,
        counts.unchanged,
        counts.rejected.len()
    );
    for (file, reason) in &counts.rejected {
        println!("rejected {file}: {reason}");
    }
    Ok(if counts.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// `*.json` files of a directory, in name order.
fn read_dir(dir: &Path) -> anyhow::Result<Vec<Document>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot read directory: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).map_err(|e| e.to_string());
            (f.display().to_string(), text)
        })
        .collect())
}

/// `*.json` objects under `bucket/prefix` (from `s3://bucket/prefix`), in key order. The
/// client uses `[storage.aws]` (region, endpoint, path style) when the config has it.
async fn read_s3(lc: &config::LoadedConfig, location: &str) -> anyhow::Result<Vec<Document>> {
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    if bucket.is_empty() {
        anyhow::bail!("s3://{location}: expected s3://BUCKET/PREFIX");
    }
    let aws = lc.config.storage.aws.as_ref();
    let sdk = crate::storage::aws::load_sdk_config(aws, None).await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(aws.is_some_and(|a| a.force_path_style))
            .build(),
    );
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!(
                "s3://{location}: cannot list: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .filter(|k| k.ends_with(".json"))
                .map(str::to_string),
        );
    }
    keys.sort();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let text = match client.get_object().bucket(bucket).key(&key).send().await {
            Ok(o) => match o.body.collect().await {
                Ok(b) => {
                    String::from_utf8(b.into_bytes().to_vec()).map_err(|_| "not UTF-8".to_string())
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(aws_smithy_types::error::display::DisplayErrorContext(&e).to_string()),
        };
        out.push((format!("s3://{bucket}/{key}"), text));
    }
    Ok(out)
}
