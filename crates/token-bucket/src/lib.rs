//! Admission control for async Rust, on any executor: may this request enter
//! now?
//!
//! A [`TokenBucket`] admits `rate` requests per period on average and up to
//! `burst` at once. It is a GCRA ("generic cell rate algorithm") bucket: the
//! whole state is one atomic word, the theoretical arrival time, and each
//! decision is one compare-and-swap, checked with loom.
//!
//! ```
//! use sluicegate_token_bucket::{Quota, TokenBucket, TryAcquireError};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use sluicegate_rt::{TokioClock, TokioSleeper};
//!
//! let bucket = TokenBucket::builder(Quota::per_second(100)?.with_burst(10)?)
//!     .clock(TokioClock)
//!     .sleeper(TokioSleeper)
//!     .build();
//!
//! // Admission: answer now.
//! match bucket.try_acquire(1) {
//!     Ok(()) => { /* serve */ }
//!     Err(TryAcquireError::NotUntil(denied)) => {
//!         println!("429, Retry-After: {:?}", denied.retry_after());
//!     }
//!     Err(e) => return Err(e.into()),
//! }
//!
//! // Backpressure: wait for a turn (first come, first served).
//! bucket.acquire(5).await?;
//!
//! // Metadata for the answer's headers.
//! let now = bucket.peek();
//! println!("RateLimit-Remaining: {}, reset in {:?}", now.remaining, now.reset_after);
//! # Ok(())
//! # }
//! ```
//!
//! # What it does
//!
//! - [`try_acquire(n)`](TokenBucket::try_acquire): admitted, or
//!   [`NotUntil`] (how long until it would be), or `InsufficientCapacity`
//!   when `n` exceeds the burst: it never waits forever.
//! - [`acquire(n)`](TokenBucket::acquire): waits through a
//!   [`Sleeper`](sluicegate_rt::Sleeper), callers served in arrival order;
//!   dropping the future gives back what it had booked.
//! - [`reserve(n)`](TokenBucket::reserve): book now, use later, or
//!   [`cancel`](Reservation::cancel) for a refund (Go's `ReserveN`).
//! - [`peek`](TokenBucket::peek) and [`check`](TokenBucket::check):
//!   remaining, reset-after and retry-after, without consuming.
//! - [`set_quota`](TokenBucket::set_quota): change rate and burst live,
//!   keeping the tokens available now, never granting extra ones.
//! - [`KeyedTokenBucket`]: a bucket per key in bounded memory: idle keys
//!   are evicted (exactly the ones whose decisions would not change) and a
//!   cap on keys holds; [`acquire`](KeyedTokenBucket::acquire) waits for a
//!   key's tokens; [`set_quota`](KeyedTokenBucket::set_quota) changes every
//!   key's quota live.
//! - Feature `tower`: [`RateLimitLayer`](tower::RateLimitLayer), on
//!   tower-layer and tower-service only, rejecting with a
//!   [`RateLimited`](tower::RateLimited) error carrying `Retry-After`, or
//!   waiting; and [`KeyedRateLimitLayer`](tower::KeyedRateLimitLayer), a
//!   bucket per client (or route, or tenant), the key taken from each
//!   request.
//! - [`stats`](TokenBucket::stats): admitted, rejected, waited, refunded,
//!   tokens now.
//!
//! # Runtimes
//!
//! No executor is needed for the try path, reservations and metadata. To
//! `acquire`, build the bucket with a sleeper that agrees with its clock:
//!
//! | runtime | clock | sleeper |
//! |---|---|---|
//! | tokio | `TokioClock` | `TokioSleeper` (feature `tokio`) |
//! | smol / async-io | `SystemClock` (default) | `SmolSleeper` (feature `smol`) |
//! | threads | `SystemClock` | `ThreadSleeper` (feature `threads`) |
//! | tests | `ManualClock` | the same `ManualClock` |
//!
//! # Token bucket or leaky bucket?
//!
//! A token bucket *admits*: after a quiet spell it lets a burst through at
//! once, then holds the average rate. When the downstream needs evenly
//! spaced work (an API that counts requests per 100 ms window, a device
//! with a fixed service rate), pace with sluicegate-leaky-bucket instead.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(
    no_crate_inject,
    attr(deny(warnings, rust_2018_idioms), allow(dead_code, unused_variables))
))]

mod acquire;
mod bucket;
mod error;
// `pub` items in a private module: reachable only through `loom_support`.
#[cfg_attr(not(sluicegate_loom), allow(unreachable_pub))]
mod gcra;
mod keyed;
mod keyed_acquire;
mod quota;
mod reservation;
mod stats;
mod sync;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

pub use acquire::Acquire;
pub use bucket::{NoSleeper, Snapshot, TokenBucket, TokenBucketBuilder};
pub use error::{
    InsufficientCapacity, KeyedConfigError, KeyedError, NotUntil, QuotaError, TryAcquireError,
};
pub use keyed::{KeyedStats, KeyedTokenBucket};
pub use keyed_acquire::KeyedAcquire;
pub use quota::Quota;
pub use reservation::Reservation;
pub use stats::Stats;

/// sluicegate-rt, re-exported: `Clock`, `Sleeper`, `ManualClock` and the
/// runtime adapters switched on by this crate's features.
pub use sluicegate_rt as rt;

#[cfg(all(test, sluicegate_loom))]
mod loom_tests;
