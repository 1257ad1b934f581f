//! Errors: a pool that cannot be built ([`ConfigError`]), a resize that
//! cannot happen ([`ResizeError`]), jobs handed back ([`SubmitError`]) and
//! the fate of a job awaited through its handle ([`JobError`]).

use std::fmt;

/// A setting that cannot work, reported by
/// [`Builder::build`](crate::Builder::build).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A pool without workers would never run a job.
    #[error("a pool needs at least 1 worker")]
    ZeroWorkers,
    /// More workers than [`MAX_WORKERS`](crate::MAX_WORKERS): every worker
    /// is a task started at once, so an absurd count would spawn without
    /// end instead of failing.
    #[error("a pool takes at most {max} workers, got {0}", max = crate::MAX_WORKERS)]
    TooManyWorkers(usize),
    /// A queue with no slot could never accept a job.
    #[error("queue capacity must be at least 1")]
    ZeroCapacity,
}

/// Why [`resize`](crate::Distributor::resize) did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResizeError {
    /// A pool without workers would never run a job.
    #[error("a pool needs at least 1 worker")]
    ZeroWorkers,
    /// More workers than [`MAX_WORKERS`](crate::MAX_WORKERS).
    #[error("a pool takes at most {max} workers, got {0}", max = crate::MAX_WORKERS)]
    TooManyWorkers(usize),
    /// The pool is shutting down, aborted or cancelled.
    #[error("the pool is stopped")]
    Stopped,
}

/// A job that was not taken, handed back to the caller.
///
/// Which variants a method returns is listed in its docs; each is counted
/// in [`Stats::rejected`](crate::Stats::rejected).
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError<J> {
    /// Every slot of the queue was taken
    /// ([`try_submit`](crate::Distributor::try_submit)).
    #[error("submitting to a full pool")]
    Full(J),
    /// The pool no longer accepts jobs: shut down, aborted or cancelled.
    #[error("submitting to a stopped pool")]
    Closed(J),
    /// No slot came free before the deadline
    /// ([`submit_timeout`](crate::Distributor::submit_timeout)).
    #[error("timed out waiting for room in the pool")]
    Timeout(J),
}

impl<J> SubmitError<J> {
    /// The job that was not taken.
    pub fn into_inner(self) -> J {
        match self {
            Self::Full(job) | Self::Closed(job) | Self::Timeout(job) => job,
        }
    }

    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the pool was stopped.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }

    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }
}

impl<J> fmt::Debug for SubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
            Self::Timeout(_) => f.write_str("Timeout(..)"),
        }
    }
}

/// How a job awaited through a [`JobHandle`](crate::JobHandle) ended, when
/// it did not return `Ok`.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError<E> {
    /// The job returned `Err(e)`; counted in
    /// [`Stats::failed`](crate::Stats::failed).
    #[error("the job failed")]
    Failed(E),
    /// The job panicked, with this message; counted in
    /// [`Stats::panicked`](crate::Stats::panicked).
    #[error("the job panicked: {0}")]
    Panicked(String),
    /// The job was running when the pool was aborted (or cancelled); counted
    /// in [`Stats::cancelled`](crate::Stats::cancelled).
    #[error("the job was cancelled")]
    Cancelled,
    /// The job never ran: it was handed back by a shutdown or an abort, or
    /// dropped with a cancelled pool.
    #[error("the job was not run")]
    NotRun,
}

impl<E> JobError<E> {
    /// The job's own error, if it returned one.
    pub fn into_failed(self) -> Option<E> {
        match self {
            Self::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the job panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Self::Panicked(_))
    }

    /// Whether the job was cancelled while running.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }
}

impl<E> fmt::Debug for JobError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(_) => f.write_str("Failed(..)"),
            Self::Panicked(msg) => f.debug_tuple("Panicked").field(msg).finish(),
            Self::Cancelled => f.write_str("Cancelled"),
            Self::NotRun => f.write_str("NotRun"),
        }
    }
}
