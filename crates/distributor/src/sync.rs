//! std atomics, or loom's under `--cfg sluicegate_loom`, so the loom models
//! in `loom_tests.rs` explore every interleaving of the gate and the worker
//! count. (Not plain `--cfg loom`: that would also switch tokio, a
//! dev-dependency, into its internal loom mode.)

#[cfg(sluicegate_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(not(sluicegate_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
