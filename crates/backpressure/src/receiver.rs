//! [`Receiver`]: the receiving half of a queue, and a
//! [`Stream`](futures_core::Stream).

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use concurrent_queue::PopError;
use event_listener::EventListener;
use futures_core::Stream;
use futures_core::stream::FusedStream;

use crate::core::{Core, RecvKind};
use crate::error::TryRecvError;
use crate::futures::Recv;
use crate::stats::Stats;

/// The receiving half of a queue; cheap to [`Clone`] (each clone is one
/// more consumer, and each item goes to exactly one of them).
///
/// It is a [`Stream`] of `T` that ends once every sender is gone and the
/// queue is drained. Each item taken out frees its slot and wakes one
/// waiting sender.
///
/// When the last `Receiver` is dropped the queue closes: waiting and later
/// sends fail with `Closed(item)`, and the items still queued go to the
/// [`on_drop`](crate::Builder::on_drop) callback with
/// [`DropReason::Closed`](crate::DropReason::Closed), counted in
/// [`Stats::dropped`].
pub struct Receiver<T> {
    core: Arc<Core<T>>,
    /// The `Stream`'s listener while it waits for an item.
    listener: Option<EventListener>,
}

impl<T> Receiver<T> {
    pub(crate) fn new(core: Arc<Core<T>>) -> Self {
        Self {
            core,
            listener: None,
        }
    }

    /// Receives the oldest item, waiting while the queue is empty; `None`
    /// once every sender is gone and the queue is drained. Cancel-safe.
    pub fn recv(&self) -> Recv<'_, T> {
        Recv::new(&self.core)
    }

    /// Receives the oldest item if one is queued now.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`], or [`TryRecvError::Closed`] once every
    /// sender is gone and the queue is drained.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.core.try_recv().map_err(|e| match e {
            PopError::Empty => TryRecvError::Empty,
            PopError::Closed => TryRecvError::Closed,
        })
    }

    /// A snapshot of the queue's counters (shared by every handle).
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The number of slots.
    pub fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// The number of items queued now.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no item is queued now.
    pub fn is_empty(&self) -> bool {
        self.core.len() == 0
    }

    /// Whether the queue is closed: every sender (or every receiver) is
    /// gone. Items may still be queued; they are received first.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        this.core
            .poll_recv(&mut this.listener, RecvKind::Stream, cx)
    }

    /// The queued items as a lower bound only where no other handle can
    /// take them: this is the only receiver and the policy is not
    /// `DropOldest` (else `0`); exact once every sender and permit is gone.
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.core.size_hint()
    }
}

impl<T> FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        self.core.is_terminated()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.core.add_receiver();
        Self::new(Arc::clone(&self.core))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.core.stop_recv(&mut self.listener, RecvKind::Stream);
        self.core.drop_receiver();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("queue", &self.core)
            .finish()
    }
}
