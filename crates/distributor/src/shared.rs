//! The state every handle and worker shares, and the shutdown protocol.
//!
//! - **Submits** pass the [`Gate`] (closed flag + submits in flight), then
//!   enqueue on the sluicegate-backpressure queue, which keeps the bound.
//! - **Closing** (shutdown, or the last handle dropped) shuts the gate and
//!   wakes the workers; a worker exits once the gate is *drained* (closed,
//!   no submit in flight) and the queue is empty, so everything queued runs.
//! - **Aborting** also raises `aborted`: running jobs are dropped at their
//!   next wake-up (counted cancelled) and workers exit. A job a worker took
//!   off the queue but had not started goes to `late`, to be handed back.
//! - **Finishing** (after the last worker left): drain the queue, then drop
//!   the pool's receiver. Any job enqueued in between reaches `late` through
//!   the queue's drop callback, and any submit still waiting fails with
//!   `Closed(job)`: every job is run, cancelled, or handed back.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use event_listener::Event;
use sluicegate_backpressure::{NoSleeper, Receiver, Sender};
use sluicegate_rt::{BoxFuture, SystemClock};

use crate::builder::CancelOn;
use crate::gate::{Gate, WorkerCount};
use crate::job::Entry;
use crate::stats::{Counters, Stats, Stopped};
use crate::worker;

pub(crate) type SpawnFn = Box<dyn Fn(BoxFuture) + Send + Sync>;
pub(crate) type OnPanic = Box<dyn Fn(&str) + Send + Sync>;
pub(crate) type OnError<E> = Box<dyn Fn(&E) + Send + Sync>;
pub(crate) type Late<T, E> = Arc<Mutex<Vec<Entry<T, E>>>>;

pub(crate) struct Shared<T, E, S> {
    pub(crate) tx: Sender<Entry<T, E>, SystemClock, NoSleeper>,
    pub(crate) rx: Mutex<Option<Receiver<Entry<T, E>>>>,
    pub(crate) late: Late<T, E>,
    pub(crate) sleeper: S,
    pub(crate) gate: Gate,
    pub(crate) workers: WorkerCount,
    pub(crate) aborted: AtomicBool,
    /// Wakes idle workers: closed, drained, aborted, shrunk.
    pub(crate) control: Event,
    /// Wakes running jobs' workers: aborted.
    pub(crate) abort: Event,
    /// A worker left.
    pub(crate) exited: Event,
    pub(crate) handles: AtomicUsize,
    pub(crate) counters: Counters,
    pub(crate) spawn: SpawnFn,
    pub(crate) on_panic: Option<OnPanic>,
    pub(crate) on_error: Option<OnError<E>>,
    pub(crate) cancel_on: CancelOn,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T, E, S> Shared<T, E, S>
where
    T: Send + 'static,
    E: Send + 'static,
    S: Send + Sync + 'static,
{
    /// Starts workers until the pool reaches its target size.
    pub(crate) fn grow(self: &Arc<Self>) {
        // At most the workers missing now: a spawner that drops the future
        // instead of running it (a runtime shutting down, say) makes the
        // worker leave at once, and `try_grow` alone would then succeed
        // forever, spinning here.
        let mut missing = self.workers.target().saturating_sub(self.workers.live());
        while missing > 0 && self.workers.try_grow() {
            missing -= 1;
            let rx = lock(&self.rx).clone();
            let Some(rx) = rx else {
                // Finished: no queue to work on.
                self.worker_left();
                return;
            };
            let guard = worker::LiveGuard::new(Arc::clone(self));
            (self.spawn)(Box::pin(worker::run(guard, rx)));
        }
    }
}

impl<T, E, S> Shared<T, E, S> {
    pub(crate) fn worker_left(&self) {
        self.workers.leave();
        self.exited.notify(usize::MAX);
    }

    /// Stops accepting jobs; workers drain the queue and exit.
    pub(crate) fn close(&self) {
        self.gate.close();
        self.control.notify(usize::MAX);
    }

    /// Stops accepting, cancels running jobs, stops the workers; the queue
    /// is kept for [`finish`](Self::finish) to hand back.
    pub(crate) fn abort(&self) {
        self.gate.close();
        self.aborted.store(true, Ordering::SeqCst);
        self.control.notify(usize::MAX);
        self.abort.notify(usize::MAX);
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// Waits until no worker is alive.
    pub(crate) async fn workers_gone(&self) {
        loop {
            let listener = self.exited.listen();
            if self.workers.live() == 0 {
                return;
            }
            listener.await;
        }
    }

    /// After the last worker left: hands back what is still queued and
    /// closes the queue for good.
    pub(crate) fn finish(&self) -> Stopped<T, E> {
        let mut back = Vec::new();
        if let Some(rx) = lock(&self.rx).take() {
            while let Ok(entry) = rx.try_recv() {
                back.push(entry);
            }
            // Closes the queue: waiting submits fail with `Closed(job)`,
            // and anything enqueued since the drain lands in `late`.
            drop(rx);
        }
        back.append(&mut lock(&self.late));
        self.counters
            .handed_back
            .fetch_add(back.len() as u64, Ordering::Relaxed);
        Stopped {
            handed_back: back.into_iter().map(Entry::into_job).collect(),
            stats: self.stats(),
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let q = self.tx.stats();
        let c = &self.counters;
        Stats {
            workers: self.workers.live(),
            running: c.running.load(Ordering::Acquire),
            queued: q.len,
            capacity: q.capacity,
            submitted: c.submitted.load(Ordering::Acquire),
            completed: c.completed.load(Ordering::Acquire),
            failed: c.failed.load(Ordering::Acquire),
            panicked: c.panicked.load(Ordering::Acquire),
            cancelled: c.cancelled.load(Ordering::Acquire),
            handed_back: c.handed_back.load(Ordering::Acquire),
            rejected: c.rejected.load(Ordering::Acquire),
            full_events: q.full_events,
            high_watermark: q.high_watermark,
        }
    }
}

/// Collects the jobs the queue lets go of when it closes (see the module
/// docs): they are handed back by `finish`, never dropped unseen.
pub(crate) fn collect_late<T, E>(late: &Late<T, E>) -> impl Fn(Entry<T, E>) + Send + Sync + 'static
where
    T: Send + 'static,
    E: Send + 'static,
{
    let late = Arc::clone(late);
    move |entry| lock(&late).push(entry)
}

impl<T, E, S> fmt::Debug for Shared<T, E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Distributor")
            .field("stats", &self.stats())
            .field("closed", &self.gate.is_closed())
            .field("aborted", &self.is_aborted())
            .finish_non_exhaustive()
    }
}
