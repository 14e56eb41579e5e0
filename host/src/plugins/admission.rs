//! Admission control: how many calls into one plugin, and how many requests on one route,
//! may be in flight at once. A permit is taken before a store is created or an instance
//! allocated. When none is free a call waits for one at most its gate's `wait` (a waiting
//! call holds no instance and no memory, only its task), then fails as `Busy` (503 with
//! `Retry-After`): a burst of cheap calls is queued for a moment instead of refused, and a
//! burst of expensive ones still cannot take every CPU slot from the rest of the server.
//!
//! Gates are made when a snapshot is loaded, so the request path touches only its own
//! semaphore. Semaphores are kept per name and limit for the life of the process: a reload
//! that keeps a plugin's limit keeps its semaphore, so calls of the old and new snapshot
//! share one cap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Which cap a gate counts against.
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

/// The cap of one plugin or route.
#[derive(Debug, Clone)]
pub struct Gate {
    /// `None`: uncapped.
    semaphore: Option<Arc<Semaphore>>,
    limit: usize,
    wait: Duration,
}

impl Gate {
    /// `limit` concurrent holders (0: uncapped); a caller beyond it waits up to `wait`
    /// (zero: refused at once).
    pub fn new(kind: Kind, name: &str, limit: usize, wait: Duration) -> Self {
        Self {
            semaphore: (limit > 0).then(|| semaphore(kind, name, limit)),
            limit,
            wait,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A permit, or `None` when the cap stayed full for the whole wait.
    pub async fn admit(&self) -> Option<Permit> {
        let Some(s) = &self.semaphore else {
            return Some(Permit(None));
        };
        if let Ok(p) = s.clone().try_acquire_owned() {
            return Some(Permit(Some(p)));
        }
        if self.wait.is_zero() {
            return None;
        }
        // The semaphore is never closed, so the only failure is the deadline.
        match tokio::time::timeout(self.wait, s.clone().acquire_owned()).await {
            Ok(Ok(p)) => Some(Permit(Some(p))),
            _ => None,
        }
    }
}

/// Held for the duration of a call or request.
#[derive(Debug)]
pub struct Permit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cap_is_shared_per_name_and_released_on_drop() {
        let now = Duration::ZERO;
        let gate = Gate::new(Kind::Plugin, "t-cap", 2, now);
        let a = gate.admit().await.unwrap();
        let _b = Gate::new(Kind::Plugin, "t-cap", 2, now)
            .admit()
            .await
            .unwrap();
        assert!(gate.admit().await.is_none());
        // Another name, or the same name as a route, has its own cap.
        assert!(
            Gate::new(Kind::Route, "t-cap", 2, now)
                .admit()
                .await
                .is_some()
        );
        assert!(
            Gate::new(Kind::Plugin, "t-other", 2, now)
                .admit()
                .await
                .is_some()
        );
        drop(a);
        assert!(gate.admit().await.is_some());
        assert!(
            Gate::new(Kind::Plugin, "t-cap", 0, now)
                .admit()
                .await
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_full_gate_queues_for_its_wait_then_refuses() {
        let gate = Gate::new(Kind::Plugin, "t-wait", 1, Duration::from_millis(200));
        let held = gate.admit().await.unwrap();
        // Freed while the second caller waits: it is admitted.
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.admit().await.is_some() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        assert!(waiter.await.unwrap());
        // Never freed: refused after the wait, not before.
        let _held = gate.admit().await.unwrap();
        let started = std::time::Instant::now();
        assert!(gate.admit().await.is_none());
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}
