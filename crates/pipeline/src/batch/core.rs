//! [`Batcher`]: the batching state machine shared by the standalone
//! adapters and the pipeline's batch stage.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;
use sluicegate_rt::Sleeper;

use futures_core::Stream;

use super::config::{Batch, TimerMode};
use crate::control::{RUN_BUDGET, RunBudget};
use crate::stage::{Fold, Pull, Weighted};
use crate::stats::BatchStats;

/// Where a lent batch's buffer comes back (hand-back mode).
#[derive(Debug)]
pub(crate) struct LoanSlot<T> {
    state: Mutex<LoanState<T>>,
    /// `state.out`, readable without the lock and without `T`: batch
    /// stages after this one watch it (see [`Batcher::watch_lenders`]).
    lent: Arc<AtomicBool>,
}

impl<T> Default for LoanSlot<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(LoanState::default()),
            lent: Arc::default(),
        }
    }
}

#[derive(Debug)]
struct LoanState<T> {
    /// A batch is with the writer.
    out: bool,
    /// The buffer it handed back (cleared), to fill again.
    back: Option<Vec<T>>,
    waker: Option<Waker>,
}

impl<T> Default for LoanState<T> {
    fn default() -> Self {
        Self {
            out: false,
            back: None,
            waker: None,
        }
    }
}

impl<T> LoanSlot<T> {
    fn lock(&self) -> MutexGuard<'_, LoanState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer is done with its batch: hand the buffer back.
    pub(crate) fn give_back(&self, mut buf: Vec<T>) {
        buf.clear();
        let waker = {
            let mut state = self.lock();
            state.out = false;
            self.lent.store(false, Ordering::Release);
            state.back = Some(buf);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether a batch is with the writer.
    pub(crate) fn is_out(&self) -> bool {
        self.lock().out
    }

    /// Whether a batch is with the writer, as a flag shared with the
    /// stages after this one.
    pub(crate) fn lent(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.lent)
    }

    /// A batch was lent.
    fn lend(&self) {
        let mut state = self.lock();
        state.out = true;
        self.lent.store(true, Ordering::Release);
    }
}

pin_project! {
    /// Accumulates items into batches: closed at `max_items`, at the timer,
    /// or at the end of the input; never empty. Each item carries a weight
    /// (the source items it stands for), summed per batch.
    pub(crate) struct Batcher<T, Sl: Sleeper> {
        cfg: Batch,
        sleeper: Sl,
        buf: Vec<T>,
        // The batch's weight beyond one per item: the sum of `weight - 1`
        // over the items held (wrapping), so the weight is
        // `buf.len() + extra` and an item of weight 1 (any source item)
        // costs no write here: the hot loop only pushes.
        extra: u64,
        #[pin]
        sleep: Option<Sl::Sleep>,
        ended: bool,
        // The batch held spans one cooperative yield of its input already
        // (see `poll_batch`).
        yielded_in: bool,
        loan: Option<Arc<LoanSlot<T>>>,
        // The loan flags of the hand-back batch stages before this one.
        lenders: Vec<Arc<AtomicBool>>,
        closed: BatchStats,
    }
}

/// How many items one poll of a standalone adapter pulls at most before
/// it yields the thread: a batch with a large `max_items` (or
/// [`Batch::time`], none) over an input that is always ready must not keep
/// the task inside one poll, where its timer could never close the batch.
/// (In a pipeline the run's budget bounds a poll instead:
/// [`RunBudget`](crate::control::RunBudget).)
const PULL_BUDGET: usize = 1024;

/// Where a batcher takes its items from: a pipeline stage (a run of
/// ready items per call, [`Pull`]) or a plain stream (the standalone
/// adapters).
pub(crate) trait Input<T> {
    /// The batcher's own limit on the items one poll takes (then it
    /// yields the thread), if the input has none of its own.
    const OWN_BUDGET: Option<usize>;

    /// About how many items one poll takes at most, whoever yields.
    const PER_POLL: usize;

    /// Whether the last `Pending` from [`fill`](Self::fill) was a
    /// cooperative yield (a budget spent), not the input waiting.
    fn yielded(&self) -> bool;

    /// The next item and its weight.
    fn next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(T, u64)>>;

    /// Pushes up to `limit` ready items into `buf`, adding their weight
    /// beyond one each to `extra` (wrapping).
    fn fill(
        &mut self,
        cx: &mut Context<'_>,
        limit: usize,
        buf: &mut Vec<T>,
        extra: &mut u64,
    ) -> Fold;
}

/// A pipeline stage as a batcher's input, and its run's yield budget.
pub(crate) struct StageInput<'a, S>(pub(crate) Pin<&'a mut S>, pub(crate) &'a RunBudget);

impl<S, T> Input<T> for StageInput<'_, S>
where
    S: Pull<Item = Weighted<T>>,
{
    const OWN_BUDGET: Option<usize> = None;
    const PER_POLL: usize = RUN_BUDGET as usize;

    #[inline]
    fn yielded(&self) -> bool {
        self.1.yielded()
    }

    #[inline(always)]
    fn next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(T, u64)>> {
        match self.0.as_mut().poll_next(cx) {
            Poll::Ready(Some(Weighted { item, weight })) => Poll::Ready(Some((item, weight))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    #[inline(always)]
    fn fill(
        &mut self,
        cx: &mut Context<'_>,
        limit: usize,
        buf: &mut Vec<T>,
        extra: &mut u64,
    ) -> Fold {
        if limit == 1 {
            // One item (batches of 1): `poll_next` costs less than
            // setting up a fold.
            return match self.0.as_mut().poll_next(cx) {
                Poll::Ready(Some(Weighted { item, weight })) => {
                    push(buf, extra, item, weight);
                    Fold::Limit
                }
                Poll::Ready(None) => Fold::End,
                Poll::Pending => Fold::Pending,
            };
        }
        fill(self.0.as_mut(), cx, limit, buf, extra)
    }
}

/// Pushes one item of weight `w`.
#[inline(always)]
fn push<T>(buf: &mut Vec<T>, extra: &mut u64, item: T, w: u64) {
    buf.push(item);
    if w != 1 {
        *extra = extra.wrapping_add(w.wrapping_sub(1));
    }
}

/// A run of ready items handed to a function: a pipeline stage's fold
/// ([`Pull::poll_fold`]), or a plain stream polled item by item (each
/// weighs 1). What [`fill_run`] fills from.
trait Run<T> {
    /// Hands up to `limit` ready items to `f` until it returns `false`,
    /// nothing is ready, or the input ends (as [`Pull::poll_fold`]).
    fn run<F>(&mut self, cx: &mut Context<'_>, limit: usize, f: &mut F) -> Fold
    where
        F: FnMut(Weighted<T>) -> bool;
}

impl<S, T> Run<T> for Pin<&mut S>
where
    S: Pull<Item = Weighted<T>>,
{
    #[inline(always)]
    fn run<F>(&mut self, cx: &mut Context<'_>, limit: usize, f: &mut F) -> Fold
    where
        F: FnMut(Weighted<T>) -> bool,
    {
        self.as_mut().poll_fold(cx, limit, f)
    }
}

/// A plain stream as a [`Run`].
struct Each<'a, S>(Pin<&'a mut S>);

impl<S: Stream> Run<S::Item> for Each<'_, S> {
    #[inline(always)]
    fn run<F>(&mut self, cx: &mut Context<'_>, limit: usize, f: &mut F) -> Fold
    where
        F: FnMut(Weighted<S::Item>) -> bool,
    {
        for _ in 0..limit {
            match self.0.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    if !f(Weighted::new(item, 1)) {
                        return Fold::Limit;
                    }
                }
                Poll::Ready(None) => return Fold::End,
                Poll::Pending => return Fold::Pending,
            }
        }
        Fold::Limit
    }
}

/// Pushes up to `limit` ready items from `input` into `buf` through
/// [`fill_run`], then the item that found the buffer full, if one did
/// (the buffer grows here, out of the loop).
#[inline(always)]
fn fill<R: Run<T>, T>(
    input: R,
    cx: &mut Context<'_>,
    limit: usize,
    buf: &mut Vec<T>,
    extra: &mut u64,
) -> Fold {
    let (stop, spilled) = fill_run(input, cx, limit, buf, extra);
    if let Some(item) = spilled {
        buf.push(item);
    }
    stop
}

/// A run of up to `limit` ready items from `input` into `buf`: the hot
/// loop of every fused chain into a batch stage (the whole chain before
/// the batch stage is inlined into it), and of the standalone adapters
/// (the stream's `poll_next` inlined into it). Returns why the run
/// stopped, and the item that found the buffer full, if one did: the
/// caller pushes it (the buffer grows there), then pulls again.
///
/// Two things keep the loop free of memory round trips, which measured
/// 2-4x faster than pushing with `Vec::push` inside the loop:
///
/// - No call in the loop can touch the buffer: an item is pushed only
///   while the buffer has room (`len < capacity`, so `push`'s grow path is
///   dead code and the compiler drops it), and the item that finds it full
///   ends the run and is handed back. With no call left in the loop the
///   compiler keeps the buffer's length (and the source's state) in
///   registers for the whole run, and writes them back once; with the
///   grow call in the loop it stored and reloaded the length per item (a
///   loop-carried round trip through memory that instruction counts do
///   not show), and a simple chain (a range, a closure) could not be
///   vectorized.
/// - Out of line, `input` (for an `Unpin` chain) is a `&mut` argument the
///   compiler knows nothing else points into, and the buffer a local, so
///   the chain's state stays apart from the buffer's heap memory.
///
/// The buffer is filled as a local, put back when this returns or
/// unwinds (what it holds stays counted). The returned item was counted
/// out by the stage before; nothing between the fold's return and the
/// caller's push can panic.
#[inline(never)]
fn fill_run<R: Run<T>, T>(
    mut input: R,
    cx: &mut Context<'_>,
    limit: usize,
    buf: &mut Vec<T>,
    extra: &mut u64,
) -> (Fold, Option<T>) {
    let mut local = Local::take(buf);
    let into = &mut local.buf;
    let mut spilled = None;
    let stop = input.run(cx, limit, &mut |Weighted { item, weight }| {
        if weight != 1 {
            *extra = extra.wrapping_add(weight.wrapping_sub(1));
        }
        if into.len() == into.capacity() {
            spilled = Some(item);
            return false;
        }
        into.push(item);
        true
    });
    (stop, spilled)
}

/// A batcher's buffer taken out to be filled as a local, and put back
/// when dropped (also while a poll unwinds: what it holds stays counted).
struct Local<'a, T> {
    buf: Vec<T>,
    home: &'a mut Vec<T>,
}

impl<'a, T> Local<'a, T> {
    #[inline(always)]
    fn take(home: &'a mut Vec<T>) -> Self {
        Self {
            buf: std::mem::take(home),
            home,
        }
    }
}

impl<T> Drop for Local<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        std::mem::swap(self.home, &mut self.buf);
    }
}

/// A plain stream as a batcher's input (each item weighs 1).
pub(crate) struct StreamInput<'a, S>(pub(crate) Pin<&'a mut S>);

impl<S: Stream> Input<S::Item> for StreamInput<'_, S> {
    const OWN_BUDGET: Option<usize> = Some(PULL_BUDGET);
    const PER_POLL: usize = PULL_BUDGET;

    #[inline]
    fn yielded(&self) -> bool {
        false
    }

    #[inline]
    fn next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(S::Item, u64)>> {
        self.0
            .as_mut()
            .poll_next(cx)
            .map(|o| o.map(|item| (item, 1)))
    }

    #[inline]
    fn fill(
        &mut self,
        cx: &mut Context<'_>,
        limit: usize,
        buf: &mut Vec<S::Item>,
        extra: &mut u64,
    ) -> Fold {
        if limit == 1 {
            // One item: `poll_next` costs less than a call to the loop.
            return match self.0.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    buf.push(item);
                    Fold::Limit
                }
                Poll::Ready(None) => Fold::End,
                Poll::Pending => Fold::Pending,
            };
        }
        // Every item weighs 1: `extra` is left as it is.
        fill(Each(self.0.as_mut()), cx, limit, buf, extra)
    }
}

/// Why a batch was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Close {
    /// It reached `max_items`.
    Size,
    /// The timer fired (either timer mode).
    Timer,
    /// The input ended (also after a graceful cancel).
    End,
    /// A hand-back batch stage before this one waits for its loan (see
    /// [`Batcher::watch_lenders`]).
    Lender,
}

impl BatchStats {
    /// Counts one batch closed for `why`.
    #[inline]
    pub(crate) fn count(&mut self, why: Close) {
        match why {
            Close::Size => self.by_size += 1,
            Close::Timer => self.by_timer += 1,
            Close::End => self.at_end += 1,
            Close::Lender => self.by_lender += 1,
        }
    }
}

impl<T, Sl: Sleeper> Batcher<T, Sl> {
    /// A batcher; in hand-back mode (`loan` given) batches are lent
    /// through `loan`.
    pub(crate) fn new(cfg: Batch, sleeper: Sl, loan: Option<Arc<LoanSlot<T>>>) -> Self {
        Self {
            buf: Vec::with_capacity(cfg.max_items().min(4096)),
            cfg,
            sleeper,
            extra: 0,
            sleep: None,
            ended: false,
            yielded_in: false,
            loan,
            lenders: Vec::new(),
            closed: BatchStats::default(),
        }
    }

    /// Watches the loans of the hand-back batch stages before this one: a
    /// batch held while one of them waits for its loan is closed at once
    /// ([`Close::Lender`]), as the loan (in it, or in something in it)
    /// cannot come back until it is passed on. Only lenders with nothing
    /// between them and this stage that can keep an element across a
    /// wait (an async or parallel step, which may hold the loan and give
    /// it back on its own): the pipeline's builder passes just those.
    pub(crate) fn watch_lenders(mut self, lenders: Vec<Arc<AtomicBool>>) -> Self {
        self.lenders = lenders;
        self
    }

    /// The hand-back slot (hand-back mode only).
    pub(crate) fn loan_slot(&self) -> Option<&Arc<LoanSlot<T>>> {
        self.loan.as_ref()
    }

    /// Whether the input ended and the last batch is out.
    pub(crate) fn is_ended(&self) -> bool {
        self.ended
    }

    /// The batches emitted so far, by why they were closed.
    pub(crate) fn closed(&self) -> BatchStats {
        self.closed
    }

    /// Items held now, and their weight.
    pub(crate) fn held(&self) -> (usize, u64) {
        (self.buf.len(), weight_of(&self.buf, self.extra))
    }

    /// [`poll_batch`](Self::poll_batch), and sets `taken` to the number of
    /// items it pulled from the input (computed once, not per item).
    #[inline]
    pub(crate) fn poll_batch_counted<I: Input<T>>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        input: I,
        taken: &mut u64,
    ) -> Poll<Option<(Vec<T>, u64, Close)>> {
        // A lent buffer may replace `buf` only while it is empty, so
        // `before` is what was held before this poll either way.
        let before = self.buf.len();
        let polled = self.as_mut().poll_batch(cx, input);
        let after = match &polled {
            Poll::Ready(Some((batch, _, _))) => batch.len(),
            _ => self.buf.len(),
        };
        *taken = after.saturating_sub(before) as u64;
        polled
    }

    /// Polls for the next batch, pulling items from `input` (a run of
    /// ready items per call). Returns the batch, its weight and why it was
    /// closed; `None` once the input ended and the last batch is out.
    #[inline]
    pub(crate) fn poll_batch<I: Input<T>>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut input: I,
    ) -> Poll<Option<(Vec<T>, u64, Close)>> {
        let mut this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        if let Some(slot) = this.loan.as_ref() {
            let mut state = slot.lock();
            if state.out {
                // The writer still holds the last batch: build nothing.
                state.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if let Some(back) = state.back.take() {
                if this.buf.is_empty() && back.capacity() > this.buf.capacity() {
                    *this.buf = back;
                }
            }
        }
        let max_wait = this.cfg.max_wait_duration();
        let ticks = this.cfg.timer_mode() == TimerMode::FixedTicks;
        let max_items = this.cfg.max_items();
        if max_items == 1 && !ticks && this.loan.is_none() {
            // Batches of one: each item closes its batch at once, so the
            // buffer stays empty and no timer is ever armed.
            return match input.next(cx) {
                Poll::Ready(Some((item, weight))) => {
                    this.closed.count(Close::Size);
                    Poll::Ready(Some((vec![item], weight, Close::Size)))
                }
                Poll::Ready(None) => {
                    *this.ended = true;
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            };
        }
        if ticks && this.sleep.is_none() {
            if let Some(period) = max_wait {
                this.sleep.set(Some(this.sleeper.sleep(period)));
            }
        }
        if this.buf.is_empty() {
            // A new batch: it spans no yield yet.
            *this.yielded_in = false;
        }
        let own_budget = I::OWN_BUDGET.unwrap_or(usize::MAX);
        let mut pulled = 0usize;
        // Whether this poll stops at a cooperative yield (a budget spent,
        // the task woken) rather than at the input waiting.
        let mut yielded = false;
        while this.buf.len() < max_items {
            if pulled >= own_budget {
                // An input that is always ready: yield the thread, to be
                // polled again at once.
                cx.waker().wake_by_ref();
                yielded = true;
                break;
            }
            let before = this.buf.len();
            let room = (max_items - before).min(own_budget - pulled);
            let stop = input.fill(cx, room, this.buf, this.extra);
            pulled += this.buf.len() - before;
            match stop {
                Fold::Limit => {}
                Fold::Pending => {
                    yielded = input.yielded();
                    break;
                }
                Fold::End => {
                    *this.ended = true;
                    if this.sleep.is_some() {
                        this.sleep.set(None);
                    }
                    return Poll::Ready(take(
                        this.buf,
                        this.extra,
                        this.loan,
                        max_items,
                        this.closed,
                        Close::End,
                    ));
                }
            }
        }
        let early = if this.buf.len() >= max_items {
            Some(Close::Size)
        } else if !this.buf.is_empty() && this.lenders.iter().any(|l| l.load(Ordering::Acquire)) {
            // A lender before us waits for a loan that this batch holds:
            // nothing more can come in (see `watch_lenders`).
            Some(Close::Lender)
        } else {
            None
        };
        if let Some(why) = early {
            if !ticks && this.sleep.is_some() {
                this.sleep.set(None);
            }
            return Poll::Ready(take(
                this.buf,
                this.extra,
                this.loan,
                max_items,
                this.closed,
                why,
            ));
        }
        // The input is pending, or yielded the thread. A batch that holds
        // items and waits for the first time starts its timer now: at its
        // first item's arrival plus the time taken to pull the items that
        // were ready with it (none, in virtual time). Arming lazily means
        // a stream that is always ready never pays for a timer.
        //
        // A cooperative yield is not a wait: it arms no timer, unless the
        // batch cannot be filled in the next poll either (it needs more
        // items than a poll takes: `Batch::time`, a huge `max_items`) or
        // it already spans a yield (a filter before it lets few items
        // through). So over an always-ready input a batch that fills by
        // size arms nothing, and `max_wait` is late by at most one poll.
        let arm = !yielded || *this.yielded_in || max_items - this.buf.len() > I::PER_POLL;
        if !ticks && this.sleep.is_none() && !this.buf.is_empty() {
            if arm {
                if let Some(wait) = max_wait {
                    this.sleep.set(Some(this.sleeper.sleep(wait)));
                }
            } else {
                *this.yielded_in = true;
            }
        }
        loop {
            let Some(sleep) = this.sleep.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            if sleep.poll(cx).is_pending() {
                return Poll::Pending;
            }
            if ticks {
                // Arm the next tick now; it is polled (and registered)
                // below, or at the next poll if this one emits.
                let period = max_wait.unwrap_or_default();
                this.sleep.set(Some(this.sleeper.sleep(period)));
                if !this.buf.is_empty() {
                    return Poll::Ready(take(
                        this.buf,
                        this.extra,
                        this.loan,
                        max_items,
                        this.closed,
                        Close::Timer,
                    ));
                }
            } else {
                this.sleep.set(None);
                // Armed only with a first item, so never empty here.
                return Poll::Ready(take(
                    this.buf,
                    this.extra,
                    this.loan,
                    max_items,
                    this.closed,
                    Close::Timer,
                ));
            }
        }
    }
}

/// The weight of the items in `buf`, given their `extra` weight.
#[inline]
fn weight_of<T>(buf: &[T], extra: u64) -> u64 {
    (buf.len() as u64).wrapping_add(extra)
}

/// Takes the batch out (if any), leaving an empty buffer of the same
/// capacity class, and lends it in hand-back mode.
/// Counts it in `closed` as closed for `why`.
#[inline]
fn take<T>(
    buf: &mut Vec<T>,
    extra: &mut u64,
    loan: &Option<Arc<LoanSlot<T>>>,
    max_items: usize,
    closed: &mut BatchStats,
    why: Close,
) -> Option<(Vec<T>, u64, Close)> {
    if buf.is_empty() {
        return None;
    }
    closed.count(why);
    let fresh = if loan.is_some() {
        // The writer's buffer comes back; start small until it does.
        Vec::new()
    } else {
        Vec::with_capacity(buf.len().min(max_items))
    };
    let batch = std::mem::replace(buf, fresh);
    if let Some(slot) = loan {
        slot.lend();
    }
    let weight = weight_of(&batch, std::mem::take(extra));
    Some((batch, weight, why))
}
