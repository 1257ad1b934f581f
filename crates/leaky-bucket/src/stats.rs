//! [`Stats`]: what the bucket has done so far.

use std::time::Duration;

/// A snapshot of a bucket's counters, from
/// [`LeakyBucket::stats`](crate::LeakyBucket::stats).
///
/// The snapshot is taken under the bucket's lock, so it is consistent: every
/// call made so far (an [`acquire`](crate::LeakyBucket::acquire) future
/// polled at least once, a [`try_acquire`](crate::LeakyBucket::try_acquire),
/// an item of a [paced](crate::LeakyBucket::pace) stream) is counted in
/// exactly one of `passed`, `spilled`, `denied`, `cancelled`, `waiting` or
/// `waiting_for_room`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Callers released at their slot, at once or after waiting.
    pub passed: u64,
    /// Callers that found the waiting room full and got [`Full`](crate::Full).
    pub spilled: u64,
    /// [`try_acquire`](crate::LeakyBucket::try_acquire) calls that found no
    /// free slot.
    pub denied: u64,
    /// Waiting callers dropped before their slot (their place and their slot
    /// went to the next caller).
    pub cancelled: u64,
    /// Callers in the waiting room now.
    pub waiting: usize,
    /// The most callers that were ever in the waiting room at once.
    pub max_waiting: usize,
    /// Paced streams waiting for a place in a full waiting room now (they
    /// never spill; see [`Paced`](crate::Paced)).
    pub waiting_for_room: usize,
    /// Of `passed`, those that waited in the waiting room.
    pub waited: u64,
    /// Total time released callers spent in the waiting room (saturating).
    pub total_wait: Duration,
    /// Total lateness credited back: for each caller released after its slot
    /// (a late timer, a busy executor), how late. The schedule does not move
    /// by it, so the callers behind catch up (saturating).
    pub lateness: Duration,
}
