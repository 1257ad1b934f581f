//! [`Backoff`]: the delays of one retry, as an iterator.

use std::time::Duration;

use crate::policy::{Jitter, Kind, Policy};
use crate::rng::Rng;

/// AWS's decorrelated-jitter multiplier.
const DECORRELATED_MULTIPLIER: u32 = 3;

/// The sequence of delays one retry waits, one per retry, from a
/// [`Policy`]. Ends after `max_attempts - 1` delays.
///
/// Every item lies in `[0, max_delay]`. Without jitter the sequence never
/// decreases. Arithmetic saturates: huge factors, `Duration::MAX` and
/// billions of retries reach the cap and stay there.
///
/// ```
/// use sluicegate_retry::{Jitter, Policy};
/// use std::time::Duration;
///
/// let policy = Policy::exponential(Duration::from_millis(100))
///     .max_delay(Duration::from_millis(500))
///     .jitter(Jitter::Full)
///     .seed(7)
///     .unlimited_attempts()
///     .build()?;
/// for delay in policy.backoff().take(1000) {
///     assert!(delay <= Duration::from_millis(500));
/// }
/// // Seeded: every backoff from this policy draws the same delays.
/// assert!(policy.backoff().take(10).eq(policy.backoff().take(10)));
/// # Ok::<(), sluicegate_retry::PolicyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    kind: Kind,
    base: Duration,
    max_delay: Duration,
    jitter: Jitter,
    seed: Option<u64>,
    /// Retries left; `None` for no limit.
    retries_left: Option<u32>,
    /// The un-jittered delay of the next retry.
    current: Duration,
    /// The previous delay, for decorrelated jitter.
    previous: Duration,
    /// Seeded on first use, so the success path never touches it.
    rng: Option<Rng>,
}

impl Backoff {
    #[inline]
    pub(crate) fn new(policy: &Policy) -> Self {
        Self {
            kind: policy.kind,
            base: policy.base,
            max_delay: policy.max_delay,
            jitter: policy.jitter,
            seed: policy.seed,
            retries_left: policy.max_attempts.map(|a| a.saturating_sub(1)),
            current: policy.base.min(policy.max_delay),
            previous: policy.base,
            rng: None,
        }
    }

    /// Takes the next delay like [`next`](Iterator::next), but when `hint`
    /// is given (a `Retry-After`), returns it capped at `max_delay` instead
    /// of a drawn delay. The sequence still advances by one step.
    #[inline]
    pub fn next_with_hint(&mut self, hint: Option<Duration>) -> Option<Duration> {
        let drawn = self.next()?;
        Some(match hint {
            Some(hint) => {
                let delay = hint.min(self.max_delay);
                self.previous = delay.max(self.base);
                delay
            }
            None => drawn,
        })
    }

    /// How many more delays the sequence holds, `None` if unlimited.
    pub fn retries_left(&self) -> Option<u32> {
        self.retries_left
    }

    fn rng(&mut self) -> &mut Rng {
        let seed = self.seed;
        self.rng.get_or_insert_with(|| match seed {
            Some(seed) => Rng::seeded(seed),
            None => Rng::from_entropy(),
        })
    }

    #[inline]
    fn grow(&self, delay: Duration) -> Duration {
        match self.kind {
            Kind::Constant => delay,
            Kind::Exponential { .. } if delay >= self.max_delay => self.max_delay,
            Kind::Exponential { factor } => {
                // Whole factors (the common 2 and 3) in exact integer maths.
                let whole = factor as u32;
                if f64::from(whole) == factor {
                    return delay.saturating_mul(whole).min(self.max_delay);
                }
                match Duration::try_from_secs_f64(delay.as_secs_f64() * factor) {
                    // `max(delay)`: never let float rounding step backwards.
                    Ok(next) => next.min(self.max_delay).max(delay),
                    Err(_) => self.max_delay,
                }
            }
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    #[inline]
    fn next(&mut self) -> Option<Duration> {
        if let Some(left) = &mut self.retries_left {
            *left = left.checked_sub(1)?;
        }
        let plain = self.current;
        if self.retries_left != Some(0) {
            self.current = self.grow(plain);
        }
        let cap = self.max_delay;
        let delay = match self.jitter {
            Jitter::None => plain,
            Jitter::Full => self.rng().between(Duration::ZERO, plain),
            Jitter::Equal => {
                let half = plain / 2;
                self.rng().between(half, plain)
            }
            Jitter::Decorrelated => {
                let (base, previous) = (self.base, self.previous);
                let hi = previous.saturating_mul(DECORRELATED_MULTIPLIER).max(base);
                let delay = self.rng().between(base, hi).min(cap);
                self.previous = delay;
                delay
            }
        };
        Some(delay.min(cap))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.retries_left {
            Some(left) => {
                let left = usize::try_from(left).unwrap_or(usize::MAX);
                (left, Some(left))
            }
            None => (usize::MAX, None),
        }
    }
}
