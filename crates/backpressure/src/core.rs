//! The state every handle shares: the channel, the slot count and the
//! counters.
//!
//! # Slot accounting
//!
//! The items live in an *unbounded* async-channel; the bound is enforced
//! here, by `slots`: the number of slots taken, which is the number of items
//! queued plus the number of outstanding reservations (permits). A sender
//! takes a slot with a compare-and-swap that never lets `slots` pass
//! `capacity`, then pushes its item (a push into an unbounded channel cannot
//! be `Full`). A receiver that takes an item out gives its slot back and
//! wakes one waiting sender (`send_ops`, an event-listener `Event`, notified
//! with `notify_additional(1)` so that two releases wake two waiters). A
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
//! (all held by permits), there is nothing to evict and the send waits.

use std::fmt;

use event_listener::Event;

use crate::policy::{DropReason, Overflow};
use crate::stats::{Counters, Stats};
use crate::sync::{AtomicUsize, Ordering};

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
    /// Queued items plus outstanding reservations; never above `capacity`.
    slots: AtomicUsize,
    high_watermark: AtomicUsize,
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
        let (tx, rx) = async_channel::unbounded();
        Self {
            tx,
            rx,
            capacity,
            policy,
            on_drop,
            slots: AtomicUsize::new(0),
            high_watermark: AtomicUsize::new(0),
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
        let mut taken = self.slots.load(Ordering::SeqCst);
        loop {
            if taken >= self.capacity {
                return false;
            }
            match self
                .slots
                .compare_exchange(taken, taken + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    self.high_watermark.fetch_max(taken + 1, Ordering::Relaxed);
                    return true;
                }
                Err(now) => taken = now,
            }
        }
    }

    /// Gives a slot back and wakes one waiting sender.
    pub(crate) fn release_slot(&self) {
        self.slots.fetch_sub(1, Ordering::SeqCst);
        self.send_ops.notify_additional(1);
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
        let slots = self.slots.load(Ordering::SeqCst);
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
            .field("slots", &self.slots.load(Ordering::Relaxed))
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
