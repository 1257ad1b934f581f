//! Fan-out, fair fan-in and broadcast for async streams: Go's channel
//! patterns, typed, lossless, counted, and runtime-agnostic.
//!
//! ```
//! use futures_lite::{StreamExt, stream};
//! use sluicegate_fanio::{SlowConsumer, rt::BoxFuture};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Any spawner works: here each task is a plain thread.
//! let spawner = |f: BoxFuture| {
//!     std::thread::spawn(move || sluicegate_fanio::rt::block_on(f));
//! };
//! sluicegate_fanio::rt::block_on(async {
//!     // Fan-out: 4 workers take items from one shared queue.
//!     let lengths = sluicegate_fanio::fan_out(
//!         stream::iter(["a", "bb", "ccc", "dddd"]),
//!         4,
//!         &spawner,
//!         |word| async move { word.len() },
//!     )?;
//!     // Fan-in: merge the results with two other streams, fairly.
//!     let merged = sluicegate_fanio::merge([
//!         lengths.map(Result::unwrap).boxed(),
//!         stream::iter([10, 20]).boxed(),
//!         stream::iter([30]).boxed(),
//!     ]);
//!     // Broadcast: every subscriber gets every item.
//!     let publisher = sluicegate_fanio::broadcast(16, SlowConsumer::Backpressure)?;
//!     let a = publisher.subscribe();
//!     let b = publisher.subscribe();
//!     let mut merged = merged;
//!     let mut total = 0;
//!     while let Some(n) = merged.next().await {
//!         publisher.send(n).await?;
//!         total += n;
//!     }
//!     drop(publisher);
//!     let sum = |v: Vec<Result<usize, _>>| v.into_iter().map(Result::unwrap).sum::<usize>();
//!     assert_eq!(sum(a.collect().await), total);
//!     assert_eq!(sum(b.collect().await), total);
//!     assert_eq!(total, 1 + 2 + 3 + 4 + 10 + 20 + 30);
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```
//!
//! # What it does
//!
//! - **Fair fan-in.** [`merge`] turns many streams of one type into one
//!   [`Merge`] stream that ends exactly when all have ended. Sources take
//!   turns in a ready queue fed by per-source wakers: a woken source yields
//!   at most one item per turn, then goes to the back. Equal-rate sources
//!   get equal shares, an always-ready source cannot starve the others,
//!   a poll costs O(1) whatever the number of sources, and one call to
//!   `poll_next` polls each source at most about once (a budget). More
//!   sources can be [`push`](Merge::push)ed while it runs;
//!   [`stats`](Merge::stats) counts the items of each source.
//! - **Fan-out.** [`fan_out`] (or [`FanOutBuilder`]) runs an async
//!   `Fn(T) -> U` on `workers` tasks started through a
//!   [`Spawner`](sluicegate_rt::Spawner), fed from the input stream
//!   through bounded queues, and fans the results back in as a [`FanOut`]
//!   stream, in completion order. [`Distribution::Shared`]: one queue, an
//!   idle worker takes the next item. [`Distribution::keyed`] (or
//!   [`fan_out_keyed`]): items are partitioned by the hash of a key, so
//!   **items of one key keep their order**. A panic in the worker function
//!   becomes a typed [`FanOutError::WorkerPanicked`] in the output and the
//!   worker goes on; [`FanOut::cancel`] hands back unstarted items and
//!   pending results; per-worker [`stats`](FanOut::stats). A task dropped
//!   by its executor (a runtime shutting down, an aborted task) is
//!   reported in the output, with the items it could not process handed
//!   back ([`FanOutError::WorkerDropped`], [`FanOutError::Unstarted`],
//!   [`FanOutError::FeederDropped`]).
//! - **Broadcast.** [`broadcast`] gives a [`Publisher`]; each
//!   [`Subscriber`] gets every item sent after it subscribed, through a
//!   bounded buffer of its own. A slow subscriber either holds the
//!   producer back ([`SlowConsumer::Backpressure`]), has the items that do
//!   not fit dropped for it alone, counted, and marked in its stream with
//!   [`RecvError::Lagged`] ([`SlowConsumer::Drop`]), or is cut off with
//!   [`RecvError::Disconnected`] ([`SlowConsumer::Disconnect`]).
//!
//! # Accounting: nothing is lost
//!
//! - **Merge:** every item a source yields is yielded by the merge:
//!   `stats().total == sum(stats().per_source)`.
//! - **Fan-out:** every item taken from the input is started by a worker,
//!   handed back by [`FanOut::cancel`] (or counted as abandoned if the
//!   output was dropped), or handed back inside
//!   [`FanOutError::KeyPanicked`] or [`FanOutError::Unstarted`]; every
//!   started item yields a result, a `WorkerPanicked` error, or (its task
//!   dropped by the executor mid-item) a `WorkerDropped` error, each of
//!   which is delivered or counted as discarded (output dropped, or a
//!   cancel given up part-way). A task dropped by its executor (a runtime
//!   shutting down) never hangs the output nor loses an item silently. See
//!   [`FanOutStats`] and [`is_balanced`](FanOutStats::is_balanced).
//! - **Broadcast:** per subscriber, `sent_to == delivered + buffered +
//!   dropped` ([`SubscriberStats`]), and drops are marked in its stream.
//!   A send with no subscriber hands the item back
//!   ([`SendError::NoSubscribers`]).
//!
//! # Peers
//!
//! | need | peer | what this crate adds |
//! |---|---|---|
//! | merge N streams | `futures::stream::select_all` | turn-based fairness; no starvation by an always-ready source; per-source counts; O(1) per item |
//! | merge streams (tokio) | `tokio_stream::StreamExt::merge` (2 streams), `StreamMap` | any number of sources, no O(N) scan per poll, deterministic order |
//! | run a function on N tasks | `buffer_unordered(n)` | real parallelism through a spawner; keyed order; panics as typed errors; lossless cancel |
//! | broadcast | `tokio::sync::broadcast` | per-subscriber buffers; a choice between backpressure and counted, marked drops; no runtime |
//!
//! # Runtimes
//!
//! No executor is in the dependency graph. [`merge`] and [`broadcast`]
//! need none at all; [`fan_out`] starts its tasks through a
//! [`Spawner`](sluicegate_rt::Spawner): `TokioSpawner`, `SmolSpawner`,
//! `ThreadSpawner` (features `tokio`, `smol`, `threads`), or any
//! `Fn(BoxFuture)` closure such as `|f| { tokio::spawn(f); }`.
//!
//! # Features
//!
//! None is on by default, and with none on the crate needs only `std`,
//! event-listener, futures-core, pin-project-lite, thiserror and
//! sluicegate-rt. `tokio`, `smol`, `futures-timer` and
//! `threads` switch on the matching sluicegate-rt adapters, re-exported as
//! [`rt`].
//!
//! # When not to use it
//!
//! To merge two streams inside tokio where fairness does not matter,
//! `tokio_stream::StreamExt::merge` is enough. To run at most N futures
//! concurrently *on one task*, `buffer_unordered` has no spawning cost
//! (with one worker nothing runs in parallel, so a fan-out at best
//! matches `buffer_unordered(1)`: measured within a few percent). For
//! a job pool with submit/shutdown rather than a stream, use
//! sluicegate-distributor.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(
    no_crate_inject,
    attr(deny(warnings, rust_2018_idioms), allow(dead_code, unused_variables))
))]

mod broadcast;
mod error;
mod fan_out;
mod merge;
mod ready;
mod ring;
mod sync;
mod unwind;

/// Named futures.
pub mod futures {
    pub use crate::broadcast::publisher::Send;
}

pub use broadcast::{
    BroadcastStats, Publisher, SlowConsumer, Subscriber, SubscriberStats, broadcast,
};
pub use error::{ConfigError, FanOutError, RecvError, SendError};
pub use fan_out::{
    Cancelled, DEFAULT_CAPACITY, Distribution, FanOut, FanOutBuilder, FanOutStats, KeyFn,
    MAX_CAPACITY, MAX_WORKERS, StatsHandle, WorkerStats, fan_out, fan_out_keyed,
};
pub use merge::{Merge, MergeStats, merge};

/// sluicegate-rt, re-exported: the `Spawner` trait, `block_on`,
/// `ManualClock` and the runtime adapters switched on by this crate's
/// features.
pub use sluicegate_rt as rt;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
