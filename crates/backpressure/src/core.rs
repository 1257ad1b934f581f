//! The state every handle shares: the queue, the slot count, the wake-up
//! counts and the counters.
//!
//! # Built on async-channel's parts, not on async-channel
//!
//! The items live in a [`ConcurrentQueue`] (the lock-free queue inside
//! async-channel): `bounded(capacity)` up to [`PREALLOCATE_UP_TO`] slots (a
//! ring allocated once: no allocation per item, and a one-item cell for
//! capacity 1), `unbounded` above that (blocks allocated as needed, so a
//! huge capacity costs nothing up front). Waiting is done with
//! event-listener `Event`s, as async-channel does, but the bound and both
//! wake-up protocols are this crate's. async-channel itself would add, per
//! item, a second bound check (its own ring's, redundant with the slot
//! count below) and three unconditional `Event::notify` calls (after a push
//! its receive and stream events, after a pop its send event), each a full
//! fence and a lock and unlock of the event's mutex (event-listener 5.4)
//! even when nobody waits; here a push pays one fence and a pop none, and
//! a notification is made only when someone waits (see below).
//!
//! Closing is the queue's own `close`: pushes fail from then on, pops
//! drain what is queued, then report the close. The queue closes when the
//! last sender (counting permits) or the last receiver goes (`senders`,
//! `receivers`); closing wakes every waiter of every kind.
//!
//! # Slot accounting
//!
//! The bound is enforced by `slots`: the number of slots taken, which is
//! the number of items queued plus the number of outstanding reservations
//! (permits). A sender takes a slot with a compare-and-swap that never lets
//! `slots` pass `capacity`, then pushes its item. The push cannot be
//! `Full`: an item leaves the queue before its slot is given back, so the
//! queue never holds more items than `slots` counts, and `slots` never
//! passes `capacity`. A receiver that takes an item out gives its slot
//! back, which may wake a waiting sender (`send_ops`; see below).
//!
//! Because a slot is taken before the item moves, an operation is either
//! done (the item is in the queue, or handed back) or not started: there is
//! no point at which dropping a future can lose an item or a slot.
//!
//! `DropOldest` evicts by popping the queue itself: the evicted item's slot
//! passes straight to the new item, so `slots` does not move. Two senders
//! evicting at once take two different items (the pop is atomic), and a
//! receiver racing with them takes a third or finds the queue empty. When
//! nothing is queued but every slot is taken (all held by permits, or for
//! an instant by a sender between its eviction's pop and its push), there
//! is nothing to evict and the send waits. Under `DropOldest` a push wakes
//! every waiting sender if a `DropOldest` send waits (the fence after the
//! push orders it before a read of `evict_waiting`, see [`Core::pushed`]):
//! a queued item is something to evict, so each such send in turn evicts
//! the item the previous one pushed (a waiting `reserve`, which needs a
//! free slot, goes back to sleep).
//!
//! # Waking senders only when it is needed
//!
//! A notification is kept to the ones that can matter:
//!
//! - A release notifies only if it frees the *first* slot (`slots` was at
//!   `capacity`: only then can a sender be waiting for one) and `waiting`
//!   (the number of registered listeners) is non-zero.
//! - A release that frees a further slot (some were already free) does not
//!   notify: the sender woken for the first free slot passes the wake-up
//!   on. Every call that waited and then takes a slot checks whether slots
//!   are still free and listeners registered, and if so notifies one more
//!   ([`Core::pass_on`]; when its own take filled the queue, the next
//!   release wakes a waiter itself, and `pass_on` stops at one load). A
//!   notified listener dropped before it is polled passes its notification
//!   on (event-listener does that).
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
//! # Waking receivers only when one waits
//!
//! The same Dekker pair, the other way round, on `recv_waiting`:
//!
//! - A receiver that finds the queue empty registers a listener (on
//!   `recv_ops` for a [`Recv`](crate::futures::Recv) future, on
//!   `stream_ops` for a stream), *then* raises `recv_waiting` (by 1 for a
//!   future, by 2^32 for a stream), then a `SeqCst` fence, *then* pops
//!   again before it sleeps ([`Core::poll_recv`]). It lowers the count only
//!   after its listener is gone (fired, or dropped with the future).
//! - A push is followed by a `SeqCst` fence and a read of `recv_waiting`
//!   ([`Core::pushed`]); only if it is non-zero does it notify: one more
//!   `Recv` (an *additional* notification, which a dropped listener hands
//!   on if an item is queued), and every waiting stream (a stream's listener lives in the
//!   `Receiver`, which may sit unpolled in a `select!`; notifying them all
//!   keeps such a receiver from swallowing the wake-up, as async-channel
//!   does).
//!
//! Either the push's read sees the receiver's count (its listener is in
//! the list: the notification reaches it) or the receiver's second pop
//! sees the item.
//!
//! That is the one fence a message costs on the fast path; a pop costs
//! none (the release of its slot is the read-modify-write the slot count
//! needs anyway). The close needs no count: it notifies
//! everyone unconditionally (rare), and a receiver registering after that
//! finds the queue closed when it pops again. `tests/loom.rs` models both
//! protocols; removing either fence or the re-check makes them fail.
//!
//! A notification takes the `Event`'s lock (event-listener 5.4 locks on
//! every `notify`, even one that reaches nobody), and a receiver, once
//! woken, stays counted until it runs: a producer that keeps sending in
//! the meantime (on tokio, often until the queue is full, with the woken
//! consumer waiting behind it) would lock once per item for nothing. So a
//! push skips the lock when the notification could reach nobody new:
//!
//! - **`Recv`s: when every counted one is notified already.**
//!   `recv_notified` counts the notifications pushes gave to `recv_ops`
//!   listeners (what `notify` returns) and not yet taken back; a
//!   listener takes its notification back when it fires, and when it is
//!   discarded while notified (its future took an item with its own pop,
//!   saw the close, or was dropped). A push skips when `recv_notified >=`
//!   the count of waiting `Recv`s ([`Core::recvs_all_notified`]), which is
//!   exactly when an additional notification would find no unnotified
//!   listener among the counted ones. With four consumers, several are
//!   counted for nearly every push, and before this count every push
//!   locked (as async-channel's does); now a push locks only while some
//!   waiting consumer has not been woken.
//! - **Streams: above capacity 1, when exactly one is counted and
//!   [`Event::is_notified`] (one load) says yes.** (Not at capacity 1:
//!   there a second push must wait for a receive, so the skip almost never
//!   applies and the extra read cost up to 10% per message with four
//!   consumers.)
//!
//! Why no receiver is left asleep with an item queued:
//!
//! - Every listener that can sleep is counted (listen, then count), so a
//!   listener not counted when the push reads the counts has its fence
//!   after the push's, and its pop sees the item.
//! - `Recv`s. A listener takes its notification back (`recv_notified`)
//!   *before* it is uncounted (`recv_waiting`), and a push reads
//!   `recv_waiting` first: a notification the push counts belongs to a
//!   listener still counted, or to one counted after the push's read.
//!   event-listener notifies in the order listeners were *listed*, which
//!   is not the order they were *counted*: a listener listed first and
//!   counted late can take a notification meant for one counted earlier.
//!   So `recv_notified >= recvs` means every counted listener is
//!   notified, or some notified listener was not yet counted when the push
//!   read the count. That one's fence comes after the push's, so its
//!   re-check pops an item while its listener is notified, and a listener
//!   discarded while notified (an item taken by its own pop, the close
//!   seen, or the future dropped) hands the notification on if an item is
//!   queued ([`Core::pass_recv_on`]: take back, fence, read the queue; the
//!   push's read of the counts is the other half). A counted, notified
//!   listener polls again (then pops), or is discarded the same way. The
//!   count lags event-listener (raised after `notify` returns, so the
//!   listener may take it back first and the count dip below zero): that
//!   only makes pushes notify more. The close's notifications are not
//!   counted at all, for the same reason.
//! - A `Recv` that is notified and never polled again (kept alive, not
//!   dropped) is one notified listener among the counted: any other
//!   waiting `Recv` is unnotified, so the next push notifies it.
//! - Streams. `is_notified` says yes when some listener in the list is
//!   notified, and also when none is listed at all (event-listener stores
//!   `usize::MAX` for "every listener notified", zero of zero included).
//!   A notified stream's owner pops again (it polls the listener, then
//!   pops before it registers again), or drops it, which passes the
//!   notification on (a stream's brings the notified count back to one).
//!   With two or more counted every push notifies them all. A stale
//!   "notified" is harmless: a receiver lowers `notified` (its fired
//!   listener leaves the list) before it registers again and fences; if
//!   that fence comes first in the fences' total order the push reads the
//!   lowered value, otherwise the receiver's second pop sees the item.
//!
//! The fence in `pass_recv_on` and the order "take back, then uncount"
//! are argued, not tested: the interleavings that need them take three
//! `Recv`s and two pushes, beyond the loom models (and loom cannot show a
//! stale read inside concurrent-queue). `tests/stress.rs`
//! (`every_item_wakes_a_receiver_without_the_close`)
//! hangs if a skip ignores whether the listener is notified,
//! `tests/recv_wakeups.rs` fails if the stream skip ignores the count or
//! a `Recv` does not take its notification back, and loom checks the
//! protocol where it can: its threads run event-listener (std atomics,
//! not loom's) as one step, so its models see every interleaving of this
//! protocol but never a stale read inside event-listener.
//!
//! # Counting without extra locked instructions
//!
//! A send and a receive each already make one read-modify-write of the
//! slot word (the take, the release); the statistics add none:
//!
//! - `received` lives in the slot word's upper bits, above the slot count
//!   (`slot_bits` wide, the fewest that hold `capacity`): a receive adds
//!   `recv_one - 1`, which frees its slot and counts it in one
//!   instruction. The count wraps modulo `2^(64 - slot_bits)` (at least
//!   `2^32`); the receive that wraps it bumps `received_wraps`. For a
//!   capacity of `2^32` or more the count has its own atomic instead.
//! - `sent` is not counted at all: every item the queue took is received,
//!   still queued or dropped, so [`Core::stats`] derives it as
//!   `received + len + dropped`, exact whenever no call is in flight.
//!
//! # Cache lines
//!
//! The slot word is the one word both sides write per item; it,
//! `waiting`, `recv_waiting` and `high_watermark` each sit on a line of
//! their own ([`Padded`]). `high_watermark` is written only when it
//! actually rises; the two wait counts are written only by calls that
//! wait (twice per wait), and read by every push (`recv_waiting`) or by a
//! release from a full queue (`waiting`): on lines of their own those
//! writes do not take the slot word's line away from the other side. (At
//! capacity 1, where every message waits on both sides, the counts on the
//! slot word's line cost 1-10% per message on tokio's multi-thread
//! runtime, 2 workers; measured in the session notes.)

use std::fmt;
use std::task::{Context, Poll};

use concurrent_queue::{ConcurrentQueue, PopError};
use event_listener::{Event, EventListener, IntoNotification, Listener};

use crate::policy::{DropReason, Overflow};
use crate::stats::{Counters, Stats};
use crate::sync::{AtomicU64, AtomicUsize, Ordering, fence};

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

/// The words both sides touch per item: taken slots (and the count of
/// received items), the listeners waiting for a slot, and the receivers
/// waiting for an item; each on a cache line of its own (see the module
/// docs).
#[derive(Debug)]
struct SlotWord {
    /// The low [`Core::slot_bits`] bits: queued items plus outstanding
    /// reservations, never above `capacity`. The bits above them: the items
    /// received, modulo `2^(64 - slot_bits)` (see [`Core::on_received`]).
    word: AtomicU64,
    /// Registered `send_ops` listeners (see the module docs).
    waiting: Padded<AtomicUsize>,
    /// Registered receiver listeners: `recv_ops` ones in the low 32 bits
    /// ([`RECV_ONE`] each), `stream_ops` ones above ([`STREAM_ONE`] each).
    /// Read by every push (see the module docs).
    recv_waiting: Padded<AtomicU64>,
    /// Notifications given to `recv_ops` listeners by pushes and not yet
    /// taken back (a listener that fired, or was discarded while
    /// notified): a wrapping `i64`. It may dip below zero for a moment (it
    /// is raised after `notify` returns), and stays below zero after the
    /// close, whose notifications are not counted but are taken back; a
    /// low count only makes pushes notify more (see
    /// [`Core::recvs_all_notified`]).
    recv_notified: Padded<AtomicU64>,
}

/// Capacities up to this get a preallocated ring
/// (`ConcurrentQueue::bounded`); larger ones an unbounded queue that
/// allocates blocks as it fills.
pub(crate) const PREALLOCATE_UP_TO: usize = 1024;

/// The count of received items shares the slot word when the slot count
/// fits in this many bits (leaving at least 32 bits for the count); above
/// that capacity the count has an atomic of its own.
const MAX_SLOT_BITS: u32 = 32;

/// One waiting [`Recv`](crate::futures::Recv) in `recv_waiting`.
const RECV_ONE: u64 = 1;
/// One waiting stream (a [`Receiver`](crate::Receiver) polled as a
/// `Stream`) in `recv_waiting`.
const STREAM_ONE: u64 = 1 << STREAM_SHIFT;
/// Where the count of waiting streams starts in `recv_waiting`.
const STREAM_SHIFT: u32 = 32;

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

/// How a receiver waits for an item: as a [`Recv`](crate::futures::Recv)
/// future (woken one at a time) or as a stream (every waiting stream is
/// woken, see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvKind {
    /// A `Recv` future: listens on `recv_ops`.
    Future,
    /// A `Receiver` polled as a `Stream`: listens on `stream_ops`.
    Stream,
}

impl RecvKind {
    /// This kind's unit in `recv_waiting`.
    fn one(self) -> u64 {
        match self {
            Self::Future => RECV_ONE,
            Self::Stream => STREAM_ONE,
        }
    }
}

pub(crate) struct Core<T> {
    /// The items. Closed (`ConcurrentQueue::close`) when the last sender or
    /// the last receiver goes.
    queue: ConcurrentQueue<T>,
    capacity: usize,
    policy: Overflow,
    on_drop: Option<OnDrop<T>>,
    slot: Padded<SlotWord>,
    /// Width of the slot count in the slot word: `capacity < 2^slot_bits`.
    slot_bits: u32,
    /// The slot count's bits of the slot word.
    slot_mask: u64,
    /// One received item in the slot word (`1 << slot_bits`), or 0 when the
    /// count does not share the word (it is in `counters.received` then).
    recv_one: u64,
    high_watermark: Padded<AtomicUsize>,
    /// Live `Sender`s and `Permit`s; the queue closes when it reaches 0.
    senders: AtomicUsize,
    /// Live `Receiver`s; the queue closes (and drains) when it reaches 0.
    receivers: AtomicUsize,
    /// Senders and reservers waiting for a slot (or for the close).
    pub(crate) send_ops: Event,
    /// The `send_ops` listeners (counted in `waiting` too) of `DropOldest`
    /// sends, which can go on as soon as an item is queued (they evict it);
    /// read by every push under `DropOldest` (see [`Core::pushed`]).
    evict_waiting: AtomicUsize,
    /// `Recv` futures waiting for an item (or for the close).
    recv_ops: Event,
    /// Streams waiting for an item (or for the close).
    stream_ops: Event,
    pub(crate) counters: Counters,
    /// Whether a wait for a slot is timed for `Stats::blocked`
    /// (`Builder::time_blocked`); read only by calls that go to sleep.
    time_blocked: bool,
}

impl<T> Core<T> {
    pub(crate) fn new(
        capacity: usize,
        policy: Overflow,
        on_drop: Option<OnDrop<T>>,
        time_blocked: bool,
    ) -> Self {
        let queue = if capacity <= PREALLOCATE_UP_TO {
            ConcurrentQueue::bounded(capacity)
        } else {
            ConcurrentQueue::unbounded()
        };
        let cap = capacity as u64;
        let slot_bits = u64::BITS - cap.leading_zeros();
        let (slot_mask, recv_one) = if slot_bits <= MAX_SLOT_BITS {
            let one = 1_u64 << slot_bits;
            (one - 1, one)
        } else {
            (u64::MAX, 0)
        };
        Self {
            queue,
            capacity,
            policy,
            on_drop,
            slot_bits,
            slot_mask,
            recv_one,
            slot: Padded(SlotWord {
                word: AtomicU64::new(0),
                waiting: Padded(AtomicUsize::new(0)),
                recv_waiting: Padded(AtomicU64::new(0)),
                recv_notified: Padded(AtomicU64::new(0)),
            }),
            high_watermark: Padded(AtomicUsize::new(0)),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            send_ops: Event::new(),
            evict_waiting: AtomicUsize::new(0),
            recv_ops: Event::new(),
            stream_ops: Event::new(),
            counters: Counters::default(),
            time_blocked,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn policy(&self) -> Overflow {
        self.policy
    }

    /// Whether waits are timed for `Stats::blocked`.
    pub(crate) fn time_blocked(&self) -> bool {
        self.time_blocked
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// `Stream::size_hint` of a receiver: bounds that hold whatever the
    /// other handles do. Another receiver can take any queued item, and a
    /// `DropOldest` send can evict one, so only a sole receiver of a queue
    /// that does not evict can count the queued items as still to come;
    /// once the queue is closed (no sender or permit is left) nothing more
    /// comes, and that count is exact.
    pub(crate) fn size_hint(&self) -> (usize, Option<usize>) {
        if self.receivers.load(Ordering::Acquire) != 1 {
            return (0, None);
        }
        let len = self.queue.len();
        if self.queue.is_closed() {
            (len, Some(len))
        } else if self.policy == Overflow::DropOldest {
            (0, None)
        } else {
            (len, None)
        }
    }

    /// Whether the queue is closed and drained: a receiver gets no more.
    pub(crate) fn is_terminated(&self) -> bool {
        self.queue.is_closed() && self.queue.is_empty()
    }

    /// The taken slots in a slot word.
    fn slots_in(&self, word: u64) -> usize {
        // At most `capacity`, a `usize`.
        (word & self.slot_mask) as usize
    }

    /// Takes a slot if one is free.
    pub(crate) fn try_take_slot(&self) -> bool {
        let slot_word = &self.slot.word;
        let mut word = slot_word.load(Ordering::SeqCst);
        loop {
            let taken = self.slots_in(word);
            if taken >= self.capacity {
                return false;
            }
            // `taken < capacity < 2^slot_bits`: no carry into the count above.
            match slot_word.compare_exchange(word, word + 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => {
                    // Read first: once the watermark has peaked (usually at
                    // `capacity`), its line is only ever read, and stays
                    // shared instead of bouncing between cores.
                    if self.high_watermark.load(Ordering::Relaxed) <= taken {
                        self.high_watermark.fetch_max(taken + 1, Ordering::Relaxed);
                    }
                    return true;
                }
                Err(now) => word = now,
            }
        }
    }

    /// Gives a slot back; if it was the first free slot, wakes one waiting
    /// sender (see the module docs).
    pub(crate) fn release_slot(&self) {
        let before = self.slot.word.fetch_sub(1, Ordering::SeqCst);
        self.released(self.slots_in(before));
    }

    /// After a slot was given back: `before` slots were taken before.
    fn released(&self, before: usize) {
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
        // Every slot taken (always so at capacity 1): the next release
        // frees the first slot and wakes a waiter itself, so there is
        // nothing to pass on, and no fence to pay.
        if self.slots_in(self.slot.word.load(Ordering::SeqCst)) >= self.capacity {
            return;
        }
        fence(Ordering::SeqCst);
        if self.slots_in(self.slot.word.load(Ordering::SeqCst)) < self.capacity
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
    /// the slots next (see the module docs). `evicts`: it is a `DropOldest`
    /// send's, which any push lets go on (see [`Core::pushed`]).
    pub(crate) fn listener_added(&self, evicts: bool) {
        self.slot.waiting.fetch_add(1, Ordering::SeqCst);
        if evicts {
            self.evict_waiting.fetch_add(1, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
    }

    /// A waiter's listener is gone from `send_ops`' list (`evicts` as it
    /// was added).
    pub(crate) fn listener_removed(&self, evicts: bool) {
        if evicts {
            self.evict_waiting.fetch_sub(1, Ordering::SeqCst);
        }
        self.slot.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Pushes an item into a slot already taken, and wakes a waiting
    /// receiver if there is one. On a closed queue the slot is given back
    /// and the item returned.
    fn push_taken(&self, item: T) -> Result<(), T> {
        match self.queue.push(item) {
            Ok(()) => {
                self.pushed();
                Ok(())
            }
            Err(e) => {
                // Never `Full` (see the module docs); were it ever, the item
                // would still come back, as `Closed`, not be lost.
                debug_assert!(e.is_closed(), "a taken slot found the queue full");
                self.release_slot();
                Err(e.into_inner())
            }
        }
    }

    /// An item was pushed: the push is ordered before the read of
    /// `recv_waiting` (the sending half of the receivers' Dekker pair, see
    /// the module docs); no receiver waiting, no notification.
    ///
    /// Under `DropOldest` the same fence orders the push before a read of
    /// `evict_waiting`: a send waits there only when it found nothing to
    /// evict, and a queued item is something to evict, so a push wakes
    /// every waiting sender (each evicts the item the one before it
    /// pushed). All, not one: a waiting `reserve` (which needs a free slot,
    /// not an item) could take a single notification and go back to sleep;
    /// reserves alone waiting (`evict_waiting == 0`) are not woken. The
    /// send's re-check is the other half of the pair: it registers, counts,
    /// fences, then tries to evict again.
    #[inline]
    fn pushed(&self) {
        fence(Ordering::SeqCst);
        let waiting = self.slot.recv_waiting.load(Ordering::SeqCst);
        if waiting != 0 {
            self.wake_receivers(waiting);
        }
        if self.policy == Overflow::DropOldest && self.evict_waiting.load(Ordering::SeqCst) != 0 {
            self.wake_evictors();
        }
    }

    /// `DropOldest`: an item was pushed and senders wait; wakes them all.
    #[cold]
    fn wake_evictors(&self) {
        // The fence in `pushed` already orders the push before this.
        self.send_ops.notify(usize::MAX.relaxed());
    }

    /// Wakes one more waiting `Recv` and every waiting stream, as
    /// `recv_waiting` (`waiting`) says there are. Skips the `Recv`s when
    /// every counted one is notified already, and, above capacity 1, the
    /// streams when their one counted listener is (see the module docs).
    #[cold]
    fn wake_receivers(&self, waiting: u64) {
        // The fence in `pushed` (or in `pass_recv_on`) already orders the
        // push before these.
        let recvs = waiting & (STREAM_ONE - 1);
        if recvs != 0 && !self.recvs_all_notified(recvs) {
            let notified = self.recv_ops.notify(1.additional().relaxed());
            if notified != 0 {
                self.slot
                    .recv_notified
                    .fetch_add(notified as u64, Ordering::SeqCst);
            }
        }
        let streams = waiting >> STREAM_SHIFT;
        if streams != 0 && !(streams == 1 && self.skip_notified(&self.stream_ops)) {
            self.stream_ops.notify(usize::MAX.relaxed());
        }
    }

    /// Whether each of the `recvs` counted `Recv` listeners is notified
    /// already, so that one more additional notification would reach none
    /// of them (see the module docs). `recv_notified` lags behind
    /// event-listener (raised after `notify` returns, so a fired listener
    /// may lower it first): read as an `i64`, a count below zero never
    /// says yes.
    fn recvs_all_notified(&self, recvs: u64) -> bool {
        // `recvs < 2^32`: the cast is exact.
        self.slot.recv_notified.load(Ordering::SeqCst) as i64 >= recvs as i64
    }

    /// Whether a push may skip notifying `ops`, whose one counted listener
    /// it is: that listener is notified already. Not asked at capacity 1,
    /// where a second push cannot come before a receive, so the answer is
    /// nearly always "no" and the read would only cost a cache miss on the
    /// `Event`'s line before the notification's own lock.
    fn skip_notified(&self, ops: &Event) -> bool {
        self.capacity > 1 && ops.is_notified()
    }

    /// Receives an item if one is queued now, counting it and giving its
    /// slot back. `PopError::Closed` once the queue is closed and drained.
    pub(crate) fn try_recv(&self) -> Result<T, PopError> {
        match self.queue.pop() {
            Ok(item) => {
                self.on_received();
                Ok(item)
            }
            Err(e) => Err(e),
        }
    }

    /// Receives an item, or registers `listener` to wait for one: the
    /// receiving half of the wake-up protocol, shared by the `Recv` future
    /// and the `Stream`. `None` once the queue is closed and drained.
    ///
    /// A listener is registered first, then counted, then the queue is
    /// checked again before the call returns `Pending` (see the module
    /// docs); it is uncounted and dropped once it fires or an item is
    /// taken. The caller calls [`stop_recv`](Self::stop_recv) when it is
    /// dropped while waiting.
    pub(crate) fn poll_recv(
        &self,
        listener: &mut Option<EventListener>,
        kind: RecvKind,
        cx: &mut Context<'_>,
    ) -> Poll<Option<T>> {
        loop {
            match self.try_recv() {
                Ok(item) => {
                    self.stop_recv(listener, kind);
                    return Poll::Ready(Some(item));
                }
                Err(PopError::Closed) => {
                    self.stop_recv(listener, kind);
                    return Poll::Ready(None);
                }
                Err(PopError::Empty) => {}
            }
            match listener {
                None => {
                    // A close (or a push) may land between the pop above and
                    // the listener below: the re-check catches it.
                    self.preemptible();
                    // Listen first, then count, then (in the next turn of
                    // the loop) check the queue again.
                    *listener = Some(match kind {
                        RecvKind::Future => self.recv_ops.listen(),
                        RecvKind::Stream => self.stream_ops.listen(),
                    });
                    self.slot
                        .recv_waiting
                        .fetch_add(kind.one(), Ordering::SeqCst);
                    fence(Ordering::SeqCst);
                }
                Some(l) => {
                    if std::pin::Pin::new(l).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    // Fired: its notification is used up. One from the
                    // close was never counted: the count dips, which only
                    // makes pushes notify more.
                    *listener = None;
                    self.uncount_recv(kind, true);
                }
            }
        }
    }

    /// Drops a receiver's listener, then uncounts it. A `Recv` listener
    /// that was notified hands its notification back
    /// ([`pass_recv_on`](Self::pass_recv_on)).
    #[inline]
    pub(crate) fn stop_recv(&self, listener: &mut Option<EventListener>, kind: RecvKind) {
        // Inline check, out-of-line drop: a receiver that never waited
        // (the common case) calls no drop glue.
        if listener.is_some() {
            self.drop_recv_listener(listener, kind);
        }
    }

    /// The slow half of [`stop_recv`](Self::stop_recv).
    fn drop_recv_listener(&self, listener: &mut Option<EventListener>, kind: RecvKind) {
        // A push may notify this listener just before it is discarded;
        // loom sees no race on this crate's atomics here to switch at
        // (the discard is event-listener's), so under loom, yield.
        #[cfg(sluicegate_loom)]
        loom::thread::yield_now();
        let Some(l) = listener.take() else { return };
        let notified = match kind {
            // Streams keep event-listener's own hand-on (a dropped
            // notified listener notifies another if none is): they are all
            // notified at once, and not counted in `recv_notified`.
            RecvKind::Stream => {
                drop(l);
                false
            }
            RecvKind::Future => l.discard(),
        };
        self.uncount_recv(kind, notified);
        if notified {
            self.pass_recv_on();
        }
    }

    /// A receiver's listener is gone: takes back its notification if it
    /// was a notified `Recv` listener, *then* uncounts it (the order
    /// [`recvs_all_notified`](Self::recvs_all_notified) relies on).
    fn uncount_recv(&self, kind: RecvKind, notified: bool) {
        if notified && kind == RecvKind::Future {
            self.slot.recv_notified.fetch_sub(1, Ordering::SeqCst);
        }
        self.slot
            .recv_waiting
            .fetch_sub(kind.one(), Ordering::SeqCst);
    }

    /// A `Recv` listener was discarded while notified (its future took an
    /// item by its own re-check, saw the close, or was dropped): if an
    /// item is queued and receivers wait, the notification goes to the
    /// next one, as event-listener's drop would pass it on, but counted.
    ///
    /// The other half of a push's Dekker pair: the notification was taken
    /// back (`recv_notified`, `recv_waiting`), then a fence, then the
    /// queue is read; a push reads both counts after its own fence. So
    /// either the push saw the counts lowered (and notifies if some
    /// counted listener is not notified) or this call sees its item.
    #[cold]
    fn pass_recv_on(&self) {
        fence(Ordering::SeqCst);
        if self.queue.is_empty() {
            return;
        }
        // `Recv`s only: streams hand theirs on themselves.
        let recvs = self.slot.recv_waiting.load(Ordering::SeqCst) & (STREAM_ONE - 1);
        if recvs != 0 {
            self.wake_receivers(recvs);
        }
    }

    /// A point where loom may switch threads. loom runs a call into
    /// concurrent-queue or event-listener (plain std code) as one
    /// indivisible step and switches only at this crate's atomics, and only
    /// where an access races another thread's; between two such calls a
    /// real thread can be preempted. So under loom this reads (relaxed, no
    /// ordering added) the words another thread writes around a push, a
    /// pop or a close: the slot word (a take, a release) and `senders` (the
    /// last sender going). Compiled out of every other build.
    #[inline(always)]
    fn preemptible(&self) {
        #[cfg(sluicegate_loom)]
        {
            let _ = self.slot.word.load(Ordering::Relaxed);
            let _ = self.senders.load(Ordering::Relaxed);
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
                self.discard(item, DropReason::Newest);
                Offer::Taken
            }
            Overflow::DropOldest => self.evict_for(item),
        }
    }

    /// `DropOldest`: evicts the oldest item and gives its slot to `item`.
    fn evict_for(&self, item: T) -> Offer<T> {
        match self.queue.pop() {
            Ok(oldest) => {
                // Between this pop and the push below, another `DropOldest`
                // sender can find the queue empty and every slot taken, and
                // wait: the push wakes it (see `pushed`). That sender only
                // reads what this one wrote, so loom would not see a race
                // here to explore (`preemptible`): under loom, yield, to
                // make the other threads run in this window.
                #[cfg(sluicegate_loom)]
                loom::thread::yield_now();
                // The slot passes from `oldest` to `item`: push first, so a
                // panicking callback cannot leak the slot.
                let pushed = self.push_taken(item);
                self.discard(oldest, DropReason::Oldest);
                match pushed {
                    Ok(()) => Offer::Taken,
                    Err(item) => Offer::Closed(item),
                }
            }
            Err(PopError::Closed) => Offer::Closed(item),
            // Nothing queued: the slots are held by permits, or a receiver
            // has just taken the last item and is giving its slot back.
            Err(PopError::Empty) => {
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
        // Under `DropOldest`, a sender may be waiting for something to
        // evict (every slot reserved, nothing queued): the push wakes it.
        if let Err(item) = self.push_taken(item) {
            self.discard(item, DropReason::Closed);
        }
    }

    /// Like [`send_reserved`](Self::send_reserved) without a reservation:
    /// used by `Sink::start_send` under a drop policy. Whatever happens, the
    /// item is taken (queued or dropped); returns whether the queue was open.
    pub(crate) fn send_or_discard(&self, item: T) -> bool {
        match self.offer(item, true) {
            Offer::Taken => true,
            Offer::Full(item) => {
                self.discard(item, DropReason::Newest);
                true
            }
            Offer::Closed(item) => {
                self.discard(item, DropReason::Closed);
                false
            }
        }
    }

    /// A receiver took an item out: counts it and gives its slot back, in
    /// one read-modify-write of the slot word when the count lives there.
    pub(crate) fn on_received(&self) {
        // The item held a slot, so the slot count is at least 1: adding
        // `recv_one - 1` lowers it by one and raises the count above it by
        // one (with `recv_one == 0`, no count in the word, it adds
        // `u64::MAX`: lowers the slot count only).
        let before = self
            .slot
            .word
            .fetch_add(self.recv_one.wrapping_sub(1), Ordering::SeqCst);
        // Every bit above the slot count set: the count wraps to 0 now, or
        // there is no count in the word.
        if before | self.slot_mask == u64::MAX {
            self.count_received_apart();
        }
        self.released(self.slots_in(before));
    }

    /// The part of a receive's count the slot word cannot hold: a carry of
    /// the count in the word, or (no count there) the item itself.
    #[cold]
    fn count_received_apart(&self) {
        let c = &self.counters;
        Counters::bump(if self.recv_one == 0 {
            &c.received
        } else {
            &c.received_wraps
        });
    }

    /// Items received so far, given a read of the slot word.
    fn received_in(&self, word: u64) -> u64 {
        if self.recv_one == 0 {
            return self.counters.received.load(Ordering::Relaxed);
        }
        // `slot_bits <= MAX_SLOT_BITS`: the shift is in range.
        let wraps = self.counters.received_wraps.load(Ordering::Relaxed);
        wraps.wrapping_shl(u64::BITS - self.slot_bits) | word >> self.slot_bits
    }

    /// Closes the queue (later pushes fail, pops drain what is queued, then
    /// report the close) and wakes everyone waiting, once.
    fn close(&self) {
        if self.queue.close() {
            // Not conditioned on the counts: these `notify` calls fence
            // themselves, and a waiter that registers after them finds the
            // queue closed when it checks again.
            self.send_ops.notify(usize::MAX);
            self.recv_ops.notify(usize::MAX);
            self.stream_ops.notify(usize::MAX);
        }
    }

    pub(crate) fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    /// The last sender closes the queue: receivers drain it, then end.
    pub(crate) fn drop_sender(&self) {
        if self.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
        }
    }

    pub(crate) fn add_receiver(&self) {
        self.receivers.fetch_add(1, Ordering::Relaxed);
    }

    /// The last receiver closes the queue, wakes every waiting sender (to
    /// fail with `Closed`), and drains what is left to the drop callback.
    pub(crate) fn drop_receiver(&self) {
        if self.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
            while let Ok(item) = self.queue.pop() {
                self.release_slot();
                self.discard(item, DropReason::Closed);
            }
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let word = self.slot.word.load(Ordering::SeqCst);
        let slots = self.slots_in(word);
        let received = self.received_in(word);
        let len = self.len();
        let dropped = c.dropped.load(Ordering::Relaxed);
        Stats {
            len,
            reserved: slots.saturating_sub(len),
            capacity: self.capacity,
            high_watermark: self.high_watermark.load(Ordering::Relaxed),
            full_events: c.full_events.load(Ordering::Relaxed),
            blocked: c.blocked(),
            // Every item the queue took is received, queued or dropped:
            // counting it once more per send would cost a locked
            // instruction per item (see `Stats`).
            sent: received.wrapping_add(len as u64).wrapping_add(dropped),
            received,
            dropped,
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
            .field(
                "slots",
                &self.slots_in(self.slot.word.load(Ordering::Relaxed)),
            )
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(sluicegate_loom)))]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Sends and receives `n` items through `core`, as the handles do.
    fn pass(core: &Core<u32>, n: u32) {
        for i in 0..n {
            assert!(core.try_take_slot());
            assert!(core.push_taken(i).is_ok());
            assert_eq!(core.try_recv().ok(), Some(i)); // counts it
        }
    }

    #[test]
    fn received_count_shares_the_slot_word_up_to_2_pow_32_slots() {
        for (capacity, slot_bits, shared) in [
            (1, 1, true),
            (2, 2, true),
            (1024, 11, true),
            #[cfg(target_pointer_width = "64")]
            ((1 << 32) - 1, 32, true),
            #[cfg(target_pointer_width = "64")]
            (1 << 32, 33, false),
            #[cfg(target_pointer_width = "64")]
            (usize::MAX, 64, false),
        ] {
            let core = Core::<u32>::new(capacity, Overflow::Block, None, true);
            assert_eq!((core.slot_bits, core.recv_one != 0), (slot_bits, shared));
            pass(&core, 3);
            assert!(core.try_take_slot()); // one outstanding reservation
            let s = core.stats();
            assert_eq!((s.sent, s.received, s.len, s.reserved), (3, 3, 0, 1));
        }
    }

    #[test]
    fn recv_waiting_counts_exactly_the_receivers_that_wait() {
        use std::future::Future;
        use std::pin::pin;
        use std::task::Waker;

        let core = Core::<u32>::new(4, Overflow::Block, None, true);
        let waiting = || core.slot.recv_waiting.load(Ordering::SeqCst);
        let mut cx = Context::from_waker(Waker::noop());
        let mut stream_listener = None;
        assert!(
            core.poll_recv(&mut stream_listener, RecvKind::Stream, &mut cx)
                .is_pending()
        );
        assert_eq!(waiting(), STREAM_ONE);
        {
            let mut recv = pin!(crate::futures::Recv::new(&core));
            assert!(recv.as_mut().poll(&mut cx).is_pending());
            assert_eq!(waiting(), STREAM_ONE + RECV_ONE);
            assert!(core.try_take_slot());
            assert!(core.push_taken(5).is_ok());
            assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(5)));
            assert_eq!(waiting(), STREAM_ONE, "a resolved `Recv` is uncounted");
            assert!(recv.as_mut().poll(&mut cx).is_pending());
            assert_eq!(waiting(), STREAM_ONE + RECV_ONE);
        } // dropped while waiting
        assert_eq!(waiting(), STREAM_ONE, "a dropped `Recv` is uncounted");
        core.stop_recv(&mut stream_listener, RecvKind::Stream);
        assert_eq!(waiting(), 0);
        // Nobody waits: a push reads the count and notifies no one.
        assert!(core.try_take_slot());
        assert!(core.push_taken(6).is_ok());
        assert_eq!(core.try_recv().ok(), Some(6));
        assert_eq!(waiting(), 0);
    }

    #[test]
    fn send_wait_counts_return_to_zero_whatever_becomes_of_the_waiters() {
        // A count left raised would cost a notification per release (or per
        // push under `DropOldest`) forever; one lowered twice would wrap.
        use std::future::Future;
        use std::pin::{Pin, pin};
        use std::task::Waker;
        use std::time::Duration;

        use futures_sink::Sink;

        for policy in [Overflow::Block, Overflow::DropOldest] {
            let clock = sluicegate_rt::ManualClock::new();
            let (mut tx, rx) = crate::builder::<u32>(1)
                .policy(policy)
                .timer(clock.clone())
                .build()
                .unwrap();
            let core = Arc::clone(&tx.core);
            let counts = || {
                let c = &core;
                (
                    c.slot.waiting.load(Ordering::SeqCst),
                    c.evict_waiting.load(Ordering::SeqCst),
                )
            };
            let evicts = usize::from(policy == Overflow::DropOldest);
            let mut cx = Context::from_waker(Waker::noop());
            let permit = tx.try_reserve().unwrap(); // nothing to evict
            {
                let mut send = pin!(tx.send(1));
                assert!(send.as_mut().poll(&mut cx).is_pending());
                assert_eq!(counts(), (1, evicts));
                let mut reserve = pin!(tx.reserve());
                assert!(reserve.as_mut().poll(&mut cx).is_pending());
                assert_eq!(counts(), (2, evicts));
            } // both dropped while waiting
            assert_eq!(counts(), (0, 0));
            {
                let mut timed = pin!(tx.send_timeout(2, Duration::from_millis(1)));
                assert!(timed.as_mut().poll(&mut cx).is_pending());
                clock.advance(Duration::from_millis(1));
                assert!(matches!(
                    timed.as_mut().poll(&mut cx),
                    Poll::Ready(Err(crate::SendTimeoutError::Timeout(2)))
                ));
                assert_eq!(counts(), (0, 0), "timed out");
                let mut send = pin!(tx.send(3));
                assert!(send.as_mut().poll(&mut cx).is_pending());
                drop(permit); // wakes it (a free slot)
                assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
                assert_eq!(counts(), (0, 0), "woken and done");
            }
            if policy == Overflow::Block {
                // The sink's wait, given up by `poll_close`.
                assert!(Pin::new(&mut tx).poll_ready(&mut cx).is_pending());
                assert_eq!(counts(), (1, 0));
                assert!(Pin::new(&mut tx).poll_close(&mut cx).is_ready());
                assert_eq!(counts(), (0, 0), "sink closed");
            }
            assert_eq!(rx.try_recv(), Ok(3));
        }
    }

    #[test]
    fn received_count_carries_its_wrap_around() {
        let core = Core::<u32>::new(1, Overflow::Block, None, true);
        // The count field (63 bits above the one slot bit) one short of
        // wrapping.
        let field_max = u64::MAX >> core.slot_bits;
        core.slot
            .word
            .store((field_max - 1) << core.slot_bits, Ordering::SeqCst);
        assert_eq!(core.stats().received, field_max - 1);
        pass(&core, 1);
        assert_eq!(core.stats().received, field_max);
        pass(&core, 1); // the field wraps to 0; the carry is counted
        let s = core.stats();
        assert_eq!(core.slot.word.load(Ordering::SeqCst), 0);
        assert_eq!((s.received, s.len, s.reserved), (field_max + 1, 0, 0));
        assert_eq!(s.sent, s.received);
        pass(&core, 2);
        assert_eq!(core.stats().received, field_max + 3);
    }
}
