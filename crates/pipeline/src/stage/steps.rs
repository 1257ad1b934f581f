//! The one-in, at-most-one-out stages: [`Map`], [`TryMap`], [`Filter`].
//! Each takes one element, runs the user's async function on it, and passes
//! the result on (or reports the failure, or drops a filtered element).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

use super::ctx::{Ctx, Weighted, poll_slot, start_slot};

pin_project! {
    /// `map`: `T -> U` through an async function.
    #[must_use = "streams do nothing unless polled"]
    pub struct Map<S, F, Fut, E> {
        #[pin]
        upstream: S,
        f: F,
        #[pin]
        pending: Option<Fut>,
        ctx: Ctx<E>,
    }
}

impl<S, F, Fut, E> Map<S, F, Fut, E> {
    pub(crate) fn new(upstream: S, f: F, ctx: Ctx<E>) -> Self {
        Self {
            upstream,
            f,
            pending: None,
            ctx,
        }
    }
}

impl<S, F, Fut, E, T> Stream for Map<S, F, Fut, E>
where
    S: Stream<Item = Weighted<T>>,
    F: FnMut(T) -> Fut,
    Fut: Future,
{
    type Item = Weighted<Fut::Output>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match poll_slot(this.pending.as_mut(), cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(out))) => {
                    let weight = this.ctx.pass_one();
                    return Poll::Ready(Some(Weighted::new(out, weight)));
                }
                Poll::Ready(Some(Err(message))) => this.ctx.panic_one(message),
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
                    match start_slot(this.pending.as_mut(), || f(item), cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(out)) => {
                            if let Some(out) = map_ready(this.ctx, out) {
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

pin_project! {
    /// `try_map`: `T -> Result<U, E>` through an async function; an `Err`
    /// goes to the error stream, not downstream.
    #[must_use = "streams do nothing unless polled"]
    pub struct TryMap<S, F, Fut, E> {
        #[pin]
        upstream: S,
        f: F,
        #[pin]
        pending: Option<Fut>,
        ctx: Ctx<E>,
    }
}

impl<S, F, Fut, E> TryMap<S, F, Fut, E> {
    pub(crate) fn new(upstream: S, f: F, ctx: Ctx<E>) -> Self {
        Self {
            upstream,
            f,
            pending: None,
            ctx,
        }
    }
}

impl<S, F, Fut, E, T, U> Stream for TryMap<S, F, Fut, E>
where
    S: Stream<Item = Weighted<T>>,
    F: FnMut(T) -> Fut,
    Fut: Future<Output = Result<U, E>>,
{
    type Item = Weighted<U>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match poll_slot(this.pending.as_mut(), cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(Ok(out)))) => {
                    let weight = this.ctx.pass_one();
                    return Poll::Ready(Some(Weighted::new(out, weight)));
                }
                Poll::Ready(Some(Ok(Err(error)))) => this.ctx.fail_one(error),
                Poll::Ready(Some(Err(message))) => this.ctx.panic_one(message),
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
                    match start_slot(this.pending.as_mut(), || f(item), cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(out)) => {
                            if let Some(out) = try_map_ready(this.ctx, out) {
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

pin_project! {
    /// `filter`: keeps the elements for which an async predicate says
    /// `true`; the others are counted as filtered.
    #[must_use = "streams do nothing unless polled"]
    pub struct Filter<S, F, Fut, T, E> {
        #[pin]
        upstream: S,
        f: F,
        #[pin]
        pending: Option<Fut>,
        held: Option<T>,
        ctx: Ctx<E>,
    }
}

impl<S, F, Fut, T, E> Filter<S, F, Fut, T, E> {
    pub(crate) fn new(upstream: S, f: F, ctx: Ctx<E>) -> Self {
        Self {
            upstream,
            f,
            pending: None,
            held: None,
            ctx,
        }
    }
}

impl<S, F, Fut, T, E> Stream for Filter<S, F, Fut, T, E>
where
    S: Stream<Item = Weighted<T>>,
    F: FnMut(&T) -> Fut,
    Fut: Future<Output = bool>,
{
    type Item = Weighted<T>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match poll_slot(this.pending.as_mut(), cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(true))) => {
                    let weight = this.ctx.pass_one();
                    if let Some(item) = this.held.take() {
                        return Poll::Ready(Some(Weighted::new(item, weight)));
                    }
                }
                Poll::Ready(Some(Ok(false))) => {
                    *this.held = None;
                    this.ctx.filter_one();
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
                    match start_slot(this.pending.as_mut(), || f(&item), cx) {
                        Poll::Pending => *this.held = Some(item),
                        Poll::Ready(Ok(true)) => {
                            let weight = this.ctx.pass_one();
                            return Poll::Ready(Some(Weighted::new(item, weight)));
                        }
                        Poll::Ready(Ok(false)) => this.ctx.filter_one(),
                        Poll::Ready(Err(message)) => this.ctx.panic_one(message),
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

macro_rules! debug_stage {
    ($name:ident < $($p:ident),* >) => {
        impl<$($p),*> fmt::Debug for $name<$($p),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("stage", &self.ctx.counters.id())
                    .finish_non_exhaustive()
            }
        }
    };
}

debug_stage!(Map<S, F, Fut, E>);
debug_stage!(TryMap<S, F, Fut, E>);
debug_stage!(Filter<S, F, Fut, T, E>);

/// A map's output is passed on.
#[inline]
fn map_ready<U, E>(ctx: &mut Ctx<E>, out: U) -> Option<Weighted<U>> {
    let weight = ctx.pass_one();
    Some(Weighted::new(out, weight))
}

/// A fallible map's output is passed on, or its error reported.
#[inline]
fn try_map_ready<U, E>(ctx: &mut Ctx<E>, out: Result<U, E>) -> Option<Weighted<U>> {
    match out {
        Ok(out) => map_ready(ctx, out),
        Err(error) => {
            ctx.fail_one(error);
            None
        }
    }
}
