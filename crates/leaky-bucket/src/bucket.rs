//! [`LeakyBucket`]: the handle callers share.

use std::fmt;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use futures_core::Stream;
use sluicegate_rt::{Clock, Sleeper};

use crate::builder::Builder;
use crate::error::NotReady;
use crate::futures::Acquire;
use crate::room::{Config, State};
use crate::schedule::{NEVER, duration};
use crate::stats::Stats;
use crate::stream::Paced;
use crate::sync::{Arc, Mutex, MutexGuard};

/// A pacer: releases callers at evenly spaced instants, one per slot.
///
/// Slot `k` lies at `start + k · period / rate` (exactly; rounding never
/// accumulates). Each caller takes the next free slot and is released at it:
/// at once if it is due, else after waiting in a bounded, FIFO waiting room.
/// Lateness is credited back: the schedule is computed from the previous
/// slot, never from the time a waiter actually woke, so late timers make the
/// callers behind catch up instead of slowing the rate.
///
/// The handle is cheap to clone; clones share the same schedule. Build one
/// with [`LeakyBucket::builder`], [`per_second`](LeakyBucket::per_second) or
/// [`every`](LeakyBucket::every). See the [crate docs](crate) for an example.
pub struct LeakyBucket<C = sluicegate_rt::SystemClock, S = crate::NoSleeper> {
    pub(crate) inner: Arc<Inner<C, S>>,
}

pub(crate) struct Inner<C, S> {
    clock: C,
    sleeper: S,
    origin: Instant,
    pub(crate) config: Config,
    state: Mutex<State>,
}

impl<C, S> Inner<C, S> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // The state is never left half-updated by a panic (no user code runs
        // under the lock), so poisoning is no reason to fail.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<C: Clock, S> Inner<C, S> {
    /// Nanoseconds since the origin, on the bucket's clock.
    pub(crate) fn now(&self) -> u128 {
        self.clock
            .now()
            .saturating_duration_since(self.origin)
            .as_nanos()
            .min(NEVER)
    }
}

impl<C, S: Sleeper> Inner<C, S> {
    /// A sleep until `slot` (nanoseconds since the origin), or `None` if the
    /// slot lies beyond what `Instant` can represent: no clock can reach it,
    /// so the caller waits for ever (no timer would be honest about it).
    pub(crate) fn sleep_until(&self, slot: u128) -> Option<S::Sleep> {
        let at = self.origin.checked_add(duration(slot))?;
        Some(self.sleeper.sleep_until(at))
    }
}

impl LeakyBucket {
    /// Settings for a bucket releasing `rate` callers per `period`, evenly
    /// spaced. Errors (zero rate or period, more than one per nanosecond)
    /// are reported by [`Builder::build`].
    pub fn builder(rate: u32, period: Duration) -> Builder {
        Builder::new(rate, period)
    }

    /// `rate` callers per second: `builder(rate, Duration::from_secs(1))`.
    pub fn per_second(rate: u32) -> Builder {
        Builder::new(rate, Duration::from_secs(1))
    }

    /// One caller every `interval`: `builder(1, interval)`.
    pub fn every(interval: Duration) -> Builder {
        Builder::new(1, interval)
    }
}

impl<C: Clock, S> LeakyBucket<C, S> {
    pub(crate) fn new(config: Config, clock: C, sleeper: S) -> Self {
        let origin = clock.now();
        Self {
            inner: Arc::new(Inner {
                clock,
                sleeper,
                origin,
                config,
                state: Mutex::new(State::new()),
            }),
        }
    }

    /// Takes the next slot if it is due now and nobody is waiting, without
    /// waiting. FIFO holds: a caller never jumps ahead of the waiting room.
    ///
    /// # Errors
    ///
    /// [`NotReady`], with how long this caller would have waited for its
    /// slot behind everyone already waiting.
    pub fn try_acquire(&self) -> Result<(), NotReady> {
        let now = self.inner.now();
        self.inner.lock().try_take(&self.inner.config, now)
    }
}

impl<C: Clock, S: Sleeper> LeakyBucket<C, S> {
    /// Waits for the next slot: resolves at it, or at once with
    /// [`Full`](crate::Full) if the waiting room is full.
    ///
    /// The caller's place is taken when the future is first polled; callers
    /// are released in that order (FIFO).
    ///
    /// Cancel-safe: dropping the future frees its place in the waiting room,
    /// and its slot goes to the next caller (slots are assigned when a
    /// caller reaches the head of the queue, from the time it arrived, so
    /// nothing is wasted and nothing drifts).
    pub fn acquire(&self) -> Acquire<'_, C, S> {
        Acquire::new(self)
    }

    /// Paces `stream`: each item is yielded no earlier than its own slot.
    ///
    /// Items take slots in the same FIFO as [`acquire`](Self::acquire)
    /// callers, one at a time: the next item is pulled only after the
    /// previous one was yielded. A paced stream never spills and never drops
    /// an item; see [`Paced`] for the exact semantics.
    pub fn pace<St: Stream>(&self, stream: St) -> Paced<St, C, S> {
        Paced::new(stream, self.clone())
    }
}

impl<C, S> LeakyBucket<C, S> {
    /// A consistent snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.inner.lock().stats()
    }

    /// The spacing of slots, `period / rate`, rounded up to whole
    /// nanoseconds (the schedule itself is exact).
    pub fn interval(&self) -> Duration {
        self.inner.config.rate.interval()
    }

    /// Slots per [`period`](Self::period).
    pub fn rate(&self) -> u32 {
        self.inner.config.rate.count()
    }

    /// The period the [`rate`](Self::rate) is counted over.
    pub fn period(&self) -> Duration {
        self.inner.config.rate.period()
    }

    /// How much idle time may be banked.
    pub fn slack(&self) -> Duration {
        self.inner.config.rate.slack()
    }

    /// The most callers that may wait at once.
    pub fn capacity(&self) -> usize {
        self.inner.config.capacity
    }
}

impl<C, S> Clone for LeakyBucket<C, S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C, S> fmt::Debug for LeakyBucket<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakyBucket")
            .field("rate", &self.rate())
            .field("period", &self.period())
            .field("slack", &self.slack())
            .field("capacity", &self.capacity())
            .field("stats", &self.stats())
            .finish()
    }
}
