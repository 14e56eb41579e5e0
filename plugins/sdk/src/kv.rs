//! Key-value helpers: JSON values, and read-modify-write with compare-and-set retries.
//!
//! Every entry carries a version assigned by the host. [`update_with_retry`] reads the
//! entry, computes the new value, and writes it on the condition that the version is
//! still the one it read; when another request wrote in between, the host answers
//! `conflict` and the loop starts over, at most [`MAX_ATTEMPTS`] times.
//!
//! The helpers take a [`Store`]; [`Host`] is the real one (the `kv` import). Plugin tests
//! can pass their own in-memory store.

use crate::wit::kv as host;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;

pub use host::{Entry, KvError, Page, Precondition};

/// Attempts [`update_with_retry`] makes before giving up with [`Error::Contended`].
pub const MAX_ATTEMPTS: usize = 8;

/// What the helpers need from storage: the calls of the WIT `kv` interface on one entry
/// and the prefix query.
pub trait Store {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>, KvError>;
    fn put(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        precondition: Precondition,
    ) -> Result<u64, KvError>;
    fn delete(
        &self,
        namespace: &str,
        key: &str,
        precondition: Precondition,
    ) -> Result<bool, KvError>;
    fn query(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page, KvError>;
}

/// The host's kv import.
#[derive(Debug, Clone, Copy, Default)]
pub struct Host;

impl Store for Host {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>, KvError> {
        host::get(namespace, key)
    }

    fn put(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        precondition: Precondition,
    ) -> Result<u64, KvError> {
        host::put(namespace, key, value, precondition)
    }

    fn delete(
        &self,
        namespace: &str,
        key: &str,
        precondition: Precondition,
    ) -> Result<bool, KvError> {
        host::delete(namespace, key, precondition)
    }

    fn query(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page, KvError> {
        host::query(namespace, prefix, cursor, limit)
    }
}

/// A helper's failure.
#[derive(Debug)]
pub enum Error {
    /// The host refused or failed the call.
    Kv(KvError),
    /// The stored value is not the JSON the caller expects.
    Decode {
        key: String,
        source: serde_json::Error,
    },
    /// The value could not be serialised.
    Encode(serde_json::Error),
    /// Every attempt of [`update_with_retry`] lost the race to another writer.
    Contended { key: String, attempts: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kv(KvError::Denied(m)) => write!(f, "kv denied: {m}"),
            Error::Kv(KvError::Conflict(k)) => write!(f, "kv conflict on '{k}'"),
            Error::Kv(KvError::Invalid(m)) => write!(f, "kv invalid argument: {m}"),
            Error::Kv(KvError::Unavailable(m)) => write!(f, "kv unavailable: {m}"),
            Error::Decode { key, source } => {
                write!(f, "'{key}' does not hold the expected JSON: {source}")
            }
            Error::Encode(e) => write!(f, "cannot encode the value as JSON: {e}"),
            Error::Contended { key, attempts } => {
                write!(
                    f,
                    "'{key}' kept changing under {attempts} attempts; try again"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        Error::Kv(e)
    }
}

/// A decoded value and the version it was stored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// Reads `key` and decodes it as JSON.
pub fn get_json<T: DeserializeOwned>(
    store: &impl Store,
    namespace: &str,
    key: &str,
) -> Result<Option<Versioned<T>>, Error> {
    let Some(entry) = store.get(namespace, key)? else {
        return Ok(None);
    };
    let value = serde_json::from_slice(&entry.value).map_err(|source| Error::Decode {
        key: key.to_owned(),
        source,
    })?;
    Ok(Some(Versioned {
        value,
        version: entry.version,
    }))
}

/// Writes `value` as JSON under `precondition`; returns the new version.
pub fn put_json<T: Serialize + ?Sized>(
    store: &impl Store,
    namespace: &str,
    key: &str,
    value: &T,
    precondition: Precondition,
) -> Result<u64, Error> {
    let bytes = serde_json::to_vec(value).map_err(Error::Encode)?;
    Ok(store.put(namespace, key, &bytes, precondition)?)
}

/// Read-modify-write of one JSON entry. `update` gets the current value (`None`: the
/// key does not exist) and returns the value to store; it may run several times, so it
/// must not have side effects. The write is conditional on the version read (or on the
/// key still being absent), so concurrent updates never overwrite each other.
pub fn update_with_retry<T, F>(
    store: &impl Store,
    namespace: &str,
    key: &str,
    mut update: F,
) -> Result<Versioned<T>, Error>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<T>) -> T,
{
    match try_update_with_retry(store, namespace, key, |old: Option<Versioned<T>>| {
        Ok::<T, std::convert::Infallible>(update(old.map(|v| v.value)))
    })? {
        Ok(v) => Ok(v),
        Err(never) => match never {},
    }
}

/// [`update_with_retry`] where `update` may refuse (e.g. the entry does not exist, or
/// its version is not the one the caller expects): its error is returned as the inner
/// `Err` and nothing is written.
pub fn try_update_with_retry<T, E, F>(
    store: &impl Store,
    namespace: &str,
    key: &str,
    mut update: F,
) -> Result<Result<Versioned<T>, E>, Error>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<Versioned<T>>) -> Result<T, E>,
{
    for _ in 0..MAX_ATTEMPTS {
        let current = get_json::<T>(store, namespace, key)?;
        let precondition = match &current {
            Some(v) => Precondition::Version(v.version),
            None => Precondition::Absent,
        };
        let next = match update(current) {
            Ok(next) => next,
            Err(e) => return Ok(Err(e)),
        };
        match put_json(store, namespace, key, &next, precondition) {
            Ok(version) => {
                return Ok(Ok(Versioned {
                    value: next,
                    version,
                }));
            }
            Err(Error::Kv(KvError::Conflict(_))) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Contended {
        key: key.to_owned(),
        attempts: MAX_ATTEMPTS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    /// In memory, with the host's version rules; `interfere` writes behind the caller's
    /// back before that many of its puts, as a concurrent request would.
    #[derive(Default)]
    struct Mem {
        map: RefCell<HashMap<String, (Vec<u8>, u64)>>,
        interfere: Cell<usize>,
        puts: Cell<usize>,
    }

    impl Store for Mem {
        fn get(&self, _: &str, key: &str) -> Result<Option<Entry>, KvError> {
            Ok(self.map.borrow().get(key).map(|(v, n)| Entry {
                key: key.to_owned(),
                value: v.clone(),
                version: *n,
            }))
        }

        fn put(&self, _: &str, key: &str, value: &[u8], p: Precondition) -> Result<u64, KvError> {
            self.puts.set(self.puts.get() + 1);
            let mut map = self.map.borrow_mut();
            if self.interfere.get() > 0 {
                self.interfere.set(self.interfere.get() - 1);
                let e = map.entry(key.to_owned()).or_insert((b"0".to_vec(), 0));
                e.1 += 1;
                e.0 = b"100".to_vec();
            }
            let current = map.get(key).map(|(_, n)| *n);
            let ok = match p {
                Precondition::None => true,
                Precondition::Absent => current.is_none(),
                Precondition::Version(v) => current == Some(v),
            };
            if !ok {
                return Err(KvError::Conflict(key.to_owned()));
            }
            let n = current.unwrap_or(0) + 1;
            map.insert(key.to_owned(), (value.to_vec(), n));
            Ok(n)
        }

        fn delete(&self, _: &str, key: &str, _: Precondition) -> Result<bool, KvError> {
            Ok(self.map.borrow_mut().remove(key).is_some())
        }

        fn query(&self, _: &str, prefix: &str, _: Option<&str>, _: u32) -> Result<Page, KvError> {
            let mut entries: Vec<Entry> = self
                .map
                .borrow()
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, (v, n))| Entry {
                    key: k.clone(),
                    value: v.clone(),
                    version: *n,
                })
                .collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(Page {
                entries,
                next_cursor: None,
            })
        }
    }

    #[test]
    fn json_round_trip_and_decode_errors() {
        let m = Mem::default();
        assert_eq!(get_json::<u32>(&m, "n", "k").unwrap(), None);
        assert_eq!(
            put_json(&m, "n", "k", &[1, 2], Precondition::Absent).unwrap(),
            1
        );
        let v = get_json::<Vec<u32>>(&m, "n", "k").unwrap().unwrap();
        assert_eq!((v.value, v.version), (vec![1, 2], 1));
        assert!(matches!(
            get_json::<String>(&m, "n", "k"),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            put_json(&m, "n", "k", &3, Precondition::Absent),
            Err(Error::Kv(KvError::Conflict(_)))
        ));
    }

    #[test]
    fn update_retries_lost_races_and_keeps_both_writes() {
        let m = Mem::default();
        let v = update_with_retry(&m, "n", "c", |old: Option<u64>| old.unwrap_or(0) + 1).unwrap();
        assert_eq!((v.value, v.version), (1, 1));
        // Two concurrent writers get in first: the update is redone on their value.
        m.interfere.set(2);
        let before = m.puts.get();
        let v = update_with_retry(&m, "n", "c", |old: Option<u64>| old.unwrap_or(0) + 1).unwrap();
        assert_eq!(v.value, 101);
        assert_eq!(m.puts.get() - before, 3);
    }

    #[test]
    fn try_update_can_refuse_without_writing() {
        let m = Mem::default();
        let r = try_update_with_retry(&m, "n", "c", |old: Option<Versioned<u64>>| match old {
            None => Err("absent"),
            Some(v) => Ok(v.value + 1),
        })
        .unwrap();
        assert_eq!(r, Err("absent"));
        assert_eq!(m.puts.get(), 0);
        assert!(m.query("n", "", None, 10).unwrap().entries.is_empty());
    }

    #[test]
    fn update_gives_up_after_max_attempts() {
        let m = Mem::default();
        m.interfere.set(usize::MAX);
        let e =
            update_with_retry(&m, "n", "c", |old: Option<u64>| old.unwrap_or(0) + 1).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Contended {
                    attempts: MAX_ATTEMPTS,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(m.puts.get(), MAX_ATTEMPTS);
    }
}
