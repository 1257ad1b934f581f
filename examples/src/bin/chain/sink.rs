//! The end of the chain: what a distributor job does with one request.
//! It writes the request's row to SQLite through `sluicegate::retry`,
//! classifies the errors, counts the retries by cause, and records the
//! latency from admission to commit.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sluicegate::retry::{Jitter, Policy, PolicyError, RetryError};
use sluicegate::rt::TokioSleeper;
use sluicegate_examples::db::{Row, Store, WriteError, Writer};

use crate::traffic::Counters;

/// First retry delay. A commit holds SQLite's write lock for tens of
/// microseconds, so a millisecond (tokio's timer resolution) is plenty.
const RETRY_BASE: Duration = Duration::from_millis(1);
/// Longest retry delay.
const RETRY_CAP: Duration = Duration::from_millis(100);
/// Latencies above this (an hour, in microseconds) are recorded as this.
const LATENCY_MAX_US: u64 = 3_600_000_000;

/// One admitted request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    pub(crate) id: u64,
    pub(crate) client: u32,
    /// When it entered the queue: latency is measured from here.
    pub(crate) admitted_at: Instant,
}

/// Why one write attempt failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteFailure {
    /// From SQLite: `Busy` (another connection holds the write lock) is
    /// transient, anything else permanent.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A simulated transient error (`--failure-rate`), raised *before*
    /// touching the database, like a connection reset on the way there. It
    /// never hides a committed write, so a failed request has no row.
    #[error("connection reset (injected failure)")]
    Injected,
    /// Opening a connection failed: permanent.
    #[error("cannot open a connection: {0}")]
    Open(#[source] rusqlite::Error),
    /// The blocking write panicked: permanent.
    #[error("the write panicked")]
    Panicked,
}

impl WriteFailure {
    /// What the retry's `.when(..)` asks: is another attempt worth it?
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Write(e) => e.is_transient(),
            Self::Injected => true,
            Self::Open(_) | Self::Panicked => false,
        }
    }
}

/// Writer connections, checked out for one attempt at a time. A job does
/// not know which worker runs it, so rather than one connection per worker
/// the jobs share a small pool; since at most `workers` attempts run at
/// once, it holds `workers` connections (a new one is opened only if one
/// was lost to a panic).
#[derive(Debug)]
pub(crate) struct Writers {
    store: Store,
    idle: Mutex<Vec<Writer>>,
}

impl Writers {
    /// Opens `n` connections up front, so a bad path fails before the run.
    pub(crate) fn open(store: Store, n: usize) -> rusqlite::Result<Self> {
        let idle = (0..n)
            .map(|_| store.writer())
            .collect::<rusqlite::Result<_>>()?;
        Ok(Self {
            store,
            idle: Mutex::new(idle),
        })
    }

    fn checkout(&self) -> Result<Writer, WriteFailure> {
        match lock(&self.idle).pop() {
            Some(writer) => Ok(writer),
            None => self.store.writer().map_err(WriteFailure::Open),
        }
    }

    fn checkin(&self, writer: Writer) {
        lock(&self.idle).push(writer);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the jobs share.
pub(crate) struct Sink {
    writers: Writers,
    policy: Policy,
    failure_rate: f64,
    seed: u64,
    counters: Arc<Counters>,
    /// Admission to commit, in microseconds, of every success.
    latency: Mutex<Histogram<u64>>,
    /// The first permanent error, for the report.
    first_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("policy", &self.policy)
            .field("failure_rate", &self.failure_rate)
            .finish_non_exhaustive()
    }
}

/// The retry policy: exponential from 1 ms, doubling, capped at 100 ms,
/// with full jitter. With the default 10 attempts the delays add up to at
/// most 327 ms (half that on average): more than a commit ever holds the
/// lock, even on a loaded machine where the holder is descheduled for tens
/// of milliseconds.
///
/// Not seeded, even with `--seed`: a seeded policy draws the same delays for
/// every retry, so two writers that collided would wait exactly as long and
/// collide again. Jitter exists to spread them apart.
pub(crate) fn policy(max_attempts: u32) -> Result<Policy, PolicyError> {
    Policy::exponential(RETRY_BASE)
        .factor(2.0)
        .max_delay(RETRY_CAP)
        .jitter(Jitter::Full)
        .max_attempts(max_attempts)
        .build()
}

impl Sink {
    pub(crate) fn new(
        writers: Writers,
        policy: Policy,
        failure_rate: f64,
        seed: u64,
        counters: Arc<Counters>,
    ) -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            writers,
            policy,
            failure_rate,
            seed,
            counters,
            latency: Mutex::new(Histogram::new_with_bounds(1, LATENCY_MAX_US, 3)?),
            first_error: Mutex::new(None),
        })
    }

    /// The distributor job for `request`.
    pub(crate) fn job(
        self: &Arc<Self>,
        request: Request,
    ) -> impl Future<Output = Result<(), RetryError<WriteFailure>>> + Send + 'static {
        let sink = Arc::clone(self);
        async move { sink.write(request).await }
    }

    /// Writes one request's row, retrying transient failures, and counts
    /// how it ended: each admitted request ends here exactly once.
    async fn write(&self, request: Request) -> Result<(), RetryError<WriteFailure>> {
        let row = Row {
            id: request.id,
            client: request.client,
            payload: format!("request {} from client {}", request.id, request.client),
        };
        // Injected failures are drawn per request from the run's seed, so a
        // given seed fails the same attempts of the same requests.
        let mut rng = SmallRng::seed_from_u64(crate::mix(self.seed, request.id));
        let mut attempt = 0;
        let counters = &self.counters;
        let report = self
            .policy
            .retry(|| {
                attempt += 1;
                let inject = rng.random::<f64>() < self.failure_rate;
                self.attempt(&row, attempt, inject)
            })
            .sleep(TokioSleeper)
            // Busy and injected errors are worth another attempt; anything
            // else from SQLite (disk full, corrupt file...) is not.
            .when(WriteFailure::is_transient)
            // Called once per retry, before its delay: count the cause.
            .notify(|error: &WriteFailure, _attempt, _delay| match error {
                WriteFailure::Injected => Counters::bump(&counters.retried_injected),
                _ => Counters::bump(&counters.retried_busy),
            })
            .report()
            .await;
        match &report.result {
            Ok(()) => {
                let micros = u64::try_from(request.admitted_at.elapsed().as_micros())
                    .unwrap_or(u64::MAX)
                    .clamp(1, LATENCY_MAX_US);
                // Cannot fail: the value is clamped into the bounds.
                let _ = lock(&self.latency).record(micros);
                Counters::bump(&counters.succeeded);
            }
            Err(error) => {
                if error.is_permanent() {
                    Counters::bump(&counters.failed_permanent);
                    lock(&self.first_error).get_or_insert_with(|| error.last_error().to_string());
                } else {
                    Counters::bump(&counters.failed_after_retries);
                }
            }
        }
        report.result
    }

    /// One attempt: an injected failure, or one insert on a pooled
    /// connection.
    ///
    /// SQLite calls block. They are short here (the busy timeout is zero,
    /// so a collision returns at once instead of waiting for the lock), but
    /// a commit that triggers a WAL checkpoint writes and syncs the file
    /// for milliseconds. So the insert runs on tokio's blocking pool
    /// (`spawn_blocking`, a few microseconds per hop) and the runtime's two
    /// threads stay free for the clients, the limiter and the queue.
    async fn attempt(&self, row: &Row, attempt: u32, inject: bool) -> Result<(), WriteFailure> {
        if inject {
            return Err(WriteFailure::Injected);
        }
        let mut writer = self.writers.checkout()?;
        let row = row.clone();
        let (writer, result) = tokio::task::spawn_blocking(move || {
            let result = writer.insert(&row, attempt);
            (writer, result)
        })
        .await
        .map_err(|_| WriteFailure::Panicked)?;
        self.writers.checkin(writer);
        result.map_err(WriteFailure::Write)
    }

    /// The latency histogram so far.
    pub(crate) fn latency(&self) -> Histogram<u64> {
        lock(&self.latency).clone()
    }

    /// The first permanent error, if any.
    pub(crate) fn first_error(&self) -> Option<String> {
        lock(&self.first_error).clone()
    }
}
