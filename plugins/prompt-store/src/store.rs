//! Versioned prompt storage on the kv interface.
//!
//! Layout (inside the configured namespace; the host already scopes it per tenant):
//! - `p/{id}`: the current prompt JSON (the "head");
//! - `v/{id}/{version:020}`: every version ever written, the current one included.
//!   Zero-padding makes kv's ascending key order the version order.
//!
//! The head's kv entry version is used for compare-and-set; the prompt's own `version`
//! field is what clients see. Version entries may outlive their prompt (a delete removes
//! them after the head, best effort), so readers only trust versions up to the head's
//! current version: a re-created prompt overwrites stale ones as it goes.

use crate::access::{self, Viewer};
use crate::backend::{Backend, Entry, Error, KvError, Precondition, WriteOp};
use crate::compose::{Stamp, merge, new_prompt, type_change};
use crate::input::parse_body;
use crate::model::{FieldError, Prompt};
use crate::validate::{check_config_size, combine, is_valid_id, validate};

/// Attempts for writes without an expected version before giving up with a conflict.
/// Optimistic retries before giving up with `conflict`. Generous, because writers without
/// `If-Match` must never lose an update even when many race on one prompt.
pub(crate) const MAX_ATTEMPTS: usize = 32;
/// A transaction holds at most 100 ops; version cleanup uses one for its guard.
const CLEANUP_BATCH: u32 = 99;
/// kv's maximum page size.
const KV_PAGE: u32 = 1000;

pub fn head_key(id: &str) -> String {
    format!("p/{id}")
}

pub fn version_key(id: &str, version: u64) -> String {
    format!("v/{id}/{version:020}")
}

fn versions_prefix(id: &str) -> String {
    format!("v/{id}/")
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("prompt '{id}' not found"))
}

pub fn decode_prompt(entry: &Entry) -> Result<Prompt, Error> {
    serde_json::from_slice(&entry.value).map_err(|e| {
        Error::Internal(format!(
            "stored entry '{}' is not a valid prompt: {e}",
            entry.key
        ))
    })
}

fn encode_prompt(p: &Prompt) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(p).map_err(|e| Error::Internal(format!("cannot serialise prompt: {e}")))
}

pub fn to_json(p: &Prompt) -> Result<String, Error> {
    serde_json::to_string(p).map_err(|e| Error::Internal(format!("cannot serialise prompt: {e}")))
}

/// The current prompt and its head's kv version, or `None`. Ids that could never have
/// been stored read as absent, so odd path segments never reach the kv store as keys.
pub fn load_head(b: &dyn Backend, id: &str) -> Result<Option<(Prompt, u64)>, Error> {
    if !is_valid_id(id) {
        return Ok(None);
    }
    match b.kv_get(&head_key(id))? {
        Some(entry) => Ok(Some((decode_prompt(&entry)?, entry.version))),
        None => Ok(None),
    }
}

/// The ops writing `p` as the new head (expected to be `head` at kv level) plus its
/// version entry. The version entry is written unconditionally: a leftover from a
/// deleted prompt with the same id is simply replaced.
fn write_ops(p: &Prompt, head: Precondition) -> Result<Vec<WriteOp>, Error> {
    let value = encode_prompt(p)?;
    Ok(vec![
        WriteOp::Put {
            key: head_key(&p.id),
            value: value.clone(),
            precondition: head,
        },
        WriteOp::Put {
            key: version_key(&p.id, p.version),
            value,
            precondition: Precondition::None,
        },
    ])
}

/// The current prompt if `viewer` may read it; a hidden one reads as absent.
pub fn load_visible(b: &dyn Backend, viewer: Viewer, id: &str) -> Result<(Prompt, u64), Error> {
    let (head, kv_version) = load_head(b, id)?.ok_or_else(|| not_found(id))?;
    access::require(viewer, &head, || not_found(id))?;
    Ok((head, kv_version))
}

/// The current prompt, or version `version`. A past version must be readable by the
/// viewer under its own access level too: a prompt made public later does not publish
/// what it held while it was private.
pub fn get(
    b: &dyn Backend,
    viewer: Viewer,
    id: &str,
    version: Option<u64>,
) -> Result<String, Error> {
    let (head, _) = load_visible(b, viewer, id)?;
    let Some(n) = version else {
        return to_json(&head);
    };
    let missing = || Error::NotFound(format!("prompt '{id}' has no version {n}"));
    if n == 0 || n > head.version {
        return Err(missing());
    }
    let entry = b.kv_get(&version_key(id, n))?.ok_or_else(missing)?;
    let past = decode_prompt(&entry)?;
    access::require(viewer, &past, missing)?;
    to_json(&past)
}

/// Which version of a prompt a read addresses (mirrors WIT `prompts.selector`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Current,
    Version(u64),
    /// The first of these labels that exists (`latest` always does).
    Labels(Vec<String>),
}

/// The addressed version and, for a label read, the label that resolved.
pub fn select(
    b: &dyn Backend,
    viewer: Viewer,
    id: &str,
    at: &Selector,
) -> Result<(Option<String>, Prompt), Error> {
    match at {
        Selector::Labels(labels) if !labels.is_empty() => {
            let (label, p) = crate::labels::resolve(b, viewer, id, labels)?;
            Ok((Some(label), p))
        }
        Selector::Version(n) => {
            let json = get(b, viewer, id, Some(*n))?;
            let p = serde_json::from_str(&json)
                .map_err(|e| Error::Internal(format!("cannot re-read prompt: {e}")))?;
            Ok((None, p))
        }
        _ => Ok((None, load_visible(b, viewer, id)?.0)),
    }
}

/// The prompt a create-like body describes (version 1), validated.
fn fresh_prompt(b: &dyn Backend, body: &str, author: Option<&str>) -> Result<Prompt, Error> {
    let parsed = parse_body(body).map_err(Error::Invalid)?;
    check_config_size(
        parsed.draft.config.as_ref().and_then(Option::as_ref),
        b.max_config_bytes(),
    )?;
    let now = b.now();
    let stamp = Stamp {
        now: &now,
        author,
        by: author,
    };
    let id_given = parsed.draft.id.is_some();
    let (prompt, id_errors) = new_prompt(parsed.draft, &stamp);
    let mut errors = parsed.errors;
    errors.extend(id_errors);
    errors.extend(access::check_private_has_author(&prompt));
    let mut errors = combine(errors, validate(&prompt));
    // An id derived from a bad name is bad too; the name's error already says why.
    if !id_given && errors.iter().any(|e| e.field == "name") {
        errors.retain(|e| e.field != "id");
    }
    if errors.is_empty() {
        Ok(prompt)
    } else {
        Err(Error::Invalid(errors))
    }
}

pub fn create(b: &dyn Backend, body: &str, author: Option<&str>) -> Result<String, Error> {
    let prompt = fresh_prompt(b, body, author)?;
    match b.kv_transact(write_ops(&prompt, Precondition::Absent)?) {
        Ok(_) => to_json(&prompt),
        // Only the head carries a precondition, so a conflict means the id is taken.
        Err(KvError::Conflict(_)) => Err(Error::Conflict(format!(
            "prompt '{}' already exists",
            prompt.id
        ))),
        Err(e) => Err(e.into()),
    }
}

/// What [`upsert`] did (mirrors WIT `upsert-outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// Whether two prompts agree on every field a client can set.
fn same_user_fields(a: &Prompt, b: &Prompt) -> bool {
    a.name == b.name
        && a.description == b.description
        && a.kind == b.kind
        && a.content == b.content
        && a.messages == b.messages
        && a.is_template == b.is_template
        && a.category == b.category
        && a.tags == b.tags
        && a.variables == b.variables
        && a.access_level == b.access_level
        && a.metadata == b.metadata
        && a.config == b.config
}

/// Import: the body is the whole truth about the prompt (replace semantics, unlike
/// `update`'s merge). A field the file omits takes its default, exactly as on create,
/// so importing the same file twice compares equal and writes nothing the second time.
/// History (`createdAt`, `author`) of an existing prompt is kept.
/// Waits a little before a retry so that racing writers spread out. Grows with the
/// attempt and is staggered by the clock's sub-millisecond noise (cheap jitter without a
/// PRNG crate); on wasm the sleep is a non-blocking host poll.
pub(crate) fn backoff(attempt: usize) {
    if attempt == 0 {
        return;
    }
    let noise = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() % 1000)
        .unwrap_or(0) as u64;
    let micros = 200 * attempt.min(10) as u64 + noise;
    std::thread::sleep(std::time::Duration::from_micros(micros));
}

/// Import as the operator (`mcp-prompts import` on the local store): access levels do
/// not restrict which prompts it may replace.
pub fn upsert(
    b: &dyn Backend,
    body: &str,
    author: Option<&str>,
) -> Result<(Outcome, String), Error> {
    upsert_as(b, body, author, None)
}

/// [`upsert`] on behalf of `viewer` (an API caller): a prompt the viewer could not
/// update is not replaced either. Someone else's private prompt answers `conflict`, as
/// a create of its id does; a premium one needs a premium tier, as an update does.
pub fn upsert_as(
    b: &dyn Backend,
    body: &str,
    author: Option<&str>,
    viewer: Option<Viewer>,
) -> Result<(Outcome, String), Error> {
    let fresh = fresh_prompt(b, body, author)?;
    for attempt in 0..MAX_ATTEMPTS {
        backoff(attempt);
        let (outcome, prompt, head) = match load_head(b, &fresh.id)? {
            None => (Outcome::Created, fresh.clone(), Precondition::Absent),
            Some((stored, _))
                if viewer.is_some_and(|v| {
                    access::visibility(v, &stored) == access::Visibility::Hidden
                }) =>
            {
                return Err(Error::Conflict(format!(
                    "prompt '{}' already exists",
                    fresh.id
                )));
            }
            Some((stored, _)) if viewer.is_some_and(|v| !access::can_read(v, &stored)) => {
                return Err(access::premium_required(&fresh.id));
            }
            Some((stored, _)) if stored.kind != fresh.kind => {
                let e = type_change(stored.kind, Some(fresh.kind));
                return Err(Error::Invalid(e.into_iter().collect()));
            }
            Some((stored, _)) if same_user_fields(&stored, &fresh) => {
                return Ok((Outcome::Unchanged, to_json(&stored)?));
            }
            Some((stored, kv_version)) => {
                let next = Prompt {
                    version: stored.version.saturating_add(1),
                    created_at: stored.created_at,
                    author: stored.author,
                    ..fresh.clone()
                };
                if let Some(e) = access::check_private_has_author(&next) {
                    return Err(Error::Invalid(vec![e]));
                }
                (Outcome::Updated, next, Precondition::Version(kv_version))
            }
        };
        match b.kv_transact(write_ops(&prompt, head)?) {
            Ok(_) => return Ok((outcome, to_json(&prompt)?)),
            // Created or changed in between: decide again on the new state.
            Err(KvError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(too_busy(&fresh.id))
}

pub fn update(
    b: &dyn Backend,
    viewer: Viewer,
    id: &str,
    body: &str,
    expected: Option<u64>,
) -> Result<String, Error> {
    let parsed = parse_body(body).map_err(Error::Invalid)?;
    // Only a config the client sends is measured: a stored one that a lowered limit no
    // longer admits must not block unrelated updates.
    check_config_size(
        parsed.draft.config.as_ref().and_then(Option::as_ref),
        b.max_config_bytes(),
    )?;
    let mut type_errors = parsed.errors;
    if let Some(body_id) = &parsed.draft.id
        && body_id != id
    {
        type_errors.push(FieldError::new(
            "id",
            format!("must match the prompt being updated ('{id}'); ids cannot be changed"),
        ));
    }
    let now = b.now();
    let stamp = Stamp {
        now: &now,
        author: None,
        by: viewer.subject,
    };

    for attempt in 0..MAX_ATTEMPTS {
        backoff(attempt);
        // Checked on every attempt: a racing writer may have changed the level.
        let (stored, kv_version) = load_visible(b, viewer, id)?;
        if let Some(n) = expected
            && n != stored.version
        {
            return Err(precondition_failed(n, stored.version));
        }
        let next = merge(&stored, parsed.draft.clone(), &stamp);
        let mut errors = type_errors.clone();
        errors.extend(type_change(stored.kind, parsed.draft.kind));
        errors.extend(access::check_private_has_author(&next));
        let errors = combine(errors, validate(&next));
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        match b.kv_transact(write_ops(&next, Precondition::Version(kv_version))?) {
            Ok(_) => return to_json(&next),
            Err(KvError::Conflict(_)) => match expected {
                // The client asked for exactly this version and someone else won the race.
                Some(n) => {
                    return Err(match load_visible(b, viewer, id) {
                        Ok((current, _)) => precondition_failed(n, current.version),
                        Err(e) => e,
                    });
                }
                // Last-writer-wins without If-Match, but never a lost update: re-read the
                // winner's state and merge this body onto it.
                None => continue,
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(too_busy(id))
}

fn precondition_failed(expected: u64, current: u64) -> Error {
    Error::PreconditionFailed(format!("expected version {expected}, current is {current}"))
}

fn too_busy(id: &str) -> Error {
    Error::Conflict(format!(
        "prompt '{id}' is being modified concurrently; try again"
    ))
}

pub fn delete(b: &dyn Backend, viewer: Viewer, id: &str) -> Result<(), Error> {
    let mut deleted = false;
    for attempt in 0..MAX_ATTEMPTS {
        backoff(attempt);
        let (_, kv_version) = load_visible(b, viewer, id)?;
        let op = WriteOp::Delete {
            key: head_key(id),
            precondition: Precondition::Version(kv_version),
        };
        match b.kv_transact(vec![op]) {
            Ok(_) => {
                deleted = true;
                break;
            }
            // Updated in between: delete what is there now.
            Err(KvError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if !deleted {
        return Err(too_busy(id));
    }
    // The prompt is gone for every reader now; history cleanup is best effort because
    // leftovers are invisible (readers bound versions by the head) and are overwritten
    // if the id is used again.
    // Labels go first: a reader of a re-created prompt ignores leftovers of any kind
    // (labels and history by generation, versions by the head's version), but the fewer
    // there are the better.
    for prefix in [
        crate::labels::labels_prefix(id),
        versions_prefix(id),
        crate::labels::history_prefix(id),
    ] {
        if let Err(e) = delete_prefix(b, id, &prefix) {
            b.warn(&format!(
                "prompt '{id}' deleted but some entries under '{prefix}' remain: {e:?}"
            ));
        }
    }
    Ok(())
}

/// Deletes `prefix*` (a prompt's versions, labels or history) in batches. Each batch also asserts that the head is still absent
/// (a delete with precondition `absent` is a no-op check), so that a prompt re-created
/// with the same id in the meantime keeps its fresh history.
fn delete_prefix(b: &dyn Backend, id: &str, prefix: &str) -> Result<(), KvError> {
    let mut guarded = true;
    loop {
        // Always from the start: the previous batch is gone.
        let page = b.kv_query(prefix, None, CLEANUP_BATCH)?;
        if page.entries.is_empty() {
            return Ok(());
        }
        let deletes = page.entries.iter().map(|e| WriteOp::Delete {
            key: e.key.clone(),
            precondition: Precondition::None,
        });
        let guard = WriteOp::Delete {
            key: head_key(id),
            precondition: Precondition::Absent,
        };
        let ops: Vec<_> = if guarded {
            std::iter::once(guard).chain(deletes).collect()
        } else {
            deletes.collect()
        };
        match b.kv_transact(ops) {
            Ok(_) => {}
            Err(KvError::Conflict(_)) => {
                b.warn(&format!(
                    "prompt '{id}' was re-created during cleanup; keeping its versions"
                ));
                return Ok(());
            }
            // A store that rejects the guard op: clean up without it (tiny race accepted).
            Err(KvError::Invalid(m)) if guarded => {
                b.warn(&format!(
                    "kv rejected the cleanup guard ({m}); continuing without it"
                ));
                guarded = false;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Every version the viewer may read (see [`get`] about past access levels).
pub fn versions(b: &dyn Backend, viewer: Viewer, id: &str) -> Result<String, Error> {
    let (head, _) = load_visible(b, viewer, id)?;
    let prefix = versions_prefix(id);
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    'pages: loop {
        let page = b.kv_query(&prefix, cursor.as_deref(), KV_PAGE)?;
        for entry in &page.entries {
            let Some(n) = entry
                .key
                .strip_prefix(&prefix)
                .and_then(|s| s.parse::<u64>().ok())
            else {
                b.warn(&format!("ignoring unexpected key '{}'", entry.key));
                continue;
            };
            // Leftovers of an earlier prompt with this id (see the module docs).
            if n > head.version {
                break 'pages;
            }
            let past = decode_prompt(entry)?;
            if access::can_read(viewer, &past) {
                out.push(past);
            }
        }
        match page.next_cursor {
            Some(next) if !page.entries.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    serde_json::to_string(&out)
        .map_err(|e| Error::Internal(format!("cannot serialise versions: {e}")))
}
