//! [`TokenBucket`]: the limiter, its builder, its try path and metadata.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sluicegate_rt::{Clock, Sleeper, SystemClock};

use crate::acquire::{Acquire, Waiters};
use crate::error::{InsufficientCapacity, NotUntil, TryAcquireError};
use crate::gcra::{Decision, EPOCH, Gcra, HORIZON};
use crate::quota::Quota;
use crate::reservation::Reservation;
use crate::stats::{Counters, Stats};
use crate::sync::Ordering;

/// The sleeper a bucket starts with: none. [`TokenBucket::acquire`] needs a
/// real one, given with [`TokenBucketBuilder::sleeper`]; the try path,
/// reservations and metadata work without.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSleeper;

/// A rate limiter that decides, per request, whether it may enter now.
///
/// A GCRA token bucket: the whole state is one atomic word, and a decision
/// is one compare-and-swap. It is `Clone`; clones share the same bucket, so
/// hand one to every task, thread or service that draws from it.
///
/// - [`try_acquire`](Self::try_acquire): admitted now, or a typed denial that
///   says how long until it would be ([`NotUntil`]), or
///   [`InsufficientCapacity`](TryAcquireError::InsufficientCapacity) for more
///   than the burst.
/// - [`acquire`](Self::acquire): waits its turn, first come first served,
///   through the bucket's [`Sleeper`]. Dropping the future gives back what
///   it had booked.
/// - [`reserve`](Self::reserve): books tokens now for later; the
///   [`Reservation`] can be cancelled for a refund.
/// - [`peek`](Self::peek), [`check`](Self::check): HTTP metadata without
///   consuming anything.
/// - [`set_quota`](Self::set_quota): change rate and burst live, without
///   granting extra tokens.
///
/// ```
/// use sluicegate_rt::ManualClock;
/// use sluicegate_token_bucket::{Quota, TokenBucket};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let bucket = TokenBucket::builder(Quota::per_second(10)?.with_burst(2)?)
///     .clock(clock.clone())
///     .build();
///
/// assert!(bucket.try_acquire(1).is_ok());
/// assert!(bucket.try_acquire(1).is_ok());
/// let denied = bucket.try_acquire(1).unwrap_err();
/// assert_eq!(denied.retry_after(), Some(Duration::from_millis(100)));
///
/// clock.advance(Duration::from_millis(100));
/// assert!(bucket.try_acquire(1).is_ok());
/// # Ok::<(), sluicegate_token_bucket::QuotaError>(())
/// ```
pub struct TokenBucket<C = SystemClock, S = NoSleeper> {
    pub(crate) inner: Arc<Inner<C, S>>,
}

pub(crate) struct Inner<C, S> {
    pub(crate) gcra: Gcra,
    origin: Instant,
    clock: C,
    pub(crate) sleeper: S,
    pub(crate) waiters: Mutex<Waiters>,
    reconfig: Mutex<()>,
    pub(crate) counters: Counters,
}

impl<C, S> Clone for TokenBucket<C, S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Builds a [`TokenBucket`]; start from [`TokenBucket::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct TokenBucketBuilder<C = SystemClock, S = NoSleeper> {
    quota: Quota,
    clock: C,
    sleeper: S,
}

impl TokenBucket {
    /// A bucket on the system clock, without a sleeper (try path,
    /// reservations and metadata only). Starts full.
    pub fn new(quota: Quota) -> Self {
        Self::builder(quota).build()
    }

    /// Starts building a bucket for `quota`.
    pub fn builder(quota: Quota) -> TokenBucketBuilder {
        TokenBucketBuilder {
            quota,
            clock: SystemClock,
            sleeper: NoSleeper,
        }
    }
}

impl<C, S> TokenBucketBuilder<C, S> {
    /// The clock decisions are made on (default: the system clock).
    pub fn clock<C2: Clock>(self, clock: C2) -> TokenBucketBuilder<C2, S> {
        TokenBucketBuilder {
            quota: self.quota,
            clock,
            sleeper: self.sleeper,
        }
    }

    /// The sleeper [`acquire`](TokenBucket::acquire) waits with. Use one that
    /// agrees with the clock: `TokenBucket` sleeps *until instants* of that
    /// clock (`TokioSleeper` with `TokioClock`, a `ManualClock` for both).
    pub fn sleeper<S2: Sleeper>(self, sleeper: S2) -> TokenBucketBuilder<C, S2> {
        TokenBucketBuilder {
            quota: self.quota,
            clock: self.clock,
            sleeper,
        }
    }

    /// Builds the bucket, full.
    pub fn build(self) -> TokenBucket<C, S>
    where
        C: Clock,
    {
        let origin = self.clock.now();
        TokenBucket {
            inner: Arc::new(Inner {
                gcra: Gcra::new(self.quota),
                origin,
                clock: self.clock,
                sleeper: self.sleeper,
                waiters: Mutex::new(Waiters::default()),
                reconfig: Mutex::new(()),
                counters: Counters::default(),
            }),
        }
    }
}

/// What a bucket holds at one instant: the numbers an HTTP answer carries
/// (`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Tokens that could be taken right now.
    pub remaining: u32,
    /// The most tokens the bucket holds.
    pub burst: u32,
    /// Time until the bucket is full again (zero if it is full).
    pub reset_after: Duration,
    /// Time one token takes to replenish.
    pub interval: Duration,
}

impl Snapshot {
    /// Time until `n` tokens are available (zero if they are now), `None`
    /// if `n` exceeds the burst.
    pub fn retry_after(&self, n: u32) -> Option<Duration> {
        if n > self.burst {
            return None;
        }
        if n == 0 {
            return Some(Duration::ZERO);
        }
        // `n` tokens are there once the debt (`reset_after`) has dropped to
        // `burst - n` intervals: exact for any debt, bookings beyond the
        // burst included.
        let keep = self.interval.saturating_mul(self.burst - n);
        Some(self.reset_after.saturating_sub(keep))
    }
}

impl<C: Clock, S> TokenBucket<C, S> {
    /// The bucket's time: nanoseconds since its origin, plus [`EPOCH`],
    /// saturating.
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        let since = self
            .inner
            .clock
            .now()
            .saturating_duration_since(self.inner.origin);
        u64::try_from(since.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(EPOCH)
            .min(HORIZON)
    }

    /// The instant at bucket time `ns`.
    pub(crate) fn instant_at(&self, ns: u64) -> Instant {
        later(
            self.inner.origin,
            Duration::from_nanos(ns.saturating_sub(EPOCH)),
        )
    }

    /// Takes `n` tokens now, or says why not. Never waits. `n = 0` always
    /// succeeds and takes nothing.
    ///
    /// It does not overtake callers already waiting in
    /// [`acquire`](Self::acquire): while any wait, it is denied, with a
    /// `Retry-After` that counts the tokens they asked for. So an `acquire`
    /// future that is polled once and then parked without being polled or
    /// dropped (kept in a struct, or in a `select!` branch that is never
    /// polled again) keeps every `try_acquire` denied: poll waiters to
    /// completion or drop them.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NotUntil`] with the `Retry-After` when the tokens
    /// are not there yet; [`TryAcquireError::InsufficientCapacity`] when `n`
    /// exceeds the burst.
    #[inline]
    pub fn try_acquire(&self, n: u32) -> Result<(), TryAcquireError> {
        if n == 0 {
            return Ok(());
        }
        let now = self.now_ns();
        let queued = self.inner.counters.waiting.load(Ordering::Relaxed) > 0;
        let decision = if queued {
            self.queued_denial(now, n)
        } else {
            self.inner.gcra.try_admit(now, n)
        };
        match decision {
            Decision::Admit { .. } => {
                self.inner.counters.admitted();
                Ok(())
            }
            Decision::Wait { ns } => {
                self.inner.counters.rejected();
                Err(self.not_until(now, ns).into())
            }
            Decision::Never { burst } => {
                self.inner.counters.rejected();
                Err(InsufficientCapacity {
                    requested: n,
                    burst,
                }
                .into())
            }
        }
    }

    /// The denial for a caller arriving behind waiters: at least the time
    /// its own tokens need, and at least their cost.
    #[cold]
    fn queued_denial(&self, now: u64, n: u32) -> Decision {
        let view = self.inner.gcra.view();
        // Waiters that have not booked yet go first: their tokens count.
        let unbooked = self.inner.counters.unbooked.load(Ordering::Relaxed);
        let ahead = view.interval.saturating_mul(unbooked);
        match view.judge(now, n) {
            Decision::Admit { tat } => Decision::Wait {
                ns: (tat - view.tat.max(now)).saturating_add(ahead),
            },
            Decision::Wait { ns } => Decision::Wait {
                ns: ns.saturating_add(ahead),
            },
            never => never,
        }
    }

    pub(crate) fn not_until(&self, now: u64, wait_ns: u64) -> NotUntil {
        NotUntil {
            wait: Duration::from_nanos(wait_ns),
            base: self.inner.origin,
            offset: Duration::from_nanos(now.saturating_add(wait_ns).saturating_sub(EPOCH)),
        }
    }

    /// Would `n` tokens be admitted now, by the bucket alone? Takes nothing.
    /// Unlike [`try_acquire`](Self::try_acquire) it does not look at
    /// waiting callers.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn check(&self, n: u32) -> Result<(), TryAcquireError> {
        if n == 0 {
            return Ok(());
        }
        let now = self.now_ns();
        match self.inner.gcra.view().judge(now, n) {
            Decision::Admit { .. } => Ok(()),
            Decision::Wait { ns } => Err(self.not_until(now, ns).into()),
            Decision::Never { burst } => Err(InsufficientCapacity {
                requested: n,
                burst,
            }
            .into()),
        }
    }

    /// The bucket's state now, for metadata headers. Takes nothing, and
    /// (like [`check`](Self::check)) does not look at waiting callers.
    pub fn peek(&self) -> Snapshot {
        let now = self.now_ns();
        let view = self.inner.gcra.view();
        Snapshot {
            remaining: u32::try_from(view.available(now)).unwrap_or(u32::MAX),
            burst: view.burst,
            reset_after: Duration::from_nanos(view.until_full(now)),
            interval: Duration::from_nanos(view.interval),
        }
    }

    /// Books `n` tokens now, usable from [`Reservation::ready_at`] (now, if
    /// they are available). Like Go's `x/time/rate` `ReserveN`. A
    /// reservation does not queue behind [`acquire`](Self::acquire) waiters.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `n` exceeds the burst.
    pub fn reserve(&self, n: u32) -> Result<Reservation<C, S>, InsufficientCapacity> {
        let now = self.now_ns();
        if n == 0 {
            return Ok(Reservation::nothing(self.clone(), now));
        }
        match self.inner.gcra.reserve(now, n, 0) {
            Ok((view, cost)) => {
                self.inner.counters.admitted();
                Ok(Reservation::new(self.clone(), view, cost))
            }
            Err(burst) => Err(InsufficientCapacity {
                requested: n,
                burst,
            }),
        }
    }

    /// Changes rate and burst now. The tokens available now stay available
    /// (capped at the new burst) and nothing extra is granted: raising the
    /// burst lets the bucket fill further over time, it does not fill it.
    /// Deciders racing with the change wait for it (nanoseconds).
    pub fn set_quota(&self, quota: Quota) {
        let _serial = self
            .inner
            .reconfig
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = self.now_ns();
        self.inner.gcra.reconfigure(now, quota);
        // A head sleeping on a booking made under the old quota re-times.
        let head = {
            let mut waiters = self
                .inner
                .waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            waiters.generation += 1;
            waiters.head_waker()
        };
        if let Some(head) = head {
            head.wake();
        }
    }

    /// The quota in force.
    pub fn quota(&self) -> Quota {
        let view = self.inner.gcra.view();
        Quota::from_parts(view.interval, view.burst)
    }

    /// Counters since the bucket was built, and its state now.
    pub fn stats(&self) -> Stats {
        let snapshot = self.peek();
        self.inner
            .counters
            .snapshot(snapshot.remaining, snapshot.burst)
    }

    /// Waits until `n` tokens are available and takes them. Callers are
    /// served in arrival order; dropping the future leaves the queue and
    /// gives back what it had booked, unless something was booked after it
    /// (a [`reserve`](Self::reserve)), whose timing depends on it. A
    /// [`set_quota`](Self::set_quota) re-times a caller already waiting.
    ///
    /// Resolves to [`InsufficientCapacity`] (at once) when `n` exceeds the
    /// burst. `n = 0` resolves at once.
    pub fn acquire(&self, n: u32) -> Acquire<C, S>
    where
        S: Sleeper,
    {
        Acquire::new(self.clone(), n)
    }
}

impl<C, S> fmt::Debug for TokenBucket<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let view = self.inner.gcra.view();
        f.debug_struct("TokenBucket")
            .field("interval", &Duration::from_nanos(view.interval))
            .field("burst", &view.burst)
            .field(
                "waiting",
                &self.inner.counters.waiting.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

/// `base + offset`, or the latest instant this platform can represent on
/// the way there: far-future instants stay in the future.
pub(crate) fn later(base: Instant, offset: Duration) -> Instant {
    let mut step = offset;
    let mut at = base;
    while !step.is_zero() {
        match at.checked_add(step) {
            Some(next) => at = next,
            None => step /= 2,
        }
        if at.checked_duration_since(base) == Some(offset) {
            break;
        }
    }
    at
}
