//! The prompt operations of one route, for one request.
//!
//! Each operation takes the [`Permit`] that [`PromptService::authorize`] issued for it,
//! calls the route's prompt-handler plugin, turns the plugin's answer into service types
//! (JSON checked before it reaches any client) and records changes. REST and MCP differ
//! only in how they decode their input and encode these results.

use super::Request;
use super::error::Error;
use super::error::ErrorKind;
use super::policy::{self, Action, Permit, Via};
use super::webhooks::{self, EventKind};
use crate::app::{App, Route};
use crate::plugins::content::ImageRef;
use crate::plugins::{
    Applied, HandlerResult, HistoryPage, Label, ListQuery, PromptCalls, Selector, UpsertOutcome,
};
use serde_json::value::RawValue;

/// Default and largest page of a list call.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// A page of prompts: the plugin's JSON array (validated, not re-encoded).
#[derive(Debug)]
pub struct Page {
    pub prompts: Box<RawValue>,
    pub next_cursor: Option<String>,
}

/// A stored prompt as JSON text, with the fields the transports need to read.
#[derive(Debug)]
pub struct Prompt {
    pub json: String,
    pub id: Option<String>,
    pub version: Option<u64>,
    /// The label that resolved a read by label (a route's default included).
    pub label: Option<String>,
}

pub struct PromptService<'a> {
    app: &'a App,
    req: &'a Request,
    route: &'a Route,
    via: Via,
}

impl<'a> PromptService<'a> {
    pub fn new(app: &'a App, req: &'a Request, route: &'a Route, via: Via) -> Self {
        Self {
            app,
            req,
            route,
            via,
        }
    }

    pub fn route(&self) -> &Route {
        self.route
    }

    pub fn request(&self) -> &Request {
        self.req
    }

    /// Asks the route's policies whether `action` on `resource` (a prompt id) may
    /// proceed. The permit is what every operation below requires.
    pub async fn authorize(&self, action: Action, resource: Option<&str>) -> Result<Permit, Error> {
        policy::authorize(self.app, self.req, self.route, &self.via, action, resource).await
    }

    /// The permit an import ([`PromptService::upsert`]) needs: `create` and `update` on
    /// `id`, because whether the document creates or replaces the prompt is known only
    /// once the handler ran. Policy authors need no new action: whoever may do both may
    /// import (docs/plugins.md).
    pub async fn authorize_upsert(&self, id: &str) -> Result<Permit, Error> {
        policy::authorize_all(
            self.app,
            self.req,
            self.route,
            &self.via,
            &[Action::Create, Action::Update],
            Some(id),
        )
        .await
    }

    fn check(&self, permit: &Permit, action: Action, resource: Option<&str>) -> Result<(), Error> {
        if permit.covers(action, resource) {
            Ok(())
        } else {
            Err(Error::internal(
                &self.req.id,
                &format!("a permit was used for another operation than {action:?}"),
            ))
        }
    }

    fn run<T>(&self, r: HandlerResult<T>) -> Result<T, Error> {
        r.map_err(|f| Error::plugin(&self.req.id, f))?
            .map_err(|e| Error::handler(&self.req.id, e))
    }

    fn prompt(&self, json: String) -> Result<Prompt, Error> {
        #[derive(serde::Deserialize)]
        struct Head {
            id: Option<String>,
            version: Option<u64>,
        }
        // One parse both checks the plugin's JSON and reads `id` and `version`.
        let head: Head = serde_json::from_str(&json).map_err(|e| {
            Error::internal(
                &self.req.id,
                &format!("plugin returned an invalid prompt: {e}"),
            )
        })?;
        Ok(Prompt {
            json,
            id: head.id,
            version: head.version,
            label: None,
        })
    }

    fn raw(&self, text: String) -> Result<Box<RawValue>, Error> {
        RawValue::from_string(text).map_err(|e| {
            Error::internal(&self.req.id, &format!("plugin returned invalid JSON: {e}"))
        })
    }

    async fn with_calls<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: AsyncFnOnce(PromptCalls<'_>) -> HandlerResult<T>,
    {
        let cx = self.req.plugin_context();
        let calls = self.app.runtime.prompts(&self.route.handler, &cx);
        let r = f(calls).await;
        self.run(r)
    }

    /// Runs a writing call with the webhook event it may cause riding on its commit
    /// (service/webhooks), then completes the event with `details` of the answer.
    async fn writing<T, F, D>(
        &self,
        kind: EventKind,
        prompt: Option<&str>,
        f: F,
        details: D,
    ) -> Result<T, Error>
    where
        F: AsyncFnOnce(PromptCalls<'_>) -> HandlerResult<T>,
        D: FnOnce(&T) -> Option<Details>,
    {
        let Some(pending) = webhooks::begin(self.app, self.req, kind, prompt) else {
            return self.with_calls(f).await;
        };
        let mut cx = self.req.plugin_context();
        cx.rider = Some(pending.slot());
        let calls = self.app.runtime.prompts(&self.route.handler, &cx);
        let r = self.run(f(calls).await);
        match &r {
            // `None`: the call wrote nothing that deserves an event (an unchanged upsert).
            Ok(v) => match details(v) {
                Some(mut d) => {
                    d.insert("route".into(), self.route.path.clone().into());
                    pending.finish(self.app, Some(d)).await;
                }
                None => pending.finish(self.app, None).await,
            },
            Err(_) => pending.finish(self.app, None).await,
        }
        r
    }

    /// Announces a successful write to MCP sessions on every host.
    async fn changed(&self, prompt: Option<&str>) {
        if self.req.snapshot.config.config.mcp.enabled {
            super::changes::prompts_changed(&self.app.storage, &self.req.caller.tenant, prompt)
                .await;
        }
    }

    pub async fn list(&self, permit: &Permit, query: &ListQuery) -> Result<Page, Error> {
        self.check(permit, Action::List, None)?;
        let page = self.with_calls(async |c| c.list(query).await).await?;
        Ok(Page {
            prompts: self.raw(page.prompts_json)?,
            next_cursor: page.next_cursor,
        })
    }

    /// Version `version`, or without one what the route's default labels resolve to.
    pub async fn get(
        &self,
        permit: &Permit,
        id: &str,
        version: Option<u64>,
    ) -> Result<Prompt, Error> {
        let at = match version {
            Some(n) => Selector::Version(n),
            None => self.default_selector(),
        };
        self.get_at(permit, id, &at).await
    }

    /// What a read without a version or label addresses on this route.
    pub fn default_selector(&self) -> Selector {
        Selector::Labels(self.route.default_labels.clone())
    }

    pub async fn get_at(&self, permit: &Permit, id: &str, at: &Selector) -> Result<Prompt, Error> {
        self.check(permit, Action::Read, Some(id))?;
        let r = self.with_calls(async |c| c.get(id, at).await).await?;
        let mut p = self.prompt(r.prompt_json)?;
        p.label = r.label;
        Ok(p)
    }

    /// What changed from the version `from` addresses to the one `to` addresses (both
    /// read under the same `read` permit, each with its own access check).
    pub async fn diff(
        &self,
        permit: &Permit,
        id: &str,
        from: &Selector,
        to: &Selector,
    ) -> Result<super::diff::PromptDiff, Error> {
        let a = self.get_at(permit, id, from).await?;
        let b = self.get_at(permit, id, to).await?;
        let parse = |p: &Prompt| -> Result<serde_json::Value, Error> {
            serde_json::from_str(&p.json).map_err(|e| {
                Error::internal(&self.req.id, &format!("plugin returned invalid JSON: {e}"))
            })
        };
        let side = |p: &Prompt| super::diff::Side {
            version: p.version,
            label: p.label.clone(),
        };
        Ok(super::diff::diff(
            id,
            side(&a),
            &parse(&a)?,
            side(&b),
            &parse(&b)?,
        ))
    }

    /// Deletes one past version that no label points at.
    pub async fn delete_version(
        &self,
        permit: &Permit,
        id: &str,
        version: u64,
    ) -> Result<(), Error> {
        self.check(permit, Action::Delete, Some(id))?;
        self.with_calls(async |c| c.delete_version(id, version).await)
            .await?;
        self.changed(Some(id)).await;
        Ok(())
    }

    /// Every label of a prompt, `latest` first.
    pub async fn labels(&self, permit: &Permit, id: &str) -> Result<Vec<Label>, Error> {
        self.check(permit, Action::Read, Some(id))?;
        self.with_calls(async |c| c.labels(id).await).await
    }

    /// Moving a protected label needs its scope, whoever asks and however: this is the
    /// one place every transport's label moves pass through.
    fn check_protected(&self, label: &str) -> Result<(), Error> {
        let Some(scope) = self.route.protected_labels.get(label) else {
            return Ok(());
        };
        let has = self
            .req
            .caller
            .principal
            .as_ref()
            .is_some_and(|p| p.scopes.iter().any(|s| s == scope));
        if has {
            return Ok(());
        }
        let mut e = Error::new(
            ErrorKind::InsufficientScope,
            format!("moving the protected label '{label}' needs the scope {scope}"),
        );
        e.scopes = vec![scope.clone()];
        Err(e)
    }

    /// Points `label` at `version`; `expected` is the label's version the client last
    /// saw (If-Match). Needs an `update` permit for the prompt.
    pub async fn set_label(
        &self,
        permit: &Permit,
        id: &str,
        label: &str,
        version: u64,
        expected: Option<u64>,
    ) -> Result<Label, Error> {
        self.check(permit, Action::Update, Some(id))?;
        self.check_protected(label)?;
        let l = self
            .writing(
                EventKind::LabelMoved,
                Some(id),
                async |c| c.set_label(id, label, version, expected).await,
                |l: &Label| {
                    let mut d = details(id, None);
                    d.insert("label".into(), label.into());
                    d.insert("version".into(), l.version.into());
                    Some(d)
                },
            )
            .await?;
        self.changed(Some(id)).await;
        Ok(l)
    }

    /// Removes `label`; returns the version it pointed at.
    pub async fn delete_label(
        &self,
        permit: &Permit,
        id: &str,
        label: &str,
        expected: Option<u64>,
    ) -> Result<u64, Error> {
        self.check(permit, Action::Update, Some(id))?;
        self.check_protected(label)?;
        let was = self
            .writing(
                EventKind::LabelMoved,
                Some(id),
                async |c| c.delete_label(id, label, expected).await,
                |was: &u64| {
                    // A removed label moved to nothing: `version` null, `previous` its last.
                    let mut d = details(id, None);
                    d.insert("label".into(), label.into());
                    d.insert("version".into(), serde_json::Value::Null);
                    d.insert("previous".into(), (*was).into());
                    Some(d)
                },
            )
            .await?;
        self.changed(Some(id)).await;
        Ok(was)
    }

    /// The moves of `label`, oldest first.
    pub async fn label_history(
        &self,
        permit: &Permit,
        id: &str,
        label: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<HistoryPage, Error> {
        self.check(permit, Action::Read, Some(id))?;
        self.with_calls(async |c| c.label_history(id, label, cursor, limit).await)
            .await
    }

    /// Every version of a prompt, newest first, as the plugin's JSON array.
    pub async fn versions(&self, permit: &Permit, id: &str) -> Result<Box<RawValue>, Error> {
        self.check(permit, Action::Read, Some(id))?;
        let json = self.with_calls(async |c| c.versions(id).await).await?;
        self.raw(json)
    }

    /// A write's body with its images stored and referenced (service/media.rs).
    /// `id` is the prompt written (`None` on create: nothing to reuse yet).
    async fn ingest(&self, id: Option<&str>, body: String) -> Result<String, Error> {
        use super::media::{self, Reuse};
        let max = self.req.snapshot.config.config.media.max_image_size.0;
        let reuse = match id {
            Some(id) if media::has_references(&body) => {
                // The versions the caller's own call can see: the handler applies the
                // prompt's access rules (another user's private prompt is not found).
                let stored = match self.with_calls(async |c| c.versions(id).await).await {
                    Ok(json) => {
                        serde_json::from_str::<Vec<serde_json::Value>>(&json).unwrap_or_default()
                    }
                    Err(e) if e.kind == ErrorKind::NotFound => Vec::new(),
                    Err(e) => return Err(e),
                };
                Reuse::of(&stored)
            }
            _ => Reuse::Only(Default::default()),
        };
        media::ingest(
            &self.app.storage,
            &self.req.caller.tenant,
            max,
            &reuse,
            body,
        )
        .await
    }

    /// Creates a prompt from its JSON document (validated by the plugin).
    pub async fn create(&self, permit: &Permit, prompt_json: String) -> Result<Prompt, Error> {
        self.check(permit, Action::Create, None)?;
        let prompt_json = self.ingest(None, prompt_json).await?;
        let json = self
            .writing(
                EventKind::VersionCreated,
                None,
                async |c| c.create(prompt_json).await,
                |json: &String| {
                    let h = head(json);
                    Some(details_opt(h.id.as_deref(), h.version))
                },
            )
            .await?;
        let p = self.prompt(json)?;
        self.changed(p.id.as_deref()).await;
        Ok(p)
    }

    /// Writes a new version; `expected` is the version the client last saw (If-Match).
    pub async fn update(
        &self,
        permit: &Permit,
        id: &str,
        fields_json: String,
        expected: Option<u64>,
    ) -> Result<Prompt, Error> {
        self.check(permit, Action::Update, Some(id))?;
        let fields_json = self.ingest(Some(id), fields_json).await?;
        let json = self
            .writing(
                EventKind::VersionCreated,
                Some(id),
                async |c| c.update(id, fields_json, expected).await,
                |json: &String| Some(details(id, head(json).version)),
            )
            .await?;
        self.changed(Some(id)).await;
        self.prompt(json)
    }

    /// Creates prompt `id` from a full document, or replaces every client-settable field
    /// of the stored one with it (a field the document omits takes its default, as on
    /// create); writes nothing when the stored prompt already has exactly these fields.
    /// This is what `mcp-prompts import` does with each file, locally or over the API.
    pub async fn upsert(
        &self,
        permit: &Permit,
        id: &str,
        prompt_json: String,
    ) -> Result<(UpsertOutcome, Prompt), Error> {
        self.check(permit, Action::Create, Some(id))?;
        self.check(permit, Action::Update, Some(id))?;
        let body = self.ingest(Some(id), with_id(id, &prompt_json)?).await?;
        let (outcome, json) = self
            .writing(
                EventKind::VersionCreated,
                Some(id),
                async |c| c.upsert(body).await,
                |(outcome, json): &(UpsertOutcome, String)| {
                    (*outcome != UpsertOutcome::Unchanged).then(|| details(id, head(json).version))
                },
            )
            .await?;
        if outcome != UpsertOutcome::Unchanged {
            self.changed(Some(id)).await;
        }
        Ok((outcome, self.prompt(json)?))
    }

    pub async fn delete(&self, permit: &Permit, id: &str) -> Result<(), Error> {
        self.check(permit, Action::Delete, Some(id))?;
        self.writing(
            EventKind::PromptDeleted,
            Some(id),
            async |c| c.delete(id).await,
            |_| Some(details(id, None)),
        )
        .await?;
        self.changed(Some(id)).await;
        Ok(())
    }

    /// The bytes of image `sha256` of prompt `id`, with its reference (MIME type, size).
    /// Found only when a version of the prompt the caller may read references it, so
    /// the image is exactly as visible as the prompt: the newest version the route's
    /// default labels resolve to is looked at first, then the others.
    pub async fn image(
        &self,
        permit: &Permit,
        id: &str,
        sha256: &str,
    ) -> Result<(ImageRef, Vec<u8>), Error> {
        self.check(permit, Action::Read, Some(id))?;
        let not_found = || Error::not_found(format!("prompt '{id}' has no image {sha256}"));
        if !super::media::is_sha256_hex(sha256) {
            return Err(not_found());
        }
        let find = |doc: &serde_json::Value| {
            super::media::image_refs(doc)
                .into_iter()
                .find(|r| r.sha256 == sha256)
        };
        let current = self.get_at(permit, id, &self.default_selector()).await?;
        let mut found = serde_json::from_str(&current.json)
            .ok()
            .and_then(|d| find(&d));
        if found.is_none() {
            let all = self.versions(permit, id).await?;
            let all: Vec<serde_json::Value> = serde_json::from_str(all.get()).unwrap_or_default();
            found = all.iter().find_map(find);
        }
        let r = found.ok_or_else(not_found)?;
        Ok((r, self.referenced_image(id, sha256).await?))
    }

    /// The bytes of image `sha256`, which a version of prompt `id` references: missing
    /// bytes are the server's fault (images are never deleted), not the client's.
    async fn referenced_image(&self, id: &str, sha256: &str) -> Result<Vec<u8>, Error> {
        super::media::load(&self.app.storage, &self.req.caller.tenant, sha256)
            .await?
            .ok_or_else(|| {
                Error::internal(
                    &self.req.id,
                    &format!("image {sha256} of prompt '{id}' is referenced but not stored"),
                )
            })
    }

    /// The bytes of images `hashes`, which a render of prompt `id` references (for MCP,
    /// which sends images inline). Called after that render under a `render` permit, so
    /// the references come from a prompt the caller may render.
    pub async fn images_of(
        &self,
        permit: &Permit,
        id: &str,
        hashes: &std::collections::HashSet<String>,
    ) -> Result<std::collections::HashMap<String, Vec<u8>>, Error> {
        self.check(permit, Action::Render, Some(id))?;
        let mut out = std::collections::HashMap::new();
        for sha256 in hashes {
            out.insert(sha256.clone(), self.referenced_image(id, sha256).await?);
        }
        Ok(out)
    }

    /// The route's path, e.g. `/v1/prompts` (what REST URLs of its prompts start with).
    pub fn route_path(&self) -> &str {
        &self.route.path
    }

    /// Renders what the route's default labels resolve to with `variables_json`.
    pub async fn apply(
        &self,
        permit: &Permit,
        id: &str,
        variables_json: String,
    ) -> Result<Applied, Error> {
        let at = self.default_selector();
        self.apply_at(permit, id, &at, variables_json).await
    }

    /// Renders the addressed version with `variables_json` (a JSON object).
    pub async fn apply_at(
        &self,
        permit: &Permit,
        id: &str,
        at: &Selector,
        variables_json: String,
    ) -> Result<Applied, Error> {
        self.check(permit, Action::Render, Some(id))?;
        self.with_calls(async |c| c.apply(id, at, variables_json).await)
            .await
    }
}

/// What a webhook event says about a write.
type Details = serde_json::Map<String, serde_json::Value>;

fn details(id: &str, version: Option<u64>) -> Details {
    details_opt(Some(id), version)
}

fn details_opt(id: Option<&str>, version: Option<u64>) -> Details {
    let mut d = Details::new();
    if let Some(id) = id {
        d.insert("prompt".into(), id.into());
    }
    if let Some(v) = version {
        d.insert("version".into(), v.into());
    }
    d
}

#[derive(serde::Deserialize, Default)]
struct Head {
    id: Option<String>,
    version: Option<u64>,
}

/// The `id` and `version` of a prompt document (empty when it is not one: the answer
/// is checked where it is used).
fn head(json: &str) -> Head {
    serde_json::from_str(json).unwrap_or_default()
}

/// The document with `id` as its id: the address names the prompt, so a document
/// without an id takes it, and one naming another id is refused rather than written
/// somewhere the client did not address.
fn with_id(id: &str, prompt_json: &str) -> Result<String, Error> {
    let mut doc: serde_json::Map<String, serde_json::Value> = serde_json::from_str(prompt_json)
        .map_err(|_| {
            Error::new(
                super::ErrorKind::Invalid,
                "the prompt must be a JSON object",
            )
        })?;
    match doc.get("id") {
        None | Some(serde_json::Value::Null) => {
            doc.insert("id".into(), id.into());
        }
        Some(serde_json::Value::String(s)) if s == id => {}
        Some(other) => {
            return Err(Error::invalid_field(
                "id",
                &format!("must match the prompt being imported ('{id}'), got {other}"),
            ));
        }
    }
    Ok(serde_json::Value::Object(doc).to_string())
}

/// What apply answers, on every transport (REST body, MCP tool result): the rendered
/// text, the variables used and missing, for a chat prompt its messages (`null` for a
/// text prompt, so that clients find every key), and the version's config (`null`
/// when none): what to run the rendering with.
pub fn applied_document(a: &Applied) -> serde_json::Value {
    serde_json::json!({
        "content": a.content,
        "appliedVariables": a.applied_variables,
        "missingVariables": a.missing_variables,
        "messages": a.messages,
        "config": a.config,
    })
}

/// A version reference as clients write it (`from=`/`to=` of a diff): a positive
/// integer is a version, anything else a label name (the handler validates it).
pub fn parse_ref(field: &str, s: &str) -> Result<Selector, Error> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Error::invalid_field(
            field,
            "must be a version number or a label name",
        ));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(Selector::Version(n)),
            _ => Err(Error::invalid_field(
                field,
                "a version must be a positive integer",
            )),
        };
    }
    Ok(Selector::Labels(vec![s.to_string()]))
}

/// What a diff's `to` is when the client names none: the newest version.
pub fn latest() -> Selector {
    Selector::Labels(vec![crate::config::LATEST_LABEL.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_versions_or_labels() {
        assert_eq!(parse_ref("from", "3").unwrap(), Selector::Version(3));
        assert_eq!(
            parse_ref("from", " production ").unwrap(),
            Selector::Labels(vec!["production".into()])
        );
        for bad in ["", "0", "99999999999999999999999"] {
            let e = parse_ref("from", bad).unwrap_err();
            assert_eq!(e.fields[0].field, "from", "{bad}");
        }
    }
}
