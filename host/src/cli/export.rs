//! `mcp-prompts export`: writes every prompt of a route as one prompt file per prompt,
//! `DIR/{id}.json` (`service::prompt_file`), for keeping prompts in Git and importing
//! them elsewhere with `mcp-prompts import`. Reads the config's store, or a running
//! server's API (`cli/remote.rs` says which).

use super::remote::{self, ConnArgs, Mode};
use super::target::{self, Target};
use crate::config;
use crate::service::prompt_file::{self, Versions};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The arguments of one `export` run.
pub struct Args<'a> {
    pub config: Option<&'a Path>,
    pub conn: &'a ConnArgs,
    pub dir: &'a Path,
    pub route: Option<String>,
    pub tenant: Option<String>,
    /// Only the newest version and those a label points at.
    pub labelled_only: bool,
    /// Remove `*.json` files of `dir` that are no prompt's file any more.
    pub prune: bool,
}

pub async fn run(a: Args<'_>) -> anyhow::Result<ExitCode> {
    if let Some(t) = &a.tenant
        && !config::is_valid_name(t)
    {
        anyhow::bail!("--tenant {t:?}: not a valid tenant id");
    }
    if a.conn.url.is_some() && a.tenant.is_some() {
        anyhow::bail!(
            "--tenant does not apply with --url: the API reads the route's tenant, else the token's"
        );
    }
    let mode = remote::choose(a.config, a.conn, |lc| {
        let r = target::config_route(lc, a.route.as_deref())?;
        Ok(remote::Needs {
            scopes: remote::write_scopes(lc, r),
            tenant: a.tenant.clone(),
        })
    })
    .await?;
    if let Mode::Local(lc) = &mode {
        crate::telemetry::init(&lc.config.logging);
    }
    let target = Target::open(mode, a.route.as_deref(), a.tenant.clone()).await?;
    std::fs::create_dir_all(a.dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot create directory: {e}", a.dir.display()))?;
    let which = if a.labelled_only {
        Versions::Labelled
    } else {
        Versions::All
    };
    let mut names = BTreeSet::new();
    let (mut written, mut same) = (0usize, 0usize);
    let mut cursor = None;
    loop {
        let (ids, next) = target
            .ids(cursor)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for id in ids {
            // Deleted between the listing and this read: nothing to export.
            let Some(mut stored) = target
                .stored(&id)
                .await
                .map_err(|e| anyhow::anyhow!("prompt {id:?}: {e}"))?
            else {
                continue;
            };
            target
                .with_images(&id, &mut stored.versions)
                .await
                .map_err(|e| anyhow::anyhow!("prompt {id:?}: {e}"))?;
            let (text, dropped) = prompt_file::render(&stored.versions, &stored.labels, which)
                .map_err(|e| anyhow::anyhow!("prompt {id:?}: {e}"))?;
            for label in dropped {
                eprintln!(
                    "warning: prompt {id:?}: label {label:?} points at a version this reader cannot see; not exported"
                );
            }
            let name = format!("{id}.json");
            if write_if_changed(&a.dir.join(&name), &text)? {
                written += 1;
            } else {
                same += 1;
            }
            names.insert(name);
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let removed = if a.prune { prune(a.dir, &names)? } else { 0 };
    println!(
        "exported {} prompts to {} ({written} written, {same} unchanged, {removed} removed)",
        names.len(),
        a.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to `path` unless it holds exactly that already (so that an export of an
/// unchanged store touches nothing); atomically, through a temporary file.
fn write_if_changed(path: &Path, text: &str) -> anyhow::Result<bool> {
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(false);
    }
    let tmp: PathBuf = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
    Ok(true)
}

/// Removes the `*.json` files of `dir` not in `keep`; returns how many.
fn prune(dir: &Path, keep: &BTreeSet<String>) -> anyhow::Result<usize> {
    let mut removed = 0;
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot read directory: {e}", dir.display()))?;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.extension().is_some_and(|x| x == "json") && !keep.contains(&name) {
            std::fs::remove_file(&path)
                .map_err(|e| anyhow::anyhow!("{}: cannot remove: {e}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}
