//! Errors: bad policies ([`PolicyError`]) and failed retries
//! ([`RetryError`]).

use std::time::Duration;

/// A policy setting that cannot work, reported by
/// [`PolicyBuilder::build`](crate::PolicyBuilder::build).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The exponential factor is NaN, infinite, or not above 1.
    #[error("backoff factor must be finite and greater than 1, got {0}")]
    InvalidFactor(f64),
    /// A factor was set on a constant policy.
    #[error("a factor ({0}) only applies to exponential policies")]
    FactorOnConstant(f64),
    /// The first delay is above the cap.
    #[error("base delay {base:?} is above max_delay {max_delay:?}")]
    BaseAboveCap {
        /// The first delay.
        base: Duration,
        /// The cap.
        max_delay: Duration,
    },
    /// `max_attempts(0)`: not even the first call could run.
    #[error("max_attempts must be at least 1")]
    ZeroAttempts,
    /// `max_elapsed(Duration::ZERO)`: no retry could ever start.
    #[error("max_elapsed must be above zero")]
    ZeroMaxElapsed,
}

/// Why a retry gave up. Every variant carries the last error the operation
/// returned (it is never lost) and the number of attempts made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetryError<E> {
    /// The operation returned an error classified as permanent.
    #[error("permanent error on attempt {attempts}")]
    Permanent {
        /// The error.
        #[source]
        last: E,
        /// Attempts made, this one included.
        attempts: u32,
    },
    /// Every allowed attempt failed.
    #[error("gave up after {attempts} attempts")]
    Exhausted {
        /// The last attempt's error.
        #[source]
        last: E,
        /// Attempts made.
        attempts: u32,
    },
    /// The next attempt would have started after the policy's
    /// [`max_elapsed`](crate::Policy::max_elapsed).
    #[error("retry deadline reached after {attempts} attempts")]
    DeadlineExceeded {
        /// The last attempt's error.
        #[source]
        last: E,
        /// Attempts made.
        attempts: u32,
    },
    /// The cancel signal fired while waiting to retry.
    #[error("retry cancelled after {attempts} attempts")]
    Cancelled {
        /// The last attempt's error.
        #[source]
        last: E,
        /// Attempts made.
        attempts: u32,
    },
}

impl<E> RetryError<E> {
    /// The last error the operation returned.
    pub fn last_error(&self) -> &E {
        match self {
            Self::Permanent { last, .. }
            | Self::Exhausted { last, .. }
            | Self::DeadlineExceeded { last, .. }
            | Self::Cancelled { last, .. } => last,
        }
    }

    /// Takes the last error the operation returned.
    pub fn into_last_error(self) -> E {
        match self {
            Self::Permanent { last, .. }
            | Self::Exhausted { last, .. }
            | Self::DeadlineExceeded { last, .. }
            | Self::Cancelled { last, .. } => last,
        }
    }

    /// How many attempts were made.
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Permanent { attempts, .. }
            | Self::Exhausted { attempts, .. }
            | Self::DeadlineExceeded { attempts, .. }
            | Self::Cancelled { attempts, .. } => *attempts,
        }
    }

    /// True for [`RetryError::Permanent`].
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent { .. })
    }

    /// True for [`RetryError::Exhausted`].
    pub fn is_exhausted(&self) -> bool {
        matches!(self, Self::Exhausted { .. })
    }

    /// True for [`RetryError::DeadlineExceeded`].
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(self, Self::DeadlineExceeded { .. })
    }

    /// True for [`RetryError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled { .. })
    }
}

/// The full outcome of a retry: its result and how many attempts it took
/// (see [`Retry::report`](crate::Retry::report) and
/// [`Retry::call_report`](crate::Retry::call_report)).
#[derive(Debug)]
#[non_exhaustive]
pub struct Report<T, E> {
    /// What the retry returned.
    pub result: Result<T, RetryError<E>>,
    /// Attempts made, the successful one included.
    pub attempts: u32,
}
