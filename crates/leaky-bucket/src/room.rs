//! The waiting room: the schedule, the FIFO of waiting callers and the
//! counters, all behind the bucket's one mutex.
//!
//! Slots are assigned lazily: a waiting caller records only when it
//! *arrived*. The caller at the head of the queue takes the next slot,
//! `max(previous slot + interval, arrival - slack)`, when it is released.
//! Because the formula uses the arrival, not the release time, the result is
//! the same as assigning every slot on arrival (no drift from late
//! wake-ups), except that a caller who leaves the queue leaves no hole: the
//! next one simply takes the slot it would have had.

use std::collections::BTreeMap;
use std::task::Waker;

use crate::error::NotReady;
use crate::schedule::{NEVER, Rate, Schedule, duration};
use crate::stats::Stats;

/// What the waiting room needs to know about the bucket's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) rate: Rate,
    pub(crate) capacity: usize,
}

/// What to do when the waiting room is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Refuse the caller (`acquire`).
    Spill,
    /// Wait for a place, FIFO (paced streams, which must not lose items).
    WaitForRoom,
}

/// The outcome of a caller's arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Its slot was due and nobody was ahead: released at once.
    Passed,
    /// The room was full and the caller spills.
    Full,
    /// The room was full; the caller waits for a place under this id.
    Room(u64),
    /// The caller waits in the queue under this ticket.
    Queued(u64),
}

/// Where a queued caller stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Not at the head: it is woken when it gets there.
    Behind,
    /// At the head, waiting for its slot (nanoseconds since the origin).
    Sleep(u128),
    /// Released: it has left the queue.
    Released,
}

/// Wakers to wake once the lock is released (a waker may poll inline).
#[derive(Debug, Default)]
#[must_use]
pub(crate) struct Wakeups {
    head: Option<Waker>,
    room: Option<Waker>,
}

impl Wakeups {
    pub(crate) fn wake(self) {
        if let Some(w) = self.head {
            w.wake();
        }
        if let Some(w) = self.room {
            w.wake();
        }
    }
}

#[derive(Debug)]
struct Entry {
    arrival: u128,
    waker: Waker,
}

#[derive(Debug, Default)]
struct Counters {
    passed: u64,
    spilled: u64,
    denied: u64,
    cancelled: u64,
    waited: u64,
    max_waiting: usize,
    total_wait: u128,
    lateness: u128,
}

#[derive(Debug)]
pub(crate) struct State {
    schedule: Schedule,
    /// The schedule once every queued caller has taken its slot, for
    /// `try_acquire`'s wait; `None` after a cancellation until needed.
    tail: Option<Schedule>,
    /// Waiting callers by ticket: FIFO, since tickets only grow.
    queue: BTreeMap<u64, Entry>,
    /// Paced streams waiting for a place, by id: FIFO.
    room: BTreeMap<u64, Waker>,
    next_id: u64,
    counters: Counters,
}

fn refresh(slot: &mut Waker, waker: &Waker) {
    if !slot.will_wake(waker) {
        slot.clone_from(waker);
    }
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            schedule: Schedule::START,
            tail: Some(Schedule::START),
            queue: BTreeMap::new(),
            room: BTreeMap::new(),
            next_id: 0,
            counters: Counters::default(),
        }
    }

    fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Somebody must go before the caller: a queued caller, or a paced
    /// stream waiting for room (other than the caller itself, `room_id`).
    fn anyone_ahead(&self, room_id: Option<u64>) -> bool {
        !self.queue.is_empty() || self.room.keys().next().is_some_and(|&f| Some(f) != room_id)
    }

    /// If a place is free and a paced stream waits for one, the first such
    /// stream's waker.
    fn room_baton(&self, config: &Config) -> Option<Waker> {
        if self.queue.len() < config.capacity {
            self.room.values().next().cloned()
        } else {
            None
        }
    }

    fn head_waker(&self) -> Option<Waker> {
        self.queue.values().next().map(|e| e.waker.clone())
    }

    /// A caller arrives at `now` (`room_id`: it already waits for room under
    /// that id).
    pub(crate) fn arrive(
        &mut self,
        config: &Config,
        now: u128,
        waker: &Waker,
        mode: Mode,
        room_id: Option<u64>,
    ) -> (Arrival, Wakeups) {
        let rate = &config.rate;
        let mut wake = Wakeups::default();
        if !self.anyone_ahead(room_id) && self.schedule.slot_for(rate, now) <= now {
            let slot = self.schedule.take(rate, now);
            self.schedule.passed_at_once(slot, now);
            self.tail = Some(self.schedule);
            self.counters.passed += 1;
            if let Some(id) = room_id {
                self.room.remove(&id);
                wake.room = self.room_baton(config);
            }
            return (Arrival::Passed, wake);
        }
        let full = self.queue.len() >= config.capacity;
        let blocked = match room_id {
            // Paced streams that wait for room go first.
            None => full || !self.room.is_empty(),
            Some(id) => full || self.room.keys().next() != Some(&id),
        };
        if blocked {
            return match (mode, room_id) {
                (Mode::Spill, _) => {
                    self.counters.spilled += 1;
                    (Arrival::Full, wake)
                }
                (Mode::WaitForRoom, Some(id)) => {
                    if let Some(w) = self.room.get_mut(&id) {
                        refresh(w, waker);
                    }
                    (Arrival::Room(id), wake)
                }
                (Mode::WaitForRoom, None) => {
                    let id = self.new_id();
                    self.room.insert(id, waker.clone());
                    (Arrival::Room(id), wake)
                }
            };
        }
        if let Some(id) = room_id {
            self.room.remove(&id);
        }
        let ticket = self.new_id();
        self.queue.insert(
            ticket,
            Entry {
                arrival: now,
                waker: waker.clone(),
            },
        );
        if let Some(tail) = &mut self.tail {
            tail.take(rate, now);
        }
        self.counters.max_waiting = self.counters.max_waiting.max(self.queue.len());
        // Entering may leave a place for the next paced stream.
        wake.room = self.room_baton(config);
        (Arrival::Queued(ticket), wake)
    }

    /// A queued caller is polled at `now`; `fired` says its sleep until its
    /// slot has completed (trusted even if the clock disagrees, so a clock
    /// and sleeper that differ slightly cannot make it spin).
    pub(crate) fn poll_queued(
        &mut self,
        config: &Config,
        ticket: u64,
        now: u128,
        waker: &Waker,
        fired: bool,
    ) -> (Turn, Wakeups) {
        let rate = &config.rate;
        let head = self.queue.keys().next() == Some(&ticket);
        let Some(entry) = self.queue.get_mut(&ticket) else {
            // Only the caller itself removes its entry; nothing to do.
            return (Turn::Released, Wakeups::default());
        };
        refresh(&mut entry.waker, waker);
        if !head {
            return (Turn::Behind, Wakeups::default());
        }
        let arrival = entry.arrival;
        let slot = self.schedule.slot_for(rate, arrival);
        if slot > now && !fired {
            return (Turn::Sleep(slot), Wakeups::default());
        }
        self.queue.remove(&ticket);
        self.schedule.take(rate, arrival);
        let released = now.max(slot);
        self.schedule.released_late(rate, slot, released);
        let c = &mut self.counters;
        c.passed += 1;
        c.waited += 1;
        c.total_wait = c
            .total_wait
            .saturating_add(released - arrival.min(released));
        c.lateness = c.lateness.saturating_add(released - slot);
        let wake = Wakeups {
            head: self.head_waker(),
            room: self.room_baton(config),
        };
        (Turn::Released, wake)
    }

    /// A queued caller gave up: its place and its slot go to the next one.
    pub(crate) fn cancel(&mut self, config: &Config, ticket: u64) -> Wakeups {
        let head = self.queue.keys().next() == Some(&ticket);
        if self.queue.remove(&ticket).is_none() {
            return Wakeups::default();
        }
        self.counters.cancelled += 1;
        self.tail = None;
        Wakeups {
            head: if head { self.head_waker() } else { None },
            room: self.room_baton(config),
        }
    }

    /// A paced stream waiting for room gave up. If it was first (and so may
    /// have been woken for a free place), the next one gets the wake-up.
    pub(crate) fn leave_room(&mut self, config: &Config, id: u64) -> Wakeups {
        let first = self.room.keys().next() == Some(&id);
        if self.room.remove(&id).is_none() {
            return Wakeups::default();
        }
        self.counters.cancelled += 1;
        Wakeups {
            head: None,
            room: if first { self.room_baton(config) } else { None },
        }
    }

    /// `try_acquire` at `now`: take the slot if it is due and nobody waits.
    pub(crate) fn try_take(&mut self, config: &Config, now: u128) -> Result<(), NotReady> {
        let rate = &config.rate;
        if !self.anyone_ahead(None) {
            let slot = self.schedule.slot_for(rate, now);
            if slot <= now {
                self.schedule.take(rate, now);
                self.schedule.passed_at_once(slot, now);
                self.tail = Some(self.schedule);
                self.counters.passed += 1;
                return Ok(());
            }
            self.counters.denied += 1;
            return Err(NotReady::new(duration(slot - now), 0));
        }
        let mut tail = match self.tail {
            Some(tail) => tail,
            None => {
                let mut tail = self.schedule;
                for entry in self.queue.values() {
                    tail.take(rate, entry.arrival);
                }
                self.tail = Some(tail);
                tail
            }
        };
        // Paced streams waiting for room go first too.
        for _ in 0..self.room.len() {
            tail.take(rate, now);
        }
        let slot = tail.slot_for(rate, now);
        self.counters.denied += 1;
        let ahead = self.queue.len() + self.room.len();
        Err(NotReady::new(duration(slot.saturating_sub(now)), ahead))
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            passed: c.passed,
            spilled: c.spilled,
            denied: c.denied,
            cancelled: c.cancelled,
            waiting: self.queue.len(),
            max_waiting: c.max_waiting,
            waiting_for_room: self.room.len(),
            waited: c.waited,
            total_wait: duration(c.total_wait.min(NEVER)),
            lateness: duration(c.lateness.min(NEVER)),
        }
    }
}
