//! Flow control for async Rust, on any executor.
//!
//! `sluicegate` re-exports sluicegate's primitive crates, each behind a
//! feature of the same name, the way `futures` re-exports its parts. Depend
//! on this crate for everything, or on a single primitive crate for just
//! that one: the types are the same.
//!
//! | module | crate | feature | what it is |
//! |---|---|---|---|
//! | [`rt`] | sluicegate-rt | always | `Clock`, `Sleeper`, `Spawner`, virtual-time `ManualClock`, executor adapters |
//! | [`retry`] | sluicegate-retry | `retry` (default) | retry with backoff: capped jitter, deadlines, classification, cancellation |
//! | [`backpressure`] | sluicegate-backpressure | `backpressure` (default) | bounded MPMC queue: overflow policies, lossless cancellation, permits, full-event stats, Stream/Sink |
//! | [`distributor`] | sluicegate-distributor | `distributor` (default) | bounded worker pool: backpressure, graceful shutdown that hands back what it cannot run, panic isolation, resize, job handles |
//! | [`leaky_bucket`] | sluicegate-leaky-bucket | `leaky-bucket` (default) | pacing: evenly spaced releases without drift, bounded waiting room, stream pacing |
//! | [`token_bucket`] | sluicegate-token-bucket | `token-bucket` (default) | admission control: lock-free GCRA, try / wait / reserve, keyed, tower layer (feature `tower`) |
//! | [`pipeline`] | sluicegate-pipeline | `pipeline` (default) | typed stream pipelines: stages, bounded buffers, error stream, cancellation with a summary, batching by size or time, bounded parallel step |
//! | [`fanio`] | sluicegate-fanio | `fanio` (default) | fan-out to N workers (shared or keyed), fair fan-in merge, bounded broadcast |
//!
//! The runtime features `tokio`, `smol`, `futures-timer` and `threads` switch
//! on the matching adapters in [`rt`]; none is on by default, and without
//! them no executor is in the dependency graph.
//!
//! ```
//! # #[cfg(feature = "retry")] {
//! use sluicegate::retry::Policy;
//! use sluicegate::rt::ManualClock;
//! use std::time::Duration;
//!
//! let policy = Policy::constant(Duration::from_millis(10)).max_attempts(3).build().unwrap();
//! let clock = ManualClock::new();
//! let mut calls = 0;
//! let result: Result<u32, _> = policy
//!     .retry_blocking(|| {
//!         calls += 1;
//!         if calls < 3 { Err("busy") } else { Ok(calls) }
//!     })
//!     .sleep(|d| clock.advance(d))
//!     .call();
//! assert_eq!(result.unwrap(), 3);
//! assert_eq!(clock.elapsed(), Duration::from_millis(20));
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(
    no_crate_inject,
    attr(deny(warnings, rust_2018_idioms), allow(dead_code, unused_variables))
))]

#[doc(inline)]
pub use sluicegate_rt as rt;

#[cfg(feature = "retry")]
#[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
#[doc(inline)]
pub use sluicegate_retry as retry;

#[cfg(feature = "token-bucket")]
#[cfg_attr(docsrs, doc(cfg(feature = "token-bucket")))]
#[doc(inline)]
pub use sluicegate_token_bucket as token_bucket;

#[cfg(feature = "leaky-bucket")]
#[cfg_attr(docsrs, doc(cfg(feature = "leaky-bucket")))]
#[doc(inline)]
pub use sluicegate_leaky_bucket as leaky_bucket;

#[cfg(feature = "backpressure")]
#[cfg_attr(docsrs, doc(cfg(feature = "backpressure")))]
#[doc(inline)]
pub use sluicegate_backpressure as backpressure;

#[cfg(feature = "distributor")]
#[cfg_attr(docsrs, doc(cfg(feature = "distributor")))]
#[doc(inline)]
pub use sluicegate_distributor as distributor;

#[cfg(feature = "pipeline")]
#[cfg_attr(docsrs, doc(cfg(feature = "pipeline")))]
#[doc(inline)]
pub use sluicegate_pipeline as pipeline;

#[cfg(feature = "fanio")]
#[cfg_attr(docsrs, doc(cfg(feature = "fanio")))]
#[doc(inline)]
pub use sluicegate_fanio as fanio;
