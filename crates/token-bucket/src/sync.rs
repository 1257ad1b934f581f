//! std atomics, or loom's under `--cfg sluicegate_loom`.

#[cfg(sluicegate_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(not(sluicegate_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Backs off while another thread finishes a reconfiguration.
#[inline]
pub(crate) fn spin() {
    #[cfg(sluicegate_loom)]
    loom::thread::yield_now();
    #[cfg(not(sluicegate_loom))]
    std::hint::spin_loop();
}
