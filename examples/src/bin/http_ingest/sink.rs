//! The write side: what one distributor job does with one request's
//! collection.
//!
//! A job waits (in `--hold-until-shutdown` mode) for the release, then hands
//! its rows to one of `--writers` lanes. Each lane owns one SQLite
//! connection and commits in groups: the job that takes the lane's flush
//! lock writes every collection waiting on that lane in ONE transaction
//! (group commit), retried with `sluicegate::retry` while the error is
//! transient, and tells each waiting job how its rows fared. A collection is
//! never split: its rows are all in one transaction, so all or none are
//! written. The lanes' connections collide on SQLite's single write lock
//! (zero busy timeout), so `SQLITE_BUSY` is real and the retry resolves it;
//! `--failure-rate` adds injected transient failures.
//!
//! Accounting: every accepted item ends in exactly one of `written_items`
//! (its transaction committed) or `failed_items` (its transaction gave up:
//! attempts exhausted, or a permanent error). A failed transaction wrote
//! nothing, so the rows in the database equal `written_items`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sluicegate::retry::{Policy, RetryError};
use sluicegate::rt::TokioSleeper;
use sluicegate_examples::db::{Row, Store, WriteError, Writer};
use tokio::sync::{oneshot, watch};

/// Why a write failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum IngestError {
    /// `--failure-rate` chose this attempt to fail before touching the
    /// database: transient, like a busy database.
    #[error("injected transient failure")]
    Injected,
    /// SQLite is busy (another lane holds the write lock): transient.
    #[error("{0}")]
    Busy(String),
    /// Any other SQLite error, or a write task that did not finish:
    /// permanent.
    #[error("{0}")]
    Permanent(String),
}

impl IngestError {
    /// Whether another attempt may succeed.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, Self::Injected | Self::Busy(_))
    }
}

impl From<WriteError> for IngestError {
    fn from(error: WriteError) -> Self {
        if error.is_transient() {
            Self::Busy(error.to_string())
        } else {
            Self::Permanent(error.to_string())
        }
    }
}

/// Counters shared by the handlers and the jobs. Relaxed atomics: each is a
/// monotonic count read for reports; the final summary is read after the
/// pool has shut down, when every job has finished.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// POST /payloads requests that reached the handler or the rate limit.
    pub(crate) requests: AtomicU64,
    /// Requests answered 202: their job is in the queue.
    pub(crate) accepted_requests: AtomicU64,
    /// Items in those requests.
    pub(crate) accepted_items: AtomicU64,
    /// Jobs (requests) whose rows were committed.
    pub(crate) written_batches: AtomicU64,
    /// Items in those jobs.
    pub(crate) written_items: AtomicU64,
    /// Jobs whose transaction gave up (retry exhausted, or a permanent
    /// error).
    pub(crate) failed_batches: AtomicU64,
    /// Items in those jobs: not in the database.
    pub(crate) failed_items: AtomicU64,
    /// Transactions committed (each holds one or more jobs' rows).
    pub(crate) transactions: AtomicU64,
    /// Jobs in the largest transaction so far.
    pub(crate) largest_group: AtomicU64,
    /// Transaction attempts, first tries included.
    pub(crate) attempts: AtomicU64,
    /// Attempts retried after a transient error (the retry's notify hook).
    pub(crate) retries: AtomicU64,
    /// Attempts that met `SQLITE_BUSY`/`SQLITE_LOCKED`.
    pub(crate) busy: AtomicU64,
    /// Attempts failed on purpose by `--failure-rate`.
    pub(crate) injected: AtomicU64,
    /// Transactions that gave up because the attempts ran out.
    pub(crate) exhausted: AtomicU64,
    /// Transactions that gave up on a permanent error.
    pub(crate) permanent: AtomicU64,
    /// Responses by status.
    pub(crate) status_202: AtomicU64,
    pub(crate) status_400: AtomicU64,
    pub(crate) status_413: AtomicU64,
    pub(crate) status_415: AtomicU64,
    pub(crate) status_429: AtomicU64,
    pub(crate) status_503: AtomicU64,
    pub(crate) status_other: AtomicU64,
}

/// Adds one.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n`.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Reads a counter.
pub(crate) fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// A job's rows waiting on a lane, and where to send how they fared.
#[derive(Debug)]
struct Waiting {
    rows: Vec<Row>,
    done: oneshot::Sender<Result<(), IngestError>>,
}

/// One writer connection and its group commit.
#[derive(Debug)]
struct Lane {
    /// Collections waiting for the next transaction.
    waiting: Mutex<Vec<Waiting>>,
    /// Held by the job writing the lane's transaction (FIFO).
    flush: tokio::sync::Mutex<()>,
    /// The connection, opened on first use; only the flush lock's holder
    /// touches it (from a blocking thread), so this mutex never contends.
    writer: Arc<Mutex<Option<Writer>>>,
}

/// Everything a job needs; shared by all jobs through an `Arc`.
#[derive(Debug)]
pub(crate) struct Sink {
    store: Store,
    lanes: Vec<Lane>,
    next_lane: AtomicUsize,
    policy: Policy,
    failure_rate: f64,
    rng: Mutex<SmallRng>,
    /// `false` while jobs are held (`--hold-until-shutdown`).
    release: watch::Receiver<bool>,
    pub(crate) counters: Counters,
}

impl Sink {
    /// A sink writing to `store` through `writers` lanes (at least one).
    pub(crate) fn new(
        store: Store,
        writers: usize,
        policy: Policy,
        failure_rate: f64,
        seed: u64,
        release: watch::Receiver<bool>,
    ) -> Self {
        let lanes = (0..writers.max(1))
            .map(|_| Lane {
                waiting: Mutex::new(Vec::new()),
                flush: tokio::sync::Mutex::new(()),
                writer: Arc::new(Mutex::new(None)),
            })
            .collect();
        Self {
            store,
            lanes,
            next_lane: AtomicUsize::new(0),
            policy,
            failure_rate,
            rng: Mutex::new(SmallRng::seed_from_u64(seed)),
            release,
            counters: Counters::default(),
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    pub(crate) fn writers(&self) -> usize {
        self.lanes.len()
    }

    /// One job: get `rows` committed, in one transaction with whatever else
    /// waits on the same lane, retrying transient errors.
    ///
    /// # Errors
    ///
    /// The last error once the retry gives up; the rows are then counted as
    /// failed (and are not in the database).
    pub(crate) async fn write(self: Arc<Self>, rows: Vec<Row>) -> Result<(), IngestError> {
        // Held jobs wait here, counted as running by the pool, until
        // shutdown begins. `wait_for` fails only if the sender is gone,
        // which also means "go".
        let mut release = self.release.clone();
        let _ = release.wait_for(|go| *go).await;

        let items = rows.len() as u64;
        let lane = &self.lanes[self.next_lane.fetch_add(1, Ordering::Relaxed) % self.lanes.len()];
        let (done, mut outcome) = oneshot::channel();
        lock(&lane.waiting).push(Waiting { rows, done });
        let result = {
            let _flushing = lane.flush.lock().await;
            // A job that held the lock before us may have written our rows
            // with its own; if not, we write everything waiting, ours too.
            match outcome.try_recv() {
                Ok(result) => result,
                Err(_) => {
                    self.flush(lane).await;
                    outcome.try_recv().unwrap_or_else(|_| {
                        Err(IngestError::Permanent(
                            "the group commit lost track of a collection".to_owned(),
                        ))
                    })
                }
            }
        };
        let counters = &self.counters;
        match &result {
            Ok(()) => {
                bump(&counters.written_batches);
                add(&counters.written_items, items);
            }
            Err(_) => {
                bump(&counters.failed_batches);
                add(&counters.failed_items, items);
            }
        }
        result
    }

    /// Writes everything waiting on `lane` in one transaction, with retry,
    /// and answers each waiting job. Called with the lane's flush lock held.
    async fn flush(&self, lane: &Lane) {
        let group = std::mem::take(&mut *lock(&lane.waiting));
        if group.is_empty() {
            return;
        }
        let (rows, answers): (Vec<Vec<Row>>, Vec<_>) =
            group.into_iter().map(|w| (w.rows, w.done)).unzip();
        let rows: Arc<Vec<Row>> = Arc::new(rows.into_iter().flatten().collect());
        let mut attempt = 0_u32;
        let report = self
            .policy
            .retry(|| {
                attempt += 1;
                self.attempt(Arc::clone(&lane.writer), Arc::clone(&rows), attempt)
            })
            .sleep(TokioSleeper)
            .when(IngestError::is_transient)
            .notify(|_: &IngestError, _, _| bump(&self.counters.retries))
            .report()
            .await;
        let counters = &self.counters;
        let result = match report.result {
            Ok(()) => {
                bump(&counters.transactions);
                counters
                    .largest_group
                    .fetch_max(answers.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                match &error {
                    RetryError::Exhausted { .. } => bump(&counters.exhausted),
                    _ => bump(&counters.permanent),
                }
                Err(error.into_last_error())
            }
        };
        for answer in answers {
            // A job that stopped waiting (it cannot: it holds no timeout)
            // would simply not hear; its count is its own.
            let _ = answer.send(result.clone());
        }
    }

    /// One attempt: maybe an injected failure, else the transaction on a
    /// blocking thread (rusqlite blocks; the async workers must not).
    async fn attempt(
        &self,
        writer: Arc<Mutex<Option<Writer>>>,
        rows: Arc<Vec<Row>>,
        attempt: u32,
    ) -> Result<(), IngestError> {
        bump(&self.counters.attempts);
        if self.inject() {
            bump(&self.counters.injected);
            return Err(IngestError::Injected);
        }
        let store = self.store.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut slot = lock(&writer);
            let mut writer = match slot.take() {
                Some(writer) => writer,
                None => store.writer().map_err(WriteError::from)?,
            };
            let outcome = writer.insert_batch(&rows, attempt);
            *slot = Some(writer);
            outcome
        })
        .await;
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                if error.is_transient() {
                    bump(&self.counters.busy);
                }
                Err(error.into())
            }
            Err(join) => Err(IngestError::Permanent(format!(
                "the write task did not finish: {join}"
            ))),
        }
    }

    fn inject(&self) -> bool {
        self.failure_rate > 0.0 && lock(&self.rng).random_bool(self.failure_rate)
    }
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves
/// its data consistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
