//! A bounded async queue that makes pressure visible and loses nothing: a
//! multi-producer multi-consumer channel (on async-channel's queue) with
//! overflow policies, lossless cancellation, reserved slots, full-event
//! statistics, and `Stream`/`Sink` ends, on any executor.
//!
//! ```
//! use sluicegate_backpressure::SendError;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (tx, rx) = sluicegate_backpressure::bounded::<u32>(2)?;
//! sluicegate_backpressure::rt::block_on(async {
//!     tx.send(1).await?;                       // room: sent at once
//!     tx.try_send(2)?;
//!     // Full: the item comes back, and the full event is counted.
//!     assert!(matches!(tx.try_send(3), Err(SendError::Full(3))));
//!
//!     assert_eq!(rx.recv().await, Some(1));    // frees a slot
//!     let permit = tx.reserve().await?;        // holds the slot...
//!     permit.send(3);                          // ...so this cannot fail
//!
//!     let s = tx.stats();
//!     assert_eq!((s.sent, s.received, s.len, s.dropped), (3, 1, 2, 0));
//!     assert_eq!((s.full_events, s.rejected, s.high_watermark), (1, 1, 2));
//!     assert_eq!(s.sent, s.received + s.len as u64 + s.dropped); // nothing lost
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```
//!
//! # What it does
//!
//! - **Bounded, MPMC.** [`bounded`] (or [`builder`]) gives a cloneable
//!   [`Sender`] and a cloneable [`Receiver`]; each item goes to one receiver.
//! - **Waiting, trying, timing out.** [`send`](Sender::send) waits while the
//!   queue is full; [`try_send`](Sender::try_send) hands the item back in
//!   [`SendError::Full`] or [`SendError::Closed`];
//!   [`send_timeout`](Sender::send_timeout) gives up at a deadline through
//!   the [`Sleeper`](sluicegate_rt::Sleeper) given at construction and hands
//!   the item back in [`SendTimeoutError::Timeout`].
//! - **"Try first; if full, count it, then wait"**, the pattern of a
//!   production service that sized its buffer by counting how often it was
//!   full, is what `send` does: the first time a call finds the queue full it
//!   counts a [full event](Stats::full_events), then waits, timing how long
//!   it is [blocked](Stats::blocked) (on the queue's clock; switch off with
//!   [`Builder::time_blocked`]).
//! - **Overflow policies**, chosen at construction ([`Overflow`]): `Block`
//!   (default), `Reject`, `DropOldest`, `DropNewest`. A dropped item is
//!   counted and passed to the [`on_drop`](Builder::on_drop) callback with a
//!   [`DropReason`]: nothing disappears unseen.
//! - **Lossless cancellation.** [`reserve`](Sender::reserve) gives a
//!   [`Permit`] whose [`send`](Permit::send) cannot fail. Dropping a pending
//!   `send`, `send_timeout` or `reserve` future, or an unused permit, loses
//!   no item and leaks no slot; [`Send::into_inner`](futures::Send::into_inner)
//!   takes the item back from a `send` that lost a race.
//! - **Visible.** [`stats`](Sender::stats): length, reserved slots,
//!   capacity, high-watermark, full events, time blocked, sent, received,
//!   dropped, rejected, timed out.
//! - **Streams and sinks.** The receiver is a
//!   [`Stream`](futures_core::Stream); the sender is a
//!   [`Sink`](futures_sink::Sink) ([`sink`]).
//!
//! # Accounting
//!
//! Every item handed to the queue is received, still queued, dropped (and
//! seen by the callback), or handed back to the caller inside an error. The
//! counters state it: whenever no call is in flight,
//!
//! ```text
//! sent == received + len + dropped
//! ```
//!
//! where `sent` counts items the queue took (calls that returned `Ok`,
//! permit sends), and items handed back are counted in `rejected` and
//! `timed_out` instead (see [`Stats`]).
//!
//! # Closing
//!
//! When every [`Sender`] and [`Permit`] is gone, receivers drain what is
//! queued, then [`recv`](Receiver::recv) returns `None` and the stream ends.
//! When every [`Receiver`] is gone, waiting and later sends fail with
//! `Closed(item)`, and the items still queued (and any item sent later
//! through a permit) go to the `on_drop` callback with
//! [`DropReason::Closed`].
//!
//! # How the bound is kept
//!
//! The items live in the lock-free queue async-channel is built on
//! (concurrent-queue: a ring of `capacity` allocated once, for capacities
//! up to 1024; a queue that allocates blocks as it fills above that), with
//! event-listener for waiting, as in async-channel; the bound, the closing
//! and the wake-ups are this crate's. An atomic count of *taken slots*
//! (items queued plus permits outstanding) is raised with a
//! compare-and-swap that never passes the capacity, *before* an item
//! moves. A receiver lowers it; the release that frees the first slot of a
//! full queue wakes one waiting sender, and each sender that waited and
//! took a slot wakes the next one while slots remain free, so a waiting
//! sender is woken once per slot it can take rather than once per item
//! received. A push wakes a receiver only if one is registered as waiting
//! (and not when every one that waits has been woken already).
//! So a send is either complete or not begun when its future is dropped,
//! and a permit is simply a slot taken early. `DropOldest` evicts by
//! popping the queue and passes the evicted item's slot straight to the new
//! item. Both wake-up protocols are checked with loom (`tests/loom.rs`).
//!
//! Why not async-channel itself: it would check a second bound (its ring's)
//! and notify three events per item whether or not anyone waits; built on
//! its parts, the queue costs fewer instructions per message than raw
//! async-channel in callgrind on a single-thread executor at capacities 64
//! and 1024 (see the crate's `CHANGELOG.md` and the `queue_callgrind`
//! program in the repository's benches).
//!
//! # Runtimes
//!
//! No executor is in the dependency graph. `send`, `reserve` and `recv`
//! need none; [`send_timeout`](Sender::send_timeout) waits through the
//! sleeper given to the builder ([`Builder::sleeper`], or
//! [`Builder::timer`] with a [`ManualClock`](sluicegate_rt::ManualClock) in
//! tests); the blocked time is read from the builder's
//! [`clock`](Builder::clock) (default [`SystemClock`](sluicegate_rt::SystemClock)).
//!
//! | runtime | settings |
//! |---|---|
//! | tokio | `.clock(rt::TokioClock).sleeper(rt::TokioSleeper)` (feature `tokio`; honours paused time) |
//! | smol / async-io | `.sleeper(rt::SmolSleeper)` (feature `smol`) |
//! | any executor | `.sleeper(rt::FuturesTimerSleeper)` (feature `futures-timer`) or `.sleeper(rt::ThreadSleeper)` (feature `threads`) |
//! | tests | `.timer(rt::ManualClock::new())`: virtual time |
//! | no timeouts | nothing: `send_timeout` does not compile ([`NoSleeper`]) |
//!
//! # Features
//!
//! None is on by default, and with none on the crate needs only `std`,
//! concurrent-queue, event-listener, futures-core, futures-sink,
//! pin-project-lite and thiserror. `tokio`, `smol`, `futures-timer` and
//! `threads` switch on the matching sluicegate-rt adapters, re-exported as
//! [`rt`].
//!
//! # When not to use it
//!
//! If you need neither policies, permits, statistics nor lossless
//! cancellation, use async-channel directly. This crate adds a
//! compare-and-swap and an atomic add per item (the slot count): on one
//! thread it still runs fewer instructions than async-channel, but with
//! several producers on several cores that count's cache line moves on
//! every message: four producers into one consumer measure up to 1.1-1.4x
//! async-channel's time per message on two cores at capacity 1024 (one
//! producer, or four producers and four consumers: mostly at or below it;
//! see the repository's docs/benchmarks.md). A send that has to
//! wait reads the clock twice (for [`Stats::blocked`]):
//! at capacity 1, where every send waits, that is the bulk of its cost
//! over async-channel; [`Builder::time_blocked`]`(false)` turns those
//! reads off (and `blocked` with them). For a
//! single-consumer queue inside a tokio-only program, `tokio::sync::mpsc`
//! already has permits. To *limit a rate* rather than bound a buffer, use
//! sluicegate-token-bucket or sluicegate-leaky-bucket.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(
    no_crate_inject,
    attr(deny(warnings, rust_2018_idioms), allow(dead_code, unused_variables))
))]

mod builder;
mod core;
mod error;
pub mod futures;
mod permit;
mod policy;
mod receiver;
mod sender;
pub mod sink;
mod stats;
mod sync;
mod waiter;

pub use builder::{Builder, NoSleeper, bounded, builder};
pub use error::{Closed, ConfigError, SendError, SendTimeoutError, TryRecvError, TryReserveError};
pub use permit::Permit;
pub use policy::{DropReason, Overflow};
pub use receiver::Receiver;
pub use sender::Sender;
pub use stats::Stats;

/// sluicegate-rt, re-exported: the `Clock`/`Sleeper` traits, `ManualClock`,
/// `block_on` and the runtime adapters switched on by this crate's features.
pub use sluicegate_rt as rt;
