//! The state every handle shares: the channel, the slot count and the
//! counters.
//!
//! # Slot accounting
//!
//! The items live in an async-channel; the bound is enforced here, by
//! `slots`: the number of slots taken, which is the number of items queued
//! plus the number of outstanding reservations (permits). A sender takes a
//! slot with a compare-and-swap that never lets `slots` pass `capacity`,
//! then pushes its item. The channel is `bounded(capacity)` up to
//! [`PREALLOCATE_UP_TO`] slots (a ring allocated once: no allocation per
//! item, and a one-item channel for capacity 1), `unbounded` above that
//! (blocks allocated as needed, so a huge capacity costs nothing up
//! front). Either way the push cannot be `Full`: an item leaves the
//! channel before its slot is given back, so the channel never holds more
//! items than `slots` counts, and `slots` never passes `capacity`. A
//! receiver that takes an item out gives its slot back, which may wake a
//! waiting sender (`send_ops`, an event-listener `Event`; see below). A
//! waiting sender registers a listener and re-checks `slots` before it
//! sleeps, so a release between its check and its registration is not lost.
//!
//! Because a slot is taken before the item moves, an operation is either
//! done (the item is in the channel, or handed back) or not started: there
//! is no point at which dropping a future can lose an item or a slot.
//!
//! `DropOldest` evicts through an internal receiver handle (`rx`): the
//! evicted item's slot passes straight to the new item, so `slots` does not
//! move. Two senders evicting at once take two different items (the
//! channel's pop is atomic), and a receiver racing with them takes a third
//! or finds the queue empty. When nothing is queued but every slot is taken
//! (all held by permits), there is nothing to evict and the send waits
//! (woken by each permit's send).
//!
//! # Waking only when it is needed
//!
//! Every `Event::notify` takes the event's mutex, even with no listener, so
//! notifications are kept to the ones that can matter:
//!
//! - A release notifies only if it frees the *first* slot (`slots` was at
//!   `capacity`: only then can a sender be waiting for one) and `waiting`
//!   (the number of registered listeners) is non-zero.
//! - A release that frees a further slot (some were already free) does not
//!   notify: the sender woken for the first free slot passes the wake-up
//!   on. Every call that waited and then takes a slot checks whether slots
//!   are still free and listeners registered, and if so notifies one more
//!   ([`Core::pass_on`]). A notified listener dropped before it is polled
//!   passes its notification on (event-listener does that).
//! - A waiter registers its listener *first*, then raises `waiting`, then
//!   re-checks `slots`; a release lowers `slots`, then reads `waiting`
//!   (and `pass_on` reads both after its own compare-and-swap). A `SeqCst`
//!   fence sits between the write and the read on each side (a Dekker
//!   pair: `SeqCst` accesses alone would do in C++'s model, but loom, which
//!   checks this protocol, models only the fences fully), so either the
//!   release sees the waiter (whose listener is already in the list, so the
//!   notification reaches it) or the waiter's re-check sees the freed slot.
//!   `waiting` is lowered only after the listener is gone, so it never
//!   undercounts a listener that could still sleep. The fences run only on
//!   the waiting paths and on a release from a full queue.
//!
//! So a waiting sender is woken once per slot freed while the queue was
//! full, not once per item received.
//!
//! # Cache lines
//!
//! `slots` (with `waiting`) is the one word both sides write per item; the
//! per-item counters `sent` (producers) and `received` (consumers) and the
//! `high_watermark` each sit on their own line ([`Padded`]), so a counter
//! bump does not steal the slot word's line from the other side, and
//! `high_watermark` is written only when it actually rises.

use std::fmt;

use event_listener::{Event, IntoNotification};

use crate::policy::{DropReason, Overflow};
use crate::stats::{Counters, Stats};
use crate::sync::{AtomicUsize, Ordering, fence};

/// A value on a cache line of its own (128 bytes: two 64-byte lines, for
/// CPUs that prefetch lines in pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// The word both sides write: taken slots, and the listeners waiting for one.
#[derive(Debug)]
struct SlotWord {
    /// Queued items plus outstanding reservations; never above `capacity`.
    slots: AtomicUsize,
    /// Registered `send_ops` listeners (see the module docs).
    waiting: AtomicUsize,
}

/// Capacities up to this get a preallocated ring (`async_channel::bounded`);
/// larger ones an unbounded channel that allocates blocks as it fills.
pub(crate) const PREALLOCATE_UP_TO: usize = 1024;

/// The user's drop callback.
pub(crate) type OnDrop<T> = Box<dyn Fn(T, DropReason) + Send + Sync>;

/// What became of an offered item.
pub(crate) enum Offer<T> {
    /// The queue took it (queued, or dropped under the policy).
    Taken,
    /// Every slot was taken and the policy hands it back.
    Full(T),
    /// Every receiver is gone.
    Closed(T),
}

pub(crate) struct Core<T> {
    tx: async_channel::Sender<T>,
    /// Internal receiver: eviction (`DropOldest`) and the final drain.
    rx: async_channel::Receiver<T>,
    capacity: usize,
    policy: Overflow,
    on_drop: Option<OnDrop<T>>,
    slot: Padded<SlotWord>,
    high_watermark: Padded<AtomicUsize>,
    /// Live `Sender`s and `Permit`s; the channel closes when it reaches 0.
    senders: AtomicUsize,
    /// Live `Receiver`s; the channel closes (and drains) when it reaches 0.
    receivers: AtomicUsize,
    /// Senders and reservers waiting for a slot (or for the close).
    pub(crate) send_ops: Event,
    pub(crate) counters: Counters,
}

impl<T> Core<T> {
    pub(crate) fn new(capacity: usize, policy: Overflow, on_drop: Option<OnDrop<T>>) -> Self {
        let (tx, rx) = if capacity <= PREALLOCATE_UP_TO {
            async_channel::bounded(capacity)
        } else {
            async_channel::unbounded()
        };
        Self {
            tx,
            rx,
            capacity,
            policy,
            on_drop,
            slot: Padded(SlotWord {
                slots: AtomicUsize::new(0),
                waiting: AtomicUsize::new(0),
            }),
            high_watermark: Padded(AtomicUsize::new(0)),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            send_ops: Event::new(),
            counters: Counters::default(),
        }
    }

    /// A fresh async-channel receiver for a user `Receiver`.
    pub(crate) fn receiver_handle(&self) -> async_channel::Receiver<T> {
        self.rx.clone()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn policy(&self) -> Overflow {
        self.policy
    }

    pub(crate) fn len(&self) -> usize {
        self.rx.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Takes a slot if one is free.
    pub(crate) fn try_take_slot(&self) -> bool {
        let slots = &self.slot.slots;
        let mut taken = slots.load(Ordering::SeqCst);
        loop {
            if taken >= self.capacity {
                return false;
            }
            match slots.compare_exchange(taken, taken + 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => {
                    // Read first: once the watermark has peaked (usually at
                    // `capacity`), its line is only ever read, and stays
                    // shared instead of bouncing between cores.
                    if self.high_watermark.load(Ordering::Relaxed) <= taken {
                        self.high_watermark.fetch_max(taken + 1, Ordering::Relaxed);
                    }
                    return true;
                }
                Err(now) => taken = now,
            }
        }
    }

    /// Gives a slot back; if it was the first free slot, wakes one waiting
    /// sender (see the module docs).
    pub(crate) fn release_slot(&self) {
        let before = self.slot.slots.fetch_sub(1, Ordering::SeqCst);
        if before == self.capacity {
            fence(Ordering::SeqCst);
            if self.slot.waiting.load(Ordering::SeqCst) != 0 {
                self.wake_one();
            }
        }
    }

    /// Called by a call that waited and has now taken a slot: if slots are
    /// still free and senders wait, wakes the next one.
    pub(crate) fn pass_on(&self) {
        fence(Ordering::SeqCst);
        if self.slot.slots.load(Ordering::SeqCst) < self.capacity
            && self.slot.waiting.load(Ordering::SeqCst) != 0
        {
            self.wake_one();
        }
    }

    fn wake_one(&self) {
        // The fence before it already orders the slot change before the
        // notification: no second one.
        self.send_ops.notify(1.additional().relaxed());
    }

    /// A waiter's listener is now in `send_ops`' list; the caller re-checks
    /// the slots next (see the module docs).
    pub(crate) fn listener_added(&self) {
        self.slot.waiting.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// A waiter's listener is gone from `send_ops`' list.
    pub(crate) fn listener_removed(&self) {
        self.slot.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Pushes an item into a slot already taken. On a closed channel the slot
    /// is given back and the item returned.
    fn push_taken(&self, item: T) -> Result<(), T> {
        match self.tx.try_send(item) {
            Ok(()) => {
                Counters::bump(&self.counters.sent);
                Ok(())
            }
            Err(e) => {
                // Never `Full` (see the module docs); were it ever, the item
                // would still come back, as `Closed`, not be lost.
                debug_assert!(e.is_closed(), "a taken slot found the channel full");
                self.release_slot();
                Err(e.into_inner())
            }
        }
    }

    /// Hands a taken item to the drop callback, counted.
    fn discard(&self, item: T, reason: DropReason) {
        Counters::bump(&self.counters.dropped);
        match &self.on_drop {
            Some(on_drop) => on_drop(item, reason),
            None => drop(item),
        }
    }

    /// Tries to hand `item` to the queue under the policy, without waiting.
    /// Counts a full event if the queue is full and `count_full`.
    pub(crate) fn offer(&self, item: T, count_full: bool) -> Offer<T> {
        if self.is_closed() {
            return Offer::Closed(item);
        }
        if self.try_take_slot() {
            return match self.push_taken(item) {
                Ok(()) => Offer::Taken,
                Err(item) => Offer::Closed(item),
            };
        }
        if count_full {
            Counters::bump(&self.counters.full_events);
        }
        match self.policy {
            Overflow::Block | Overflow::Reject => Offer::Full(item),
            Overflow::DropNewest => {
                Counters::bump(&self.counters.sent);
                self.discard(item, DropReason::Newest);
                Offer::Taken
            }
            Overflow::DropOldest => self.evict_for(item),
        }
    }

    /// `DropOldest`: evicts the oldest item and gives its slot to `item`.
    fn evict_for(&self, item: T) -> Offer<T> {
        match self.rx.try_recv() {
            Ok(oldest) => {
                // The slot passes from `oldest` to `item`: push first, so a
                // panicking callback cannot leak the slot.
                let pushed = self.push_taken(item);
                self.discard(oldest, DropReason::Oldest);
                match pushed {
                    Ok(()) => Offer::Taken,
                    Err(item) => Offer::Closed(item),
                }
            }
            Err(async_channel::TryRecvError::Closed) => Offer::Closed(item),
            // Nothing queued: the slots are held by permits, or a receiver
            // has just taken the last item and is giving its slot back.
            Err(async_channel::TryRecvError::Empty) => {
                if self.try_take_slot() {
                    match self.push_taken(item) {
                        Ok(()) => Offer::Taken,
                        Err(item) => Offer::Closed(item),
                    }
                } else {
                    Offer::Full(item)
                }
            }
        }
    }

    /// Sends through a reserved slot: cannot fail. If every receiver is
    /// gone, the item is counted as sent and dropped, and goes to the
    /// callback with [`DropReason::Closed`].
    pub(crate) fn send_reserved(&self, item: T) {
        match self.push_taken(item) {
            // Under `DropOldest`, a sender may be waiting for something to
            // evict (every slot reserved, nothing queued): now there is.
            Ok(()) if self.policy == Overflow::DropOldest => {
                self.send_ops.notify_additional(1);
            }
            Ok(()) => {}
            Err(item) => {
                Counters::bump(&self.counters.sent);
                self.discard(item, DropReason::Closed);
            }
        }
    }

    /// Like [`send_reserved`](Self::send_reserved) without a reservation:
    /// used by `Sink::start_send` under a drop policy. Whatever happens, the
    /// item is taken (queued or dropped); returns whether the queue was open.
    pub(crate) fn send_or_discard(&self, item: T) -> bool {
        match self.offer(item, true) {
            Offer::Taken => true,
            Offer::Full(item) => {
                Counters::bump(&self.counters.sent);
                self.discard(item, DropReason::Newest);
                true
            }
            Offer::Closed(item) => {
                Counters::bump(&self.counters.sent);
                self.discard(item, DropReason::Closed);
                false
            }
        }
    }

    /// A receiver took an item out.
    pub(crate) fn on_received(&self) {
        Counters::bump(&self.counters.received);
        self.release_slot();
    }

    pub(crate) fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    /// The last sender closes the channel: receivers drain it, then end.
    pub(crate) fn drop_sender(&self) {
        if self.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.tx.close();
        }
    }

    pub(crate) fn add_receiver(&self) {
        self.receivers.fetch_add(1, Ordering::Relaxed);
    }

    /// The last receiver closes the channel, wakes every waiting sender (to
    /// fail with `Closed`), and drains what is left to the drop callback.
    pub(crate) fn drop_receiver(&self) {
        if self.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.tx.close();
            self.send_ops.notify(usize::MAX);
            while let Ok(item) = self.rx.try_recv() {
                self.release_slot();
                self.discard(item, DropReason::Closed);
            }
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let slots = self.slot.slots.load(Ordering::SeqCst);
        let len = self.len();
        Stats {
            len,
            reserved: slots.saturating_sub(len),
            capacity: self.capacity,
            high_watermark: self.high_watermark.load(Ordering::Relaxed),
            full_events: c.full_events.load(Ordering::Relaxed),
            blocked: c.blocked(),
            sent: c.sent.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            timed_out: c.timed_out.load(Ordering::Relaxed),
        }
    }
}

impl<T> fmt::Debug for Core<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("capacity", &self.capacity)
            .field("policy", &self.policy)
            .field("slots", &self.slot.slots.load(Ordering::Relaxed))
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
