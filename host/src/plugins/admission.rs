//! Admission control: how many calls into one plugin, and how many requests on one route,
//! may be in flight at once. A permit is taken before a store is created or an instance
//! allocated; when none is free the call fails at once as `Busy` (503 with `Retry-After`),
//! so a burst of expensive calls cannot take every CPU slot from the rest of the server.
//!
//! Semaphores are kept per name and limit for the life of the process: a reload that keeps
//! a plugin's limit keeps its semaphore, so calls of the old and new snapshot share one cap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Which cap a permit counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Plugin,
    Route,
}

type Key = (Kind, String, usize);

fn table() -> &'static Mutex<HashMap<Key, Arc<Semaphore>>> {
    static T: OnceLock<Mutex<HashMap<Key, Arc<Semaphore>>>> = OnceLock::new();
    T.get_or_init(Default::default)
}

fn semaphore(kind: Kind, name: &str, limit: usize) -> Arc<Semaphore> {
    let mut t = match table().lock() {
        Ok(t) => t,
        Err(poisoned) => poisoned.into_inner(),
    };
    // Drop semaphores of limits no longer in use (nobody holds a permit and only the
    // table refers to them), so repeated reloads do not grow the table.
    t.retain(|(k, n, l), s| {
        let stale = *k == kind && n == name && *l != limit;
        !stale || Arc::strong_count(s) > 1
    });
    t.entry((kind, name.to_string(), limit))
        .or_insert_with(|| Arc::new(Semaphore::new(limit)))
        .clone()
}

/// Takes a permit for `name` under `limit` concurrent holders, or `None` when all are
/// taken. `limit == 0` means uncapped.
pub fn try_admit(kind: Kind, name: &str, limit: usize) -> Option<Permit> {
    if limit == 0 {
        return Some(Permit(None));
    }
    semaphore(kind, name, limit)
        .try_acquire_owned()
        .ok()
        .map(|p| Permit(Some(p)))
}

/// Held for the duration of a call or request.
#[derive(Debug)]
pub struct Permit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_is_shared_per_name_and_released_on_drop() {
        let a = try_admit(Kind::Plugin, "t-cap", 2).unwrap();
        let _b = try_admit(Kind::Plugin, "t-cap", 2).unwrap();
        assert!(try_admit(Kind::Plugin, "t-cap", 2).is_none());
        // Another name, or the same name as a route, has its own cap.
        assert!(try_admit(Kind::Route, "t-cap", 2).is_some());
        assert!(try_admit(Kind::Plugin, "t-other", 2).is_some());
        drop(a);
        assert!(try_admit(Kind::Plugin, "t-cap", 2).is_some());
        assert!(try_admit(Kind::Plugin, "t-cap", 0).is_some());
    }
}
