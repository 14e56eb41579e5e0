//! Instances kept between calls.
//!
//! By default every plugin call gets a fresh instance: nothing a call leaves in guest
//! memory can reach another. For a Rust component that costs a few microseconds; for an
//! interpreter component (componentize-py, componentize-js) instantiation is most of the
//! call (milliseconds: the interpreter's heap is rebuilt every time). Two kinds of reuse
//! cut that cost without giving up the isolation between tenants:
//!
//! - **Within one request** (always on): a handler's `render` calls share one renderer
//!   instance, so a template with k partials costs one instantiation, not k + 1. The
//!   instance never leaves the request.
//! - **Across requests of one tenant** (`[plugins.NAME.warm]`, opt-in): a bounded pool of
//!   idle instances per plugin, each bound to the tenant it first served. An instance is
//!   discarded after `max_calls`, after any call that did not complete (trap, timeout,
//!   limit: its state is suspect), when idle for `idle_timeout`, and when its
//!   configuration is replaced by a reload.
//!
//! `wasmtime serve` and Spin reuse instances the same way for their p3 handlers; the
//! contract a plugin author gets is documented in docs/plugins.md ("Warm instances").

use super::bindings::{access_policy, prompts, renderer};
use super::state::State;
use crate::config::WarmConfig;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;
use wasmtime::Store;

/// The export interface an instance is called through.
#[derive(Clone)]
pub(super) enum Exports {
    /// Boxed: the prompts interface has many functions, the others one each.
    Handler(Box<prompts::Guest>),
    Renderer(renderer::exports::mcp_prompts::plugin::template_renderer::Guest),
    Policy(access_policy::Guest),
}

/// An instantiated plugin and its store, during a call or between calls.
pub struct Live {
    pub(super) store: Store<State>,
    pub(super) exports: Exports,
    /// Calls this instance has completed.
    pub(super) calls: u32,
}

/// Where the instance of one call came from (the `source` label of
/// `mcp_prompts_plugin_instances_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Instantiated for this call.
    Fresh,
    /// Reused within the request (a renderer serving a handler's render calls).
    Request,
    /// Taken from the plugin's warm pool.
    Warm,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Fresh => "fresh",
            Source::Request => "request",
            Source::Warm => "warm",
        }
    }
}

/// The idle instances of one plugin (one configuration generation).
pub type WarmPool = Pool<Live>;

/// Idle items by tenant; generic so that its rules are tested without a wasm store.
pub struct Pool<T> {
    config: WarmConfig,
    inner: Mutex<Idle<T>>,
}

struct Idle<T> {
    /// Oldest first: eviction takes from the front, reuse from the back (the most
    /// recently used instance has the warmest caches).
    entries: VecDeque<Entry<T>>,
    /// Set when the configuration is replaced: instances still running finish their call
    /// and are then dropped instead of kept.
    closed: bool,
}

struct Entry<T> {
    tenant: String,
    since: Instant,
    live: T,
}

impl<T> Pool<T> {
    pub fn new(config: WarmConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Idle {
                entries: VecDeque::new(),
                closed: false,
            }),
        }
    }

    pub fn config(&self) -> &WarmConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle<T>> {
        // The lock guards plain data and is never held across a call: a panic while it
        // was held leaves a consistent queue.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle instance that served `tenant` before, if one is kept. Instances idle for
    /// longer than `idle_timeout` are dropped on the way.
    pub(super) fn take(&self, tenant: &str) -> Option<T> {
        let (found, expired) = {
            let mut idle = self.lock();
            let expired = self.expire(&mut idle);
            let found = idle
                .entries
                .iter()
                .rposition(|e| e.tenant == tenant)
                .and_then(|i| idle.entries.remove(i))
                .map(|e| e.live);
            (found, expired)
        };
        // Stores are dropped outside the lock: dropping one returns its pool slot.
        drop(expired);
        found
    }

    /// Keeps `live`, which has completed `calls` calls, for the next call of `tenant`,
    /// unless it has served `max_calls` or the pool is closed. The oldest idle instance
    /// makes room when the pool is full.
    pub(super) fn give(&self, tenant: &str, calls: u32, live: T) {
        if calls >= self.config.max_calls {
            return;
        }
        let evicted = {
            let mut idle = self.lock();
            if idle.closed {
                return;
            }
            idle.entries.push_back(Entry {
                tenant: tenant.to_string(),
                since: Instant::now(),
                live,
            });
            let mut evicted = self.expire(&mut idle);
            while idle.entries.len() > self.config.max_idle as usize {
                evicted.extend(idle.entries.pop_front());
            }
            evicted
        };
        drop(evicted);
    }

    fn expire(&self, idle: &mut Idle<T>) -> Vec<Entry<T>> {
        let mut expired = Vec::new();
        while idle
            .entries
            .front()
            .is_some_and(|e| e.since.elapsed() >= self.config.idle_timeout)
        {
            expired.extend(idle.entries.pop_front());
        }
        expired
    }

    /// Drops instances idle for longer than `idle_timeout`; false once the pool is closed.
    pub fn sweep(&self) -> bool {
        let (open, expired) = {
            let mut idle = self.lock();
            let expired = self.expire(&mut idle);
            (!idle.closed, expired)
        };
        drop(expired);
        open
    }

    /// Drops every idle instance and keeps none from now on (the configuration was
    /// replaced). Breaks the cycle plugin → pool → store → plugin, too.
    pub fn close(&self) {
        let entries = {
            let mut idle = self.lock();
            idle.closed = true;
            std::mem::take(&mut idle.entries)
        };
        drop(entries);
    }

    /// Idle instances kept right now.
    pub fn idle(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pool(max_calls: u32, max_idle: u32, idle_timeout: Duration) -> Pool<u32> {
        Pool::new(WarmConfig {
            max_calls,
            max_idle,
            idle_timeout,
        })
    }

    #[test]
    fn an_instance_serves_only_the_tenant_it_served() {
        let p = pool(10, 4, Duration::from_secs(60));
        p.give("a", 1, 1);
        assert_eq!(p.take("b"), None);
        assert_eq!(p.take("a"), Some(1));
        assert_eq!(p.take("a"), None);
    }

    #[test]
    fn the_most_recent_is_reused_and_the_oldest_evicted() {
        let p = pool(10, 2, Duration::from_secs(60));
        p.give("a", 1, 1);
        p.give("a", 1, 2);
        p.give("a", 1, 3);
        assert_eq!(p.idle(), 2);
        assert_eq!(p.take("a"), Some(3));
        assert_eq!(p.take("a"), Some(2));
        assert_eq!(p.take("a"), None);
    }

    #[test]
    fn an_instance_is_retired_after_max_calls() {
        let p = pool(3, 4, Duration::from_secs(60));
        p.give("a", 2, 1);
        p.give("a", 3, 2);
        assert_eq!(p.idle(), 1);
        assert_eq!(p.take("a"), Some(1));
    }

    #[test]
    fn idle_instances_expire() {
        let p = pool(10, 4, Duration::from_millis(1));
        p.give("a", 1, 1);
        std::thread::sleep(Duration::from_millis(5));
        assert!(p.sweep());
        assert_eq!(p.idle(), 0);
        p.give("a", 1, 2);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(p.take("a"), None);
    }

    #[test]
    fn a_closed_pool_keeps_nothing() {
        let p = pool(10, 4, Duration::from_secs(60));
        p.give("a", 1, 1);
        p.close();
        assert_eq!(p.idle(), 0);
        p.give("a", 1, 2);
        assert_eq!(p.take("a"), None);
        assert!(!p.sweep());
    }
}
