//! Property tests of the GCRA arithmetic, in virtual time, at the extremes.

use std::time::Duration;

use proptest::prelude::*;
use sluicegate_rt::ManualClock;
use sluicegate_token_bucket::{KeyedTokenBucket, Quota, TokenBucket, TryAcquireError};

fn quota() -> impl Strategy<Value = Quota> {
    prop_oneof![
        // Everyday rates.
        (1u32..10_000, 1u64..10_000, 1u32..1_000).prop_map(|(c, ms, b)| {
            Quota::new(c, Duration::from_millis(ms))
                .unwrap()
                .with_burst(b)
                .unwrap()
        }),
        // One per hour, huge bursts.
        (1u32..=u32::MAX).prop_map(|b| Quota::per_hour(1).unwrap().with_burst(b).unwrap()),
        // 10^9 per second (1 ns per token), any burst.
        (1u32..=u32::MAX).prop_map(|b| Quota::per_second(1_000_000_000)
            .unwrap()
            .with_burst(b)
            .unwrap()),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Try(u32),
}

fn ops(interval_ns: u64) -> impl Strategy<Value = Vec<Op>> {
    let step = interval_ns.saturating_mul(3).max(1);
    prop::collection::vec(
        prop_oneof![
            (0..step).prop_map(Op::Advance),
            Just(Op::Try(1)),
            (0u32..4).prop_map(Op::Try),
            Just(Op::Try(u32::MAX)),
        ],
        1..150,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The GCRA guarantee: tokens admitted at instants within any window
    /// [a, b] never exceed burst + (b - a) / T.
    #[test]
    fn no_window_admits_more_than_burst_plus_rate(
        (q, ops) in quota().prop_flat_map(|q| (Just(q), ops(q.emission_interval().as_nanos() as u64)))
    ) {
        let clock = ManualClock::new();
        let bucket = TokenBucket::builder(q).clock(clock.clone()).build();
        let t = q.emission_interval().as_nanos();
        let mut admitted: Vec<(u128, u64)> = Vec::new();
        for op in ops {
            match op {
                Op::Advance(ns) => clock.advance(Duration::from_nanos(ns)),
                Op::Try(n) => match bucket.try_acquire(n) {
                    Ok(()) => {
                        prop_assert!(n <= q.burst());
                        if n > 0 {
                            admitted.push((clock.elapsed().as_nanos(), u64::from(n)));
                        }
                    }
                    Err(TryAcquireError::InsufficientCapacity { requested, burst }) => {
                        prop_assert_eq!((requested, burst), (n, q.burst()));
                        prop_assert!(n > q.burst());
                    }
                    Err(TryAcquireError::NotUntil(d)) => {
                        prop_assert!(d.retry_after() > Duration::ZERO);
                        // What it says is true: a check after the wait passes.
                        prop_assert!(bucket.check(n).is_err());
                    }
                    Err(e) => prop_assert!(false, "unexpected {e:?}"),
                },
            }
        }
        for i in 0..admitted.len() {
            let mut tokens = 0u128;
            for j in i..admitted.len() {
                tokens += u128::from(admitted[j].1);
                let window = admitted[j].0 - admitted[i].0;
                prop_assert!(
                    tokens <= u128::from(q.burst()) + window / t,
                    "{} tokens in {} ns (burst {}, T {} ns)", tokens, window, q.burst(), t
                );
            }
        }
    }

    /// A Retry-After is exact: after waiting it, the same request passes;
    /// one nanosecond earlier, it does not.
    #[test]
    fn retry_after_is_exact(q in quota(), take in 1u32..50, n in 1u32..50) {
        let n = n.min(q.burst());
        let clock = ManualClock::new();
        let bucket = TokenBucket::builder(q).clock(clock.clone()).build();
        let _ = bucket.try_acquire(take.min(q.burst()));
        if let Err(e) = bucket.try_acquire(n) {
            let wait = e.retry_after().unwrap();
            clock.advance(wait - Duration::from_nanos(1));
            prop_assert!(bucket.check(n).is_err());
            clock.advance(Duration::from_nanos(1));
            prop_assert!(bucket.try_acquire(n).is_ok());
        }
    }

    /// A live quota change never grants extra tokens, and keeps what was
    /// available (capped at the new burst), up to one token of rounding.
    #[test]
    fn reconfiguration_keeps_tokens_and_never_adds(
        from in quota(), to in quota(), take in 0u32..100, wait_ns in 0u64..10_000_000_000
    ) {
        let clock = ManualClock::new();
        let bucket = TokenBucket::builder(from).clock(clock.clone()).build();
        let _ = bucket.try_acquire(take.min(from.burst()));
        clock.advance(Duration::from_nanos(wait_ns));
        let before = bucket.peek().remaining;
        bucket.set_quota(to);
        let after = bucket.peek().remaining;
        let cap = before.min(to.burst());
        prop_assert!(after <= cap, "{after} > min({before}, {})", to.burst());
        prop_assert!(after + 1 >= cap, "{after} lost more than rounding from {cap}");
        prop_assert_eq!(bucket.quota(), to);
    }

    /// The keyed limiter's live change keeps a key's tokens the same way,
    /// and starts a full key full under the new quota (as a new key).
    #[test]
    fn keyed_reconfiguration_keeps_tokens_and_never_adds(
        from in quota(), to in quota(), take in 0u32..100, wait_ns in 0u64..10_000_000_000
    ) {
        let clock = ManualClock::new();
        let limiter = KeyedTokenBucket::with_clock(from, 4, clock.clone()).unwrap();
        let _ = limiter.try_acquire(&"k", take.min(from.burst()));
        clock.advance(Duration::from_nanos(wait_ns));
        let before = limiter.remaining(&"k");
        limiter.set_quota(to);
        let after = limiter.remaining(&"k");
        if before == from.burst() {
            prop_assert_eq!(after, to.burst(), "a full key starts full");
        } else {
            let cap = before.min(to.burst());
            prop_assert!(after <= cap, "{after} > min({before}, {})", to.burst());
            prop_assert!(after + 1 >= cap, "{after} lost more than rounding from {cap}");
        }
        prop_assert_eq!(limiter.remaining(&"new"), to.burst());
        prop_assert_eq!(limiter.quota(), to);
    }

    /// n = 0 is always admitted and takes nothing.
    #[test]
    fn zero_is_free(q in quota(), take in 0u32..10) {
        let bucket = TokenBucket::builder(q).clock(ManualClock::new()).build();
        let _ = bucket.try_acquire(take.min(q.burst()));
        let before = bucket.peek();
        prop_assert!(bucket.try_acquire(0).is_ok());
        prop_assert_eq!(bucket.peek(), before);
    }
}

// Regressions found by the properties above, kept as plain tests.

#[test]
fn regression_a_saturated_cost_never_passes_for_the_tolerance() {
    // 1/hour with a burst whose replenishment overflows u64 nanoseconds:
    // the cost of u32::MAX tokens saturated to the saturated tolerance and
    // was admitted.
    let q = Quota::per_hour(1).unwrap().with_burst(5_457_507).unwrap();
    assert_eq!(q.burst(), 1_281_023, "clamped to 146 years of tokens");
    let bucket = TokenBucket::builder(q).clock(ManualClock::new()).build();
    assert_eq!(
        bucket.try_acquire(u32::MAX),
        Err(TryAcquireError::InsufficientCapacity {
            requested: u32::MAX,
            burst: 1_281_023
        })
    );
    assert!(bucket.try_acquire(1_281_023).is_ok());
}

#[test]
fn regression_rescaling_to_a_huge_interval_loses_no_tokens() {
    let from = Quota::per_second(1_000_000_000)
        .unwrap()
        .with_burst(5_124_097)
        .unwrap();
    let to = Quota::per_hour(1).unwrap().with_burst(5_124_097).unwrap();
    let bucket = TokenBucket::builder(from).clock(ManualClock::new()).build();
    bucket.set_quota(to);
    assert_eq!(bucket.peek().remaining, to.burst());
}
