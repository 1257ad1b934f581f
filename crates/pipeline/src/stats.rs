//! Counters: per stage ([`StageStats`]), per buffer ([`BufferStats`]), and
//! the whole run ([`Summary`]).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::StageId;

/// A snapshot of one stage's counters, from
/// [`Monitor::stages`](crate::Monitor::stages) or [`Summary::stages`].
///
/// Counts are in the stage's own elements: a batch stage takes in items
/// and hands out items grouped into [`batches`](StageStats::batches); a
/// sink after a batch stage takes in batches. Per stage, once it is idle:
///
/// ```text
/// input == output + errors + filtered + discarded   (+ the elements it holds now)
/// ```
///
/// (a batch stage's `output` counts the items inside the batches it
/// emitted, so the identity holds there too). A live snapshot
/// ([`Monitor`](crate::Monitor)) sees a batch stage's `input` once per
/// poll of the stage, and the counts of the fused stages before a batch
/// stage once per run of items pulled through them (up to the run's
/// yield budget of 4,096 items when a filter or failures drop most of
/// them), not per item; the [`Summary`] at the end is exact.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageStats {
    /// Which stage.
    pub stage: StageId,
    /// Elements taken in (for the source: items produced).
    pub input: u64,
    /// Elements passed on (for the sink: elements accepted by it).
    pub output: u64,
    /// Elements that failed here (an `Err` or a panic), each reported on the
    /// error stream.
    pub errors: u64,
    /// Elements a filter rejected.
    pub filtered: u64,
    /// Elements dropped here when the run was aborted (by
    /// [`CancelToken::abort`](crate::CancelToken::abort) or fail-fast).
    pub discarded: u64,
    /// Batches emitted (batch stages only; 0 elsewhere).
    pub batches: u64,
    /// Why the batches were closed (batch stages only; all 0 elsewhere):
    /// `closed.total() == batches`.
    pub closed: BatchStats,
    /// Time spent on elements: from taking an element in until the stage's
    /// function finished with it, summed (for a parallel step, over every
    /// task, so it can exceed the wall-clock time; for a batch stage, from
    /// each batch's first item until the batch left; not measured for the
    /// source). `None` unless the pipeline has a
    /// [clock](crate::Pipeline::clock): timing costs two clock reads per
    /// element and stage, so it is opt-in.
    pub busy: Option<Duration>,
}

impl StageStats {
    /// Elements taken in and not (yet) accounted for: held by the stage now.
    pub fn in_flight(&self) -> u64 {
        self.input
            .saturating_sub(self.output + self.errors + self.filtered + self.discarded)
    }
}

/// Why batches were closed: by a batch stage
/// ([`StageStats::closed`]) or a standalone adapter
/// ([`Batched::stats`](crate::Batched::stats),
/// [`HandBackBatched::stats`](crate::HandBackBatched::stats)).
///
/// Every batch emitted is counted once, in exactly one field:
/// `by_size + by_timer + at_end + by_lender` is the number of batches.
/// A batcher whose batches mostly close `by_timer` runs below its size
/// (the input is slower than `max_items` per `max_wait`); mostly
/// `by_size`, the timer never matters.
///
/// ```
/// use futures_lite::StreamExt;
/// use sluicegate_pipeline::{batch, Batch, BatchStats};
/// use sluicegate_rt::ManualClock;
///
/// let clock = ManualClock::new();
/// let mut batches = batch(futures_lite::stream::iter(1..=5), Batch::size(2), clock.clone())?;
/// clock.block_on(async { while batches.next().await.is_some() {} });
/// let closed: BatchStats = batches.stats();
/// assert_eq!((closed.by_size, closed.by_timer, closed.at_end), (2, 0, 1));
/// assert_eq!(closed.total(), 3);
/// # Ok::<(), sluicegate_pipeline::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BatchStats {
    /// Batches closed because they reached `max_items`.
    pub by_size: u64,
    /// Batches closed by the timer (`max_wait` after the first item, or a
    /// tick in [`TimerMode::FixedTicks`](crate::TimerMode::FixedTicks)).
    pub by_timer: u64,
    /// Partial batches closed because the input ended (also after a
    /// graceful [cancel](crate::CancelToken::cancel), which ends the
    /// input). An abort emits no batch: what was held is discarded.
    pub at_end: u64,
    /// Batches closed early because a
    /// [hand-back](crate::Pipeline::batch_hand_back) batch stage before
    /// this one waited for its loan while this batch held it (or
    /// something the loan is in): the loan could not come back, nor
    /// anything more come in, before the batch was passed on.
    pub by_lender: u64,
}

impl BatchStats {
    /// All the batches: `by_size + by_timer + at_end + by_lender`.
    pub fn total(&self) -> u64 {
        self.by_size + self.by_timer + self.at_end + self.by_lender
    }
}

/// A snapshot of one inter-stage buffer (from
/// [`Pipeline::buffer`](crate::Pipeline::buffer)): the queue's own
/// statistics, which tell whether it is sized right.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BufferStats {
    /// The stage whose output the buffer holds.
    pub after: StageId,
    /// The queue's counters: `high_watermark`, `full_events` (how often the
    /// upstream stage found it full and had to wait), `blocked` time, ...
    pub queue: sluicegate_backpressure::Stats,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The source ended and everything drained.
    Completed,
    /// The token was cancelled: the source stopped and everything in flight
    /// drained.
    Cancelled,
    /// The token was aborted: in-flight items were discarded (and counted).
    Aborted,
    /// The first error stopped the run ([`ErrorPolicy::FailFast`](crate::ErrorPolicy::FailFast));
    /// in-flight items were discarded (and counted).
    FailedFast,
}

/// What a run did, returned by [`Run`](crate::Run) (and live, from
/// [`Monitor::summary`](crate::Monitor::summary)).
///
/// # Accounting invariant
///
/// All counts but the per-stage ones are in *source items*: a batch of 64
/// delivered counts 64. Every item the source produced is delivered by the
/// sink, failed in some stage (and reported on the error stream), rejected
/// by a filter, or discarded by an abort, so once the run is over:
///
/// ```text
/// produced == delivered + failed + filtered + discarded
/// ```
///
/// [`is_balanced`](Summary::is_balanced) checks it. A graceful cancel or
/// a completed run discards nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// How the run ended.
    pub outcome: Outcome,
    /// Items the source handed to the pipeline.
    pub produced: u64,
    /// Items the sink accepted (`Ok`).
    pub delivered: u64,
    /// Items lost to an error or a panic in some stage.
    pub failed: u64,
    /// Items a filter rejected.
    pub filtered: u64,
    /// Items dropped by an abort or fail-fast while still in flight.
    pub discarded: u64,
    /// Errors reported on the error stream (an error can stand for many
    /// items, e.g. a failed batch).
    pub errors: u64,
    /// Per stage, source first, sink last.
    pub stages: Vec<StageStats>,
    /// Per buffer, in pipeline order.
    pub buffers: Vec<BufferStats>,
}

impl Summary {
    /// Whether `produced == delivered + failed + filtered + discarded`.
    pub fn is_balanced(&self) -> bool {
        self.produced == self.delivered + self.failed + self.filtered + self.discarded
    }

    /// Items still inside the pipeline (0 once the run is over).
    pub fn in_flight(&self) -> u64 {
        self.produced
            .saturating_sub(self.delivered + self.failed + self.filtered + self.discarded)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: produced {}, delivered {}, failed {}, filtered {}, discarded {}",
            self.outcome, self.produced, self.delivered, self.failed, self.filtered, self.discarded
        )
    }
}

/// Which of a stage's counters are not written per element but derived
/// when read (fewer stores on the hot path of a fused chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Derived {
    /// Every counter is written.
    Nothing,
    /// A stream source: it counts `output` only; `input` (and the run's
    /// `produced`) equal it.
    StreamSource,
    /// A synchronous stage, which never holds an element across a poll: it
    /// counts `input` (and its failures, rejections); `output` is the rest.
    SyncOutput,
}

/// The live counters of one stage.
#[derive(Debug)]
pub(crate) struct StageCounters {
    index: usize,
    derived: Derived,
    name: Mutex<Arc<str>>,
    pub(crate) input: AtomicU64,
    pub(crate) output: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) filtered: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) by_size: AtomicU64,
    pub(crate) by_timer: AtomicU64,
    pub(crate) at_end: AtomicU64,
    pub(crate) by_lender: AtomicU64,
    busy_nanos: AtomicU64,
}

impl StageCounters {
    pub(crate) fn new(index: usize, name: &str, derived: Derived) -> Arc<Self> {
        Arc::new(Self {
            index,
            derived,
            name: Mutex::new(name.into()),
            input: AtomicU64::new(0),
            output: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            filtered: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            by_size: AtomicU64::new(0),
            by_timer: AtomicU64::new(0),
            at_end: AtomicU64::new(0),
            by_lender: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
        })
    }

    pub(crate) fn id(&self) -> StageId {
        StageId {
            index: self.index,
            name: Arc::clone(&self.name.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }

    pub(crate) fn rename(&self, name: &str) {
        *self.name.lock().unwrap_or_else(PoisonError::into_inner) = name.into();
    }

    /// Adds `n` to a counter that only one stage, from its own poll, ever
    /// writes: a plain load and store, no read-modify-write.
    #[inline]
    pub(crate) fn bump(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }

    /// Adds `n` to a counter with several writers.
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn add_busy(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .busy_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_add(nanos))
            });
    }

    /// Items this stage produced for the run, if it is a stream source
    /// (which does not count them in the ledger: see [`Derived`]).
    pub(crate) fn produced(&self) -> u64 {
        match self.derived {
            Derived::StreamSource => self.output.load(Ordering::Relaxed),
            _ => 0,
        }
    }

    pub(crate) fn snapshot(&self, timed: bool) -> StageStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let errors = get(&self.errors);
        let filtered = get(&self.filtered);
        let discarded = get(&self.discarded);
        let (input, output) = match self.derived {
            Derived::Nothing => (get(&self.input), get(&self.output)),
            Derived::StreamSource => {
                let output = get(&self.output);
                (output, output)
            }
            Derived::SyncOutput => {
                let input = get(&self.input);
                (input, input.saturating_sub(errors + filtered + discarded))
            }
        };
        let closed = BatchStats {
            by_size: get(&self.by_size),
            by_timer: get(&self.by_timer),
            at_end: get(&self.at_end),
            by_lender: get(&self.by_lender),
        };
        StageStats {
            stage: self.id(),
            input,
            output,
            errors,
            filtered,
            discarded,
            // Every batch is counted once, by why it was closed.
            batches: closed.total(),
            closed,
            busy: timed.then(|| Duration::from_nanos(get(&self.busy_nanos))),
        }
    }
}

/// The run's totals, in source items.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub(crate) produced: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) filtered: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) errors: AtomicU64,
}
