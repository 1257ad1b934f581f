//! [`Shared`]: the state a fan-out's tasks and its output share.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use event_listener::Event;

use super::stats::{Counters, bump};

pub(crate) struct Shared<T> {
    pub(crate) counters: Arc<Counters>,
    /// A receiver of each worker queue, kept to close them on cancel.
    queues: Box<[async_channel::Receiver<T>]>,
    cancelled: AtomicBool,
    /// Whether handed-back items are kept for [`FanOut::cancel`]
    /// (false once the output is dropped: nobody could take them).
    keep: AtomicBool,
    cancel: Event,
    returned: Mutex<Vec<T>>,
}

impl<T> Shared<T> {
    pub(crate) fn new(counters: Arc<Counters>, queues: Box<[async_channel::Receiver<T>]>) -> Self {
        Self {
            counters,
            queues,
            cancelled: AtomicBool::new(false),
            keep: AtomicBool::new(true),
            cancel: Event::new(),
            returned: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// A listener that fires on cancel; check
    /// [`is_cancelled`](Self::is_cancelled) after making it.
    pub(crate) fn listen(&self) -> event_listener::EventListener {
        self.cancel.listen()
    }

    /// Stops the feeder, closes the queues (waking a blocked feeder and
    /// idle workers) and makes workers hand back what is still queued.
    /// With `keep == false` (the output is gone) handed-back items are
    /// dropped at once. Idempotent.
    pub(crate) fn cancel(&self, keep: bool) {
        if !keep {
            self.keep.store(false, Ordering::Release);
            drop(std::mem::take(&mut *self.lock_returned()));
        }
        self.cancelled.store(true, Ordering::Release);
        for q in &*self.queues {
            q.close();
        }
        self.cancel.notify(usize::MAX);
    }

    /// An item taken from the input that will never be started.
    pub(crate) fn hand_back(&self, item: T) {
        bump(&self.counters.abandoned);
        if self.keep.load(Ordering::Acquire) {
            self.lock_returned().push(item);
        }
    }

    pub(crate) fn take_returned(&self) -> Vec<T> {
        std::mem::take(&mut *self.lock_returned())
    }

    fn lock_returned(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        self.returned.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts a task as exited when dropped (finished or dropped by its
/// executor). Made before the task is spawned and moved in as an argument
/// of its async fn, so that it is dropped with the future even if the
/// executor never polls it (an async fn's body, and any guard made in it,
/// does not run until the first poll).
pub(crate) struct Alive(pub(crate) Arc<Counters>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::AcqRel);
    }
}
