//! `mcp-prompts user set-tier`: the operator's (or a billing job's) way to set the tier
//! stored in a user's profile, which applies to that user's tokens without a tier claim
//! (`[users] tier_from_profile`). Users cannot set it themselves through `PUT /users/me`.
//! Runs on the config's store, or through a running server's
//! `PUT /users/{sub}/tier` (`cli/remote.rs` says which).

use super::remote::{self, ConnArgs, Mode};
use crate::app::App;
use crate::config;
use crate::service::users;
use std::path::Path;
use std::process::ExitCode;

pub async fn set_tier(
    path: Option<&Path>,
    conn: &ConnArgs,
    subject: &str,
    tenant: Option<String>,
    tier: Option<String>,
) -> anyhow::Result<ExitCode> {
    if let Some(t) = &tenant
        && !config::is_valid_name(t)
    {
        anyhow::bail!("--tenant {t:?}: not a valid tenant id");
    }
    if let Some(t) = &tier {
        users::check_tier(t).map_err(|e| anyhow::anyhow!("--tier {t:?}: {}", e.detail))?;
    }
    crate::storage::check_key(subject).map_err(|e| anyhow::anyhow!("--sub: {e}"))?;
    let mode = remote::choose(path, conn, |lc| {
        let scopes = lc.config.users.admin_scopes.clone();
        if scopes.is_empty() {
            anyhow::bail!(
                "the store is held by a running server, whose API refuses tier changes \
                 while [users] admin_scopes is empty: set it (docs/configuration.md), or \
                 stop the server"
            );
        }
        Ok(remote::Needs {
            scopes,
            tenant: None,
        })
    })
    .await?;
    let (tenant, tier) = match mode {
        Mode::Local(lc) => {
            crate::telemetry::init(&lc.config.logging);
            let tenant = tenant.unwrap_or_else(|| lc.config.auth.default_tenant.clone());
            let namespace = lc.config.users.namespace.clone();
            let app = App::new(&lc).await.map_err(|e| {
                anyhow::anyhow!("{e:#}\n(is a server running on the same data directory? pass --url and --token to go through its API)")
            })?;
            let (profile, _) = users::set_tier(
                app.storage.kv.as_ref(),
                &namespace,
                &tenant,
                subject,
                tier.as_deref(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            (tenant, users::stored_tier(&profile))
        }
        Mode::Remote { client, config } => {
            let tenant = tenant.or_else(|| config.map(|c| c.config.auth.default_tenant.clone()));
            let mut path = format!("/users/{}/tier", remote::segment(subject));
            if let Some(t) = &tenant {
                path.push_str(&format!("?tenant={}", remote::segment(t)));
            }
            let body = serde_json::json!({ "tier": tier }).to_string();
            let a = client.send(http::Method::PUT, &path, Some(&body)).await?;
            if !a.status.is_success() {
                anyhow::bail!(
                    "{}{path}: {} {}",
                    client.base(),
                    a.status.as_u16(),
                    a.reason()
                );
            }
            let v: serde_json::Value = serde_json::from_str(&a.body)?;
            let tenant = v["tenant"].as_str().unwrap_or_default().to_string();
            (tenant, v["tier"].as_str().map(str::to_string))
        }
    };
    println!(
        "{subject} in tenant {tenant}: tier {}",
        tier.as_deref().unwrap_or("(cleared)")
    );
    Ok(ExitCode::SUCCESS)
}
