//! The deadline-ordered queue of wakers shared by [`ManualClock`] and the
//! std-thread timer: one implementation of "register, refresh, cancel, fire
//! what is due in deadline order".
//!
//! [`ManualClock`]: crate::ManualClock

use std::collections::BTreeMap;
use std::task::Waker;

/// Wakers keyed by `(deadline, registration id)`: ordered by deadline, ties
/// broken by registration order.
#[derive(Debug)]
pub(crate) struct TimerQueue<T> {
    timers: BTreeMap<(T, u64), Waker>,
    next_id: u64,
}

impl<T: Ord + Copy> TimerQueue<T> {
    pub(crate) const fn new() -> Self {
        Self {
            timers: BTreeMap::new(),
            next_id: 0,
        }
    }

    /// Registers `waker` for `deadline`, or refreshes the waker of an earlier
    /// registration `id`. Returns true when this registration is now the
    /// earliest in the queue (a timer thread must re-arm).
    pub(crate) fn register(&mut self, deadline: T, id: &mut Option<u64>, waker: &Waker) -> bool {
        if let Some(existing) = id.and_then(|id| self.timers.get_mut(&(deadline, id))) {
            if !existing.will_wake(waker) {
                existing.clone_from(waker);
            }
            return false;
        }
        let new_id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.timers.insert((deadline, new_id), waker.clone());
        *id = Some(new_id);
        self.timers.keys().next() == Some(&(deadline, new_id))
    }

    /// Forgets a registration (the sleep was dropped or completed).
    pub(crate) fn cancel(&mut self, deadline: T, id: u64) {
        self.timers.remove(&(deadline, id));
    }

    /// Moves the wakers of every registration due at `now` into `out`, in
    /// deadline order.
    pub(crate) fn take_due(&mut self, now: T, out: &mut Vec<Waker>) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            out.push(entry.remove());
        }
    }

    /// The earliest registered deadline.
    pub(crate) fn next_deadline(&self) -> Option<T> {
        self.timers.keys().next().map(|&(deadline, _)| deadline)
    }

    /// How many registrations are waiting.
    pub(crate) fn len(&self) -> usize {
        self.timers.len()
    }
}
