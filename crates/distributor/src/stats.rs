//! [`Stats`]: a snapshot of a pool's counters, and [`Stopped`]: what a
//! shutdown or abort hands back.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::job::Job;

/// The pool's atomic counters. Each job ends in exactly one of
/// completed, failed, panicked, cancelled or handed back.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) running: AtomicUsize,
    pub(crate) submitted: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) handed_back: AtomicU64,
    pub(crate) rejected: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of a pool's counters, from
/// [`Distributor::stats`](crate::Distributor::stats).
///
/// The accounting invariant: whenever no call is in flight,
///
/// ```text
/// submitted == completed + failed + panicked + cancelled + handed_back + queued + running
/// ```
///
/// and after a shutdown or abort has returned, `queued == running == 0`.
/// The fields are read one by one while workers run, so a live snapshot
/// can see a job that has just left the queue before it counts as
/// running: `queued == 0 && running == 0` does not mean idle. To wait until
/// every submitted job has finished, compare `submitted` with the settled
/// total (`completed + failed + panicked + cancelled + handed_back`), which
/// only grows.
/// Jobs refused at the door are not submitted: they were handed back inside
/// a [`SubmitError`](crate::SubmitError) and are counted in `rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Workers alive now.
    pub workers: usize,
    /// Jobs being run now.
    pub running: usize,
    /// Jobs waiting in the queue now.
    pub queued: usize,
    /// The queue's number of slots.
    pub capacity: usize,
    /// Jobs the pool took (enqueued).
    pub submitted: u64,
    /// Jobs that returned `Ok`.
    pub completed: u64,
    /// Jobs that returned `Err`.
    pub failed: u64,
    /// Jobs that panicked (caught; the worker lived on).
    pub panicked: u64,
    /// Jobs cancelled while running, by an abort or a cancelling panic or
    /// error.
    pub cancelled: u64,
    /// Jobs handed back, never run, by a shutdown or an abort.
    pub handed_back: u64,
    /// Submissions refused (`Full`, `Closed` or `Timeout`), the job handed
    /// back inside the error.
    pub rejected: u64,
    /// Submissions that found the queue full, waiting or not: the figure to
    /// size the capacity and the worker count by.
    pub full_events: u64,
    /// The most jobs ever queued at once.
    pub high_watermark: usize,
}

impl Stats {
    /// Whether the accounting invariant holds in this snapshot (it does
    /// whenever no call was in flight while it was taken).
    pub fn is_balanced(&self) -> bool {
        self.submitted
            == self.completed
                + self.failed
                + self.panicked
                + self.cancelled
                + self.handed_back
                + self.queued as u64
                + self.running as u64
    }
}

/// What [`shutdown`](crate::Distributor::shutdown),
/// [`shutdown_timeout`](crate::Distributor::shutdown_timeout) and
/// [`abort`](crate::Distributor::abort) return once every worker has
/// stopped: the jobs that were not run, and the final counters.
#[non_exhaustive]
pub struct Stopped<T, E> {
    /// The jobs still queued, handed back in queue order (never dropped):
    /// run them elsewhere, store them, or submit them to another pool.
    pub handed_back: Vec<Job<T, E>>,
    /// The counters once every worker stopped (`running` and `queued` are
    /// 0; [`is_balanced`](Stats::is_balanced) holds).
    pub stats: Stats,
}

impl<T, E> std::fmt::Debug for Stopped<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopped")
            .field("handed_back", &self.handed_back.len())
            .field("stats", &self.stats)
            .finish()
    }
}
