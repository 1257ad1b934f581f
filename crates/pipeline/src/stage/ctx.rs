//! [`Ctx`]: what a stage knows of its pipeline (control, counters), the
//! elements it holds (discarded and counted if it is dropped holding them),
//! and the panic guard around user code.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::control::Control;
use crate::error::panic_message;
use crate::stats::StageCounters;

/// An element flowing between stages, with the number of source items it
/// stands for (1 for an item, a batch's length for a batch). You never
/// need to name it: it is how the summary counts source items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weighted<T> {
    pub(crate) item: T,
    pub(crate) weight: u64,
}

impl<T> Weighted<T> {
    #[inline]
    pub(crate) fn new(item: T, weight: u64) -> Self {
        Self { item, weight }
    }
}

pub(crate) struct Ctx<E> {
    pub(crate) control: Arc<Control<E>>,
    pub(crate) counters: Arc<StageCounters>,
    held_elems: u64,
    held_items: u64,
    since: Option<Instant>,
    /// Whether the pipeline is timed, read once: `None` until first asked
    /// (the clock is fixed when the sink is added, before any poll).
    timed: Option<bool>,
}

impl<E> Ctx<E> {
    pub(crate) fn new(control: Arc<Control<E>>, counters: Arc<StageCounters>) -> Self {
        Self {
            control,
            counters,
            held_elems: 0,
            held_items: 0,
            since: None,
            timed: None,
        }
    }

    /// The time now if the pipeline is timed (one plain field read per
    /// call when it is not).
    #[inline]
    pub(crate) fn now_if_timed(&mut self) -> Option<Instant> {
        if self.timed() {
            self.control.now_if_timed(&self.counters)
        } else {
            None
        }
    }

    /// Whether the stage holds no element.
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.held_elems == 0
    }

    /// Sets what the stage holds (a batch stage: its partial batch).
    #[inline]
    pub(crate) fn set_held(&mut self, elems: u64, items: u64) {
        self.held_elems = elems;
        self.held_items = items;
    }

    /// Sets what the stage holds from the stage's own record of it (a
    /// batch stage's buffer) when the stage is dropped: elements it holds
    /// beyond what it was last set to were taken in a poll that unwound (a
    /// panic upstream, outside any stage function) before they were
    /// counted in, so they are counted in now.
    pub(crate) fn settle_held(&mut self, elems: u64, items: u64) {
        if elems > self.held_elems {
            StageCounters::bump(&self.counters.input, elems - self.held_elems);
        }
        self.set_held(elems, items);
    }

    /// Counts in `elems` elements taken during this poll (what the stage
    /// holds is set with [`set_held`](Self::set_held)), and starts the busy clock at `start` if it is not
    /// running.
    #[inline]
    pub(crate) fn counted_in(&mut self, elems: u64, start: Option<Instant>) {
        StageCounters::bump(&self.counters.input, elems);
        if self.since.is_none() {
            self.since = start;
        }
    }

    /// Takes in the one element a single-element stage holds (plain
    /// stores: this is the hot path of a fused chain).
    #[inline]
    pub(crate) fn take_one(&mut self, items: u64) {
        StageCounters::bump(&self.counters.input, 1);
        self.held_elems = 1;
        self.held_items = items;
        self.since = self.now_if_timed();
    }

    /// Holds one element standing for `items` items, already counted in,
    /// taken at `since` (if timed).
    #[inline]
    pub(crate) fn hold_one(&mut self, items: u64, since: Option<Instant>) {
        self.held_elems = 1;
        self.held_items = items;
        self.since = since;
    }

    /// Lets go of the one held element: returns its weight.
    #[inline]
    fn drop_one(&mut self) -> u64 {
        self.stop_clock();
        let items = self.held_items;
        self.held_elems = 0;
        self.held_items = 0;
        items
    }

    /// Stops the busy clock.
    #[inline]
    pub(crate) fn stop_clock(&mut self) {
        if self.since.is_none() {
            return;
        }
        if let Some(since) = self.since.take() {
            if let Some(now) = self.control.now_if_timed(&self.counters) {
                self.counters.add_busy(now.saturating_duration_since(since));
            }
        }
    }

    /// Lets go of `elems` elements standing for `items` items.
    #[inline]
    pub(crate) fn release(&mut self, elems: u64, items: u64) {
        self.held_elems = self.held_elems.saturating_sub(elems);
        self.held_items = self.held_items.saturating_sub(items);
    }

    /// The one held element is passed on: returns its weight.
    #[inline]
    pub(crate) fn pass_one(&mut self) -> u64 {
        StageCounters::bump(&self.counters.output, 1);
        self.drop_one()
    }

    /// The one held element failed with `error`.
    pub(crate) fn fail_one(&mut self, error: E) {
        let items = self.drop_one();
        self.control.failed(&self.counters, items, error);
    }

    /// The stage's function panicked on the one held element.
    pub(crate) fn panic_one(&mut self, message: String) {
        let items = self.drop_one();
        self.control.panicked(&self.counters, items, message);
    }

    /// Takes in one element without starting the busy clock (the
    /// parallel step times each task instead).
    #[inline]
    pub(crate) fn admit(&mut self, items: u64) {
        StageCounters::bump(&self.counters.input, 1);
        self.held_elems += 1;
        self.held_items += items;
    }

    /// One of several held elements (standing for `items`) is passed on.
    #[inline]
    pub(crate) fn pass(&mut self, items: u64) {
        StageCounters::bump(&self.counters.output, 1);
        self.release(1, items);
    }

    /// One of several held elements failed with `error`.
    pub(crate) fn fail(&mut self, items: u64, error: E) {
        self.release(1, items);
        self.control.failed(&self.counters, items, error);
    }

    /// The function panicked on one of several held elements.
    pub(crate) fn panic(&mut self, items: u64, message: String) {
        self.release(1, items);
        self.control.panicked(&self.counters, items, message);
    }

    /// A filter rejected the one held element.
    pub(crate) fn filter_one(&mut self) {
        let items = self.drop_one();
        StageCounters::bump(&self.counters.filtered, 1);
        StageCounters::add(&self.control.ledger.filtered, items);
    }
}

impl<E> Ctx<E> {
    /// Whether the pipeline is timed (read once, then cached).
    #[inline]
    pub(crate) fn timed(&mut self) -> bool {
        match self.timed {
            Some(timed) => timed,
            None => *self.timed.insert(self.control.is_timed()),
        }
    }

    /// Runs a synchronous stage's closure on one element standing for
    /// `items` source items (already counted in), under a panic guard,
    /// timing it if `timed`. A panic fails the element (counted,
    /// reported) and returns `None`. The element is never held across a
    /// poll, so the drop guard has nothing to count.
    #[inline(always)]
    pub(crate) fn run_sync<R>(&self, timed: bool, items: u64, f: impl FnOnce() -> R) -> Option<R> {
        let since = if timed {
            self.control.now_if_timed(&self.counters)
        } else {
            None
        };
        let out = guarded(f);
        if let Some(since) = since {
            if let Some(now) = self.control.now_if_timed(&self.counters) {
                self.counters.add_busy(now.saturating_duration_since(since));
            }
        }
        match out {
            Ok(out) => Some(out),
            Err(message) => {
                self.control.panicked(&self.counters, items, message);
                None
            }
        }
    }

    /// [`run_sync`](Self::run_sync) for one element pulled by
    /// `poll_next`: counts it in first.
    #[inline]
    pub(crate) fn call_sync<R>(&mut self, items: u64, f: impl FnOnce() -> R) -> Option<R> {
        StageCounters::bump(&self.counters.input, 1);
        let timed = self.timed();
        self.run_sync(timed, items, f)
    }
}

impl<E> Drop for Ctx<E> {
    fn drop(&mut self) {
        if self.held_elems > 0 || self.held_items > 0 {
            self.control
                .discard(&self.counters, self.held_elems, self.held_items);
        }
    }
}

/// The element a fold ([`Pull`](super::Pull)) is working on, by weight.
/// A fold does not hold its elements in the stage's [`Ctx`] (no store
/// there per element), so if a poll unwinds while one is in hand (a panic
/// outside the guarded function: a future's or an element's destructor,
/// the clock), this counts it as discarded, as the [`Ctx`]'s drop guard
/// counts what a stage holds.
pub(crate) struct InHand<'a, E> {
    ctx: &'a Ctx<E>,
    /// The weight of the element in hand, if any.
    pub(crate) weight: Option<u64>,
}

impl<'a, E> InHand<'a, E> {
    #[inline]
    pub(crate) fn new(ctx: &'a Ctx<E>) -> Self {
        Self { ctx, weight: None }
    }
}

impl<E> Drop for InHand<'_, E> {
    #[inline]
    fn drop(&mut self) {
        if let Some(items) = self.weight {
            self.ctx.control.discard(&self.ctx.counters, 1, items);
        }
    }
}

/// Calls user code, turning a panic into its message.
#[inline(always)]
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(&*payload))
}

/// Polls the pending future in `slot`, if any: `None` when there is none;
/// `Some(Ok(out))` or `Some(Err(panic message))` once it is done (and the
/// slot is emptied).
#[inline(always)]
pub(crate) fn poll_slot<F: Future>(
    mut slot: Pin<&mut Option<F>>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<F::Output, String>>> {
    let Some(fut) = slot.as_mut().as_pin_mut() else {
        return Poll::Ready(None);
    };
    match guarded(|| fut.poll(cx)) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(out)) => {
            slot.set(None);
            Poll::Ready(Some(Ok(out)))
        }
        Err(message) => {
            // A future that panicked is done; dropping it may panic again.
            let _ = guarded(|| slot.set(None));
            Poll::Ready(Some(Err(message)))
        }
    }
}

/// Puts the future `make()` returns into `slot` and polls it once, under
/// one panic guard (the hot path: most stage futures are ready at once).
/// `Err(message)` if `make` or the poll panicked (the slot is emptied).
#[inline(always)]
pub(crate) fn start_slot<F: Future>(
    mut slot: Pin<&mut Option<F>>,
    make: impl FnOnce() -> F,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, String>> {
    let polled = guarded(|| {
        slot.set(Some(make()));
        match slot.as_mut().as_pin_mut() {
            Some(fut) => fut.poll(cx),
            None => Poll::Pending,
        }
    });
    match polled {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(out)) => {
            slot.set(None);
            Poll::Ready(Ok(out))
        }
        Err(message) => {
            let _ = guarded(|| slot.set(None));
            Poll::Ready(Err(message))
        }
    }
}
