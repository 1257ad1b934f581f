//! Property tests of the slot arithmetic through the public API, at the
//! extremes: 1 per hour, 10⁹ per second, `u32::MAX` per `Duration::MAX`,
//! `Duration::MAX` slack, late wake-ups of any size.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use sluicegate_leaky_bucket::{ConfigError, LeakyBucket};
use sluicegate_rt::ManualClock;
use support::{Bucket, Crowd};

fn rate() -> impl Strategy<Value = u32> {
    prop_oneof![
        1u32..=10,
        1u32..=1_000_000,
        Just(1_000_000_000),
        Just(u32::MAX),
        1u32..=u32::MAX,
    ]
}

fn period() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1u64..=10_000_000_000).prop_map(Duration::from_nanos),
        Just(Duration::from_secs(1)),
        Just(Duration::from_secs(3600)),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        Just(Duration::MAX),
    ]
}

fn slack() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (0u64..10_000_000_000).prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_nanos),
        Just(Duration::MAX),
    ]
}

/// A clock step, as a fraction of the interval (late and early wake-ups of
/// any size) or an absolute jump.
fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u32..500).prop_map(Step::Percent),
        1 => any::<u64>().prop_map(|n| Step::Abs(Duration::from_nanos(n))),
        1 => Just(Step::Abs(Duration::MAX)),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Percent(u32),
    Abs(Duration),
}

fn ns(d: Duration) -> u128 {
    d.as_nanos()
}

fn to_duration(n: u128) -> Duration {
    let secs = u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (n % 1_000_000_000) as u32)
}

impl Step {
    fn size(self, interval: Duration) -> Duration {
        match self {
            Step::Percent(p) => to_duration(ns(interval).saturating_mul(u128::from(p)) / 100),
            Step::Abs(d) => d,
        }
    }
}

/// Builds the bucket, or checks that the settings were rightly refused.
fn build(
    clock: &ManualClock,
    rate: u32,
    period: Duration,
    slack: Duration,
    capacity: usize,
) -> Option<Bucket> {
    let built = LeakyBucket::builder(rate, period)
        .slack(slack)
        .capacity(capacity)
        .timer(clock.clone())
        .build();
    if ns(period) < u128::from(rate) {
        assert_eq!(
            built.unwrap_err(),
            ConfigError::RateTooHigh { rate, period }
        );
        None
    } else {
        Some(built.unwrap())
    }
}

/// Slot `k` of an uninterrupted schedule, in ns since the start.
fn grid(k: u128, rate: u32, period: Duration) -> u128 {
    (k * ns(period)).div_ceil(u128::from(rate))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Callers all waiting from the start are released exactly on the
    /// schedule, whatever the lateness of each wake-up: by time `t`, exactly
    /// the slots at or before `t` have been released, and none early.
    #[test]
    fn waiters_follow_the_schedule_under_any_lateness(
        rate in rate(), period in period(), slack in slack(),
        n in 1usize..60, steps in prop::collection::vec(step(), 1..25),
    ) {
        let clock = ManualClock::new();
        let Some(bucket) = build(&clock, rate, period, slack, n) else { return Ok(()) };
        let interval = bucket.interval();
        let mut crowd = Crowd::new(&clock);
        let ids = crowd.acquire_n(&bucket, n);
        for step in steps {
            crowd.advance(step.size(interval));
            let t = ns(clock.elapsed());
            let due = (t * u128::from(rate) / ns(period)).saturating_add(1);
            prop_assert_eq!(crowd.released() as u128, due.min(n as u128), "at {}ns", t);
        }
        for (k, &i) in ids.iter().enumerate() {
            if let Some(at) = crowd.finished_at(i) {
                prop_assert!(ns(at) >= grid(k as u128, rate, period), "caller {} early", k);
            }
        }
        let s = bucket.stats();
        prop_assert_eq!(s.passed as usize + s.waiting, n);
    }

    /// The try path: never faster than the rate (any `j - i` passes span at
    /// least `(j - i) · interval - slack`, to the nanosecond), never ahead
    /// of the grid, and the reported wait is exact.
    #[test]
    fn try_acquire_keeps_to_the_rate_and_reports_exact_waits(
        rate in rate(), period in period(), slack in slack(),
        steps in prop::collection::vec((step(), 0u8..12, any::<bool>()), 1..25),
    ) {
        let clock = ManualClock::new();
        let Some(bucket) = build(&clock, rate, period, slack, 1) else { return Ok(()) };
        let interval = bucket.interval();
        let mut passes: Vec<u128> = Vec::new();
        for (step, tries, check_wait) in steps {
            clock.advance(step.size(interval));
            for _ in 0..tries {
                match bucket.try_acquire() {
                    Ok(()) => passes.push(ns(clock.elapsed())),
                    Err(e) => {
                        prop_assert_eq!(e.ahead(), 0);
                        prop_assert!(e.wait() > Duration::ZERO);
                        let before = clock.elapsed();
                        if check_wait && before.checked_add(e.wait()).is_some_and(|t| t < Duration::from_secs(1 << 62)) {
                            clock.advance(e.wait() - Duration::from_nanos(1));
                            prop_assert!(bucket.try_acquire().is_err(), "passed 1ns early");
                            clock.advance(Duration::from_nanos(1));
                            prop_assert!(bucket.try_acquire().is_ok(), "wait {:?} was not enough", e.wait());
                            passes.push(ns(clock.elapsed()));
                        }
                        break;
                    }
                }
            }
        }
        let (p, r, sl) = (ns(period), u128::from(rate), ns(slack));
        for (k, &t) in passes.iter().enumerate() {
            prop_assert!(t >= grid(k as u128, rate, period).min(sluicegate_max()), "pass {} ahead of the grid", k);
        }
        for i in 0..passes.len() {
            for j in i + 1..passes.len() {
                let span = passes[j] - passes[i];
                prop_assert!(
                    ((j - i) as u128).saturating_mul(p) <= span.saturating_add(sl).saturating_add(1).saturating_mul(r),
                    "passes {} and {} too close: {}ns", i, j, span
                );
            }
        }
        prop_assert_eq!(bucket.stats().passed as usize, passes.len());
    }
}

/// The end of time as the bucket counts it (`Duration::MAX`).
fn sluicegate_max() -> u128 {
    Duration::MAX.as_nanos()
}

#[test]
fn a_million_passes_at_one_per_nanosecond_are_exact() {
    let clock = ManualClock::new();
    let bucket = LeakyBucket::per_second(1_000_000_000)
        .slack(Duration::MAX)
        .timer(clock.clone())
        .build()
        .unwrap();
    clock.advance(Duration::from_nanos(999_999));
    let mut passed = 0u64;
    while bucket.try_acquire().is_ok() {
        passed += 1;
    }
    assert_eq!(passed, 1_000_000);
    assert_eq!(
        bucket.try_acquire().unwrap_err().wait(),
        Duration::from_nanos(1)
    );
}

#[test]
fn one_per_hour_for_a_thousand_years_is_exact() {
    let clock = ManualClock::new();
    let bucket = LeakyBucket::builder(1, Duration::from_secs(3600))
        .slack(Duration::MAX)
        .timer(clock.clone())
        .build()
        .unwrap();
    let hours = 24 * 365 * 1000;
    clock.advance(Duration::from_secs(3600 * hours));
    let mut passed = 0u64;
    while bucket.try_acquire().is_ok() {
        passed += 1;
    }
    assert_eq!(passed, hours + 1);
    assert_eq!(
        bucket.try_acquire().unwrap_err().wait(),
        Duration::from_secs(3600)
    );
}

#[test]
fn u32_max_per_duration_max_does_not_overflow() {
    let clock = ManualClock::new();
    let bucket = LeakyBucket::builder(u32::MAX, Duration::MAX)
        .slack(Duration::MAX)
        .timer(clock.clone())
        .build()
        .unwrap();
    for _ in 0..1000 {
        let _ = bucket.try_acquire();
        clock.advance(Duration::from_secs(u64::MAX / 1024));
    }
    let mut crowd = Crowd::new(&clock);
    crowd.acquire_n(&bucket, 10);
    crowd.advance(Duration::MAX);
    assert!(bucket.stats().passed >= 1);
}
