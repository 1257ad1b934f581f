//! What the producer, the consumer and the views share: progress counters,
//! the producer's phase, the stop signals, and the ledger that checks each
//! item was accounted for exactly once.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use tokio::sync::Notify;

/// A one-way flag that async code can wait for (runtime-agnostic: tokio's
/// `Notify` needs no tokio runtime).
#[derive(Debug, Default)]
pub(crate) struct Signal {
    set: AtomicBool,
    notify: Notify,
}

impl Signal {
    /// Raises the flag and wakes every waiter; returns whether it was
    /// already raised.
    pub(crate) fn set(&self) -> bool {
        let was = self.set.swap(true, Ordering::SeqCst);
        self.notify.notify_waiters();
        was
    }

    /// Whether the flag is raised.
    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Completes once the flag is raised.
    pub(crate) async fn wait(&self) {
        loop {
            let mut notified = pin!(self.notify.notified());
            // Registered before the check, so a `set` in between still wakes us.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// What the producer is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Waiting the short interval before the next item.
    Bursting = 0,
    /// In a long pause.
    Pausing = 1,
    /// Waiting for room: the queue is full (policy `block`).
    Blocked = 2,
    /// Made every item.
    Finished = 3,
    /// Stopped early (q or Ctrl-C).
    Stopped = 4,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Bursting,
            1 => Self::Pausing,
            2 => Self::Blocked,
            3 => Self::Finished,
            _ => Self::Stopped,
        }
    }

    /// The phase as a word.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Bursting => "bursting",
            Self::Pausing => "pausing",
            Self::Blocked => "blocked",
            Self::Finished => "finished",
            Self::Stopped => "stopped",
        }
    }
}

/// What a request to stop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// First request: the producer stops; the consumer drains the queue.
    Stop,
    /// Second request: the consumer drains without its per-item work.
    Hurry,
    /// Already hurrying: nothing more to do.
    Ignored,
}

/// Counters and signals shared by the producer, the consumer and the views.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Items the producer made (ids `0..produced`), counted before each send.
    pub(crate) produced: AtomicU64,
    /// Items handed back by a `reject` queue, which the producer discarded.
    pub(crate) rejected: AtomicU64,
    /// Items the consumer finished.
    pub(crate) consumed: AtomicU64,
    /// Of those, items drained without the work after a second stop request.
    pub(crate) drained_fast: AtomicU64,
    /// Pauses the producer took.
    pub(crate) pauses: AtomicU64,
    /// The longest run of items between two pauses.
    pub(crate) longest_burst: AtomicU64,
    phase: AtomicU8,
    /// Stop producing (first q or Ctrl-C).
    pub(crate) stop: Signal,
    /// Drain without working (second q or Ctrl-C).
    pub(crate) hurry: Signal,
    /// The consumer has drained the closed queue: the run is over.
    pub(crate) done: Signal,
    pub(crate) ledger: Ledger,
}

impl Shared {
    /// State for a run of `items` items.
    pub(crate) fn new(items: u64) -> Self {
        Self {
            produced: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            drained_fast: AtomicU64::new(0),
            pauses: AtomicU64::new(0),
            longest_burst: AtomicU64::new(0),
            phase: AtomicU8::new(Phase::Bursting as u8),
            stop: Signal::default(),
            hurry: Signal::default(),
            done: Signal::default(),
            ledger: Ledger::new(items),
        }
    }

    /// The producer's phase.
    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Relaxed))
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// A stop request (q, Ctrl-C): the first stops the producer, the second
    /// makes the consumer drain without its work.
    pub(crate) fn interrupt(&self) -> Interrupt {
        if !self.stop.set() {
            Interrupt::Stop
        } else if !self.hurry.set() {
            Interrupt::Hurry
        } else {
            Interrupt::Ignored
        }
    }

    /// Reads a counter.
    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One mark per item id, set when the item reaches its fate (consumed,
/// dropped by the queue, or rejected and discarded): at the end every id
/// the producer made must carry exactly one mark. Independent of the
/// queue's own counters, so it checks them.
#[derive(Debug)]
pub(crate) struct Ledger {
    marks: Vec<AtomicU8>,
}

/// What the ledger found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct LedgerCheck {
    /// Ids made but never accounted for.
    pub(crate) lost: u64,
    /// Ids accounted for more than once, or never made.
    pub(crate) duplicated: u64,
}

impl Ledger {
    fn new(items: u64) -> Self {
        let len = usize::try_from(items).unwrap_or(usize::MAX);
        Self {
            marks: (0..len).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// Records that item `id` reached its fate.
    pub(crate) fn mark(&self, id: u64) {
        let mark = usize::try_from(id)
            .ok()
            .and_then(|index| self.marks.get(index));
        if let Some(mark) = mark {
            // Saturating, so a (buggy) flood of marks cannot wrap to 1.
            let _ = mark.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                Some(m.saturating_add(1))
            });
        }
    }

    /// Checks ids `0..produced`: each marked once; and none beyond.
    pub(crate) fn check(&self, produced: u64) -> LedgerCheck {
        let mut check = LedgerCheck::default();
        for (id, mark) in self.marks.iter().enumerate() {
            let made = (id as u64) < produced;
            match (made, mark.load(Ordering::Relaxed)) {
                (true, 0) => check.lost += 1,
                (true, 1) | (false, 0) => {}
                _ => check.duplicated += 1,
            }
        }
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_finds_lost_and_duplicated_items() {
        let ledger = Ledger::new(5);
        for id in [0, 1, 1, 3, 4, 99] {
            ledger.mark(id);
        }
        // Made 0..4: 2 never marked, 1 twice; 4 marked but never made.
        assert_eq!(
            ledger.check(4),
            LedgerCheck {
                lost: 1,
                duplicated: 2
            }
        );
        let clean = Ledger::new(3);
        (0..3).for_each(|id| clean.mark(id));
        assert_eq!(clean.check(3), LedgerCheck::default());
    }

    #[test]
    fn interrupts_escalate() {
        let shared = Shared::new(1);
        assert_eq!(shared.interrupt(), Interrupt::Stop);
        assert!(shared.stop.is_set() && !shared.hurry.is_set());
        assert_eq!(shared.interrupt(), Interrupt::Hurry);
        assert_eq!(shared.interrupt(), Interrupt::Ignored);
    }

    #[test]
    fn a_signal_wakes_a_waiter_set_before_or_after() {
        let signal = Signal::default();
        let clock = sluicegate::rt::ManualClock::new();
        clock.block_on(async {
            let waiter = signal.wait();
            let setter = async {
                clock.sleep(std::time::Duration::from_millis(5)).await;
                signal.set();
            };
            futures_util::future::join(waiter, setter).await;
        });
        // Already set: returns at once.
        clock.block_on(signal.wait());
    }

    #[test]
    fn phases_round_trip() {
        let shared = Shared::new(1);
        for phase in [
            Phase::Bursting,
            Phase::Pausing,
            Phase::Blocked,
            Phase::Finished,
            Phase::Stopped,
        ] {
            shared.set_phase(phase);
            assert_eq!(shared.phase(), phase);
        }
        assert_eq!(Phase::Blocked.name(), "blocked");
    }
}
