//! The sources: a stream ([`Source`]), or a generator that owns its output
//! ([`Emitter`], read by [`GenSource`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;
use futures_core::Stream;
use pin_project_lite::pin_project;
use sluicegate_backpressure::futures::Reserve;
use sluicegate_backpressure::{NoSleeper, Receiver, Sender, TryRecvError};
use sluicegate_rt::SystemClock;

use super::ctx::Weighted;
use super::pull::{Fold, Pull, Sealed, Tally};
use crate::control::Control;
use crate::error::EmitError;
use crate::stats::StageCounters;

pin_project! {
    /// The source stage over a stream: takes items until the stream ends or
    /// the pipeline is cancelled (then it stops polling the stream).
    #[must_use = "streams do nothing unless polled"]
    pub struct Source<St, E> {
        #[pin]
        stream: St,
        control: Arc<Control<E>>,
        counters: Arc<StageCounters>,
        done: bool,
    }
}

impl<St, E> Source<St, E> {
    pub(crate) fn new(stream: St, control: Arc<Control<E>>, counters: Arc<StageCounters>) -> Self {
        Self {
            stream,
            control,
            counters,
            done: false,
        }
    }
}

impl<St: Stream, E> Stream for Source<St, E> {
    type Item = Weighted<St::Item>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        if !this.control.is_running() {
            if this.control.is_aborted() {
                // Stop at once; the run future drops everything.
                return Poll::Pending;
            }
            *this.done = true;
            return Poll::Ready(None);
        }
        // The run's yield budget (see `RunBudget`): an always-ready input
        // must not keep the run inside one poll.
        if this.control.budget.spent(cx) {
            return Poll::Pending;
        }
        match this.stream.poll_next(cx) {
            Poll::Ready(Some(item)) => {
                // One counter: the stage's input and the run's `produced`
                // are read from it (`Derived::StreamSource`).
                StageCounters::bump(&this.counters.output, 1);
                Poll::Ready(Some(Weighted::new(item, 1)))
            }
            Poll::Ready(None) => {
                *this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<St, E> Sealed for Source<St, E> {}

impl<St: Stream, E> Pull for Source<St, E> {
    /// The run's state and the yield budget are checked once per call, and
    /// the items counted once, not per item.
    #[inline]
    fn poll_fold<F>(self: Pin<&mut Self>, cx: &mut Context<'_>, limit: usize, f: &mut F) -> Fold
    where
        F: FnMut(Self::Item) -> bool,
    {
        let this = self.project();
        if *this.done {
            return Fold::End;
        }
        if !this.control.is_running() {
            if this.control.is_aborted() {
                return Fold::Pending;
            }
            *this.done = true;
            return Fold::End;
        }
        let budget = &this.control.budget;
        let room = budget.room(cx);
        if room == 0 {
            return Fold::Pending;
        }
        let most = limit.min(room as usize) as u64;
        let mut stream = this.stream;
        // Counted as it goes, written once (also if a poll unwinds).
        let mut tally = Tally::new(&this.counters.output);
        let stop = loop {
            if tally.n >= most {
                break Fold::Limit;
            }
            match stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    tally.n += 1;
                    if !f(Weighted::new(item, 1)) {
                        break Fold::Limit;
                    }
                }
                Poll::Ready(None) => {
                    *this.done = true;
                    break Fold::End;
                }
                Poll::Pending => break Fold::Pending,
            }
        };
        // `tally.n <= room`: the budget is at most spent.
        budget.spend(tally.n as u32);
        stop
    }
}

impl<St, E> fmt::Debug for Source<St, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// A generator's output, handed to the generator function of
/// [`Pipeline::generator`](crate::Pipeline::generator): it owns the
/// pipeline's input, and the input ends when the generator returns (and
/// drops every clone of it), as a Go generator closes its channel.
///
/// [`emit`](Emitter::emit) waits while the first buffer is full
/// (backpressure) and hands the item back once the pipeline stops taking
/// items (cancelled, aborted, failed fast).
pub struct Emitter<T, E> {
    tx: Sender<T>,
    control: Arc<Control<E>>,
    counters: Arc<StageCounters>,
}

impl<T, E> Emitter<T, E> {
    pub(crate) fn new(
        tx: Sender<T>,
        control: Arc<Control<E>>,
        counters: Arc<StageCounters>,
    ) -> Self {
        Self {
            tx,
            control,
            counters,
        }
    }

    /// Hands `item` to the pipeline, waiting while its first buffer is
    /// full. It is produced (counted) once the future resolves to `Ok`.
    ///
    /// Cancel-safe and lossless: until it resolves the item stays inside
    /// the future, and [`Emit::into_inner`] takes it back from a future
    /// that lost a race (a `select!` against a deadline).
    ///
    /// # Errors
    ///
    /// [`EmitError`] with the item, once the pipeline has stopped taking
    /// items: the generator should return.
    pub fn emit(&self, item: T) -> Emit<'_, T, E> {
        Emit {
            emitter: self,
            item: Some(item),
            reserve: self.tx.reserve(),
            listener: None,
        }
    }

    /// Whether the pipeline has stopped taking items.
    pub fn is_stopped(&self) -> bool {
        !self.control.is_running() || self.tx.is_closed()
    }
}

impl<T, E> Clone for Emitter<T, E> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            control: Arc::clone(&self.control),
            counters: Arc::clone(&self.counters),
        }
    }
}

impl<T, E> fmt::Debug for Emitter<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

/// Emits one item; made by [`Emitter::emit`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Emit<'a, T, E> {
    emitter: &'a Emitter<T, E>,
    item: Option<T>,
    reserve: Reserve<'a, T, SystemClock, NoSleeper>,
    listener: Option<EventListener>,
}

impl<T, E> Emit<'_, T, E> {
    /// The item, if it was not emitted: `None` once the future resolved.
    pub fn into_inner(mut self) -> Option<T> {
        self.item.take()
    }
}

// The item is never pinned: it is only moved into the queue or back out.
impl<T, E> Unpin for Emit<'_, T, E> {}

impl<T, E> Future for Emit<'_, T, E> {
    type Output = Result<(), EmitError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let emitter = this.emitter;
        let stopped = |item: &mut Option<T>| {
            let item = item.take().expect("`Emit` polled after it resolved");
            Poll::Ready(Err(EmitError(item)))
        };
        loop {
            if !emitter.control.is_running() {
                return stopped(&mut this.item);
            }
            if let Poll::Ready(permit) = Pin::new(&mut this.reserve).poll(cx) {
                let Ok(permit) = permit else {
                    return stopped(&mut this.item);
                };
                // Re-check: a stop that came while we waited wins. From
                // here until the item is queued the run cannot end (see
                // `Control::enter`): the run empties the buffer after us.
                let _entered = emitter.control.enter();
                if !emitter.control.is_running() {
                    return stopped(&mut this.item);
                }
                let item = this.item.take().expect("`Emit` polled after it resolved");
                StageCounters::add(&emitter.counters.input, 1);
                StageCounters::add(&emitter.control.ledger.produced, 1);
                permit.send(item);
                return Poll::Ready(Ok(()));
            }
            match &mut this.listener {
                // Listen, then re-check the state: a stop in between is seen.
                None => this.listener = Some(emitter.control.event.listen()),
                Some(listener) => {
                    if Pin::new(listener).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.listener = None;
                }
            }
        }
    }
}

impl<T, E> fmt::Debug for Emit<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emit")
            .field("pending", &self.item.is_some())
            .finish_non_exhaustive()
    }
}

/// The source stage over a generator's output: yields what the generator
/// emitted; once the pipeline is cancelled it yields what is already
/// buffered, then ends (without waiting for the generator to return).
pub struct GenSource<T, E> {
    rx: Receiver<T>,
    control: Arc<Control<E>>,
    counters: Arc<StageCounters>,
    done: bool,
}

impl<T, E> GenSource<T, E> {
    pub(crate) fn new(
        rx: Receiver<T>,
        control: Arc<Control<E>>,
        counters: Arc<StageCounters>,
    ) -> Self {
        Self {
            rx,
            control,
            counters,
            done: false,
        }
    }

    fn yielded(&self, item: T) -> Poll<Option<Weighted<T>>> {
        StageCounters::bump(&self.counters.output, 1);
        Poll::Ready(Some(Weighted::new(item, 1)))
    }
}

impl<T, E> Stream for GenSource<T, E> {
    type Item = Weighted<T>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if !this.control.is_running() {
            if this.control.is_aborted() {
                return Poll::Pending;
            }
            return match this.rx.try_recv() {
                Ok(item) => this.yielded(item),
                Err(TryRecvError::Empty | TryRecvError::Closed) => {
                    this.done = true;
                    Poll::Ready(None)
                }
            };
        }
        if this.control.budget.spent(cx) {
            return Poll::Pending;
        }
        match Pin::new(&mut this.rx).poll_next(cx) {
            Poll::Ready(Some(item)) => this.yielded(item),
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, E> Sealed for GenSource<T, E> {}
impl<T, E> Pull for GenSource<T, E> {}

impl<T, E> fmt::Debug for GenSource<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenSource")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// Drives a generator's future inside the pipeline's run future.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Generate<G> {
        #[pin]
        fut: G,
    }
}

impl<G> Generate<G> {
    pub(crate) fn new(fut: G) -> Self {
        Self { fut }
    }
}

impl<G: Future<Output = ()>> Future for Generate<G> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().fut.poll(cx)
    }
}

impl<G> fmt::Debug for Generate<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generate").finish_non_exhaustive()
    }
}
