//! [`Queue`]: the bounded queues of a fan-out: from the feeder to the
//! workers (one shared, or one per worker when keyed) and from the tasks
//! to the output. One lock guards the items and every waiting task's
//! waker, so no wake-up can be lost between "full (or empty), so I wait"
//! and "I took (or put) one, so wake a waiter", and an item costs one
//! uncontended lock on each side: no per-item event machinery.
//!
//! Senders and receivers are tasks with an id each (`0..senders`,
//! `0..receivers`). Waiters are woken one at a time, first come first
//! served: a receiver for each item put, a sender for each slot freed
//! once the queue is down to its low-water mark (so a feeder refills a
//! worker queue in runs, not item by item); a waiter that is done (exited,
//! or dropped by its executor) passes a wake-up it was given on.
//!
//! A queue with one receiver (the output) can be emptied in runs:
//! [`poll_take_all`](Queue::poll_take_all) swaps the whole buffer for the
//! receiver's empty one under one lock, so the receiver takes a run of
//! items for the price of one lock, and the senders can refill the queue
//! while it works through them.
//!
//! The queue ends (`None`) once it is empty and closed or every sender is
//! done. A task dropped by its executor may
//! [`force_push`](Queue::force_push) what it holds, beyond the capacity
//! (it cannot wait), so a queue may briefly hold a few more.
//!
//! The lock is `crate::sync`'s, so the loom models in `tests/loom.rs`
//! run whole fan-outs (feeder, workers and consumer on threads of their
//! own) through every interleaving of these rules.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::sync::{Mutex, MutexGuard, lock};

pub(crate) struct Queue<R> {
    state: Mutex<State<R>>,
    capacity: usize,
    /// A waiting sender is woken once the queue holds at most this many.
    low_water: usize,
}

struct State<R> {
    items: VecDeque<R>,
    /// Senders not yet done.
    senders: usize,
    /// No more pushes (what is queued can still be taken).
    closed: bool,
    senders_waiting: Waiters,
    receivers_waiting: Waiters,
}

/// Tasks waiting, by id: a waker slot each (`Some` exactly while the id
/// is in `order`) and their order of arrival.
struct Waiters {
    slots: Box<[Option<Waker>]>,
    order: VecDeque<usize>,
}

impl Waiters {
    fn new(n: usize) -> Self {
        Self {
            slots: (0..n).map(|_| None).collect(),
            order: VecDeque::new(),
        }
    }

    fn wait(&mut self, id: usize, waker: &Waker) {
        match &mut self.slots[id] {
            Some(w) => w.clone_from(waker),
            slot @ None => {
                *slot = Some(waker.clone());
                self.order.push_back(id);
            }
        }
    }

    #[inline]
    fn next(&mut self) -> Option<Waker> {
        let id = self.order.pop_front()?;
        self.slots[id].take()
    }

    fn leave(&mut self, id: usize) {
        if self.slots[id].take().is_some() {
            self.order.retain(|&w| w != id);
        }
    }

    fn all(&mut self) -> Vec<Waker> {
        let order = std::mem::take(&mut self.order);
        order
            .into_iter()
            .filter_map(|id| self.slots[id].take())
            .collect()
    }
}

impl<R> State<R> {
    /// The next waiting sender to wake, if the queue is down to
    /// `low_water`.
    fn sender_to_wake(&mut self, low_water: usize) -> Option<Waker> {
        if self.items.len() > low_water {
            return None;
        }
        self.senders_waiting.next()
    }
}

#[inline]
fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

impl<R> Queue<R> {
    pub(crate) fn new(capacity: usize, low_water: usize, senders: usize, receivers: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity),
                senders,
                closed: false,
                senders_waiting: Waiters::new(senders),
                receivers_waiting: Waiters::new(receivers),
            }),
            capacity,
            low_water,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<R>> {
        lock(&self.state)
    }

    /// As sender `id`: pushes `*pending` if there is room (emptying it,
    /// `Ready(true)`); otherwise leaves it there and waits for room
    /// (`Pending`). `Ready(false)`, with `*pending` left in place, if the
    /// queue is closed.
    pub(crate) fn poll_push(
        &self,
        id: usize,
        pending: &mut Option<R>,
        cx: &Context<'_>,
    ) -> Poll<bool> {
        let mut state = self.lock();
        if state.closed {
            return Poll::Ready(false);
        }
        if state.items.len() >= self.capacity {
            state.senders_waiting.wait(id, cx.waker());
            return Poll::Pending;
        }
        if let Some(r) = pending.take() {
            state.items.push_back(r);
        }
        let receiver = state.receivers_waiting.next();
        drop(state);
        wake(receiver);
        Poll::Ready(true)
    }

    /// Pushes `r` whatever the capacity (from a task being dropped, which
    /// cannot wait); hands it back if the queue is closed.
    pub(crate) fn force_push(&self, r: R) -> Result<(), R> {
        let mut state = self.lock();
        if state.closed {
            return Err(r);
        }
        state.items.push_back(r);
        let receiver = state.receivers_waiting.next();
        drop(state);
        wake(receiver);
        Ok(())
    }

    /// As receiver `id`: the next item, `None` once the queue is empty and
    /// closed or every sender is done, or `Pending` (woken when an item
    /// comes).
    pub(crate) fn poll_pop(&self, id: usize, cx: &Context<'_>) -> Poll<Option<R>> {
        let mut state = self.lock();
        if let Some(r) = state.items.pop_front() {
            let sender = state.sender_to_wake(self.low_water);
            drop(state);
            wake(sender);
            return Poll::Ready(Some(r));
        }
        if state.closed || state.senders == 0 {
            return Poll::Ready(None);
        }
        state.receivers_waiting.wait(id, cx.waker());
        Poll::Pending
    }

    /// As receiver `id`, with `run` empty: takes every queued item at
    /// once into `run` (swapping buffers: no copy, no allocation once both
    /// have grown) and returns `Ready(true)`; `Ready(false)` once the
    /// queue has ended; otherwise `Pending` (woken when an item comes).
    /// One waiting sender is woken per slot freed. For a queue with one
    /// receiver only: with several, a run would keep items from idle
    /// receivers.
    pub(crate) fn poll_take_all(
        &self,
        id: usize,
        run: &mut VecDeque<R>,
        cx: &Context<'_>,
    ) -> Poll<bool> {
        debug_assert!(run.is_empty());
        let mut state = self.lock();
        if !state.items.is_empty() {
            let freed = state.items.len();
            std::mem::swap(&mut state.items, run);
            let mut senders = [None, None];
            let mut extra = Vec::new();
            for i in 0..freed {
                let Some(w) = state.senders_waiting.next() else {
                    break;
                };
                match senders.get_mut(i) {
                    Some(slot) => *slot = Some(w),
                    None => extra.push(w),
                }
            }
            drop(state);
            senders.into_iter().for_each(wake);
            extra.into_iter().for_each(Waker::wake);
            return Poll::Ready(true);
        }
        if state.closed || state.senders == 0 {
            return Poll::Ready(false);
        }
        state.receivers_waiting.wait(id, cx.waker());
        Poll::Pending
    }

    /// The next item if there is one (for draining).
    pub(crate) fn try_pop(&self) -> Option<R> {
        let mut state = self.lock();
        let r = state.items.pop_front();
        let sender = state.sender_to_wake(self.low_water);
        drop(state);
        wake(sender);
        r
    }

    /// Sender `id` will push no more (exited or dropped). Passes on a
    /// wake-up it may have been given; the last one done ends the queue
    /// once it is drained (waking every waiting receiver).
    pub(crate) fn sender_done(&self, id: usize) {
        let mut state = self.lock();
        state.senders_waiting.leave(id);
        state.senders -= 1;
        let next = if state.items.len() < self.capacity {
            state.senders_waiting.next()
        } else {
            None
        };
        let receivers = if state.senders == 0 {
            state.receivers_waiting.all()
        } else {
            Vec::new()
        };
        drop(state);
        wake(next);
        receivers.into_iter().for_each(Waker::wake);
    }

    /// Receiver `id` will take no more (exited or dropped): passes on a
    /// wake-up it may have been given.
    pub(crate) fn receiver_done(&self, id: usize) {
        let mut state = self.lock();
        state.receivers_waiting.leave(id);
        let next = if state.items.is_empty() {
            None
        } else {
            state.receivers_waiting.next()
        };
        drop(state);
        wake(next);
    }

    /// No more pushes: waiting senders are woken (to find it closed), and
    /// waiting receivers (to drain what is queued, then end). Idempotent.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        let mut wakers = state.senders_waiting.all();
        wakers.extend(state.receivers_waiting.all());
        drop(state);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Closes the queue and takes everything in it, for the caller to
    /// count and drop outside the lock.
    pub(crate) fn close_and_take(&self) -> VecDeque<R> {
        self.close();
        std::mem::take(&mut self.lock().items)
    }

    /// Whether the queue has ended: empty, and closed or with every sender
    /// done.
    pub(crate) fn is_ended(&self) -> bool {
        let state = self.lock();
        state.items.is_empty() && (state.closed || state.senders == 0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use super::Queue;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count::default());
        (Arc::clone(&c), Waker::from(c))
    }

    fn woken(c: &Count) -> usize {
        c.0.load(Ordering::SeqCst)
    }

    #[test]
    fn a_full_queue_wakes_its_sender_only_at_the_low_water_mark() {
        let q = Queue::new(4, 2, 1, 1);
        let (sc, sw) = waker();
        let (_, rw) = waker();
        let (scx, rcx) = (Context::from_waker(&sw), Context::from_waker(&rw));
        for i in 0..4 {
            assert_eq!(q.poll_push(0, &mut Some(i), &scx), Poll::Ready(true));
        }
        let mut held = Some(4);
        assert_eq!(q.poll_push(0, &mut held, &scx), Poll::Pending);
        assert_eq!(held, Some(4), "the item stays with its sender");
        assert_eq!(q.poll_pop(0, &rcx), Poll::Ready(Some(0)));
        assert_eq!(woken(&sc), 0, "3 left: above the low-water mark");
        assert_eq!(q.poll_pop(0, &rcx), Poll::Ready(Some(1)));
        assert_eq!(woken(&sc), 1, "2 left: woken once");
        assert_eq!(q.poll_pop(0, &rcx), Poll::Ready(Some(2)));
        assert_eq!(woken(&sc), 1, "not again until it waits again");
        assert_eq!(q.poll_push(0, &mut held, &scx), Poll::Ready(true));
        assert_eq!(held, None);
    }

    #[test]
    fn a_run_takes_every_item_in_order_and_wakes_a_sender_per_slot_freed() {
        let q = Queue::new(2, 1, 3, 1);
        let (c0, w0) = waker();
        let (c1, w1) = waker();
        let (c2, w2) = waker();
        let (rc, rw) = waker();
        let rcx = Context::from_waker(&rw);
        let mut run = std::collections::VecDeque::new();
        assert_eq!(q.poll_take_all(0, &mut run, &rcx), Poll::Pending);
        assert_eq!(
            q.poll_push(0, &mut Some(1), &Context::from_waker(&w0)),
            Poll::Ready(true)
        );
        assert_eq!(woken(&rc), 1, "an item wakes the waiting receiver");
        assert_eq!(
            q.poll_push(1, &mut Some(2), &Context::from_waker(&w1)),
            Poll::Ready(true)
        );
        // Full: three senders wait.
        for (id, w) in [(0, &w0), (1, &w1), (2, &w2)] {
            assert_eq!(
                q.poll_push(id, &mut Some(9), &Context::from_waker(w)),
                Poll::Pending
            );
        }
        assert_eq!(q.poll_take_all(0, &mut run, &rcx), Poll::Ready(true));
        assert_eq!(Vec::from(std::mem::take(&mut run)), [1, 2]);
        assert_eq!(
            (woken(&c0), woken(&c1), woken(&c2)),
            (1, 1, 0),
            "two slots freed: the first two waiters, in arrival order"
        );
        assert_eq!(q.poll_take_all(0, &mut run, &rcx), Poll::Pending);
        for id in 0..3 {
            q.sender_done(id);
        }
        assert_eq!(q.poll_take_all(0, &mut run, &rcx), Poll::Ready(false));
        assert!(run.is_empty());
    }

    #[test]
    fn receivers_are_woken_one_per_item_first_come_first_served() {
        let q = Queue::new(4, 3, 1, 2);
        let (c0, w0) = waker();
        let (c1, w1) = waker();
        let (_, sw) = waker();
        assert_eq!(q.poll_pop(0, &Context::from_waker(&w0)), Poll::Pending);
        assert_eq!(q.poll_pop(1, &Context::from_waker(&w1)), Poll::Pending);
        let scx = Context::from_waker(&sw);
        assert_eq!(q.poll_push(0, &mut Some(7), &scx), Poll::Ready(true));
        assert_eq!((woken(&c0), woken(&c1)), (1, 0));
        assert_eq!(q.poll_push(0, &mut Some(8), &scx), Poll::Ready(true));
        assert_eq!((woken(&c0), woken(&c1)), (1, 1));
    }

    #[test]
    fn a_woken_receiver_that_leaves_passes_its_wake_up_on() {
        let q = Queue::new(4, 3, 1, 2);
        let (c0, w0) = waker();
        let (c1, w1) = waker();
        let (_, sw) = waker();
        assert_eq!(q.poll_pop(0, &Context::from_waker(&w0)), Poll::Pending);
        assert_eq!(q.poll_pop(1, &Context::from_waker(&w1)), Poll::Pending);
        assert_eq!(
            q.poll_push(0, &mut Some(7), &Context::from_waker(&sw)),
            Poll::Ready(true)
        );
        assert_eq!((woken(&c0), woken(&c1)), (1, 0));
        // Receiver 0 is dropped before it takes the item: 1 gets the call.
        q.receiver_done(0);
        assert_eq!(woken(&c1), 1);
        assert_eq!(
            q.poll_pop(1, &Context::from_waker(&w1)),
            Poll::Ready(Some(7))
        );
    }

    #[test]
    fn a_woken_sender_that_leaves_passes_its_wake_up_on() {
        let q = Queue::new(1, 0, 2, 1);
        let (c0, w0) = waker();
        let (c1, w1) = waker();
        let (_, rw) = waker();
        let rcx = Context::from_waker(&rw);
        assert_eq!(q.force_push(1), Ok(()));
        let (mut a, mut b) = (Some(2), Some(3));
        assert_eq!(
            q.poll_push(0, &mut a, &Context::from_waker(&w0)),
            Poll::Pending
        );
        assert_eq!(
            q.poll_push(1, &mut b, &Context::from_waker(&w1)),
            Poll::Pending
        );
        assert_eq!(q.poll_pop(0, &rcx), Poll::Ready(Some(1)));
        assert_eq!((woken(&c0), woken(&c1)), (1, 0));
        // Sender 0 is dropped before it pushes: 1 gets the room.
        q.sender_done(0);
        assert_eq!(woken(&c1), 1);
        assert_eq!(
            q.poll_push(1, &mut b, &Context::from_waker(&w1)),
            Poll::Ready(true)
        );
    }

    #[test]
    fn the_queue_ends_once_every_sender_is_done_and_it_is_drained() {
        let q = Queue::new(4, 3, 2, 1);
        let (rc, rw) = waker();
        let rcx = Context::from_waker(&rw);
        assert_eq!(q.force_push(1), Ok(()));
        q.sender_done(0);
        assert_eq!(q.poll_pop(0, &rcx), Poll::Ready(Some(1)));
        assert_eq!(
            q.poll_pop(0, &rcx),
            Poll::Pending,
            "sender 1 is still there"
        );
        q.sender_done(1);
        assert_eq!(woken(&rc), 1, "the last sender wakes the receiver");
        assert_eq!(q.poll_pop(0, &rcx), Poll::Ready(None));
        assert!(q.is_ended());
    }

    #[test]
    fn closing_wakes_everyone_and_hands_pushes_back() {
        let q = Queue::new(1, 0, 2, 1);
        let (sc, sw) = waker();
        let scx = Context::from_waker(&sw);
        assert_eq!(q.poll_push(0, &mut Some(1), &scx), Poll::Ready(true));
        let mut held = Some(2);
        assert_eq!(q.poll_push(1, &mut held, &scx), Poll::Pending);
        let taken = q.close_and_take();
        assert_eq!(Vec::from(taken), [1]);
        assert_eq!(woken(&sc), 1);
        assert_eq!(q.poll_push(1, &mut held, &scx), Poll::Ready(false));
        assert_eq!(
            held,
            Some(2),
            "a closed queue leaves the item with its sender"
        );
        assert_eq!(q.force_push(3), Err(3));
    }
}
