//! What importing one prompt file changes in the store: a [`Plan`] computed from the
//! file ([`super::prompt_file`]) and what is stored, which `mcp-prompts import` applies
//! and `import --dry-run` prints. Pure: reading and writing is the caller's.
//!
//! The store numbers the versions it writes (1, 2, … per prompt, and never rewrites one),
//! so a file's version numbers cannot be imposed; they are matched instead:
//!
//! - the file's `history` is matched in order against the stored versions, each entry to
//!   the first later stored version with the same content, preferring the one with its
//!   own number. Entries nothing matches must all come after the matched ones (they are
//!   new: written in order); an unmatched entry followed by a matched one would rewrite
//!   history and is an error;
//! - the top level is the newest version: when nothing new comes before it, it is
//!   written only if it differs from the stored newest version (what a plain import
//!   always did); otherwise it is written after the new history entries;
//! - a version equal in content to the one it would follow is not written (the handler
//!   answers `unchanged`): it maps to that one. So consecutive stored versions that differ
//!   only in their commit message import as one;
//! - `labels` (when the file has the key) are made exactly the file's, each pointing at
//!   the stored version its file version mapped to; stored labels the file does not list
//!   are removed. Stored versions the file does not have are kept.
//!
//! An export of a store with gapless histories therefore re-imports into an empty store
//! with the same numbers; one with gaps (deleted versions, or `--labelled-only`) is
//! renumbered, and the export of that store is then a fixed point.

use super::diff::{self, PromptDiff, Side};
use super::prompt_file::{PromptFile, content_of, same_content};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What the store holds for a prompt.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// Oldest first, each a complete stored prompt document.
    pub versions: Vec<Map<String, Value>>,
    /// Label → version, without `latest`.
    pub labels: BTreeMap<String, u64>,
}

/// Which stored version something ends up as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A version the store already has.
    Stored(u64),
    /// The version the plan's `writes[i]` creates.
    Written(usize),
}

/// A version to write (the first one of a new prompt creates it).
#[derive(Debug, Clone)]
pub struct Write {
    /// The document to send (an import document: replace semantics).
    pub doc: Map<String, Value>,
    /// The version number the store will most likely give it (the next free one).
    pub predicted: u64,
    /// From the version it follows to it (for people reading a dry run).
    pub diff: PromptDiff,
}

/// A label to set (`to` some) or remove (`to` none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMove {
    pub label: String,
    /// Where it points now; `None`: it does not exist.
    pub from: Option<u64>,
    pub to: Option<Target>,
}

/// Everything an import of one file would do.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    /// The prompt does not exist yet: `writes[0]` creates it.
    pub creates: bool,
    pub writes: Vec<Write>,
    pub labels: Vec<LabelMove>,
}

impl Plan {
    pub fn changes_nothing(&self) -> bool {
        self.writes.is_empty() && self.labels.is_empty()
    }

    /// The version number of `t`: for a write, its predicted number, or the one the
    /// store gave it when `written` says (after the writes, in order).
    pub fn number(&self, t: Target, written: &[u64]) -> u64 {
        match t {
            Target::Stored(n) => n,
            Target::Written(i) => written
                .get(i)
                .copied()
                .unwrap_or_else(|| self.writes.get(i).map(|w| w.predicted).unwrap_or(0)),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "history[{index}] (version {number}) matches no stored version, but later versions of the file do: \
         a store's history cannot be rewritten; change the prompt at the top level (a new version) instead"
    )]
    RewritesHistory { index: usize, number: u64 },
    #[error(
        "type {file:?} differs from the stored prompt's {stored:?}; the type is fixed at creation"
    )]
    TypeChange { file: String, stored: String },
}

fn number_of(doc: &Map<String, Value>) -> Option<u64> {
    doc.get("version").and_then(Value::as_u64)
}

/// A document to diff: its content plus its type (the diff compares both).
fn diffable(doc: &Map<String, Value>, kind: &str) -> Value {
    let mut c = content_of(doc);
    c.insert("type".into(), Value::String(kind.to_string()));
    Value::Object(c)
}

/// The plan for `file` (whose id is `id`) against what is stored (`None`: nothing).
pub fn plan(id: &str, file: &PromptFile, stored: Option<&Stored>) -> Result<Plan, PlanError> {
    let empty = Stored::default();
    let s = stored.unwrap_or(&empty);
    let stored_kind = s
        .versions
        .last()
        .and_then(|d| d.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("text")
        .to_string();
    if let (Some(file_kind), Some(_)) = (&file.kind, s.versions.last())
        && *file_kind != stored_kind
    {
        return Err(PlanError::TypeChange {
            file: file_kind.clone(),
            stored: stored_kind,
        });
    }
    let kind = file.kind.clone().unwrap_or(stored_kind);
    let Some((top, history)) = file.versions.split_last() else {
        // `prompt_file::parse` always gives the top level; nothing to do without it.
        return Ok(Plan {
            id: id.to_string(),
            creates: false,
            writes: Vec::new(),
            labels: Vec::new(),
        });
    };

    // History: matched in order; unmatched entries must form a suffix.
    let mut mapping: Vec<Option<Target>> = vec![None; file.versions.len()];
    let mut next = 0usize;
    let mut first_new: Option<usize> = None;
    for (i, h) in history.iter().enumerate() {
        let rest = s.versions.iter().enumerate().skip(next);
        let same_number = rest
            .clone()
            .find(|(_, d)| number_of(d) == h.number && same_content(&h.doc, d));
        let found = same_number.or_else(|| rest.clone().find(|(_, d)| same_content(&h.doc, d)));
        match (found, first_new) {
            (Some((j, d)), None) => {
                mapping[i] = number_of(d).map(Target::Stored);
                next = j + 1;
            }
            (Some(_), Some(u)) => {
                return Err(PlanError::RewritesHistory {
                    index: u,
                    number: history[u].number.unwrap_or(0),
                });
            }
            (None, None) => first_new = Some(i),
            (None, Some(_)) => {}
        }
    }

    // Writes: the unmatched history suffix, then the top level, each unless it equals
    // what it would follow.
    let head = s.versions.last();
    let base = head.and_then(number_of).unwrap_or(0);
    let mut writes: Vec<Write> = Vec::new();
    // What the next write follows: its target and document.
    let mut prev: Option<(Target, &Map<String, Value>)> =
        head.and_then(|d| number_of(d).map(|n| (Target::Stored(n), d)));
    let pending = first_new.map(|u| u..history.len()).unwrap_or(0..0);
    let top_index = file.versions.len() - 1;
    for i in pending.chain(std::iter::once(top_index)) {
        let v = if i == top_index { top } else { &history[i] };
        let target = match prev {
            Some((t, d)) if same_content(&v.doc, d) => t,
            _ => {
                let predicted = base + writes.len() as u64 + 1;
                let from = prev.map(|(t, d)| (t, diffable(d, &kind)));
                let (from_side, from_doc) = match &from {
                    Some((t, d)) => (
                        Side {
                            version: Some(match t {
                                Target::Stored(n) => *n,
                                Target::Written(k) => base + *k as u64 + 1,
                            }),
                            label: None,
                        },
                        d.clone(),
                    ),
                    None => (
                        Side {
                            version: None,
                            label: None,
                        },
                        Value::Object(Map::new()),
                    ),
                };
                let d = diff::diff(
                    id,
                    from_side,
                    &from_doc,
                    Side {
                        version: Some(predicted),
                        label: None,
                    },
                    &diffable(&v.doc, &kind),
                );
                writes.push(Write {
                    doc: v.doc.clone(),
                    predicted,
                    diff: d,
                });
                Target::Written(writes.len() - 1)
            }
        };
        mapping[i] = Some(target);
        prev = Some((target, &v.doc));
    }

    // Labels: exactly the file's, when it has them.
    let mut labels = Vec::new();
    if let Some(want) = &file.labels {
        for (name, n) in want {
            let Some(target) = file
                .versions
                .iter()
                .rposition(|v| v.number == Some(*n))
                .and_then(|i| mapping[i])
            else {
                // `prompt_file::parse` checked that every label's version is in the file.
                continue;
            };
            let from = s.labels.get(name).copied();
            if target == Target::Stored(from.unwrap_or(0)) {
                continue;
            }
            labels.push(LabelMove {
                label: name.clone(),
                from,
                to: Some(target),
            });
        }
        for (name, v) in &s.labels {
            if !want.contains_key(name) {
                labels.push(LabelMove {
                    label: name.clone(),
                    from: Some(*v),
                    to: None,
                });
            }
        }
    }
    Ok(Plan {
        id: id.to_string(),
        creates: s.versions.is_empty(),
        writes,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::prompt_file::{self, Versions};
    use serde_json::json;

    fn stored(n: u64, content: &str) -> Map<String, Value> {
        match json!({
            "id": "p", "name": "P", "description": null, "type": "text", "content": content,
            "messages": null, "isTemplate": false, "category": null, "tags": [],
            "variables": [], "version": n, "createdAt": "t", "updatedAt": "t",
            "accessLevel": "public", "author": null, "metadata": {}, "config": null,
            "message": null, "versionAuthor": null
        }) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn store(contents: &[(u64, &str)], labels: &[(&str, u64)]) -> Stored {
        Stored {
            versions: contents.iter().map(|(n, c)| stored(*n, c)).collect(),
            labels: labels.iter().map(|(l, n)| (l.to_string(), *n)).collect(),
        }
    }

    fn export(s: &Stored, which: Versions) -> PromptFile {
        let (text, _) = prompt_file::render(&s.versions, &s.labels, which).unwrap();
        prompt_file::parse(&text).unwrap()
    }

    #[test]
    fn an_export_re_imported_changes_nothing() {
        let s = store(&[(1, "a"), (2, "b"), (3, "c")], &[("production", 2)]);
        for which in [Versions::All, Versions::Labelled] {
            let p = plan("p", &export(&s, which), Some(&s)).unwrap();
            assert!(p.changes_nothing(), "{which:?}: {p:?}");
        }
    }

    #[test]
    fn into_an_empty_store_every_version_is_written_and_labels_follow() {
        let s = store(&[(1, "a"), (2, "b"), (3, "c")], &[("production", 2)]);
        let p = plan("p", &export(&s, Versions::All), None).unwrap();
        assert!(p.creates);
        let predicted: Vec<_> = p.writes.iter().map(|w| w.predicted).collect();
        assert_eq!(predicted, [1, 2, 3]);
        assert_eq!(
            p.labels,
            [LabelMove {
                label: "production".into(),
                from: None,
                to: Some(Target::Written(1))
            }]
        );
        // Labelled only: 2 and 3 become 1 and 2, and production follows its version.
        let p = plan("p", &export(&s, Versions::Labelled), None).unwrap();
        assert_eq!(p.writes.len(), 2);
        assert_eq!(p.number(p.labels[0].to.unwrap(), &[]), 1);
        // The renumbered store takes the original file as unchanged.
        let renumbered = store(&[(1, "b"), (2, "c")], &[("production", 1)]);
        let p = plan("p", &export(&s, Versions::Labelled), Some(&renumbered)).unwrap();
        assert!(p.changes_nothing(), "{p:?}");
    }

    #[test]
    fn an_edited_top_level_is_a_new_version_and_labels_move() {
        let s = store(&[(1, "a"), (2, "b")], &[("production", 1), ("old", 1)]);
        let mut f = export(&s, Versions::All);
        let top = f.versions.last_mut().unwrap();
        top.doc.insert("content".into(), json!("b, edited"));
        f.labels = Some(BTreeMap::from([("production".into(), 2)]));
        let p = plan("p", &f, Some(&s)).unwrap();
        assert!(!p.creates);
        assert_eq!(p.writes.len(), 1);
        assert_eq!(p.writes[0].predicted, 3);
        assert!(p.writes[0].diff.text.contains("+b, edited"), "{p:?}");
        assert_eq!(
            p.labels,
            [
                LabelMove {
                    label: "production".into(),
                    from: Some(1),
                    to: Some(Target::Written(0))
                },
                LabelMove {
                    label: "old".into(),
                    from: Some(1),
                    to: None
                },
            ]
        );
    }

    #[test]
    fn rewriting_history_is_refused_and_a_type_change_too() {
        let s = store(&[(1, "a"), (2, "b"), (3, "c")], &[]);
        let mut f = export(&s, Versions::All);
        f.versions[0].doc.insert("content".into(), json!("A"));
        assert_eq!(
            plan("p", &f, Some(&s)).unwrap_err(),
            PlanError::RewritesHistory {
                index: 0,
                number: 1
            }
        );
        let mut f = export(&s, Versions::All);
        f.kind = Some("chat".into());
        assert!(matches!(
            plan("p", &f, Some(&s)),
            Err(PlanError::TypeChange { .. })
        ));
    }

    #[test]
    fn new_history_entries_are_appended_in_order() {
        let s = store(&[(1, "a")], &[]);
        let longer = store(&[(1, "a"), (2, "b"), (3, "c")], &[("production", 2)]);
        let p = plan("p", &export(&longer, Versions::All), Some(&s)).unwrap();
        let predicted: Vec<_> = p.writes.iter().map(|w| w.predicted).collect();
        assert_eq!(predicted, [2, 3]);
        assert_eq!(p.labels[0].to, Some(Target::Written(0)));
    }
}
