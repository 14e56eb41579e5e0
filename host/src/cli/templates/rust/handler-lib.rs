//! @NAME@: a small prompt handler. Prompts are JSON documents in one kv namespace
//! (`[plugins.@NAME@.config] namespace`), one entry per prompt, keeping only the newest
//! version; `apply` renders through the host's `render` import (the plugin's
//! `renderer`). Labels other than `latest`, past versions and imports are not supported
//! and answer `forbidden`.
//!
//! The storage logic is plain Rust over the SDK's [`Store`], unit-tested natively with
//! `cargo test`; `glue` binds it to the WIT world `prompt-handler`.

use mcp_prompts_plugin_sdk::kv::{self, KvError, Precondition, Store, Versioned};
use serde_json::{Map, Value, json};

/// Why a call failed (mirrors the WIT `handler-error` cases used here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    NotFound(String),
    Invalid { field: String, message: String },
    Conflict(String),
    PreconditionFailed(String),
    Unavailable(String),
    Internal(String),
}

impl From<kv::Error> for Error {
    fn from(e: kv::Error) -> Self {
        match e {
            kv::Error::Kv(KvError::Unavailable(m)) => Error::Unavailable(m),
            kv::Error::Contended { .. } => Error::Conflict(e.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}

fn invalid(field: &str, message: &str) -> Error {
    Error::Invalid {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

const KEY_PREFIX: &str = "prompt/";

fn key(id: &str) -> String {
    format!("{KEY_PREFIX}{id}")
}

/// The stored fields of a prompt document sent by a client.
fn fields(json: &str) -> Result<Map<String, Value>, Error> {
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(json) else {
        return Err(invalid("", "the prompt must be a JSON object"));
    };
    let text = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_owned);
    let id = text("id").ok_or_else(|| invalid("id", "required, a string"))?;
    let id_ok = (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !id_ok {
        return Err(invalid("id", "1-64 of a-z, 0-9 and '-'"));
    }
    let content = text("content").ok_or_else(|| invalid("content", "required, a string"))?;
    let mut out = Map::new();
    out.insert("name".into(), json!(text("name").unwrap_or_else(|| id.clone())));
    out.insert("id".into(), json!(id));
    out.insert("description".into(), json!(text("description").unwrap_or_default()));
    out.insert("content".into(), json!(content));
    Ok(out)
}

fn with_version(mut doc: Map<String, Value>, version: u64) -> String {
    doc.insert("version".into(), json!(version));
    Value::Object(doc).to_string()
}

/// Stores a new prompt; `conflict` when the id exists.
pub fn create(store: &impl Store, ns: &str, json: &str) -> Result<String, Error> {
    let doc = fields(json)?;
    let id = doc["id"].as_str().unwrap_or_default().to_owned();
    match kv::put_json(store, ns, &key(&id), &doc, Precondition::Absent) {
        Ok(version) => Ok(with_version(doc, version)),
        Err(kv::Error::Kv(KvError::Conflict(_))) => {
            Err(Error::Conflict(format!("prompt '{id}' already exists")))
        }
        Err(e) => Err(e.into()),
    }
}

/// The prompt `id`; `version`: only if it is the stored one (past versions are not kept).
pub fn get(store: &impl Store, ns: &str, id: &str, version: Option<u64>) -> Result<String, Error> {
    let missing = || Error::NotFound(format!("prompt '{id}' not found"));
    let v: Versioned<Map<String, Value>> = kv::get_json(store, ns, &key(id))?.ok_or_else(missing)?;
    if version.is_some_and(|want| want != v.version) {
        return Err(Error::NotFound(format!(
            "prompt '{id}' has no version {} (only the newest is kept)",
            version.unwrap_or_default()
        )));
    }
    Ok(with_version(v.value, v.version))
}

/// Replaces the prompt's fields; `expected`: the version it must have now.
pub fn update(
    store: &impl Store,
    ns: &str,
    id: &str,
    json: &str,
    expected: Option<u64>,
) -> Result<String, Error> {
    let mut doc = fields(json)?;
    doc.insert("id".into(), json!(id));
    let r = kv::try_update_with_retry(store, ns, &key(id), |old: Option<Versioned<Value>>| {
        match old {
            None => Err(Error::NotFound(format!("prompt '{id}' not found"))),
            Some(v) if expected.is_some_and(|e| e != v.version) => Err(
                Error::PreconditionFailed(format!("prompt '{id}' is at version {}", v.version)),
            ),
            Some(_) => Ok(Value::Object(doc.clone())),
        }
    })??;
    match r.value {
        Value::Object(doc) => Ok(with_version(doc, r.version)),
        _ => Err(Error::Internal("stored prompt is not an object".into())),
    }
}

pub fn delete(store: &impl Store, ns: &str, id: &str) -> Result<(), Error> {
    match store.delete(ns, &key(id), Precondition::None) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::NotFound(format!("prompt '{id}' not found"))),
        Err(e) => Err(kv::Error::Kv(e).into()),
    }
}

/// One page of prompts (a JSON array) and the cursor of the next.
pub fn list(
    store: &impl Store,
    ns: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(String, Option<String>), Error> {
    let page = store
        .query(ns, KEY_PREFIX, cursor, limit.clamp(1, 100))
        .map_err(|e| Error::from(kv::Error::Kv(e)))?;
    let mut docs = Vec::new();
    for e in page.entries {
        let Ok(Value::Object(mut doc)) = serde_json::from_slice(&e.value) else {
            return Err(Error::Internal(format!("'{}' is not a JSON object", e.key)));
        };
        doc.insert("version".into(), json!(e.version));
        docs.push(Value::Object(doc));
    }
    Ok((Value::Array(docs).to_string(), page.next_cursor))
}

#[cfg(target_arch = "wasm32")]
mod glue;

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_prompts_plugin_sdk::kv::{Entry, Page};
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// In memory, with the host's version rules.
    #[derive(Default)]
    struct Mem(RefCell<BTreeMap<String, (Vec<u8>, u64)>>);

    impl Store for Mem {
        fn get(&self, _: &str, key: &str) -> Result<Option<Entry>, KvError> {
            Ok(self.0.borrow().get(key).map(|(v, n)| Entry {
                key: key.to_owned(),
                value: v.clone(),
                version: *n,
            }))
        }
        fn put(&self, _: &str, key: &str, value: &[u8], p: Precondition) -> Result<u64, KvError> {
            let mut map = self.0.borrow_mut();
            let cur = map.get(key).map(|(_, n)| *n);
            let ok = match p {
                Precondition::None => true,
                Precondition::Absent => cur.is_none(),
                Precondition::Version(v) => cur == Some(v),
            };
            if !ok {
                return Err(KvError::Conflict(key.to_owned()));
            }
            let n = cur.unwrap_or(0) + 1;
            map.insert(key.to_owned(), (value.to_vec(), n));
            Ok(n)
        }
        fn delete(&self, _: &str, key: &str, _: Precondition) -> Result<bool, KvError> {
            Ok(self.0.borrow_mut().remove(key).is_some())
        }
        fn query(&self, _: &str, prefix: &str, _: Option<&str>, _: u32) -> Result<Page, KvError> {
            let entries = self
                .0
                .borrow()
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, (v, n))| Entry {
                    key: k.clone(),
                    value: v.clone(),
                    version: *n,
                })
                .collect();
            Ok(Page {
                entries,
                next_cursor: None,
            })
        }
    }

    #[test]
    fn create_get_update_delete() {
        let m = Mem::default();
        let doc: Value =
            serde_json::from_str(&create(&m, "p", r#"{"id": "hi", "content": "Hi {{who}}"}"#).unwrap())
                .unwrap();
        assert_eq!((doc["version"].as_u64(), doc["name"].as_str()), (Some(1), Some("hi")));
        assert!(matches!(
            create(&m, "p", r#"{"id": "hi", "content": "x"}"#),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(create(&m, "p", r#"{"id": "Hi!"}"#), Err(Error::Invalid { .. })));
        let updated = update(&m, "p", "hi", r#"{"id": "hi", "content": "Hello"}"#, Some(1)).unwrap();
        assert!(updated.contains(r#""version":2"#), "{updated}");
        assert!(matches!(
            update(&m, "p", "hi", r#"{"id": "hi", "content": "x"}"#, Some(1)),
            Err(Error::PreconditionFailed(_))
        ));
        assert!(get(&m, "p", "hi", None).unwrap().contains("Hello"));
        assert!(matches!(get(&m, "p", "hi", Some(1)), Err(Error::NotFound(_))));
        let (page, _) = list(&m, "p", None, 20).unwrap();
        assert_eq!(serde_json::from_str::<Vec<Value>>(&page).unwrap().len(), 1);
        delete(&m, "p", "hi").unwrap();
        assert!(matches!(delete(&m, "p", "hi"), Err(Error::NotFound(_))));
    }
}
