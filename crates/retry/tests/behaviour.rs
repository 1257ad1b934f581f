//! Retry behaviour in virtual time: exact delays for every policy and jitter
//! mode, limits, classification, hooks, cancellation, the blocking variant.

mod support;

use std::cell::{Cell, RefCell};
use std::future::{Future, ready};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::Duration;

use sluicegate_retry::{Action, Jitter, Policy, RetryError};
use sluicegate_rt::ManualClock;
use support::{Starts, aws_delays, ms};

#[derive(Debug, Clone, PartialEq)]
enum Fail {
    Transient(u32),
    Fatal(u32),
}

/// Runs an async retry of an op that fails transiently `failures` times (each
/// attempt taking `work` of virtual time), returning the result and the
/// instants at which attempts started.
fn run_async(
    policy: &Policy,
    failures: u32,
    work: Duration,
) -> (Result<u32, RetryError<Fail>>, Vec<Duration>) {
    let clock = ManualClock::new();
    let starts = Starts::default();
    let result = clock.block_on({
        let (c, starts) = (clock.clone(), starts.clone());
        policy
            .retry(move || {
                let n = starts.record(&c);
                let sleep = c.sleep(work);
                async move {
                    sleep.await;
                    if n <= failures {
                        Err(Fail::Transient(n))
                    } else {
                        Ok(n)
                    }
                }
            })
            .sleep(clock.clone())
            .clock(clock.clone())
            .into_future()
    });
    (result, starts.all())
}

use std::future::IntoFuture;

fn gaps(starts: &[Duration], work: Duration) -> Vec<Duration> {
    starts.windows(2).map(|w| w[1] - w[0] - work).collect()
}

#[test]
fn constant_policy_waits_exactly_its_delay() {
    let policy = Policy::constant(ms(250)).max_attempts(4).build().unwrap();
    let (result, starts) = run_async(&policy, 3, Duration::ZERO);
    assert_eq!(result.unwrap(), 4);
    assert_eq!(starts, [0, 250, 500, 750].map(ms));
}

#[test]
fn exponential_policy_doubles_then_holds_at_the_cap() {
    let policy = Policy::exponential(ms(100))
        .factor(2.0)
        .max_delay(ms(1000))
        .max_attempts(7)
        .build()
        .unwrap();
    let (result, starts) = run_async(&policy, 6, Duration::ZERO);
    assert_eq!(result.unwrap(), 7);
    assert_eq!(
        gaps(&starts, Duration::ZERO),
        [100, 200, 400, 800, 1000, 1000].map(ms)
    );
}

#[test]
fn factor_three_sequence_is_exact() {
    let policy = Policy::exponential(ms(10))
        .factor(3.0)
        .max_delay(ms(500))
        .max_attempts(6)
        .build()
        .unwrap();
    let delays: Vec<_> = policy.backoff().collect();
    assert_eq!(delays, [10, 30, 90, 270, 500].map(ms));
}

#[test]
fn every_jitter_mode_follows_the_aws_formula_for_a_fixed_seed() {
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        for seed in [0, 42, u64::MAX] {
            let policy = Policy::exponential(ms(100))
                .factor(2.0)
                .max_delay(ms(5000))
                .jitter(jitter)
                .seed(seed)
                .max_attempts(12)
                .build()
                .unwrap();
            let work = ms(7);
            let (result, starts) = run_async(&policy, 11, work);
            assert_eq!(result.unwrap(), 12);
            let expected = aws_delays(ms(100), 2, ms(5000), jitter, seed, 11);
            assert_eq!(gaps(&starts, work), expected, "{jitter:?}, seed {seed}");
        }
    }
}

#[test]
fn jitter_stays_under_the_cap_and_within_its_band() {
    let cap = ms(300);
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let policy = Policy::exponential(ms(100))
            .max_delay(cap)
            .jitter(jitter)
            .seed(9)
            .unlimited_attempts()
            .build()
            .unwrap();
        let plain: Vec<_> = Policy::exponential(ms(100))
            .max_delay(cap)
            .unlimited_attempts()
            .build()
            .unwrap()
            .backoff()
            .take(500)
            .collect();
        for (d, p) in policy.backoff().take(500).zip(plain) {
            assert!(d <= cap, "{jitter:?}: {d:?} above the cap");
            match jitter {
                Jitter::Full => assert!(d <= p),
                Jitter::Equal => assert!(d >= p / 2 && d <= p),
                Jitter::Decorrelated => assert!(d >= ms(100)),
                _ => unreachable!(),
            }
        }
    }
}

#[test]
fn a_seed_reproduces_delays_and_no_seed_spreads_them() {
    let seeded = Policy::exponential(ms(100))
        .jitter(Jitter::Full)
        .seed(1)
        .max_attempts(30)
        .build()
        .unwrap();
    assert_eq!(
        seeded.backoff().collect::<Vec<_>>(),
        seeded.backoff().collect::<Vec<_>>()
    );
    let unseeded = Policy::exponential(ms(100))
        .jitter(Jitter::Full)
        .max_attempts(30)
        .build()
        .unwrap();
    // 29 independent draws over a span of >= 100 ms to the nanosecond: equal
    // sequences would mean the generator was not seeded per call.
    assert_ne!(
        unseeded.backoff().collect::<Vec<_>>(),
        unseeded.backoff().collect::<Vec<_>>()
    );
}

#[test]
fn exhaustion_keeps_the_last_error_and_the_count() {
    let policy = Policy::constant(ms(10)).max_attempts(3).build().unwrap();
    let (result, starts) = run_async(&policy, 100, Duration::ZERO);
    match result {
        Err(RetryError::Exhausted { last, attempts }) => {
            assert_eq!(last, Fail::Transient(3));
            assert_eq!(attempts, 3);
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    assert_eq!(starts.len(), 3);
}

#[test]
fn max_attempts_one_means_no_retry() {
    let policy = Policy::constant(ms(10)).max_attempts(1).build().unwrap();
    let (result, starts) = run_async(&policy, 1, Duration::ZERO);
    assert!(result.unwrap_err().is_exhausted());
    assert_eq!(starts, [Duration::ZERO]);
}

#[test]
fn a_permanent_error_returns_at_once_without_sleeping() {
    let clock = ManualClock::new();
    let policy = Policy::constant(ms(10)).max_attempts(5).build().unwrap();
    let calls = Cell::new(0);
    let fut = policy
        .retry(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            ready(if n < 2 {
                Err(Fail::Transient(n))
            } else {
                Err::<(), _>(Fail::Fatal(n))
            })
        })
        .sleep(clock.clone())
        .when(|e| matches!(e, Fail::Transient(_)));
    let err = clock.block_on(fut.into_future()).unwrap_err();
    assert!(err.is_permanent());
    assert_eq!(err.attempts(), 2);
    assert_eq!(err.last_error(), &Fail::Fatal(2));
    assert_eq!(
        clock.elapsed(),
        ms(10),
        "one wait, before the second attempt only"
    );
}

#[test]
fn retry_after_is_honoured_and_capped() {
    let clock = ManualClock::new();
    let policy = Policy::exponential(ms(100))
        .max_delay(ms(2000))
        .max_attempts(4)
        .build()
        .unwrap();
    let starts = Starts::default();
    let hints = [ms(50), ms(9000)];
    let result = clock.block_on(
        policy
            .retry(|| {
                let n = starts.record(&clock);
                ready(if n <= 3 { Err(n) } else { Ok(n) })
            })
            .sleep(clock.clone())
            .classify(|&n| match n {
                1 => Action::RetryAfter(hints[0]),
                2 => Action::RetryAfter(hints[1]),
                _ => Action::Retry,
            })
            .into_future(),
    );
    assert_eq!(result.unwrap(), 4);
    // The hint, the hint capped at max_delay, then the policy's third delay.
    assert_eq!(starts.gaps(), [ms(50), ms(2000), ms(400)]);
}

#[test]
fn the_deadline_counts_the_time_attempts_take() {
    // Each attempt takes 300 ms; 200 ms between attempts; 1 s in all.
    let policy = Policy::constant(ms(200))
        .unlimited_attempts()
        .max_elapsed(ms(1000))
        .build()
        .unwrap();
    let (result, starts) = run_async(&policy, u32::MAX, ms(300));
    // Attempts start at 0, 500 and 1000 ms; a fourth would start at 1500.
    assert_eq!(starts, [0, 500, 1000].map(ms));
    match result {
        Err(RetryError::DeadlineExceeded { last, attempts, .. }) => {
            assert_eq!(last, Fail::Transient(3));
            assert_eq!(attempts, 3);
        }
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
}

#[test]
fn no_sleep_that_would_cross_the_deadline_is_started() {
    let clock = ManualClock::new();
    let policy = Policy::exponential(ms(100))
        .max_delay(ms(60_000))
        .max_attempts(10)
        .max_elapsed(ms(1000))
        .build()
        .unwrap();
    let err = clock
        .block_on(
            policy
                .retry(|| ready(Err::<(), _>("overloaded")))
                .sleep(clock.clone())
                .clock(clock.clone())
                .classify(|_| Action::RetryAfter(Duration::from_secs(30)))
                .into_future(),
        )
        .unwrap_err();
    assert!(err.is_deadline_exceeded());
    assert_eq!(err.attempts(), 1);
    assert_eq!(clock.elapsed(), Duration::ZERO, "gave up without waiting");
}

#[test]
fn notify_hears_every_retry_before_its_wait() {
    let clock = ManualClock::new();
    let heard = RefCell::new(Vec::new());
    let policy = Policy::exponential(ms(10)).max_attempts(4).build().unwrap();
    let calls = Cell::new(0);
    let result = clock.block_on(
        policy
            .retry(|| {
                calls.set(calls.get() + 1);
                ready(if calls.get() < 4 {
                    Err(calls.get())
                } else {
                    Ok(())
                })
            })
            .sleep(clock.clone())
            .notify(|e, attempt, delay| {
                heard
                    .borrow_mut()
                    .push((*e, attempt, delay, clock.elapsed()))
            })
            .into_future(),
    );
    result.unwrap();
    assert_eq!(
        heard.into_inner(),
        [
            (1, 1, ms(10), ms(0)),
            (2, 2, ms(20), ms(10)),
            (3, 3, ms(40), ms(30))
        ]
    );
}

#[test]
fn the_cancel_signal_stops_the_wait_between_attempts() {
    let clock = ManualClock::new();
    let policy = Policy::constant(ms(100))
        .unlimited_attempts()
        .build()
        .unwrap();
    let starts = Starts::default();
    let err = clock
        .block_on(
            policy
                .retry(|| ready(Err::<(), _>(starts.record(&clock))))
                .sleep(clock.clone())
                .cancel_on(clock.sleep(ms(250)))
                .into_future(),
        )
        .unwrap_err();
    match err {
        RetryError::Cancelled { last, attempts } => {
            assert_eq!((last, attempts), (3, 3));
        }
        other => panic!("expected Cancelled, got {other:?}"),
    }
    assert_eq!(starts.all(), [0, 100, 200].map(ms));
    assert_eq!(clock.elapsed(), ms(250), "stopped when the signal fired");
    assert_eq!(clock.pending_sleeps(), 0, "the wait's timer was released");
}

#[test]
fn a_fired_signal_prevents_any_retry() {
    let clock = ManualClock::new();
    let policy = Policy::constant(ms(100)).build().unwrap();
    let notified = Cell::new(false);
    let err = clock
        .block_on(
            policy
                .retry(|| ready(Err::<(), _>("down")))
                .sleep(clock.clone())
                .notify(|_, _, _| notified.set(true))
                .cancel_on(ready(()))
                .into_future(),
        )
        .unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.attempts(), 1);
    assert!(!notified.get(), "no retry was announced");
}

#[test]
fn cancel_does_not_interrupt_an_attempt_in_flight() {
    let clock = ManualClock::new();
    let policy = Policy::constant(ms(100)).build().unwrap();
    let slow = clock.clone();
    let result = clock.block_on(
        policy
            .retry(move || {
                let s = slow.sleep(ms(500));
                async move {
                    s.await;
                    Ok::<_, ()>("done")
                }
            })
            .sleep(clock.clone())
            .cancel_on(clock.sleep(ms(100)))
            .into_future(),
    );
    assert_eq!(result.unwrap(), "done");
}

struct DropFlag(Rc<Cell<u32>>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn dropping_the_future_mid_wait_or_mid_attempt_releases_everything() {
    let clock = ManualClock::new();
    let policy = Policy::constant(ms(100)).build().unwrap();
    let dropped = Rc::new(Cell::new(0));
    let calls = Cell::new(0);
    let make = || {
        policy
            .retry(|| {
                calls.set(calls.get() + 1);
                let guard = DropFlag(Rc::clone(&dropped));
                let sleep = clock.sleep(if calls.get() == 1 {
                    Duration::ZERO
                } else {
                    ms(1000)
                });
                async move {
                    sleep.await;
                    drop(guard);
                    Err::<(), _>("fail")
                }
            })
            .sleep(clock.clone())
            .into_future()
    };
    let mut cx = Context::from_waker(Waker::noop());
    {
        // Attempt 1 fails at once; the retry now waits 100 ms.
        let mut fut = pin!(make());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(clock.pending_sleeps(), 1);
        assert_eq!(dropped.get(), 1);
    }
    assert_eq!(
        clock.pending_sleeps(),
        0,
        "dropping mid-wait frees the timer"
    );
    {
        // A new retry whose attempt is in flight (a 1 s operation).
        let mut fut = pin!(make());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        clock.advance(ms(100));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(calls.get(), 2);
        assert_eq!(dropped.get(), 1, "the attempt is still running");
        assert_eq!(clock.pending_sleeps(), 1);
    }
    assert_eq!(dropped.get(), 2, "dropping mid-attempt drops the attempt");
    assert_eq!(clock.pending_sleeps(), 0);
}

#[test]
fn report_counts_attempts_on_success_and_failure() {
    let clock = ManualClock::new();
    let policy = Policy::constant(ms(5)).max_attempts(5).build().unwrap();
    let calls = Cell::new(0);
    let report = clock.block_on(
        policy
            .retry(|| {
                calls.set(calls.get() + 1);
                ready(if calls.get() < 3 {
                    Err("x")
                } else {
                    Ok(calls.get())
                })
            })
            .sleep(clock.clone())
            .report(),
    );
    assert_eq!(report.attempts, 3);
    assert_eq!(report.result.unwrap(), 3);

    let report = clock.block_on(
        policy
            .retry(|| ready(Err::<(), _>("x")))
            .sleep(clock.clone())
            .report(),
    );
    assert_eq!(report.attempts, 5);
    assert_eq!(report.result.unwrap_err().attempts(), 5);
}

#[test]
fn one_policy_serves_interleaved_retries_independently() {
    let clock = ManualClock::new();
    let policy = Policy::exponential(ms(10)).max_attempts(3).build().unwrap();
    let a_starts = Starts::default();
    let b_starts = Starts::default();
    let a = policy
        .retry(|| ready(Err::<(), _>(a_starts.record(&clock))))
        .sleep(clock.clone())
        .into_future();
    let b = policy
        .retry(|| ready(Err::<(), _>(b_starts.record(&clock))))
        .sleep(clock.clone())
        .into_future();
    let (ra, rb) = clock.block_on(async {
        let mut a = pin!(a);
        let mut b = pin!(b);
        let (mut ra, mut rb) = (None, None);
        std::future::poll_fn(|cx| {
            if ra.is_none() {
                ra = a.as_mut().poll(cx).map(Some).into_ready();
            }
            if rb.is_none() {
                rb = b.as_mut().poll(cx).map(Some).into_ready();
            }
            if ra.is_some() && rb.is_some() {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        (ra.unwrap(), rb.unwrap())
    });
    assert!(ra.unwrap_err().is_exhausted() && rb.unwrap_err().is_exhausted());
    assert_eq!(a_starts.all(), [0, 10, 30].map(ms));
    assert_eq!(b_starts.all(), [0, 10, 30].map(ms));
}

trait IntoReady<T> {
    fn into_ready(self) -> Option<T>;
}
impl<T> IntoReady<T> for std::task::Poll<Option<T>> {
    fn into_ready(self) -> Option<T> {
        match self {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => None,
        }
    }
}

// ---- blocking variant ----

#[test]
fn blocking_retry_waits_the_same_delays() {
    let clock = ManualClock::new();
    let policy = Policy::exponential(ms(100))
        .max_delay(ms(300))
        .max_attempts(5)
        .jitter(Jitter::Equal)
        .seed(3)
        .build()
        .unwrap();
    let starts = Starts::default();
    let result = policy
        .retry_blocking(|| {
            let n = starts.record(&clock);
            if n < 5 { Err(n) } else { Ok(n) }
        })
        .sleep(|d| clock.advance(d))
        .clock(clock.clone())
        .call();
    assert_eq!(result.unwrap(), 5);
    assert_eq!(
        starts.gaps(),
        aws_delays(ms(100), 2, ms(300), Jitter::Equal, 3, 4)
    );
}

#[test]
fn blocking_retry_applies_the_deadline_and_classification() {
    let clock = ManualClock::new();
    let policy = Policy::constant(ms(200))
        .unlimited_attempts()
        .max_elapsed(ms(1000))
        .build()
        .unwrap();
    let starts = Starts::default();
    let report = policy
        .retry_blocking(|| {
            starts.record(&clock);
            clock.advance(ms(300)); // the attempt itself takes 300 ms
            Err::<(), _>(Fail::Transient(0))
        })
        .sleep(|d| clock.advance(d))
        .clock(clock.clone())
        .call_report();
    assert_eq!(starts.all(), [0, 500, 1000].map(ms));
    assert_eq!(report.attempts, 3);
    assert!(report.result.unwrap_err().is_deadline_exceeded());

    let err = policy
        .retry_blocking(|| Err::<(), _>(Fail::Fatal(1)))
        .when(|e| matches!(e, Fail::Transient(_)))
        .call()
        .unwrap_err();
    assert!(err.is_permanent());
}

#[test]
fn blocking_retry_sleeps_on_the_thread_by_default() {
    let policy = Policy::constant(Duration::ZERO)
        .max_attempts(3)
        .build()
        .unwrap();
    let mut calls = 0;
    let result = policy
        .retry_blocking(|| {
            calls += 1;
            if calls < 3 { Err(calls) } else { Ok(calls) }
        })
        .call();
    assert_eq!(result.unwrap(), 3);
}

#[test]
fn errors_read_well_and_expose_their_source() {
    let err: RetryError<std::io::Error> = RetryError::Exhausted {
        last: std::io::Error::other("connection reset"),
        attempts: 4,
    };
    assert_eq!(err.to_string(), "gave up after 4 attempts");
    let source = std::error::Error::source(&err).unwrap();
    assert_eq!(source.to_string(), "connection reset");
    assert_eq!(err.into_last_error().to_string(), "connection reset");
}
