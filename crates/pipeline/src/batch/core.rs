//! [`Batcher`]: the batching state machine shared by the standalone
//! adapters and the pipeline's batch stage.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;
use sluicegate_rt::Sleeper;

use futures_core::Stream;

use super::config::{Batch, TimerMode};
use crate::stage::{Fold, Pull, Weighted};
use crate::stats::BatchStats;

/// Where a lent batch's buffer comes back (hand-back mode).
#[derive(Debug)]
pub(crate) struct LoanSlot<T> {
    state: Mutex<LoanState<T>>,
}

impl<T> Default for LoanSlot<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(LoanState::default()),
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
        loan: Option<Arc<LoanSlot<T>>>,
        closed: BatchStats,
    }
}

/// How many items one poll pulls at most before it yields the thread: a
/// batch with a large `max_items` (or [`Batch::time`], none) over an
/// input that is always ready must not keep the task inside one poll,
/// where its timer could never close the batch.
const PULL_BUDGET: usize = 1024;

/// Where a batcher takes its items from: a pipeline stage (a run of
/// ready items per call, [`Pull`]) or a plain stream (the standalone
/// adapters).
pub(crate) trait Input<T> {
    /// The next item and its weight.
    fn next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(T, u64)>>;

    /// Pushes up to `limit` ready items, with their weights, into `push`.
    fn fill(&mut self, cx: &mut Context<'_>, limit: usize, push: &mut impl FnMut(T, u64)) -> Fold;
}

/// A pipeline stage as a batcher's input.
pub(crate) struct StageInput<'a, S>(pub(crate) Pin<&'a mut S>);

impl<S, T> Input<T> for StageInput<'_, S>
where
    S: Pull<Item = Weighted<T>>,
{
    #[inline(always)]
    fn next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(T, u64)>> {
        match self.0.as_mut().poll_next(cx) {
            Poll::Ready(Some(Weighted { item, weight })) => Poll::Ready(Some((item, weight))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    #[inline(always)]
    fn fill(&mut self, cx: &mut Context<'_>, limit: usize, push: &mut impl FnMut(T, u64)) -> Fold {
        if limit == 1 {
            // One item (batches of 1): `poll_next` costs less than
            // setting up a fold.
            return match self.0.as_mut().poll_next(cx) {
                Poll::Ready(Some(Weighted { item, weight })) => {
                    push(item, weight);
                    Fold::Limit
                }
                Poll::Ready(None) => Fold::End,
                Poll::Pending => Fold::Pending,
            };
        }
        self.0
            .as_mut()
            .poll_fold(cx, limit, &mut |Weighted { item, weight }| {
                push(item, weight);
                true
            })
    }
}

/// A plain stream as a batcher's input (each item weighs 1).
pub(crate) struct StreamInput<'a, S>(pub(crate) Pin<&'a mut S>);

impl<S: Stream> Input<S::Item> for StreamInput<'_, S> {
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
        push: &mut impl FnMut(S::Item, u64),
    ) -> Fold {
        for _ in 0..limit {
            match self.0.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => push(item, 1),
                Poll::Ready(None) => return Fold::End,
                Poll::Pending => return Fold::Pending,
            }
        }
        Fold::Limit
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
}

impl BatchStats {
    /// Counts one batch closed for `why`.
    #[inline]
    pub(crate) fn count(&mut self, why: Close) {
        match why {
            Close::Size => self.by_size += 1,
            Close::Timer => self.by_timer += 1,
            Close::End => self.at_end += 1,
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
            loan,
            closed: BatchStats::default(),
        }
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
    pub(crate) fn poll_batch_counted(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        input: impl Input<T>,
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
    pub(crate) fn poll_batch(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut input: impl Input<T>,
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
        let mut pulled = 0usize;
        while this.buf.len() < max_items {
            if pulled >= PULL_BUDGET {
                // An input that is always ready: yield the thread (as if
                // the input waited, so the timer is armed and polled),
                // to be polled again at once.
                cx.waker().wake_by_ref();
                break;
            }
            let before = this.buf.len();
            let room = (max_items - before).min(PULL_BUDGET - pulled);
            let buf = &mut *this.buf;
            let extra = &mut *this.extra;
            let stop = input.fill(cx, room, &mut |item, w| {
                buf.push(item);
                if w != 1 {
                    *extra = extra.wrapping_add(w.wrapping_sub(1));
                }
            });
            pulled += this.buf.len() - before;
            match stop {
                Fold::Limit => {}
                Fold::Pending => break,
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
        if this.buf.len() >= max_items {
            if !ticks && this.sleep.is_some() {
                this.sleep.set(None);
            }
            return Poll::Ready(take(
                this.buf,
                this.extra,
                this.loan,
                max_items,
                this.closed,
                Close::Size,
            ));
        }
        // The input is pending (or the budget is spent). A batch that
        // holds items and waits for the first time starts its timer now: at its first item's arrival plus
        // the time taken to pull the items that were ready with it (none,
        // in virtual time). Arming lazily means a stream that is always
        // ready never pays for a timer.
        if !ticks && this.sleep.is_none() && !this.buf.is_empty() {
            if let Some(wait) = max_wait {
                this.sleep.set(Some(this.sleeper.sleep(wait)));
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
        slot.lock().out = true;
    }
    let weight = weight_of(&batch, std::mem::take(extra));
    Some((batch, weight, why))
}
