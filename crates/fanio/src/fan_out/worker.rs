//! The worker task: takes items from its queue one at a time and runs the
//! worker function on each, catching panics. (Taking a lone worker's
//! whole queue in one run was measured: fewer instructions, but a slower
//! one-worker fan-out on a two-thread runtime.) Its state lives in a
//! [`Worker`] guard, so that if the executor drops the task (a runtime
//! shutting down, an aborted handle) nothing is lost silently: the item it
//! was running is reported, a result waiting for room in the output is
//! still delivered, and the last worker of a queue hands back what is left
//! in it.

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::shared::{Alive, Outcome, Shared};
use super::stats::{add_one, bump};
use crate::error::FanOutError;
use crate::unwind::{CatchUnwind, catch};

/// A worker task's state, made before the task is spawned.
pub(crate) struct Worker<T, U> {
    /// Dropped first, after `drop` has settled everything else; the
    /// output ends after that (see `drop`): once it has ended, every task
    /// counts as exited.
    pub(crate) alive: Option<Alive>,
    pub(crate) index: usize,
    /// The queue it takes from (`index` when keyed, or 0, the shared
    /// queue).
    pub(crate) q: usize,
    /// Its receiver id in that queue (`index` in the shared queue, or 0).
    pub(crate) rid: usize,
    pub(crate) shared: Arc<Shared<T, U>>,
    /// Whether the worker function is running an item.
    pub(crate) running: bool,
    /// An outcome waiting for room in the output.
    pub(crate) pending: Option<Outcome<U, T>>,
}

pub(crate) async fn run<T, U, F, Fut>(mut w: Worker<T, U>, f: Arc<F>)
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = U>,
{
    let shared = Arc::clone(&w.shared);
    let c = &shared.counters.workers[w.index];
    let queue = &shared.queues[w.q];
    let rid = w.rid;
    // Ends when the feeder is gone and the queue is drained, or at once
    // after a cancel has closed it and it is drained.
    while let Some(item) = poll_fn(|cx| queue.poll_pop(rid, cx)).await {
        if shared.is_cancelled() {
            shared.hand_back(item);
            continue;
        }
        add_one(&c.started);
        c.busy.store(true, Ordering::Relaxed);
        w.running = true;
        let result = match catch(|| f(item)) {
            Ok(fut) => CatchUnwind::new(fut).await,
            Err(message) => Err(message),
        };
        w.running = false;
        c.busy.store(false, Ordering::Relaxed);
        w.pending = Some(match result {
            Ok(out) => {
                add_one(&c.completed);
                Ok(out)
            }
            Err(message) => {
                bump(&c.panicked);
                Err(FanOutError::WorkerPanicked {
                    worker: w.index,
                    message,
                })
            }
        });
        // Counts the outcome as discarded if the output is gone.
        shared.send_out(w.index, &mut w.pending).await;
    }
}

impl<T, U> Drop for Worker<T, U> {
    fn drop(&mut self) {
        let shared = &*self.shared;
        let c = &shared.counters.workers[self.index];
        if self.running {
            // Dropped by the executor in the middle of an item: the item
            // went into the worker function and is gone.
            c.busy.store(false, Ordering::Relaxed);
            bump(&c.lost);
            shared.emit(Err(FanOutError::WorkerDropped { worker: self.index }));
        }
        if let Some(outcome) = self.pending.take() {
            shared.emit(outcome);
        }
        let queue = &shared.queues[self.q];
        queue.receiver_done(self.rid);
        if shared.leave(self.q) {
            // No worker left for this queue: close it (the feeder gets
            // later items back) and hand back what it holds. After a
            // normal exit it is empty already.
            queue.close();
            while let Some(item) = queue.try_pop() {
                shared.not_started(self.index, item);
            }
        }
        drop(self.alive.take());
        shared.out.sender_done(self.index);
    }
}
