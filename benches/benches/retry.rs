//! `retry/<case>`: what a retry wrapper costs around an operation.
//!
//! Each group runs the same work three ways: `bare` (the operation alone, or
//! a hand-written loop: the floor), `sluicegate` (sluicegate-retry) and
//! `backon` (backon 1.x, the closest peer). Both libraries get the same
//! policy: exponential from 1 s, factor 2, cap 60 s, no jitter, 4 attempts
//! (backon's `ExponentialBuilder::default()`, spelled out). Policies are
//! built once, outside the timed loop, and passed by reference through
//! `black_box` so the compiler cannot fold them into the loop; neither needs
//! a clone per iteration (sluicegate's `Policy::retry` takes `&self`,
//! backon's `Retryable::retry` accepts `&ExponentialBuilder`).
//!
//! The sleeper never waits (`std::future::ready(())`), so every retry
//! completes at its first poll; [`poll_ready`] polls it once on a no-op
//! waker, which keeps executor overhead out of the numbers.
//!
//! Cases:
//! - `retry/success`: the operation succeeds at once.
//! - `retry/three_failures`: it fails three times, then succeeds.
//! - `retry/success_1us`: the operation does about a microsecond of work and
//!   succeeds: what the wrapper costs around a call that does something (the
//!   "within 5% of the bare call" target is read here, since 5% of a 1.4 ns
//!   no-op is less than one instruction).
//!
//! Run: `cargo bench -p sluicegate-benches --bench retry -- --noplot`.

use std::cell::Cell;
use std::future::{Ready, ready};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use criterion::{Criterion, black_box, criterion_main};
use sluicegate_benches::poll_ready;
use sluicegate_retry::Policy;

/// The error of a failed attempt.
#[derive(Debug)]
struct Transient;

/// How many times the flaky operation fails before it succeeds.
const FAILURES: u32 = 3;

/// A sleeper that never waits, usable by both libraries.
fn zero_sleep(_: Duration) -> Ready<()> {
    ready(())
}

/// The operation of `retry/success`: succeeds at once. The result goes
/// through `black_box`, so the compiler cannot tell that it is `Ok` and drop
/// a wrapper's error path, just as it could not for real I/O.
async fn answer() -> Result<u32, Transient> {
    black_box(Ok(42))
}

/// The operation of `retry/success_1us`: about a microsecond of dependent
/// arithmetic the compiler cannot skip, then `Ok`.
async fn work() -> Result<u64, Transient> {
    let mut x = black_box(1u64);
    for _ in 0..400 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(black_box(1_442_695_040_888_963_407));
    }
    black_box(Ok(x))
}

/// The operation of `retry/three_failures`: fails until it has been called
/// `FAILURES` times, then succeeds.
async fn flaky(calls: &Cell<u32>) -> Result<u32, Transient> {
    let n = calls.get();
    calls.set(n + 1);
    // Opaque, as in `answer`: no implementation can count the failures at
    // compile time and fold its loop away.
    black_box(if n < FAILURES { Err(Transient) } else { Ok(42) })
}

/// The same policy for both libraries: exponential from 1 s, factor 2, cap
/// 60 s, no jitter, 4 attempts (3 retries).
fn policies() -> (Policy, ExponentialBuilder) {
    let sluicegate = Policy::exponential(Duration::from_secs(1))
        .factor(2.0)
        .max_delay(Duration::from_secs(60))
        .max_attempts(FAILURES + 1)
        .build()
        .expect("a valid policy");
    // These are backon's defaults, written out so the match is visible.
    let backon = ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(60))
        .with_max_times(FAILURES as usize);
    (sluicegate, backon)
}

fn success(c: &mut Criterion) {
    let (policy, builder) = policies();

    // Every implementation returns the same thing before anything is timed.
    assert_eq!(poll_ready(answer()).ok(), Some(42));
    assert_eq!(
        poll_ready(policy.retry(answer).sleep(zero_sleep)).ok(),
        Some(42)
    );
    assert_eq!(
        poll_ready(answer.retry(&builder).sleep(zero_sleep)).ok(),
        Some(42)
    );

    let mut group = c.benchmark_group("retry/success");
    group.bench_function("bare", |b| b.iter(|| black_box(poll_ready(answer()))));
    group.bench_function("sluicegate", |b| {
        b.iter(|| {
            let policy = black_box(&policy);
            black_box(poll_ready(policy.retry(answer).sleep(zero_sleep)))
        })
    });
    group.bench_function("backon", |b| {
        b.iter(|| {
            let builder = black_box(&builder);
            black_box(poll_ready(answer.retry(builder).sleep(zero_sleep)))
        })
    });
    group.finish();
}

fn success_1us(c: &mut Criterion) {
    let (policy, builder) = policies();
    let expected = poll_ready(work()).ok();
    assert_eq!(
        poll_ready(policy.retry(work).sleep(zero_sleep)).ok(),
        expected
    );
    assert_eq!(
        poll_ready(work.retry(&builder).sleep(zero_sleep)).ok(),
        expected
    );

    let mut group = c.benchmark_group("retry/success_1us");
    group.bench_function("bare", |b| b.iter(|| black_box(poll_ready(work()))));
    group.bench_function("sluicegate", |b| {
        b.iter(|| {
            let policy = black_box(&policy);
            black_box(poll_ready(policy.retry(work).sleep(zero_sleep)))
        })
    });
    group.bench_function("backon", |b| {
        b.iter(|| {
            let builder = black_box(&builder);
            black_box(poll_ready(work.retry(builder).sleep(zero_sleep)))
        })
    });
    group.finish();
}

fn three_failures(c: &mut Criterion) {
    let (policy, builder) = policies();
    let calls = Cell::new(0);

    // The floor: call until Ok, no backoff, no sleeping.
    let bare = || async {
        loop {
            if let Ok(value) = flaky(&calls).await {
                break value;
            }
        }
    };
    let sluicegate = || policy.retry(|| flaky(&calls)).sleep(zero_sleep);

    // Every implementation succeeds on the fourth call before anything is
    // timed.
    calls.set(0);
    assert_eq!(poll_ready(bare()), 42);
    assert_eq!(calls.replace(0), FAILURES + 1);
    assert_eq!(poll_ready(sluicegate()).ok(), Some(42));
    assert_eq!(calls.replace(0), FAILURES + 1);
    assert_eq!(
        poll_ready((|| flaky(&calls)).retry(&builder).sleep(zero_sleep)).ok(),
        Some(42)
    );
    assert_eq!(calls.replace(0), FAILURES + 1);

    let mut group = c.benchmark_group("retry/three_failures");
    group.bench_function("bare", |b| {
        b.iter(|| {
            calls.set(0);
            black_box(poll_ready(bare()))
        })
    });
    group.bench_function("sluicegate", |b| {
        b.iter(|| {
            calls.set(0);
            let policy = black_box(&policy);
            black_box(poll_ready(policy.retry(|| flaky(&calls)).sleep(zero_sleep)))
        })
    });
    group.bench_function("backon", |b| {
        b.iter(|| {
            calls.set(0);
            let builder = black_box(&builder);
            black_box(poll_ready(
                (|| flaky(&calls)).retry(builder).sleep(zero_sleep),
            ))
        })
    });
    group.finish();
}

/// Both cases, with short runs so the whole file takes about a minute on 2
/// cores. What `criterion_group!` would generate, written out so it can carry
/// a doc comment (workspace lint `missing_docs`).
fn benches() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(100)
        .configure_from_args();
    success(&mut criterion);
    success_1us(&mut criterion);
    three_failures(&mut criterion);
}

criterion_main!(benches);
