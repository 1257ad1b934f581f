//! std atomics and mutexes, or loom's under `--cfg sluicegate_loom`, so
//! `tests/loom.rs` can explore every interleaving of the merge's wake
//! protocol and of the fan-out's queues. (Not plain `--cfg loom`: that would also switch tokio, a
//! dev-dependency, into its internal loom mode.)

#[cfg(sluicegate_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(sluicegate_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(sluicegate_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(not(sluicegate_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Locks `m`, ignoring poison: nothing here leaves a half-updated state
/// behind a panic (user code never runs under these locks).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
