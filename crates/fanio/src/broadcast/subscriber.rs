//! [`Subscriber`]: one receiving end of a broadcast.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::shared::Shared;
use super::stats::SubscriberStats;
use crate::error::RecvError;

/// One subscriber of a [`broadcast`](crate::broadcast), made by
/// [`Publisher::subscribe`](crate::Publisher::subscribe): a stream of
/// every item sent since it subscribed, in order, with its own bounded
/// buffer. `Err` items are markers of what a dropping
/// [`SlowConsumer`](crate::SlowConsumer) policy did to it
/// ([`RecvError`]). The stream ends after its buffer once every publisher
/// is gone or the broadcast is closed (or after
/// [`RecvError::Disconnected`]).
///
/// Dropping it unsubscribes; its unread items are counted in
/// [`BroadcastStats::left_unread`](crate::BroadcastStats::left_unread).
pub struct Subscriber<T> {
    shared: Arc<Shared<T>>,
    index: usize,
}

impl<T> Subscriber<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>, index: usize) -> Self {
        Self { shared, index }
    }

    /// This subscriber's counters.
    pub fn stats(&self) -> SubscriberStats {
        self.shared.lock().subscriber_stats(self.index)
    }

    /// Another subscriber to the same broadcast, from now on.
    pub fn resubscribe(&self) -> Self {
        let index = self.shared.lock().subscribe();
        Self::new(Arc::clone(&self.shared), index)
    }
}

impl<T> Stream for Subscriber<T> {
    type Item = Result<T, RecvError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let (polled, was_full) =
            self.shared
                .lock()
                .poll_entry(self.index, self.shared.capacity, cx.waker());
        if was_full {
            // A publisher may wait for this room.
            self.shared.room.notify(usize::MAX);
        }
        match polled {
            Some(next) => Poll::Ready(next),
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for Subscriber<T> {
    fn drop(&mut self) {
        let (was_live, slot) = self.shared.lock().unsubscribe(self.index);
        // Unread items are dropped here, outside the lock.
        drop(slot);
        if was_live {
            self.shared.room.notify(usize::MAX);
        }
    }
}

impl<T> fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("stats", &self.stats())
            .finish()
    }
}
