//! [`BatchStage`]: batching inside a pipeline, plain (`Vec<T>`) or lent
//! ([`Loan<T>`](crate::Loan), hand-back mode).

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;
use sluicegate_rt::Sleeper;

use super::ctx::{Ctx, Weighted};
use super::pull::{Pull, Sealed};
use crate::batch::Loan;
use crate::batch::core::{Batcher, Close, StageInput};
use crate::stats::StageCounters;

/// Marks a batch stage that passes batches on as `Vec<T>`.
#[derive(Debug, Clone, Copy)]
pub struct Plain;

/// Marks a batch stage that lends batches as [`Loan<T>`](crate::Loan).
#[derive(Debug, Clone, Copy)]
pub struct Lend;

pin_project! {
    /// The batch stage.
    #[must_use = "streams do nothing unless polled"]
    pub struct BatchStage<S, T, Sl: Sleeper, E, M> {
        #[pin]
        upstream: S,
        #[pin]
        core: Batcher<T, Sl>,
        ctx: Ctx<E>,
        _mode: PhantomData<M>,
    }
    impl<S, T, Sl: Sleeper, E, M> PinnedDrop for BatchStage<S, T, Sl, E, M> {
        fn drop(this: Pin<&mut Self>) {
            // The batcher's buffer is the truth of what the stage holds
            // (also when a poll unwinds, before the items it took were
            // counted in): the context's drop guard counts it.
            let this = this.project();
            let (elems, items) = this.core.held();
            this.ctx.settle_held(elems as u64, items);
        }
    }
}

impl<S, T, Sl: Sleeper, E, M> BatchStage<S, T, Sl, E, M> {
    pub(crate) fn new(upstream: S, core: Batcher<T, Sl>, ctx: Ctx<E>) -> Self {
        Self {
            upstream,
            core,
            ctx,
            _mode: PhantomData,
        }
    }
}

impl<S, T, Sl, E, M> BatchStage<S, T, Sl, E, M>
where
    S: Pull<Item = Weighted<T>>,
    Sl: Sleeper,
{
    #[inline]
    fn poll_weighted(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Weighted<Vec<T>>>> {
        let this = self.project();
        let ctx = this.ctx;
        if ctx.control.is_aborted() {
            return Poll::Pending;
        }
        // The busy clock starts at the first item of a batch: read it once
        // per poll (and only when timed), not once per item.
        let start = if ctx.is_idle() {
            ctx.now_if_timed()
        } else {
            None
        };
        let mut taken = 0u64;
        let mut core = this.core;
        // Items are counted in once per poll, below (`taken`), and the
        // batcher's buffer is what the stage holds: nothing per item here.
        // The upstream hands over runs of ready items ([`Pull`]).
        let polled = core.as_mut().poll_batch_counted(
            cx,
            StageInput(this.upstream, &ctx.control.budget),
            &mut taken,
        );
        if taken > 0 {
            ctx.counted_in(taken, start);
        }
        let (elems, items) = core.held();
        ctx.set_held(elems as u64, items);
        match polled {
            Poll::Ready(Some((batch, weight, why))) => {
                ctx.stop_clock();
                let n = batch.len() as u64;
                let counters = &ctx.counters;
                StageCounters::bump(&counters.output, n);
                StageCounters::bump(
                    match why {
                        Close::Size => &counters.by_size,
                        Close::Timer => &counters.by_timer,
                        Close::End => &counters.at_end,
                        Close::Lender => &counters.by_lender,
                    },
                    1,
                );
                Poll::Ready(Some(Weighted::new(batch, weight)))
            }
            other => other.map(|_| None),
        }
    }
}

impl<S, T, Sl, E> Stream for BatchStage<S, T, Sl, E, Plain>
where
    S: Pull<Item = Weighted<T>>,
    Sl: Sleeper,
{
    type Item = Weighted<Vec<T>>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_weighted(cx)
    }
}

impl<S, T, Sl, E> Stream for BatchStage<S, T, Sl, E, Lend>
where
    S: Pull<Item = Weighted<T>>,
    Sl: Sleeper,
{
    type Item = Weighted<Loan<T>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let slot = match self.core.loan_slot() {
            Some(slot) => Arc::clone(slot),
            None => return Poll::Ready(None),
        };
        self.as_mut().poll_weighted(cx).map(|o| {
            o.map(|Weighted { item, weight }| Weighted::new(Loan::new(item, slot), weight))
        })
    }
}

impl<S, T, Sl: Sleeper, E, M> Sealed for BatchStage<S, T, Sl, E, M> {}

impl<S, T, Sl, E> Pull for BatchStage<S, T, Sl, E, Plain>
where
    S: Pull<Item = Weighted<T>>,
    Sl: Sleeper,
{
}

impl<S, T, Sl, E> Pull for BatchStage<S, T, Sl, E, Lend>
where
    S: Pull<Item = Weighted<T>>,
    Sl: Sleeper,
{
}

impl<S, T, Sl: Sleeper, E, M> fmt::Debug for BatchStage<S, T, Sl, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchStage")
            .field("stage", &self.ctx.counters.id())
            .field("held", &self.core.held().0)
            .finish_non_exhaustive()
    }
}
