//! [`Shared`]: the state a fan-out's tasks and its output share: the
//! worker queues, the output queue, the cancel flag, the counters.

use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use event_listener::{Event, EventListener};

use super::queue::Queue;
use super::stats::{Counters, bump};
use crate::error::FanOutError;

/// A result (or error) on its way to the output.
pub(crate) type Outcome<U, T> = Result<U, FanOutError<T>>;

/// The feeder's sender id in the worker queues.
pub(crate) const FEEDER: usize = 0;
/// The output's receiver id in the output queue.
pub(crate) const OUTPUT: usize = 0;

pub(crate) struct Shared<T, U> {
    pub(crate) counters: Arc<Counters>,
    /// The worker queues: one, shared by every worker, or one per worker
    /// (keyed). The feeder waits for room until a queue is half empty, so
    /// it refills in runs rather than being woken for every item taken.
    pub(crate) queues: Box<[Queue<T>]>,
    /// Per queue: workers whose task has not been dropped or exited. The
    /// last one to go closes the queue and hands back what is in it.
    staffed: Box<[AtomicUsize]>,
    /// The outcomes on their way to the output; senders are the workers
    /// (`0..workers`) and the feeder (`workers`).
    pub(crate) out: Queue<Outcome<U, T>>,
    cancelled: AtomicBool,
    /// Whether handed-back items are kept for [`FanOut::cancel`]
    /// (false once the output is dropped: nobody could take them).
    keep: AtomicBool,
    cancel: Event,
    returned: Mutex<Vec<T>>,
}

impl<T, U> Shared<T, U> {
    /// `workers` workers sharing one queue, or (`keyed`) each with its
    /// own, of `capacity` each; an output queue of `output_capacity`.
    pub(crate) fn new(
        counters: Arc<Counters>,
        workers: usize,
        keyed: bool,
        capacity: usize,
        output_capacity: usize,
    ) -> Self {
        let (n, per_queue) = if keyed { (workers, 1) } else { (1, workers) };
        Self {
            counters,
            queues: (0..n)
                .map(|_| Queue::new(capacity, capacity / 2, 1, per_queue))
                .collect(),
            staffed: (0..n).map(|_| AtomicUsize::new(per_queue)).collect(),
            out: Queue::new(output_capacity, output_capacity - 1, workers + 1, 1),
            cancelled: AtomicBool::new(false),
            keep: AtomicBool::new(true),
            cancel: Event::new(),
            returned: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// A listener that fires on cancel; check
    /// [`is_cancelled`](Self::is_cancelled) after making it.
    pub(crate) fn listen(&self) -> EventListener {
        self.cancel.listen()
    }

    /// Stops the feeder, closes the queues (waking a blocked feeder and
    /// idle workers) and makes workers hand back what is still queued.
    /// With `keep == false` (the output is gone) handed-back items are
    /// dropped at once. Idempotent.
    pub(crate) fn cancel(&self, keep: bool) {
        if !keep {
            self.keep.store(false, Ordering::Release);
            drop(std::mem::take(&mut *self.lock_returned()));
        }
        self.cancelled.store(true, Ordering::Release);
        for q in &*self.queues {
            q.close();
        }
        self.cancel.notify(usize::MAX);
    }

    /// An item taken from the input that will never be started.
    pub(crate) fn hand_back(&self, item: T) {
        bump(&self.counters.abandoned);
        if self.keep.load(Ordering::Acquire) {
            self.lock_returned().push(item);
        }
    }

    /// An item for `worker` that it will never start (its task gone, or
    /// the feeder's that held it): handed back to a cancel under way, or
    /// in the output ([`FanOutError::Unstarted`]). From a dropped task's
    /// guard: it does not wait for room in the output.
    pub(crate) fn not_started(&self, worker: usize, item: T) {
        if self.is_cancelled() {
            self.hand_back(item);
        } else {
            bump(&self.counters.unstarted);
            self.emit(Err(FanOutError::Unstarted { worker, item }));
        }
    }

    pub(crate) fn take_returned(&self) -> Vec<T> {
        std::mem::take(&mut *self.lock_returned())
    }

    /// A worker of queue `q` is gone (exited or dropped). Returns true for
    /// the last one: the caller then closes the queue (the feeder gets
    /// later items back) and drains it.
    pub(crate) fn leave(&self, q: usize) -> bool {
        self.staffed[q].fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// Sends `*pending` into the output, waiting for room, as sender
    /// `id`; the outcome stays in `*pending` (where a dropped task's guard
    /// finds it) until it is in the queue. Returns false, with `*pending`
    /// dropped and counted as discarded, if the output is gone.
    pub(crate) fn send_out<'a>(
        &'a self,
        id: usize,
        pending: &'a mut Option<Outcome<U, T>>,
    ) -> impl Future<Output = bool> + 'a {
        poll_fn(move |cx| {
            self.out.poll_push(id, pending, cx).map(|sent| {
                if !sent {
                    drop(pending.take());
                    bump(&self.counters.discarded);
                }
                sent
            })
        })
    }

    /// From a dropped task's guard (which cannot wait): puts `outcome` in
    /// the output whatever its capacity; counts it as discarded if the
    /// output is gone.
    pub(crate) fn emit(&self, outcome: Outcome<U, T>) {
        if let Err(outcome) = self.out.force_push(outcome) {
            bump(&self.counters.discarded);
            drop(outcome);
        }
    }

    fn lock_returned(&self) -> MutexGuard<'_, Vec<T>> {
        self.returned.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts a task as exited when dropped (finished or dropped by its
/// executor). Made before the task is spawned and moved in (inside its
/// guard) as an argument of its async fn, so that it is dropped with the
/// future even if the executor never polls it (an async fn's body, and any
/// guard made in it, does not run until the first poll).
pub(crate) struct Alive(pub(crate) Arc<Counters>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::AcqRel);
    }
}
