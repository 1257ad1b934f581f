//! Retry with backoff for async and blocking code, on any executor.
//!
//! A [`Policy`] says how long to wait between attempts (constant or
//! exponential, capped, with optional [`Jitter`]) and when to give up (an
//! attempt limit, a time limit that counts the attempts' own duration). It is
//! a plain `Copy` value: build it once, reuse it for every call.
//!
//! ```
//! use sluicegate_retry::{Jitter, Policy, RetryError};
//! use std::time::Duration;
//!
//! #[derive(Debug)]
//! struct Busy;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::exponential(Duration::from_millis(100))
//!     .factor(2.0)
//!     .max_delay(Duration::from_secs(2))
//!     .jitter(Jitter::Full)
//!     .max_attempts(5)
//!     .max_elapsed(Duration::from_secs(10))
//!     .build()?;
//!
//! let mut calls = 0;
//! let value = policy
//!     .retry(|| {
//!         calls += 1;
//!         let n = calls;
//!         async move { if n < 3 { Err(Busy) } else { Ok(n) } }
//!     })
//!     .sleep(tokio::time::sleep) // any executor's timer, or a ManualClock
//!     .await
//!     .map_err(RetryError::into_last_error);
//! assert_eq!(value.unwrap(), 3);
//! # Ok(())
//! # }
//! ```
//!
//! # What it does
//!
//! - **Policies** ([`Policy::constant`], [`Policy::exponential`]) with a cap,
//!   [`max_delay`](PolicyBuilder::max_delay), that holds *after* jitter.
//!   Jitter modes are the AWS ones: none, full, equal, decorrelated. A
//!   [`seed`](PolicyBuilder::seed) makes the delays reproducible.
//! - **Limits**: [`max_attempts`](PolicyBuilder::max_attempts), and
//!   [`max_elapsed`](PolicyBuilder::max_elapsed), measured on the clock from
//!   the start of the first attempt, attempts included: no attempt ever
//!   starts past it.
//! - **Classification**: [`when`](Retry::when) retries only transient
//!   errors; [`classify`](Retry::classify) can also return
//!   [`Action::RetryAfter`] to honour a server's `Retry-After` (still capped
//!   and still bound by the deadline).
//! - **Hooks and cancellation**: [`notify`](Retry::notify) hears each retry
//!   (error, attempt number, next delay); [`cancel_on`](Retry::cancel_on)
//!   stops the wait between attempts; dropping the future stops everything.
//! - **Outcome**: success, or a [`RetryError`] that always carries the last
//!   error and the attempt count; [`report`](Retry::report) also gives the
//!   attempt count on success.
//! - **Blocking**: [`Policy::retry_blocking`] and [`Retry::call`] run the
//!   same decisions on a thread, with `std::thread::sleep` by default.
//!
//! # Runtimes
//!
//! The crate depends on no executor. An async retry needs a sleeper, any
//! [`Sleeper`](sluicegate_rt::Sleeper) from sluicegate-rt:
//!
//! | runtime | sleeper |
//! |---|---|
//! | tokio | `tokio::time::sleep`, or `rt::TokioSleeper` (feature `tokio`) |
//! | smol / async-io | `rt::SmolSleeper` (feature `smol`) |
//! | any executor | `rt::FuturesTimerSleeper` (feature `futures-timer`), `rt::ThreadSleeper` (feature `threads`) |
//! | tests | [`rt::ManualClock`]: virtual time, pass it as both `.sleep(..)` and `.clock(..)` |
//!
//! The features only switch on sluicegate-rt's adapters, re-exported as
//! [`rt`].
//!
//! # When not to use it
//!
//! Retrying hides failures and multiplies load on a struggling dependency.
//! Retry only idempotent operations, keep attempt counts small, use jitter
//! when many clients share a dependency, and put a rate limit or a circuit
//! breaker in front of services that fail for long.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(
    no_crate_inject,
    attr(deny(warnings, rust_2018_idioms), allow(dead_code, unused_variables))
))]

mod backoff;
mod classify;
mod error;
pub mod futures;
mod policy;
mod retry;
mod rng;

pub use backoff::Backoff;
pub use classify::{Action, Classify, NoNotify, Notify, RetryAll, When};
pub use error::{PolicyError, Report, RetryError};
pub use policy::{
    DEFAULT_FACTOR, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_DELAY, Jitter, Policy, PolicyBuilder,
};
pub use retry::{Async, Blocking, BlockingSleep, DefaultSleeper, NoCancel, Operation, Retry};

/// sluicegate-rt, re-exported: the `Clock`/`Sleeper` traits, `ManualClock`
/// and the runtime adapters switched on by this crate's features.
pub use sluicegate_rt as rt;
