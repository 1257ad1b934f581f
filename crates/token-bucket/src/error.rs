//! Errors: bad quotas ([`QuotaError`]), denied requests ([`TryAcquireError`],
//! [`NotUntil`]), a keyed limiter that cannot work ([`KeyedConfigError`])
//! and keyed-limiter overflow.

use std::time::{Duration, Instant};

/// A quota that cannot work, reported by [`Quota`](crate::Quota)'s
/// constructors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// A rate of zero tokens per period.
    #[error("a quota needs a rate above zero")]
    ZeroRate,
    /// A period of zero.
    #[error("a quota needs a period above zero")]
    ZeroPeriod,
    /// A burst of zero: no request could ever be admitted.
    #[error("a quota needs a burst above zero")]
    ZeroBurst,
    /// More than one token per nanosecond.
    #[error("{count} per {period:?} is more than one token per nanosecond")]
    RateTooHigh {
        /// Tokens per period.
        count: u32,
        /// The period.
        period: Duration,
    },
    /// One token would take more than about 146 years (`u64::MAX / 4` ns).
    #[error("one token would take more than about 146 years")]
    PeriodTooLong,
}

/// Not admitted now: when `n` tokens would be. Carries what an HTTP `429`
/// answer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUntil {
    pub(crate) wait: Duration,
    /// `earliest()` is `base + offset`, built only when asked: the denial
    /// path stays free of `Instant` arithmetic.
    pub(crate) base: Instant,
    pub(crate) offset: Duration,
}

impl NotUntil {
    /// How long from the decision until the request would be admitted (if
    /// nobody else takes the tokens first): the `Retry-After`.
    pub fn retry_after(&self) -> Duration {
        self.wait
    }

    /// The instant at which the request would be admitted.
    pub fn earliest(&self) -> Instant {
        crate::bucket::later(self.base, self.offset)
    }

    /// The wait left from `now` (zero if `now` is past it).
    pub fn wait_time_from(&self, now: Instant) -> Duration {
        self.earliest().saturating_duration_since(now)
    }
}

impl std::fmt::Display for NotUntil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rate limited; retry after {:?}", self.wait)
    }
}

impl std::error::Error for NotUntil {}

/// Why [`TokenBucket::try_acquire`](crate::TokenBucket::try_acquire) said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// Not enough tokens now; they will be after a wait.
    #[error(transparent)]
    NotUntil(#[from] NotUntil),
    /// More tokens than the burst: no wait would ever admit them.
    #[error("{requested} tokens requested but the burst is {burst}")]
    InsufficientCapacity {
        /// Tokens asked for.
        requested: u32,
        /// The most the bucket can ever hold.
        burst: u32,
    },
}

impl TryAcquireError {
    /// The `Retry-After` of a [`NotUntil`] denial, `None` for a request that
    /// can never be admitted.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::NotUntil(n) => Some(n.retry_after()),
            Self::InsufficientCapacity { .. } => None,
        }
    }
}

/// Why an [`acquire`](crate::TokenBucket::acquire) or a
/// [`reserve`](crate::TokenBucket::reserve) failed: only a request above the
/// burst, which no wait could admit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{requested} tokens requested but the burst is {burst}")]
pub struct InsufficientCapacity {
    /// Tokens asked for.
    pub requested: u32,
    /// The most the bucket can ever hold.
    pub burst: u32,
}

impl From<InsufficientCapacity> for TryAcquireError {
    fn from(e: InsufficientCapacity) -> Self {
        Self::InsufficientCapacity {
            requested: e.requested,
            burst: e.burst,
        }
    }
}

/// Why a [`KeyedTokenBucket`](crate::KeyedTokenBucket) said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyedError {
    /// This key's bucket denied the request.
    #[error(transparent)]
    Denied(#[from] TryAcquireError),
    /// The key is new and the limiter already tracks `max_keys` keys, none
    /// of them idle: new keys are refused rather than letting memory grow.
    #[error("the keyed limiter is tracking its maximum of {max_keys} keys")]
    TooManyKeys {
        /// The configured cap.
        max_keys: usize,
    },
}

/// A [`KeyedTokenBucket`](crate::KeyedTokenBucket) that cannot work,
/// reported by its constructors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyedConfigError {
    /// `max_keys` of zero: no key could ever be tracked, so every request
    /// would be refused.
    #[error("a keyed limiter needs max_keys above zero")]
    ZeroMaxKeys,
}
