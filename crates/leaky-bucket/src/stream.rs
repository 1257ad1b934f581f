//! [`Paced`]: a stream whose items come out one per slot.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use futures_core::stream::FusedStream;
use pin_project_lite::pin_project;
use sluicegate_rt::{Clock, Sleeper};

use crate::bucket::LeakyBucket;
use crate::room::Mode;
use crate::waiter::Waiter;

pin_project! {
    /// A stream paced by a [`LeakyBucket`]; made by
    /// [`LeakyBucket::pace`].
    ///
    /// Each item is pulled from the inner stream, then waits for its slot
    /// (in the same FIFO as [`acquire`](LeakyBucket::acquire) callers), then
    /// is yielded. The next item is pulled only after that, so the paced
    /// stream holds at most one item and a slow source never banks slots it
    /// did not use (beyond the bucket's slack).
    ///
    /// Nothing is lost:
    ///
    /// - **It never spills.** When the waiting room is full, the held item
    ///   waits for a place (paced streams get places in FIFO order, ahead of
    ///   new `acquire` callers) instead of being refused. Such streams show in
    ///   [`Stats::waiting_for_room`](crate::Stats::waiting_for_room).
    /// - **Cancel-safe `next()`.** Dropping a `next()` future mid-wait keeps
    ///   the item, and its place in line, inside the `Paced`; the next poll
    ///   carries on.
    /// - **Dropping the `Paced`** gives its place and slot to the next caller
    ///   and drops the inner stream with the one item it held, if any: that
    ///   item was pulled but never yielded, and is counted in
    ///   [`Stats::cancelled`](crate::Stats::cancelled). Every item that was
    ///   yielded is yours. To get the held item back, use
    ///   [`into_parts`](Paced::into_parts).
    ///
    /// The stream ends when the inner stream ends, and is then fused.
    #[must_use = "streams do nothing unless polled"]
    pub struct Paced<St: Stream, C, S: Sleeper> {
        #[pin]
        stream: St,
        bucket: LeakyBucket<C, S>,
        item: Option<St::Item>,
        done: bool,
        #[pin]
        waiter: Waiter<C, S>,
    }
}

impl<St: Stream, C, S: Sleeper> Paced<St, C, S> {
    pub(crate) fn new(stream: St, bucket: LeakyBucket<C, S>) -> Self {
        Self {
            stream,
            bucket,
            item: None,
            done: false,
            waiter: Waiter::new(),
        }
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &St {
        &self.stream
    }

    /// The inner stream, mutably. Taking items from it directly bypasses
    /// the pacing.
    pub fn get_mut(&mut self) -> &mut St {
        &mut self.stream
    }

    /// The inner stream, pinned.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut St> {
        self.project().stream
    }

    /// The item pulled from the inner stream and waiting for its slot, if
    /// any.
    pub fn held(&self) -> Option<&St::Item> {
        self.item.as_ref()
    }

    /// The bucket pacing this stream.
    pub fn bucket(&self) -> &LeakyBucket<C, S> {
        &self.bucket
    }

    /// Stops pacing: the inner stream and the item waiting for its slot, if
    /// any (its place in the waiting room is given up).
    pub fn into_parts(self) -> (St, Option<St::Item>) {
        (self.stream, self.item)
    }
}

impl<St: Stream, C: Clock, S: Sleeper> Stream for Paced<St, C, S> {
    type Item = St::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<St::Item>> {
        let mut this = self.project();
        if this.item.is_none() {
            if *this.done {
                return Poll::Ready(None);
            }
            match ready!(this.stream.as_mut().poll_next(cx)) {
                Some(item) => *this.item = Some(item),
                None => {
                    *this.done = true;
                    return Poll::Ready(None);
                }
            }
        }
        let released = ready!(this.waiter.as_mut().poll_wait(
            &this.bucket.inner,
            Mode::WaitForRoom,
            cx
        ));
        // A wait in `WaitForRoom` mode never spills.
        debug_assert!(released.is_ok());
        this.waiter.set(Waiter::new());
        Poll::Ready(this.item.take())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let held = usize::from(self.item.is_some());
        if self.done {
            return (held, Some(held));
        }
        let (lo, hi) = self.stream.size_hint();
        (
            lo.saturating_add(held),
            hi.and_then(|h| h.checked_add(held)),
        )
    }
}

impl<St: Stream, C: Clock, S: Sleeper> FusedStream for Paced<St, C, S> {
    fn is_terminated(&self) -> bool {
        self.done && self.item.is_none()
    }
}

impl<St: Stream, C, S: Sleeper> fmt::Debug for Paced<St, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paced")
            .field("holding", &self.item.is_some())
            .field("done", &self.done)
            .field("waiter", &self.waiter)
            .finish_non_exhaustive()
    }
}
