//! Waiting for tokens: the FIFO queue and the [`Acquire`] future.
//!
//! Only the caller at the head of the queue books tokens (moves the TAT);
//! the others wait unbooked. So a caller that leaves the queue either holds
//! nothing or holds the *last* booking, which can always be refunded in
//! full. Booking at the head, then sleeping until the booked instant, keeps
//! the schedule on the TAT: a late timer does not push later callers back.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;
use sluicegate_rt::{Clock, Sleeper};

use crate::bucket::{Inner, TokenBucket};
use crate::error::InsufficientCapacity;
use crate::sync::Ordering;

#[derive(Debug, Default)]
pub(crate) struct Waiters {
    queue: VecDeque<(u64, Option<Waker>)>,
    next_id: u64,
    /// How late the last head was released, for the head after it (see
    /// `Gcra::reserve`); 0 when nobody was waiting behind it.
    credit: u64,
    /// Bumped by every `set_quota`: a head that booked under an older
    /// quota re-times its wait.
    pub(crate) generation: u64,
}

impl Waiters {
    fn is_head(&self, id: u64) -> bool {
        self.queue.front().is_some_and(|(head, _)| *head == id)
    }

    /// The head's waker.
    pub(crate) fn head_waker(&self) -> Option<Waker> {
        self.queue.front().and_then(|(_, w)| w.clone())
    }

    /// Removes `id`; returns the new head's waker if `id` was the head.
    fn remove(&mut self, id: u64) -> Option<Waker> {
        let was_head = self.is_head(id);
        self.queue.retain(|(w, _)| *w != id);
        if was_head {
            self.queue.front().and_then(|(_, w)| w.clone())
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Start,
    Queued {
        id: u64,
    },
    Booked {
        id: u64,
        end: u64,
        cost: u64,
        ready: u64,
        /// Credit left for the next head if this one passes at once.
        carry: u64,
        /// The quota generation it booked under.
        generation: u64,
    },
    Done,
}

pin_project! {
    /// The future of [`TokenBucket::acquire`]: resolves once the tokens are
    /// taken.
    ///
    /// Cancel-safe: dropping it leaves the queue, wakes the next caller and,
    /// if it had booked tokens, gives them back (unless something was booked
    /// after them).
    ///
    /// # Panics
    ///
    /// Polling it again after it completed panics, as for `async` blocks.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Acquire<C, S: Sleeper> {
        bucket: TokenBucket<C, S>,
        n: u32,
        step: Step,
        #[pin]
        sleep: Option<S::Sleep>,
    }

    impl<C, S: Sleeper> PinnedDrop for Acquire<C, S> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let counters = &this.bucket.inner.counters;
            let id = match *this.step {
                Step::Start | Step::Done => return,
                Step::Queued { id } => {
                    counters.unbooked.fetch_sub(u64::from(*this.n), Ordering::Relaxed);
                    id
                }
                Step::Booked { id, end, cost, .. } => {
                    if this.bucket.inner.gcra.refund(end, cost) {
                        counters.refunded();
                    }
                    id
                }
            };
            counters.cancelled.fetch_add(1, Ordering::Relaxed);
            leave(&this.bucket.inner, id, 0);
        }
    }
}

fn lock<C, S>(inner: &Inner<C, S>) -> MutexGuard<'_, Waiters> {
    inner.waiters.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes `id` out of the queue and wakes the next head, if any, handing it
/// `credit` (how late `id` was released).
fn leave<C, S>(inner: &Inner<C, S>, id: u64, credit: u64) {
    let next = {
        let mut waiters = lock(inner);
        let next = waiters.remove(id);
        waiters.credit = if waiters.queue.is_empty() { 0 } else { credit };
        next
    };
    inner.counters.waiting.fetch_sub(1, Ordering::Relaxed);
    if let Some(waker) = next {
        waker.wake();
    }
}

impl<C, S: Sleeper> Acquire<C, S> {
    pub(crate) fn new(bucket: TokenBucket<C, S>, n: u32) -> Self {
        Self {
            bucket,
            n,
            step: Step::Start,
            sleep: None,
        }
    }
}

impl<C: Clock, S: Sleeper> Future for Acquire<C, S> {
    type Output = Result<(), InsufficientCapacity>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let bucket = &*this.bucket;
        let inner = &bucket.inner;
        let n = *this.n;
        loop {
            match *this.step {
                Step::Start => {
                    if n == 0 {
                        *this.step = Step::Done;
                        return Poll::Ready(Ok(()));
                    }
                    // Never queue for what no wait can give.
                    let view = inner.gcra.view();
                    if crate::gcra::cost_of(n, view.interval, view.tolerance).is_none() {
                        *this.step = Step::Done;
                        return Poll::Ready(Err(InsufficientCapacity {
                            requested: n,
                            burst: view.burst,
                        }));
                    }
                    let mut waiters = lock(inner);
                    if waiters.queue.is_empty() {
                        match inner.gcra.try_admit(bucket.now_ns(), n) {
                            crate::gcra::Decision::Admit { .. } => {
                                *this.step = Step::Done;
                                inner.counters.admitted();
                                return Poll::Ready(Ok(()));
                            }
                            crate::gcra::Decision::Never { burst } => {
                                *this.step = Step::Done;
                                return Poll::Ready(Err(InsufficientCapacity {
                                    requested: n,
                                    burst,
                                }));
                            }
                            crate::gcra::Decision::Wait { .. } => {}
                        }
                    }
                    let id = waiters.next_id;
                    waiters.next_id += 1;
                    waiters.queue.push_back((id, Some(cx.waker().clone())));
                    inner.counters.waiting.fetch_add(1, Ordering::Relaxed);
                    inner
                        .counters
                        .unbooked
                        .fetch_add(u64::from(n), Ordering::Relaxed);
                    inner.counters.waited();
                    *this.step = Step::Queued { id };
                }
                Step::Queued { id } => {
                    let mut waiters = lock(inner);
                    if !waiters.is_head(id) {
                        if let Some((_, w)) = waiters.queue.iter_mut().find(|(w, _)| *w == id) {
                            match w {
                                Some(w) if w.will_wake(cx.waker()) => {}
                                _ => *w = Some(cx.waker().clone()),
                            }
                        }
                        return Poll::Pending;
                    }
                    let credit = std::mem::take(&mut waiters.credit);
                    let generation = waiters.generation;
                    drop(waiters);
                    inner
                        .counters
                        .unbooked
                        .fetch_sub(u64::from(n), Ordering::Relaxed);
                    let now = bucket.now_ns();
                    match inner.gcra.reserve(now, n, credit) {
                        Err(burst) => {
                            // The burst shrank below `n` while it waited.
                            *this.step = Step::Done;
                            inner.counters.cancelled.fetch_add(1, Ordering::Relaxed);
                            leave(inner, id, 0);
                            return Poll::Ready(Err(InsufficientCapacity {
                                requested: n,
                                burst,
                            }));
                        }
                        Ok((view, cost)) => {
                            let ready = view.tat.saturating_sub(view.tolerance);
                            *this.step = Step::Booked {
                                id,
                                end: view.tat,
                                cost,
                                ready,
                                // Passing at once on a credited booking keeps
                                // only the credit it did not use.
                                carry: now.saturating_sub(ready).min(credit),
                                generation,
                            };
                            if ready > now {
                                let at = bucket.instant_at(ready);
                                this.sleep.set(Some(inner.sleeper.sleep_until(at)));
                            }
                        }
                    }
                }
                Step::Booked {
                    id,
                    ready,
                    carry,
                    generation,
                    ..
                } => {
                    if lock(inner).generation != generation {
                        // `set_quota` ran while it waited: its booking was
                        // rescaled with the rest of the bucket. Wait for
                        // the new instant, never the old one.
                        let now = bucket.now_ns();
                        let view = inner.gcra.view();
                        let Some(cost) = crate::gcra::cost_of(n, view.interval, view.tolerance)
                        else {
                            *this.step = Step::Done;
                            this.sleep.set(None);
                            inner.counters.cancelled.fetch_add(1, Ordering::Relaxed);
                            leave(inner, id, 0);
                            return Poll::Ready(Err(InsufficientCapacity {
                                requested: n,
                                burst: view.burst,
                            }));
                        };
                        let ready = view.tat.saturating_sub(view.tolerance);
                        *this.step = Step::Booked {
                            id,
                            end: view.tat,
                            cost,
                            ready,
                            carry: 0,
                            generation: lock(inner).generation,
                        };
                        let sleep = (ready > now)
                            .then(|| inner.sleeper.sleep_until(bucket.instant_at(ready)));
                        this.sleep.set(sleep);
                        continue;
                    }
                    let mut lateness = carry;
                    if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
                        if sleep.poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        // Woken after its instant: the timer's lateness,
                        // handed to the next head so the queue keeps the rate.
                        lateness = bucket.now_ns().saturating_sub(ready);
                    }
                    this.sleep.set(None);
                    *this.step = Step::Done;
                    inner.counters.admitted();
                    inner
                        .counters
                        .served_after_wait
                        .fetch_add(1, Ordering::Relaxed);
                    leave(inner, id, lateness);
                    return Poll::Ready(Ok(()));
                }
                Step::Done => panic!("`Acquire` polled after completion"),
            }
        }
    }
}

impl<C, S: Sleeper> std::fmt::Debug for Acquire<C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acquire")
            .field("n", &self.n)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}
