//! Invalid settings are typed errors at construction, never panics.

use std::time::Duration;

use sluicegate_retry::{Policy, PolicyError};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn factors_that_cannot_grow_are_rejected() {
    for factor in [
        1.0,
        0.5,
        0.0,
        -2.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        let err = Policy::exponential(ms(10))
            .factor(factor)
            .build()
            .unwrap_err();
        match err {
            PolicyError::InvalidFactor(f) => assert!(f.is_nan() && factor.is_nan() || f == factor),
            other => panic!("factor {factor}: expected InvalidFactor, got {other:?}"),
        }
    }
    assert!(
        Policy::exponential(ms(10))
            .factor(1.000_001)
            .build()
            .is_ok()
    );
    assert!(Policy::exponential(ms(10)).factor(1e300).build().is_ok());
}

#[test]
fn a_factor_on_a_constant_policy_is_rejected() {
    assert_eq!(
        Policy::constant(ms(10)).factor(2.0).build(),
        Err(PolicyError::FactorOnConstant(2.0))
    );
}

#[test]
fn a_base_above_the_cap_is_rejected() {
    assert_eq!(
        Policy::exponential(ms(500)).max_delay(ms(100)).build(),
        Err(PolicyError::BaseAboveCap {
            base: ms(500),
            max_delay: ms(100)
        })
    );
    assert_eq!(
        Policy::constant(ms(500)).max_delay(ms(100)).build(),
        Err(PolicyError::BaseAboveCap {
            base: ms(500),
            max_delay: ms(100)
        })
    );
    // Without an explicit cap, a large base raises the default cap.
    let p = Policy::exponential(Duration::from_secs(600))
        .build()
        .unwrap();
    assert_eq!(p.max_delay(), Duration::from_secs(600));
}

#[test]
fn zero_settings_are_rejected_where_they_make_no_sense() {
    // A zero exponential base stays zero: immediate retries.
    let p = Policy::exponential(Duration::ZERO).build().unwrap();
    assert!(p.backoff().all(|d| d.is_zero()));
    assert_eq!(
        Policy::constant(ms(1)).max_attempts(0).build(),
        Err(PolicyError::ZeroAttempts)
    );
    assert_eq!(
        Policy::constant(ms(1)).max_elapsed(Duration::ZERO).build(),
        Err(PolicyError::ZeroMaxElapsed)
    );
    // A constant zero delay (retry at once) is legitimate.
    let p = Policy::constant(Duration::ZERO).build().unwrap();
    assert!(p.backoff().all(|d| d.is_zero()));
}

#[test]
fn extremes_build_and_iterate_without_panicking() {
    let p = Policy::exponential(Duration::MAX)
        .max_delay(Duration::MAX)
        .max_attempts(u32::MAX)
        .build()
        .unwrap();
    assert!(p.backoff().take(1000).all(|d| d == Duration::MAX));
    let p = Policy::exponential(Duration::from_nanos(1))
        .factor(f64::MAX)
        .max_delay(Duration::MAX)
        .unlimited_attempts()
        .build()
        .unwrap();
    let d: Vec<_> = p.backoff().take(4).collect();
    assert_eq!(
        d,
        [
            Duration::from_nanos(1),
            Duration::MAX,
            Duration::MAX,
            Duration::MAX
        ]
    );
}

#[test]
fn error_messages_are_lowercase_and_name_the_value() {
    let msg = Policy::exponential(ms(10))
        .factor(0.5)
        .build()
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "backoff factor must be finite and greater than 1, got 0.5"
    );
    for err in [
        PolicyError::ZeroAttempts,
        PolicyError::ZeroMaxElapsed,
        PolicyError::FactorOnConstant(3.0),
        PolicyError::BaseAboveCap {
            base: ms(2),
            max_delay: ms(1),
        },
    ] {
        let msg = err.to_string();
        assert!(msg.chars().next().unwrap().is_lowercase(), "{msg}");
    }
}

#[test]
fn policies_describe_themselves() {
    let p = Policy::exponential(ms(100))
        .max_delay(Duration::from_secs(2))
        .jitter(sluicegate_retry::Jitter::Full)
        .max_attempts(5)
        .max_elapsed(Duration::from_secs(10))
        .build()
        .unwrap();
    assert_eq!(
        p.to_string(),
        "exponential 100ms ×2 up to 2s, full jitter, 5 attempts, within 10s"
    );
    let p = Policy::constant(ms(5))
        .unlimited_attempts()
        .seed(None)
        .build()
        .unwrap();
    assert_eq!(p.to_string(), "constant 5ms, unlimited attempts");
    assert_eq!(p.seed(), None);
    assert_eq!(
        Policy::constant(ms(5)).seed(7).build().unwrap().seed(),
        Some(7)
    );
}
