//! `mcp-prompts import`: loads prompt JSON files through the route's prompt handler, so
//! imported prompts are normalised and validated exactly like ones sent over the API —
//! in this process on the config's store, or through a running server's API
//! (`PUT {route}/{id}?mode=replace`, see `cli/remote.rs` for which).

use super::remote::{self, ConnArgs, Mode};
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

impl Counts {
    fn count(&mut self, o: UpsertOutcome) {
        match o {
            UpsertOutcome::Created => self.created += 1,
            UpsertOutcome::Updated => self.updated += 1,
            UpsertOutcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// One prompt document: where it came from, and its text or why it could not be read.
type Document = (String, Result<String, String>);

pub async fn run(
    path: Option<&Path>,
    conn: &ConnArgs,
    source: &str,
    route: Option<String>,
    tenant: Option<String>,
) -> anyhow::Result<ExitCode> {
    if let Some(t) = &tenant
        && !config::is_valid_name(t)
    {
        anyhow::bail!("--tenant {t:?}: not a valid tenant id");
    }
    if conn.url.is_some() && tenant.is_some() {
        anyhow::bail!(
            "--tenant does not apply with --url: the API imports into the route's tenant, \
             else the token's"
        );
    }
    let mode = remote::choose(path, conn, |lc| {
        let r = config_route(lc, route.as_deref())?;
        Ok(remote::Needs {
            scopes: remote::write_scopes(lc, r),
            tenant: tenant.clone(),
        })
    })
    .await?;
    if let Mode::Local(lc) = &mode {
        crate::telemetry::init(&lc.config.logging);
    }
    let aws = match &mode {
        Mode::Local(lc)
        | Mode::Remote {
            config: Some(lc), ..
        } => lc.config.storage.aws.clone(),
        Mode::Remote { config: None, .. } => None,
    };
    let documents = match source.strip_prefix("s3://") {
        Some(location) => read_s3(aws.as_ref(), location).await?,
        None => read_dir(Path::new(source))?,
    };
    let counts = match mode {
        Mode::Local(lc) => import_local(*lc, documents, route, tenant).await?,
        Mode::Remote { client, config } => {
            let route = match (&route, &config) {
                (Some(r), _) => r.trim_end_matches('/').to_string(),
                (None, Some(lc)) => config_route(lc, None)?
                    .path
                    .trim_end_matches('/')
                    .to_string(),
                (None, None) => DEFAULT_ROUTE.to_string(),
            };
            import_remote(&client, &route, documents).await?
        }
    };
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

/// The route prompts go to without `--route` and without a config.
const DEFAULT_ROUTE: &str = "/v1/prompts";

/// `--route`, else the config's first route.
fn config_route<'a>(
    lc: &'a config::LoadedConfig,
    route: Option<&str>,
) -> anyhow::Result<&'a config::RouteConfig> {
    let routes = &lc.config.routes;
    match route {
        Some(r) => routes
            .iter()
            .find(|x| x.path.trim_end_matches('/') == r.trim_end_matches('/'))
            .ok_or_else(|| anyhow::anyhow!("--route {r}: no such route in the config")),
        None => routes
            .first()
            .ok_or_else(|| anyhow::anyhow!("the config has no routes to import into")),
    }
}

async fn import_local(
    lc: config::LoadedConfig,
    documents: Vec<Document>,
    route: Option<String>,
    tenant: Option<String>,
) -> anyhow::Result<Counts> {
    let app = App::start(lc).await.map_err(|e| {
        anyhow::anyhow!("{e:#}\n(is a server running on the same data directory? pass --url and --token to import through its API)")
    })?;
    let snapshot = app
        .snapshot()
        .ok_or_else(|| anyhow::anyhow!("plugins were not loaded"))?;
    let path = config_route(&snapshot.config, route.as_deref())?
        .path
        .trim_end_matches('/')
        .to_string();
    let route = snapshot
        .routes
        .iter()
        .find(|x| x.path == path)
        .ok_or_else(|| anyhow::anyhow!("route {path} was not loaded"))?;
    // A shared catalog route has its own tenant; import there unless told otherwise.
    let tenant = tenant
        .or_else(|| route.tenant.clone())
        .unwrap_or_else(|| snapshot.config.config.auth.default_tenant.clone());
    let mut counts = Counts::default();
    for (file, text) in documents {
        let text = match checked(text) {
            Ok(t) => t,
            Err(reason) => {
                counts.rejected.push((file, reason));
                continue;
            }
        };
        let cx = CallContext {
            request_id: format!("import-{}", uuid::Uuid::new_v4()),
            principal: None,
            tenant: tenant.clone(),
            spend: Default::default(),
        };
        // Images are stored by the host, as on every write through the service.
        let max_image = snapshot.config.config.media.max_image_size.0;
        let text = match crate::service::media::ingest(&app.storage, &tenant, max_image, text).await
        {
            Ok(t) => t,
            Err(e) => {
                counts.rejected.push((file, e.detail));
                continue;
            }
        };
        let r = app.runtime.prompts(&route.handler, &cx).upsert(text).await;
        match r {
            Ok(Ok((outcome, _))) => counts.count(outcome),
            Ok(Err(e)) => counts.rejected.push((file, e.to_string())),
            Err(f) => counts.rejected.push((file, f.to_string())),
        }
    }
    Ok(counts)
}

/// Each document as `PUT {route}/{id}?mode=replace`, with progress on stderr. A 401
/// stops the import (the token is wrong for every document); anything else the server
/// refuses is that document's rejection, with the problem's reason.
async fn import_remote(
    client: &remote::Client,
    route: &str,
    documents: Vec<Document>,
) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    let total = documents.len();
    for (n, (file, text)) in documents.into_iter().enumerate() {
        let outcome = match checked(text) {
            Err(reason) => Err(reason),
            Ok(text) => match document_id(&text) {
                None => Err(
                    "has no \"id\": through the API a prompt is addressed by its id; add one"
                        .to_string(),
                ),
                Some(id) => {
                    let path = format!("{route}/{}?mode=replace", remote::segment(&id));
                    let a = client.send(http::Method::PUT, &path, Some(&text)).await?;
                    if a.status == http::StatusCode::UNAUTHORIZED {
                        anyhow::bail!(
                            "{}{route}: the server refused the token: {}",
                            client.base(),
                            a.reason()
                        );
                    }
                    match a
                        .headers
                        .get("upsert-outcome")
                        .and_then(|v| v.to_str().ok())
                    {
                        Some("created") if a.status.is_success() => Ok(UpsertOutcome::Created),
                        Some("updated") if a.status.is_success() => Ok(UpsertOutcome::Updated),
                        Some("unchanged") if a.status.is_success() => Ok(UpsertOutcome::Unchanged),
                        _ if a.status.is_success() => Err(format!(
                            "{} answered {} without an Upsert-Outcome: is it an mcp-prompts server of this version?",
                            client.base(),
                            a.status
                        )),
                        _ => Err(format!("{}: {}", a.status.as_u16(), a.reason())),
                    }
                }
            },
        };
        let word = match &outcome {
            Ok(UpsertOutcome::Created) => "created",
            Ok(UpsertOutcome::Updated) => "updated",
            Ok(UpsertOutcome::Unchanged) => "unchanged",
            Err(_) => "rejected",
        };
        eprintln!("[{}/{total}] {file}: {word}", n + 1);
        match outcome {
            Ok(o) => counts.count(o),
            Err(reason) => counts.rejected.push((file, reason)),
        }
    }
    Ok(counts)
}

/// The document's text if it was readable and is JSON; else why not.
fn checked(text: Result<String, String>) -> Result<String, String> {
    let text = text.map_err(|e| format!("cannot read: {e}"))?;
    serde_json::from_str::<serde::de::IgnoredAny>(&text)
        .map_err(|e| format!("not valid JSON: {e}"))?;
    Ok(text)
}

fn document_id(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v.get("id")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
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
async fn read_s3(
    aws: Option<&config::AwsStorageConfig>,
    location: &str,
) -> anyhow::Result<Vec<Document>> {
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    if bucket.is_empty() {
        anyhow::bail!("s3://{location}: expected s3://BUCKET/PREFIX");
    }
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
