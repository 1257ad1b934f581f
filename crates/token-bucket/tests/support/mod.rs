//! Helpers shared by the test suites.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use sluicegate_rt::ManualClock;
use sluicegate_token_bucket::{Quota, TokenBucket};

pub type Bucket = TokenBucket<ManualClock, ManualClock>;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A bucket on a fresh virtual clock, with the clock as its sleeper.
pub fn bucket(per_second: u32, burst: u32) -> (ManualClock, Bucket) {
    let clock = ManualClock::new();
    let quota = Quota::per_second(per_second)
        .unwrap()
        .with_burst(burst)
        .unwrap();
    let bucket = TokenBucket::builder(quota)
        .clock(clock.clone())
        .sleeper(clock.clone())
        .build();
    (clock, bucket)
}

/// Runs the futures concurrently in virtual time (polled in index order),
/// returning each output with the virtual time at which it completed.
pub fn run_all<T>(
    clock: &ManualClock,
    futs: Vec<Pin<Box<dyn Future<Output = T> + '_>>>,
) -> Vec<(T, Duration)> {
    let mut futs: Vec<_> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<(T, Duration)>> = futs.iter().map(|_| None).collect();
    clock.block_on(std::future::poll_fn(|cx| {
        for (slot, result) in futs.iter_mut().zip(out.iter_mut()) {
            if let Some(fut) = slot {
                if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                    *result = Some((v, clock.elapsed()));
                    *slot = None;
                }
            }
        }
        if futs.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));
    out.into_iter().map(Option::unwrap).collect()
}
