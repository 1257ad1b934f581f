//! A bounded, cancelable worker pool for async jobs, on any executor:
//! backpressured submits, graceful shutdown that hands back what it cannot
//! run, panic isolation, resizing, and statistics.
//!
//! ```
//! use sluicegate_distributor::{SubmitError, rt::BoxFuture};
//! use std::sync::mpsc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Any spawner works: here, each worker is a plain thread.
//! let spawner = |f: BoxFuture| {
//!     std::thread::spawn(move || sluicegate_distributor::rt::block_on(f));
//! };
//! // 2 workers, at most 4 jobs queued; jobs yield `Result<u32, String>`.
//! let pool = sluicegate_distributor::builder::<u32, String>(2, 4).build(spawner)?;
//!
//! sluicegate_distributor::rt::block_on(async {
//!     let (tx, rx) = mpsc::channel();
//!     for i in 0..10 {
//!         let tx = tx.clone();
//!         // Waits while the queue is full: backpressure.
//!         pool.submit(async move {
//!             tx.send(i).unwrap();
//!             Ok(i)
//!         })
//!         .await?;
//!     }
//!     // A job whose result we want, and one that panics: caught, counted.
//!     let answer = pool.submit_with_handle(async { Ok(42) }).await?;
//!     pool.submit(async { panic!("boom") }).await?;
//!     assert_eq!(answer.await, Ok(42));
//!
//!     // Stop accepting, run everything queued, wait for the workers.
//!     let stopped = pool.shutdown().await;
//!     assert!(stopped.handed_back.is_empty());
//!     let s = stopped.stats;
//!     assert_eq!((s.submitted, s.completed, s.panicked), (12, 11, 1));
//!     assert_eq!(s.workers, 0);
//!     assert!(s.is_balanced()); // nothing lost
//!     assert_eq!(rx.try_iter().count(), 10);
//!
//!     // Closed: the job comes back.
//!     assert!(matches!(pool.try_submit(async { Ok(0) }), Err(SubmitError::Closed(_))));
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```
//!
//! # What it does
//!
//! - **Workers through any executor.** [`builder`]`(workers, capacity)`,
//!   then [`build`](Builder::build) with a
//!   [`Spawner`](sluicegate_rt::Spawner): `TokioSpawner`, `SmolSpawner`,
//!   `ThreadSpawner` (features), or any `Fn(BoxFuture)` closure.
//! - **Jobs are futures.** Submit an `async move { .. }` block yielding
//!   `Result<T, E>`; `Ok` counts as completed, `Err` as failed. A job that
//!   comes back to you is a boxed [`Job`]: submit it again or await it.
//! - **Backpressure.** [`submit`](Distributor::submit) waits while the
//!   bounded queue is full; [`try_submit`](Distributor::try_submit) hands
//!   the job back in [`SubmitError::Full`] or [`SubmitError::Closed`];
//!   [`submit_timeout`](Distributor::submit_timeout) gives up at a deadline
//!   measured by the builder's [`Sleeper`](sluicegate_rt::Sleeper).
//!   The `_with_handle` variants return a [`JobHandle`], a future of the
//!   job's result or a [`JobError`] (failed, panicked, cancelled, not run).
//! - **Graceful shutdown.** [`shutdown`](Distributor::shutdown) stops
//!   accepting, runs everything queued and waits for the workers;
//!   [`shutdown_timeout`](Distributor::shutdown_timeout) does the same
//!   until a deadline, then cancels what runs and hands back what is
//!   queued; [`abort`](Distributor::abort) does that at once. The jobs come
//!   back in [`Stopped::handed_back`]: never dropped.
//! - **Panic isolation.** Each poll of a job runs inside `catch_unwind`: a
//!   panic is counted, passed to [`on_panic`](Builder::on_panic) with its
//!   message and to the job's handle, and the worker lives on. With
//!   [`CancelOn::Panic`] (or [`CancelOn::PanicOrError`]) the first panic
//!   (or error) cancels the whole pool instead.
//! - **Resizing.** [`resize`](Distributor::resize) grows (spawns workers)
//!   or shrinks (surplus workers exit once done with their current job).
//! - **Visible.** [`stats`](Distributor::stats): workers, running, queued,
//!   submitted, completed, failed, panicked, cancelled, handed back,
//!   rejected, full events, high-watermark.
//! - **No leaks.** Dropping the last [`Distributor`] handle closes the pool:
//!   the workers finish what is queued, then exit.
//!
//! # Accounting
//!
//! Every job the pool took is completed, failed, panicked, cancelled while
//! running, or handed back; once a shutdown or abort has returned,
//!
//! ```text
//! submitted == completed + failed + panicked + cancelled + handed_back
//! ```
//!
//! ([`Stats::is_balanced`]). Jobs refused at the door never count as
//! submitted: they are handed back inside the error and counted in
//! `rejected`.
//!
//! # How it works
//!
//! The queue is a [sluicegate-backpressure](sluicegate_backpressure) queue
//! of the builder's capacity: it keeps the bound, counts full events, and
//! hands items back on timeout or close. A one-word gate (closed flag and
//! number of submits in flight) tells a worker when an empty queue will stay
//! empty; the live-worker count is raised and lowered by compare-and-swaps
//! that never cross the target size. Both are checked with loom
//! (`src/loom_tests.rs`). Idle workers and running jobs wait on
//! event-listener events, so shutdown, abort and resize wake them at once.
//! On abort, the queue is drained and then closed; anything that slips in
//! between reaches the caller through the queue's drop callback.
//!
//! # Runtimes
//!
//! No executor is in the dependency graph; workers start through the
//! spawner given to [`build`](Builder::build), and the `_timeout` methods
//! wait through the [`sleeper`](Builder::sleeper).
//!
//! | runtime | spawner | sleeper |
//! |---|---|---|
//! | tokio (multi-thread) | `rt::TokioSpawner::new()` (feature `tokio`) | `rt::TokioSleeper` |
//! | smol | `rt::SmolSpawner::new()` (feature `smol`) | `rt::SmolSleeper` |
//! | plain threads | `rt::ThreadSpawner::new()` (feature `threads`) | `rt::ThreadSleeper` |
//! | tests | any of the above | `rt::ManualClock`: virtual time |
//!
//! # Features
//!
//! None is on by default, and with none on the crate needs only `std`,
//! sluicegate-rt, sluicegate-backpressure, event-listener and thiserror.
//! `tokio`, `smol`, `futures-timer` and `threads` switch on the matching
//! sluicegate-rt adapters, re-exported as [`rt`].
//!
//! # When not to use it
//!
//! Inside a tokio-only program that needs neither a bound nor hand-back,
//! `tokio::task::JoinSet` (with a `Semaphore` for the bound) is enough. To
//! limit a *rate* rather than concurrency, use sluicegate-token-bucket; for
//! a bare queue without workers, sluicegate-backpressure.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(
    no_crate_inject,
    attr(deny(warnings, rust_2018_idioms), allow(dead_code, unused_variables))
))]

mod builder;
mod distributor;
mod error;
mod gate;
mod handle;
mod job;
mod shared;
mod stats;
mod sync;
mod worker;

#[cfg(all(test, sluicegate_loom))]
mod loom_tests;

pub use builder::{Builder, CancelOn, MAX_WORKERS, builder};
pub use distributor::Distributor;
pub use error::{ConfigError, JobError, ResizeError, SubmitError};
pub use handle::JobHandle;
pub use job::{IntoJob, Job, JobFuture};
pub use sluicegate_backpressure::NoSleeper;
pub use stats::{Stats, Stopped};

/// sluicegate-rt, re-exported: the `Spawner`/`Sleeper` traits,
/// `ManualClock`, `block_on` and the runtime adapters switched on by this
/// crate's features.
pub use sluicegate_rt as rt;
