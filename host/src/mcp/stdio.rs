//! `mcp-prompts stdio`: the MCP server over stdin/stdout for desktop clients, with rmcp's
//! stdio transport and the same [`PromptServer`] as `/mcp`. stdout carries protocol
//! messages only; logs go to stderr (telemetry::init). The caller is the local principal
//! of `[mcp.stdio]`, run through the same route policies as an HTTP caller.

use super::server::{Local, PromptServer};
use crate::app::App;
use crate::auth::Principal;
use crate::config;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let lc = config::load(path)?;
    crate::telemetry::init(&lc.config.logging);
    let s = &lc.config.mcp.stdio;
    let principal = Principal {
        subject: s.subject.clone(),
        issuer: None,
        tenant: s
            .tenant
            .clone()
            .unwrap_or_else(|| lc.config.auth.default_tenant.clone()),
        scopes: s.scopes.clone(),
        groups: s.groups.clone(),
        tier: s.tier.clone(),
        // Configured, not defaulted: the profile must not override it.
        tier_from_claim: true,
    };
    let app = App::start(lc).await?;
    let snapshot = app
        .snapshot()
        .ok_or_else(|| anyhow::anyhow!("no snapshot"))?;
    if super::route(&snapshot).is_none() {
        anyhow::bail!("{}: no [[routes]] entry to serve over MCP", path.display());
    }
    app.set_ready(true);
    // A desktop session on the embedded store is the only process that can reach its
    // outbox, so it delivers the webhooks its writes cause, as `serve` does.
    crate::service::webhooks::deliver::spawn(app.clone());
    tracing::info!(subject = %principal.subject, tenant = %principal.tenant, "serving MCP on stdio");
    let server = PromptServer::stdio(app, Local { principal });
    let running = rmcp::serve_server(server, rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("MCP stdio session failed to start: {e}"))?;
    let reason = running.waiting().await?;
    tracing::info!(?reason, "MCP stdio session ended");
    Ok(ExitCode::SUCCESS)
}
