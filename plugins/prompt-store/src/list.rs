//! Filtered, paginated listing over the `p/` heads.
//!
//! Prompts the caller may not read (see [`crate::access`]) are filtered out like any
//! other non-match, so pages stay full and cursors stay stable.

use crate::access::{Viewer, can_read};
use crate::backend::{Backend, Entry, Error, KvError};
use crate::cursor::{self, ListCursor};
use crate::labels;
use crate::model::{AccessLevel, Prompt};
use crate::store::{decode_prompt, head_key};

const HEAD_PREFIX: &str = "p/";
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;
/// kv page size while filtering: large enough to need few round trips, small enough that
/// a page of big prompt bodies stays a few MiB.
const FILTERED_BATCH: u32 = 100;

/// Mirrors WIT `prompts.list-query`.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub text: Option<String>,
    pub access_level: Option<String>,
    /// Only prompts that have this label (`latest`: every prompt).
    pub label: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// One page: prompts as a JSON array, and where to continue.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub prompts: Vec<Prompt>,
    pub next_cursor: Option<String>,
}

/// The query's filters, lower-cased once, and who is asking.
struct Filter<'a> {
    viewer: Viewer<'a>,
    category: Option<String>,
    tags: Vec<String>,
    text: Option<String>,
    access_level: Option<AccessLevel>,
    label: Option<String>,
}

fn non_blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl<'a> Filter<'a> {
    fn new(q: &Query, viewer: Viewer<'a>) -> Result<Self, Error> {
        let access_level = match non_blank(&q.access_level) {
            None => None,
            Some(s) => Some(AccessLevel::parse(&s.to_lowercase()).ok_or_else(|| {
                Error::invalid(
                    "accessLevel",
                    "must be one of \"public\", \"private\", \"premium\"",
                )
            })?),
        };
        Ok(Filter {
            viewer,
            category: non_blank(&q.category).map(str::to_lowercase),
            tags: q
                .tags
                .iter()
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
            text: non_blank(&q.text).map(str::to_lowercase),
            access_level,
            label: match non_blank(&q.label) {
                None | Some(labels::LATEST) => None,
                Some(l) if labels::is_valid_label(l) => Some(l.to_owned()),
                Some(l) => {
                    return Err(Error::invalid(
                        "label",
                        format!("{l:?} is not a valid label"),
                    ));
                }
            },
        })
    }

    /// Whether the query filters nothing but access (which most prompts pass).
    fn is_empty(&self) -> bool {
        self.category.is_none()
            && self.tags.is_empty()
            && self.text.is_none()
            && self.access_level.is_none()
            && self.label.is_none()
    }

    /// [`Self::matches`] plus the label filter, which needs a kv read per candidate (so
    /// it runs last, on prompts that passed everything else).
    fn accepts(&self, b: &dyn Backend, p: &Prompt) -> bool {
        if !self.matches(p) {
            return false;
        }
        match &self.label {
            None => true,
            Some(l) => match labels::points_at(b, p, l) {
                Ok(found) => found.is_some(),
                Err(e) => {
                    b.warn(&format!("skipping '{}' in a label listing: {e:?}", p.id));
                    false
                }
            },
        }
    }

    fn matches(&self, p: &Prompt) -> bool {
        if !can_read(self.viewer, p) {
            return false;
        }
        if let Some(level) = self.access_level
            && p.access_level != level
        {
            return false;
        }
        if let Some(cat) = &self.category
            && p.category
                .as_deref()
                .is_none_or(|c| c.to_lowercase() != *cat)
        {
            return false;
        }
        if !self.tags.is_empty() {
            let have: Vec<String> = p.tags.iter().map(|t| t.to_lowercase()).collect();
            if !self.tags.iter().all(|t| have.contains(t)) {
                return false;
            }
        }
        if let Some(text) = &self.text {
            let hit = p.name.to_lowercase().contains(text)
                || p.description
                    .as_deref()
                    .is_some_and(|d| d.to_lowercase().contains(text))
                || p.content.to_lowercase().contains(text)
                || p.messages.iter().flatten().any(|item| match item {
                    crate::model::ChatItem::Message(m) => m
                        .content
                        .texts()
                        .iter()
                        .any(|t| t.to_lowercase().contains(text)),
                    crate::model::ChatItem::Placeholder(_) => false,
                });
            if !hit {
                return false;
            }
        }
        true
    }
}

/// Decodes a listed head; a corrupt entry is skipped (and logged if `log`) rather than
/// making every listing fail.
fn decode_listed(b: &dyn Backend, entry: &Entry, log: bool) -> Option<Prompt> {
    match decode_prompt(entry) {
        Ok(p) => Some(p),
        Err(e) => {
            if log {
                b.warn(&format!("skipping unreadable entry in listing: {e:?}"));
            }
            None
        }
    }
}

/// Returns up to `limit` matches in id order. Keeps reading kv pages until the page is
/// full or the heads run out, so filters never produce short pages in the middle; the
/// next cursor is set only if further matches may exist.
pub fn list(b: &dyn Backend, viewer: Viewer, q: &Query) -> Result<ListPage, Error> {
    let limit = match q.limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    } as usize;
    let filter = Filter::new(q, viewer)?;
    let bad_cursor = || Error::invalid("cursor", "is not a cursor returned by this listing");
    let start = match &q.cursor {
        None => None,
        Some(text) => Some(cursor::decode(text).ok_or_else(bad_cursor)?),
    };
    let after_key = start.as_ref().map(|c| head_key(&c.after_id));
    let mut kv_cursor = start.and_then(|c| c.kv_cursor);
    let mut first_query = true;
    let mut out: Vec<Prompt> = Vec::with_capacity(limit);

    loop {
        let remaining = (limit - out.len()) as u32;
        // Unfiltered, every entry is a match: read exactly what is missing so the page
        // ends on a kv page boundary.
        let batch = if filter.is_empty() {
            remaining
        } else {
            remaining.max(FILTERED_BATCH)
        };
        let page = match b.kv_query(HEAD_PREFIX, kv_cursor.as_deref(), batch) {
            Ok(page) => page,
            // The kv cursor inside the client's cursor was not accepted.
            Err(KvError::Invalid(_)) if first_query && kv_cursor.is_some() => {
                return Err(bad_cursor());
            }
            Err(e) => return Err(e.into()),
        };
        first_query = false;

        let mut entries = page.entries.iter();
        while let Some(entry) = entries.next() {
            // Re-read part of the page the previous listing stopped in.
            if after_key
                .as_ref()
                .is_some_and(|after| entry.key.as_str() <= after.as_str())
            {
                continue;
            }
            let Some(p) = decode_listed(b, entry, true) else {
                continue;
            };
            if !filter.accepts(b, &p) {
                continue;
            }
            out.push(p);
            if out.len() < limit {
                continue;
            }
            let after_id = out.last().map(|p| p.id.clone()).unwrap_or_default();
            // Look at the rest of this page so that a listing that has ended does not
            // hand out a cursor to an empty page.
            let more_here =
                entries.any(|e| decode_listed(b, e, false).is_some_and(|p| filter.accepts(b, &p)));
            let resume_at = if more_here {
                Some(kv_cursor.clone())
            } else {
                page.next_cursor.clone().map(Some)
            };
            let next_cursor = resume_at.map(|kv_cursor| {
                cursor::encode(&ListCursor {
                    kv_cursor,
                    after_id,
                })
            });
            return Ok(ListPage {
                prompts: out,
                next_cursor,
            });
        }

        match page.next_cursor {
            // Guard against a store that returns the same cursor forever.
            Some(next) if !page.entries.is_empty() || kv_cursor.as_ref() != Some(&next) => {
                kv_cursor = Some(next);
            }
            _ => {
                return Ok(ListPage {
                    prompts: out,
                    next_cursor: None,
                });
            }
        }
    }
}

pub fn to_json(page: &ListPage) -> Result<String, Error> {
    serde_json::to_string(&page.prompts)
        .map_err(|e| Error::Internal(format!("cannot serialise page: {e}")))
}
