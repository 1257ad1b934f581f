//! The synchronous one-in, at-most-one-out stages: [`MapSync`],
//! [`TryMapSync`], [`FilterSync`], one generic [`SyncStep`] over what the
//! closure means ([`SyncFn`]). Like [`Map`](super::Map),
//! [`TryMap`](super::TryMap) and [`Filter`](super::Filter), for a plain
//! closure: no future is created, stored or polled per element, and an
//! element is never held across a poll (the closure runs to completion in
//! the poll that took the element).
//!
//! They do not check for an abort themselves: they hold nothing, and the
//! stage that feeds the chain (the source, a buffer's drain, a batch or
//! parallel step) checks before it yields each element (or run of
//! elements), so an abort stops a synchronous stage after at most the one
//! element it is running. In a fold ([`Pull`]) a failure or a panic stops
//! the run of elements, so the source sees a fail-fast at once.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

use super::ctx::{Ctx, Weighted};
use super::pull::{Fold, Pull, Sealed, SharedTally, Tally, fold_steps};
use crate::stats::StageCounters;

/// What a synchronous step's closure made of one element.
#[derive(Debug)]
pub enum Step<U, E> {
    /// Passed on.
    Pass(U),
    /// Failed: reported on the error stream.
    Fail(E),
    /// Rejected by a filter.
    Reject,
}

/// The closure of a synchronous step, and what its result means: a map
/// ([`MapFn`]), a fallible map ([`TryMapFn`]) or a filter
/// ([`FilterFn`]). You never implement it.
pub trait SyncFn<T, E>: Sealed {
    /// What the step passes on.
    type Out;
    /// Runs the closure on one element.
    fn call(&mut self, item: T) -> Step<Self::Out, E>;
}

/// A `map_sync` closure `T -> U`.
#[derive(Clone, Copy)]
pub struct MapFn<F>(pub(crate) F);

/// A `try_map_sync` closure `T -> Result<U, E>`.
#[derive(Clone, Copy)]
pub struct TryMapFn<F>(pub(crate) F);

/// A `filter_sync` predicate `&T -> bool`.
#[derive(Clone, Copy)]
pub struct FilterFn<F>(pub(crate) F);

impl<F> Sealed for MapFn<F> {}
impl<F> Sealed for TryMapFn<F> {}
impl<F> Sealed for FilterFn<F> {}

impl<F, T, U, E> SyncFn<T, E> for MapFn<F>
where
    F: FnMut(T) -> U,
{
    type Out = U;

    #[inline(always)]
    fn call(&mut self, item: T) -> Step<U, E> {
        Step::Pass((self.0)(item))
    }
}

impl<F, T, U, E> SyncFn<T, E> for TryMapFn<F>
where
    F: FnMut(T) -> Result<U, E>,
{
    type Out = U;

    #[inline(always)]
    fn call(&mut self, item: T) -> Step<U, E> {
        match (self.0)(item) {
            Ok(out) => Step::Pass(out),
            Err(error) => Step::Fail(error),
        }
    }
}

impl<F, T, E> SyncFn<T, E> for FilterFn<F>
where
    F: FnMut(&T) -> bool,
{
    type Out = T;

    #[inline(always)]
    fn call(&mut self, item: T) -> Step<T, E> {
        if (self.0)(&item) {
            Step::Pass(item)
        } else {
            Step::Reject
        }
    }
}

macro_rules! debug_fn {
    ($($name:ident),*) => {$(
        impl<F> fmt::Debug for $name<F> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}

debug_fn!(MapFn, TryMapFn, FilterFn);

pin_project! {
    /// A synchronous step: runs a plain closure ([`SyncFn`]) on each
    /// element, under a panic guard.
    #[must_use = "streams do nothing unless polled"]
    pub struct SyncStep<S, K, E> {
        #[pin]
        upstream: S,
        f: K,
        ctx: Ctx<E>,
    }
}

/// `map_sync`: `T -> U` through a plain closure.
pub type MapSync<S, F, E> = SyncStep<S, MapFn<F>, E>;

/// `try_map_sync`: `T -> Result<U, E>` through a plain closure; an `Err`
/// goes to the error stream, not downstream.
pub type TryMapSync<S, F, E> = SyncStep<S, TryMapFn<F>, E>;

/// `filter_sync`: keeps the elements for which a plain predicate says
/// `true`; the others are counted as filtered.
pub type FilterSync<S, F, E> = SyncStep<S, FilterFn<F>, E>;

impl<S, K, E> SyncStep<S, K, E> {
    pub(crate) fn new(upstream: S, f: K, ctx: Ctx<E>) -> Self {
        Self { upstream, f, ctx }
    }
}

impl<E> Ctx<E> {
    /// A synchronous step's element failed.
    #[cold]
    fn failed_sync(&self, items: u64, error: E) {
        self.control.failed(&self.counters, items, error);
    }
}

impl<S, K, E, T> Stream for SyncStep<S, K, E>
where
    S: Stream<Item = Weighted<T>>,
    K: SyncFn<T, E>,
{
    type Item = Weighted<K::Out>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Weighted { item, weight })) => {
                    let f = &mut *this.f;
                    match this.ctx.call_sync(weight, || f.call(item)) {
                        Some(Step::Pass(out)) => {
                            // `output` is derived (`Derived::SyncOutput`).
                            return Poll::Ready(Some(Weighted::new(out, weight)));
                        }
                        Some(Step::Fail(error)) => this.ctx.failed_sync(weight, error),
                        Some(Step::Reject) => {
                            StageCounters::bump(&this.ctx.counters.filtered, 1);
                            StageCounters::add(&this.ctx.control.ledger.filtered, weight);
                        }
                        // A panic: counted and reported.
                        None => {}
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S, K, E> Sealed for SyncStep<S, K, E> {}

impl<S, K, E, T> Pull for SyncStep<S, K, E>
where
    S: Pull<Item = Weighted<T>>,
    K: SyncFn<T, E>,
{
    /// Wraps `f` and folds the upstream: the elements taken in and those
    /// rejected are counted once per call; a failure or a panic stops the
    /// run of elements (so a fail-fast is seen at once).
    #[inline]
    fn poll_fold<F>(self: Pin<&mut Self>, cx: &mut Context<'_>, limit: usize, f: &mut F) -> Fold
    where
        F: FnMut(Self::Item) -> bool,
    {
        let this = self.project();
        let timed = this.ctx.timed();
        let ctx = &*this.ctx;
        let step = this.f;
        let mut upstream = this.upstream;
        let mut input = Tally::new(&ctx.counters.input);
        let mut rejected = Tally::new(&ctx.counters.filtered);
        let mut rejected_items = SharedTally::new(&ctx.control.ledger.filtered);
        fold_steps(limit, |room, given, halt| {
            upstream
                .as_mut()
                .poll_fold(cx, room, &mut |Weighted { item, weight }| {
                    input.n += 1;
                    match ctx.run_sync(timed, weight, || step.call(item)) {
                        Some(Step::Pass(out)) => {
                            *given += 1;
                            if f(Weighted::new(out, weight)) {
                                return true;
                            }
                        }
                        Some(Step::Reject) => {
                            rejected.n += 1;
                            rejected_items.n += weight;
                            return true;
                        }
                        Some(Step::Fail(error)) => ctx.failed_sync(weight, error),
                        // A panic: counted and reported.
                        None => {}
                    }
                    *halt = true;
                    false
                })
        })
    }
}

impl<S, K, E> fmt::Debug for SyncStep<S, K, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncStep")
            .field("stage", &self.ctx.counters.id())
            .finish_non_exhaustive()
    }
}
