//! Errors: a bucket that cannot be built ([`ConfigError`]), a full waiting
//! room ([`Full`]) and a slot that is not free yet ([`NotReady`]).

use std::time::Duration;

/// A setting that cannot work, reported by
/// [`Builder::build`](crate::Builder::build).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The rate is zero: no caller would ever be released.
    #[error("rate must be at least 1 per period")]
    ZeroRate,
    /// The period is zero: the rate would be infinite.
    #[error("period must be above zero")]
    ZeroPeriod,
    /// The waiting room holds nobody: use
    /// [`try_acquire`](crate::LeakyBucket::try_acquire) for a bucket that
    /// never waits.
    #[error("capacity must be at least 1")]
    ZeroCapacity,
    /// Slots would be less than a nanosecond apart (more than 10⁹ per
    /// second).
    #[error("rate too high: {rate} per {period:?} is more than one per nanosecond")]
    RateTooHigh {
        /// The requested count per period.
        rate: u32,
        /// The requested period.
        period: Duration,
    },
}

/// The waiting room was full: [`capacity`](Full::capacity) callers were
/// already waiting (or a [paced stream](crate::Paced) was already waiting
/// for a place, and goes first), so the bucket spilled this caller instead
/// of queueing it.
///
/// Returned at once by [`acquire`](crate::LeakyBucket::acquire); counted in
/// [`Stats::spilled`](crate::Stats::spilled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the waiting room is full ({capacity} callers are waiting)")]
pub struct Full {
    capacity: usize,
}

impl Full {
    pub(crate) const fn new(capacity: usize) -> Self {
        Self { capacity }
    }

    /// The size of the waiting room that was full.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// No slot is free now; returned by
/// [`try_acquire`](crate::LeakyBucket::try_acquire), counted in
/// [`Stats::denied`](crate::Stats::denied).
///
/// [`wait`](NotReady::wait) says how long this caller would have waited for
/// its slot had it queued (behind everyone in the waiting room), read on the
/// bucket's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no slot is free now; the next one is {wait:?} away")]
pub struct NotReady {
    wait: Duration,
    ahead: usize,
}

impl NotReady {
    pub(crate) const fn new(wait: Duration, ahead: usize) -> Self {
        Self { wait, ahead }
    }

    /// How long until the slot this caller would get. It can be zero when
    /// callers ahead of it are due but not released yet.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// How many callers were waiting ahead of this one.
    pub fn ahead(&self) -> usize {
        self.ahead
    }
}
