//! [`Merge`]: fair fan-in of N streams into one.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use futures_core::stream::FusedStream;

use crate::ready::{Inbox, Node};

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
/// - A source that becomes ready joins the back of the queue at the end of
///   the current round (the lock on woken sources is taken once per round,
///   not once per item), so it waits for at most two items from each other
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
/// the panic goes on to the caller; if the caller catches it, the merge
/// can be polled again and goes on with the other sources.
///
/// # Statistics
///
/// [`stats`](Merge::stats) counts the items each source yielded, by the
/// index it was added with.
pub struct Merge<S> {
    entries: Vec<Entry<S>>,
    /// Indices of sources to poll, in turn order. Owned by the merge; the
    /// shared inbox only feeds it.
    ready: VecDeque<usize>,
    inbox: Arc<Inbox>,
    active: usize,
    /// Turns left before woken sources are taken from the inbox.
    round_left: usize,
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
            ready: VecDeque::new(),
            inbox: Arc::new(Inbox::new()),
            active: 0,
            round_left: 0,
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
    /// Takes woken sources into the ready queue once per round (so they
    /// wait for at most one item of each source ahead of them) and
    /// whenever nothing else is ready; with nothing ready at all, ends
    /// (`Some(Ready(None))`) or sleeps (`Some(Pending)`).
    #[inline]
    fn refill(&mut self, cx: &Context<'_>) -> Option<Poll<Option<S::Item>>>
    where
        S: Stream,
    {
        if self.round_left != 0 && !self.ready.is_empty() {
            return None;
        }
        if self.ready.is_empty() {
            if self.active == 0 {
                return Some(Poll::Ready(None));
            }
            if !self.inbox.drain_or_register(&mut self.ready, cx.waker()) {
                return Some(Poll::Pending);
            }
        } else {
            self.inbox.drain_into(&mut self.ready);
        }
        self.round_left = self.ready.len();
        None
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

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        // `Merge` is `Unpin`: sources are boxed.
        let this = self.get_mut();
        if let Some(done) = this.refill(cx) {
            return done;
        }
        // Each source about once per call: enough for one full round,
        // plus one poll for each source woken while this call runs (taken
        // from the inbox), up to one per active source in all: a source
        // woken by another's poll is polled now, not after a spurious
        // `Pending`, and sources waking each other still cannot trap the
        // call.
        let mut budget = this.ready.len();
        let mut extra = this.active;
        loop {
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            budget -= 1;
            let Some(index) = this.ready.pop_front() else {
                return Poll::Pending; // unreachable: `refill` left it non-empty
            };
            this.round_left = this.round_left.saturating_sub(1);
            let entry = &mut this.entries[index];
            if entry.stream.is_some() {
                let wakes = entry.node.wakes();
                // A panicking source would otherwise stay marked queued
                // but in no queue: never polled again, never ended.
                let mut guard = EndOnUnwind {
                    stream: &mut entry.stream,
                    active: &mut this.active,
                };
                let polled = guard.poll_next(&entry.waker);
                std::mem::forget(guard);
                match polled {
                    Poll::Ready(Some(item)) => {
                        entry.yielded += 1;
                        // It may have more: still queued, back of the queue.
                        this.ready.push_back(index);
                        return Poll::Ready(Some(item));
                    }
                    Poll::Ready(None) => {
                        // Stays marked queued: later wakes are no-ops.
                        entry.stream = None;
                        this.active -= 1;
                    }
                    Poll::Pending => {
                        if entry.node.park(wakes) {
                            this.ready.push_back(index);
                        }
                    }
                }
            } // else: ended; a stale wake
            let before = this.ready.len();
            if let Some(done) = this.refill(cx) {
                return done;
            }
            let woken = this.ready.len().saturating_sub(before).min(extra);
            extra -= woken;
            budget += woken;
        }
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
    #[inline]
    fn poll_next(&mut self, waker: &Waker) -> Poll<Option<S::Item>> {
        match self.stream.as_mut() {
            Some(stream) => stream.as_mut().poll_next(&mut Context::from_waker(waker)),
            None => Poll::Ready(None), // unreachable: checked by the caller
        }
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
