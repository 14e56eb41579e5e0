//! The prompt file of `mcp-prompts export` and `import`: one prompt per file, made to
//! live in Git (docs/operations.md, "Prompts in Git").
//!
//! The top level is the prompt's newest version in exactly the shape the API and the
//! plain import take (so an exported file is also a valid single-prompt import file, and
//! an older importer reads it as one), plus two keys of its own:
//!
//! - `labels`: label name → version number (`latest` is implied and never listed);
//! - `history`: the older versions, oldest first, each with its `version`, `message`,
//!   `versionAuthor` and every client-settable field.
//!
//! Nothing volatile is written (no `createdAt`/`updatedAt`, no label move times), keys
//! come in a fixed order, JSON is pretty-printed with a trailing newline: an export of an
//! unchanged store is byte-identical, and a change is a small Git diff. Message content
//! and `config` travel as opaque JSON, so any shape the handler stores passes through.
//!
//! A file with `labels` or `history` is read strictly (an unknown key is an error, since
//! it is a typo that would otherwise be dropped silently); a file without them is a plain
//! prompt document in any dialect the handler accepts, as before.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The fields a client sets, which identify a version's content; server-set fields
/// (`version`, `createdAt`, `updatedAt`, `author`, `versionAuthor`) and the commit
/// `message` are not part of it.
pub const CONTENT_FIELDS: [&str; 11] = [
    "name",
    "description",
    "content",
    "messages",
    "isTemplate",
    "category",
    "tags",
    "variables",
    "accessLevel",
    "metadata",
    "config",
];

/// Keys of a version besides its content.
const VERSION_KEYS: [&str; 3] = ["version", "message", "versionAuthor"];
/// Keys only the top level has.
const TOP_KEYS: [&str; 5] = ["id", "type", "author", "labels", "history"];

/// Why a prompt file cannot be read; the caller names the file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("must be a JSON object (one prompt per file)")]
    NotObject,
    #[error(
        "unknown field {0:?}: a prompt file with \"labels\" or \"history\" takes only the prompt's fields, \"labels\" and \"history\""
    )]
    UnknownField(String),
    #[error("{field}: {message}")]
    Field { field: String, message: String },
}

fn field(field: impl Into<String>, message: impl Into<String>) -> FileError {
    FileError::Field {
        field: field.into(),
        message: message.into(),
    }
}

/// One version of a prompt file, oldest first; the last is the top level.
#[derive(Debug, Clone, PartialEq)]
pub struct FileVersion {
    /// The version number the file gives it, if any (informative: the store numbers
    /// what it writes; see `service::sync`).
    pub number: Option<u64>,
    /// The document to write for it: the file's fields as given (the top level without
    /// `labels`/`history`; a history entry with the prompt's `id` and `type` added).
    pub doc: Map<String, Value>,
}

/// A parsed prompt file.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptFile {
    pub id: Option<String>,
    /// `text` or `chat`; `None` when the file does not say (text on create).
    pub kind: Option<String>,
    /// Oldest first; never empty (the top level is the last).
    pub versions: Vec<FileVersion>,
    /// `None`: the file says nothing about labels (a plain prompt document), so the
    /// stored labels are left as they are. `Some`: exactly these labels, besides `latest`.
    pub labels: Option<BTreeMap<String, u64>>,
}

impl PromptFile {
    /// Whether this is the export format (with `labels` or `history`), not a plain
    /// prompt document.
    pub fn is_export(&self) -> bool {
        self.labels.is_some() || self.versions.len() > 1
    }
}

/// Reads one prompt file.
pub fn parse(text: &str) -> Result<PromptFile, FileError> {
    let value: Value = serde_json::from_str(text).map_err(|e| FileError::Json(e.to_string()))?;
    let Value::Object(mut top) = value else {
        return Err(FileError::NotObject);
    };
    let strict = top.contains_key("labels") || top.contains_key("history");
    let labels = match top.remove("labels") {
        None => None,
        Some(v) => Some(parse_labels(&v)?),
    };
    let history = match top.remove("history") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(field("history", "must be an array of versions")),
    };
    if strict {
        let known = |k: &str| {
            CONTENT_FIELDS.contains(&k) || VERSION_KEYS.contains(&k) || TOP_KEYS.contains(&k)
        };
        if let Some(k) = top.keys().find(|k| !known(k)) {
            return Err(FileError::UnknownField(k.clone()));
        }
    }
    let id = match top.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => return Err(field("id", "must be a non-empty string")),
    };
    let kind = match top.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t == "text" || t == "chat" => Some(t.clone()),
        Some(other) => {
            return Err(field(
                "type",
                format!("must be \"text\" or \"chat\", not {other}"),
            ));
        }
    };
    // A plain document's `version` is server-managed and dropped by the handler; old
    // catalog files carry things like "1.0.0" there, which must keep importing.
    let top_number = match version_number(&top, "version") {
        Ok(n) => n,
        Err(_) if !strict => None,
        Err(e) => return Err(e),
    };
    let mut versions = Vec::with_capacity(history.len() + 1);
    let mut last: Option<u64> = None;
    for (i, item) in history.into_iter().enumerate() {
        let path = format!("history[{i}]");
        let Value::Object(mut doc) = item else {
            return Err(field(path, "must be an object (one version)"));
        };
        if let Some(k) = doc
            .keys()
            .find(|k| !CONTENT_FIELDS.contains(&k.as_str()) && !VERSION_KEYS.contains(&k.as_str()))
        {
            return Err(field(
                format!("{path}.{k}"),
                "unknown field (a version has the prompt's fields, \"version\" and \"message\")",
            ));
        }
        let number = version_number(&doc, &format!("{path}.version"))?
            .ok_or_else(|| field(format!("{path}.version"), "is required"))?;
        if last.is_some_and(|l| number <= l) {
            return Err(field(
                format!("{path}.version"),
                "versions must be in ascending order",
            ));
        }
        last = Some(number);
        if let Some(id) = &id {
            doc.insert("id".into(), Value::String(id.clone()));
        }
        if let Some(kind) = &kind {
            doc.insert("type".into(), Value::String(kind.clone()));
        }
        versions.push(FileVersion {
            number: Some(number),
            doc,
        });
    }
    if let (Some(l), Some(t)) = (last, top_number)
        && t <= l
    {
        return Err(field(
            "version",
            format!("must be newer than the last version of \"history\" ({l})"),
        ));
    }
    if let Some(labels) = &labels {
        for (name, n) in labels {
            let known = top_number == Some(*n) || versions.iter().any(|v| v.number == Some(*n));
            if !known {
                return Err(field(
                    format!("labels.{name}"),
                    format!("version {n} is not in the file"),
                ));
            }
        }
    }
    if strict && id.is_none() {
        return Err(field("id", "is required in a file with labels or history"));
    }
    versions.push(FileVersion {
        number: top_number,
        doc: top,
    });
    Ok(PromptFile {
        id,
        kind,
        versions,
        labels,
    })
}

fn version_number(doc: &Map<String, Value>, name: &str) -> Result<Option<u64>, FileError> {
    match doc.get("version") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(field(name, "must be a positive integer")),
        },
    }
}

fn parse_labels(v: &Value) -> Result<BTreeMap<String, u64>, FileError> {
    let Value::Object(map) = v else {
        return Err(field(
            "labels",
            "must be an object of label name → version number",
        ));
    };
    let mut out = BTreeMap::new();
    for (name, n) in map {
        if name == "latest" {
            return Err(field(
                "labels.latest",
                "is implied (it always points at the newest version) and cannot be set",
            ));
        }
        match n.as_u64() {
            Some(n) if n > 0 => {
                out.insert(name.clone(), n);
            }
            _ => {
                return Err(field(
                    format!("labels.{name}"),
                    "must be a positive version number",
                ));
            }
        }
    }
    Ok(out)
}

/// A version's content in the stored shape, for comparing a file's version with a
/// stored one: the handler's defaults for absent fields and the common dialects
/// (`template`, `categories`, variables as names) are applied, as the prompt-store
/// handler applies them. `isTemplate` is left out when the file does not give it (the
/// handler derives it).
pub fn content_of(doc: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let get = |k: &str| doc.get(k).filter(|v| !v.is_null()).cloned();
    out.insert("name".into(), get("name").unwrap_or(Value::Null));
    out.insert(
        "description".into(),
        get("description").unwrap_or(Value::Null),
    );
    out.insert(
        "content".into(),
        get("content")
            .or_else(|| get("template"))
            .unwrap_or_else(|| Value::String(String::new())),
    );
    let messages = match get("messages") {
        Some(Value::Array(a)) if a.is_empty() => Value::Null,
        // An image compares by its hash, sent as bytes (files) or as a reference (store).
        Some(v) => super::media::comparable_messages(&v),
        None => Value::Null,
    };
    out.insert("messages".into(), messages);
    if let Some(t) = get("isTemplate") {
        out.insert("isTemplate".into(), t);
    }
    let category = if doc.contains_key("category") {
        get("category")
    } else {
        get("categories").and_then(|c| c.as_array().and_then(|a| a.first().cloned()))
    };
    out.insert("category".into(), category.unwrap_or(Value::Null));
    out.insert(
        "tags".into(),
        get("tags").unwrap_or_else(|| Value::Array(Vec::new())),
    );
    let variables = match get("variables") {
        Some(Value::Array(items)) => Value::Array(items.iter().map(variable).collect()),
        Some(other) => other,
        None => Value::Array(Vec::new()),
    };
    out.insert("variables".into(), variables);
    out.insert(
        "accessLevel".into(),
        get("accessLevel").unwrap_or_else(|| Value::String("public".into())),
    );
    out.insert(
        "metadata".into(),
        get("metadata").unwrap_or_else(|| Value::Object(Map::new())),
    );
    out.insert("config".into(), get("config").unwrap_or(Value::Null));
    out
}

/// A variable declaration in its stored shape (name, description, required, default).
fn variable(v: &Value) -> Value {
    let obj = match v {
        Value::String(name) => {
            return serde_json::json!({
                "name": name, "description": null, "required": true, "default": null
            });
        }
        Value::Object(obj) => obj,
        other => return other.clone(),
    };
    let get = |k: &str| obj.get(k).cloned().unwrap_or(Value::Null);
    let required = match obj.get("required") {
        None | Some(Value::Null) => Value::Bool(true),
        Some(r) => r.clone(),
    };
    serde_json::json!({
        "name": get("name"),
        "description": get("description"),
        "required": required,
        "default": get("default"),
    })
}

/// Whether a file's version has the same content as a stored one.
pub fn same_content(file: &Map<String, Value>, stored: &Map<String, Value>) -> bool {
    let a = content_of(file);
    let mut b = content_of(stored);
    if !a.contains_key("isTemplate") {
        b.remove("isTemplate");
    }
    a == b
}

/// The version number of a stored prompt document.
fn number(doc: &Map<String, Value>) -> Option<u64> {
    doc.get("version").and_then(Value::as_u64)
}

/// `doc[key]`, `null` when absent.
fn at<'a>(doc: &'a Map<String, Value>, key: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    doc.get(key).unwrap_or(&NULL)
}

/// The content fields of a stored version, in the fixed order of the file format.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContentOut<'a> {
    name: &'a Value,
    description: &'a Value,
    content: &'a Value,
    messages: &'a Value,
    is_template: &'a Value,
    category: &'a Value,
    tags: &'a Value,
    variables: &'a Value,
    access_level: &'a Value,
    metadata: &'a Value,
    config: &'a Value,
}

impl<'a> ContentOut<'a> {
    fn of(doc: &'a Map<String, Value>) -> Self {
        let get = |k: &str| at(doc, k);
        ContentOut {
            name: get("name"),
            description: get("description"),
            content: get("content"),
            messages: get("messages"),
            is_template: get("isTemplate"),
            category: get("category"),
            tags: get("tags"),
            variables: get("variables"),
            access_level: get("accessLevel"),
            metadata: get("metadata"),
            config: get("config"),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionOut<'a> {
    version: &'a Value,
    message: &'a Value,
    version_author: &'a Value,
    #[serde(flatten)]
    content: ContentOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopOut<'a> {
    id: &'a Value,
    #[serde(rename = "type")]
    kind: &'a Value,
    #[serde(flatten)]
    content: ContentOut<'a>,
    author: &'a Value,
    version: &'a Value,
    message: &'a Value,
    version_author: &'a Value,
    labels: &'a BTreeMap<String, u64>,
    history: Vec<VersionOut<'a>>,
}

/// Which versions an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    All,
    /// The newest and those a label points at.
    Labelled,
}

/// The file for a stored prompt: `versions` as the handler lists them (oldest first,
/// the newest last), `labels` without `latest`. Labels that point at a version not in
/// `versions` (one the reader may not see) are left out and returned.
pub fn render(
    versions: &[Map<String, Value>],
    labels: &BTreeMap<String, u64>,
    which: Versions,
) -> Result<(String, Vec<String>), FileError> {
    let Some((top, older)) = versions.split_last() else {
        return Err(field("versions", "a prompt has at least one version"));
    };
    let present: Vec<u64> = versions.iter().filter_map(number).collect();
    let (kept, dropped): (BTreeMap<_, _>, BTreeMap<_, _>) = labels
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .partition(|(_, v)| present.contains(v));
    let history = older
        .iter()
        .filter(|d| {
            which == Versions::All || number(d).is_some_and(|n| kept.values().any(|&v| v == n))
        })
        .map(|d| VersionOut {
            version: at(d, "version"),
            message: at(d, "message"),
            version_author: at(d, "versionAuthor"),
            content: ContentOut::of(d),
        })
        .collect();
    let out = TopOut {
        id: at(top, "id"),
        kind: at(top, "type"),
        content: ContentOut::of(top),
        author: at(top, "author"),
        version: at(top, "version"),
        message: at(top, "message"),
        version_author: at(top, "versionAuthor"),
        labels: &kept,
        history,
    };
    let mut text =
        serde_json::to_string_pretty(&out).map_err(|e| FileError::Json(e.to_string()))?;
    text.push('\n');
    Ok((text, dropped.into_keys().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn stored(n: u64, content: &str) -> Map<String, Value> {
        obj(json!({
            "id": "p", "name": "P", "description": null, "type": "text", "content": content,
            "messages": null, "isTemplate": false, "category": null, "tags": [],
            "variables": [], "version": n, "createdAt": "t", "updatedAt": "t",
            "accessLevel": "public", "author": null, "metadata": {}, "config": null,
            "message": format!("v{n}"), "versionAuthor": "dora"
        }))
    }

    #[test]
    fn render_then_parse_keeps_versions_and_labels() {
        let vs = vec![stored(1, "a"), stored(2, "b"), stored(3, "c")];
        let labels = BTreeMap::from([("production".to_string(), 2)]);
        let (text, dropped) = render(&vs, &labels, Versions::All).unwrap();
        assert!(dropped.is_empty());
        assert!(text.ends_with("}\n"));
        assert!(!text.contains("createdAt"), "{text}");
        let f = parse(&text).unwrap();
        assert_eq!(f.id.as_deref(), Some("p"));
        assert_eq!(f.kind.as_deref(), Some("text"));
        let numbers: Vec<_> = f.versions.iter().map(|v| v.number).collect();
        assert_eq!(numbers, [Some(1), Some(2), Some(3)]);
        assert_eq!(f.labels, Some(labels.clone()));
        assert!(same_content(&f.versions[1].doc, &vs[1]));
        assert!(!same_content(&f.versions[1].doc, &vs[2]));
        // Only labelled versions: 2 (production) and the newest.
        let (text, _) = render(&vs, &labels, Versions::Labelled).unwrap();
        let f = parse(&text).unwrap();
        let numbers: Vec<_> = f.versions.iter().map(|v| v.number).collect();
        assert_eq!(numbers, [Some(2), Some(3)]);
    }

    #[test]
    fn strict_files_name_what_is_wrong() {
        let bad = |v: Value| parse(&v.to_string()).unwrap_err();
        assert_eq!(
            bad(json!({"id": "p", "name": "P", "content": "x", "labels": {}, "colour": 1})),
            FileError::UnknownField("colour".into())
        );
        let e = bad(json!({"id": "p", "content": "x", "labels": {"production": 7}}));
        assert!(e.to_string().contains("labels.production"), "{e}");
        let e = bad(json!({"id": "p", "content": "x", "history": [{"content": "y"}]}));
        assert!(e.to_string().contains("history[0].version"), "{e}");
        let e = bad(json!({"id": "p", "type": "audio", "content": "x"}));
        assert!(e.to_string().contains("type"), "{e}");
        assert_eq!(parse("[1]").unwrap_err(), FileError::NotObject);
        assert!(matches!(parse("{").unwrap_err(), FileError::Json(_)));
        // A plain document keeps its dialect: unknown keys are the handler's business.
        let f = parse(&json!({"id": "p", "template": "x", "examples": []}).to_string()).unwrap();
        assert!(!f.is_export());
    }

    #[test]
    fn plain_documents_compare_with_the_handler_defaults() {
        let file = obj(json!({"id": "p", "name": "P", "content": "c", "variables": ["x"]}));
        let mut s = stored(1, "c");
        s.insert(
            "variables".into(),
            json!([{"name": "x", "description": null, "required": true, "default": null}]),
        );
        assert!(same_content(&file, &s));
    }
}
