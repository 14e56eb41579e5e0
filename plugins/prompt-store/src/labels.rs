//! Labels: named, movable pointers from a label to one version of a prompt, and the
//! audit trail of their moves.
//!
//! Layout (next to `store`'s `p/` and `v/`):
//! - `l/{id}/{label}`: the label, `{version, seq, generation, updatedAt, updatedBy}`.
//!   A removed label stays as a tombstone (`version: null`) so that its `seq` keeps
//!   counting and history keys are never reused;
//! - `h/{id}/{label}/{seq:020}`: one entry per move (set, moved, removed).
//!
//! `latest` is not stored: it always resolves to the head. Every entry records the
//! `generation` of the prompt it belongs to (the head's `createdAt`), so that entries a
//! best-effort cleanup left behind after a delete never attach to a re-created prompt
//! with the same id.

use crate::access::{self, Viewer};
use crate::backend::{Backend, Error, KvError, Precondition, WriteOp};
use crate::model::Prompt;
use crate::store::{self, MAX_ATTEMPTS, decode_prompt, load_visible, version_key};
use serde::{Deserialize, Serialize};

/// The label every prompt has, pointing at its newest version.
pub const LATEST: &str = "latest";
/// Live labels per prompt (`latest` not counted).
pub const MAX_LABELS: usize = 50;
pub const MAX_LABEL_CHARS: usize = 64;
/// Default and largest page of a history call.
pub const DEFAULT_HISTORY_LIMIT: u32 = 20;
pub const MAX_HISTORY_LIMIT: u32 = 100;

/// The stored form of a label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    /// `None`: removed (a tombstone).
    version: Option<u64>,
    /// Moves so far; the next history entry is `seq + 1`.
    seq: u64,
    generation: String,
    updated_at: String,
    updated_by: Option<String>,
}

/// A label as callers see it (mirrors WIT `prompts.label`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Label {
    pub name: String,
    pub version: u64,
    pub updated_at: String,
    pub updated_by: Option<String>,
}

/// One move of a label (mirrors WIT `prompts.label-move`). `from: None` = the label was
/// created; `to: None` = it was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Move {
    pub label: String,
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub by: Option<String>,
    pub at: String,
    #[serde(default)]
    generation: String,
}

/// A page of moves, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub moves: Vec<Move>,
    pub next_cursor: Option<String>,
}

/// Whether `name` is a valid label: 1..=64 of `[a-z0-9._-]`, starting with a letter or
/// digit. Labels become kv keys and URL segments, hence the small alphabet.
pub fn is_valid_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LABEL_CHARS
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

fn check_name(name: &str) -> Result<(), Error> {
    if is_valid_label(name) {
        Ok(())
    } else {
        Err(Error::invalid(
            "label",
            format!(
                "{name:?} is not a valid label: 1 to {MAX_LABEL_CHARS} characters of lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
            ),
        ))
    }
}

/// Labels that can be moved by hand: valid, and not `latest`.
fn check_movable(name: &str) -> Result<(), Error> {
    check_name(name)?;
    if name == LATEST {
        return Err(Error::invalid(
            "label",
            "'latest' is maintained automatically (it is the newest version) and cannot be set or removed",
        ));
    }
    Ok(())
}

fn label_key(id: &str, label: &str) -> String {
    format!("l/{id}/{label}")
}

pub fn labels_prefix(id: &str) -> String {
    format!("l/{id}/")
}

pub fn history_prefix(id: &str) -> String {
    format!("h/{id}/")
}

fn history_key(id: &str, label: &str, seq: u64) -> String {
    format!("h/{id}/{label}/{seq:020}")
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, value: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(value)
        .map_err(|e| Error::Internal(format!("stored entry '{key}' is not valid: {e}")))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|e| Error::Internal(format!("cannot serialise label: {e}")))
}

/// The label's stored entry and kv version, and whether it currently points somewhere
/// for this generation of the prompt.
struct Current {
    stored: Option<(Stored, u64)>,
    head: Prompt,
}

impl Current {
    fn live(&self) -> Option<u64> {
        match &self.stored {
            Some((s, _)) if s.generation == self.head.created_at => s.version,
            _ => None,
        }
    }

    fn seq(&self) -> u64 {
        self.stored.as_ref().map(|(s, _)| s.seq).unwrap_or(0)
    }

    fn precondition(&self) -> Precondition {
        match &self.stored {
            Some((_, kv)) => Precondition::Version(*kv),
            None => Precondition::Absent,
        }
    }
}

fn load(b: &dyn Backend, viewer: Viewer, id: &str, label: &str) -> Result<Current, Error> {
    let (head, _) = load_visible(b, viewer, id)?;
    let key = label_key(id, label);
    let stored = match b.kv_get(&key)? {
        Some(e) => Some((decode::<Stored>(&key, &e.value)?, e.version)),
        None => None,
    };
    Ok(Current { stored, head })
}

/// The version `label` points at, if any (`latest`: the head's).
pub fn points_at(b: &dyn Backend, head: &Prompt, label: &str) -> Result<Option<u64>, Error> {
    pointee(b, head, label)
}

fn pointee(b: &dyn Backend, head: &Prompt, label: &str) -> Result<Option<u64>, Error> {
    if label == LATEST {
        return Ok(Some(head.version));
    }
    let key = label_key(&head.id, label);
    Ok(match b.kv_get(&key)? {
        Some(e) => {
            let s: Stored = decode(&key, &e.value)?;
            s.version.filter(|_| s.generation == head.created_at)
        }
        None => None,
    })
}

/// Version `n` of `head`'s prompt, if the viewer may read it under its own level.
fn version_of(b: &dyn Backend, viewer: Viewer, head: &Prompt, n: u64) -> Result<Prompt, Error> {
    let id = &head.id;
    let missing = || Error::NotFound(format!("prompt '{id}' has no version {n}"));
    if n == head.version {
        return Ok(head.clone());
    }
    if n == 0 || n > head.version {
        return Err(missing());
    }
    let entry = b.kv_get(&version_key(id, n))?.ok_or_else(missing)?;
    let past = decode_prompt(&entry)?;
    access::require(viewer, &past, missing)?;
    Ok(past)
}

/// The version the first of `labels` that exists points at, and that label. Used for
/// `?label=` reads and for reads without a version (the route's default labels, e.g.
/// `production` then `latest`).
pub fn resolve(
    b: &dyn Backend,
    viewer: Viewer,
    id: &str,
    labels: &[String],
) -> Result<(String, Prompt), Error> {
    for l in labels {
        check_name(l)?;
    }
    let (head, _) = load_visible(b, viewer, id)?;
    for l in labels {
        if let Some(n) = pointee(b, &head, l)? {
            return Ok((l.clone(), version_of(b, viewer, &head, n)?));
        }
    }
    Err(Error::NotFound(match labels {
        [one] => format!("prompt '{id}' has no label '{one}'"),
        many => format!("prompt '{id}' has none of the labels {}", many.join(", ")),
    }))
}

/// Every live label of the prompt, `latest` first, then by name.
pub fn list(b: &dyn Backend, viewer: Viewer, id: &str) -> Result<Vec<Label>, Error> {
    let (head, _) = load_visible(b, viewer, id)?;
    let mut out = vec![Label {
        name: LATEST.to_owned(),
        version: head.version,
        updated_at: head.updated_at.clone(),
        updated_by: None,
    }];
    let prefix = labels_prefix(id);
    let mut cursor: Option<String> = None;
    loop {
        let page = b.kv_query(&prefix, cursor.as_deref(), 1000)?;
        for e in &page.entries {
            let s: Stored = decode(&e.key, &e.value)?;
            let (Some(version), true) = (s.version, s.generation == head.created_at) else {
                continue;
            };
            out.push(Label {
                name: e.key[prefix.len()..].to_owned(),
                version,
                updated_at: s.updated_at,
                updated_by: s.updated_by,
            });
        }
        match page.next_cursor {
            Some(next) if !page.entries.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    Ok(out)
}

/// Names of the live labels (not `latest`) that point at version `n`.
pub fn pointing_at(
    b: &dyn Backend,
    viewer: Viewer,
    id: &str,
    n: u64,
) -> Result<Vec<String>, Error> {
    Ok(list(b, viewer, id)?
        .into_iter()
        .filter(|l| l.name != LATEST && l.version == n)
        .map(|l| l.name)
        .collect())
}

fn precondition_failed(label: &str, expected: u64, live: Option<u64>) -> Error {
    Error::PreconditionFailed(match live {
        Some(c) => format!("label '{label}' points at version {c}, not {expected}"),
        None => format!("label '{label}' does not exist (expected it at version {expected})"),
    })
}

fn too_busy(id: &str, label: &str) -> Error {
    Error::Conflict(format!(
        "label '{label}' of prompt '{id}' is being moved concurrently; try again"
    ))
}

/// The ops writing `next` (after `cur`) and its history entry.
fn move_ops(
    b: &dyn Backend,
    id: &str,
    label: &str,
    cur: &Current,
    to: Option<u64>,
    by: Option<&str>,
) -> Result<(Vec<WriteOp>, Stored), Error> {
    let now = b.now();
    let seq = cur.seq().saturating_add(1);
    let next = Stored {
        version: to,
        seq,
        generation: cur.head.created_at.clone(),
        updated_at: now.clone(),
        updated_by: by.map(str::to_owned),
    };
    let entry = Move {
        label: label.to_owned(),
        from: cur.live(),
        to,
        by: by.map(str::to_owned),
        at: now,
        generation: cur.head.created_at.clone(),
    };
    let ops = vec![
        WriteOp::Put {
            key: label_key(id, label),
            value: encode(&next)?,
            precondition: cur.precondition(),
        },
        // Unconditional: a leftover of an earlier generation is simply replaced.
        WriteOp::Put {
            key: history_key(id, label, seq),
            value: encode(&entry)?,
            precondition: Precondition::None,
        },
    ];
    Ok((ops, next))
}

fn count_live(b: &dyn Backend, head: &Prompt) -> Result<usize, Error> {
    let prefix = labels_prefix(&head.id);
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = b.kv_query(&prefix, cursor.as_deref(), 1000)?;
        for e in &page.entries {
            let s: Stored = decode(&e.key, &e.value)?;
            if s.version.is_some() && s.generation == head.created_at {
                n += 1;
            }
        }
        match page.next_cursor {
            Some(next) if !page.entries.is_empty() => cursor = Some(next),
            _ => return Ok(n),
        }
    }
}

/// Points `label` at `version`. `expected`: the version the caller believes the label
/// points at now (If-Match). Setting a label to where it already points writes nothing.
pub fn set(
    b: &dyn Backend,
    viewer: Viewer,
    id: &str,
    label: &str,
    version: u64,
    expected: Option<u64>,
    by: Option<&str>,
) -> Result<Label, Error> {
    check_movable(label)?;
    for attempt in 0..MAX_ATTEMPTS {
        store::backoff(attempt);
        let cur = load(b, viewer, id, label)?;
        // The target must exist and be readable by the caller.
        version_of(b, viewer, &cur.head, version)?;
        let target = b
            .kv_get(&version_key(id, version))?
            .ok_or_else(|| Error::NotFound(format!("prompt '{id}' has no version {version}")))?;
        let live = cur.live();
        if let Some(n) = expected
            && live != Some(n)
        {
            return Err(precondition_failed(label, n, live));
        }
        if live == Some(version)
            && let Some((s, _)) = &cur.stored
        {
            return Ok(Label {
                name: label.to_owned(),
                version,
                updated_at: s.updated_at.clone(),
                updated_by: s.updated_by.clone(),
            });
        }
        if live.is_none() && count_live(b, &cur.head)? >= MAX_LABELS {
            return Err(Error::invalid(
                "label",
                format!("prompt '{id}' already has {MAX_LABELS} labels; remove one first"),
            ));
        }
        let (mut ops, next) = move_ops(b, id, label, &cur, Some(version), by)?;
        // Rewriting the version unchanged asserts that it still exists: a concurrent
        // `delete_version` of it makes this move conflict instead of dangling.
        ops.push(WriteOp::Put {
            key: target.key,
            value: target.value,
            precondition: Precondition::Version(target.version),
        });
        match b.kv_transact(ops) {
            Ok(_) => {
                return Ok(Label {
                    name: label.to_owned(),
                    version,
                    updated_at: next.updated_at,
                    updated_by: next.updated_by,
                });
            }
            // Moved in between: judge again on the new state (If-Match included).
            Err(KvError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(too_busy(id, label))
}

/// Removes `label`; `expected` as in [`set`]. Returns the version it pointed at.
pub fn remove(
    b: &dyn Backend,
    viewer: Viewer,
    id: &str,
    label: &str,
    expected: Option<u64>,
    by: Option<&str>,
) -> Result<u64, Error> {
    check_movable(label)?;
    for attempt in 0..MAX_ATTEMPTS {
        store::backoff(attempt);
        let cur = load(b, viewer, id, label)?;
        let live = cur.live();
        if let Some(n) = expected
            && live != Some(n)
        {
            return Err(precondition_failed(label, n, live));
        }
        let Some(was) = live else {
            return Err(Error::NotFound(format!(
                "prompt '{id}' has no label '{label}'"
            )));
        };
        let (ops, _) = move_ops(b, id, label, &cur, None, by)?;
        match b.kv_transact(ops) {
            Ok(_) => return Ok(was),
            Err(KvError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(too_busy(id, label))
}

/// The moves of `label`, oldest first. `cursor` is the kv cursor of the previous page.
pub fn history(
    b: &dyn Backend,
    viewer: Viewer,
    id: &str,
    label: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<HistoryPage, Error> {
    check_movable(label)?;
    let (head, _) = load_visible(b, viewer, id)?;
    let limit = match limit {
        0 => DEFAULT_HISTORY_LIMIT,
        n => n.min(MAX_HISTORY_LIMIT),
    };
    let prefix = format!("{}{label}/", history_prefix(id));
    let page = b.kv_query(&prefix, cursor, limit).map_err(|e| match e {
        KvError::Invalid(m) => Error::invalid("cursor", format!("is not valid: {m}")),
        e => e.into(),
    })?;
    let mut moves = Vec::with_capacity(page.entries.len());
    for e in &page.entries {
        let m: Move = decode(&e.key, &e.value)?;
        if m.generation == head.created_at {
            moves.push(m);
        }
    }
    let next_cursor = page.next_cursor.filter(|_| !page.entries.is_empty());
    Ok(HistoryPage { moves, next_cursor })
}

/// Deletes version `n` of a prompt, which must not be its newest version (`latest`) nor
/// be pointed at by any label (`conflict` naming them). Versions are otherwise immutable:
/// this is the only way one changes.
pub fn delete_version(b: &dyn Backend, viewer: Viewer, id: &str, n: u64) -> Result<(), Error> {
    for attempt in 0..MAX_ATTEMPTS {
        store::backoff(attempt);
        let (head, _) = load_visible(b, viewer, id)?;
        let missing = || Error::NotFound(format!("prompt '{id}' has no version {n}"));
        if n == 0 || n > head.version {
            return Err(missing());
        }
        if n == head.version {
            return Err(Error::Conflict(format!(
                "version {n} is the newest version of prompt '{id}' (label 'latest'); write a new version first or delete the prompt"
            )));
        }
        let entry = b.kv_get(&version_key(id, n))?.ok_or_else(missing)?;
        access::require(viewer, &decode_prompt(&entry)?, missing)?;
        let prefix = labels_prefix(id);
        let page = b.kv_query(&prefix, None, 1000)?;
        let mut pointing = Vec::new();
        let mut ops = vec![WriteOp::Delete {
            key: entry.key.clone(),
            precondition: Precondition::Version(entry.version),
        }];
        for e in page.entries {
            let s: Stored = decode(&e.key, &e.value)?;
            if s.version.is_none() || s.generation != head.created_at {
                continue;
            }
            if s.version == Some(n) {
                pointing.push(e.key[prefix.len()..].to_owned());
            }
            // Unchanged rewrites: a label moved onto `n` meanwhile makes this conflict.
            ops.push(WriteOp::Put {
                key: e.key,
                value: e.value,
                precondition: Precondition::Version(e.version),
            });
        }
        if !pointing.is_empty() {
            return Err(Error::Conflict(format!(
                "version {n} of prompt '{id}' is labelled {}; move or remove those labels first",
                pointing.join(", ")
            )));
        }
        match b.kv_transact(ops) {
            Ok(_) => return Ok(()),
            Err(KvError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(format!(
        "prompt '{id}' is being modified concurrently; try again"
    )))
}
