//! [`Parallel`]: a bounded parallel step. K worker tasks, started through a
//! [`Spawner`], take items from a job queue; at most K items are in flight
//! (running, or done and waiting for their turn); results come back in
//! input order (a reorder window of K slots) or in completion order.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;
use futures_core::Stream;
use pin_project_lite::pin_project;
use sluicegate_rt::Spawner;

use super::ctx::{Ctx, Weighted, guarded};
use super::pull::{Pull, Sealed};
use crate::control::Control;
use crate::stats::StageCounters;

/// The order in which a parallel step passes its results on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Order {
    /// In input order (default): a result that finishes early waits in a
    /// reorder window of K slots for the ones before it, so a slow item
    /// holds back up to K-1 finished ones (and the intake).
    #[default]
    Input,
    /// In completion order: each result is passed on as soon as it is
    /// done; a slow item holds back nothing but its own slot.
    Completion,
}

/// The function a parallel step runs on each item, in a worker task. You
/// never implement it: [`Pipeline::parallel`](crate::Pipeline::parallel)
/// and [`Pipeline::try_parallel`](crate::Pipeline::try_parallel) wrap your
/// closure in [`Infallible`] or [`Fallible`].
pub trait TaskFn<T, E>: Send + Sync + 'static {
    /// What the task returns.
    type Output;
    /// The task's future.
    type Fut: Future<Output = Result<Self::Output, E>> + Send + 'static;
    /// Starts the task for `item`.
    fn call(&self, item: T) -> Self::Fut;
}

/// A closure `Fn(T) -> impl Future<Output = U>` as a [`TaskFn`].
#[derive(Debug, Clone, Copy)]
pub struct Infallible<F>(pub(crate) F);

impl<F, T, Fut, E> TaskFn<T, E> for Infallible<F>
where
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    E: 'static,
{
    type Output = Fut::Output;
    type Fut = AlwaysOkOutput<Fut, E>;

    fn call(&self, item: T) -> Self::Fut {
        AlwaysOkOutput::new((self.0)(item))
    }
}

/// A closure `Fn(T) -> impl Future<Output = Result<U, E>>` as a [`TaskFn`].
#[derive(Debug, Clone, Copy)]
pub struct Fallible<F>(pub(crate) F);

impl<F, T, Fut, U, E> TaskFn<T, E> for Fallible<F>
where
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
{
    type Output = U;
    type Fut = Fut;

    fn call(&self, item: T) -> Fut {
        (self.0)(item)
    }
}

pin_project! {
    /// Any future's output, as `Ok` (for [`Infallible`]).
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct AlwaysOkOutput<Fut, E> {
        #[pin]
        fut: Fut,
        _error: PhantomData<fn() -> E>,
    }
}

impl<Fut, E> AlwaysOkOutput<Fut, E> {
    fn new(fut: Fut) -> Self {
        Self {
            fut,
            _error: PhantomData,
        }
    }
}

impl<Fut: Future, E> Future for AlwaysOkOutput<Fut, E> {
    type Output = Result<Fut::Output, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().fut.poll(cx).map(Ok)
    }
}

impl<Fut, E> fmt::Debug for AlwaysOkOutput<Fut, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlwaysOkOutput").finish_non_exhaustive()
    }
}

/// One item for a worker: the slot its result goes to.
struct Job<T> {
    slot: usize,
    item: T,
}

/// A result: `Err(message)` if the task panicked.
struct Done<U, E> {
    slot: usize,
    result: Result<Result<U, E>, String>,
}

enum Slot<U, E> {
    Free,
    Running {
        items: u64,
    },
    Done {
        items: u64,
        result: Result<Result<U, E>, String>,
    },
}

/// The message for items whose worker task vanished (the executor dropped
/// it, e.g. while shutting down).
const LOST: &str = "the worker task was dropped before it finished the item";

pin_project! {
    /// The parallel step.
    #[must_use = "streams do nothing unless polled"]
    pub struct Parallel<S, T, G: TaskFn<T, E>, Sp, E> {
        #[pin]
        upstream: S,
        k: usize,
        order: Order,
        spawner: Sp,
        f: Arc<G>,
        ctx: Ctx<E>,
        slots: Vec<Slot<G::Output, E>>,
        free: Vec<usize>,
        next_seq: u64,
        next_out: u64,
        in_flight: usize,
        jobs: async_channel::Sender<Job<T>>,
        jobs_rx: async_channel::Receiver<Job<T>>,
        results: Option<Pin<Box<async_channel::Receiver<Done<G::Output, E>>>>>,
        upstream_done: bool,
    }
}

impl<S, T, G: TaskFn<T, E>, Sp, E> Parallel<S, T, G, Sp, E> {
    pub(crate) fn new(upstream: S, k: usize, order: Order, spawner: Sp, f: G, ctx: Ctx<E>) -> Self {
        let (jobs, jobs_rx) = async_channel::bounded(k.max(1));
        Self {
            upstream,
            k,
            order,
            spawner,
            f: Arc::new(f),
            ctx,
            slots: (0..k).map(|_| Slot::Free).collect(),
            free: (0..k).rev().collect(),
            next_seq: 0,
            next_out: 0,
            in_flight: 0,
            jobs,
            jobs_rx,
            results: None,
            upstream_done: false,
        }
    }
}

impl<S, T, G: TaskFn<T, E>, Sp, E> Sealed for Parallel<S, T, G, Sp, E> {}

impl<S, T, G, Sp, E> Pull for Parallel<S, T, G, Sp, E>
where
    S: Stream<Item = Weighted<T>>,
    T: Send + 'static,
    G: TaskFn<T, E>,
    G::Output: Send + 'static,
    Sp: Spawner,
    E: Send + 'static,
{
}

impl<S, T, G, Sp, E> Stream for Parallel<S, T, G, Sp, E>
where
    S: Stream<Item = Weighted<T>>,
    T: Send + 'static,
    G: TaskFn<T, E>,
    G::Output: Send + 'static,
    Sp: Spawner,
    E: Send + 'static,
{
    type Item = Weighted<G::Output>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if this.ctx.control.is_aborted() {
                return Poll::Pending;
            }
            // 1. In input order, pass on the next result if it is done.
            if *this.order == Order::Input {
                let at = (*this.next_out % *this.k as u64) as usize;
                if matches!(this.slots[at], Slot::Done { .. }) {
                    let Slot::Done { items, result } =
                        std::mem::replace(&mut this.slots[at], Slot::Free)
                    else {
                        unreachable!()
                    };
                    *this.next_out += 1;
                    *this.in_flight -= 1;
                    if let Some(out) = resolve(this.ctx, items, result) {
                        return Poll::Ready(Some(out));
                    }
                    continue;
                }
            }
            // 2. Feed the workers while there is room.
            while !*this.upstream_done
                && has_room(
                    *this.order,
                    *this.k,
                    this.in_flight,
                    this.next_seq,
                    this.next_out,
                )
            {
                match this.upstream.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Weighted { item, weight })) => {
                        // Held (and counted in) first: if the spawner
                        // panics below, the drop guard counts the item.
                        this.ctx.admit(weight);
                        let slot = match this.order {
                            Order::Input => (*this.next_seq % *this.k as u64) as usize,
                            Order::Completion => this.free.pop().unwrap_or_default(),
                        };
                        *this.next_seq += 1;
                        *this.in_flight += 1;
                        this.slots[slot] = Slot::Running { items: weight };
                        if this.results.is_none() {
                            *this.results = Some(Box::pin(spawn_workers(
                                this.spawner,
                                *this.k,
                                this.jobs_rx,
                                this.f,
                                &this.ctx.control,
                                &this.ctx.counters,
                            )));
                        }
                        // Room is guaranteed: at most K jobs exist.
                        let _ = this.jobs.try_send(Job { slot, item });
                    }
                    Poll::Ready(None) => *this.upstream_done = true,
                    Poll::Pending => break,
                }
            }
            // 3. Collect results.
            let Some(results) = this.results.as_mut() else {
                return if *this.upstream_done {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                };
            };
            if *this.in_flight == 0 {
                return if *this.upstream_done {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                };
            }
            match results.as_mut().poll_next(cx) {
                Poll::Ready(Some(Done { slot, result })) => {
                    let items = match this.slots[slot] {
                        Slot::Running { items } => items,
                        _ => continue, // already written off as lost
                    };
                    match this.order {
                        Order::Input => this.slots[slot] = Slot::Done { items, result },
                        Order::Completion => {
                            this.slots[slot] = Slot::Free;
                            this.free.push(slot);
                            *this.in_flight -= 1;
                            if let Some(out) = resolve(this.ctx, items, result) {
                                return Poll::Ready(Some(out));
                            }
                        }
                    }
                }
                Poll::Ready(None) => {
                    // Every worker is gone with items unfinished: fail them
                    // (the queued ones too, so none runs twice) and start
                    // fresh workers for the rest.
                    while this.jobs_rx.try_recv().is_ok() {}
                    for slot in 0..*this.k {
                        if let Slot::Running { items } = this.slots[slot] {
                            this.slots[slot] = Slot::Done {
                                items,
                                result: Err(LOST.to_owned()),
                            };
                        }
                    }
                    *this.results = None;
                    if *this.order == Order::Completion {
                        for slot in 0..*this.k {
                            if let Slot::Done { .. } = this.slots[slot] {
                                let Slot::Done { items, result } =
                                    std::mem::replace(&mut this.slots[slot], Slot::Free)
                                else {
                                    unreachable!()
                                };
                                this.free.push(slot);
                                *this.in_flight -= 1;
                                let _ = resolve(this.ctx, items, result);
                            }
                        }
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

fn has_room(order: Order, k: usize, in_flight: &usize, next_seq: &u64, next_out: &u64) -> bool {
    match order {
        Order::Input => next_seq - next_out < k as u64,
        Order::Completion => *in_flight < k,
    }
}

/// Counts a finished element and returns it if it is passed on.
fn resolve<U, E>(
    ctx: &mut Ctx<E>,
    items: u64,
    result: Result<Result<U, E>, String>,
) -> Option<Weighted<U>> {
    match result {
        Ok(Ok(out)) => {
            ctx.pass(items);
            Some(Weighted::new(out, items))
        }
        Ok(Err(error)) => {
            ctx.fail(items, error);
            None
        }
        Err(message) => {
            ctx.panic(items, message);
            None
        }
    }
}

fn spawn_workers<T, G, Sp, E>(
    spawner: &Sp,
    k: usize,
    jobs: &async_channel::Receiver<Job<T>>,
    f: &Arc<G>,
    control: &Arc<Control<E>>,
    counters: &Arc<StageCounters>,
) -> async_channel::Receiver<Done<G::Output, E>>
where
    T: Send + 'static,
    G: TaskFn<T, E>,
    G::Output: Send + 'static,
    Sp: Spawner,
    E: Send + 'static,
{
    let (tx, rx) = async_channel::unbounded();
    for _ in 0..k {
        spawner.spawn(worker(
            jobs.clone(),
            tx.clone(),
            Arc::clone(f),
            Arc::clone(control),
            Arc::clone(counters),
        ));
    }
    rx
}

/// One worker task: runs items until the job queue closes (the step is
/// done or dropped). A panic fails only its item.
async fn worker<T, G, E>(
    jobs: async_channel::Receiver<Job<T>>,
    results: async_channel::Sender<Done<G::Output, E>>,
    f: Arc<G>,
    control: Arc<Control<E>>,
    counters: Arc<StageCounters>,
) where
    G: TaskFn<T, E>,
{
    while let Ok(Job { slot, item }) = jobs.recv().await {
        if control.is_aborted() {
            // The run is over: the item is dropped, and the step counts
            // it as discarded.
            break;
        }
        // If the executor drops this task while it is on the item, the
        // item fails (as lost) instead of holding its slot for ever.
        let mut on_it = OnIt {
            results: &results,
            slot: Some(slot),
        };
        let start = control.now_if_timed(&counters);
        let result = match guarded(|| f.call(item)) {
            Ok(fut) => {
                let run = UntilAborted {
                    fut: CatchUnwind { fut },
                    control: &control,
                    listener: None,
                };
                match run.await {
                    Some(result) => result,
                    // Aborted: the task is dropped with its item, which
                    // the step counts as discarded.
                    None => {
                        on_it.slot = None;
                        break;
                    }
                }
            }
            Err(message) => Err(message),
        };
        if let Some(start) = start {
            if let Some(now) = control.now_if_timed(&counters) {
                counters.add_busy(now.saturating_duration_since(start));
            }
        }
        on_it.slot = None;
        if results.try_send(Done { slot, result }).is_err() {
            break;
        }
    }
}

pin_project! {
    struct CatchUnwind<Fut> {
        #[pin]
        fut: Fut,
    }
}

impl<Fut: Future> Future for CatchUnwind<Fut> {
    type Output = Result<Fut::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().fut;
        match guarded(|| fut.poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(message) => Poll::Ready(Err(message)),
        }
    }
}

/// A worker's item: reported as lost if the worker task is dropped (by
/// its executor) before it finished the item.
struct OnIt<'a, U, E> {
    results: &'a async_channel::Sender<Done<U, E>>,
    slot: Option<usize>,
}

impl<U, E> Drop for OnIt<'_, U, E> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let _ = self.results.try_send(Done {
                slot,
                result: Err(LOST.to_owned()),
            });
        }
    }
}

pin_project! {
    /// A task's future, dropped (resolving to `None`) once the run is
    /// aborted: an item the step counts as discarded does not go on
    /// running after the run is over.
    struct UntilAborted<'a, Fut, E> {
        #[pin]
        fut: Fut,
        control: &'a Control<E>,
        listener: Option<EventListener>,
    }
}

impl<Fut: Future, E> Future for UntilAborted<'_, Fut, E> {
    type Output = Option<Fut::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if this.control.is_aborted() {
                return Poll::Ready(None);
            }
            if let Poll::Ready(out) = this.fut.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            // Listen (only for a task that waits), then re-check the
            // state: an abort in between is seen.
            match this.listener {
                None => *this.listener = Some(this.control.event.listen()),
                Some(listener) => {
                    if Pin::new(listener).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *this.listener = None;
                }
            }
        }
    }
}

impl<S, T, G: TaskFn<T, E>, Sp, E> fmt::Debug for Parallel<S, T, G, Sp, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parallel")
            .field("stage", &self.ctx.counters.id())
            .field("k", &self.k)
            .field("order", &self.order)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}
