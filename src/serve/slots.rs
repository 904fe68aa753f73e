//! Who may hold the server, and for how long. A served connection holds one
//! of `max_connections` request slots; one accepted past them waits for a
//! slot (a bounded number, for a bounded time) instead of a 503 at once. An
//! SSE stream holds one of `max_sse` stream slots and gives its connection's
//! request slot back while it streams, so open dashboards never lock out a
//! short request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::limits::Limits;

/// The server's request slots, stream slots and waiting room.
#[derive(Debug)]
pub(super) struct Slots {
    requests: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    /// Connections waiting for a request slot now.
    waiting: AtomicUsize,
    queue: usize,
    queue_wait: Duration,
}

/// A place in the waiting room; leaving it (drop) makes room for another.
pub(super) struct Place(Arc<Slots>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Slots {
    /// Slots as `limits` sets them.
    pub(super) fn new(limits: &Limits) -> Self {
        Slots {
            requests: Arc::new(Semaphore::new(limits.max_connections)),
            streams: Arc::new(Semaphore::new(limits.max_sse)),
            waiting: AtomicUsize::new(0),
            queue: limits.queue,
            queue_wait: limits.queue_wait,
        }
    }

    /// A request slot, if one is free now.
    pub(super) fn try_request(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.requests).try_acquire_owned().ok()
    }

    /// A place in the waiting room, unless it is full.
    pub(super) fn wait_place(self: &Arc<Self>) -> Option<Place> {
        let taken = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.queue).then_some(n + 1)
            });
        taken.ok().map(|_| Place(Arc::clone(self)))
    }

    /// Waits up to `queue_wait` for a request slot (first come, first
    /// served: tokio's semaphore is fair).
    pub(super) async fn wait_request(&self) -> Option<OwnedSemaphorePermit> {
        let acquire = Arc::clone(&self.requests).acquire_owned();
        tokio::time::timeout(self.queue_wait, acquire)
            .await
            .ok()?
            .ok()
    }
}

/// One connection's hold on the server, shared with its requests (as a
/// request extension): its request slot, and its open SSE streams.
#[derive(Debug)]
pub(super) struct Hold {
    slots: Arc<Slots>,
    request: Mutex<Option<OwnedSemaphorePermit>>,
    streams: AtomicUsize,
    /// Notified when the connection holds neither a request slot nor a
    /// stream: it is then closed rather than kept uncounted.
    idle: Notify,
}

impl Hold {
    /// The hold of a connection served under `request`.
    pub(super) fn new(slots: Arc<Slots>, request: OwnedSemaphorePermit) -> Arc<Self> {
        Arc::new(Hold {
            slots,
            request: Mutex::new(Some(request)),
            streams: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    /// Makes sure the connection holds a request slot before a request is
    /// served (an HTTP/2 connection whose SSE stream gave it back asks
    /// again, waiting like a new connection); false when none came.
    pub(super) async fn ensure_request(&self) -> bool {
        if self.request.lock().expect("not poisoned").is_some() {
            return true;
        }
        let Some(permit) = self.slots.wait_request().await else {
            return false;
        };
        self.request
            .lock()
            .expect("not poisoned")
            .get_or_insert(permit);
        true
    }

    /// A stream slot for an SSE stream, or None when all are taken. While
    /// the lease lives, the connection's request slot is free for others.
    pub(super) fn stream_lease(self: &Arc<Self>) -> Option<StreamLease> {
        let permit = Arc::clone(&self.slots.streams).try_acquire_owned().ok()?;
        self.streams.fetch_add(1, Ordering::AcqRel);
        drop(self.request.lock().expect("not poisoned").take());
        Some(StreamLease {
            _permit: permit,
            hold: Arc::clone(self),
        })
    }

    /// Resolves once the connection holds nothing (see [`Hold::idle`]).
    pub(super) async fn idle(&self) {
        self.idle.notified().await;
    }
}

/// An open SSE stream's slot; dropped when the stream ends.
#[derive(Debug)]
pub(super) struct StreamLease {
    _permit: OwnedSemaphorePermit,
    hold: Arc<Hold>,
}

impl Drop for StreamLease {
    fn drop(&mut self) {
        let last = self.hold.streams.fetch_sub(1, Ordering::AcqRel) == 1;
        if last && self.hold.request.lock().expect("not poisoned").is_none() {
            self.hold.idle.notify_one();
        }
    }
}
