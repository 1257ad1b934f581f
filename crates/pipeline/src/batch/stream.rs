//! The standalone batching adapters: [`batch`] (batches of `Vec<T>`) and
//! [`batch_hand_back`] (batches lent as [`Loan`]s, the double buffer).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::FusedStream;
use pin_project_lite::pin_project;
use sluicegate_rt::Sleeper;

use super::config::Batch;
use super::core::{Batcher, LoanSlot, StreamInput};
use crate::error::ConfigError;
use crate::stats::BatchStats;

/// Batches a stream by size or time, without a pipeline: what
/// `ready_chunks` (no timer) and tokio-stream's `chunks_timeout` (tokio
/// only) do, on any executor and with either [timer mode](crate::TimerMode).
///
/// The stream yields `Vec`s of at most [`max_items`](Batch::max_items)
/// items, closed when full, when the timer fires (through `sleeper`), or
/// when the input ends (the last, partial batch). It never yields an empty
/// batch and loses no item: the input's items come out in order, each once.
///
/// ```
/// use futures_lite::StreamExt;
/// use sluicegate_pipeline::{batch, Batch};
/// use sluicegate_rt::ManualClock;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let items = futures_lite::stream::iter(1..=5);
/// let cfg = Batch::size(2).max_wait(Duration::from_millis(10));
/// let batches: Vec<Vec<u32>> = clock.block_on(batch(items, cfg, clock.clone())?.collect());
/// assert_eq!(batches, [vec![1, 2], vec![3, 4], vec![5]]);
/// # Ok::<(), sluicegate_pipeline::ConfigError>(())
/// ```
///
/// # Errors
///
/// Bad settings ([`Batch::validate`]).
pub fn batch<St: Stream, Sl: Sleeper>(
    stream: St,
    cfg: Batch,
    sleeper: Sl,
) -> Result<Batched<St, Sl>, ConfigError> {
    cfg.validate()?;
    Ok(Batched {
        stream,
        core: Batcher::new(cfg, sleeper, None),
    })
}

/// Like [`batch`], but each batch is lent as a [`Loan`], and the next
/// batch is **built only after the writer handed the last one back**
/// (dropped the loan): Go's batcher with a hand-back channel, a double
/// buffer. While a loan is out the adapter takes no item from its input
/// (so upstream backpressure builds), and the loan's buffer is reused for
/// the next batch.
///
/// ```
/// use futures_lite::StreamExt;
/// use sluicegate_pipeline::{batch_hand_back, Batch};
/// use sluicegate_rt::ManualClock;
///
/// let clock = ManualClock::new();
/// let mut batches = batch_hand_back(futures_lite::stream::iter(1..=4), Batch::size(2), clock.clone())?;
/// clock.block_on(async {
///     let first = batches.next().await.unwrap();
///     assert_eq!(*first, [1, 2]);
///     drop(first); // hand it back: only now is the next batch built
///     assert_eq!(*batches.next().await.unwrap(), [3, 4]);
/// });
/// # Ok::<(), sluicegate_pipeline::ConfigError>(())
/// ```
///
/// # Errors
///
/// Bad settings ([`Batch::validate`]).
pub fn batch_hand_back<St: Stream, Sl: Sleeper>(
    stream: St,
    cfg: Batch,
    sleeper: Sl,
) -> Result<HandBackBatched<St, Sl>, ConfigError> {
    cfg.validate()?;
    let slot = Arc::new(LoanSlot::default());
    let core = Batcher::new(cfg, sleeper, Some(Arc::clone(&slot)));
    Ok(HandBackBatched { stream, core, slot })
}

pin_project! {
    /// A stream of batches, from [`batch`].
    #[must_use = "streams do nothing unless polled"]
    pub struct Batched<St: Stream, Sl: Sleeper> {
        #[pin]
        stream: St,
        #[pin]
        core: Batcher<St::Item, Sl>,
    }
}

impl<St: Stream, Sl: Sleeper> Batched<St, Sl> {
    /// The batches yielded so far, by why each was closed (size, timer,
    /// end of input).
    pub fn stats(&self) -> BatchStats {
        self.core.closed()
    }
}

impl<St: Stream, Sl: Sleeper> Stream for Batched<St, Sl> {
    type Item = Vec<St::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        this.core
            .poll_batch(cx, StreamInput(this.stream))
            .map(|o| o.map(|(batch, _, _)| batch))
    }
}

impl<St: Stream, Sl: Sleeper> FusedStream for Batched<St, Sl> {
    fn is_terminated(&self) -> bool {
        self.core.is_ended()
    }
}

impl<St: Stream, Sl: Sleeper> fmt::Debug for Batched<St, Sl> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batched")
            .field("held", &self.core.held().0)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// A stream of lent batches, from [`batch_hand_back`].
    #[must_use = "streams do nothing unless polled"]
    pub struct HandBackBatched<St: Stream, Sl: Sleeper> {
        #[pin]
        stream: St,
        #[pin]
        core: Batcher<St::Item, Sl>,
        slot: Arc<LoanSlot<St::Item>>,
    }
}

impl<St: Stream, Sl: Sleeper> HandBackBatched<St, Sl> {
    /// Whether a batch is with the writer now (no new batch is built until
    /// it comes back).
    pub fn is_lent(&self) -> bool {
        self.slot.is_out()
    }

    /// The batches lent so far, by why each was closed (size, timer, end
    /// of input).
    pub fn stats(&self) -> BatchStats {
        self.core.closed()
    }
}

impl<St: Stream, Sl: Sleeper> Stream for HandBackBatched<St, Sl> {
    type Item = Loan<St::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let slot = this.slot;
        this.core
            .poll_batch(cx, StreamInput(this.stream))
            .map(|o| o.map(|(batch, _, _)| Loan::new(batch, Arc::clone(slot))))
    }
}

impl<St: Stream, Sl: Sleeper> fmt::Debug for HandBackBatched<St, Sl> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandBackBatched")
            .field("held", &self.core.held().0)
            .field("lent", &self.is_lent())
            .finish_non_exhaustive()
    }
}

/// A batch lent to the writer in hand-back mode ([`batch_hand_back`],
/// [`Pipeline::batch_hand_back`](crate::Pipeline::batch_hand_back)).
///
/// It derefs to the batch's `Vec` (so the writer may read it, or `drain`
/// it to take the items). Dropping it hands the buffer back to the
/// batcher, which only then builds the next batch, in the same allocation.
/// [`into_vec`](Loan::into_vec) keeps the items and hands back an empty
/// buffer instead.
pub struct Loan<T> {
    batch: Vec<T>,
    slot: Arc<LoanSlot<T>>,
}

impl<T> Loan<T> {
    pub(crate) fn new(batch: Vec<T>, slot: Arc<LoanSlot<T>>) -> Self {
        Self { batch, slot }
    }

    /// Takes the items and hands the batcher a fresh buffer.
    pub fn into_vec(mut self) -> Vec<T> {
        std::mem::take(&mut self.batch)
    }
}

impl<T> Deref for Loan<T> {
    type Target = Vec<T>;

    fn deref(&self) -> &Vec<T> {
        &self.batch
    }
}

impl<T> DerefMut for Loan<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.batch
    }
}

impl<T> Drop for Loan<T> {
    fn drop(&mut self) {
        self.slot.give_back(std::mem::take(&mut self.batch));
    }
}

impl<T> fmt::Debug for Loan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loan")
            .field("len", &self.batch.len())
            .finish_non_exhaustive()
    }
}
