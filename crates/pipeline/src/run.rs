//! Running a pipeline: [`Runnable`] (built, not started), [`Run`] (the one
//! future that drives every stage), [`Monitor`] (live counters) and
//! [`Errors`] (the error stream).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;
use sluicegate_backpressure::Receiver;

use crate::cancel::{CancelToken, Cancelled};
use crate::control::Control;
use crate::error::PipelineError;
use crate::pipeline::Parts;
use crate::stage::Weighted;
use crate::stats::{BufferStats, Outcome, StageCounters, StageStats, Summary};

/// A type-erased handle on an inter-stage buffer.
pub(crate) trait Probe: Send + Sync {
    fn stats(&self) -> BufferStats;
    /// Drops what is queued; returns the source items it stood for.
    fn discard_all(&self) -> u64;
}

pub(crate) struct BufferProbe<T> {
    rx: Receiver<Weighted<T>>,
    after: Arc<StageCounters>,
}

impl<T> BufferProbe<T> {
    pub(crate) fn new(rx: Receiver<Weighted<T>>, after: Arc<StageCounters>) -> Self {
        Self { rx, after }
    }
}

impl<T: Send> Probe for BufferProbe<T> {
    fn stats(&self) -> BufferStats {
        BufferStats {
            after: self.after.id(),
            queue: self.rx.stats(),
        }
    }

    fn discard_all(&self) -> u64 {
        let mut items = 0;
        while let Ok(element) = self.rx.try_recv() {
            items += element.weight;
        }
        items
    }
}

struct Shared<E> {
    control: Arc<Control<E>>,
    stages: Vec<Arc<StageCounters>>,
    buffers: Vec<Box<dyn Probe>>,
}

impl<E> Shared<E> {
    fn summary(&self) -> Summary {
        let ledger = &self.control.ledger;
        let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        Summary {
            outcome: self.control.outcome(),
            produced: get(&ledger.produced) + self.stages.iter().map(|s| s.produced()).sum::<u64>(),
            delivered: get(&ledger.delivered),
            failed: get(&ledger.failed),
            filtered: get(&ledger.filtered),
            discarded: get(&ledger.discarded),
            errors: get(&ledger.errors),
            stages: self
                .stages
                .iter()
                .map(|s| s.snapshot(self.control.is_timed()))
                .collect(),
            buffers: self.buffers.iter().map(|b| b.stats()).collect(),
        }
    }
}

/// A finished pipeline, not yet started: take its [`errors`](Self::errors)
/// and [`monitor`](Self::monitor), then [`run`](Self::run) it.
#[must_use = "a pipeline does nothing until `.run(..)` is awaited"]
pub struct Runnable<D, K, E> {
    drivers: D,
    tail: K,
    shared: Arc<Shared<E>>,
    errors: async_channel::Receiver<PipelineError<E>>,
}

impl<D, K, E> Runnable<D, K, E> {
    pub(crate) fn new(drivers: D, tail: K, parts: Parts<E>) -> Self {
        if let Some(clock) = parts.clock {
            parts.control.set_clock(clock);
        }
        Self {
            drivers,
            tail,
            shared: Arc::new(Shared {
                control: parts.control,
                stages: parts.stages,
                buffers: parts.buffers,
            }),
            errors: parts.errors,
        }
    }

    /// The error stream: every failure, in the order it happened, instead
    /// of going downstream. It ends when the run is over and every error
    /// was read. Each call gives a handle on the same stream (an error goes
    /// to one of them); errors are kept (unbounded) only while some handle
    /// exists.
    pub fn errors(&self) -> Errors<E> {
        Errors {
            rx: self.errors.clone(),
        }
    }

    /// Every stage's counters now (all zero before the run), source first:
    /// shorthand for `self.monitor().stages()`.
    pub fn stats(&self) -> Vec<StageStats> {
        self.monitor().stages()
    }

    /// Live counters, usable while the pipeline runs.
    pub fn monitor(&self) -> Monitor<E> {
        Monitor {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Starts the pipeline: a future that drives every stage and resolves
    /// to the [`Summary`] once the source ended and everything drained, or
    /// once `token` is cancelled (graceful: drains) or aborted (now:
    /// discards), or after the first error under
    /// [`ErrorPolicy::FailFast`](crate::ErrorPolicy::FailFast).
    ///
    /// Dropping the future before it resolves stops the pipeline as an
    /// abort would (in-flight items are discarded and counted).
    pub fn run(self, token: CancelToken) -> Run<D, K, E> {
        // Errors are kept only for the handles taken before the run.
        drop(self.errors);
        Run {
            drivers: Some(Box::pin(self.drivers)),
            tail: Some(Box::pin(self.tail)),
            cancel_wait: Some(token.cancelled()),
            abort_wait: Some(token.aborted()),
            token,
            shared: self.shared,
            done: false,
        }
    }
}

impl<D, K, E> fmt::Debug for Runnable<D, K, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runnable")
            .field("stages", &self.shared.stages.len())
            .finish_non_exhaustive()
    }
}

/// The running pipeline, from [`Runnable::run`]: one future that polls
/// every stage. Await it (or spawn it) on any executor.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Run<D, K, E> {
    drivers: Option<Pin<Box<D>>>,
    tail: Option<Pin<Box<K>>>,
    token: CancelToken,
    cancel_wait: Option<Cancelled>,
    abort_wait: Option<Cancelled>,
    shared: Arc<Shared<E>>,
    done: bool,
}

impl<D, K, E> Run<D, K, E> {
    /// Every stage's counters now, source first: shorthand for
    /// `self.monitor().stages()`.
    pub fn stats(&self) -> Vec<StageStats> {
        self.monitor().stages()
    }

    /// Live counters.
    pub fn monitor(&self) -> Monitor<E> {
        Monitor {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Reads the token; true once the run must stop now.
    fn watch_token(&mut self, cx: &mut Context<'_>) {
        let control = &self.shared.control;
        if let Some(wait) = self.cancel_wait.as_mut() {
            if Pin::new(wait).poll(cx).is_ready() {
                self.cancel_wait = None;
                control.drain();
            }
        }
        if let Some(wait) = self.abort_wait.as_mut() {
            if Pin::new(wait).poll(cx).is_ready() {
                self.abort_wait = None;
                control.abort(Outcome::Aborted);
            }
        }
        debug_assert!(!self.token.is_aborted() || control.is_aborted());
    }

    /// Stops everything: drops the stages (each counts what it held) and
    /// empties the buffers (counting what they held).
    fn finish(&mut self) -> Summary {
        self.done = true;
        let control = &self.shared.control;
        control.close();
        self.tail = None;
        self.drivers = None;
        for buffer in &self.shared.buffers {
            let items = buffer.discard_all();
            StageCounters::add(&control.ledger.discarded, items);
        }
        self.shared.summary()
    }
}

impl<D, K, E> Future for Run<D, K, E>
where
    D: Future<Output = ()>,
    K: Future<Output = ()>,
{
    type Output = Summary;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Summary> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(this.shared.summary());
        }
        this.watch_token(cx);
        if this.shared.control.is_aborted() {
            return Poll::Ready(this.finish());
        }
        // One yield budget per poll of the run, for every stage it drives.
        this.shared.control.budget.reset();
        if let Some(drivers) = this.drivers.as_mut() {
            if drivers.as_mut().poll(cx).is_ready() {
                this.drivers = None;
            }
        }
        let tail_done = match this.tail.as_mut() {
            Some(tail) => tail.as_mut().poll(cx).is_ready(),
            None => true,
        };
        if tail_done || this.shared.control.is_aborted() {
            return Poll::Ready(this.finish());
        }
        Poll::Pending
    }
}

impl<D, K, E> Drop for Run<D, K, E> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.control.abort(Outcome::Aborted);
            let _ = self.finish();
        }
    }
}

impl<D, K, E> fmt::Debug for Run<D, K, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("token", &self.token)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Live counters of a pipeline, from [`Runnable::monitor`] or
/// [`Run::monitor`]; cheap to clone, usable from any thread.
pub struct Monitor<E> {
    shared: Arc<Shared<E>>,
}

impl<E> Monitor<E> {
    /// Every stage's counters now, source first.
    pub fn stages(&self) -> Vec<StageStats> {
        let timed = self.shared.control.is_timed();
        self.shared
            .stages
            .iter()
            .map(|s| s.snapshot(timed))
            .collect()
    }

    /// Every buffer's counters now.
    pub fn buffers(&self) -> Vec<BufferStats> {
        self.shared.buffers.iter().map(|b| b.stats()).collect()
    }

    /// The totals now (while running, [`Summary::in_flight`] is what is
    /// inside; counters are read one by one, so a snapshot taken while
    /// stages run on other threads may be off by the items moving).
    pub fn summary(&self) -> Summary {
        self.shared.summary()
    }
}

impl<E> Clone for Monitor<E> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<E> fmt::Debug for Monitor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("summary", &self.summary())
            .finish()
    }
}

pin_project! {
    /// The error stream of a pipeline, from [`Runnable::errors`]: a
    /// [`Stream`] of [`PipelineError`]s that ends once the run is over and
    /// every error was read.
    #[must_use = "streams do nothing unless polled"]
    pub struct Errors<E> {
        #[pin]
        rx: async_channel::Receiver<PipelineError<E>>,
    }
}

impl<E> Errors<E> {
    /// The next error, waiting for one; `None` once the run is over and
    /// every error was read.
    ///
    /// Cancel-safe: an error is taken from the stream only when the future
    /// resolves, so dropping a pending `recv` (a `select!` that lost)
    /// loses no error; the next `recv` gets it.
    pub async fn recv(&self) -> Option<PipelineError<E>> {
        self.rx.recv().await.ok()
    }

    /// The next error if one is waiting now.
    pub fn try_recv(&self) -> Option<PipelineError<E>> {
        self.rx.try_recv().ok()
    }

    /// Every error waiting now.
    pub fn drain(&self) -> Vec<PipelineError<E>> {
        std::iter::from_fn(|| self.try_recv()).collect()
    }
}

impl<E> Stream for Errors<E> {
    type Item = PipelineError<E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.project().rx.poll_next(cx)
    }
}

impl<E> fmt::Debug for Errors<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Errors")
            .field("waiting", &self.rx.len())
            .finish()
    }
}
