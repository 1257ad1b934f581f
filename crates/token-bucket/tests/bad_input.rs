//! Bad input gets a typed error, never a panic; the extremes of the quota
//! range work; `n = 0` and `n = u32::MAX` are handled on every path.

mod common;

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use common::{must_return, ns, poll_once};
use sluicegate_rt::ManualClock;
use sluicegate_token_bucket::{
    InsufficientCapacity, KeyedConfigError, KeyedError, KeyedTokenBucket, Quota, QuotaError,
    TokenBucket, TryAcquireError,
};

type Bucket = TokenBucket<ManualClock, ManualClock>;

fn bucket(quota: Quota) -> (ManualClock, Bucket) {
    let clock = ManualClock::new();
    let bucket = TokenBucket::builder(quota)
        .clock(clock.clone())
        .sleeper(clock.clone())
        .build();
    (clock, bucket)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn retry_after(result: Result<(), TryAcquireError>) -> Duration {
    match result {
        Err(TryAcquireError::NotUntil(denied)) => denied.retry_after(),
        other => panic!("expected a NotUntil denial, got {other:?}"),
    }
}

fn assert_lowercase(msg: &str) {
    assert!(!msg.is_empty());
    assert!(
        msg.starts_with(|c: char| !c.is_uppercase()),
        "{msg:?} starts with a capital"
    );
    assert!(!msg.ends_with('.'), "{msg:?} ends with a full stop");
}

mod quota {
    use super::*;

    #[test]
    fn zero_rate() {
        assert_eq!(Quota::new(0, secs(1)), Err(QuotaError::ZeroRate));
        assert_eq!(Quota::per_second(0), Err(QuotaError::ZeroRate));
        assert_eq!(Quota::per_minute(0), Err(QuotaError::ZeroRate));
        assert_eq!(Quota::per_hour(0), Err(QuotaError::ZeroRate));
        // Zero count and zero period: the rate is reported first.
        assert_eq!(Quota::new(0, Duration::ZERO), Err(QuotaError::ZeroRate));
    }

    #[test]
    fn zero_period() {
        assert_eq!(Quota::new(1, Duration::ZERO), Err(QuotaError::ZeroPeriod));
        assert_eq!(
            Quota::new(u32::MAX, Duration::ZERO),
            Err(QuotaError::ZeroPeriod)
        );
        assert_eq!(
            Quota::with_interval(Duration::ZERO),
            Err(QuotaError::ZeroPeriod)
        );
    }

    #[test]
    fn zero_burst() {
        let q = Quota::per_second(10).unwrap();
        assert_eq!(q.with_burst(0), Err(QuotaError::ZeroBurst));
        assert_eq!(q.with_burst(1).unwrap().burst(), 1);
    }

    #[test]
    fn rate_too_high() {
        assert_eq!(
            Quota::new(2, ns(1)),
            Err(QuotaError::RateTooHigh {
                count: 2,
                period: ns(1)
            })
        );
        assert_eq!(
            Quota::new(3, ns(2)),
            Err(QuotaError::RateTooHigh {
                count: 3,
                period: ns(2)
            })
        );
        assert_eq!(
            Quota::per_second(1_000_000_001),
            Err(QuotaError::RateTooHigh {
                count: 1_000_000_001,
                period: secs(1)
            })
        );
        assert_eq!(
            Quota::per_second(u32::MAX),
            Err(QuotaError::RateTooHigh {
                count: u32::MAX,
                period: secs(1)
            })
        );
        // The boundary: exactly one token per nanosecond is fine.
        assert_eq!(Quota::new(1, ns(1)).unwrap().emission_interval(), ns(1));
        assert_eq!(Quota::new(7, ns(7)).unwrap().emission_interval(), ns(1));
    }

    #[test]
    fn period_too_long() {
        assert_eq!(Quota::new(1, Duration::MAX), Err(QuotaError::PeriodTooLong));
        assert_eq!(
            Quota::with_interval(Duration::MAX),
            Err(QuotaError::PeriodTooLong)
        );
        assert_eq!(
            Quota::with_interval(ns(u64::MAX / 4) + ns(1)),
            Err(QuotaError::PeriodTooLong)
        );
        // The boundary: one token per u64::MAX / 4 nanoseconds (about 146
        // years) is a rate; everything stays exact below it.
        assert_eq!(
            Quota::with_interval(ns(u64::MAX / 4))
                .unwrap()
                .emission_interval(),
            ns(u64::MAX / 4)
        );
        // Spread over enough tokens, even `Duration::MAX` is a valid period.
        let q = Quota::new(u32::MAX, Duration::MAX).unwrap();
        assert_eq!(q.emission_interval(), ns(4_294_967_297_000_000_001));
    }

    #[test]
    fn intervals_round_up_never_admitting_more() {
        // 3 per 10 ns: 3.33 ns per token, rounded up to 4.
        assert_eq!(Quota::new(3, ns(10)).unwrap().emission_interval(), ns(4));
        // 3 per second: 333_333_333.3 ns, rounded up.
        assert_eq!(
            Quota::per_second(3).unwrap().emission_interval(),
            ns(333_333_334)
        );
    }

    #[test]
    fn displays_are_lowercase() {
        for err in [
            QuotaError::ZeroRate,
            QuotaError::ZeroPeriod,
            QuotaError::ZeroBurst,
            Quota::new(2, ns(1)).unwrap_err(),
            QuotaError::PeriodTooLong,
        ] {
            assert_lowercase(&err.to_string());
        }
        let msg = Quota::new(2, ns(1)).unwrap_err().to_string();
        assert!(msg.contains('2') && msg.contains("1ns"), "{msg}");
    }
}

mod keyed_config {
    use super::*;

    /// `max_keys` 0 could track no key and refuse everything: both
    /// constructors say so instead of quietly picking another cap.
    #[test]
    fn zero_max_keys_is_a_typed_error() {
        let quota = Quota::per_second(10).unwrap();
        assert_eq!(
            KeyedTokenBucket::<u8>::new(quota, 0).unwrap_err(),
            KeyedConfigError::ZeroMaxKeys
        );
        assert_eq!(
            KeyedTokenBucket::<u8, _>::with_clock(quota, 0, ManualClock::new()).unwrap_err(),
            KeyedConfigError::ZeroMaxKeys
        );
        assert!(KeyedTokenBucket::<u8>::new(quota, 1).is_ok());
        assert_lowercase(&KeyedConfigError::ZeroMaxKeys.to_string());
    }
}

mod extremes {
    use super::*;

    #[test]
    fn one_per_hour() {
        let q = Quota::per_hour(1).unwrap();
        assert_eq!(q.emission_interval(), secs(3600));
        assert_eq!(q.replenish_all(), secs(3600));
        let (clock, bucket) = bucket(q);
        bucket.try_acquire(1).unwrap();
        assert_eq!(retry_after(bucket.try_acquire(1)), secs(3600));
        assert_eq!(bucket.peek().reset_after, secs(3600));
        clock.advance(secs(3599));
        assert_eq!(retry_after(bucket.check(1)), secs(1));
        clock.advance(secs(1));
        bucket.try_acquire(1).unwrap();
        // Waiting works too, exactly one hour later.
        clock.block_on(bucket.acquire(1)).unwrap();
        assert_eq!(clock.elapsed(), secs(7200));
    }

    #[test]
    fn a_billion_per_second() {
        let q = Quota::per_second(1_000_000_000).unwrap();
        assert_eq!(q.emission_interval(), ns(1));
        assert_eq!(q.burst(), 1_000_000_000);
        let (clock, bucket) = bucket(q);
        assert_eq!(bucket.peek().remaining, 1_000_000_000);
        bucket.try_acquire(1_000_000_000).unwrap();
        assert_eq!(retry_after(bucket.try_acquire(1)), ns(1));
        clock.advance(ns(1));
        bucket.try_acquire(1).unwrap();
        let r = bucket.reserve(1_000).unwrap();
        assert_eq!(r.delay(), ns(1_000));
        clock.block_on(r.wait());
        assert!(r.is_ready());
        clock.block_on(bucket.acquire(500)).unwrap();
        assert_eq!(clock.elapsed(), ns(1 + 1_000 + 500));
    }

    #[test]
    fn a_burst_of_u32_max_at_the_fastest_rate() {
        let q = Quota::per_second(1_000_000_000)
            .unwrap()
            .with_burst(u32::MAX)
            .unwrap();
        assert_eq!(q.replenish_all(), ns(u64::from(u32::MAX)));
        let (clock, bucket) = bucket(q);
        assert_eq!(bucket.peek().remaining, u32::MAX);
        assert_eq!(bucket.check(u32::MAX), Ok(()));
        bucket.try_acquire(u32::MAX).unwrap();
        assert_eq!(bucket.peek().remaining, 0);
        assert_eq!(retry_after(bucket.try_acquire(1)), ns(1));
        clock.advance(ns(u64::from(u32::MAX)));
        assert_eq!(bucket.peek().remaining, u32::MAX);
        assert_eq!(bucket.stats().tokens, u32::MAX);
    }

    #[test]
    fn a_burst_of_u32_max_at_one_per_second() {
        let q = Quota::per_second(1).unwrap().with_burst(u32::MAX).unwrap();
        assert_eq!(q.replenish_all(), secs(u64::from(u32::MAX)));
        let (clock, bucket) = bucket(q);
        assert_eq!(bucket.peek().remaining, u32::MAX);
        bucket.try_acquire(u32::MAX - 1).unwrap();
        bucket.try_acquire(1).unwrap();
        assert_eq!(retry_after(bucket.try_acquire(1)), secs(1));
        assert_eq!(
            bucket.peek().reset_after,
            secs(u64::from(u32::MAX)),
            "a full refill takes u32::MAX seconds"
        );
        clock.advance(secs(10));
        assert_eq!(bucket.peek().remaining, 10);
    }

    /// `Quota::new` accepts one token per `u64::MAX` nanoseconds (its
    /// `PeriodTooLong` boundary). A bucket on that quota must work or the
    /// quota must be refused; today the first admission stores the TAT
    /// `u64::MAX`, the marker of a reconfiguration in progress, and every
    /// later call spins forever.
    #[test]
    fn the_longest_interval_does_not_hang() {
        match Quota::with_interval(ns(u64::MAX)) {
            Err(e) => assert_eq!(e, QuotaError::PeriodTooLong),
            Ok(q) => {
                let (_clock, bucket) = bucket(q);
                let second = must_return("try_acquire after the first admission", move || {
                    bucket.try_acquire(1).unwrap();
                    bucket.try_acquire(1)
                });
                assert!(matches!(second, Err(TryAcquireError::NotUntil(_))));
            }
        }
    }

    /// One per hour with a burst of `u32::MAX`: `burst · T` (about 490,000
    /// years) is clamped to about 146 years of tokens (documented on
    /// `Quota`), and the bucket holds it.
    #[test]
    fn a_burst_of_u32_max_at_one_per_hour_is_clamped() {
        let q = Quota::per_hour(1).unwrap().with_burst(u32::MAX).unwrap();
        assert_eq!(q.burst(), 1_281_023);
        assert!(q.replenish_all() <= ns(u64::MAX / 4));
        let (_clock, bucket) = bucket(q);
        assert_eq!(bucket.peek().remaining, q.burst());
        assert_eq!(bucket.peek().burst, q.burst());
        assert_eq!(bucket.check(q.burst()), Ok(()));
        assert!(bucket.check(q.burst() + 1).is_err());
        let (first, second) = must_return("two requests on a huge bucket", move || {
            (bucket.try_acquire(q.burst()), bucket.try_acquire(1))
        });
        assert_eq!(first, Ok(()));
        assert!(matches!(second, Err(TryAcquireError::NotUntil(_))));
    }

    /// The same bucket, drained: the next token is due in exactly one hour.
    /// But the TAT of that admission, `now + burst·T + T`, does not fit
    /// below `u64::MAX` and saturates: the `Retry-After` comes out as 2069 s,
    /// the token is granted then (early), and the TAT stored is `u64::MAX`,
    /// the marker of a reconfiguration in progress, so the next call spins
    /// forever.
    #[test]
    fn a_huge_bucket_keeps_exact_time() {
        let q = Quota::per_hour(1).unwrap().with_burst(u32::MAX).unwrap();
        let (clock, bucket) = bucket(q);
        bucket.try_acquire(q.burst()).unwrap();
        assert_eq!(retry_after(bucket.try_acquire(1)), secs(3600));
        clock.advance(secs(3599));
        assert_eq!(retry_after(bucket.try_acquire(1)), secs(1));
        clock.advance(secs(1));
        let results = must_return("requests on a huge bucket an hour later", move || {
            [bucket.try_acquire(1), bucket.try_acquire(1)]
        });
        assert_eq!(results[0], Ok(()));
        assert_eq!(retry_after(results[1]), secs(3600));
    }

    /// A clock moved 584+ years past the bucket's origin (`advance
    /// (Duration::MAX)` on a `ManualClock`): `now` saturates at `u64::MAX`
    /// nanoseconds. Decisions must still hold the burst and return.
    #[test]
    fn a_clock_far_in_the_future_neither_hangs_nor_over_grants() {
        let (clock, bucket) = bucket(Quota::per_second(10).unwrap().with_burst(2).unwrap());
        clock.advance(Duration::MAX);
        let results = must_return("three requests at the end of time", move || {
            [
                bucket.try_acquire(1),
                bucket.try_acquire(1),
                bucket.try_acquire(1),
            ]
        });
        assert_eq!(&results[..2], &[Ok(()), Ok(())]);
        assert!(results[2].is_err(), "admitted beyond the burst");
    }

    /// The same clock on a keyed limiter: it cannot hang (no marker), but
    /// with `now` saturated every request is admitted.
    #[test]
    fn a_keyed_clock_far_in_the_future_does_not_over_grant() {
        let clock = ManualClock::new();
        let limiter = KeyedTokenBucket::with_clock(
            Quota::per_second(10).unwrap().with_burst(2).unwrap(),
            4,
            clock.clone(),
        )
        .unwrap();
        clock.advance(Duration::MAX);
        limiter.try_acquire(&"k", 1).unwrap();
        limiter.try_acquire(&"k", 1).unwrap();
        assert!(
            limiter.try_acquire(&"k", 1).is_err(),
            "admitted beyond the burst"
        );
    }
}

mod zero_tokens {
    use super::*;

    fn ten_per_second() -> (ManualClock, Bucket) {
        bucket(Quota::per_second(10).unwrap().with_burst(2).unwrap())
    }

    /// `n = 0` succeeds at once and takes nothing, on every path.
    fn zero_is_free(bucket: &Bucket) {
        let before = bucket.peek();
        assert_eq!(bucket.try_acquire(0), Ok(()));
        assert_eq!(bucket.check(0), Ok(()));
        let r = bucket.reserve(0).unwrap();
        assert!(r.is_ready());
        assert_eq!(r.delay(), Duration::ZERO);
        let mut acquire = pin!(bucket.acquire(0));
        assert_eq!(poll_once(acquire.as_mut()), Poll::Ready(Ok(())));
        drop(r);
        assert_eq!(bucket.peek(), before, "n = 0 took something");
        assert_eq!(before.retry_after(0), Some(Duration::ZERO));
    }

    #[test]
    fn on_a_full_bucket() {
        let (_clock, bucket) = ten_per_second();
        zero_is_free(&bucket);
        assert_eq!(bucket.peek().remaining, 2);
    }

    #[test]
    fn on_an_empty_bucket() {
        let (clock, bucket) = ten_per_second();
        bucket.try_acquire(2).unwrap();
        zero_is_free(&bucket);
        clock.advance(ns(1));
        zero_is_free(&bucket);
        assert_eq!(bucket.peek().remaining, 0);
    }

    #[test]
    fn on_a_keyed_bucket() {
        let clock = ManualClock::new();
        let limiter = KeyedTokenBucket::with_clock(
            Quota::per_second(10).unwrap().with_burst(2).unwrap(),
            4,
            clock,
        )
        .unwrap();
        limiter.try_acquire(&"k", 2).unwrap();
        assert_eq!(limiter.try_acquire(&"k", 0), Ok(()));
        assert_eq!(limiter.remaining(&"k"), 0);
        assert_eq!(limiter.try_acquire(&"new", 0), Ok(()));
        assert_eq!(limiter.remaining(&"new"), 2);
    }

    /// The docs promise "`n = 0` always succeeds" (`try_acquire`) and
    /// "resolves at once" (`acquire`). Behind a waiter, `try_acquire(0)` is
    /// denied with the waiter's `Retry-After`, `check(0)` likewise, and
    /// `acquire(0)` queues up behind it.
    #[test]
    fn while_another_caller_waits() {
        let (_clock, bucket) = ten_per_second();
        bucket.try_acquire(2).unwrap();
        let mut waiter = pin!(bucket.acquire(1));
        assert!(poll_once(waiter.as_mut()).is_pending());
        assert_eq!(bucket.stats().waiting, 1);
        zero_is_free(&bucket);
    }

    /// Reservations may book beyond the burst (a reservation ready in the
    /// future); `n = 0` should still succeed at once.
    #[test]
    fn after_reservations_booked_ahead() {
        let (_clock, bucket) = ten_per_second();
        bucket.reserve(2).unwrap().commit();
        let ahead = bucket.reserve(2).unwrap();
        assert!(!ahead.is_ready());
        zero_is_free(&bucket);
    }
}

mod above_the_burst {
    use super::*;

    const TOO_MANY: [u32; 3] = [3, 1_000, u32::MAX];

    fn ten_per_second() -> (ManualClock, Bucket) {
        bucket(Quota::per_second(10).unwrap().with_burst(2).unwrap())
    }

    /// `n` above the burst is `InsufficientCapacity` at once, on every path,
    /// and takes nothing.
    fn refused_at_once(bucket: &Bucket) {
        let before = bucket.peek();
        for n in TOO_MANY {
            let capacity = InsufficientCapacity {
                requested: n,
                burst: 2,
            };
            assert_eq!(bucket.try_acquire(n), Err(capacity.into()));
            assert_eq!(bucket.try_acquire(n).unwrap_err().retry_after(), None);
            assert_eq!(bucket.check(n), Err(capacity.into()));
            assert_eq!(bucket.reserve(n).unwrap_err(), capacity);
            let mut acquire = pin!(bucket.acquire(n));
            assert_eq!(poll_once(acquire.as_mut()), Poll::Ready(Err(capacity)));
            assert_eq!(before.retry_after(n), None);
        }
        assert_eq!(bucket.peek(), before, "a refused request took something");
    }

    #[test]
    fn on_a_full_bucket() {
        let (_clock, bucket) = ten_per_second();
        refused_at_once(&bucket);
        assert_eq!(bucket.peek().remaining, 2);
        assert_eq!(bucket.stats().rejected, 2 * TOO_MANY.len() as u64);
        assert_eq!(bucket.stats().waited, 0);
    }

    #[test]
    fn on_an_empty_bucket() {
        let (_clock, bucket) = ten_per_second();
        bucket.try_acquire(2).unwrap();
        refused_at_once(&bucket);
    }

    #[test]
    fn on_the_smallest_burst() {
        let (_clock, bucket) = bucket(Quota::per_hour(1).unwrap());
        assert_eq!(
            bucket.try_acquire(u32::MAX),
            Err(TryAcquireError::InsufficientCapacity {
                requested: u32::MAX,
                burst: 1
            })
        );
        assert_eq!(
            ManualClock::new().block_on(bucket.acquire(2)),
            Err(InsufficientCapacity {
                requested: 2,
                burst: 1
            })
        );
    }

    /// `acquire` documents "resolves to `InsufficientCapacity` (at once)";
    /// behind a waiter it queues up instead, and fails only when it reaches
    /// the head of the queue.
    #[test]
    fn while_another_caller_waits() {
        let (_clock, bucket) = ten_per_second();
        bucket.try_acquire(2).unwrap();
        let mut waiter = pin!(bucket.acquire(1));
        assert!(poll_once(waiter.as_mut()).is_pending());
        refused_at_once(&bucket);
    }
}

mod messages {
    use super::*;

    #[test]
    fn every_error_displays_in_lowercase() {
        let (_clock, bucket) = bucket(Quota::per_second(10).unwrap().with_burst(1).unwrap());
        bucket.try_acquire(1).unwrap();
        let not_until = bucket.try_acquire(1).unwrap_err();
        let TryAcquireError::NotUntil(denied) = not_until else {
            panic!("expected NotUntil, got {not_until:?}");
        };
        let capacity = bucket.reserve(2).unwrap_err();
        let keyed = KeyedTokenBucket::<u8>::new(Quota::per_hour(1).unwrap(), 1).unwrap();
        keyed.try_acquire(&0, 1).unwrap();
        let messages = [
            not_until.to_string(),
            denied.to_string(),
            bucket.try_acquire(2).unwrap_err().to_string(),
            capacity.to_string(),
            keyed.try_acquire(&0, 1).unwrap_err().to_string(),
            keyed.try_acquire(&1, 1).unwrap_err().to_string(),
            KeyedError::from(TryAcquireError::from(capacity)).to_string(),
        ];
        for msg in &messages {
            assert_lowercase(msg);
        }
        assert_eq!(messages[0], "rate limited; retry after 100ms");
        assert_eq!(messages[3], "2 tokens requested but the burst is 1");
        assert!(messages[5].contains('1'), "{}", messages[5]);
    }

    #[cfg(feature = "tower")]
    #[test]
    fn the_tower_error_displays_in_lowercase() {
        use sluicegate_token_bucket::tower::RateLimited;
        for retry_after in [Some(ns(5)), None] {
            assert_lowercase(&RateLimited::new(retry_after).to_string());
        }
    }
}
