//! [`Quota`]: a rate and a burst, validated.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::error::QuotaError;
use crate::gcra::MAX_SPAN;

/// How much a limiter admits: `count` per `period` on average, and up to
/// `burst` at once after an idle spell.
///
/// Internally the rate becomes an *emission interval* `T = period / count`,
/// rounded up to whole nanoseconds, so a quota never admits more than it
/// says. Rates from one per 146 years up to 10⁹ per second are exact or
/// within one nanosecond per token.
///
/// A burst is clamped so that refilling it takes at most about 146 years
/// (at one token per hour: 1,281,023 tokens); [`burst`](Self::burst)
/// reports the value in force. This keeps every computation exact.
///
/// ```
/// use sluicegate_token_bucket::Quota;
/// use std::time::Duration;
///
/// let q = Quota::per_second(100)?.with_burst(20)?;
/// assert_eq!(q.emission_interval(), Duration::from_millis(10));
/// assert_eq!(q.burst(), 20);
/// # Ok::<(), sluicegate_token_bucket::QuotaError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Nanoseconds per token; at least 1.
    pub(crate) interval_ns: u64,
    pub(crate) burst: NonZeroU32,
}

impl Quota {
    /// `count` tokens per `period`, with a burst of `count`.
    ///
    /// # Errors
    ///
    /// [`QuotaError::ZeroRate`] if `count` is 0, [`QuotaError::ZeroPeriod`]
    /// if `period` is zero, [`QuotaError::RateTooHigh`] if one token would
    /// take less than a nanosecond, [`QuotaError::PeriodTooLong`] if one
    /// token would take more than about 146 years.
    pub fn new(count: u32, period: Duration) -> Result<Self, QuotaError> {
        let burst = NonZeroU32::new(count).ok_or(QuotaError::ZeroRate)?;
        if period.is_zero() {
            return Err(QuotaError::ZeroPeriod);
        }
        let interval = period.as_nanos().div_ceil(u128::from(count));
        let interval_ns = u64::try_from(interval)
            .ok()
            .filter(|&ns| ns <= MAX_SPAN)
            .ok_or(QuotaError::PeriodTooLong)?;
        if period.as_nanos() < u128::from(count) {
            return Err(QuotaError::RateTooHigh { count, period });
        }
        Ok(Self {
            interval_ns,
            burst: clamp_burst(burst, interval_ns),
        })
    }

    /// `count` per second, burst `count`.
    ///
    /// # Errors
    ///
    /// As [`Quota::new`].
    pub fn per_second(count: u32) -> Result<Self, QuotaError> {
        Self::new(count, Duration::from_secs(1))
    }

    /// `count` per minute, burst `count`.
    ///
    /// # Errors
    ///
    /// As [`Quota::new`].
    pub fn per_minute(count: u32) -> Result<Self, QuotaError> {
        Self::new(count, Duration::from_secs(60))
    }

    /// `count` per hour, burst `count`.
    ///
    /// # Errors
    ///
    /// As [`Quota::new`].
    pub fn per_hour(count: u32) -> Result<Self, QuotaError> {
        Self::new(count, Duration::from_secs(3600))
    }

    /// One token every `interval`, burst 1.
    ///
    /// # Errors
    ///
    /// [`QuotaError::ZeroPeriod`] for a zero interval,
    /// [`QuotaError::PeriodTooLong`] above about 146 years.
    pub fn with_interval(interval: Duration) -> Result<Self, QuotaError> {
        Self::new(1, interval)
    }

    /// The same rate with a different burst.
    ///
    /// A burst whose replenishment would take longer than about 146 years
    /// is clamped to that (see the type's docs).
    ///
    /// # Errors
    ///
    /// [`QuotaError::ZeroBurst`] if `burst` is 0.
    pub fn with_burst(self, burst: u32) -> Result<Self, QuotaError> {
        let burst = NonZeroU32::new(burst).ok_or(QuotaError::ZeroBurst)?;
        Ok(Self {
            burst: clamp_burst(burst, self.interval_ns),
            ..self
        })
    }

    /// The time one token takes to replenish.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns)
    }

    /// The most tokens available at once.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// The time a full burst takes to replenish (saturating).
    pub fn replenish_all(&self) -> Duration {
        Duration::from_nanos(self.tolerance_ns())
    }

    /// `burst · T` in nanoseconds (exact: the burst is clamped to fit).
    pub(crate) fn tolerance_ns(&self) -> u64 {
        self.interval_ns.saturating_mul(u64::from(self.burst.get()))
    }
}

/// The largest burst whose `burst · T` fits in [`MAX_SPAN`].
fn clamp_burst(burst: NonZeroU32, interval_ns: u64) -> NonZeroU32 {
    let max = u32::try_from(MAX_SPAN / interval_ns.max(1)).unwrap_or(u32::MAX);
    NonZeroU32::new(burst.get().min(max)).unwrap_or(NonZeroU32::MIN)
}

impl Quota {
    /// Rebuilds a quota from its stored parts (both already valid).
    pub(crate) fn from_parts(interval_ns: u64, burst: u32) -> Self {
        Self {
            interval_ns: interval_ns.max(1),
            burst: clamp_burst(
                NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
                interval_ns,
            ),
        }
    }
}
