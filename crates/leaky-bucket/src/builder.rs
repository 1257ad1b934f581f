//! [`Builder`]: the settings of a [`LeakyBucket`], validated by
//! [`build`](Builder::build).

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use sluicegate_rt::{Clock, Sleeper, SystemClock};

use crate::bucket::LeakyBucket;
use crate::error::ConfigError;
use crate::room::Config;
use crate::schedule::Rate;

/// The waiting room's size unless [`Builder::capacity`] says otherwise.
pub const DEFAULT_CAPACITY: usize = 1024;

/// The default sleeper type: none.
///
/// A bucket built without [`Builder::sleeper`] or [`Builder::timer`] offers
/// [`try_acquire`](LeakyBucket::try_acquire) and [`stats`](LeakyBucket::stats)
/// only; [`acquire`](LeakyBucket::acquire) and [`pace`](LeakyBucket::pace)
/// need a [`Sleeper`] and do not compile without one. This is deliberate: the
/// crate picks no runtime for you.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSleeper;

/// Settings for a [`LeakyBucket`]: made by [`LeakyBucket::builder`],
/// [`LeakyBucket::per_second`] or [`LeakyBucket::every`], finished by
/// [`build`](Builder::build).
///
/// ```
/// use sluicegate_leaky_bucket::LeakyBucket;
/// use sluicegate_rt::ManualClock;
/// use std::time::Duration;
///
/// let bucket = LeakyBucket::builder(50, Duration::from_secs(1)) // one every 20 ms
///     .capacity(100)                     // at most 100 callers wait
///     .slack(Duration::from_millis(60))  // up to 3 extra back-to-back after idling
///     .timer(ManualClock::new())         // clock and sleeper in one
///     .build()?;
/// assert_eq!(bucket.interval(), Duration::from_millis(20));
/// # Ok::<(), sluicegate_leaky_bucket::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `.build()`"]
pub struct Builder<C = SystemClock, S = NoSleeper> {
    rate: u32,
    period: Duration,
    capacity: usize,
    slack: Duration,
    clock: C,
    sleeper: S,
}

impl Builder {
    pub(crate) fn new(rate: u32, period: Duration) -> Self {
        Self {
            rate,
            period,
            capacity: DEFAULT_CAPACITY,
            slack: Duration::ZERO,
            clock: SystemClock,
            sleeper: NoSleeper,
        }
    }
}

impl<C, S> Builder<C, S> {
    /// At most `capacity` callers may wait at once; the next one gets
    /// [`Full`](crate::Full) at once (default [`DEFAULT_CAPACITY`]). Size it
    /// as rate × the longest wait you accept.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How much idle time may be banked (default zero: strict spacing).
    ///
    /// After an idle spell, slots may lie up to `slack` in the past, so up
    /// to `slack / interval` extra callers pass back to back before strict
    /// spacing resumes. Slots themselves stay an interval apart; `slack`
    /// only lets the schedule lag behind the clock. `Duration::MAX` banks
    /// everything.
    pub fn slack(mut self, slack: Duration) -> Self {
        self.slack = slack;
        self
    }

    /// Reads time from `clock` (default [`SystemClock`]). It should agree
    /// with the sleeper: `TokioClock` with `TokioSleeper`, or use
    /// [`timer`](Builder::timer) with a `ManualClock`.
    pub fn clock<C2: Clock>(self, clock: C2) -> Builder<C2, S> {
        Builder {
            rate: self.rate,
            period: self.period,
            capacity: self.capacity,
            slack: self.slack,
            clock,
            sleeper: self.sleeper,
        }
    }

    /// Waits with `sleeper` (required by [`acquire`](LeakyBucket::acquire)
    /// and [`pace`](LeakyBucket::pace)). The bucket sleeps *until* each slot
    /// with [`Sleeper::sleep_until`], so use a sleeper that overrides it
    /// (every sluicegate-rt adapter does) when its time is not the real
    /// `Instant::now()`, as with tokio's paused clock.
    pub fn sleeper<S2: Sleeper>(self, sleeper: S2) -> Builder<C, S2> {
        Builder {
            rate: self.rate,
            period: self.period,
            capacity: self.capacity,
            slack: self.slack,
            clock: self.clock,
            sleeper,
        }
    }

    /// Uses `timer` as both clock and sleeper: a
    /// [`ManualClock`](sluicegate_rt::ManualClock) for tests in virtual time.
    pub fn timer<T: Clock + Sleeper + Clone>(self, timer: T) -> Builder<T, T> {
        self.clock(timer.clone()).sleeper(timer)
    }

    /// Checks the settings and builds the bucket. Its schedule starts now
    /// (on its clock), with nothing banked: the first caller passes at once,
    /// the next one an interval later.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroRate`], [`ConfigError::ZeroPeriod`],
    /// [`ConfigError::ZeroCapacity`], or [`ConfigError::RateTooHigh`] when
    /// slots would be less than a nanosecond apart.
    pub fn build(self) -> Result<LeakyBucket<C, S>, ConfigError>
    where
        C: Clock,
    {
        let count = NonZeroU32::new(self.rate).ok_or(ConfigError::ZeroRate)?;
        if self.period.is_zero() {
            return Err(ConfigError::ZeroPeriod);
        }
        if self.period.as_nanos() < u128::from(count.get()) {
            return Err(ConfigError::RateTooHigh {
                rate: self.rate,
                period: self.period,
            });
        }
        if self.capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        let config = Config {
            rate: Rate::new(count, self.period, self.slack),
            capacity: self.capacity,
        };
        Ok(LeakyBucket::new(config, self.clock, self.sleeper))
    }
}

impl<C, S> fmt::Debug for Builder<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("rate", &self.rate)
            .field("period", &self.period)
            .field("capacity", &self.capacity)
            .field("slack", &self.slack)
            .finish_non_exhaustive()
    }
}
