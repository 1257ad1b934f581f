//! Invalid settings are typed errors at construction; extreme but valid
//! ones work without panics or overflow.

mod support;

use std::time::{Duration, Instant};

use sluicegate_leaky_bucket::{ConfigError, LeakyBucket};
use sluicegate_rt::ManualClock;
use support::{Crowd, ms, poll_once};

#[test]
fn a_zero_rate_is_rejected() {
    assert_eq!(
        LeakyBucket::builder(0, Duration::from_secs(1))
            .build()
            .unwrap_err(),
        ConfigError::ZeroRate
    );
    assert_eq!(
        LeakyBucket::per_second(0).build().unwrap_err(),
        ConfigError::ZeroRate
    );
}

#[test]
fn a_zero_period_is_rejected() {
    assert_eq!(
        LeakyBucket::builder(5, Duration::ZERO).build().unwrap_err(),
        ConfigError::ZeroPeriod
    );
    assert_eq!(
        LeakyBucket::every(Duration::ZERO).build().unwrap_err(),
        ConfigError::ZeroPeriod
    );
}

#[test]
fn a_zero_capacity_is_rejected() {
    assert_eq!(
        LeakyBucket::per_second(5).capacity(0).build().unwrap_err(),
        ConfigError::ZeroCapacity
    );
}

#[test]
fn more_than_one_slot_per_nanosecond_is_rejected() {
    assert_eq!(
        LeakyBucket::per_second(2_000_000_000).build().unwrap_err(),
        ConfigError::RateTooHigh {
            rate: 2_000_000_000,
            period: Duration::from_secs(1)
        }
    );
    assert_eq!(
        LeakyBucket::builder(2, Duration::from_nanos(1))
            .build()
            .unwrap_err(),
        ConfigError::RateTooHigh {
            rate: 2,
            period: Duration::from_nanos(1)
        }
    );
    // Exactly one per nanosecond is fine.
    let b = LeakyBucket::per_second(1_000_000_000).build().unwrap();
    assert_eq!(b.interval(), Duration::from_nanos(1));
    let b = LeakyBucket::builder(7, Duration::from_nanos(7))
        .build()
        .unwrap();
    assert_eq!(b.interval(), Duration::from_nanos(1));
}

#[test]
fn errors_are_checked_in_a_stable_order() {
    assert_eq!(
        LeakyBucket::builder(0, Duration::ZERO)
            .capacity(0)
            .build()
            .unwrap_err(),
        ConfigError::ZeroRate
    );
    assert_eq!(
        LeakyBucket::builder(1, Duration::ZERO)
            .capacity(0)
            .build()
            .unwrap_err(),
        ConfigError::ZeroPeriod
    );
}

#[test]
fn errors_read_well_and_are_std_errors() {
    let cases = [
        (ConfigError::ZeroRate, "rate must be at least 1 per period"),
        (ConfigError::ZeroPeriod, "period must be above zero"),
        (ConfigError::ZeroCapacity, "capacity must be at least 1"),
        (
            ConfigError::RateTooHigh {
                rate: 3,
                period: Duration::from_nanos(2),
            },
            "rate too high: 3 per 2ns is more than one per nanosecond",
        ),
    ];
    for (err, msg) in cases {
        assert_eq!(err.to_string(), msg);
        let _: &dyn std::error::Error = &err;
    }
}

#[test]
fn extreme_settings_build() {
    for (rate, period) in [
        (1, Duration::MAX),
        (u32::MAX, Duration::MAX),
        (u32::MAX, Duration::from_nanos(u64::from(u32::MAX))),
        (1, Duration::from_nanos(1)),
        (1, Duration::from_secs(3600)),
    ] {
        let b = LeakyBucket::builder(rate, period)
            .capacity(usize::MAX)
            .slack(Duration::MAX)
            .build()
            .unwrap();
        assert_eq!(
            (b.rate(), b.period(), b.slack()),
            (rate, period, Duration::MAX)
        );
        assert!(b.interval() >= Duration::from_nanos(1));
        assert!(b.try_acquire().is_ok());
    }
}

#[test]
fn a_period_of_duration_max_waits_forever_without_overflow() {
    let clock = ManualClock::new();
    let bucket = LeakyBucket::every(Duration::MAX)
        .timer(clock.clone())
        .build()
        .unwrap();
    assert!(bucket.try_acquire().is_ok());
    assert_eq!(bucket.try_acquire().unwrap_err().wait(), Duration::MAX);
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 3);
    // As far as the clock can go: still not due.
    clock.advance(Duration::MAX);
    crowd.settle();
    assert!(ids.iter().all(|&i| !crowd.is_done(i)));
    assert_eq!(bucket.try_acquire().unwrap_err().ahead(), 3);
}

#[test]
fn slack_of_duration_max_banks_all_idle_time_without_overflow() {
    let clock = ManualClock::new();
    let bucket = LeakyBucket::every(ms(10))
        .slack(Duration::MAX)
        .timer(clock.clone())
        .build()
        .unwrap();
    assert!(bucket.try_acquire().is_ok());
    clock.advance(ms(1000));
    // Everything since the start was banked: slots 10..=1000 are due.
    for _ in 0..100 {
        assert!(bucket.try_acquire().is_ok());
    }
    assert_eq!(bucket.try_acquire().unwrap_err().wait(), ms(10));
    clock.block_on(bucket.acquire()).unwrap();
    assert_eq!(clock.elapsed(), ms(1010));
}

#[test]
fn a_clock_that_goes_backwards_does_not_panic() {
    let origin = Instant::now() + Duration::from_secs(10);
    let flip = std::sync::atomic::AtomicBool::new(false);
    // First reading (the origin), then earlier instants.
    let clock = move || {
        if flip.swap(true, std::sync::atomic::Ordering::SeqCst) {
            origin - Duration::from_secs(5)
        } else {
            origin
        }
    };
    let bucket = LeakyBucket::every(ms(10))
        .clock(clock)
        .sleeper(|_: Duration| std::future::ready(()))
        .build()
        .unwrap();
    assert!(bucket.try_acquire().is_ok());
    assert_eq!(bucket.try_acquire().unwrap_err().wait(), ms(10));
    assert!(poll_once(std::pin::pin!(bucket.acquire())).is_ready());
}

#[test]
fn a_clock_at_the_edge_of_instant_does_not_panic() {
    // A clock whose origin is near the largest representable instant: slots
    // beyond it cannot become `Instant`s, and the bucket sleeps "forever".
    let mut far = Instant::now();
    let mut step = Duration::from_secs(u64::MAX / 2);
    while step >= Duration::from_secs(1) {
        if let Some(next) = far.checked_add(step) {
            far = next;
        } else {
            step /= 2;
        }
    }
    let clock = ManualClock::starting_at(far);
    let bucket = LeakyBucket::every(Duration::from_secs(3600))
        .timer(clock.clone())
        .build()
        .unwrap();
    assert!(bucket.try_acquire().is_ok());
    let mut fut = Box::pin(bucket.acquire());
    assert!(poll_once(fut.as_mut()).is_pending());
    clock.advance(Duration::MAX);
    assert!(poll_once(fut.as_mut()).is_pending());
}
