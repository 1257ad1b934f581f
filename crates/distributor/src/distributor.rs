//! [`Distributor`]: the pool handle: submit, resize, stats, shutdown.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use sluicegate_backpressure::{NoSleeper, SendError};
use sluicegate_rt::Sleeper;

use crate::error::{ResizeError, SubmitError};
use crate::handle::{JobHandle, pair};
use crate::job::{Entry, IntoJob, Job};
use crate::shared::Shared;
use crate::stats::{Counters, Stats, Stopped};

/// A bounded, cancelable pool of workers running async jobs; cheap to
/// [`Clone`] (every clone is a handle to the same pool). Made by
/// [`builder`](crate::builder).
///
/// A job is any `Send + 'static` future yielding `Result<T, E>` (see
/// [`IntoJob`]). Jobs wait in a bounded queue of the builder's capacity;
/// the builder's number of workers take them in order.
///
/// Dropping the last handle closes the pool as
/// [`shutdown`](Distributor::shutdown) does, without waiting: the workers
/// run what is queued, then exit, and no task is left behind.
pub struct Distributor<T, E, S = NoSleeper> {
    shared: Arc<Shared<T, E, S>>,
}

/// Leaves the gate when a submit ends (or its future is dropped), waking
/// the workers if this was the last submit of a closed pool.
struct Pass<'a, T, E, S>(&'a Shared<T, E, S>);

impl<T, E, S> Drop for Pass<'_, T, E, S> {
    fn drop(&mut self) {
        if self.0.gate.leave() {
            self.0.control.notify(usize::MAX);
        }
    }
}

impl<T, E, S> Distributor<T, E, S> {
    pub(crate) fn new(shared: Arc<Shared<T, E, S>>) -> Self {
        Self { shared }
    }

    fn enter(&self) -> Option<Pass<'_, T, E, S>> {
        let entered = self.shared.gate.enter();
        let pass = Pass(&self.shared);
        if entered {
            Some(pass)
        } else {
            Counters::bump(&self.shared.counters.rejected);
            None
        }
    }

    fn taken(&self) {
        Counters::bump(&self.shared.counters.submitted);
    }

    fn refused(&self, e: SendError<Entry<T, E>>) -> SubmitError<Job<T, E>> {
        Counters::bump(&self.shared.counters.rejected);
        match e {
            SendError::Full(entry) => SubmitError::Full(entry.into_job()),
            SendError::Closed(entry) => SubmitError::Closed(entry.into_job()),
        }
    }

    fn try_enqueue(&self, entry: Entry<T, E>) -> Result<(), SubmitError<Job<T, E>>> {
        let Some(_pass) = self.enter() else {
            return Err(SubmitError::Closed(entry.into_job()));
        };
        match self.shared.tx.try_send(entry) {
            Ok(()) => {
                self.taken();
                Ok(())
            }
            Err(e) => Err(self.refused(e)),
        }
    }

    async fn enqueue(&self, entry: Entry<T, E>) -> Result<(), SubmitError<Job<T, E>>> {
        let Some(_pass) = self.enter() else {
            return Err(SubmitError::Closed(entry.into_job()));
        };
        match self.shared.tx.send(entry).await {
            Ok(()) => {
                self.taken();
                Ok(())
            }
            Err(e) => Err(self.refused(e)),
        }
    }

    /// Queues `job` if a slot is free now; never waits.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] when every slot is taken (a
    /// [full event](Stats::full_events)); [`SubmitError::Closed`] once the
    /// pool is stopped. Either way the job is handed back, boxed as a
    /// [`Job`] (submit it again, or await it yourself).
    pub fn try_submit(&self, job: impl IntoJob<T, E>) -> Result<(), SubmitError<Job<T, E>>> {
        self.try_enqueue(Entry {
            job: job.into_job(),
            reply: None,
        })
    }

    /// Like [`try_submit`](Distributor::try_submit), with a [`JobHandle`]
    /// to await the job's result.
    ///
    /// # Errors
    ///
    /// As [`try_submit`](Distributor::try_submit).
    pub fn try_submit_with_handle(
        &self,
        job: impl IntoJob<T, E>,
    ) -> Result<JobHandle<T, E>, SubmitError<Job<T, E>>> {
        let (reply, handle) = pair();
        self.try_enqueue(Entry {
            job: job.into_job(),
            reply: Some(reply),
        })?;
        Ok(handle)
    }

    /// Queues `job`, waiting while the queue is full: this is the
    /// backpressure. Finding the queue full counts one
    /// [full event](Stats::full_events).
    ///
    /// Cancel-safe: dropping the future before it resolves drops the job
    /// unqueued and uncounted, and takes no slot.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] with the job once the pool is stopped
    /// (including while this call waits, if the pool is aborted).
    pub async fn submit(&self, job: impl IntoJob<T, E>) -> Result<(), SubmitError<Job<T, E>>> {
        self.enqueue(Entry {
            job: job.into_job(),
            reply: None,
        })
        .await
    }

    /// Like [`submit`](Distributor::submit), with a [`JobHandle`] to await
    /// the job's result.
    ///
    /// ```
    /// # use sluicegate_distributor::rt::BoxFuture;
    /// # let spawner = |f: BoxFuture| { std::thread::spawn(move || sluicegate_distributor::rt::block_on(f)); };
    /// let pool = sluicegate_distributor::builder::<u32, String>(1, 4).build(spawner)?;
    /// sluicegate_distributor::rt::block_on(async {
    ///     let handle = pool.submit_with_handle(async { Ok(6 * 7) }).await?;
    ///     assert_eq!(handle.await, Ok(42));
    ///     Ok::<(), Box<dyn std::error::Error>>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`submit`](Distributor::submit).
    pub async fn submit_with_handle(
        &self,
        job: impl IntoJob<T, E>,
    ) -> Result<JobHandle<T, E>, SubmitError<Job<T, E>>> {
        let (reply, handle) = pair();
        self.enqueue(Entry {
            job: job.into_job(),
            reply: Some(reply),
        })
        .await?;
        Ok(handle)
    }

    /// Sets the number of workers. Growing starts the new workers at once;
    /// shrinking lets the surplus workers exit as soon as they are idle or
    /// done with their current job (no job is interrupted).
    ///
    /// # Errors
    ///
    /// [`ResizeError::ZeroWorkers`], [`ResizeError::TooManyWorkers`];
    /// [`ResizeError::Stopped`] once the pool is shutting down, aborted or
    /// cancelled.
    pub fn resize(&self, workers: usize) -> Result<(), ResizeError>
    where
        T: Send + 'static,
        E: Send + 'static,
        S: Send + Sync + 'static,
    {
        if workers == 0 {
            return Err(ResizeError::ZeroWorkers);
        }
        if workers > crate::MAX_WORKERS {
            return Err(ResizeError::TooManyWorkers(workers));
        }
        if self.shared.gate.is_closed() {
            return Err(ResizeError::Stopped);
        }
        self.shared.workers.set_target(workers);
        self.shared.grow();
        self.shared.control.notify(usize::MAX);
        Ok(())
    }

    /// The number of workers the pool is sized for (workers alive may lag
    /// behind a shrink until they finish their current job).
    pub fn workers(&self) -> usize {
        self.shared.workers.target()
    }

    /// A snapshot of the pool's counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Whether the pool has stopped accepting jobs: shut down, aborted or
    /// cancelled.
    pub fn is_closed(&self) -> bool {
        self.shared.gate.is_closed()
    }

    /// Graceful shutdown: stops accepting jobs, lets the workers run
    /// everything queued (and the submits already waiting), and waits until
    /// every worker has exited.
    ///
    /// [`Stopped::handed_back`] is empty unless the pool was
    /// [cancelled](crate::CancelOn) or aborted first, in which case the
    /// queued jobs could not run and come back. Calling it again (or from
    /// another clone) waits for the same end.
    pub async fn shutdown(&self) -> Stopped<T, E> {
        self.shared.close();
        self.shared.workers_gone().await;
        self.shared.finish()
    }

    /// Aborts: stops accepting jobs, cancels the running jobs (each is
    /// dropped at its next wake-up and counted
    /// [cancelled](Stats::cancelled)), waits for the workers to exit, and
    /// hands back every job still queued.
    pub async fn abort(&self) -> Stopped<T, E> {
        self.shared.abort();
        self.shared.workers_gone().await;
        self.shared.finish()
    }
}

impl<T, E, S: Sleeper> Distributor<T, E, S> {
    /// Like [`submit`](Distributor::submit), but gives up after `timeout`
    /// (measured by the builder's [`Sleeper`]) and hands the job back.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Timeout`] or [`SubmitError::Closed`], with the job.
    pub async fn submit_timeout(
        &self,
        job: impl IntoJob<T, E>,
        timeout: Duration,
    ) -> Result<(), SubmitError<Job<T, E>>> {
        let entry = Entry {
            job: job.into_job(),
            reply: None,
        };
        let Some(_pass) = self.enter() else {
            return Err(SubmitError::Closed(entry.into_job()));
        };
        // The send is tried before the timer at every wake-up, so a slot
        // that comes free by the deadline is taken.
        let mut send = Some(self.shared.tx.send(entry));
        let mut sleep = pin!(self.shared.sleeper.sleep(timeout));
        let result = poll_fn(|cx| {
            let Some(pending) = send.as_mut() else {
                return Poll::Pending; // already resolved; not polled again
            };
            if let Poll::Ready(result) = Pin::new(pending).poll(cx) {
                return Poll::Ready(result);
            }
            if sleep.as_mut().poll(cx).is_ready() {
                if let Some(entry) = send.take().and_then(|s| s.into_inner()) {
                    return Poll::Ready(Err(SendError::Full(entry)));
                }
            }
            Poll::Pending
        })
        .await;
        match result {
            Ok(()) => {
                self.taken();
                Ok(())
            }
            // `Full` here means the deadline passed: the queue's policy is
            // `Block`, so its own sends never return `Full`.
            Err(SendError::Full(entry)) => {
                Counters::bump(&self.shared.counters.rejected);
                Err(SubmitError::Timeout(entry.into_job()))
            }
            Err(e) => Err(self.refused(e)),
        }
    }

    /// Graceful shutdown with a deadline: as
    /// [`shutdown`](Distributor::shutdown) until `timeout` has passed (on
    /// the builder's [`Sleeper`]); then as [`abort`](Distributor::abort):
    /// running jobs are cancelled and every job still queued is handed back
    /// in [`Stopped::handed_back`], never dropped.
    pub async fn shutdown_timeout(&self, timeout: Duration) -> Stopped<T, E> {
        self.shared.close();
        let mut gone = pin!(self.shared.workers_gone());
        let mut sleep = pin!(self.shared.sleeper.sleep(timeout));
        let in_time = poll_fn(|cx| {
            if gone.as_mut().poll(cx).is_ready() {
                return Poll::Ready(true);
            }
            sleep.as_mut().poll(cx).map(|()| false)
        })
        .await;
        if !in_time {
            self.shared.abort();
            self.shared.workers_gone().await;
        }
        self.shared.finish()
    }
}

impl<T, E, S> Clone for Distributor<T, E, S> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self::new(Arc::clone(&self.shared))
    }
}

impl<T, E, S> Drop for Distributor<T, E, S> {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl<T, E, S> fmt::Debug for Distributor<T, E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.shared, f)
    }
}
