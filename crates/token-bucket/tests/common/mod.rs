//! Helpers shared by the keyed, tower, runtimes and bad-input suites.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sluicegate_rt::ManualClock;
use sluicegate_token_bucket::{KeyedError, KeyedTokenBucket, Quota, TryAcquireError};

/// Polls `fut` once on a noop waker.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn ns(n: u64) -> Duration {
    Duration::from_nanos(n)
}

/// Runs `f` on its own thread and returns its result, or panics with
/// `what` if it has not returned after a generous grace period.
///
/// A guard against hangs (a livelocked spin loop), not a timing assertion:
/// the call under test takes nanoseconds, and the grace period only bounds
/// how long a broken build makes the suite wait. A hung thread is leaked.
pub fn must_return<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: did not return (hangs)"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

/// 10 per second (one token every 100 ms), burst `burst`.
pub fn ten_per_second(burst: u32) -> Quota {
    Quota::per_second(10).unwrap().with_burst(burst).unwrap()
}

pub fn limiter<K: std::hash::Hash + Eq + Clone>(
    burst: u32,
    max_keys: usize,
) -> (ManualClock, KeyedTokenBucket<K, ManualClock>) {
    let clock = ManualClock::new();
    let limiter =
        KeyedTokenBucket::with_clock(ten_per_second(burst), max_keys, clock.clone()).unwrap();
    (clock, limiter)
}

pub fn retry_after(err: KeyedError) -> std::time::Duration {
    match err {
        KeyedError::Denied(TryAcquireError::NotUntil(denied)) => denied.retry_after(),
        other => panic!("expected a NotUntil denial, got {other:?}"),
    }
}
