//! [`Control`]: the state every stage of one pipeline shares: running,
//! draining or aborted; the error stream and policy; the totals; the clock.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock, PoisonError};
use std::time::Instant;

use event_listener::Event;
use sluicegate_rt::Clock;

use crate::error::PipelineError;
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

    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match self.clock.get() {
            Some(clock) => clock.now(),
            None => Instant::now(),
        }
    }

    /// Whether stages are timed (a clock was given).
    #[inline]
    pub(crate) fn is_timed(&self) -> bool {
        self.clock.get().is_some()
    }

    /// The time now, if stages are timed.
    #[inline]
    pub(crate) fn now_if_timed(&self) -> Option<Instant> {
        self.clock.get().map(|clock| clock.now())
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

/// The pipeline's clock, as a [`Clock`] (for the buffers' blocked time).
pub(crate) struct ClockOf<E>(pub(crate) Arc<Control<E>>);

impl<E> Clock for ClockOf<E> {
    fn now(&self) -> Instant {
        self.0.now()
    }
}
