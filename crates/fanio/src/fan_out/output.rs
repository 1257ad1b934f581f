//! [`FanOut`]: the results, fanned back in; [`Cancelled`]: what a cancel
//! hands back; [`StatsHandle`]: counters that outlive the output.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::FusedStream;

use super::shared::{OUTPUT, Shared};
use super::stats::{Counters, FanOutStats, add, add_one};
use crate::error::FanOutError;

/// The output of a fan-out: each item's result (or a [`FanOutError`]),
/// fanned back in, **in completion order** (with
/// [`Distribution::Keyed`](crate::Distribution::Keyed), results of one
/// key keep their input order). Made by [`fan_out`](crate::fan_out),
/// [`fan_out_keyed`](crate::fan_out_keyed) or
/// [`FanOutBuilder::spawn`](crate::FanOutBuilder::spawn).
///
/// The stream ends once the input has ended and every item's result has
/// been yielded. Its buffer is bounded
/// ([`output_capacity`](crate::FanOutBuilder::output_capacity)): a consumer
/// that stops polling holds up the workers, and through their queues the
/// input (backpressure end to end).
///
/// # Stopping early
///
/// - [`cancel`](FanOut::cancel) stops taking input, lets the workers
///   finish the items they are running, and hands back everything:
///   unstarted items and the results not yet yielded. Nothing is lost.
/// - Dropping the `FanOut` does the same without waiting: unstarted items
///   are dropped and counted in [`FanOutStats::abandoned`], results still
///   computed are counted in [`FanOutStats::discarded`]; read them from a
///   [`StatsHandle`] taken beforehand. The tasks exit on their own.
///
/// # Tasks dropped by their executor
///
/// If the executor drops a worker or the feeder task while it runs (a
/// runtime shutting down, an aborted task), the stream still ends, and
/// reports what happened instead of losing it:
///
/// - the item a dropped worker was running is gone with its task:
///   [`FanOutError::WorkerDropped`] stands for it; a result it was holding
///   for room in the output is still delivered;
/// - once every worker of a queue is gone (the worker, under
///   [`Distribution::Keyed`](crate::Distribution::Keyed); all of them,
///   under `Shared`), the items in that queue, and every later item routed
///   to it, come back unstarted in [`FanOutError::Unstarted`] (the feeder
///   goes on reading the input, so nothing is left unaccounted); the other
///   keys go on, in order;
/// - a dropped feeder hands back the item it held ([`Unstarted`](FanOutError::Unstarted))
///   and reports, once, that the rest of the input was not read
///   ([`FanOutError::FeederDropped`]).
///
/// These outcomes go into the output's buffer even when it is full (a
/// dropped task cannot wait): at most two per task, plus what was queued
/// for the workers that are gone.
#[must_use = "streams do nothing unless polled"]
pub struct FanOut<T, U> {
    shared: Arc<Shared<T, U>>,
    /// Results taken from the output queue all at once (one lock per run,
    /// not per result), not yet yielded: still part of the output's
    /// buffer. Behind a `Mutex` only so that `FanOut` stays `Sync` for
    /// results that are `Send` but not `Sync`: it is reached through
    /// `&mut self` ([`Mutex::get_mut`], no locking), except by
    /// `is_terminated`.
    run: Mutex<VecDeque<Result<U, FanOutError<T>>>>,
    /// Whether the stream has yielded `None`.
    ended: bool,
}

/// What [`FanOut::cancel`] hands back.
#[non_exhaustive]
pub struct Cancelled<T, U> {
    /// Items taken from the input but never started, in no particular
    /// order.
    pub unstarted: Vec<T>,
    /// Results (and errors) not yet yielded when the cancel began, plus
    /// those of the items that were running, in completion order.
    pub finished: Vec<Result<U, FanOutError<T>>>,
    /// The counters once every task has exited.
    pub stats: FanOutStats,
}

impl<T, U> FanOut<T, U> {
    pub(crate) fn new(shared: Arc<Shared<T, U>>) -> Self {
        Self {
            shared,
            run: Mutex::new(VecDeque::new()),
            ended: false,
        }
    }

    /// The results taken from the output queue and not yet yielded.
    fn run(&mut self) -> &mut VecDeque<Result<U, FanOutError<T>>> {
        self.run.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether every result taken in a run has been yielded (through
    /// `&self`, so it locks: uncontended, as nothing else does).
    fn run_is_empty(&self) -> bool {
        self.run
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// A snapshot of the counters: per worker started / completed /
    /// panicked / busy, and the totals.
    pub fn stats(&self) -> FanOutStats {
        self.shared.counters.snapshot()
    }

    /// A cheap handle to the counters that stays usable after the output is
    /// dropped.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(Arc::clone(&self.shared.counters))
    }

    /// Stops the fan-out and hands back everything it holds: the input is
    /// no longer polled (and is dropped), items still queued come back
    /// unstarted, and the items the workers are running finish (this waits
    /// for them) with their results in [`Cancelled::finished`].
    ///
    /// The worker and feeder tasks must still be able to run (their
    /// executor alive).
    ///
    /// Cancel safety: dropping this future part-way leaves the fan-out
    /// cancelled, as dropping the `FanOut` does: unstarted items are
    /// dropped (counted in [`FanOutStats::abandoned`]) and the results it
    /// had collected, like those still to come, are dropped and counted in
    /// [`FanOutStats::discarded`].
    pub async fn cancel(mut self) -> Cancelled<T, U> {
        self.shared.cancel(true);
        // Results held here reach the caller only if this future
        // completes: dropped part-way, it counts them as discarded.
        let mut held = Held {
            results: Vec::from(std::mem::take(self.run())),
            counters: &self.shared.counters,
        };
        // Ends once the feeder and every worker have exited; each hands
        // its unstarted items back before it does.
        while let Some(result) = poll_fn(|cx| self.shared.out.poll_pop(OUTPUT, cx)).await {
            held.results.push(result);
        }
        let finished = std::mem::take(&mut held.results);
        add(&self.shared.counters.delivered, finished.len());
        Cancelled {
            unstarted: self.shared.take_returned(),
            finished,
            stats: self.shared.counters.snapshot(),
        }
    }
}

/// The results a [`FanOut::cancel`] collected so far: counted as
/// discarded if the cancel is dropped before it hands them over.
struct Held<'a, R> {
    results: Vec<R>,
    counters: &'a Counters,
}

impl<R> Drop for Held<'_, R> {
    fn drop(&mut self) {
        add(&self.counters.discarded, self.results.len());
    }
}

impl<T, U> Drop for FanOut<T, U> {
    fn drop(&mut self) {
        // Stop the input and the queued work: nobody will take results.
        self.shared.cancel(false);
        // Results already buffered are discarded (later pushes fail and
        // are counted by their tasks); tasks waiting for room are woken
        // to find the output gone.
        let buffered = self.shared.out.close_and_take();
        let run = std::mem::take(self.run());
        add(&self.shared.counters.discarded, buffered.len() + run.len());
        drop(buffered);
        drop(run);
    }
}

// Nothing in a `FanOut` is ever pinned (its results are moved out as
// they are yielded), so it is `Unpin` whatever `T` and `U` are.
impl<T, U> Unpin for FanOut<T, U> {}

impl<T, U> Stream for FanOut<T, U> {
    type Item = Result<U, FanOutError<T>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let run = this.run.get_mut().unwrap_or_else(PoisonError::into_inner);
            if let Some(result) = run.pop_front() {
                add_one(&this.shared.counters.delivered);
                return Poll::Ready(Some(result));
            }
            match this.shared.out.poll_take_all(OUTPUT, run, cx) {
                Poll::Ready(true) => {}
                Poll::Ready(false) => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T, U> FusedStream for FanOut<T, U> {
    fn is_terminated(&self) -> bool {
        self.ended || (self.run_is_empty() && self.shared.out.is_ended())
    }
}

impl<T, U> fmt::Debug for FanOut<T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOut")
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T, U> fmt::Debug for Cancelled<T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("unstarted", &self.unstarted.len())
            .field("finished", &self.finished.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// The counters of a fan-out, readable while and after it runs (see
/// [`FanOut::stats_handle`]).
#[derive(Clone)]
pub struct StatsHandle(Arc<Counters>);

impl StatsHandle {
    /// A snapshot of the counters.
    pub fn stats(&self) -> FanOutStats {
        self.0.snapshot()
    }
}

impl fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StatsHandle").field(&self.stats()).finish()
    }
}
