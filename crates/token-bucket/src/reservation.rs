//! [`Reservation`]: tokens booked now for later.

use std::fmt;
use std::time::{Duration, Instant};

use sluicegate_rt::{Clock, Sleeper};

use crate::bucket::TokenBucket;
use crate::gcra::View;

/// Tokens booked by [`TokenBucket::reserve`]: usable from
/// [`ready_at`](Self::ready_at). Dropping it keeps the booking (the tokens
/// count as used); [`cancel`](Self::cancel) gives it back when that is still
/// safe.
#[must_use = "a reservation holds tokens: wait for it, or cancel it"]
pub struct Reservation<C, S> {
    bucket: TokenBucket<C, S>,
    end: u64,
    cost: u64,
    ready: u64,
}

impl<C: Clock, S> Reservation<C, S> {
    pub(crate) fn new(bucket: TokenBucket<C, S>, view: View, cost: u64) -> Self {
        Self {
            bucket,
            end: view.tat,
            cost,
            ready: view.tat.saturating_sub(view.tolerance),
        }
    }

    /// A reservation of zero tokens: ready now, nothing to refund.
    pub(crate) fn nothing(bucket: TokenBucket<C, S>, now: u64) -> Self {
        Self {
            bucket,
            end: 0,
            cost: 0,
            ready: now,
        }
    }

    /// The instant from which the tokens may be used.
    pub fn ready_at(&self) -> Instant {
        self.bucket.instant_at(self.ready)
    }

    /// How long from now until [`ready_at`](Self::ready_at) (zero if past).
    pub fn delay(&self) -> Duration {
        Duration::from_nanos(self.ready.saturating_sub(self.bucket.now_ns()))
    }

    /// True if the tokens may be used now.
    pub fn is_ready(&self) -> bool {
        self.bucket.now_ns() >= self.ready
    }

    /// A future that completes at [`ready_at`](Self::ready_at), on the
    /// bucket's sleeper.
    pub fn wait(&self) -> S::Sleep
    where
        S: Sleeper,
    {
        self.bucket.inner.sleeper.sleep_until(self.ready_at())
    }

    /// Keeps the booking (the same as dropping the reservation).
    pub fn commit(self) {}

    /// Gives the tokens back, if that cannot over-grant: the reservation's
    /// time has not come yet and nothing was booked after it. Returns
    /// whether it refunded. (A booking made later was scheduled behind this
    /// one; refunding under it would let two callers use the same
    /// capacity.)
    pub fn cancel(self) -> bool {
        if self.bucket.now_ns() >= self.ready {
            return false;
        }
        let refunded = self.bucket.inner.gcra.refund(self.end, self.cost);
        if refunded {
            self.bucket.inner.counters.refunded();
        }
        refunded
    }
}

impl<C, S> fmt::Debug for Reservation<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("ready_ns", &self.ready)
            .field("cost_ns", &self.cost)
            .finish_non_exhaustive()
    }
}
