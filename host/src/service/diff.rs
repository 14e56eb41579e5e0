//! What changed between two versions of a prompt: a unified line diff of the text (a
//! text prompt's `content`, a chat prompt's messages) and a structural diff of the
//! fields that are data rather than text (config, tags, variables, access level, and
//! the small scalar fields).
//!
//! Pure functions over the prompt documents as the handler returned them, so every
//! transport (REST, MCP tool, CLI) shows the same diff, for any prompt-handler plugin
//! that keeps the default model's field names. Fields a document lacks compare as
//! `null` (documents written before a field existed diff cleanly against newer ones).

use serde::Serialize;
use serde_json::{Map, Value};
use similar::TextDiff;

/// Lines of context around each change in [`PromptDiff::text`].
pub const CONTEXT_LINES: usize = 3;

/// Deepest nesting [`json_changes`] descends into; below it a differing value is
/// reported as one change (configs are small; this bounds the work on odd input).
const MAX_DEPTH: usize = 32;

/// One side of a diff: the version, and the label that addressed it, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Side {
    pub version: Option<u64>,
    pub label: Option<String>,
}

/// One change inside a JSON value; `path` is a JSON pointer (RFC 6901) into it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub path: String,
    pub op: Op,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Added,
    Removed,
    Changed,
}

/// A field whose value differs: `from` and `to` as the documents hold them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub from: Value,
    pub to: Value,
}

/// Tags added and removed (order is not a change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Variables by name: added, removed, and declared differently.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VariablesDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<FieldChangeNamed>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChangeNamed {
    pub name: String,
    pub from: Value,
    pub to: Value,
}

/// The whole diff, as REST, MCP and the CLI show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptDiff {
    pub id: String,
    pub from: Side,
    pub to: Side,
    /// Whether nothing a client can set differs.
    pub identical: bool,
    /// Unified diff (`---`/`+++`/`@@` hunks) of the text; `""` when the text is equal.
    pub text: String,
    /// Changes inside `config` (`null` and absent compare as no config).
    pub config: Vec<Change>,
    pub tags: SetDiff,
    pub variables: VariablesDiff,
    /// `accessLevel` when it differs.
    pub access_level: Option<FieldChange>,
    /// The other scalar fields that differ: `type`, `name`, `description`, `category`,
    /// `isTemplate`, `metadata`.
    pub fields: Vec<FieldChange>,
}

/// Diffs document `a` (the `from` side) against `b`.
pub fn diff(id: &str, from: Side, a: &Value, to: Side, b: &Value) -> PromptDiff {
    let name = |side: &Side| match (&side.label, side.version) {
        (Some(l), Some(v)) => format!("{id}@{l} (version {v})"),
        (None, Some(v)) => format!("{id}@{v}"),
        (Some(l), None) => format!("{id}@{l}"),
        (None, None) => id.to_string(),
    };
    let text = unified(&text_of(a), &text_of(b), &name(&from), &name(&to));
    let config = json_changes(&object_or_null(a, "config"), &object_or_null(b, "config"));
    let tags = set_diff(&strings(a, "tags"), &strings(b, "tags"));
    let variables = variables_diff(a, b);
    let access_level = field_change("accessLevel", a, b);
    let fields: Vec<FieldChange> = [
        "type",
        "name",
        "description",
        "category",
        "isTemplate",
        "metadata",
    ]
    .into_iter()
    .filter_map(|f| field_change(f, a, b))
    .collect();
    let identical = text.is_empty()
        && config.is_empty()
        && tags.added.is_empty()
        && tags.removed.is_empty()
        && variables.added.is_empty()
        && variables.removed.is_empty()
        && variables.changed.is_empty()
        && access_level.is_none()
        && fields.is_empty();
    PromptDiff {
        id: id.to_string(),
        from,
        to,
        identical,
        text,
        config,
        tags,
        variables,
        access_level,
        fields,
    }
}

/// The text a line diff compares: a text prompt's content, or a chat prompt's messages,
/// each introduced by a `[role]` line (`[placeholder NAME]` for a placeholder) so that
/// a changed role shows as a changed line.
pub fn text_of(doc: &Value) -> String {
    match doc.get("messages").and_then(Value::as_array) {
        Some(items) => {
            let mut out = String::new();
            for item in items {
                if item.get("type").and_then(Value::as_str) == Some("placeholder") {
                    let name = item.get("name").and_then(Value::as_str).unwrap_or("");
                    out.push_str(&format!("[placeholder {name}]\n"));
                    continue;
                }
                let role = item.get("role").and_then(Value::as_str).unwrap_or("?");
                out.push_str(&format!("[{role}]\n"));
                match item.get("content") {
                    Some(Value::Array(blocks)) => {
                        for b in blocks {
                            push_line(&mut out, &block_text(b));
                        }
                    }
                    c => push_line(&mut out, c.and_then(Value::as_str).unwrap_or("")),
                }
            }
            out
        }
        None => doc
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

fn push_line(out: &mut String, text: &str) {
    out.push_str(text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
}

/// A content block as diff lines: a text block's text, the other blocks as one line
/// naming what they hold (an image by type and hash, so a changed image shows).
fn block_text(b: &Value) -> String {
    let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("");
    match s("type") {
        "text" => s("text").to_string(),
        "image" => format!("[image {} sha256:{}]", s("mimeType"), s("sha256")),
        "resource" => {
            let r = b.get("resource");
            let rs = |k: &str| {
                r.and_then(|r| r.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            };
            format!("[resource {}]\n{}", rs("uri"), rs("text"))
        }
        "resource_link" => format!("[resource link {} {}]", s("name"), s("uri")),
        other => format!("[{other}]"),
    }
}

/// A unified diff of `a` and `b` with file names `from`/`to`; `""` when equal.
pub fn unified(a: &str, b: &str, from: &str, to: &str) -> String {
    if a == b {
        return String::new();
    }
    TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .missing_newline_hint(true)
        .header(from, to)
        .to_string()
}

/// Every difference between two JSON values, depth first, objects by key (sorted) and
/// arrays by index.
pub fn json_changes(a: &Value, b: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(a, b, &mut String::new(), 0, &mut out);
    out
}

fn walk(a: &Value, b: &Value, path: &mut String, depth: usize, out: &mut Vec<Change>) {
    if a == b {
        return;
    }
    let at = |path: &str| {
        if path.is_empty() {
            "/".to_string()
        } else {
            path.to_string()
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if depth < MAX_DEPTH => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let len = path.len();
                path.push('/');
                path.push_str(&escape(k));
                match (x.get(k), y.get(k)) {
                    (Some(v), None) => out.push(Change {
                        path: path.clone(),
                        op: Op::Removed,
                        from: Some(v.clone()),
                        to: None,
                    }),
                    (None, Some(v)) => out.push(Change {
                        path: path.clone(),
                        op: Op::Added,
                        from: None,
                        to: Some(v.clone()),
                    }),
                    (Some(v), Some(w)) => walk(v, w, path, depth + 1, out),
                    (None, None) => {}
                }
                path.truncate(len);
            }
        }
        (Value::Array(x), Value::Array(y)) if depth < MAX_DEPTH => {
            for i in 0..x.len().max(y.len()) {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                match (x.get(i), y.get(i)) {
                    (Some(v), None) => out.push(Change {
                        path: path.clone(),
                        op: Op::Removed,
                        from: Some(v.clone()),
                        to: None,
                    }),
                    (None, Some(v)) => out.push(Change {
                        path: path.clone(),
                        op: Op::Added,
                        from: None,
                        to: Some(v.clone()),
                    }),
                    (Some(v), Some(w)) => walk(v, w, path, depth + 1, out),
                    (None, None) => {}
                }
                path.truncate(len);
            }
        }
        (Value::Null, v) => out.push(Change {
            path: at(path),
            op: Op::Added,
            from: None,
            to: Some(v.clone()),
        }),
        (v, Value::Null) => out.push(Change {
            path: at(path),
            op: Op::Removed,
            from: Some(v.clone()),
            to: None,
        }),
        _ => out.push(Change {
            path: at(path),
            op: Op::Changed,
            from: Some(a.clone()),
            to: Some(b.clone()),
        }),
    }
}

/// RFC 6901 escaping of one reference token.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn object_or_null(doc: &Value, key: &str) -> Value {
    match doc.get(key) {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => Value::Null,
    }
}

fn strings(doc: &Value, key: &str) -> Vec<String> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn set_diff(a: &[String], b: &[String]) -> SetDiff {
    let mut added: Vec<String> = b.iter().filter(|t| !a.contains(t)).cloned().collect();
    let mut removed: Vec<String> = a.iter().filter(|t| !b.contains(t)).cloned().collect();
    added.sort();
    added.dedup();
    removed.sort();
    removed.dedup();
    SetDiff { added, removed }
}

/// Declared variables by name (a plain-string variable is `{"name": it}`).
fn variables(doc: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for v in doc
        .get("variables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match v {
            Value::String(name) => {
                out.insert(name.clone(), serde_json::json!({ "name": name }));
            }
            Value::Object(o) => {
                if let Some(name) = o.get("name").and_then(Value::as_str) {
                    out.insert(name.to_string(), v.clone());
                }
            }
            _ => {}
        }
    }
    out
}

fn variables_diff(a: &Value, b: &Value) -> VariablesDiff {
    let (x, y) = (variables(a), variables(b));
    let mut d = VariablesDiff::default();
    for (name, v) in &x {
        match y.get(name) {
            None => d.removed.push(name.clone()),
            Some(w) if w != v => d.changed.push(FieldChangeNamed {
                name: name.clone(),
                from: v.clone(),
                to: w.clone(),
            }),
            Some(_) => {}
        }
    }
    d.added = y.keys().filter(|k| !x.contains_key(*k)).cloned().collect();
    d
}

fn field_change(field: &'static str, a: &Value, b: &Value) -> Option<FieldChange> {
    let get = |d: &Value| d.get(field).cloned().unwrap_or(Value::Null);
    let (from, to) = (get(a), get(b));
    // A document without `type` is a text prompt (written before chat prompts).
    let norm = |v: Value| match (field, v) {
        ("type", Value::Null) => Value::from("text"),
        (_, v) => v,
    };
    let (from, to) = (norm(from), norm(to));
    (from != to).then_some(FieldChange { field, from, to })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn side(v: u64) -> Side {
        Side {
            version: Some(v),
            label: None,
        }
    }

    #[test]
    fn text_prompts_diff_by_line() {
        let a =
            json!({"content": "one\ntwo\nthree\n", "tags": ["a", "b"], "accessLevel": "public"});
        let b = json!({"content": "one\n2\nthree\n", "tags": ["b", "c"], "accessLevel": "private"});
        let d = diff("p", side(1), &a, side(2), &b);
        assert!(!d.identical);
        assert!(d.text.starts_with("--- p@1\n+++ p@2\n@@"), "{}", d.text);
        assert!(d.text.contains("-two\n+2\n"), "{}", d.text);
        assert_eq!(d.tags.added, ["c"]);
        assert_eq!(d.tags.removed, ["a"]);
        assert_eq!(
            d.access_level,
            Some(FieldChange {
                field: "accessLevel",
                from: json!("public"),
                to: json!("private")
            })
        );
    }

    #[test]
    fn chat_messages_diff_with_their_roles() {
        let a = json!({"type": "chat", "messages": [
            {"role": "system", "content": "Be brief."},
            {"type": "placeholder", "name": "history"}
        ]});
        let b = json!({"type": "chat", "messages": [
            {"role": "user", "content": "Be brief."},
            {"type": "placeholder", "name": "history"}
        ]});
        let d = diff("c", side(1), &a, side(2), &b);
        assert!(d.text.contains("-[system]\n+[user]\n"), "{}", d.text);
        assert!(d.text.contains(" [placeholder history]"), "{}", d.text);
    }

    #[test]
    fn config_and_variables_diff_structurally() {
        let a = json!({"config": {"model": "m1", "temperature": 0.2, "tools": [{"name": "x"}]},
            "variables": ["a", {"name": "b", "default": 1}]});
        let b = json!({"config": {"model": "m2", "tools": [{"name": "x"}, {"name": "y"}], "top_p": 1},
            "variables": [{"name": "b", "default": 2}, "c"]});
        let d = diff("p", side(1), &a, side(2), &b);
        let got: Vec<(&str, Op)> = d.config.iter().map(|c| (c.path.as_str(), c.op)).collect();
        assert_eq!(
            got,
            [
                ("/model", Op::Changed),
                ("/temperature", Op::Removed),
                ("/tools/1", Op::Added),
                ("/top_p", Op::Added)
            ]
        );
        assert_eq!(d.variables.added, ["c"]);
        assert_eq!(d.variables.removed, ["a"]);
        assert_eq!(d.variables.changed[0].name, "b");
        // No config on one side: the whole object is added.
        let d = diff(
            "p",
            side(1),
            &json!({}),
            side(2),
            &json!({"config": {"k": 1}}),
        );
        assert_eq!(d.config[0].path, "/");
        assert_eq!(d.config[0].op, Op::Added);
    }

    #[test]
    fn missing_type_is_text() {
        let d = diff(
            "p",
            side(1),
            &json!({"content": "x"}),
            side(2),
            &json!({"type": "text", "content": "x"}),
        );
        assert!(d.identical, "{d:?}");
        assert_eq!(escape("a/b~c"), "a~1b~0c");
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-5i64..5).prop_map(Value::from),
            "[a-c]{0,2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A value never differs from itself, and two values differ exactly when the
        /// diff reports a change.
        #[test]
        fn json_changes_are_empty_exactly_for_equal_values(a in json_value(), b in json_value()) {
            prop_assert!(json_changes(&a, &a).is_empty());
            prop_assert_eq!(json_changes(&a, &b).is_empty(), a == b);
        }

        /// Every reported path points at the values it claims in both documents.
        #[test]
        fn change_paths_point_at_their_values(a in json_value(), b in json_value()) {
            for c in json_changes(&a, &b) {
                let ptr = if c.path == "/" { "" } else { c.path.as_str() };
                let pick = |v: &Value| v.pointer(ptr).filter(|x| !x.is_null()).cloned();
                prop_assert_eq!(pick(&a), c.from.clone().filter(|x| !x.is_null()));
                prop_assert_eq!(pick(&b), c.to.clone().filter(|x| !x.is_null()));
            }
        }

        /// The unified diff is empty exactly for equal texts; a removed line comes from
        /// the old text and an added one from the new.
        #[test]
        fn unified_diff_lines_come_from_their_side(a in "([ab]{0,3}\n){0,6}", b in "([ab]{0,3}\n){0,6}") {
            let d = unified(&a, &b, "a", "b");
            prop_assert_eq!(d.is_empty(), a == b);
            for line in d.lines().skip(2) {
                if let Some(x) = line.strip_prefix('-') {
                    prop_assert!(a.lines().any(|l| l == x), "{line:?} not in {a:?}");
                } else if let Some(x) = line.strip_prefix('+') {
                    prop_assert!(b.lines().any(|l| l == x), "{line:?} not in {b:?}");
                }
            }
        }
    }
}
