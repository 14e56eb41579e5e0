//! `mcp-prompts diff`: what changed between two versions of a stored prompt, read from
//! the config's store through the route's prompt handler, as `GET {base}/{id}/diff`
//! computes it (`service::diff`). Exit codes follow diff(1) so that CI can use them:
//! 0 identical, 1 different, 2 trouble.

use crate::app::App;
use crate::config;
use crate::plugins::{CallContext, Selector};
use crate::service::diff::{self, Op, PromptDiff, Side};
use crate::service::prompts::{latest, parse_ref};
use std::path::Path;
use std::process::ExitCode;

/// The arguments of one `diff` run.
pub struct Args<'a> {
    pub config: &'a Path,
    pub id: &'a str,
    pub from: &'a str,
    pub to: Option<&'a str>,
    pub route: Option<&'a str>,
    pub tenant: Option<String>,
    /// Read as this subject (its private prompts become visible); else anonymously.
    pub subject: Option<String>,
    pub json: bool,
}

/// Exit code for "the versions differ".
const DIFFERENT: u8 = 1;
/// Exit code for an error (diff(1) uses 2 for trouble).
const TROUBLE: u8 = 2;

pub async fn run(a: Args<'_>) -> ExitCode {
    match compute(&a).await {
        Ok(d) => {
            if a.json {
                match serde_json::to_string_pretty(&d) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(TROUBLE);
                    }
                }
            } else {
                print!("{}", render(&d));
            }
            if d.identical {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(DIFFERENT)
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(TROUBLE)
        }
    }
}

async fn compute(a: &Args<'_>) -> anyhow::Result<PromptDiff> {
    let selector = |field: &str, s: &str| -> anyhow::Result<Selector> {
        parse_ref(field, s).map_err(|e| anyhow::anyhow!("--{field} {s:?}: {}", e.detail))
    };
    let from = selector("from", a.from)?;
    let to = match a.to {
        Some(t) => selector("to", t)?,
        None => latest(),
    };
    let lc = config::load(a.config)?;
    crate::telemetry::init(&lc.config.logging);
    let app = App::start(lc).await.map_err(|e| {
        anyhow::anyhow!("{e:#}\n(is a server running on the same data directory? use GET {{route}}/{{id}}/diff on it)")
    })?;
    let snapshot = app
        .snapshot()
        .ok_or_else(|| anyhow::anyhow!("plugins were not loaded"))?;
    let path = match a.route {
        Some(r) => r.trim_end_matches('/').to_string(),
        None => snapshot
            .config
            .config
            .routes
            .first()
            .map(|r| r.path.trim_end_matches('/').to_string())
            .ok_or_else(|| anyhow::anyhow!("the config has no routes"))?,
    };
    let route = snapshot
        .routes
        .iter()
        .find(|r| r.path == path)
        .ok_or_else(|| anyhow::anyhow!("--route {path}: no such route in the config"))?;
    let tenant = a
        .tenant
        .clone()
        .or_else(|| route.tenant.clone())
        .unwrap_or_else(|| snapshot.config.config.auth.default_tenant.clone());
    // The handler applies its access levels to whoever reads: an anonymous caller of
    // the tenant by default (private prompts are not shown), or `--subject`, which sees
    // its own private prompts as its tokens would.
    let principal = a.subject.as_ref().map(|s| crate::auth::Principal {
        subject: s.clone(),
        issuer: None,
        tenant: tenant.clone(),
        scopes: Vec::new(),
        groups: Vec::new(),
        tier: String::new(),
        tier_from_claim: false,
    });
    let cx = CallContext {
        request_id: format!("diff-{}", uuid::Uuid::new_v4()),
        principal,
        tenant,
        spend: Default::default(),
        rider: None,
    };
    let calls = app.runtime.prompts(&route.handler, &cx);
    let read = async |at: &Selector| -> anyhow::Result<(Side, serde_json::Value)> {
        let r = calls
            .get(a.id, at)
            .await
            .map_err(|f| anyhow::anyhow!("{f}"))?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let doc: serde_json::Value = serde_json::from_str(&r.prompt_json)
            .map_err(|e| anyhow::anyhow!("the handler returned invalid JSON: {e}"))?;
        let side = Side {
            version: doc.get("version").and_then(serde_json::Value::as_u64),
            label: r.label,
        };
        Ok((side, doc))
    };
    let (sa, da) = read(&from).await?;
    let (sb, db) = read(&to).await?;
    Ok(diff::diff(a.id, sa, &da, sb, &db))
}

/// The diff for people: the unified text diff, then one line per structural change.
pub fn render(d: &PromptDiff) -> String {
    let mut out = d.text.clone();
    let show = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into())
    };
    for c in &d.config {
        out.push_str(&match c.op {
            Op::Added => format!("config {}: added {}\n", c.path, show(&c.to)),
            Op::Removed => format!("config {}: removed {}\n", c.path, show(&c.from)),
            Op::Changed => format!("config {}: {} -> {}\n", c.path, show(&c.from), show(&c.to)),
        });
    }
    if !d.tags.added.is_empty() || !d.tags.removed.is_empty() {
        let mut parts: Vec<String> = d.tags.added.iter().map(|t| format!("+{t}")).collect();
        parts.extend(d.tags.removed.iter().map(|t| format!("-{t}")));
        out.push_str(&format!("tags: {}\n", parts.join(" ")));
    }
    let v = &d.variables;
    if !v.added.is_empty() || !v.removed.is_empty() || !v.changed.is_empty() {
        let mut parts: Vec<String> = v.added.iter().map(|n| format!("+{n}")).collect();
        parts.extend(v.removed.iter().map(|n| format!("-{n}")));
        parts.extend(v.changed.iter().map(|c| format!("~{}", c.name)));
        out.push_str(&format!("variables: {}\n", parts.join(" ")));
    }
    for f in d.access_level.iter().chain(&d.fields) {
        out.push_str(&format!("{}: {} -> {}\n", f.field, f.from, f.to));
    }
    if d.identical {
        out.push_str("identical\n");
    }
    out
}
