//! [`FanOutStats`] and [`WorkerStats`]: what a fan-out did, per worker.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// A snapshot of a fan-out's counters, from
/// [`FanOut::stats`](crate::FanOut::stats) or
/// [`StatsHandle::stats`](crate::StatsHandle::stats).
///
/// # Accounting invariant
///
/// Every item taken from the input is started by a worker, abandoned,
/// handed back in the output, or still queued; every started item
/// completes, panics or is lost with its task (or is running); every
/// result (and error) is delivered, discarded, or still buffered in the
/// output. Once the fan-out is [finished](FanOutStats::finished) (the
/// first two lines) and its output has ended, been
/// [cancelled](crate::FanOut::cancel) or dropped (the third: until then,
/// results may still wait in the output's buffer, counted in neither):
///
/// ```text
/// taken == started + abandoned + key_panics + unstarted   (started = sum over workers)
/// started == completed + panicked + lost                  (sums over workers)
/// completed + panicked + lost + key_panics + input_panics + unstarted
///     + feeder_dropped (0 or 1) == delivered + discarded
/// ```
///
/// (a key-function panic or an [`Unstarted`](crate::FanOutError::Unstarted)
/// error hands its item back in the output, so it counts as taken and
/// delivered, never started; a task dropped by its executor is reported
/// by an error, never silently). The counters are read one by one, so a
/// snapshot taken while items move may be off by the items in flight.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FanOutStats {
    /// Items taken from the input stream.
    pub taken: u64,
    /// Items taken but not yet started or abandoned: in worker queues, or
    /// held by the feeder while it waits for room.
    pub queued: u64,
    /// Results and errors the output handed to the caller (through the
    /// stream, or in [`Cancelled::finished`](crate::Cancelled::finished)).
    pub delivered: u64,
    /// Results not yet yielded when the output was dropped (still in its
    /// buffer, or taken into the stream and not yet yielded) or computed
    /// after (nobody could take them), or collected by a
    /// [`cancel`](crate::FanOut::cancel) that was dropped before it
    /// completed.
    pub discarded: u64,
    /// Items taken from the input but never started, because the fan-out
    /// was cancelled ([handed back](crate::Cancelled::unstarted)) or its
    /// output dropped (dropped with it).
    pub abandoned: u64,
    /// Panics of the input stream, each reported in the output as
    /// [`FanOutError::InputPanicked`](crate::FanOutError::InputPanicked)
    /// (at most 1: the input is not polled again).
    pub input_panics: u64,
    /// Panics of the key function, each reported in the output, with its
    /// item, as [`FanOutError::KeyPanicked`](crate::FanOutError::KeyPanicked).
    pub key_panics: u64,
    /// Items taken but handed back in the output, unstarted, as
    /// [`FanOutError::Unstarted`](crate::FanOutError::Unstarted), because
    /// a task of the fan-out was dropped by its executor.
    pub unstarted: u64,
    /// Whether the executor dropped the feeder task before the input ended
    /// (reported once as
    /// [`FanOutError::FeederDropped`](crate::FanOutError::FeederDropped)).
    pub feeder_dropped: bool,
    /// Whether the input has ended (or panicked, or was cancelled, or the
    /// feeder task was dropped).
    pub input_done: bool,
    /// Whether every worker and the feeder task have exited.
    pub finished: bool,
    /// One entry per worker.
    pub workers: Vec<WorkerStats>,
}

impl FanOutStats {
    /// Items started by all workers.
    pub fn started(&self) -> u64 {
        self.workers.iter().map(|w| w.started).sum()
    }

    /// Items whose worker function returned, over all workers.
    pub fn completed(&self) -> u64 {
        self.workers.iter().map(|w| w.completed).sum()
    }

    /// Items whose worker function panicked, over all workers.
    pub fn panicked(&self) -> u64 {
        self.workers.iter().map(|w| w.panicked).sum()
    }

    /// Items lost with a worker task dropped by its executor while it ran
    /// them, over all workers (each reported as
    /// [`FanOutError::WorkerDropped`](crate::FanOutError::WorkerDropped)).
    pub fn lost(&self) -> u64 {
        self.workers.iter().map(|w| w.lost).sum()
    }

    /// Whether the accounting invariant (see above) holds. Meaningful once
    /// [`finished`](Self::finished) and the output has ended (read to its
    /// end, cancelled or dropped): a finished fan-out whose last results
    /// still wait in the output's buffer is not balanced yet.
    pub fn is_balanced(&self) -> bool {
        let started = self.started();
        let done = self.completed() + self.panicked() + self.lost();
        self.taken == started + self.abandoned + self.key_panics + self.unstarted
            && started == done
            && done
                + self.key_panics
                + self.input_panics
                + self.unstarted
                + u64::from(self.feeder_dropped)
                == self.delivered + self.discarded
    }
}

/// One worker's counters, in [`FanOutStats::workers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Items this worker took in and started.
    pub started: u64,
    /// Items whose worker function returned (their results went out).
    pub completed: u64,
    /// Items whose worker function panicked.
    pub panicked: u64,
    /// Items lost because the executor dropped this worker's task while it
    /// ran them (0 or 1), each reported as
    /// [`FanOutError::WorkerDropped`](crate::FanOutError::WorkerDropped).
    pub lost: u64,
    /// Whether the worker is running its function on an item now.
    pub busy: bool,
}

/// The live counters behind [`FanOutStats`], shared by the tasks, the
/// output and every [`StatsHandle`](crate::StatsHandle).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) taken: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) abandoned: AtomicU64,
    pub(crate) input_panics: AtomicU64,
    pub(crate) key_panics: AtomicU64,
    pub(crate) unstarted: AtomicU64,
    pub(crate) feeder_dropped: AtomicBool,
    pub(crate) input_done: AtomicBool,
    /// Worker and feeder tasks not yet exited (or not yet started).
    pub(crate) alive: AtomicUsize,
    pub(crate) workers: Box<[WorkerCounters]>,
}

impl Counters {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            alive: AtomicUsize::new(workers + 1),
            workers: (0..workers).map(|_| WorkerCounters::default()).collect(),
            ..Self::default()
        }
    }

    pub(crate) fn snapshot(&self) -> FanOutStats {
        // Outcomes first, then the counts they came from, so a snapshot
        // taken mid-flight errs towards "still queued", not negative.
        let finished = self.alive.load(Ordering::Acquire) == 0;
        let workers: Vec<WorkerStats> = self.workers.iter().map(WorkerCounters::snapshot).collect();
        let delivered = self.delivered.load(Ordering::Relaxed);
        let discarded = self.discarded.load(Ordering::Relaxed);
        let abandoned = self.abandoned.load(Ordering::Relaxed);
        let key_panics = self.key_panics.load(Ordering::Relaxed);
        let input_panics = self.input_panics.load(Ordering::Relaxed);
        let unstarted = self.unstarted.load(Ordering::Relaxed);
        let feeder_dropped = self.feeder_dropped.load(Ordering::Relaxed);
        let input_done = self.input_done.load(Ordering::Relaxed);
        let taken = self.taken.load(Ordering::Relaxed);
        let started: u64 = workers.iter().map(|w| w.started).sum();
        FanOutStats {
            taken,
            queued: taken.saturating_sub(started + abandoned + key_panics + unstarted),
            delivered,
            discarded,
            abandoned,
            input_panics,
            key_panics,
            unstarted,
            feeder_dropped,
            input_done,
            finished,
            workers,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub(crate) started: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) busy: AtomicBool,
}

impl WorkerCounters {
    pub(crate) fn snapshot(&self) -> WorkerStats {
        WorkerStats {
            started: self.started.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            panicked: self.panicked.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            busy: self.busy.load(Ordering::Relaxed),
        }
    }
}

/// Adds 1 to a counter only one task writes (a load and a store: no
/// read-modify-write, as readers only need each value to be one it had).
#[inline]
pub(crate) fn add_one(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(c: &AtomicU64, n: usize) {
    if n != 0 {
        // usize -> u64 never truncates on supported targets.
        c.fetch_add(n as u64, Ordering::Relaxed);
    }
}
