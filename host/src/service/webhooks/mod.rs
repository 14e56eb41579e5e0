//! Webhooks: signed change events per tenant, through a durable outbox.
//!
//! A prompt write that a tenant's endpoints subscribe to (`version.created`,
//! `label.moved`, `prompt.deleted`; `[[webhooks.endpoints]]`) records its event in the
//! outbox *in the same storage transaction* as the write: the host hands the handler
//! plugin's call a rider (plugins/rider.rs) that the kv import adds to the call's first
//! committed transaction. So an event exists exactly when its write committed, and a
//! crash at any point after the commit cannot lose it. Right after the call the host
//! completes the entry with what the plugin answered (the new version, the label's
//! target). A plugin that commits without `transact`/`put` (or with a full transaction)
//! gets the entry written after its call instead: a crash in that instant loses the event,
//! which is why the default prompt store always writes through `transact`.
//!
//! Delivery (deliver.rs) runs on every serving host: it polls the outboxes, claims due
//! events with a conditional write, POSTs them signed (sign.rs), retries with exponential
//! backoff, and moves them to the log when delivered or given up. Status: metrics
//! (`mcp_prompts_webhook_*`) and `GET /v1/webhooks/deliveries`.
//!
//! The outbox is bounded per tenant (`webhooks.max_outbox`): when full, new events are
//! dropped, logged and counted (`webhook_events_dropped_total{reason="outbox_full"}`),
//! and the prompt write itself goes ahead: a receiver that is down for long must not take
//! the prompt API down with it.

pub mod deliver;
pub mod outbox;
pub mod sign;

use crate::app::App;
use crate::config::{LoadedConfig, WebhooksConfig};
use crate::plugins::rider::{RiderOutcome, RiderSlot};
use crate::storage::Rider;
use sign::SigningKey;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A change that endpoints can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    VersionCreated,
    LabelMoved,
    PromptDeleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VersionCreated => "version.created",
            Self::LabelMoved => "label.moved",
            Self::PromptDeleted => "prompt.deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::VersionCreated, Self::LabelMoved, Self::PromptDeleted]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// The label value of a stored event type (a closed set for metrics).
    pub fn label(s: &str) -> &'static str {
        Self::parse(s).map_or("unknown", Self::as_str)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhooks.endpoints[{index}].secret_file: cannot read {path}: {source}")]
    Read {
        index: usize,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("webhooks.endpoints[{index}].secret_env: environment variable {var} is not set")]
    EnvMissing { index: usize, var: String },
    #[error(
        "webhooks.endpoints[{index}]: the secret must be whsec_<base64> or a string, \
         of at least {} bytes",
        sign::MIN_SECRET_BYTES
    )]
    BadSecret { index: usize },
    #[error("webhooks: cannot build the HTTP client: {0}")]
    Client(String),
}

/// One configured endpoint with its key.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub events: Vec<String>,
    pub key: SigningKey,
}

/// The endpoints of one config snapshot, by tenant (reloaded with the config).
#[derive(Debug, Default)]
pub struct Targets {
    pub config: WebhooksConfig,
    by_tenant: BTreeMap<String, Vec<Target>>,
}

impl Targets {
    /// Reads every endpoint's secret (file or environment).
    pub async fn load(lc: &LoadedConfig) -> Result<Self, WebhookError> {
        let c = &lc.config.webhooks;
        let mut by_tenant: BTreeMap<String, Vec<Target>> = BTreeMap::new();
        for (index, e) in c.endpoints.iter().enumerate() {
            let secret = match (&e.secret_file, &e.secret_env) {
                (Some(f), _) => {
                    let path = lc.resolve(f);
                    let raw =
                        tokio::fs::read(&path)
                            .await
                            .map_err(|source| WebhookError::Read {
                                index,
                                path,
                                source,
                            })?;
                    String::from_utf8(raw).map_err(|_| WebhookError::BadSecret { index })?
                }
                (None, Some(var)) => std::env::var(var).map_err(|_| WebhookError::EnvMissing {
                    index,
                    var: var.clone(),
                })?,
                // Validation requires one of the two.
                (None, None) => return Err(WebhookError::BadSecret { index }),
            };
            let key = SigningKey::from_secret(&secret).ok_or(WebhookError::BadSecret { index })?;
            by_tenant.entry(e.tenant.clone()).or_default().push(Target {
                url: e.url.clone(),
                events: e.events.clone(),
                key,
            });
        }
        Ok(Self {
            config: c.clone(),
            by_tenant,
        })
    }

    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.by_tenant.keys().map(String::as_str)
    }

    /// URLs of the tenant's endpoints that take `kind`.
    fn subscribed(&self, tenant: &str, kind: EventKind) -> Vec<String> {
        self.by_tenant
            .get(tenant)
            .into_iter()
            .flatten()
            .filter(|t| t.events.iter().any(|e| e == kind.as_str()))
            .map(|t| t.url.clone())
            .collect()
    }

    pub fn get(&self, tenant: &str, url: &str) -> Option<&Target> {
        self.by_tenant.get(tenant)?.iter().find(|t| t.url == url)
    }
}

/// Process-wide webhook state: the outbox depths the last polls saw (for the bound) and
/// the HTTP client.
pub struct Webhooks {
    depth: Mutex<BTreeMap<String, usize>>,
    pub client: reqwest::Client,
}

impl Webhooks {
    pub fn new() -> Result<Self, WebhookError> {
        Ok(Self {
            depth: Mutex::new(BTreeMap::new()),
            client: crate::auth::jwks::http_client()
                .map_err(|e| WebhookError::Client(e.to_string()))?,
        })
    }

    fn depth(&self, tenant: &str) -> usize {
        self.depth
            .lock()
            .map_or(0, |d| d.get(tenant).copied().unwrap_or(0))
    }

    fn add(&self, tenant: &str, n: usize) {
        if let Ok(mut d) = self.depth.lock() {
            *d.entry(tenant.to_string()).or_default() += n;
        }
    }

    pub(crate) fn set_depth(&self, tenant: &str, n: usize) {
        if let Ok(mut d) = self.depth.lock() {
            d.insert(tenant.to_string(), n);
        }
    }
}

/// An event being recorded with one prompt write.
pub struct Pending {
    slot: Arc<RiderSlot>,
    record: outbox::Record,
}

/// Starts recording `kind` on `prompt` (`None`: a create, whose id the plugin decides)
/// for the caller's tenant, if any endpoint of the tenant takes it.
pub fn begin(
    app: &App,
    req: &super::Request,
    kind: EventKind,
    prompt: Option<&str>,
) -> Option<Pending> {
    let tenant = &req.caller.tenant;
    let targets = req.snapshot.webhooks.subscribed(tenant, kind);
    if targets.is_empty() {
        return None;
    }
    if app.webhooks.depth(tenant) >= req.snapshot.webhooks.config.max_outbox {
        app.metrics.webhook_dropped("outbox_full");
        tracing::warn!(
            tenant = %tenant,
            event = kind.as_str(),
            prompt = prompt.unwrap_or(""),
            "webhook outbox full (webhooks.max_outbox): event dropped"
        );
        return None;
    }
    let now = outbox::now_ms();
    let mut data = serde_json::Map::new();
    if let Some(p) = prompt {
        data.insert("prompt".into(), p.into());
    }
    let record = outbox::Record {
        id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        event: kind.as_str().into(),
        tenant: tenant.clone(),
        created_ms: now,
        data,
        finalized: false,
        targets,
        attempts: 0,
        next_ms: now,
        lease_ms: 0,
        last_error: None,
        status: outbox::Status::Pending,
        done_ms: None,
    };
    let value = record.to_bytes().ok()?;
    let rider = Rider {
        scope: outbox::scope(tenant),
        key: record.out_key(),
        value,
    };
    Some(Pending {
        slot: Arc::new(RiderSlot::new(rider)),
        record,
    })
}

impl Pending {
    /// The slot to hand to the plugin call.
    pub fn slot(&self) -> Arc<RiderSlot> {
        self.slot.clone()
    }

    /// Completes the event after its call: `details` (the write's answer) when the call
    /// succeeded, `None` when it failed. An event whose write did not commit is dropped.
    pub async fn finish(
        mut self,
        app: &App,
        details: Option<serde_json::Map<String, serde_json::Value>>,
    ) {
        let outcome = self.slot.outcome();
        let committed = match (outcome, &details) {
            (RiderOutcome::Committed, _) => true,
            // Succeeded without the rider: committed some other way, so write it now.
            (RiderOutcome::Waiting, Some(_)) => true,
            // Failed before writing: nothing happened.
            (RiderOutcome::Waiting, None) => false,
            // The rider's transaction may have committed: if it did, the entry exists and
            // is sent after the grace period as it is; write nothing over it.
            (RiderOutcome::Unknown, None) => false,
            (RiderOutcome::Unknown, Some(_)) => true,
        };
        if !committed {
            return;
        }
        if let Some(d) = details {
            self.record.data.extend(d);
        }
        self.record.finalized = true;
        match outbox::put(&app.storage, &self.record).await {
            Ok(()) => app.webhooks.add(&self.record.tenant, 1),
            Err(e) => {
                if outcome == RiderOutcome::Committed {
                    // The entry is there without its details: sent after the grace period.
                    tracing::warn!(error = %e, id = %self.record.id, "could not complete a webhook event; it is sent without its details");
                } else {
                    app.metrics.webhook_dropped("storage");
                    tracing::error!(error = %e, id = %self.record.id, event = %self.record.event, "could not queue a webhook event");
                }
            }
        }
    }
}

/// `GET /v1/webhooks/deliveries`: the caller's tenant's waiting events and its recent
/// delivered or failed ones, for a token with one of `webhooks.admin_scopes`.
pub async fn deliveries(
    app: &App,
    snapshot: &crate::app::Snapshot,
    caller: &super::Caller,
) -> Result<serde_json::Value, super::Error> {
    use super::{Error, ErrorKind};
    let cfg = &snapshot.webhooks.config;
    let Some(p) = caller.principal.as_ref() else {
        return Err(Error::unauthorized(
            "authentication required",
            super::Challenge::Bearer,
        ));
    };
    if !cfg
        .admin_scopes
        .iter()
        .any(|s| p.scopes.contains(s) || p.groups.contains(s))
    {
        let mut e = Error::new(
            ErrorKind::InsufficientScope,
            format!(
                "the delivery status needs the scope: {}",
                cfg.admin_scopes.join(" or ")
            ),
        );
        e.scopes = cfg.admin_scopes.clone();
        return Err(e);
    }
    let tenant = &caller.tenant;
    let unavailable = |e: crate::storage::StorageError| {
        Error::new(
            ErrorKind::Unavailable,
            format!("the webhook outbox cannot be read: {e}"),
        )
    };
    let (waiting, more) = outbox::waiting(&app.storage, tenant, 100)
        .await
        .map_err(unavailable)?;
    let recent = outbox::recent(&app.storage, tenant, cfg.keep_recent)
        .await
        .map_err(unavailable)?;
    let view = |r: &outbox::Record| {
        serde_json::json!({
            "id": r.id,
            "type": r.event,
            "status": r.status,
            "data": r.data,
            "createdAt": rfc3339(r.created_ms),
            "attempts": r.attempts,
            "pendingEndpoints": r.targets,
            "nextAttemptAt": (r.status == outbox::Status::Pending).then(|| rfc3339(r.next_ms)),
            "lastError": r.last_error,
            "finishedAt": r.done_ms.map(rfc3339),
        })
    };
    Ok(serde_json::json!({
        "tenant": tenant,
        "pending": waiting.iter().map(|(_, r)| view(r)).collect::<Vec<_>>(),
        "morePending": more,
        "recent": recent.iter().map(view).collect::<Vec<_>>(),
    }))
}

pub(crate) fn rfc3339(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
