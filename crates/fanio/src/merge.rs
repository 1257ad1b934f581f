//! [`Merge`]: fair fan-in of N streams into one.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use futures_core::stream::FusedStream;

use crate::ready::{Inbox, Node};
use crate::ring::Ring;

/// Merges `streams` into one [`Merge`] stream that yields their items as
/// they come, fairly, and ends when every one of them has ended.
///
/// ```
/// use futures_lite::{StreamExt, stream};
///
/// let merged = sluicegate_fanio::merge([stream::iter(vec![1, 2, 3]), stream::iter(vec![10, 20])]);
/// let items: Vec<i32> = sluicegate_fanio::rt::block_on(merged.collect());
/// // Round-robin between ready sources: one item from each in turn.
/// assert_eq!(items, [1, 10, 2, 20, 3]);
/// ```
pub fn merge<I>(streams: I) -> Merge<I::Item>
where
    I: IntoIterator,
    I::Item: Stream,
{
    streams.into_iter().collect()
}

/// Fair fan-in: the items of many streams of one type, interleaved, ending
/// when all have ended. Made by [`merge`], [`Merge::new`] or `collect()`;
/// more sources can be [`push`](Merge::push)ed at any time.
///
/// # Fairness
///
/// Sources take turns in a ready queue, like the run queue of a scheduler:
///
/// - A source is polled only after it asked to be (its waker fired, or it
///   just yielded an item), so a poll costs O(1), not O(sources), even
///   with thousands of sources.
/// - A source yields **at most one item per turn** and then goes to the
///   back of the queue. Among sources that are always ready this is exact
///   round-robin: over any window of `k * n` items, each of `n` such
///   sources yields `k`, so equal-rate sources get equal shares.
/// - A source that becomes ready joins the back of the queue before the
///   next turn (woken sources wait in a shared inbox, looked at before
///   every turn: one flag load when it is empty, its lock taken only when
///   a source was woken), so it waits for at most one item from each other
///   source: **no source can starve another**, however fast it is. (`futures::stream::select_all`
///   rests on `FuturesUnordered`, which can poll one busy future many
///   times in a row; tokio-stream's `merge` and `StreamMap` pick a random
///   start on each poll and scan every source.)
/// - **Per-poll budget.** One call to `poll_next` polls each source at
///   most about once (a source woken while the call runs, by another
///   thread or by another source's poll, is polled in the same call: at
///   most one such extra poll per source). Sources that keep waking
///   themselves, or each other, without yielding cannot trap it in a
///   loop: when the budget is spent it wakes its own task and returns
///   `Pending`, letting the executor run others.
///
/// Sources start in the order given, so the first round follows it.
///
/// # Ending
///
/// The merge ends (`None`) exactly when every source has ended; a merge
/// of no source ends at once. Each source is dropped as soon as it ends.
/// Pushing a source after the end starts the merge again.
///
/// A source that panics in `poll_next` is dropped as if it had ended and
/// the panic goes on to the caller (as does a panic of a source's `Drop`
/// when it ends); if the caller catches it, the merge can be polled again
/// and goes on with the other sources.
///
/// # Statistics
///
/// [`stats`](Merge::stats) counts the items each source yielded, by the
/// index it was added with.
pub struct Merge<S> {
    entries: Vec<Entry<S>>,
    /// Indices of sources to poll, in turn order. Owned by the merge; the
    /// shared inbox only feeds it.
    ready: Ring,
    inbox: Arc<Inbox>,
    active: usize,
}

struct Entry<S> {
    stream: Option<Pin<Box<S>>>,
    node: Arc<Node>,
    waker: Waker,
    yielded: u64,
}

/// A snapshot of a [`Merge`]'s counters, from [`Merge::stats`].
///
/// `total` is the sum of `per_source`: every item a source yielded was
/// yielded by the merge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MergeStats {
    /// Items yielded by each source, indexed in the order the sources were
    /// added.
    pub per_source: Vec<u64>,
    /// Items yielded in all.
    pub total: u64,
    /// Sources that have not ended yet.
    pub active: usize,
    /// Sources that have ended.
    pub ended: usize,
}

impl<S> Merge<S> {
    /// A merge of no source (it ends at once unless a source is pushed).
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            ready: Ring::new(),
            inbox: Arc::new(Inbox::new()),
            active: 0,
        }
    }

    /// Adds a source, which gets its first turn after the sources already
    /// waiting. Returns its index (in [`MergeStats::per_source`]). Costs one
    /// allocation for the pinned source and one for its waker.
    ///
    /// A source is dropped when it ends, but its entry (counter and waker,
    /// about a hundred bytes) stays for the merge's life, so that
    /// [`stats`](Merge::stats) can report it: a long-lived merge fed an
    /// endless series of sources grows without bound. Start a fresh merge
    /// now and then in that case.
    pub fn push(&mut self, stream: S) -> usize {
        let index = self.entries.len();
        let node = Node::new(index, Arc::clone(&self.inbox));
        let waker = Waker::from(Arc::clone(&node));
        self.entries.push(Entry {
            stream: Some(Box::pin(stream)),
            node,
            waker,
            yielded: 0,
        });
        self.ready.reserve_for(self.entries.len());
        self.ready.push_back(index);
        self.active += 1;
        index
    }

    /// Sources that have not ended yet.
    pub fn active(&self) -> usize {
        self.active
    }

    /// Sources added so far (ended ones included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no source was ever added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The items each source yielded so far.
    pub fn stats(&self) -> MergeStats {
        let per_source: Vec<u64> = self.entries.iter().map(|e| e.yielded).collect();
        MergeStats {
            total: per_source.iter().sum(),
            per_source,
            active: self.active,
            ended: self.entries.len() - self.active,
        }
    }
}

impl<S> Merge<S> {
    /// Takes woken sources into the ready queue (so they wait for at
    /// most one item of each source ahead of them); with nothing ready at
    /// all, ends (`Some(Ready(None))`) or sleeps (`Some(Pending)`).
    #[inline]
    fn refill(&mut self, cx: &Context<'_>) -> Option<Poll<Option<S::Item>>>
    where
        S: Stream,
    {
        if !self.ready.is_empty() {
            self.inbox.drain_into(&mut self.ready);
            return None;
        }
        if self.active == 0 {
            return Some(Poll::Ready(None));
        }
        if !self.inbox.drain_or_register(&mut self.ready, cx.waker()) {
            return Some(Poll::Pending);
        }
        None
    }
}

/// What one turn of the front source gave.
enum Turn<T> {
    /// An item: the source went to the back of the queue.
    Item(T),
    /// No item (pending, ended, or a stale entry): the source left the
    /// front of the queue (requeued at the back if a wake came during the
    /// poll).
    Other,
}

impl<S: Stream> Merge<S> {
    /// Gives the front source of the ready queue (not empty) its turn.
    #[inline(always)]
    fn turn(&mut self) -> Turn<S::Item> {
        let index = self.ready.front();
        let entry = &mut self.entries[index];
        let wakes = entry.node.wakes();
        // A panicking source would otherwise stay marked queued: dropped
        // as ended, its stale entry leaves the queue on its next turn.
        let mut guard = EndOnUnwind {
            stream: &mut entry.stream,
            active: &mut self.active,
        };
        let polled = guard.poll_next(&entry.waker);
        std::mem::forget(guard);
        match polled {
            Some(Poll::Ready(Some(item))) => {
                entry.yielded += 1;
                // It may have more: still queued, back of the queue.
                self.ready.rotate(index);
                return Turn::Item(item);
            }
            Some(Poll::Ready(None)) => {
                // Stays marked queued: later wakes are no-ops. Settled
                // before the source is dropped, as its `Drop` may panic.
                self.active -= 1;
                self.ready.pop_front();
                entry.stream = None;
            }
            Some(Poll::Pending) => {
                self.ready.pop_front();
                if entry.node.park(wakes) {
                    self.ready.push_back(index);
                }
            }
            // Ended: a stale wake (or a source that panicked).
            None => {
                self.ready.pop_front();
            }
        }
        Turn::Other
    }

    /// Turns until an item comes, every source has ended, or none is
    /// ready (after the fast path's turn, if it took one).
    #[inline(never)]
    fn poll_slow(&mut self, cx: &Context<'_>) -> Poll<Option<S::Item>> {
        if let Some(done) = self.refill(cx) {
            return done;
        }
        // Each source about once per call: enough for one full round,
        // plus one poll for each source woken while this call runs (taken
        // from the inbox), up to one per active source in all: a source
        // woken by another's poll is polled now, not after a spurious
        // `Pending`, and sources waking each other still cannot trap the
        // call.
        // (After a fast-path turn that gave no item, the sources behind it:
        // the call still polls each source about once.)
        let mut budget = self.ready.len();
        let mut extra = self.active;
        loop {
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            budget -= 1;
            if let Turn::Item(item) = self.turn() {
                return Poll::Ready(Some(item));
            }
            let before = self.ready.len();
            if let Some(done) = self.refill(cx) {
                return done;
            }
            let woken = self.ready.len().saturating_sub(before).min(extra);
            extra -= woken;
            budget += woken;
        }
    }
}

impl<S> Default for Merge<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> FromIterator<S> for Merge<S> {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut merge = Self::new();
        for s in iter {
            merge.push(s);
        }
        merge
    }
}

impl<S> Extend<S> for Merge<S> {
    fn extend<I: IntoIterator<Item = S>>(&mut self, iter: I) {
        for s in iter {
            self.push(s);
        }
    }
}

impl<S: Stream> Stream for Merge<S> {
    type Item = S::Item;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        // `Merge` is `Unpin`: sources are boxed.
        let this = self.get_mut();
        // Fast path: sources woken since the last turn join the queue (one
        // flag load when there are none), then the front source takes its
        // turn. A source that yields goes to the back of the queue (one
        // rotation of the ring); any other outcome is settled by the slow
        // path, which counts this poll against its budget.
        this.inbox.drain_into(&mut this.ready);
        if !this.ready.is_empty() {
            match this.turn() {
                Turn::Item(item) => return Poll::Ready(Some(item)),
                Turn::Other => return this.poll_slow(cx),
            }
        }
        this.poll_slow(cx)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let mut low = 0usize;
        let mut high = Some(0usize);
        for s in self.entries.iter().filter_map(|e| e.stream.as_ref()) {
            let (l, h) = s.size_hint();
            low = low.saturating_add(l);
            high = match (high, h) {
                (Some(a), Some(b)) => a.checked_add(b),
                _ => None,
            };
        }
        (low, high)
    }
}

/// Armed while a source is polled: if the poll panics, the source is
/// dropped as if it had ended (its node stays marked queued, so its
/// wakes are no-ops), and the merge stays usable.
struct EndOnUnwind<'a, S> {
    stream: &'a mut Option<Pin<Box<S>>>,
    active: &'a mut usize,
}

impl<S: Stream> EndOnUnwind<'_, S> {
    /// Polls the source, or `None` if it has ended (a stale entry).
    #[inline]
    fn poll_next(&mut self, waker: &Waker) -> Option<Poll<Option<S::Item>>> {
        self.stream
            .as_mut()
            .map(|stream| stream.as_mut().poll_next(&mut Context::from_waker(waker)))
    }
}

impl<S> Drop for EndOnUnwind<'_, S> {
    fn drop(&mut self) {
        *self.active -= 1;
        *self.stream = None;
    }
}

impl<S: Stream> FusedStream for Merge<S> {
    fn is_terminated(&self) -> bool {
        self.active == 0
    }
}

impl<S> fmt::Debug for Merge<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merge")
            .field("sources", &self.entries.len())
            .field("active", &self.active)
            .field("ready", &self.ready.len())
            .finish()
    }
}
