//! std atomics, or loom's under `--cfg sluicegate_loom`, so `tests/loom.rs`
//! can explore every interleaving of the cancel token and of an emit
//! racing the end of the run. (Not plain
//! `--cfg loom`: that would also switch tokio, a dev-dependency, into its
//! internal loom mode.)

#[cfg(sluicegate_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(sluicegate_loom)]
pub(crate) use loom::sync::{RwLock, RwLockReadGuard};
#[cfg(not(sluicegate_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(sluicegate_loom))]
pub(crate) use std::sync::{RwLock, RwLockReadGuard};
