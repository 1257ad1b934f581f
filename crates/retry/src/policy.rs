//! [`Policy`]: what to wait between attempts and when to give up.

use std::fmt;
use std::time::Duration;

use crate::backoff::Backoff;
use crate::error::PolicyError;
use crate::retry::{Async, Blocking, Retry};

/// How a delay is randomised, from the AWS Architecture Blog's
/// "Exponential Backoff And Jitter". `d` is the un-jittered delay of this
/// retry (`min(max_delay, base · factor^n)`), and every result is clamped to
/// `max_delay`: the cap holds *after* jitter.
///
/// | mode | delay |
/// |---|---|
/// | `None` | `d` |
/// | `Full` | uniform in `[0, d]` |
/// | `Equal` | `d/2` + uniform in `[0, d/2]` |
/// | `Decorrelated` | `min(max_delay, uniform in [base, 3 · previous delay])`, starting from `previous = base` |
///
/// `Full` spreads clients the most and is the usual choice against a shared,
/// overloaded service; `Equal` keeps a floor of `d/2`; `Decorrelated` grows
/// from the previous delay instead of the attempt number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: the delays are exactly the policy's sequence.
    #[default]
    None,
    /// Uniform in `[0, d]`.
    Full,
    /// `d/2` plus uniform in `[0, d/2]`.
    Equal,
    /// Uniform in `[base, 3 · previous]`, capped.
    Decorrelated,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Constant,
    Exponential { factor: f64 },
}

/// A validated retry policy: a plain `Copy` value with no state of its own,
/// reusable across any number of calls and threads.
///
/// Build one with [`Policy::constant`] or [`Policy::exponential`], then start
/// a retry with [`retry`](Policy::retry) (async) or
/// [`retry_blocking`](Policy::retry_blocking) (sync). Each call gets a fresh
/// [`Backoff`]; nothing carries over between calls.
///
/// ```
/// use sluicegate_retry::Policy;
/// use std::time::Duration;
///
/// let policy = Policy::exponential(Duration::from_millis(100))
///     .factor(2.0)
///     .max_delay(Duration::from_secs(1))
///     .max_attempts(6)
///     .build()?;
///
/// // The delays between the 6 attempts (no jitter, so exactly these).
/// let delays: Vec<_> = policy.backoff().collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000].map(Duration::from_millis));
/// # Ok::<(), sluicegate_retry::PolicyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub(crate) kind: Kind,
    pub(crate) base: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) jitter: Jitter,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) max_elapsed: Option<Duration>,
    pub(crate) seed: Option<u64>,
}

impl fmt::Display for Policy {
    /// A one-line summary, e.g. `exponential 100ms ×2 up to 2s, full
    /// jitter, 5 attempts, within 10s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Constant => write!(f, "constant {:?}", self.base)?,
            Kind::Exponential { factor } => write!(
                f,
                "exponential {:?} ×{factor} up to {:?}",
                self.base, self.max_delay
            )?,
        }
        match self.jitter {
            Jitter::None => {}
            Jitter::Full => f.write_str(", full jitter")?,
            Jitter::Equal => f.write_str(", equal jitter")?,
            Jitter::Decorrelated => f.write_str(", decorrelated jitter")?,
        }
        match self.max_attempts {
            Some(n) => write!(f, ", {n} attempts")?,
            None => f.write_str(", unlimited attempts")?,
        }
        if let Some(limit) = self.max_elapsed {
            write!(f, ", within {limit:?}")?;
        }
        Ok(())
    }
}

/// The default number of attempts (the first call and three retries).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// The default cap of an exponential policy (raised to `base` if `base` is
/// larger and no cap was set).
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(60);
/// The default growth factor of an exponential policy.
pub const DEFAULT_FACTOR: f64 = 2.0;

impl Policy {
    /// The same delay before every retry. The cap defaults to `delay`.
    pub fn constant(delay: Duration) -> PolicyBuilder {
        PolicyBuilder::new(Kind::Constant, delay, None)
    }

    /// Delays growing from `base` by a factor (a zero `base` stays zero:
    /// immediate retries, handy in tests) (default
    /// [`DEFAULT_FACTOR`]) per retry, up to a cap (default
    /// [`DEFAULT_MAX_DELAY`], or `base` if that is larger).
    pub fn exponential(base: Duration) -> PolicyBuilder {
        PolicyBuilder::new(
            Kind::Exponential {
                factor: DEFAULT_FACTOR,
            },
            base,
            None,
        )
    }

    /// The delays this policy would wait, one per retry, ending when the
    /// attempt limit is reached (never, with no limit). Time limits are not
    /// applied here: they need a clock.
    #[inline]
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self)
    }

    /// Retries the async operation `op` under this policy. Configure the
    /// retry (sleeper, classification, hooks) on the returned [`Retry`], then
    /// `.await` it.
    pub fn retry<F>(&self, op: F) -> Retry<Async<F>> {
        Retry::new(Async(op), *self)
    }

    /// Retries the blocking operation `op` under this policy; finish with
    /// [`Retry::call`]. It sleeps with `std::thread::sleep` unless given
    /// another blocking sleeper.
    pub fn retry_blocking<F>(&self, op: F) -> Retry<Blocking<F>> {
        Retry::new(Blocking(op), *self)
    }

    /// The first delay (constant policies: every delay).
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The growth factor (`1.0` for constant policies).
    pub fn factor(&self) -> f64 {
        match self.kind {
            Kind::Constant => 1.0,
            Kind::Exponential { factor } => factor,
        }
    }

    /// The cap every delay respects, jitter included.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The jitter mode.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The most attempts (first call included), or `None` for no limit.
    pub fn max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// The time after the first attempt started beyond which no attempt
    /// starts, or `None` for no limit.
    pub fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The jitter seed, if one was set.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }
}

/// Collects a [`Policy`]'s settings; [`build`](PolicyBuilder::build)
/// validates them. Start from [`Policy::constant`] or [`Policy::exponential`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct PolicyBuilder {
    kind: Kind,
    base: Duration,
    factor_set_on_constant: Option<f64>,
    max_delay: Option<Duration>,
    jitter: Jitter,
    max_attempts: Option<u32>,
    max_elapsed: Option<Duration>,
    seed: Option<u64>,
}

impl PolicyBuilder {
    fn new(kind: Kind, base: Duration, max_delay: Option<Duration>) -> Self {
        Self {
            kind,
            base,
            factor_set_on_constant: None,
            max_delay,
            jitter: Jitter::None,
            max_attempts: Some(DEFAULT_MAX_ATTEMPTS),
            max_elapsed: None,
            seed: None,
        }
    }

    /// The growth factor of an exponential policy: finite and above 1.
    pub fn factor(mut self, factor: f64) -> Self {
        match &mut self.kind {
            Kind::Exponential { factor: f } => *f = factor,
            Kind::Constant => self.factor_set_on_constant = Some(factor),
        }
        self
    }

    /// The cap on every delay, jitter and `Retry-After` hints included.
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = Some(max_delay);
        self
    }

    /// The jitter mode (default [`Jitter::None`]).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The most attempts, the first call included (default
    /// [`DEFAULT_MAX_ATTEMPTS`]); `1` means no retry, `0` is an error.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// No limit on attempts: only a time limit, a permanent error or
    /// cancellation ends the retry.
    pub fn unlimited_attempts(mut self) -> Self {
        self.max_attempts = None;
        self
    }

    /// No attempt starts later than `max_elapsed` after the first one
    /// started, measured on the retry's clock, so the time spent inside
    /// attempts counts. A retry whose delay would cross that line gives up
    /// at once with [`RetryError::DeadlineExceeded`](crate::RetryError::DeadlineExceeded)
    /// instead of sleeping for nothing.
    pub fn max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.max_elapsed = Some(max_elapsed);
        self
    }

    /// Seeds the jitter generator: every retry made from the policy then
    /// draws the same delays. Meant for tests and reproducible runs; in
    /// production leave it unset so that clients spread out.
    /// Takes a `u64` or an `Option<u64>` (`None` clears it).
    pub fn seed(mut self, seed: impl Into<Option<u64>>) -> Self {
        self.seed = seed.into();
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the first invalid setting: a factor that is
    /// NaN, infinite or not above 1 (or set on a constant policy), a base
    /// above the cap, zero attempts, or a zero time
    /// limit.
    pub fn build(self) -> Result<Policy, PolicyError> {
        if let Some(factor) = self.factor_set_on_constant {
            return Err(PolicyError::FactorOnConstant(factor));
        }
        let max_delay = match (self.kind, self.max_delay) {
            (_, Some(max_delay)) => max_delay,
            (Kind::Constant, None) => self.base,
            (Kind::Exponential { .. }, None) => DEFAULT_MAX_DELAY.max(self.base),
        };
        if let Kind::Exponential { factor } = self.kind {
            if !factor.is_finite() || factor <= 1.0 {
                return Err(PolicyError::InvalidFactor(factor));
            }
        }
        if self.base > max_delay {
            return Err(PolicyError::BaseAboveCap {
                base: self.base,
                max_delay,
            });
        }
        if self.max_attempts == Some(0) {
            return Err(PolicyError::ZeroAttempts);
        }
        if self.max_elapsed == Some(Duration::ZERO) {
            return Err(PolicyError::ZeroMaxElapsed);
        }
        Ok(Policy {
            kind: self.kind,
            base: self.base,
            max_delay,
            jitter: self.jitter,
            max_attempts: self.max_attempts,
            max_elapsed: self.max_elapsed,
            seed: self.seed,
        })
    }
}
