//! [`Pull`]: a stage handing a run of ready elements to the stage after it
//! in one call (internal iteration), instead of one `poll_next` per
//! element.
//!
//! A fused chain pulled element by element pays each stage's per-call
//! checks (is the run going on, is the yield budget spent, count one in)
//! once per element and stage. [`Pull::poll_fold`] pays them once per run
//! of elements: the source loops over its stream, each step wraps the
//! function it is handed, and the stage at the end of the chain (a batch
//! stage) pushes into its batch. Counts are kept in locals and written
//! once per call, by a drop guard ([`Tally`]), so they are exact even when
//! a poll unwinds.

use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::stats::StageCounters;

/// Why [`Pull::poll_fold`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fold {
    /// It handed over `limit` elements, the function asked it to stop, or
    /// a stage ended the run early (a failure or a panic, the source's
    /// yield budget): more may be ready.
    Limit,
    /// Nothing is ready now: the task is woken when there is (or it was
    /// woken already, for a cooperative yield), or the run was aborted
    /// (the run future ends it).
    Pending,
    /// The stream ended.
    End,
}

/// The one seal of the stage module's public traits ([`Pull`],
/// [`AsyncFn`](super::AsyncFn), [`SyncFn`](super::SyncFn)): public, so
/// they can name it, in a private module, so no one outside implements
/// them.
mod sealed {
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// A stage that can hand a run of ready elements to the stage after it in
/// one call. Every stage implements it; you never implement or call it.
pub trait Pull: Stream + Sealed {
    /// Hands ready elements to `f`, at most `limit` of them, until `f`
    /// returns `false` (it wants no more now), nothing is ready, or the
    /// stream ends. The default polls `poll_next` in a loop.
    #[doc(hidden)]
    #[inline]
    fn poll_fold<F>(self: Pin<&mut Self>, cx: &mut Context<'_>, limit: usize, f: &mut F) -> Fold
    where
        F: FnMut(Self::Item) -> bool,
    {
        let mut this = self;
        for _ in 0..limit {
            match this.as_mut().poll_next(cx) {
                Poll::Ready(Some(element)) => {
                    if !f(element) {
                        return Fold::Limit;
                    }
                }
                Poll::Ready(None) => return Fold::End,
                Poll::Pending => return Fold::Pending,
            }
        }
        Fold::Limit
    }
}

/// A count kept in a local during a fold and added to its stage counter
/// once, when dropped: at the end of the call, or while a panic unwinds
/// (so what was counted stays counted).
pub(crate) struct Tally<'a> {
    counter: &'a AtomicU64,
    pub(crate) n: u64,
}

impl<'a> Tally<'a> {
    #[inline]
    pub(crate) fn new(counter: &'a AtomicU64) -> Self {
        Self { counter, n: 0 }
    }
}

impl Drop for Tally<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.n > 0 {
            StageCounters::bump(self.counter, self.n);
        }
    }
}

/// Like [`Tally`], for a counter with several writers (the run's ledger).
pub(crate) struct SharedTally<'a> {
    counter: &'a AtomicU64,
    pub(crate) n: u64,
}

impl<'a> SharedTally<'a> {
    #[inline]
    pub(crate) fn new(counter: &'a AtomicU64) -> Self {
        Self { counter, n: 0 }
    }
}

impl Drop for SharedTally<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.n > 0 {
            StageCounters::add(self.counter, self.n);
        }
    }
}

/// Drives a step's fold: calls `pull(remaining)` (which folds the
/// upstream with the step's own wrapper, counting what it handed on in
/// `given` and setting `halt` when it must stop) until `limit` elements
/// were handed on, the upstream stops, or the wrapper halted.
#[inline(always)]
pub(crate) fn fold_steps(
    limit: usize,
    mut pull: impl FnMut(usize, &mut usize, &mut bool) -> Fold,
) -> Fold {
    let mut given = 0usize;
    let mut halt = false;
    loop {
        let stop = pull(limit - given, &mut given, &mut halt);
        if stop != Fold::Limit || halt || given >= limit {
            return stop;
        }
    }
}
