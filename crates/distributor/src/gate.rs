//! The two lock-free pieces of state that decide when workers may stop:
//! the submit [`Gate`] (closed flag + submits in flight, one word) and the
//! [`WorkerCount`] (live workers against the target size).

use crate::sync::{AtomicU64, AtomicUsize, Ordering};

const CLOSED: usize = 1;
const ONE: usize = 2;

/// Bit 0: closed for new submits. Bits 1..: submits in flight (between the
/// closed check and the end of their enqueue).
///
/// A worker that sees the word equal to exactly `CLOSED` knows that no
/// item can ever be enqueued again, so an empty queue stays empty.
#[derive(Debug)]
pub(crate) struct Gate(AtomicUsize);

impl Gate {
    pub(crate) fn new() -> Self {
        Self(AtomicUsize::new(0))
    }

    /// Enters as a submit in flight; `false` (and nothing held) when closed.
    /// On `false` the caller must still call [`leave`](Gate::leave), which
    /// undoes the increment (and may be the one that drains the gate).
    pub(crate) fn enter(&self) -> bool {
        self.0.fetch_add(ONE, Ordering::AcqRel) & CLOSED == 0
    }

    /// Leaves; `true` when this left the gate closed and empty (the caller
    /// then wakes the workers waiting for that).
    pub(crate) fn leave(&self) -> bool {
        self.0.fetch_sub(ONE, Ordering::AcqRel) == CLOSED | ONE
    }

    /// Closes for new submits; `true` for the first call.
    pub(crate) fn close(&self) -> bool {
        self.0.fetch_or(CLOSED, Ordering::AcqRel) & CLOSED == 0
    }

    /// Whether new submits are refused.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Closed, and no submit in flight: nothing will be enqueued again.
    pub(crate) fn is_drained(&self) -> bool {
        self.0.load(Ordering::Acquire) == CLOSED
    }
}

/// Live workers (low 32 bits) and the size the pool should have (high 32
/// bits), in one word. Growing and retiring are compare-and-swaps against
/// the target *in the same word*, so concurrent `resize` calls and retiring
/// workers settle exactly on it: a worker can never retire against a stale
/// target.
#[derive(Debug)]
pub(crate) struct WorkerCount(AtomicU64);

const LIVE: u64 = u32::MAX as u64;

fn live_of(word: u64) -> u64 {
    word & LIVE
}

fn target_of(word: u64) -> u64 {
    word >> 32
}

impl WorkerCount {
    /// The largest pool: targets are clamped to it.
    pub(crate) const MAX: usize = u32::MAX as usize;

    pub(crate) fn new(target: usize) -> Self {
        Self(AtomicU64::new(clamp(target) << 32))
    }

    fn update(&self, f: impl Fn(u64) -> Option<u64>) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, f)
            .is_ok()
    }

    pub(crate) fn set_target(&self, target: usize) {
        let target = clamp(target);
        self.update(|word| Some((target << 32) | live_of(word)));
    }

    pub(crate) fn target(&self) -> usize {
        target_of(self.0.load(Ordering::Acquire)) as usize
    }

    pub(crate) fn live(&self) -> usize {
        live_of(self.0.load(Ordering::Acquire)) as usize
    }

    /// Whether more workers are alive than the target (some will retire).
    pub(crate) fn is_over(&self) -> bool {
        let word = self.0.load(Ordering::Acquire);
        live_of(word) > target_of(word)
    }

    /// Counts one more worker if the pool is below its target; the caller
    /// then starts it.
    pub(crate) fn try_grow(&self) -> bool {
        self.update(|word| (live_of(word) < target_of(word)).then_some(word + 1))
    }

    /// Counts one worker out if the pool is above its target; the calling
    /// worker then exits.
    pub(crate) fn try_retire(&self) -> bool {
        self.update(|word| (live_of(word) > target_of(word)).then_some(word - 1))
    }

    /// Counts one worker out unconditionally (it stops: drained, aborted or
    /// dropped by its executor).
    pub(crate) fn leave(&self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn clamp(target: usize) -> u64 {
    target.min(WorkerCount::MAX) as u64
}
