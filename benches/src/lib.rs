//! Shared helpers for the benches.
//!
//! The benches compare sluicegate with its peer crates on the same work in
//! the same run (see `docs/benchmarks.md`). Futures that complete without
//! waiting are driven with [`poll_ready`], one poll on a no-op waker, so no
//! executor overhead ends up in the measurement.

pub mod queue_rows;

use std::future::IntoFuture;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Polls `fut` once with a no-op waker and returns its output: `.await`
/// without an executor. Takes anything `.await` takes (a future, or an
/// `IntoFuture` such as a configured `sluicegate_retry::Retry`).
///
/// Meant for futures that are ready at their first poll: a retry whose
/// operation and sleeper never wait. Measuring them this way leaves out any
/// executor (no task, no queue, no thread wake-up).
///
/// # Panics
///
/// If `fut` is still pending after that one poll: the bench is then measuring
/// something other than it claims, and a result would be meaningless.
#[inline]
pub fn poll_ready<F: IntoFuture>(fut: F) -> F::Output {
    let mut fut = pin!(fut.into_future());
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked future was pending after its first poll"),
    }
}

#[cfg(test)]
mod tests {
    use super::poll_ready;

    #[test]
    fn returns_the_output_of_a_ready_future() {
        assert_eq!(poll_ready(async { 42 }), 42);
    }

    #[test]
    #[should_panic(expected = "pending after its first poll")]
    fn panics_on_a_pending_future() {
        poll_ready(std::future::pending::<()>());
    }
}
