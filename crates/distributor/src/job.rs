//! [`Job`]: one unit of work, a boxed future; [`IntoJob`]: what
//! [`submit`](crate::Distributor::submit) accepts.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use crate::handle::Reply;

/// The boxed future inside a [`Job`].
pub type JobFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

/// One unit of work: a boxed `Send` future that yields `Result<T, E>`.
///
/// A future does nothing until polled, so a job runs only when a worker
/// takes it. `Ok` counts as [completed](crate::Stats::completed), `Err` as
/// [failed](crate::Stats::failed).
///
/// Jobs come back to the caller when the pool cannot take or run them
/// ([`SubmitError`](crate::SubmitError),
/// [`Stopped::handed_back`](crate::Stopped::handed_back)); such a job can be
/// submitted again or awaited in place (`Job` is [`IntoFuture`]).
///
/// ```
/// use sluicegate_distributor::Job;
///
/// let job: Job<u32, ()> = Job::new(async { Ok(7) });
/// assert_eq!(sluicegate_distributor::rt::block_on(async { job.await }), Ok(7));
/// ```
pub struct Job<T, E> {
    fut: JobFuture<T, E>,
}

impl<T, E> Job<T, E> {
    /// Boxes `fut` as a job.
    pub fn new<F>(fut: F) -> Self
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        Self { fut: Box::pin(fut) }
    }
}

impl<T, E> IntoFuture for Job<T, E> {
    type Output = Result<T, E>;
    type IntoFuture = JobFuture<T, E>;

    fn into_future(self) -> JobFuture<T, E> {
        self.fut
    }
}

impl<T, E> fmt::Debug for Job<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Job(..)")
    }
}

/// What [`submit`](crate::Distributor::submit) and friends accept: any
/// `Send + 'static` future yielding `Result<T, E>` (an `async move { .. }`
/// block), or a [`Job`] handed back earlier.
pub trait IntoJob<T, E> {
    /// Boxes `self` as a job (a [`Job`] is passed through as it is).
    fn into_job(self) -> Job<T, E>;
}

impl<T, E, F> IntoJob<T, E> for F
where
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    fn into_job(self) -> Job<T, E> {
        Job::new(self)
    }
}

impl<T, E> IntoJob<T, E> for Job<T, E> {
    fn into_job(self) -> Job<T, E> {
        self
    }
}

/// A queued job and, if the submitter asked for a handle, where its result
/// goes.
pub(crate) struct Entry<T, E> {
    pub(crate) job: Job<T, E>,
    pub(crate) reply: Option<Reply<T, E>>,
}

impl<T, E> Entry<T, E> {
    /// Hands the job back; a handle (if any) resolves to
    /// [`JobError::NotRun`](crate::JobError::NotRun).
    pub(crate) fn into_job(self) -> Job<T, E> {
        self.job
    }
}
