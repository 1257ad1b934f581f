//! The wake protocol behind [`Merge`](crate::Merge): each source has a
//! waker of its own ([`Node`]) that puts the source's index in a shared
//! [`Inbox`] at most once until the merge polls that source again, and wakes
//! the task polling the merge. The merge thus polls only sources that asked
//! to be polled: O(1) per item whatever the number of sources.
//!
//! - The woken indices and the merge's own waker sit under one lock, so
//!   "no woken source, so store my waker and sleep" and "add my index, take
//!   the waker and wake it" cannot interleave badly: no wake-up is lost.
//! - A per-source `queued` flag deduplicates wakes: true while the index is
//!   in the inbox or in the merge's ready queue. Every access to it is a
//!   read-modify-write (loom checks the protocol; see `tests/loom.rs`).
//! - A source that yields an item stays queued and is polled again in its
//!   next turn without touching `queued` at all; only when it returns
//!   `Pending` is it unqueued, and a per-source wake counter read before
//!   the poll tells whether a wake came during the poll (and was absorbed
//!   by the flag), in which case the merge requeues it itself. So a busy,
//!   always-ready source costs no atomic read-modify-write per item.

use std::sync::Arc;
use std::task::{Wake, Waker};

use crate::ring::Ring;
use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering, lock};

/// Source indices woken since the merge last looked, and the waker of the
/// task polling the merge.
#[derive(Debug)]
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    /// A hint that `woken` may be non-empty, so that taking the lock once
    /// per round can be skipped when no source was woken. Only a hint: the
    /// merge takes the lock whenever it is about to sleep.
    hint: AtomicBool,
}

#[derive(Debug, Default)]
struct InboxState {
    woken: Vec<usize>,
    parent: Option<Waker>,
}

impl Inbox {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(InboxState::default()),
            hint: AtomicBool::new(false),
        }
    }

    /// Moves the woken indices, in wake order, to the back of `ready`
    /// (skipped when the hint says there are none).
    #[inline]
    pub(crate) fn drain_into(&self, ready: &mut Ring) {
        if self.hint.load(Ordering::Acquire) {
            self.drain_slow(ready);
        }
    }

    #[cold]
    fn drain_slow(&self, ready: &mut Ring) {
        if self.hint.swap(false, Ordering::AcqRel) {
            ready.extend(lock(&self.state).woken.drain(..));
        }
    }

    /// With nothing ready: takes the woken indices if there are any
    /// (returns true), or else stores `waker` to be woken by the next
    /// source wake (returns false), atomically.
    pub(crate) fn drain_or_register(&self, ready: &mut Ring, waker: &Waker) -> bool {
        let mut state = lock(&self.state);
        if !state.woken.is_empty() {
            ready.extend(state.woken.drain(..));
            return true;
        }
        match &state.parent {
            Some(w) if w.will_wake(waker) => {}
            _ => state.parent = Some(waker.clone()),
        }
        false
    }

    fn push(&self, index: usize) {
        let parent = {
            let mut state = lock(&self.state);
            state.woken.push(index);
            state.parent.take()
        };
        self.hint.swap(true, Ordering::AcqRel);
        // Wake outside the lock: the waker may poll the merge inline.
        if let Some(w) = parent {
            w.wake();
        }
    }
}

/// One source's waker.
#[derive(Debug)]
pub(crate) struct Node {
    index: usize,
    /// True while the index is in the inbox or in the merge's ready queue
    /// (or the source has ended): further wakes are then no-ops.
    queued: AtomicBool,
    /// Wakes so far (wrapping), to tell whether one came during a poll.
    wakes: AtomicUsize,
    inbox: Arc<Inbox>,
}

impl Node {
    /// A node that starts queued (the merge puts a new source in its ready
    /// queue itself).
    pub(crate) fn new(index: usize, inbox: Arc<Inbox>) -> Arc<Self> {
        Arc::new(Self {
            index,
            queued: AtomicBool::new(true),
            wakes: AtomicUsize::new(0),
            inbox,
        })
    }

    /// The wake count, read right before the merge polls the source.
    #[inline]
    pub(crate) fn wakes(&self) -> usize {
        self.wakes.load(Ordering::Acquire)
    }

    /// After a poll that returned `Pending`: unqueues the source so the
    /// next wake queues it; returns true if the merge must requeue it
    /// itself, because a wake came during the poll (absorbed while it was
    /// still queued) and no later wake has queued it since.
    pub(crate) fn park(&self, wakes_before: usize) -> bool {
        self.queued.swap(false, Ordering::AcqRel);
        if self.wakes.load(Ordering::Acquire) == wakes_before {
            return false;
        }
        !self.queued.swap(true, Ordering::AcqRel)
    }
}

impl Wake for Node {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::AcqRel);
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.inbox.push(self.index);
        }
    }
}
