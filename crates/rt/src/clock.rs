//! The [`Clock`] trait: where a primitive reads the current time.

use std::time::Instant;

/// A source of the current time.
///
/// Primitives read time only through a `Clock`, so tests can swap in
/// [`ManualClock`](crate::ManualClock) and run in virtual time. Every clock
/// speaks [`std::time::Instant`], so instants from different clocks (say, a
/// deadline computed by the caller and the clock inside a limiter) compare
/// without conversion.
///
/// Any `Fn() -> Instant` is a clock, so `Instant::now` itself works:
///
/// ```
/// use sluicegate_rt::Clock;
/// use std::time::Instant;
///
/// fn stamp(clock: &impl Clock) -> Instant {
///     clock.now()
/// }
/// let _ = stamp(&Instant::now);
/// let _ = stamp(&sluicegate_rt::SystemClock);
/// ```
pub trait Clock {
    /// The current instant. Successive calls never go backwards.
    fn now(&self) -> Instant;
}

impl<F> Clock for F
where
    F: Fn() -> Instant,
{
    #[inline]
    fn now(&self) -> Instant {
        self()
    }
}

/// The real, monotonic clock: [`Instant::now`].
///
/// This is the default clock of every sluicegate primitive. It needs no
/// executor.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}
