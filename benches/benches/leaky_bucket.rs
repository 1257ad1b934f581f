//! `leaky_bucket/<case>`: what a pacing decision costs when no one waits.
//!
//! Implementations: `sluicegate` (sluicegate-leaky-bucket) and
//! `leaky_bucket` (the leaky-bucket crate 1.x), both at 10⁹ per second so
//! every call passes at once. Pacing accuracy under waiting, where the two
//! differ most, is measured by `rate_accuracy` (see docs/benchmarks.md).
//!
//! Cases:
//! - `try_pass`: `try_acquire` that passes.
//! - `acquire_ready`: an `acquire` future polled once that completes
//!   without waiting (inside a tokio runtime context; nothing sleeps).
//!
//! Run: `cargo bench -p sluicegate-benches --bench leaky_bucket -- --noplot`.

use std::time::Duration;

use criterion::{Criterion, black_box, criterion_main};
use sluicegate_benches::poll_ready;
use sluicegate_leaky_bucket::LeakyBucket;
use sluicegate_rt::{TokioClock, TokioSleeper};

const PER_SECOND: u32 = 1_000_000_000;

fn peer() -> leaky_bucket::RateLimiter {
    leaky_bucket::RateLimiter::builder()
        .max(1_000_000)
        .initial(1_000_000)
        .refill(1_000_000)
        .interval(Duration::from_millis(1))
        .build()
}

fn try_pass(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    let _context = runtime.enter();
    let mut group = c.benchmark_group("leaky_bucket/try_pass");
    let bucket = LeakyBucket::per_second(PER_SECOND)
        .clock(TokioClock)
        .sleeper(TokioSleeper)
        .build()
        .expect("valid bucket");
    assert!(bucket.try_acquire().is_ok());
    group.bench_function("sluicegate", |b| b.iter(|| black_box(bucket.try_acquire())));
    let limiter = peer();
    assert!(limiter.try_acquire(1));
    group.bench_function("leaky_bucket", |b| {
        b.iter(|| black_box(limiter.try_acquire(1)))
    });
    group.finish();
}

fn acquire_ready(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    let _context = runtime.enter();
    let mut group = c.benchmark_group("leaky_bucket/acquire_ready");
    let bucket = LeakyBucket::per_second(PER_SECOND)
        .clock(TokioClock)
        .sleeper(TokioSleeper)
        .build()
        .expect("valid bucket");
    group.bench_function("sluicegate", |b| {
        b.iter(|| black_box(poll_ready(bucket.acquire())))
    });
    let limiter = peer();
    group.bench_function("leaky_bucket", |b| {
        b.iter(|| poll_ready(black_box(&limiter).acquire_one()))
    });
    group.finish();
}

/// All cases; what `criterion_group!` would generate, written out so it
/// can carry a doc comment (workspace lint `missing_docs`).
fn benches() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    try_pass(&mut criterion);
    acquire_ready(&mut criterion);
}

criterion_main!(benches);
