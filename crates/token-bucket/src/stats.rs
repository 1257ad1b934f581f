//! [`Stats`]: counters a user reads to tune rate and burst.

use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// A snapshot of a bucket's counters, from [`TokenBucket::stats`].
///
/// [`TokenBucket::stats`]: crate::TokenBucket::stats
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Requests admitted (by any path: try, acquire, reserve).
    pub admitted: u64,
    /// `try_acquire` denials.
    pub rejected: u64,
    /// `acquire` calls that had to wait.
    pub waited: u64,
    /// Bookings given back (cancelled reservations, dropped waiters).
    pub refunded: u64,
    /// Callers waiting in `acquire` now.
    pub waiting: usize,
    /// Tokens available now.
    pub tokens: u32,
    /// The burst in force.
    pub burst: u32,
}

/// The live counters, on their own cache line so that they do not slow the
/// TAT's compare-and-swap.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Counters {
    admitted: AtomicU64,
    rejected: AtomicU64,
    waited: AtomicU64,
    refunded: AtomicU64,
    pub(crate) waiting: AtomicUsize,
}

impl Counters {
    #[inline]
    pub(crate) fn admitted(&self) {
        self.admitted.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn waited(&self) {
        self.waited.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refunded(&self) {
        self.refunded.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, tokens: u32, burst: u32) -> Stats {
        Stats {
            admitted: self.admitted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            waited: self.waited.load(Ordering::Relaxed),
            refunded: self.refunded.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            tokens,
            burst,
        }
    }
}
