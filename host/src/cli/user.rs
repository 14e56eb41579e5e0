//! `mcp-prompts user set-tier`: the operator's (or a billing job's) way to set the tier
//! stored in a user's profile, which applies to that user's tokens without a tier claim
//! (`[users] tier_from_profile`). Users cannot set it themselves through `PUT /users/me`.

use crate::app::App;
use crate::config;
use crate::service::users;
use crate::storage::{Precondition, WriteOp};
use std::path::Path;
use std::process::ExitCode;

/// Compare-and-set retries when the profile changes between read and write.
const MAX_ATTEMPTS: usize = 16;

pub async fn set_tier(
    path: &Path,
    subject: &str,
    tenant: Option<String>,
    tier: Option<String>,
) -> anyhow::Result<ExitCode> {
    let lc = config::load(path)?;
    crate::telemetry::init(&lc.config.logging);
    let tenant = tenant.unwrap_or_else(|| lc.config.auth.default_tenant.clone());
    if !config::is_valid_name(&tenant) {
        anyhow::bail!("--tenant {tenant:?}: not a valid tenant id");
    }
    if let Some(t) = &tier
        && (t.is_empty() || t.len() > 64 || !t.chars().all(|c| c.is_ascii_graphic()))
    {
        anyhow::bail!("--tier {t:?}: 1-64 visible ASCII characters");
    }
    crate::storage::check_key(subject).map_err(|e| anyhow::anyhow!("--sub: {e}"))?;
    let namespace = lc.config.users.namespace.clone();
    let app = App::new(&lc).await.map_err(|e| {
        anyhow::anyhow!("{e:#}\n(is a server running on the same data directory? the embedded store has one writer process)")
    })?;
    let kv = app.storage.kv.clone();
    let scope = users::scope(&namespace, &tenant);
    for _ in 0..MAX_ATTEMPTS {
        let (mut profile, version) = match kv.get(&scope, subject).await? {
            Some(e) => (
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&e.value)
                    .unwrap_or_default(),
                e.version,
            ),
            None => (serde_json::Map::new(), 0),
        };
        match &tier {
            Some(t) => profile.insert("tier".into(), t.clone().into()),
            None => profile.remove("tier"),
        };
        let precondition = if version == 0 {
            Precondition::Absent
        } else {
            Precondition::Version(version)
        };
        let op = WriteOp::Put {
            key: subject.to_string(),
            value: serde_json::to_vec(&profile)?,
            precondition,
        };
        match kv.transact(&scope, vec![op]).await {
            Ok(_) => {
                println!(
                    "{subject} in tenant {tenant}: tier {}",
                    tier.as_deref().unwrap_or("(cleared)")
                );
                return Ok(ExitCode::SUCCESS);
            }
            Err(crate::storage::StorageError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("the profile kept changing; try again")
}
