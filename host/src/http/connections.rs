//! The listener's table of open connections: how many requests each has in flight and when
//! it was last active, so that silent or idle connections are closed after
//! `server.idle_timeout` and, when every slot is taken, the oldest idle connection makes room
//! for a new client instead of the new client (or a health check) waiting behind it.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// One open connection, shared by its task, its request service and the table.
pub struct ConnState {
    inflight: AtomicUsize,
    /// Milliseconds after the table's epoch at which the connection last became idle (accept,
    /// or the end of its last response body).
    idle_since_ms: AtomicU64,
    epoch: Instant,
    /// Signalled when the table evicts this connection to make room for a new one.
    pub evicted: Notify,
}

impl ConnState {
    fn idle_since(&self) -> Instant {
        self.epoch + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire))
    }

    fn mark_idle_now(&self) {
        let ms = Instant::now()
            .saturating_duration_since(self.epoch)
            .as_millis() as u64;
        self.idle_since_ms.store(ms, Ordering::Release);
    }

    fn is_idle(&self) -> bool {
        self.inflight.load(Ordering::Acquire) == 0
    }

    /// Counts a request as in flight until the returned guard (moved into the response
    /// body) is dropped, i.e. until the body has been written or the request abandoned.
    pub fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.inflight.fetch_add(1, Ordering::AcqRel);
        RequestGuard(self.clone())
    }

    /// Resolves once the connection has had no request in flight for `idle`. Time spent
    /// serving requests does not count: the clock restarts when the last one finishes.
    pub async fn idle_for(&self, idle: Duration) {
        loop {
            let deadline = self.idle_since() + idle;
            tokio::time::sleep_until(deadline).await;
            if self.is_idle() && self.idle_since() + idle <= Instant::now() {
                return;
            }
            if !self.is_idle() {
                // Busy: look again one full period later; the period restarts when the
                // request ends, so this never cuts a connection short.
                tokio::time::sleep(idle).await;
            }
        }
    }
}

/// Keeps a request counted as in flight on its connection while alive.
pub struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        // Idle time starts now, not when the request began.
        self.0.mark_idle_now();
        self.0.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that holds its request's [`RequestGuard`] until fully written.
pub struct GuardedBody<B> {
    inner: B,
    _guard: RequestGuard,
}

impl<B> GuardedBody<B> {
    pub fn new(inner: B, guard: RequestGuard) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for GuardedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// All open connections of one listener.
#[derive(Default)]
pub struct Table {
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
    epoch: Option<Instant>,
}

impl Table {
    pub fn new() -> Self {
        Self {
            epoch: Some(Instant::now()),
            ..Default::default()
        }
    }

    /// Registers a just-accepted connection; it is idle from now on. The entry is removed
    /// when the returned [`Registration`] is dropped.
    pub fn register(self: &Arc<Self>) -> Registration {
        let epoch = self.epoch.unwrap_or_else(Instant::now);
        let st = Arc::new(ConnState {
            inflight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            epoch,
            evicted: Notify::new(),
        });
        st.mark_idle_now();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.conns.lock() {
            m.insert(id, st.clone());
        }
        Registration {
            table: self.clone(),
            id,
            state: st,
        }
    }

    /// Asks the connection that has been idle longest to close; false when every open
    /// connection is serving a request.
    pub fn evict_oldest_idle(&self) -> bool {
        let victim = match self.conns.lock() {
            Ok(m) => m
                .values()
                .filter(|c| c.is_idle())
                .min_by_key(|c| c.idle_since())
                .cloned(),
            Err(_) => None,
        };
        match victim {
            Some(v) => {
                // Pretend it became busy-then-idle just now so that the next eviction
                // picks another connection while this one is closing.
                v.mark_idle_now();
                v.evicted.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.conns.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A connection's entry in the [`Table`], removed on drop.
pub struct Registration {
    table: Arc<Table>,
    id: u64,
    pub state: Arc<ConnState>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut m) = self.table.conns.lock() {
            m.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_clock_restarts_after_each_request() {
        let t = Arc::new(Table::new());
        let r = t.register();
        let g = r.state.begin_request();
        // Longer than the idle period: time spent serving a request does not count.
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(g);
        let started = Instant::now();
        r.state.idle_for(Duration::from_millis(200)).await;
        // Timers never fire early, so this lower bound is exact.
        assert!(Instant::now() - started >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn eviction_picks_the_longest_idle_connection() {
        let t = Arc::new(Table::new());
        let a = t.register();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let b = t.register();
        let _busy = a.state.begin_request();
        assert!(t.evict_oldest_idle());
        // `a` is busy, so `b` was chosen.
        tokio::time::timeout(Duration::from_secs(5), b.state.evicted.notified())
            .await
            .expect("b evicted");
        drop(b);
        assert!(!t.evict_oldest_idle(), "only a busy connection is left");
        assert_eq!(t.len(), 1);
    }
}
