//! The future returned by [`LeakyBucket::acquire`](crate::LeakyBucket::acquire).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use sluicegate_rt::{Clock, Sleeper};

use crate::bucket::LeakyBucket;
use crate::error::Full;
use crate::room::Mode;
use crate::waiter::Waiter;

pin_project! {
    /// Waits for the next slot of a [`LeakyBucket`]; made by
    /// [`LeakyBucket::acquire`].
    ///
    /// It takes its place in the waiting room when first polled and resolves
    /// to `Ok(())` at its slot, or at once to `Err(`[`Full`]`)` if the room
    /// was full.
    ///
    /// Cancel-safe: dropping it before it resolves frees its place, and the
    /// slot it would have had goes to the next caller in line.
    ///
    /// # Panics
    ///
    /// Polling it again after it resolved panics, as for `async` blocks.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Acquire<'a, C, S: Sleeper> {
        bucket: &'a LeakyBucket<C, S>,
        #[pin]
        waiter: Waiter<C, S>,
    }
}

impl<'a, C, S: Sleeper> Acquire<'a, C, S> {
    pub(crate) fn new(bucket: &'a LeakyBucket<C, S>) -> Self {
        Self {
            bucket,
            waiter: Waiter::new(),
        }
    }
}

impl<C: Clock, S: Sleeper> Future for Acquire<'_, C, S> {
    type Output = Result<(), Full>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.waiter.poll_wait(&this.bucket.inner, Mode::Spill, cx)
    }
}

impl<C, S: Sleeper> fmt::Debug for Acquire<'_, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("waiter", &self.waiter)
            .finish_non_exhaustive()
    }
}
