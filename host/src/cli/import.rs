//! `mcp-prompts import`: loads prompt JSON files through the route's prompt handler, so
//! imported prompts are normalised and validated exactly like ones sent over the API —
//! in this process on the config's store, or through a running server's API
//! (`PUT {route}/{id}?mode=replace`, see `cli/remote.rs` for which).

use super::remote::{self, ConnArgs, Mode};
use super::target::{self, Target};
use crate::config;
use crate::plugins::UpsertOutcome;
use crate::service::prompt_file;
use crate::service::sync::{self, Plan};
use std::fmt::Write as _;
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

    fn changed(&self) -> bool {
        self.created + self.updated > 0
    }
}

/// One prompt document: where it came from, and its text or why it could not be read.
type Document = (String, Result<String, String>);

/// The arguments of one `import` run.
pub struct Args<'a> {
    pub config: Option<&'a Path>,
    pub conn: &'a ConnArgs,
    /// A directory or `s3://BUCKET/PREFIX`.
    pub source: &'a str,
    pub route: Option<String>,
    pub tenant: Option<String>,
    /// Say what would change; write nothing.
    pub dry_run: bool,
    /// Let the files move the route's protected labels (local import; the fallback token
    /// gets their scopes).
    pub allow_protected: bool,
}

/// Exit code of a dry run that found changes (diff(1)'s "different").
const WOULD_CHANGE: u8 = 1;
/// Exit code when a document was rejected (or a dry run found one that would be).
const REJECTED: u8 = 2;

pub async fn run(a: Args<'_>) -> anyhow::Result<ExitCode> {
    if let Some(t) = &a.tenant
        && !config::is_valid_name(t)
    {
        anyhow::bail!("--tenant {t:?}: not a valid tenant id");
    }
    if a.conn.url.is_some() && a.tenant.is_some() {
        anyhow::bail!(
            "--tenant does not apply with --url: the API imports into the route's tenant, \
             else the token's"
        );
    }
    let mode = remote::choose(a.config, a.conn, |lc| {
        let r = target::config_route(lc, a.route.as_deref())?;
        let mut scopes = remote::write_scopes(lc, r);
        if a.allow_protected {
            scopes.extend(r.protected_labels.values().cloned());
            scopes.sort();
            scopes.dedup();
        }
        Ok(remote::Needs {
            scopes,
            tenant: a.tenant.clone(),
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
    let documents = match a.source.strip_prefix("s3://") {
        Some(location) => read_s3(aws.as_ref(), location).await?,
        None => read_dir(Path::new(a.source))?,
    };
    let remote = matches!(mode, Mode::Remote { .. });
    let target = Target::open(mode, a.route.as_deref(), a.tenant.clone()).await?;
    let mut counts = Counts::default();
    let total = documents.len();
    for (n, (file, text)) in documents.into_iter().enumerate() {
        let done = match import_one(&target, &file, text, &a).await {
            Ok(done) => done,
            Err(target::Error::Stop(m)) => anyhow::bail!("{m}"),
            Err(target::Error::Refused(m)) => Done {
                outcome: Err(m),
                report: String::new(),
            },
        };
        if remote {
            let word = match &done.outcome {
                Ok(UpsertOutcome::Created) => "created",
                Ok(UpsertOutcome::Updated) => "updated",
                Ok(UpsertOutcome::Unchanged) => "unchanged",
                Err(_) => "rejected",
            };
            eprintln!("[{}/{total}] {file}: {word}", n + 1);
        }
        print!("{}", done.report);
        match done.outcome {
            Ok(o) => counts.count(o),
            Err(reason) => counts.rejected.push((file, reason)),
        }
    }
    println!(
        "{}created {}, updated {}, unchanged {}, rejected {}",
        if a.dry_run {
            "dry run (nothing written): "
        } else {
            ""
        },
        counts.created,
        counts.updated,
        counts.unchanged,
        counts.rejected.len()
    );
    for (file, reason) in &counts.rejected {
        println!("rejected {file}: {reason}");
    }
    Ok(if !counts.rejected.is_empty() {
        ExitCode::from(REJECTED)
    } else if a.dry_run && counts.changed() {
        ExitCode::from(WOULD_CHANGE)
    } else {
        ExitCode::SUCCESS
    })
}

/// What became of one document, and the lines that say so (empty when there is nothing
/// worth a line: a plain document imported as before).
struct Done {
    outcome: Result<UpsertOutcome, String>,
    report: String,
}

impl Done {
    fn rejected(reason: impl Into<String>) -> Self {
        Done {
            outcome: Err(reason.into()),
            report: String::new(),
        }
    }
}

async fn import_one(
    target: &Target,
    file: &str,
    text: Result<String, String>,
    a: &Args<'_>,
) -> Result<Done, target::Error> {
    let text = match checked(text) {
        Ok(t) => t,
        Err(reason) => return Ok(Done::rejected(reason)),
    };
    let parsed = match prompt_file::parse(&text) {
        Ok(p) => p,
        Err(e) => return Ok(Done::rejected(e.to_string())),
    };
    // A plain document is imported exactly as before: one upsert, the handler decides.
    if !a.dry_run && !parsed.is_export() {
        let Some(top) = parsed.versions.last() else {
            return Ok(Done::rejected("empty document"));
        };
        return Ok(match target.upsert(&top.doc).await {
            Ok((o, _)) => Done {
                outcome: Ok(o),
                report: String::new(),
            },
            Err(target::Error::Refused(m)) => Done::rejected(m),
            Err(stop) => return Err(stop),
        });
    }
    let Some(id) = parsed.id.clone() else {
        return Ok(Done {
            outcome: Ok(UpsertOutcome::Created),
            report: format!(
                "{file}: no \"id\": the handler derives one from the name on import, so what would change cannot be told; add an \"id\"\n"
            ),
        });
    };
    let stored = target.stored(&id).await?;
    let plan = match sync::plan(&id, &parsed, stored.as_ref()) {
        Ok(p) => p,
        Err(e) => return Ok(Done::rejected(e.to_string())),
    };
    if let Some(protected) = target.protected()
        && !a.allow_protected
        && let Some((label, scope)) = plan
            .labels
            .iter()
            .find_map(|m| protected.get_key_value(&m.label))
    {
        return Ok(Done::rejected(format!(
            "label {label:?} is protected (moving it needs the scope {scope}): pass --allow-protected to move it from the config's store"
        )));
    }
    let outcome = if plan.changes_nothing() {
        UpsertOutcome::Unchanged
    } else if plan.creates {
        UpsertOutcome::Created
    } else {
        UpsertOutcome::Updated
    };
    if a.dry_run {
        return Ok(Done {
            outcome: Ok(outcome),
            report: describe(file, &plan, &[], true),
        });
    }
    match apply(target, &plan).await {
        Ok(written) => {
            let wrote = written.iter().any(|(o, _)| *o != UpsertOutcome::Unchanged);
            let outcome = if !wrote && plan.labels.is_empty() {
                UpsertOutcome::Unchanged
            } else {
                outcome
            };
            let numbers: Vec<u64> = written.iter().map(|(_, n)| *n).collect();
            Ok(Done {
                outcome: Ok(outcome),
                report: describe(file, &plan, &numbers, false),
            })
        }
        Err(target::Error::Refused(m)) => Ok(Done::rejected(m)),
        Err(stop) => Err(stop),
    }
}

/// Writes the plan's versions in order, then moves its labels. Returns each write's
/// outcome and version number.
async fn apply(target: &Target, plan: &Plan) -> Result<Vec<(UpsertOutcome, u64)>, target::Error> {
    let mut written = Vec::with_capacity(plan.writes.len());
    for w in &plan.writes {
        written.push(target.upsert(&w.doc).await?);
    }
    let numbers: Vec<u64> = written.iter().map(|(_, n)| *n).collect();
    for m in &plan.labels {
        match (m.to, m.from) {
            (Some(t), from) => {
                target
                    .set_label(&plan.id, &m.label, plan.number(t, &numbers), from)
                    .await?
            }
            (None, Some(from)) => target.delete_label(&plan.id, &m.label, from).await?,
            (None, None) => {}
        }
    }
    Ok(written)
}

/// One line per prompt (what was or would be done), and for a dry run the diff of every
/// new version of an existing prompt from the version it follows.
fn describe(file: &str, plan: &Plan, written: &[u64], dry_run: bool) -> String {
    let mut parts = Vec::new();
    let numbers: Vec<u64> = (0..plan.writes.len())
        .map(|i| plan.number(sync::Target::Written(i), written))
        .collect();
    if !numbers.is_empty() {
        let list: Vec<String> = numbers.iter().map(u64::to_string).collect();
        let what = if plan.creates {
            "created with version"
        } else {
            "new version"
        };
        let s = if numbers.len() > 1 { "s" } else { "" };
        parts.push(format!("{what}{s} {}", list.join(" ")));
    }
    for m in &plan.labels {
        let from = m.from.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        parts.push(match m.to {
            Some(t) => format!("label {} {from} -> {}", m.label, plan.number(t, written)),
            None => format!("label {} {from} -> removed", m.label),
        });
    }
    let mut out = String::new();
    if parts.is_empty() {
        let _ = writeln!(out, "{file}: {}: unchanged", plan.id);
        return out;
    }
    let would = if dry_run { "would be " } else { "" };
    let _ = writeln!(out, "{file}: {}: {would}{}", plan.id, parts.join("; "));
    if dry_run && !plan.creates {
        for w in &plan.writes {
            for line in super::diff::render(&w.diff).lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out
}

/// The document's text if it was readable and is JSON; else why not.
fn checked(text: Result<String, String>) -> Result<String, String> {
    let text = text.map_err(|e| format!("cannot read: {e}"))?;
    serde_json::from_str::<serde::de::IgnoredAny>(&text)
        .map_err(|e| format!("not valid JSON: {e}"))?;
    Ok(text)
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
