//! The async one-in, at-most-one-out stages: [`Map`], [`TryMap`],
//! [`Filter`], one generic [`AsyncStep`] over what the async function
//! means ([`AsyncFn`]). Each takes one element, runs the user's async
//! function on it, and passes the result on (or reports the failure, or
//! drops a filtered element).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

use super::ctx::{Ctx, InHand, Weighted, poll_slot, start_slot};
use super::pull::{Fold, Pull, Sealed, SharedTally, Tally, fold_steps};
use super::sync_steps::Step;

/// The async function of a step, and what its result means: a map
/// ([`MapAsync`]), a fallible map ([`TryMapAsync`]) or a filter
/// ([`FilterAsync`]). You never implement it.
pub trait AsyncFn<T, E>: Sealed {
    /// The function's future.
    type Fut: Future;
    /// What the step keeps while the future runs (a filter: the element).
    type Held;
    /// What the step passes on.
    type Out;
    /// Starts the function on one element.
    fn call(&mut self, item: T) -> (Self::Fut, Self::Held);
    /// What the finished future means.
    fn finish(out: <Self::Fut as Future>::Output, held: Self::Held) -> Step<Self::Out, E>;
}

/// A `map` function `T -> impl Future<Output = U>`.
#[derive(Clone, Copy)]
pub struct MapAsync<F>(pub(crate) F);

/// A `try_map` function `T -> impl Future<Output = Result<U, E>>`.
#[derive(Clone, Copy)]
pub struct TryMapAsync<F>(pub(crate) F);

/// A `filter` predicate `&T -> impl Future<Output = bool>`.
#[derive(Clone, Copy)]
pub struct FilterAsync<F>(pub(crate) F);

impl<F> Sealed for MapAsync<F> {}
impl<F> Sealed for TryMapAsync<F> {}
impl<F> Sealed for FilterAsync<F> {}

impl<F, T, Fut, E> AsyncFn<T, E> for MapAsync<F>
where
    F: FnMut(T) -> Fut,
    Fut: Future,
{
    type Fut = Fut;
    type Held = ();
    type Out = Fut::Output;

    #[inline(always)]
    fn call(&mut self, item: T) -> (Fut, ()) {
        ((self.0)(item), ())
    }

    #[inline(always)]
    fn finish(out: Fut::Output, (): ()) -> Step<Fut::Output, E> {
        Step::Pass(out)
    }
}

impl<F, T, Fut, U, E> AsyncFn<T, E> for TryMapAsync<F>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = Result<U, E>>,
{
    type Fut = Fut;
    type Held = ();
    type Out = U;

    #[inline(always)]
    fn call(&mut self, item: T) -> (Fut, ()) {
        ((self.0)(item), ())
    }

    #[inline(always)]
    fn finish(out: Result<U, E>, (): ()) -> Step<U, E> {
        match out {
            Ok(out) => Step::Pass(out),
            Err(error) => Step::Fail(error),
        }
    }
}

impl<F, T, Fut, E> AsyncFn<T, E> for FilterAsync<F>
where
    F: FnMut(&T) -> Fut,
    Fut: Future<Output = bool>,
{
    type Fut = Fut;
    type Held = T;
    type Out = T;

    #[inline(always)]
    fn call(&mut self, item: T) -> (Fut, T) {
        ((self.0)(&item), item)
    }

    #[inline(always)]
    fn finish(keep: bool, item: T) -> Step<T, E> {
        if keep { Step::Pass(item) } else { Step::Reject }
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

debug_fn!(MapAsync, TryMapAsync, FilterAsync);

pin_project! {
    /// An async step: runs an async function ([`AsyncFn`]) on each
    /// element, one at a time, under a panic guard.
    #[must_use = "streams do nothing unless polled"]
    pub struct AsyncStep<S, K, Fut, H, E> {
        #[pin]
        upstream: S,
        f: K,
        #[pin]
        pending: Option<Fut>,
        held: Option<H>,
        ctx: Ctx<E>,
    }
}

/// `map`: `T -> U` through an async function.
pub type Map<S, F, Fut, E> = AsyncStep<S, MapAsync<F>, Fut, (), E>;

/// `try_map`: `T -> Result<U, E>` through an async function; an `Err`
/// goes to the error stream, not downstream.
pub type TryMap<S, F, Fut, E> = AsyncStep<S, TryMapAsync<F>, Fut, (), E>;

/// `filter`: keeps the elements for which an async predicate says
/// `true`; the others are counted as filtered.
pub type Filter<S, F, Fut, T, E> = AsyncStep<S, FilterAsync<F>, Fut, T, E>;

impl<S, K, Fut, H, E> AsyncStep<S, K, Fut, H, E> {
    pub(crate) fn new(upstream: S, f: K, ctx: Ctx<E>) -> Self {
        Self {
            upstream,
            f,
            pending: None,
            held: None,
            ctx,
        }
    }
}

/// The held element's future finished with `out`: passes it on, or
/// counts it as failed or filtered.
#[inline]
fn finish_one<K, T, E>(
    ctx: &mut Ctx<E>,
    out: <K::Fut as Future>::Output,
    held: Option<K::Held>,
) -> Option<Weighted<K::Out>>
where
    K: AsyncFn<T, E>,
{
    let Some(held) = held else {
        // Unreachable: a future is only stored with what it holds.
        ctx.panic_one("the step lost its element".into());
        return None;
    };
    match K::finish(out, held) {
        Step::Pass(out) => {
            let weight = ctx.pass_one();
            Some(Weighted::new(out, weight))
        }
        Step::Fail(error) => {
            ctx.fail_one(error);
            None
        }
        Step::Reject => {
            ctx.filter_one();
            None
        }
    }
}

impl<S, K, Fut, H, E, T> Stream for AsyncStep<S, K, Fut, H, E>
where
    S: Stream<Item = Weighted<T>>,
    K: AsyncFn<T, E, Fut = Fut, Held = H>,
    Fut: Future,
{
    type Item = Weighted<K::Out>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match poll_slot(this.pending.as_mut(), cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(out))) => {
                    let held = this.held.take();
                    if let Some(out) = finish_one::<K, T, E>(this.ctx, out, held) {
                        return Poll::Ready(Some(out));
                    }
                }
                Poll::Ready(Some(Err(message))) => {
                    *this.held = None;
                    this.ctx.panic_one(message);
                }
                Poll::Ready(None) => {}
            }
            if this.ctx.control.is_aborted() {
                // Stop at once; the run future drops everything.
                return Poll::Pending;
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Weighted { item, weight })) => {
                    this.ctx.take_one(weight);
                    let f = &mut *this.f;
                    let mut held = None;
                    let make = || {
                        let (fut, keep) = f.call(item);
                        held = Some(keep);
                        fut
                    };
                    match start_slot(this.pending.as_mut(), make, cx) {
                        Poll::Pending => *this.held = held,
                        Poll::Ready(Ok(out)) => {
                            if let Some(out) = finish_one::<K, T, E>(this.ctx, out, held) {
                                return Poll::Ready(Some(out));
                            }
                        }
                        Poll::Ready(Err(message)) => this.ctx.panic_one(message),
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S, K, Fut, H, E> Sealed for AsyncStep<S, K, Fut, H, E> {}

impl<S, K, Fut, H, E, T> Pull for AsyncStep<S, K, Fut, H, E>
where
    S: Pull<Item = Weighted<T>>,
    K: AsyncFn<T, E, Fut = Fut, Held = H>,
    Fut: Future,
{
    /// Wraps `f` and folds the upstream: each element's future is made
    /// and polled at once; the first that is not ready is kept (held) and
    /// ends the run, as does a failure or a panic (so a fail-fast is seen
    /// at once). Elements in, out and rejected are counted once per call.
    #[inline]
    fn poll_fold<G>(self: Pin<&mut Self>, cx: &mut Context<'_>, limit: usize, f: &mut G) -> Fold
    where
        G: FnMut(Self::Item) -> bool,
    {
        let mut this = self.project();
        let mut first = 0usize;
        // First the element held from an earlier poll.
        match poll_slot(this.pending.as_mut(), cx) {
            Poll::Pending => return Fold::Pending,
            Poll::Ready(Some(Ok(out))) => {
                let held = this.held.take();
                if let Some(out) = finish_one::<K, T, E>(this.ctx, out, held) {
                    first = 1;
                    if !f(out) || limit == 1 {
                        return Fold::Limit;
                    }
                }
            }
            Poll::Ready(Some(Err(message))) => {
                *this.held = None;
                this.ctx.panic_one(message);
                return Fold::Limit;
            }
            Poll::Ready(None) => {}
        }
        if this.ctx.control.is_aborted() {
            // Stop at once; the run future drops everything.
            return Fold::Pending;
        }
        let timed = this.ctx.timed();
        let ctx = &*this.ctx;
        let step = this.f;
        let mut slot = this.pending;
        let mut upstream = this.upstream;
        // The upstream's fold holds `cx`: the futures are polled with a
        // context on the same waker.
        let waker = cx.waker().clone();
        let mut kept = None;
        let stop = {
            let mut input = Tally::new(&ctx.counters.input);
            let mut output = Tally::new(&ctx.counters.output);
            let mut rejected = Tally::new(&ctx.counters.filtered);
            let mut rejected_items = SharedTally::new(&ctx.control.ledger.filtered);
            // Counted in and not yet out: discarded if a poll unwinds.
            let mut hand = InHand::new(ctx);
            fold_steps(limit - first, |room, given, halt| {
                upstream
                    .as_mut()
                    .poll_fold(cx, room, &mut |Weighted { item, weight }| {
                        input.n += 1;
                        hand.weight = Some(weight);
                        let since = if timed {
                            ctx.control.now_if_timed(&ctx.counters)
                        } else {
                            None
                        };
                        let mut fcx = Context::from_waker(&waker);
                        let mut held = None;
                        let make = || {
                            let (fut, keep) = step.call(item);
                            held = Some(keep);
                            fut
                        };
                        let done = match start_slot(slot.as_mut(), make, &mut fcx) {
                            Poll::Pending => {
                                // Held by the stage once the fold returns.
                                hand.weight = None;
                                kept = Some((weight, since, held));
                                *halt = true;
                                return false;
                            }
                            Poll::Ready(done) => done,
                        };
                        if let Some(since) = since {
                            if let Some(now) = ctx.control.now_if_timed(&ctx.counters) {
                                ctx.counters.add_busy(now.saturating_duration_since(since));
                            }
                        }
                        let done = done.map(|out| held.map(|held| K::finish(out, held)));
                        // From here it is counted: passed on, rejected or failed.
                        hand.weight = None;
                        match done {
                            Ok(Some(Step::Pass(out))) => {
                                output.n += 1;
                                *given += 1;
                                if f(Weighted::new(out, weight)) {
                                    return true;
                                }
                            }
                            Ok(Some(Step::Reject)) => {
                                rejected.n += 1;
                                rejected_items.n += weight;
                                return true;
                            }
                            Ok(Some(Step::Fail(error))) => {
                                ctx.control.failed(&ctx.counters, weight, error);
                            }
                            Ok(None) => ctx.control.panicked(
                                &ctx.counters,
                                weight,
                                "the step lost its element".into(),
                            ),
                            Err(message) => ctx.control.panicked(&ctx.counters, weight, message),
                        }
                        *halt = true;
                        false
                    })
            })
        };
        if let Some((weight, since, held)) = kept {
            // Its future registered the waker.
            *this.held = held;
            this.ctx.hold_one(weight, since);
            return Fold::Pending;
        }
        stop
    }
}

impl<S, K, Fut, H, E> fmt::Debug for AsyncStep<S, K, Fut, H, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncStep")
            .field("stage", &self.ctx.counters.id())
            .field("holding", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}
