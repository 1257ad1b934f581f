//! std's `Arc` and `Mutex`, or loom's under `--cfg sluicegate_loom`, so
//! `tests/loom.rs` can explore the waiting room's locking and wake-up
//! protocol. (Not plain `--cfg loom`: that would also switch tokio, a
//! dev-dependency, into its internal loom mode.)

#[cfg(sluicegate_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(sluicegate_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
