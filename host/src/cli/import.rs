//! `mcp-prompts import`: loads prompt JSON files through the route's prompt handler, so
//! imported prompts are normalised and validated exactly like ones sent over the API.

use crate::app::App;
use crate::config;
use crate::plugins::CallScope;
use crate::plugins::bindings::{prompts, types};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Default)]
struct Counts {
    created: usize,
    updated: usize,
    unchanged: usize,
    rejected: Vec<(PathBuf, String)>,
}

pub async fn run(
    path: &Path,
    dir: &Path,
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
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot read directory: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
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
    for file in files {
        let text = match std::fs::read_to_string(&file) {
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
        let request_id = format!("import-{}", uuid::Uuid::new_v4());
        let scope = CallScope::new(&request_id, &tenant);
        let cc = types::CallContext {
            request_id,
            principal: None,
            tenant: tenant.clone(),
        };
        let r = app
            .runtime
            .handler(&route.handler, &scope, move |mut s, h| async move {
                h.mcp_prompts_plugin_prompts()
                    .call_upsert(&mut s, &cc, &text)
                    .await
            })
            .await;
        match r {
            Ok(Ok((prompts::UpsertOutcome::Created, _))) => counts.created += 1,
            Ok(Ok((prompts::UpsertOutcome::Updated, _))) => counts.updated += 1,
            Ok(Ok((prompts::UpsertOutcome::Unchanged, _))) => counts.unchanged += 1,
            Ok(Err(e)) => counts.rejected.push((file, describe(e))),
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
        println!("rejected {}: {reason}", file.display());
    }
    Ok(if counts.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn describe(e: prompts::HandlerError) -> String {
    use prompts::HandlerError as E;
    match e {
        E::Invalid(errors) => errors
            .into_iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        E::NotFound(m)
        | E::Conflict(m)
        | E::PreconditionFailed(m)
        | E::RenderFailed(m)
        | E::Forbidden(m)
        | E::Unavailable(m)
        | E::Internal(m) => m,
        E::MissingVariables(v) => format!("missing variables: {}", v.join(", ")),
    }
}
