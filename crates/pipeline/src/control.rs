//! [`Control`]: the state every stage of one pipeline shares: running,
//! draining or aborted; the error stream and policy; the totals; the clock.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock, PoisonError};
use std::time::Instant;

use event_listener::Event;
use sluicegate_rt::Clock;

use crate::error::{PipelineError, panic_message};
use crate::stats::{Ledger, Outcome, StageCounters};
use crate::sync::{AtomicU8, Ordering, RwLock, RwLockReadGuard};

const RUNNING: u8 = 0;
const DRAINING: u8 = 1;
const ABORTED: u8 = 2;

/// What to do when a stage fails on an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Report the error on the error stream and go on with the next item
    /// (default): errors are collected, the run completes.
    #[default]
    Collect,
    /// Report the first error, then stop the whole run at once, as an
    /// [abort](crate::CancelToken::abort) would: in-flight items are
    /// discarded (and counted), and the summary's outcome is
    /// [`Outcome::FailedFast`].
    FailFast,
}

pub(crate) type DynClock = Arc<dyn Clock + Send + Sync>;

pub(crate) struct Control<E> {
    state: AtomicU8,
    /// Why the run stopped early: 0 none, else `Outcome` code.
    reason: AtomicU8,
    /// Notified when `state` changes (wakes emitters).
    pub(crate) event: Event,
    /// Held (shared) by an emitter from its last stop check until its item
    /// is in the first buffer; [`close`](Self::close) takes it (exclusive)
    /// once, so every emit either put its item in before the run empties
    /// the buffers, or sees the stop and hands its item back.
    gate: RwLock<()>,
    fail_fast: AtomicBool,
    errors: async_channel::Sender<PipelineError<E>>,
    pub(crate) ledger: Arc<Ledger>,
    clock: OnceLock<DynClock>,
    /// Set once the user's clock panicked: from then on nothing is timed
    /// (see [`now_if_timed`](Self::now_if_timed)). A plain std atomic
    /// under loom too: it is not part of any interleaving the loom tests
    /// explore.
    clock_broken: std::sync::atomic::AtomicBool,
    /// The latest time [`now`](Self::now) read, and what it returns once
    /// the clock broke (the buffers' blocked times stay in the clock's
    /// time, not the system clock's). A std lock: read only when a buffer
    /// blocks or unblocks.
    last: std::sync::Mutex<Option<Instant>>,
    /// The run's cooperative yield budget.
    pub(crate) budget: RunBudget,
}

impl<E> Control<E> {
    pub(crate) fn new() -> (Arc<Self>, async_channel::Receiver<PipelineError<E>>) {
        let (tx, rx) = async_channel::unbounded();
        let control = Arc::new(Self {
            state: AtomicU8::new(RUNNING),
            reason: AtomicU8::new(0),
            event: Event::new(),
            gate: RwLock::new(()),
            fail_fast: AtomicBool::new(false),
            errors: tx,
            ledger: Arc::default(),
            clock: OnceLock::new(),
            clock_broken: std::sync::atomic::AtomicBool::new(false),
            last: std::sync::Mutex::new(None),
            budget: RunBudget::default(),
        });
        (control, rx)
    }

    pub(crate) fn set_policy(&self, policy: ErrorPolicy) {
        self.fail_fast
            .store(policy == ErrorPolicy::FailFast, Ordering::Relaxed);
    }

    /// Fixes the clock for the run (the first call wins).
    pub(crate) fn set_clock(&self, clock: DynClock) {
        let _ = self.clock.set(clock);
    }

    /// The time now for the buffers' blocked time: the pipeline's clock
    /// (the system clock if none was given). Never panics: once the
    /// user's clock panicked (see [`now_if_timed`](Self::now_if_timed)),
    /// the last time it read: a blocked time that spans the panic ends
    /// there.
    pub(crate) fn now(&self, stage: &StageCounters) -> Instant {
        let Some(clock) = self.clock.get() else {
            return Instant::now();
        };
        let now = if self.clock_broken.load(std::sync::atomic::Ordering::Relaxed) {
            None
        } else {
            self.read(clock, stage)
        };
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match now {
            Some(now) => {
                let latest = last.map_or(now, |last| last.max(now));
                *last = Some(latest);
                latest
            }
            // Broken, maybe before any good reading: then every reading
            // is this one instant (blocked times of zero).
            None => *last.get_or_insert_with(Instant::now),
        }
    }

    /// Whether stages are timed (a clock was given).
    #[inline]
    pub(crate) fn is_timed(&self) -> bool {
        self.clock.get().is_some()
    }

    /// The time now, if stages are timed, read for `stage`.
    ///
    /// The user's clock is read under a panic guard: a `now()` that
    /// panics must not unwind through a stage in the middle of its
    /// accounting. The first panic is reported on the error stream
    /// ([`PipelineError::ClockPanicked`], standing for no item; under
    /// fail-fast it stops the run), and from then on nothing is timed:
    /// `None`, so busy times stop growing.
    #[inline]
    pub(crate) fn now_if_timed(&self, stage: &StageCounters) -> Option<Instant> {
        let clock = self.clock.get()?;
        if self.clock_broken.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        self.read(clock, stage)
    }

    #[inline]
    fn read(&self, clock: &DynClock, stage: &StageCounters) -> Option<Instant> {
        match catch_unwind(AssertUnwindSafe(|| clock.now())) {
            Ok(now) => Some(now),
            Err(payload) => {
                self.clock_panicked(stage, panic_message(&*payload));
                None
            }
        }
    }

    #[cold]
    fn clock_panicked(&self, stage: &StageCounters, message: String) {
        if self
            .clock_broken
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        // An error that stands for no item: the stage's own identity
        // (`input == output + errors + ...`) counts items, so only the
        // run's error count moves.
        StageCounters::add(&self.ledger.errors, 1);
        let _ = self.errors.try_send(PipelineError::ClockPanicked {
            stage: stage.id(),
            message,
        });
        if self.fail_fast.load(Ordering::Relaxed) {
            self.abort(Outcome::FailedFast);
        }
    }

    #[inline]
    pub(crate) fn is_running(&self) -> bool {
        self.state.load(Ordering::Acquire) == RUNNING
    }

    #[inline]
    pub(crate) fn is_aborted(&self) -> bool {
        self.state.load(Ordering::Acquire) == ABORTED
    }

    /// Graceful stop: sources end, the rest drains.
    pub(crate) fn drain(&self) {
        if self
            .state
            .compare_exchange(RUNNING, DRAINING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let _ = self.reason.compare_exchange(
                0,
                code(Outcome::Cancelled),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            self.event.notify(usize::MAX);
        }
    }

    /// Stop now, for `why` (`Aborted` or `FailedFast`); the first abort's
    /// reason is kept.
    pub(crate) fn abort(&self, why: Outcome) {
        if self.state.swap(ABORTED, Ordering::AcqRel) != ABORTED {
            self.reason.store(code(why), Ordering::Release);
            self.event.notify(usize::MAX);
        }
    }

    /// Enters the section in which an emitter checks that the run takes
    /// items and, if it does, counts and queues its item. Keep it short and
    /// never wait inside: [`close`](Self::close) waits for it to end.
    pub(crate) fn enter(&self) -> Entered<'_> {
        Entered {
            _shared: self.gate.read().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// The run is over: nothing is taken any more (emitters get their item
    /// back); the outcome stays what it was. Returns once no emitter is
    /// still inside [`enter`](Self::enter)'s section, so whatever an
    /// emitter queued is in the buffer for the caller to empty (and count),
    /// and every later emit sees the stop.
    pub(crate) fn close(&self) {
        if self.state.swap(ABORTED, Ordering::AcqRel) != ABORTED {
            self.event.notify(usize::MAX);
        }
        drop(self.gate.write().unwrap_or_else(PoisonError::into_inner));
        // The error stream ends once the errors in it are read.
        self.errors.close();
    }

    pub(crate) fn outcome(&self) -> Outcome {
        match self.reason.load(Ordering::Acquire) {
            1 => Outcome::Cancelled,
            2 => Outcome::Aborted,
            3 => Outcome::FailedFast,
            _ => Outcome::Completed,
        }
    }

    /// A stage failed on an element standing for `items` source items:
    /// count it, report it, and stop the run under fail-fast.
    pub(crate) fn fail(&self, stage: &StageCounters, items: u64, error: PipelineError<E>) {
        StageCounters::add(&stage.errors, 1);
        StageCounters::add(&self.ledger.failed, items);
        StageCounters::add(&self.ledger.errors, 1);
        // Unbounded: never full. Closed (nobody listens): the error is
        // still counted.
        let _ = self.errors.try_send(error);
        if self.fail_fast.load(Ordering::Relaxed) {
            self.abort(Outcome::FailedFast);
        }
    }

    pub(crate) fn failed(&self, stage: &StageCounters, items: u64, error: E) {
        let stage_id = stage.id();
        self.fail(
            stage,
            items,
            PipelineError::Failed {
                stage: stage_id,
                error,
                items,
            },
        );
    }

    pub(crate) fn panicked(&self, stage: &StageCounters, items: u64, message: String) {
        let stage_id = stage.id();
        self.fail(
            stage,
            items,
            PipelineError::Panicked {
                stage: stage_id,
                message,
                items,
            },
        );
    }

    /// Items dropped by an abort.
    pub(crate) fn discard(&self, stage: &StageCounters, elements: u64, items: u64) {
        StageCounters::add(&stage.discarded, elements);
        StageCounters::add(&self.ledger.discarded, items);
    }
}

/// Proof of being inside the emit section of [`Control::enter`].
pub(crate) struct Entered<'a> {
    _shared: RwLockReadGuard<'a, ()>,
}

fn code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Completed => 0,
        Outcome::Cancelled => 1,
        Outcome::Aborted => 2,
        Outcome::FailedFast => 3,
    }
}

impl<E> fmt::Debug for Control<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("state", &self.state.load(Ordering::Relaxed))
            .field("ledger", &self.ledger)
            .finish_non_exhaustive()
    }
}

/// The pipeline's clock, as a [`Clock`] (for the blocked time of the
/// buffer after the stage `.1`).
pub(crate) struct ClockOf<E>(pub(crate) Arc<Control<E>>, pub(crate) Arc<StageCounters>);

impl<E> Clock for ClockOf<E> {
    fn now(&self) -> Instant {
        self.0.now(&self.1)
    }
}

/// How many source items a run takes in one poll before it yields the
/// thread once (returns `Pending` after waking itself): an input that is
/// always ready (a big iterator, a backlog) must not keep the run inside
/// one poll, where it would starve the executor and never see its token.
/// 4,096, not tokio's 128: the budget is checked once per run of items,
/// and a batch stage over such an input fills several batches of 1,024
/// per poll.
pub(crate) const RUN_BUDGET: u32 = 4096;

/// The run's cooperative yield budget: one per run, reset at every poll
/// of the [`Run`](crate::Run) future, spent by the sources (every item a
/// source yields, whatever pulls it) and read by the batch stages, which
/// must tell a yield (the budget spent) from their input waiting: a
/// yield arms no batch timer.
///
/// Only the run's own task touches it (the stages and pumps it polls;
/// never a parallel step's workers), so plain loads and stores suffice;
/// atomics only because [`Control`] is shared. Std atomics under loom
/// too: not part of any interleaving the loom tests explore.
#[derive(Debug)]
pub(crate) struct RunBudget {
    left: std::sync::atomic::AtomicU32,
    yielded: std::sync::atomic::AtomicBool,
}

impl Default for RunBudget {
    fn default() -> Self {
        Self {
            left: std::sync::atomic::AtomicU32::new(RUN_BUDGET),
            yielded: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl RunBudget {
    /// A new poll of the run: a full budget, no yield yet.
    #[inline]
    pub(crate) fn reset(&self) {
        self.left
            .store(RUN_BUDGET, std::sync::atomic::Ordering::Relaxed);
        self.yielded
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many items may still be taken in this poll. 0: the caller must
    /// yield now (the task is woken and the yield recorded).
    #[inline]
    pub(crate) fn room(&self, cx: &mut std::task::Context<'_>) -> u32 {
        let left = self.left.load(std::sync::atomic::Ordering::Relaxed);
        if left == 0 {
            self.yield_now(cx);
        }
        left
    }

    /// `n` items (at most [`room`](Self::room)) were taken.
    #[inline]
    pub(crate) fn spend(&self, n: u32) {
        let left = self.left.load(std::sync::atomic::Ordering::Relaxed);
        self.left
            .store(left.saturating_sub(n), std::sync::atomic::Ordering::Relaxed);
    }

    /// One item: `true` (after waking the task) when the budget is spent
    /// and the caller must yield instead.
    #[inline]
    pub(crate) fn spent(&self, cx: &mut std::task::Context<'_>) -> bool {
        let left = self.left.load(std::sync::atomic::Ordering::Relaxed);
        if left == 0 {
            self.yield_now(cx);
            return true;
        }
        self.left
            .store(left - 1, std::sync::atomic::Ordering::Relaxed);
        false
    }

    #[cold]
    fn yield_now(&self, cx: &mut std::task::Context<'_>) {
        self.yielded
            .store(true, std::sync::atomic::Ordering::Relaxed);
        cx.waker().wake_by_ref();
    }

    /// Whether a source yielded in this poll because the budget was
    /// spent: a `Pending` seen after it is not the input waiting.
    #[inline]
    pub(crate) fn yielded(&self) -> bool {
        self.yielded.load(std::sync::atomic::Ordering::Relaxed)
    }
}
