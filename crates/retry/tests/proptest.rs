//! Property tests of the backoff arithmetic.

use std::time::Duration;

use proptest::prelude::*;
use sluicegate_retry::{Jitter, Policy};

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..10_000_000_000).prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        Just(Duration::MAX),
        Just(Duration::from_nanos(1)),
    ]
}

fn factor() -> impl Strategy<Value = f64> {
    prop_oneof![
        1.000_000_1f64..4.0,
        4.0f64..1e6,
        Just(f64::MAX),
        Just(1e300),
        Just(1.000_000_000_000_1),
    ]
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated)
    ]
}

/// (base, cap) with 0 < base <= cap.
fn base_and_cap() -> impl Strategy<Value = (Duration, Duration)> {
    (duration(), duration()).prop_filter_map("base must be non-zero", |(a, b)| {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        (!lo.is_zero()).then_some((lo, hi))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_delay_lies_within_zero_and_the_cap(
        (base, cap) in base_and_cap(), factor in factor(), jitter in jitter(), seed in any::<u64>()
    ) {
        let policy = Policy::exponential(base).factor(factor).max_delay(cap).jitter(jitter).seed(seed).unlimited_attempts().build().unwrap();
        for d in policy.backoff().take(200) {
            prop_assert!(d <= cap, "{d:?} > {cap:?}");
        }
        let constant = Policy::constant(base).max_delay(cap).jitter(jitter).seed(seed).unlimited_attempts().build().unwrap();
        for d in constant.backoff().take(50) {
            prop_assert!(d <= cap);
        }
    }

    #[test]
    fn the_unjittered_sequence_never_decreases(
        (base, cap) in base_and_cap(), factor in factor()
    ) {
        let policy = Policy::exponential(base).factor(factor).max_delay(cap).unlimited_attempts().build().unwrap();
        let delays: Vec<_> = policy.backoff().take(300).collect();
        prop_assert_eq!(delays[0], base);
        for w in delays.windows(2) {
            prop_assert!(w[0] <= w[1], "{:?} then {:?}", w[0], w[1]);
        }
        // It reaches the cap and stays there (factor > 1, 300 steps, or the
        // cap was reached earlier) unless the growth is too slow to get there.
        if factor >= 2.0 {
            prop_assert_eq!(*delays.last().unwrap(), cap);
        }
    }

    #[test]
    fn jitter_keeps_to_its_band(
        (base, cap) in base_and_cap(), factor in factor(), seed in any::<u64>()
    ) {
        let plain: Vec<_> = Policy::exponential(base).factor(factor).max_delay(cap).unlimited_attempts().build().unwrap().backoff().take(100).collect();
        let full = Policy::exponential(base).factor(factor).max_delay(cap).jitter(Jitter::Full).seed(seed).unlimited_attempts().build().unwrap();
        let equal = Policy::exponential(base).factor(factor).max_delay(cap).jitter(Jitter::Equal).seed(seed).unlimited_attempts().build().unwrap();
        let deco = Policy::exponential(base).factor(factor).max_delay(cap).jitter(Jitter::Decorrelated).seed(seed).unlimited_attempts().build().unwrap();
        for ((p, f), (e, d)) in plain.iter().zip(full.backoff()).zip(equal.backoff().zip(deco.backoff())) {
            prop_assert!(f <= *p);
            prop_assert!(e >= *p / 2 && e <= *p);
            prop_assert!(d >= base && d <= cap);
        }
    }

    #[test]
    fn the_attempt_limit_yields_exactly_attempts_minus_one_delays(attempts in 1u32..2_000) {
        let policy = Policy::constant(Duration::from_millis(1)).max_attempts(attempts).build().unwrap();
        let b = policy.backoff();
        prop_assert_eq!(b.size_hint(), ((attempts - 1) as usize, Some((attempts - 1) as usize)));
        prop_assert_eq!(b.count(), (attempts - 1) as usize);
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow(skip in 0usize..100_000) {
        let policy = Policy::exponential(Duration::from_nanos(1)).factor(1.5).max_delay(Duration::MAX).jitter(Jitter::Full).seed(1).max_attempts(u32::MAX).build().unwrap();
        let mut b = policy.backoff();
        prop_assert!(b.nth(skip).is_some());
        prop_assert_eq!(b.retries_left(), Some(u32::MAX - 2 - skip as u32));
    }
}
