//! The synchronous one-in, at-most-one-out stages: [`MapSync`],
//! [`TryMapSync`], [`FilterSync`]. Like [`Map`](super::Map),
//! [`TryMap`](super::TryMap) and [`Filter`](super::Filter), for a plain
//! closure: no future is created, stored or polled per element, and an
//! element is never held across a poll (the closure runs to completion in
//! the poll that took the element).
//!
//! They do not check for an abort themselves: they hold nothing, and the
//! stage that feeds the chain (the source, a buffer's drain, a batch or
//! parallel step) checks before it yields each element, so an abort stops
//! a synchronous stage after at most the one element it is running.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

use super::ctx::{Ctx, Weighted};

pin_project! {
    /// `map_sync`: `T -> U` through a plain closure.
    #[must_use = "streams do nothing unless polled"]
    pub struct MapSync<S, F, E> {
        #[pin]
        upstream: S,
        f: F,
        ctx: Ctx<E>,
    }
}

impl<S, F, E> MapSync<S, F, E> {
    pub(crate) fn new(upstream: S, f: F, ctx: Ctx<E>) -> Self {
        Self { upstream, f, ctx }
    }
}

impl<S, F, E, T, U> Stream for MapSync<S, F, E>
where
    S: Stream<Item = Weighted<T>>,
    F: FnMut(T) -> U,
{
    type Item = Weighted<U>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Weighted { item, weight })) => {
                    let f = &mut *this.f;
                    if let Some(out) = this.ctx.call_sync(weight, || f(item)) {
                        return Poll::Ready(Some(Weighted::new(out, weight)));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

pin_project! {
    /// `try_map_sync`: `T -> Result<U, E>` through a plain closure; an
    /// `Err` goes to the error stream, not downstream.
    #[must_use = "streams do nothing unless polled"]
    pub struct TryMapSync<S, F, E> {
        #[pin]
        upstream: S,
        f: F,
        ctx: Ctx<E>,
    }
}

impl<S, F, E> TryMapSync<S, F, E> {
    pub(crate) fn new(upstream: S, f: F, ctx: Ctx<E>) -> Self {
        Self { upstream, f, ctx }
    }
}

impl<S, F, E, T, U> Stream for TryMapSync<S, F, E>
where
    S: Stream<Item = Weighted<T>>,
    F: FnMut(T) -> Result<U, E>,
{
    type Item = Weighted<U>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Weighted { item, weight })) => {
                    let f = &mut *this.f;
                    match this.ctx.call_sync_with(weight, || f(item)) {
                        Some(Ok(out)) => {
                            this.ctx.passed_sync();
                            return Poll::Ready(Some(Weighted::new(out, weight)));
                        }
                        Some(Err(error)) => this.ctx.failed_sync(weight, error),
                        None => {}
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

pin_project! {
    /// `filter_sync`: keeps the elements for which a plain predicate says
    /// `true`; the others are counted as filtered.
    #[must_use = "streams do nothing unless polled"]
    pub struct FilterSync<S, F, E> {
        #[pin]
        upstream: S,
        f: F,
        ctx: Ctx<E>,
    }
}

impl<S, F, E> FilterSync<S, F, E> {
    pub(crate) fn new(upstream: S, f: F, ctx: Ctx<E>) -> Self {
        Self { upstream, f, ctx }
    }
}

impl<S, F, E, T> Stream for FilterSync<S, F, E>
where
    S: Stream<Item = Weighted<T>>,
    F: FnMut(&T) -> bool,
{
    type Item = Weighted<T>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Weighted { item, weight })) => {
                    let f = &mut *this.f;
                    match this.ctx.call_sync_with(weight, || f(&item)) {
                        Some(true) => {
                            this.ctx.passed_sync();
                            return Poll::Ready(Some(Weighted::new(item, weight)));
                        }
                        Some(false) => this.ctx.filtered_sync(weight),
                        None => {}
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

debug_stage!(MapSync<S, F, E>);
debug_stage!(TryMapSync<S, F, E>);
debug_stage!(FilterSync<S, F, E>);
