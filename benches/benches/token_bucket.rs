//! `token_bucket/<case>`: what one admission decision costs.
//!
//! Implementations: `sluicegate` (sluicegate-token-bucket), `governor`
//! (0.10, GCRA), `ratelimit` (iopsystems 2.x, token bucket), and the
//! baseline `clock_only`: reading the same clock and nothing else.
//!
//! Cases:
//! - `allow_injected_clock`: every implementation reads the same kind of
//!   injected clock, a counter that moves 1 µs per read, at 10⁶ tokens/s:
//!   every decision admits. This is the decision's own cost.
//! - `allow_real_clock`: each with its default real clock (sluicegate and
//!   ratelimit: `std::time::Instant`; governor: quanta's TSC clock), at
//!   10⁹ tokens/s so every decision admits. `clock_only` reads `Instant::now`.
//! - `deny`: the bucket is empty and the injected clock does not move:
//!   the cost of saying no (with the retry-after).
//! - `contended_2_threads`: two threads decide on one shared limiter with
//!   real clocks, 10⁹ tokens/s; the time is per decision per thread.
//! - `keyed_injected_clock`: keyed limiters (sluicegate's
//!   `KeyedTokenBucket`, 16 mutex shards; governor's default keyed store,
//!   a `DashMap`), 1 024 keys taken in turn, the injected clock, 10⁶
//!   tokens/s per key: every decision admits an existing key.
//! - `keyed_contended_2_threads`: the same limiters on two threads at once,
//!   with real clocks and 10⁹ tokens/s per key, each thread walking the
//!   1 024 keys from a different start; the time is per decision per
//!   thread.
//!
//! Run: `cargo bench -p sluicegate-benches --bench token_bucket -- --noplot`.

use std::cell::Cell;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, black_box, criterion_main};
use sluicegate_token_bucket::{KeyedTokenBucket, Quota, TokenBucket};

/// A clock for one thread that moves `step` nanoseconds per read: cheap
/// enough (no atomic) that it does not hide the decision's cost.
#[derive(Clone)]
struct StepClock {
    base: Instant,
    ns: Rc<Cell<u64>>,
    step: u64,
}

impl StepClock {
    fn new(step: u64) -> Self {
        Self {
            base: Instant::now(),
            ns: Rc::new(Cell::new(0)),
            step,
        }
    }

    #[inline]
    fn tick(&self) -> u64 {
        let ns = self.ns.get() + self.step;
        self.ns.set(ns);
        ns
    }
}

impl sluicegate_rt::Clock for StepClock {
    #[inline]
    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.tick())
    }
}

impl governor::clock::Clock for StepClock {
    type Instant = governor::nanos::Nanos;

    #[inline]
    fn now(&self) -> Self::Instant {
        governor::nanos::Nanos::new(self.tick())
    }
}

impl ratelimit::Clock for StepClock {
    #[inline]
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.tick())
    }
}

const PER_SECOND: u32 = 1_000_000;
const BURST: u32 = 1_000;

fn sluicegate_bucket<C: sluicegate_rt::Clock>(per_second: u32, clock: C) -> TokenBucket<C> {
    let quota = Quota::per_second(per_second)
        .expect("valid rate")
        .with_burst(BURST)
        .expect("valid burst");
    TokenBucket::builder(quota).clock(clock).build()
}

fn governor_quota(per_second: u32) -> governor::Quota {
    governor::Quota::per_second(NonZeroU32::new(per_second).expect("non-zero"))
        .allow_burst(NonZeroU32::new(BURST).expect("non-zero"))
}

fn ratelimit_with<C: ratelimit::Clock>(per_second: u64, clock: C) -> ratelimit::Ratelimiter<C> {
    ratelimit::Builder::with_clock(per_second, clock)
        .max_tokens(u64::from(BURST))
        .initial_available(u64::from(BURST))
        .build()
        .expect("valid ratelimit")
}

fn allow_injected_clock(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_bucket/allow_injected_clock");
    let clock = StepClock::new(1_000);
    group.bench_function("clock_only", |b| {
        b.iter(|| black_box(sluicegate_rt::Clock::now(&clock)))
    });

    let bucket = sluicegate_bucket(PER_SECOND, StepClock::new(1_000));
    assert!((0..10_000).all(|_| bucket.try_acquire(1).is_ok()));
    group.bench_function("sluicegate", |b| {
        b.iter(|| black_box(bucket.try_acquire(1)))
    });

    let gov =
        governor::RateLimiter::direct_with_clock(governor_quota(PER_SECOND), StepClock::new(1_000));
    assert!((0..10_000).all(|_| gov.check().is_ok()));
    group.bench_function("governor", |b| b.iter(|| black_box(gov.check())));

    let rl = ratelimit_with(u64::from(PER_SECOND), StepClock::new(1_000));
    assert!((0..10_000).all(|_| rl.try_wait().is_ok()));
    group.bench_function("ratelimit", |b| b.iter(|| black_box(rl.try_wait())));
    group.finish();
}

fn allow_real_clock(c: &mut Criterion) {
    const FAST: u32 = 1_000_000_000;
    let mut group = c.benchmark_group("token_bucket/allow_real_clock");
    group.bench_function("clock_only", |b| b.iter(|| black_box(Instant::now())));

    let bucket = sluicegate_bucket(FAST, sluicegate_rt::SystemClock);
    group.bench_function("sluicegate", |b| {
        b.iter(|| black_box(bucket.try_acquire(1)))
    });

    let gov = governor::RateLimiter::direct(governor_quota(FAST));
    group.bench_function("governor", |b| b.iter(|| black_box(gov.check())));

    let rl = ratelimit_with(u64::from(FAST), ratelimit::StdClock::new());
    group.bench_function("ratelimit", |b| b.iter(|| black_box(rl.try_wait())));
    group.finish();
}

fn deny(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_bucket/deny");
    let bucket = sluicegate_bucket(PER_SECOND, StepClock::new(0));
    while bucket.try_acquire(1).is_ok() {}
    group.bench_function("sluicegate", |b| {
        b.iter(|| black_box(bucket.try_acquire(1)))
    });

    let gov =
        governor::RateLimiter::direct_with_clock(governor_quota(PER_SECOND), StepClock::new(0));
    while gov.check().is_ok() {}
    group.bench_function("governor", |b| b.iter(|| black_box(gov.check())));

    let rl = ratelimit_with(u64::from(PER_SECOND), StepClock::new(0));
    while rl.try_wait().is_ok() {}
    group.bench_function("ratelimit", |b| b.iter(|| black_box(rl.try_wait())));
    group.finish();
}

/// Runs `decide` `iters` times on each of two threads at once; returns the
/// wall time, so criterion reports time per decision per thread.
fn two_threads(iters: u64, decide: impl Fn() -> bool + Sync) -> Duration {
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let run = || {
            barrier.wait();
            let start = Instant::now();
            for _ in 0..iters {
                black_box(decide());
            }
            start.elapsed()
        };
        let other = s.spawn(run);
        let here = run();
        here.max(other.join().expect("bench thread"))
    })
}

fn contended_2_threads(c: &mut Criterion) {
    const FAST: u32 = 1_000_000_000;
    let mut group = c.benchmark_group("token_bucket/contended_2_threads");
    let bucket = Arc::new(sluicegate_bucket(FAST, sluicegate_rt::SystemClock));
    group.bench_function("sluicegate", |b| {
        b.iter_custom(|iters| two_threads(iters, || bucket.try_acquire(1).is_ok()))
    });
    let gov = governor::RateLimiter::direct(governor_quota(FAST));
    group.bench_function("governor", |b| {
        b.iter_custom(|iters| two_threads(iters, || gov.check().is_ok()))
    });
    let rl = ratelimit_with(u64::from(FAST), ratelimit::StdClock::new());
    group.bench_function("ratelimit", |b| {
        b.iter_custom(|iters| two_threads(iters, || rl.try_wait().is_ok()))
    });
    group.finish();
}

const KEYS: u64 = 1_024;

fn sluicegate_keyed<C: sluicegate_rt::Clock>(
    per_second: u32,
    clock: C,
) -> KeyedTokenBucket<u64, C> {
    let quota = Quota::per_second(per_second)
        .expect("valid rate")
        .with_burst(BURST)
        .expect("valid burst");
    KeyedTokenBucket::with_clock(quota, 4 * KEYS as usize, clock).expect("valid cap")
}

/// The next key of a walk over `0..KEYS`.
#[inline]
fn next_key(key: &Cell<u64>) -> u64 {
    let k = key.get();
    key.set(if k + 1 == KEYS { 0 } else { k + 1 });
    k
}

fn keyed_injected_clock(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_bucket/keyed_injected_clock");
    let limiter = sluicegate_keyed(PER_SECOND, StepClock::new(1_000));
    let key = Cell::new(0);
    assert!((0..10 * KEYS).all(|_| limiter.try_acquire(&next_key(&key), 1).is_ok()));
    group.bench_function("sluicegate", |b| {
        b.iter(|| black_box(limiter.try_acquire(&next_key(&key), 1)))
    });

    let gov = governor::RateLimiter::dashmap_with_clock(
        governor_quota(PER_SECOND),
        StepClock::new(1_000),
    );
    let key = Cell::new(0);
    assert!((0..10 * KEYS).all(|_| gov.check_key(&next_key(&key)).is_ok()));
    group.bench_function("governor", |b| {
        b.iter(|| black_box(gov.check_key(&next_key(&key))))
    });
    group.finish();
}

/// Like [`two_threads`], each thread walking the keys from its own start.
fn two_threads_keyed(iters: u64, decide: impl Fn(u64) -> bool + Sync) -> Duration {
    let barrier = std::sync::Barrier::new(2);
    let run = |start: u64| {
        let key = Cell::new(start);
        barrier.wait();
        let t = Instant::now();
        for _ in 0..iters {
            black_box(decide(next_key(&key)));
        }
        t.elapsed()
    };
    std::thread::scope(|s| {
        let other = s.spawn(|| run(KEYS / 2));
        let here = run(0);
        here.max(other.join().expect("bench thread"))
    })
}

fn keyed_contended_2_threads(c: &mut Criterion) {
    const FAST: u32 = 1_000_000_000;
    let mut group = c.benchmark_group("token_bucket/keyed_contended_2_threads");
    let limiter = sluicegate_keyed(FAST, sluicegate_rt::SystemClock);
    group.bench_function("sluicegate", |b| {
        b.iter_custom(|iters| two_threads_keyed(iters, |k| limiter.try_acquire(&k, 1).is_ok()))
    });
    let gov = governor::RateLimiter::keyed(governor_quota(FAST));
    group.bench_function("governor", |b| {
        b.iter_custom(|iters| two_threads_keyed(iters, |k| gov.check_key(&k).is_ok()))
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
    allow_injected_clock(&mut criterion);
    allow_real_clock(&mut criterion);
    deny(&mut criterion);
    contended_2_threads(&mut criterion);
    keyed_injected_clock(&mut criterion);
    keyed_contended_2_threads(&mut criterion);
}

criterion_main!(benches);
