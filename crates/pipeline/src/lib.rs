//! Typed, lossless async stream pipelines on any executor: Go's pipeline
//! patterns (a generator that owns and closes its output, stages connected
//! by bounded channels, an error channel beside the value channel, a quit
//! signal, a semaphore-bounded step, batching by size or time) with types,
//! exact accounting and no runtime dependency.
//!
//! ```
//! use sluicegate_pipeline::{Batch, CancelToken, Pipeline};
//! use sluicegate_rt::ManualClock;
//! use std::time::Duration;
//!
//! #[derive(Debug)]
//! struct BadLine(String);
//!
//! let clock = ManualClock::new(); // virtual time: the doctest takes none
//! let lines = futures_lite::stream::iter(["1", "2", "x", "4", "5"]);
//! let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
//! let sink = std::sync::Arc::clone(&written);
//!
//! let pipeline = Pipeline::source(lines)
//!     .try_map(|line: &str| async move { line.parse::<u32>().map_err(|_| BadLine(line.into())) })
//!     .filter(|n: &u32| std::future::ready(*n != 5))
//!     .buffer(16)
//!     .batch(Batch::size(2).max_wait(Duration::from_millis(10)), clock.clone())
//!     .sink(move |batch: Vec<u32>| {
//!         sink.lock().unwrap().push(batch);
//!         async {}
//!     })?;
//! let errors = pipeline.errors();
//! let summary = clock.block_on(pipeline.run(CancelToken::new()));
//!
//! assert_eq!(*written.lock().unwrap(), [vec![1, 2], vec![4]]);
//! assert_eq!(errors.drain().len(), 1); // "x", on the error stream
//! assert_eq!(
//!     (summary.produced, summary.delivered, summary.failed, summary.filtered),
//!     (5, 3, 1, 1)
//! );
//! assert!(summary.is_balanced()); // produced = delivered + failed + filtered + discarded
//! # Ok::<(), sluicegate_pipeline::ConfigError>(())
//! ```
//!
//! # What it does
//!
//! - **Sources**: any [`Stream`](futures_core::Stream)
//!   ([`Pipeline::source`]), or a generator that owns its output and ends
//!   it by returning ([`Pipeline::generator`], [`Emitter`]).
//! - **Typed stages**, each generic over its input and output:
//!   [`map`](Pipeline::map), [`try_map`](Pipeline::try_map),
//!   [`filter`](Pipeline::filter) take async functions;
//!   [`map_sync`](Pipeline::map_sync),
//!   [`try_map_sync`](Pipeline::try_map_sync),
//!   [`filter_sync`](Pipeline::filter_sync) take plain closures (no future
//!   per item: the faster choice when the function never awaits); a
//!   [sink](Pipeline::sink) (or a [fallible one](Pipeline::try_sink)) at the
//!   end.
//! - **Bounded buffers** between stages ([`buffer`](Pipeline::buffer)): a
//!   slow stage fills the buffer before it, and the stages before it wait.
//!   Without a buffer, stages run fused in lockstep (no queue at all).
//! - **An error stream** ([`Runnable::errors`]): failures travel beside the
//!   values, not downstream, as [`PipelineError`]s naming the stage.
//!   [`ErrorPolicy::Collect`] (default) goes on; [`ErrorPolicy::FailFast`]
//!   stops the whole run at the first error.
//! - **Cancellation**: one [`CancelToken`] stops every stage.
//!   [`cancel`](CancelToken::cancel) is graceful: the source stops, what is
//!   in flight drains, the last partial batch is delivered;
//!   [`abort`](CancelToken::abort) stops now and counts what was dropped.
//! - **Batching** by size or time ([`Batch`]), on a
//!   [`Sleeper`](sluicegate_rt::Sleeper)'s timer, measured
//!   [from the first item](TimerMode::FromFirstItem) (default) or on
//!   [fixed ticks](TimerMode::FixedTicks); never an empty batch. A
//!   [hand-back mode](Pipeline::batch_hand_back) builds the next batch only
//!   after the writer handed the last one back (a double buffer). Also as
//!   plain stream adapters: [`batch`], [`batch_hand_back`]. [`BatchStats`]
//!   counts why each batch was closed: by size, by the timer, at the end of
//!   the input.
//! - **A bounded parallel step** ([`parallel`](Pipeline::parallel)): up to
//!   K items in flight in K worker tasks started through a
//!   [`Spawner`](sluicegate_rt::Spawner) (so they use every core), results
//!   in [input order](Order::Input) or [completion order](Order::Completion);
//!   a panic fails its item and nothing hangs.
//! - **Visible**: per-stage [`StageStats`] (in, out, errors, filtered,
//!   discarded, busy time, batches and why they closed), per-buffer
//!   [`BufferStats`] (high watermark, full events, blocked time), live
//!   through a [`Monitor`], and a [`Summary`] at the end.
//!
//! # Accounting
//!
//! Every item the source produced is delivered by the sink, failed in some
//! stage (and reported on the error stream), rejected by a filter, or
//! discarded by an abort (counted). Once the run is over:
//!
//! ```text
//! produced == delivered + failed + filtered + discarded
//! ```
//!
//! counted in source items (a delivered batch of 64 counts 64). A completed
//! run or a graceful cancel discards nothing. See [`Summary`].
//!
//! # How it runs
//!
//! The pipeline is one future, [`Run`]. Stages with no buffer between them
//! are fused: each is a stream adapter pulled by the next, so an item goes
//! from the source to the sink in one call chain, with no queue and no
//! task switch. A batch stage pulls a *run* of ready items from the fused
//! stages before it in one call ([`stage::Pull`]): the source loops over
//! its stream and each stage wraps the function it is handed, so the
//! checks a stage makes (is the run going on, is the yield budget spent)
//! and its counters are paid once per run of items, not per item; what is
//! left per item and stage is the stage's function under a panic guard
//! (the crate's benchmarks compare it with `futures-util` and
//! `tokio-stream`). A panic in a stage's function fails only its element
//! (reported as [`PipelineError::Panicked`]); the run goes on; a
//! [clock](Pipeline::clock) that panics is reported once
//! ([`PipelineError::ClockPanicked`]) and timing stops, nothing else.
//!
//! The run owns one cooperative yield budget: each poll of [`Run`] takes
//! at most 4,096 items from the source (whatever stage pulls them), then
//! yields the thread (returns `Pending` after waking itself), so a run
//! over an input that is always ready (a large iterator, a backlog)
//! shares its executor and sees its token. A batch stage tells that
//! yield from its input waiting: a yield arms no batch timer (see
//! [`TimerMode::FromFirstItem`]).
//!
//! ## `map` or `map_sync`?
//!
//! | your function | stage | futures-util's equivalent |
//! |---|---|---|
//! | awaits something (I/O, a timer, a lock) | [`map`](Pipeline::map), [`try_map`](Pipeline::try_map), [`filter`](Pipeline::filter) | `then`, `filter` |
//! | never awaits (parsing, arithmetic) | [`map_sync`](Pipeline::map_sync), [`try_map_sync`](Pipeline::try_map_sync), [`filter_sync`](Pipeline::filter_sync) | `map`, `filter_map` |
//! | takes long on the CPU, or blocks | [`parallel`](Pipeline::parallel) (in worker tasks) | `buffered` |
//!
//! Both kinds account, guard panics and stop on an abort the same way; the
//! synchronous ones create no future per item and hold no element across
//! a poll, so they cost less (in the crate's benchmarks, a `map_sync`
//! chain into batches of 64 or 1,024 moves about 1.5x the items per
//! second of the same chain with an async `map` whose future is ready at
//! once).
//! [`buffer`](Pipeline::buffer) splits the chain: the stages before it are
//! driven by a pump that pushes into a bounded
//! [sluicegate-backpressure](sluicegate_backpressure) queue, polled inside
//! the same run future. Only the parallel step starts tasks. So `run` works
//! on tokio, smol, async-std, a thread pool or a bare `block_on`, and in
//! virtual time on a [`ManualClock`](sluicegate_rt::ManualClock).
//!
//! # Runtimes
//!
//! | runtime | batch timer | parallel step spawner |
//! |---|---|---|
//! | tokio | `rt::TokioSleeper` (feature `tokio`) | `rt::TokioSpawner` |
//! | smol | `rt::SmolSleeper` (feature `smol`) | `rt::SmolSpawner` |
//! | any | `rt::FuturesTimerSleeper` (`futures-timer`), `rt::ThreadSleeper` (`threads`) | `rt::ThreadSpawner` (`threads`), or any `Fn(BoxFuture)` |
//! | tests | `rt::ManualClock` | a closure that queues tasks |
//!
//! # Features
//!
//! None is on by default; with none on, the crate needs only `std`,
//! sluicegate-rt, sluicegate-backpressure, async-channel, event-listener,
//! futures-core, futures-sink, pin-project-lite and thiserror. `tokio`,
//! `smol`, `futures-timer` and `threads` switch on the matching
//! sluicegate-rt adapters, re-exported as [`rt`].
//!
//! # When not to use it
//!
//! For one batching step on a stream you already have, the standalone
//! [`batch`] adapter (or `ready_chunks` if you need no timer) is enough. For
//! a pool of workers fed from many producers, use sluicegate-distributor;
//! for fan-out/fan-in, sluicegate-fanio.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(
    no_crate_inject,
    attr(deny(warnings, rust_2018_idioms), allow(dead_code, unused_variables))
))]

mod batch;
mod cancel;
mod control;
mod error;
mod pipeline;
mod run;
pub mod stage;
mod stats;
mod sync;

pub use batch::{Batch, Batched, HandBackBatched, Loan, TimerMode, batch, batch_hand_back};
pub use cancel::{CancelToken, Cancelled};
pub use control::ErrorPolicy;
pub use error::{ConfigError, EmitError, PipelineError, StageId};
pub use pipeline::Pipeline;
pub use run::{Errors, Monitor, Run, Runnable};
pub use stage::{Emit, Emitter, Order};
pub use stats::{BatchStats, BufferStats, Outcome, StageStats, Summary};

/// sluicegate-rt, re-exported: the `Clock`/`Sleeper`/`Spawner` traits,
/// `ManualClock`, `block_on` and the runtime adapters switched on by this
/// crate's features.
pub use sluicegate_rt as rt;
