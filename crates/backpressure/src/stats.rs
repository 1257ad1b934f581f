//! [`Stats`]: the numbers a user needs to size a queue.

use std::time::Duration;

use crate::core::Padded;
use crate::sync::{AtomicU64, Ordering};

/// A snapshot of a queue's counters, from [`Sender::stats`](crate::Sender::stats)
/// or [`Receiver::stats`](crate::Receiver::stats).
///
/// # Accounting invariant
///
/// Every item handed to the queue by a call that did not hand it back
/// (`send`/`try_send`/`send_timeout` returning `Ok`, [`Permit::send`](crate::Permit::send),
/// `Sink::start_send`) counts once in `sent`, and is then received, still
/// queued, or dropped (under a drop policy, or because every receiver was
/// gone), so whenever no call is in flight:
///
/// ```text
/// sent == received + len + dropped
/// ```
///
/// The same holds per policy: under [`Block`](crate::Overflow::Block) and
/// [`Reject`](crate::Overflow::Reject), `dropped` only counts items cut off
/// by closing ([`DropReason::Closed`](crate::DropReason::Closed)). Items
/// handed back in an error are not in `sent`: they are in `rejected`
/// (`Full`), `timed_out` (`Timeout`), or (for `Closed`) back with the
/// caller only. The counters are read one by one, so a snapshot taken while
/// other threads send or receive may be off by the calls in flight.
///
/// `sent` is not counted per item (that would cost every send a locked
/// instruction): the snapshot derives it as `received + len + dropped`,
/// which is the number of items the queue took, since none is lost. It is
/// exact whenever no call is in flight; in a snapshot taken meanwhile it
/// may be off by the calls in flight, in either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Items queued now.
    pub len: usize,
    /// Slots held by outstanding [`Permit`](crate::Permit)s (or sinks
    /// between `poll_ready` and `start_send`) now.
    pub reserved: usize,
    /// The number of slots.
    pub capacity: usize,
    /// The most slots ever taken at once (queued items plus permits): if it
    /// stays well below `capacity`, the buffer is oversized.
    pub high_watermark: usize,
    /// Calls that found every slot taken, once per call however long it
    /// then waited, whatever the policy then did (wait, reject, drop): the
    /// "buffer was full" count to size a buffer by.
    pub full_events: u64,
    /// Total time senders (and reservers) spent waiting for a slot,
    /// measured on the queue's clock, including waits that were cancelled
    /// or timed out (saturating). A wait is timed from the moment the call
    /// goes to sleep (its first `Pending`) to the moment it ends; a call
    /// that found the queue full but got a slot on its re-check, before
    /// sleeping, adds nothing (and reads no clock). Always zero on a queue
    /// built with [`time_blocked(false)`](crate::Builder::time_blocked).
    pub blocked: Duration,
    /// Items the queue took (see the invariant above).
    pub sent: u64,
    /// Items taken out by receivers.
    pub received: u64,
    /// Items the queue let go of, each passed to the `on_drop` callback.
    pub dropped: u64,
    /// Items handed back in `Full(item)`.
    pub rejected: u64,
    /// Items handed back in [`SendTimeoutError::Timeout`](crate::SendTimeoutError::Timeout).
    pub timed_out: u64,
}

/// The live counters behind [`Stats`]. No counter moves per item sent:
/// `sent` is derived (`received + len + dropped`). Items received are
/// counted in the slot word (see `Core::on_received`), with the count's
/// wrap-arounds here; `received` is used instead only for capacities too
/// large to share the word, where it is touched by every item and has a
/// cache line of its own. The others move only on full queues and drops.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) received: Padded<AtomicU64>,
    pub(crate) received_wraps: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) full_events: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    blocked_nanos: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_blocked(&self, d: Duration) {
        if d.is_zero() {
            return; // a wait the re-check ended, or a clock that stands still
        }
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // One atomic add (not a compare-and-swap loop, which retries under
        // contention); the add that carries past `u64::MAX` (584 years)
        // pins the total there, and so does every add after it.
        let before = self.blocked_nanos.fetch_add(nanos, Ordering::Relaxed);
        if before.checked_add(nanos).is_none() {
            self.blocked_nanos.store(u64::MAX, Ordering::Relaxed);
        }
    }

    pub(crate) fn blocked(&self) -> Duration {
        Duration::from_nanos(self.blocked_nanos.load(Ordering::Relaxed))
    }
}

#[cfg(all(test, not(sluicegate_loom)))]
mod tests {
    use super::*;

    #[test]
    fn blocked_time_adds_up_and_saturates() {
        let c = Counters::default();
        c.add_blocked(Duration::from_nanos(5));
        c.add_blocked(Duration::ZERO);
        c.add_blocked(Duration::from_secs(2));
        assert_eq!(c.blocked(), Duration::from_nanos(2_000_000_005));
        c.add_blocked(Duration::from_nanos(u64::MAX - 10));
        assert_eq!(c.blocked(), Duration::from_nanos(u64::MAX));
        c.add_blocked(Duration::from_nanos(1));
        assert_eq!(c.blocked(), Duration::from_nanos(u64::MAX));
        c.add_blocked(Duration::MAX);
        assert_eq!(c.blocked(), Duration::from_nanos(u64::MAX));
    }
}
