//! Pacing for async Rust on any executor: a leaky bucket that releases
//! callers at evenly spaced instants, without drift, with a bounded waiting
//! room and stream pacing.
//!
//! ```
//! use futures_util::StreamExt;
//! use sluicegate_leaky_bucket::LeakyBucket;
//! use sluicegate_leaky_bucket::rt::{TokioClock, TokioSleeper};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 10 per second, one every 100 ms; at most 64 callers wait.
//! let bucket = LeakyBucket::per_second(10)
//!     .capacity(64)
//!     .clock(TokioClock)
//!     .sleeper(TokioSleeper)
//!     .build()?;
//!
//! let start = tokio::time::Instant::now();
//! for _ in 0..3 {
//!     bucket.acquire().await?; // released at 0, 100 and 200 ms
//! }
//! assert_eq!(start.elapsed(), Duration::from_millis(200));
//!
//! // Any stream, paced: one item per slot, none lost.
//! let paced: Vec<u32> = bucket.pace(futures_util::stream::iter([1, 2, 3])).collect().await;
//! assert_eq!(paced, [1, 2, 3]);
//! assert_eq!(start.elapsed(), Duration::from_millis(500));
//!
//! let stats = bucket.stats();
//! assert_eq!((stats.passed, stats.spilled), (6, 0));
//! # Ok(())
//! # }
//! ```
//!
//! # What it does
//!
//! - **Pacing.** Slot `k` lies at `start + k · period / rate` (exact:
//!   rounding never accumulates). Each caller takes the next slot and is
//!   released at it. With [`slack`](Builder::slack) (default zero), idle
//!   time is banked: after a quiet spell up to `slack` worth of slots pass
//!   back to back, then strict spacing resumes.
//! - **No drift.** The head of the queue sleeps *until* its slot
//!   ([`Sleeper::sleep_until`](sluicegate_rt::Sleeper::sleep_until)), and the
//!   next slot is computed from the previous slot, never from the time a
//!   waiter actually woke: `next = max(previous + interval, arrival - slack -
//!   credit)`. A late timer is credited back: the callers behind it catch
//!   up, and a caller that comes straight back after a late release (a
//!   paced loop) may take its slot as much earlier as that release was late
//!   (at most one interval: a timer tick, not a stall).
//!   So `n` slots take `n` intervals, however late the wake-ups (on tokio at
//!   1,000/s, where the timer's 1 ms granularity equals the interval, 2,000
//!   of 2,000 expected releases in 2 s; the leaky-bucket crate delivers 954).
//!   A consumer that is slow by itself banks nothing, and idling banks
//!   nothing beyond the slack. The total lateness is
//!   in [`Stats::lateness`].
//! - **Bounded waiting room.** At most [`capacity`](Builder::capacity)
//!   callers wait at once, released in FIFO order; the next caller gets
//!   [`Full`] at once (counted in [`Stats::spilled`]) instead of queueing
//!   without bound.
//! - **Try path.** [`try_acquire`](LeakyBucket::try_acquire) passes only if a
//!   slot is free now and nobody waits; otherwise [`NotReady`] says how long
//!   this caller would wait.
//! - **Cancel-safe.** A dropped [`acquire`](LeakyBucket::acquire) future
//!   frees its place *and* its slot (see below).
//! - **Streams.** [`pace`](LeakyBucket::pace) wraps any
//!   [`Stream`](futures_core::Stream): each item is yielded no earlier than
//!   its slot; no item is ever dropped or spilled ([`Paced`]).
//! - **Visible.** [`stats`](LeakyBucket::stats): passed, spilled, denied,
//!   cancelled, waiting now and at most, total wait, lateness credited.
//!
//! # How slots are assigned
//!
//! Lazily. A waiting caller records only when it arrived; the caller at the
//! head of the queue takes the next slot when it is released. Because the
//! slot is computed from the arrival (not from the release time), this gives
//! the same schedule as handing out slots on arrival, with one difference:
//! a caller that gives up leaves no hole. With waiters A, B and C holding
//! slots 1, 2 and 3, dropping B makes C's slot 2, not 3. Only the head
//! sleeps (one timer, however many wait); the others are woken in turn.
//!
//! The head must be polled to be released; an executor that runs woken tasks
//! promptly sees no delay, and one that is late is credited back as above.
//! A waiter (or a paced stream woken for a free place) that is parked
//! without being polled or dropped holds up the callers behind it and, as
//! the queue goes first, `try_acquire` too: poll waiters to completion or
//! drop them.
//!
//! ```
//! use sluicegate_leaky_bucket::LeakyBucket;
//! use sluicegate_rt::ManualClock;
//! use std::future::Future;
//! use std::pin::pin;
//! use std::task::{Context, Poll, Waker};
//! use std::time::Duration;
//!
//! // Virtual time: nothing moves until the test says so.
//! let clock = ManualClock::new();
//! let start = clock.now();
//! let bucket = LeakyBucket::every(Duration::from_millis(10))
//!     .timer(clock.clone())
//!     .build()?;
//! let mut cx = Context::from_waker(Waker::noop());
//!
//! assert!(bucket.try_acquire().is_ok()); // slot 0: now
//! let mut a = pin!(bucket.acquire());
//! let mut b = Box::pin(bucket.acquire());
//! let mut c = pin!(bucket.acquire());
//! assert!(a.as_mut().poll(&mut cx).is_pending()); // slot 1, at 10 ms
//! assert!(b.as_mut().poll(&mut cx).is_pending()); // would be slot 2
//! assert!(c.as_mut().poll(&mut cx).is_pending());
//! drop(b);                                        // gives up: slot 2 is C's
//!
//! clock.advance(Duration::from_millis(20));
//! assert_eq!(a.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
//! assert_eq!(c.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
//! assert_eq!(clock.now() - start, Duration::from_millis(20));
//! assert_eq!(bucket.stats().cancelled, 1);
//! # Ok::<(), sluicegate_leaky_bucket::ConfigError>(())
//! ```
//!
//! # Runtimes
//!
//! The crate depends on no executor. It reads time through a
//! [`Clock`](sluicegate_rt::Clock) and waits through a
//! [`Sleeper`](sluicegate_rt::Sleeper), both from sluicegate-rt:
//!
//! | runtime | clock and sleeper |
//! |---|---|
//! | tokio | `.clock(rt::TokioClock).sleeper(rt::TokioSleeper)` (feature `tokio`; honours paused time) |
//! | smol / async-io | `.sleeper(rt::SmolSleeper)` (feature `smol`), default clock |
//! | any executor | `.sleeper(rt::FuturesTimerSleeper)` (feature `futures-timer`) or `.sleeper(rt::ThreadSleeper)` (feature `threads`) |
//! | tests | `.timer(rt::ManualClock::new())`: virtual time, exact instants |
//! | no waiting | no sleeper: [`try_acquire`](LeakyBucket::try_acquire) only |
//!
//! The default clock is [`SystemClock`](sluicegate_rt::SystemClock)
//! (`Instant::now`). Without a sleeper ([`NoSleeper`]), `acquire` and `pace`
//! do not compile, so the crate never picks a runtime for you.
//!
//! # Features
//!
//! None is on by default, and with none on the crate needs only `std`,
//! futures-core, pin-project-lite and thiserror. `tokio`, `smol`,
//! `futures-timer` and `threads` switch on the matching sluicegate-rt
//! adapters, re-exported as [`rt`].
//!
//! # When not to use it
//!
//! A leaky bucket *smooths*: it spreads callers evenly and makes them wait,
//! which suits calls to a dependency that dislikes bursts (an API with a
//! per-second limit enforced per window, a device, a log shipper). If you
//! want to *admit* bursts up to a limit and reject the excess at once
//! (admission control in front of a service), use a token bucket
//! (sluicegate-token-bucket): it never queues, and its decision is one
//! atomic operation. This crate serialises callers through one short
//! critical section (a mutex around the schedule and the queue), which is
//! fine for pacing but is not the tool for a hot admission check on many
//! cores.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(
    no_crate_inject,
    attr(deny(warnings, rust_2018_idioms), allow(dead_code, unused_variables))
))]

mod bucket;
mod builder;
mod error;
pub mod futures;
mod room;
mod schedule;
mod stats;
mod stream;
mod sync;
mod waiter;

pub use bucket::LeakyBucket;
pub use builder::{Builder, DEFAULT_CAPACITY, NoSleeper};
pub use error::{ConfigError, Full, NotReady};
pub use stats::Stats;
pub use stream::Paced;

/// sluicegate-rt, re-exported: the `Clock`/`Sleeper` traits, `ManualClock`
/// and the runtime adapters switched on by this crate's features.
pub use sluicegate_rt as rt;
