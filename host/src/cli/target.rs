//! Where `import` and `export` read and write prompts: the route's prompt handler in this
//! process on the config's store, or a running server's REST API (`cli/remote.rs` says
//! which). Both offer the same few operations, so the commands have one code path.
//!
//! Locally the commands act as the operator: imports are written with no caller (access
//! levels do not restrict which prompts a file may replace, as before), and reads and
//! label moves go as a caller without a subject on the handler's first premium tier, so
//! public and premium prompts are seen; private prompts belong to their authors and are
//! not exported. Through the API the token's subject, tier and scopes decide.

use super::remote::{self, Mode};
use crate::app::App;
use crate::auth::Principal;
use crate::config::{self, LoadedConfig};
use crate::plugins::{CallContext, HandlerError, ListQuery, LoadedPlugin, UpsertOutcome};
use crate::service::sync::Stored;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The route prompts go to without `--route` and without a config.
pub const DEFAULT_ROUTE: &str = "/v1/prompts";
/// Page size of the listings `export` walks.
const PAGE: u32 = 100;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store refused this operation (bad document, conflict, forbidden, …): the
    /// prompt concerned fails, the others may still work.
    #[error("{0}")]
    Refused(String),
    /// Nothing further can work (the server refused the token).
    #[error("{0}")]
    Stop(String),
}

pub enum Target {
    Local(Local),
    Remote(Remote),
}

pub struct Local {
    app: Arc<App>,
    handler: Arc<LoadedPlugin>,
    tenant: String,
    /// The handler's first premium tier: what local reads are made with.
    tier: String,
    /// The route's label → scope (`protected_labels`).
    pub protected: BTreeMap<String, String>,
}

pub struct Remote {
    client: remote::Client,
    route: String,
}

/// `--route`, else the config's first route.
pub fn config_route<'a>(
    lc: &'a LoadedConfig,
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
            .ok_or_else(|| anyhow::anyhow!("the config has no routes")),
    }
}

/// The handler's first `premium_tiers` entry (the prompt-store's default: `premium`).
fn first_premium_tier(lc: &LoadedConfig, handler: &str) -> String {
    lc.config
        .plugins
        .get(handler)
        .and_then(|p| match p.config.get("premium_tiers") {
            Some(toml::Value::Array(a)) => a.iter().find_map(|v| v.as_str().map(str::to_string)),
            _ => None,
        })
        .unwrap_or_else(|| "premium".to_string())
}

impl Target {
    /// Opens the target `mode` names; `route` and `tenant` as the commands take them.
    pub async fn open(
        mode: Mode,
        route: Option<&str>,
        tenant: Option<String>,
    ) -> anyhow::Result<Self> {
        match mode {
            Mode::Local(lc) => {
                let lc = *lc;
                let handler_name = config_route(&lc, route)?.handler.clone();
                let tier = first_premium_tier(&lc, &handler_name);
                let app = App::start(lc).await.map_err(|e| {
                    anyhow::anyhow!("{e:#}\n(is a server running on the same data directory? pass --url and --token to work through its API)")
                })?;
                let snapshot = app
                    .snapshot()
                    .ok_or_else(|| anyhow::anyhow!("plugins were not loaded"))?;
                let path = config_route(&snapshot.config, route)?
                    .path
                    .trim_end_matches('/')
                    .to_string();
                let r = snapshot
                    .routes
                    .iter()
                    .find(|x| x.path == path)
                    .ok_or_else(|| anyhow::anyhow!("route {path} was not loaded"))?;
                // A shared catalog route has its own tenant; work there unless told otherwise.
                let tenant = tenant
                    .or_else(|| r.tenant.clone())
                    .unwrap_or_else(|| snapshot.config.config.auth.default_tenant.clone());
                Ok(Target::Local(Local {
                    handler: r.handler.clone(),
                    protected: r.protected_labels.clone(),
                    app,
                    tenant,
                    tier,
                }))
            }
            Mode::Remote { client, config } => {
                let route = match (route, &config) {
                    (Some(r), _) => r.trim_end_matches('/').to_string(),
                    (None, Some(lc)) => config_route(lc, None)?
                        .path
                        .trim_end_matches('/')
                        .to_string(),
                    (None, None) => DEFAULT_ROUTE.to_string(),
                };
                Ok(Target::Remote(Remote { client, route }))
            }
        }
    }

    /// The route's protected labels when this process enforces them (local); through
    /// the API the server does.
    pub fn protected(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Target::Local(l) => Some(&l.protected),
            Target::Remote(_) => None,
        }
    }

    /// What the store holds for `id`, or `None` if nothing (or nothing this caller sees).
    pub async fn stored(&self, id: &str) -> Result<Option<Stored>, Error> {
        let (versions, labels) = match self {
            Target::Local(l) => {
                let cx = l.reader();
                let calls = l.app.runtime.prompts(&l.handler, &cx);
                let versions = match local(calls.versions(id).await) {
                    Ok(json) => json,
                    Err(LocalError::NotFound) => return Ok(None),
                    Err(LocalError::Other(m)) => return Err(Error::Refused(m)),
                };
                let labels: Vec<(String, u64)> = match local(calls.labels(id).await) {
                    Ok(ls) => ls.into_iter().map(|l| (l.name, l.version)).collect(),
                    Err(LocalError::NotFound) => return Ok(None),
                    Err(LocalError::Other(m)) => return Err(Error::Refused(m)),
                };
                (parse_docs(&versions)?, labels)
            }
            Target::Remote(r) => {
                let Some(v) = r
                    .get_json(&format!("/{}/versions", remote::segment(id)))
                    .await?
                else {
                    return Ok(None);
                };
                let versions = match v.get("versions") {
                    Some(Value::Array(items)) => docs(items.clone())?,
                    _ => return Err(r.odd("versions")),
                };
                let Some(v) = r
                    .get_json(&format!("/{}/labels", remote::segment(id)))
                    .await?
                else {
                    return Ok(None);
                };
                let labels: Vec<(String, u64)> = v
                    .get("labels")
                    .and_then(Value::as_array)
                    .ok_or_else(|| r.odd("labels"))?
                    .iter()
                    .filter_map(|l| {
                        Some((
                            l.get("name")?.as_str()?.to_string(),
                            l.get("version")?.as_u64()?,
                        ))
                    })
                    .collect();
                (versions, labels)
            }
        };
        let labels: BTreeMap<String, u64> =
            labels.into_iter().filter(|(n, _)| n != "latest").collect();
        Ok(Some(Stored { versions, labels }))
    }

    /// `versions` (of prompt `id`) with their images' bytes in place of the references,
    /// so that an exported file is whole: it imports into a store that never saw them.
    pub async fn with_images(
        &self,
        id: &str,
        versions: &mut [Map<String, Value>],
    ) -> Result<(), Error> {
        use crate::service::media;
        let mut bytes = std::collections::HashMap::new();
        for doc in versions.iter() {
            for r in media::image_refs(&Value::Object(doc.clone())) {
                if bytes.contains_key(&r.sha256) {
                    continue;
                }
                let got = match self {
                    Target::Local(l) => media::load(&l.app.storage, &l.tenant, &r.sha256)
                        .await
                        .map_err(|e| Error::Refused(e.detail))?,
                    Target::Remote(r2) => r2
                        .client
                        .get_bytes(&format!(
                            "{}/{}/blobs/{}",
                            r2.route,
                            remote::segment(id),
                            r.sha256
                        ))
                        .await
                        .map_err(|e| Error::Stop(format!("{e:#}")))?,
                };
                let Some(b) = got else {
                    return Err(Error::Refused(format!(
                        "image {} is referenced but not stored",
                        r.sha256
                    )));
                };
                bytes.insert(r.sha256, b);
            }
        }
        if !bytes.is_empty() {
            for doc in versions.iter_mut() {
                media::with_data(doc, &bytes);
            }
        }
        Ok(())
    }

    /// Imports one document (replace semantics); returns what happened and the stored
    /// version number.
    pub async fn upsert(&self, doc: &Map<String, Value>) -> Result<(UpsertOutcome, u64), Error> {
        let text = Value::Object(doc.clone()).to_string();
        match self {
            Target::Local(l) => {
                // Images are stored by the host, as on every write through the service.
                let max_image = l
                    .app
                    .snapshot()
                    .map_or(0, |s| s.config.config.media.max_image_size.0);
                let text = crate::service::media::ingest(
                    &l.app.storage,
                    &l.tenant,
                    max_image,
                    &crate::service::media::Reuse::AnyStored,
                    text,
                )
                .await
                .map_err(|e| Error::Refused(e.detail))?;
                let cx = l.context(None);
                let calls = l.app.runtime.prompts(&l.handler, &cx);
                match local(calls.upsert(text).await) {
                    Ok((outcome, json)) => Ok((outcome, version_in(&json)?)),
                    Err(LocalError::NotFound) => Err(Error::Refused("not found".into())),
                    Err(LocalError::Other(m)) => Err(Error::Refused(m)),
                }
            }
            Target::Remote(r) => {
                let Some(id) = doc
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                else {
                    return Err(Error::Refused(
                        "has no \"id\": through the API a prompt is addressed by its id; add one"
                            .into(),
                    ));
                };
                let path = format!("/{}?mode=replace", remote::segment(id));
                let a = r.send(http::Method::PUT, &path, Some(&text)).await?;
                let outcome = match a
                    .headers
                    .get("upsert-outcome")
                    .and_then(|v| v.to_str().ok())
                {
                    Some("created") if a.status.is_success() => UpsertOutcome::Created,
                    Some("updated") if a.status.is_success() => UpsertOutcome::Updated,
                    Some("unchanged") if a.status.is_success() => UpsertOutcome::Unchanged,
                    _ if a.status.is_success() => {
                        return Err(Error::Refused(format!(
                            "{} answered {} without an Upsert-Outcome: is it an mcp-prompts server of this version?",
                            r.client.base(),
                            a.status
                        )));
                    }
                    _ => {
                        return Err(Error::Refused(format!(
                            "{}: {}",
                            a.status.as_u16(),
                            a.reason()
                        )));
                    }
                };
                Ok((outcome, version_in(&a.body)?))
            }
        }
    }

    /// Points `label` at `version` if it still points at `expected` (`None`: absent).
    pub async fn set_label(
        &self,
        id: &str,
        label: &str,
        version: u64,
        expected: Option<u64>,
    ) -> Result<(), Error> {
        match self {
            Target::Local(l) => {
                let cx = l.reader();
                let calls = l.app.runtime.prompts(&l.handler, &cx);
                local(calls.set_label(id, label, version, expected).await)
                    .map(|_| ())
                    .map_err(LocalError::into_refused)
            }
            Target::Remote(r) => {
                let path = format!("/{}/labels/{}", remote::segment(id), remote::segment(label));
                let body = serde_json::json!({ "version": version }).to_string();
                let a = r
                    .send_if_match(http::Method::PUT, &path, Some(&body), expected)
                    .await?;
                r.ok(&a)
            }
        }
    }

    /// Removes `label` if it still points at `expected`.
    pub async fn delete_label(&self, id: &str, label: &str, expected: u64) -> Result<(), Error> {
        match self {
            Target::Local(l) => {
                let cx = l.reader();
                let calls = l.app.runtime.prompts(&l.handler, &cx);
                local(calls.delete_label(id, label, Some(expected)).await)
                    .map(|_| ())
                    .map_err(LocalError::into_refused)
            }
            Target::Remote(r) => {
                let path = format!("/{}/labels/{}", remote::segment(id), remote::segment(label));
                let a = r
                    .send_if_match(http::Method::DELETE, &path, None, Some(expected))
                    .await?;
                r.ok(&a)
            }
        }
    }

    /// One page of prompt ids, in id order, and the cursor of the next.
    pub async fn ids(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), Error> {
        let (prompts, next) = match self {
            Target::Local(l) => {
                let cx = l.reader();
                let calls = l.app.runtime.prompts(&l.handler, &cx);
                let q = ListQuery {
                    limit: PAGE,
                    cursor,
                    ..ListQuery::default()
                };
                let page = local(calls.list(&q).await).map_err(LocalError::into_refused)?;
                let v: Value = serde_json::from_str(&page.prompts_json)
                    .map_err(|e| Error::Refused(format!("the handler listed invalid JSON: {e}")))?;
                (v, page.next_cursor)
            }
            Target::Remote(r) => {
                let mut path = format!("?limit={PAGE}");
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={}", remote::segment(c)));
                }
                let v = r
                    .get_json(&path)
                    .await?
                    .ok_or_else(|| Error::Refused(format!("{}: no such route", r.route)))?;
                let next = v
                    .get("nextCursor")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                (v.get("prompts").cloned().unwrap_or(Value::Null), next)
            }
        };
        let ids = prompts
            .as_array()
            .ok_or_else(|| Error::Refused("the listing is not an array of prompts".into()))?
            .iter()
            .filter_map(|p| p.get("id").and_then(Value::as_str).map(str::to_string))
            .collect();
        Ok((ids, next))
    }
}

impl Local {
    fn context(&self, principal: Option<Principal>) -> CallContext {
        CallContext {
            request_id: format!("cli-{}", uuid::Uuid::new_v4()),
            principal,
            tenant: self.tenant.clone(),
            spend: Default::default(),
            rider: None,
        }
    }

    /// The operator as a reader: no subject (it owns nothing, moves labels as nobody),
    /// on a premium tier.
    fn reader(&self) -> CallContext {
        self.context(Some(Principal {
            subject: String::new(),
            issuer: None,
            tenant: self.tenant.clone(),
            scopes: Vec::new(),
            groups: Vec::new(),
            tier: self.tier.clone(),
            tier_from_claim: true,
        }))
    }
}

enum LocalError {
    NotFound,
    Other(String),
}

impl LocalError {
    fn into_refused(self) -> Error {
        match self {
            LocalError::NotFound => Error::Refused("not found".into()),
            LocalError::Other(m) => Error::Refused(m),
        }
    }
}

fn local<T>(r: crate::plugins::HandlerResult<T>) -> Result<T, LocalError> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(HandlerError::NotFound(_))) => Err(LocalError::NotFound),
        Ok(Err(e)) => Err(LocalError::Other(e.to_string())),
        Err(f) => Err(LocalError::Other(f.to_string())),
    }
}

fn parse_docs(json: &str) -> Result<Vec<Map<String, Value>>, Error> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(items)) => docs(items),
        _ => Err(Error::Refused(
            "the handler listed versions that are not a JSON array".into(),
        )),
    }
}

fn docs(items: Vec<Value>) -> Result<Vec<Map<String, Value>>, Error> {
    items
        .into_iter()
        .map(|v| match v {
            Value::Object(m) => Ok(m),
            _ => Err(Error::Refused(
                "a stored version is not a JSON object".into(),
            )),
        })
        .collect()
}

fn version_in(json: &str) -> Result<u64, Error> {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| v.get("version").and_then(Value::as_u64))
        .ok_or_else(|| Error::Refused("the stored prompt has no version number".into()))
}

impl Remote {
    async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<remote::Answer, Error> {
        self.send_if_match(method, path, body, None).await
    }

    async fn send_if_match(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&str>,
        if_match: Option<u64>,
    ) -> Result<remote::Answer, Error> {
        let full = format!("{}{path}", self.route);
        let a = self
            .client
            .send_with(method, &full, body, if_match.map(|v| format!("\"{v}\"")))
            .await
            .map_err(|e| Error::Stop(format!("{e:#}")))?;
        if a.status == http::StatusCode::UNAUTHORIZED {
            return Err(Error::Stop(format!(
                "{}{}: the server refused the token: {}",
                self.client.base(),
                self.route,
                a.reason()
            )));
        }
        Ok(a)
    }

    /// A GET's JSON body; `None` on 404.
    async fn get_json(&self, path: &str) -> Result<Option<Value>, Error> {
        let a = self.send(http::Method::GET, path, None).await?;
        if a.status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.ok(&a)?;
        serde_json::from_str(&a.body)
            .map(Some)
            .map_err(|e| Error::Refused(format!("{}{path}: invalid JSON: {e}", self.route)))
    }

    fn ok(&self, a: &remote::Answer) -> Result<(), Error> {
        if a.status.is_success() {
            Ok(())
        } else {
            Err(Error::Refused(format!(
                "{}: {}",
                a.status.as_u16(),
                a.reason()
            )))
        }
    }

    fn odd(&self, what: &str) -> Error {
        Error::Refused(format!(
            "{} answered {what} in an unexpected shape: is it an mcp-prompts server of this version?",
            self.client.base()
        ))
    }
}
