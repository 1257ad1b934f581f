//! The state behind a broadcast: one buffer per subscriber, under one
//! lock.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use event_listener::Event;

use super::policy::SlowConsumer;
use super::stats::{BroadcastStats, SubscriberStats};
use crate::error::RecvError;

pub(crate) struct Shared<T> {
    pub(crate) capacity: usize,
    pub(crate) policy: SlowConsumer,
    state: Mutex<State<T>>,
    /// Fired when a full buffer gets room (or its subscriber leaves), and
    /// on close: wakes publishers waiting under `Backpressure`.
    pub(crate) room: Event,
}

pub(crate) struct State<T> {
    /// Slots of subscribers; a `None` is free for reuse.
    slots: Vec<Option<Slot<T>>>,
    free: Vec<usize>,
    /// Subscribed and not disconnected.
    pub(crate) live: usize,
    pub(crate) publishers: usize,
    pub(crate) closed: bool,
    next_id: u64,
    pub(crate) stats: BroadcastStats,
}

/// An entry of a subscriber's buffer. Markers sit exactly where the gap
/// is and do not take a slot of the capacity (at most one between two
/// items, as consecutive drops merge).
pub(crate) enum Entry<T> {
    Item(T),
    Lagged(u64),
    Disconnected,
}

pub(crate) struct Slot<T> {
    buf: VecDeque<Entry<T>>,
    /// Items (not markers) in `buf`.
    items: usize,
    waker: Option<Waker>,
    stats: SubscriberStats,
}

impl<T> Shared<T> {
    pub(crate) fn new(capacity: usize, policy: SlowConsumer) -> Self {
        Self {
            capacity,
            policy,
            state: Mutex::new(State {
                slots: Vec::new(),
                free: Vec::new(),
                live: 0,
                publishers: 1,
                closed: false,
                next_id: 0,
                stats: BroadcastStats {
                    capacity,
                    ..BroadcastStats::default()
                },
            }),
            room: Event::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The only user code run under this lock is `T::clone` (and
        // `Waker::clone`); a panic there leaves every counter consistent
        // (see `deliver`). Items are dropped, and wakers woken, after it
        // is released (see `WakeList`, `unsubscribe`).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> State<T> {
    pub(crate) fn subscribe(&mut self) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        let slot = Slot {
            buf: VecDeque::new(),
            items: 0,
            waker: None,
            stats: SubscriberStats {
                id,
                ..SubscriberStats::default()
            },
        };
        self.live += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        }
    }

    /// Removes a subscriber; returns whether it was live (a publisher may
    /// be waiting for its room), and its slot, for the caller to drop once
    /// the lock is released (its unread items run user code when dropped).
    pub(crate) fn unsubscribe(&mut self, index: usize) -> (bool, Option<Slot<T>>) {
        let Some(slot) = self.slots[index].take() else {
            return (false, None);
        };
        self.free.push(index);
        self.stats.unsubscribed += 1;
        self.stats.left_unread += slot.items as u64;
        let was_live = !slot.stats.disconnected;
        if was_live {
            self.live -= 1;
        }
        (was_live, Some(slot))
    }

    /// Whether some connected subscriber's buffer is full.
    pub(crate) fn any_full(&self, capacity: usize) -> bool {
        self.slots
            .iter()
            .flatten()
            .any(|s| !s.stats.disconnected && s.items >= capacity)
    }

    /// Delivers to every connected subscriber, dropping for full ones
    /// under `Drop` / `Disconnect` (under `Backpressure` the caller made
    /// sure there is room). `copies` yields one item per connected
    /// subscriber. Returns how many subscribers it went to.
    ///
    /// `copies` runs user code (`T::clone`): if it panics, the subscribers
    /// served before keep their copy, the others never saw the item, and
    /// every counter (`live` included) already matches each slot, because
    /// each is updated with the slot it counts, before the next copy.
    pub(crate) fn deliver(
        &mut self,
        capacity: usize,
        policy: SlowConsumer,
        wakers: &mut WakeList,
        mut copies: impl FnMut() -> T,
    ) -> usize {
        let mut reached = 0;
        let mut full = false;
        for slot in self.slots.iter_mut().flatten() {
            if slot.stats.disconnected {
                continue;
            }
            if slot.items < capacity {
                slot.buf.push_back(Entry::Item(copies()));
                slot.items += 1;
                slot.stats.high_watermark = slot.stats.high_watermark.max(slot.items);
                reached += 1;
            } else {
                slot.stats.dropped += 1;
                self.stats.dropped += 1;
                if !full {
                    full = true;
                    self.stats.full_events += 1;
                }
                if policy == SlowConsumer::Disconnect {
                    slot.stats.disconnected = true;
                    slot.buf.push_back(Entry::Disconnected);
                    self.live -= 1;
                } else if let Some(Entry::Lagged(n)) = slot.buf.back_mut() {
                    *n += 1;
                } else {
                    slot.buf.push_back(Entry::Lagged(1));
                }
            }
            slot.stats.sent_to += 1;
            if let Some(w) = slot.waker.take() {
                wakers.push(w);
            }
        }
        self.stats.sent += 1;
        reached
    }

    /// How many clones a delivery needs.
    pub(crate) fn connected_count(&self) -> usize {
        self.live
    }

    /// Takes the next entry of a subscriber's buffer, or stores its waker.
    /// `Some(None)`: its stream has ended.
    #[allow(clippy::option_option)]
    pub(crate) fn poll_entry(
        &mut self,
        index: usize,
        capacity: usize,
        waker: &Waker,
    ) -> (Option<Option<Result<T, RecvError>>>, bool) {
        let ended = self.closed || self.publishers == 0;
        let Some(slot) = self.slots[index].as_mut() else {
            return (Some(None), false);
        };
        let was_full = slot.items >= capacity;
        match slot.buf.pop_front() {
            Some(Entry::Item(item)) => {
                slot.items -= 1;
                slot.stats.delivered += 1;
                (Some(Some(Ok(item))), was_full)
            }
            Some(Entry::Lagged(n)) => (Some(Some(Err(RecvError::Lagged(n)))), false),
            Some(Entry::Disconnected) => (Some(Some(Err(RecvError::Disconnected))), false),
            None if ended || slot.stats.disconnected => (Some(None), false),
            None => {
                match &slot.waker {
                    Some(w) if w.will_wake(waker) => {}
                    _ => slot.waker = Some(waker.clone()),
                }
                (None, false)
            }
        }
    }

    pub(crate) fn subscriber_stats(&self, index: usize) -> SubscriberStats {
        self.slots[index]
            .as_ref()
            .map(Slot::snapshot)
            .unwrap_or_default()
    }

    pub(crate) fn snapshot(&self) -> BroadcastStats {
        let mut s = self.stats.clone();
        let mut subs: Vec<SubscriberStats> =
            self.slots.iter().flatten().map(Slot::snapshot).collect();
        subs.sort_by_key(|s| s.id);
        s.subscribers = subs;
        s
    }

    /// Takes every subscriber's waker (on close), to be woken once the
    /// lock is released.
    pub(crate) fn take_wakers(&mut self, wakers: &mut WakeList) {
        for slot in self.slots.iter_mut().flatten() {
            if let Some(w) = slot.waker.take() {
                wakers.push(w);
            }
        }
    }
}

impl<T> Slot<T> {
    fn snapshot(&self) -> SubscriberStats {
        SubscriberStats {
            buffered: self.items,
            ..self.stats
        }
    }
}

/// Wakers taken under the lock, woken when the list is dropped: declare it
/// before the lock guard, so that it is dropped after it (also when user
/// code panics under the lock). Waking under the lock would deadlock a
/// waker that uses the broadcast (one that polls its task inline, say).
/// The first few wakers need no allocation.
pub(crate) struct WakeList {
    inline: [Option<Waker>; INLINE],
    len: usize,
    spill: Vec<Waker>,
}

const INLINE: usize = 8;

impl WakeList {
    pub(crate) fn new() -> Self {
        Self {
            inline: Default::default(),
            len: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, waker: Waker) {
        if self.len < INLINE {
            self.inline[self.len] = Some(waker);
            self.len += 1;
        } else {
            self.spill.push(waker);
        }
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        for w in self.inline[..self.len].iter_mut().filter_map(Option::take) {
            w.wake();
        }
        for w in self.spill.drain(..) {
            w.wake();
        }
    }
}
