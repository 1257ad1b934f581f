//! The seam between sluicegate's flow-control primitives and async executors.
//!
//! Every sluicegate crate reads time, waits and starts tasks only through the
//! three small traits here, so none of them depends on an executor:
//!
//! | trait | what it does | closures that already implement it |
//! |---|---|---|
//! | [`Clock`] | `now() -> Instant` | `Instant::now` (any `Fn() -> Instant`) |
//! | [`Sleeper`] | `sleep(dur)`, `sleep_until(instant)` → a future | `tokio::time::sleep` (any `Fn(Duration) -> impl Future<Output = ()>`) |
//! | [`Spawner`] | `spawn(fut)` a detached `Send + 'static` task | `\|f\| { tokio::spawn(f); }` (any `Fn(BoxFuture)`) |
//!
//! [`ManualClock`] implements both `Clock` and `Sleeper` in virtual time:
//! time moves only when a test says so, and each move wakes exactly the sleeps
//! that are due, in deadline order. Every timing test in sluicegate runs on it.
//!
//! ```
//! use sluicegate_rt::{Clock, ManualClock, Sleeper};
//! use std::time::Duration;
//!
//! // Code written against the traits...
//! async fn wait_twice(clock: &(impl Clock + Sleeper)) -> Duration {
//!     let start = clock.now();
//!     clock.sleep(Duration::from_millis(100)).await;
//!     clock.sleep(Duration::from_millis(250)).await;
//!     clock.now() - start
//! }
//!
//! // ...runs in virtual time: a thread plays the test, moving the clock to
//! // each pending deadline until the future is done.
//! let clock = ManualClock::new();
//! let driver = clock.clone();
//! let stepper = std::thread::spawn(move || {
//!     let mut steps = 0;
//!     while steps < 2 {
//!         if driver.advance_to_next().is_some() {
//!             steps += 1;
//!         }
//!         std::thread::yield_now();
//!     }
//! });
//! let waited = sluicegate_rt::block_on(wait_twice(&clock));
//! stepper.join().unwrap();
//! assert_eq!(waited, Duration::from_millis(350));
//! ```
//!
//! # Features
//!
//! No feature is on by default, and with none on this crate depends on
//! nothing but `std`. Each feature adds ready adapters for one runtime:
//!
//! | feature | adds | needs |
//! |---|---|---|
//! | `tokio` | [`TokioSleeper`], [`TokioClock`], [`TokioSpawner`] | a tokio runtime with the time driver |
//! | `smol` | [`SmolSleeper`], [`SmolSpawner`] | nothing: async-io runs its own reactor |
//! | `futures-timer` | [`FuturesTimerSleeper`] | nothing: futures-timer runs its own thread |
//! | `threads` | [`ThreadSleeper`], [`ThreadSpawner`] | nothing: plain std threads |
//!
//! [`block_on`] (always available) drives one future on the current thread; it
//! is not an executor.
//!
//! # When not to use this crate
//!
//! If your code already commits to one runtime and you never need virtual
//! time, use that runtime's timer and spawn directly; these traits exist so
//! that *libraries* stay runtime-neutral and *tests* stay deterministic.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(
    no_crate_inject,
    attr(deny(warnings, rust_2018_idioms), allow(dead_code, unused_variables))
))]

mod block_on;
mod clock;
mod manual;
mod sleep;
mod spawn;
mod timers;

#[cfg(feature = "futures-timer")]
mod futures_timer;
#[cfg(feature = "smol")]
mod smol;
#[cfg(feature = "threads")]
mod threads;
#[cfg(feature = "tokio")]
mod tokio;

pub use block_on::block_on;
pub use clock::{Clock, SystemClock};
pub use manual::{ManualClock, ManualSleep};
pub use sleep::Sleeper;
pub use spawn::{BoxFuture, Spawner};

#[cfg(feature = "futures-timer")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures-timer")))]
pub use futures_timer::FuturesTimerSleeper;
#[cfg(feature = "smol")]
#[cfg_attr(docsrs, doc(cfg(feature = "smol")))]
pub use smol::{SmolSleep, SmolSleeper, SmolSpawner};
#[cfg(feature = "threads")]
#[cfg_attr(docsrs, doc(cfg(feature = "threads")))]
pub use threads::{ThreadSleep, ThreadSleeper, ThreadSpawner};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use tokio::{TokioClock, TokioSleeper, TokioSpawner};
