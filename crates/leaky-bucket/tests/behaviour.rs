//! Pacing behaviour in virtual time: exact release instants, slack, drift
//! crediting, FIFO, the bounded waiting room, cancellation, the try path and
//! the counters.

mod support;

use std::time::Duration;

use sluicegate_leaky_bucket::{LeakyBucket, NotReady, Stats};
use sluicegate_rt::ManualClock;
use support::{Bucket, Crowd, every, ms, poll_once};

fn with_slack(clock: &ManualClock, interval: Duration, slack: Duration) -> Bucket {
    LeakyBucket::every(interval)
        .slack(slack)
        .timer(clock.clone())
        .build()
        .unwrap()
}

// ---------------------------------------------------------------- spacing

#[test]
fn a_crowd_is_released_at_evenly_spaced_slots() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 16);
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 6);
    crowd.run();
    assert_eq!(
        crowd.released_at(&ids),
        [ms(0), ms(10), ms(20), ms(30), ms(40), ms(50)]
    );
}

#[test]
fn one_caller_after_another_is_released_at_evenly_spaced_slots() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(25), 1);
    let mut at = Vec::new();
    for _ in 0..5 {
        clock.block_on(bucket.acquire()).unwrap();
        at.push(clock.elapsed());
    }
    assert_eq!(at, [ms(0), ms(25), ms(50), ms(75), ms(100)]);
}

#[test]
fn uneven_periods_are_exact_and_do_not_accumulate_rounding() {
    let clock = ManualClock::new();
    let bucket = LeakyBucket::per_second(3)
        .timer(clock.clone())
        .build()
        .unwrap();
    assert_eq!(bucket.interval(), Duration::from_nanos(333_333_334));
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 7);
    crowd.run();
    let ns = |n| Duration::from_nanos(n);
    assert_eq!(
        crowd.released_at(&ids),
        [
            ns(0),
            ns(333_333_334),
            ns(666_666_667),
            ns(1_000_000_000),
            ns(1_333_333_334),
            ns(1_666_666_667),
            ns(2_000_000_000),
        ]
    );
}

#[test]
fn without_slack_spacing_stays_strict_after_an_idle_period() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 16);
    clock.block_on(bucket.acquire()).unwrap();
    clock.advance(ms(1000));
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 4);
    crowd.run();
    assert_eq!(
        crowd.released_at(&ids),
        [ms(1000), ms(1010), ms(1020), ms(1030)]
    );
}

#[test]
fn slack_releases_banked_slots_back_to_back_after_an_idle_period() {
    let clock = ManualClock::new();
    let bucket = with_slack(&clock, ms(10), ms(30));
    clock.block_on(bucket.acquire()).unwrap();
    clock.advance(ms(100));
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 7);
    crowd.run();
    // Slots 70, 80, 90 and 100 are due at once; then strict spacing.
    assert_eq!(
        crowd.released_at(&ids),
        [
            ms(100),
            ms(100),
            ms(100),
            ms(100),
            ms(110),
            ms(120),
            ms(130)
        ]
    );
    assert_eq!(bucket.stats().waited, 3);
}

#[test]
fn slack_banks_only_the_idle_time_that_passed() {
    let clock = ManualClock::new();
    let bucket = with_slack(&clock, ms(10), ms(30));
    clock.block_on(bucket.acquire()).unwrap();
    clock.advance(ms(15));
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 4);
    crowd.run();
    // Only slot 10 lies in the past: 5 ms were banked, not 30.
    assert_eq!(crowd.released_at(&ids), [ms(15), ms(20), ms(30), ms(40)]);
}

#[test]
fn a_fresh_bucket_starts_with_nothing_banked() {
    let clock = ManualClock::new();
    let bucket = with_slack(&clock, ms(10), ms(1000));
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 3);
    crowd.run();
    assert_eq!(crowd.released_at(&ids), [ms(0), ms(10), ms(20)]);
}

#[test]
fn extreme_rates_keep_exact_instants() {
    // One per hour.
    let clock = ManualClock::new();
    let hourly = LeakyBucket::builder(1, Duration::from_secs(3600))
        .timer(clock.clone())
        .build()
        .unwrap();
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&hourly, 3);
    crowd.run();
    let h = Duration::from_secs(3600);
    assert_eq!(crowd.released_at(&ids), [Duration::ZERO, h, h * 2]);

    // 10^9 per second: one per nanosecond.
    let clock = ManualClock::new();
    let fast = LeakyBucket::per_second(1_000_000_000)
        .timer(clock.clone())
        .build()
        .unwrap();
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&fast, 100);
    crowd.run();
    let expected: Vec<_> = (0..100).map(Duration::from_nanos).collect();
    assert_eq!(crowd.released_at(&ids), expected);
}

// ---------------------------------------------------------------- drift

#[test]
fn late_wake_ups_are_credited_back() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 32);
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 10);
    assert_eq!(crowd.released(), 1);
    // The timer fires 25 ms late: 3.5 intervals pass in one step.
    crowd.advance(ms(35));
    assert_eq!(crowd.released(), 4, "slots 0, 10, 20 and 30 are all due");
    // The rest keep to the original schedule: 40, 50, ...
    crowd.run();
    assert_eq!(
        crowd.released_at(&ids),
        [
            ms(0),
            ms(35),
            ms(35),
            ms(35),
            ms(40),
            ms(50),
            ms(60),
            ms(70),
            ms(80),
            ms(90)
        ]
    );
    assert_eq!(bucket.stats().lateness, ms(25 + 15 + 5));
}

#[test]
fn the_count_released_by_any_time_matches_the_schedule_however_late_the_wake_ups() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 1000);
    let mut crowd = Crowd::new(&clock);
    crowd.acquire_n(&bucket, 200);
    // Irregular, mostly late steps; after each, exactly the slots at or
    // before now have been released: floor(t / 10 ms) + 1.
    for step in [3, 35, 1, 0, 17, 99, 4, 250, 10, 7, 333, 12, 640] {
        crowd.advance(ms(step));
        let t = clock.elapsed().as_millis() as usize;
        assert_eq!(crowd.released(), (t / 10 + 1).min(200), "at {t} ms");
    }
    crowd.run();
    assert_eq!(clock.elapsed(), ms(1990));
}

#[test]
fn a_waiter_woken_late_does_not_push_back_the_next_slot() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 4);
    let mut at = Vec::new();
    clock.block_on(bucket.acquire()).unwrap();
    for _ in 0..5 {
        // Each wait overshoots its slot by 7 ms (a late timer).
        let mut fut = Box::pin(bucket.acquire());
        assert!(poll_once(fut.as_mut()).is_pending());
        let slot = clock.next_deadline().unwrap();
        clock.advance_to(slot + ms(7));
        assert_eq!(poll_once(fut.as_mut()), std::task::Poll::Ready(Ok(())));
        at.push(clock.elapsed());
    }
    // Slots 10, 20, ...: each release is 7 ms late, but the schedule is not.
    assert_eq!(at, [ms(17), ms(27), ms(37), ms(47), ms(57)]);
}

// ---------------------------------------------------------------- FIFO

#[test]
fn waiters_are_released_in_arrival_order_whatever_the_poll_order() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 16);
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 6);
    // Everything is due at once, and the crowd polls from the back.
    clock.advance(ms(1000));
    crowd.settle_reversed();
    assert_eq!(crowd.order, ids);
}

#[test]
fn only_the_head_of_the_queue_holds_a_timer() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 16);
    let mut crowd = Crowd::new(&clock);
    crowd.acquire_n(&bucket, 8);
    assert_eq!(clock.pending_sleeps(), 1);
    assert_eq!(clock.next_deadline(), Some(clock.now() + ms(10)));
    crowd.advance(ms(10));
    assert_eq!(clock.pending_sleeps(), 1);
    assert_eq!(clock.next_deadline(), Some(clock.now() + ms(10)));
}

#[test]
fn an_unpolled_future_takes_no_place() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 1);
    let idle = bucket.acquire();
    assert_eq!(bucket.stats(), Stats::default());
    drop(idle);
    assert_eq!(bucket.stats(), Stats::default());
    assert!(bucket.try_acquire().is_ok());
}

// ---------------------------------------------------------------- the room

#[test]
fn a_full_waiting_room_spills_at_once_and_counts_it() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 2);
    let mut crowd = Crowd::new(&clock);
    // The first passes at once and never waits; two wait; the room is full.
    let ids = crowd.acquire_n(&bucket, 5);
    assert!(matches!(crowd.outcome(ids[3]), Some(Err(e)) if e.capacity() == 2));
    assert_eq!(crowd.outcome(ids[4]).unwrap().unwrap_err().capacity(), 2);
    let s = bucket.stats();
    assert_eq!(
        (s.passed, s.spilled, s.waiting, s.max_waiting),
        (1, 2, 2, 2)
    );
    // One leaves at its slot: a new caller gets the place.
    crowd.advance(ms(10));
    let late = crowd.arrive(bucket.acquire());
    assert!(!crowd.is_done(late));
    crowd.run();
    assert_eq!(
        crowd.released_at(&[ids[1], ids[2], late]),
        [ms(10), ms(20), ms(30)]
    );
    assert_eq!(bucket.stats().spilled, 2);
}

#[test]
fn full_reads_well() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 1);
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 3);
    let err = crowd.outcome(ids[2]).unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "the waiting room is full (1 callers are waiting)"
    );
    let _: &dyn std::error::Error = &err;
}

// ---------------------------------------------------------------- cancel

#[test]
fn a_dropped_waiter_gives_its_slot_to_the_next() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 16);
    clock.block_on(bucket.acquire()).unwrap(); // slot 0
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 3); // slots 1, 2, 3
    crowd.cancel(ids[1]);
    crowd.run();
    assert_eq!(crowd.released_at(&[ids[0], ids[2]]), [ms(10), ms(20)]);
    let s = bucket.stats();
    assert_eq!((s.passed, s.cancelled, s.waiting), (3, 1, 0));
}

#[test]
fn a_dropped_head_gives_its_slot_and_its_timer_to_the_next() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 16);
    clock.block_on(bucket.acquire()).unwrap();
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 3);
    clock.advance(ms(4));
    crowd.cancel(ids[0]);
    // The second waiter is the head now, sleeping until slot 1 (10 ms).
    assert_eq!(clock.pending_sleeps(), 1);
    assert_eq!(clock.next_deadline(), Some(clock.now() + ms(6)));
    crowd.run();
    assert_eq!(crowd.released_at(&ids[1..]), [ms(10), ms(20)]);
}

#[test]
fn a_head_dropped_after_its_slot_passed_leaves_the_slot_to_the_next() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 16);
    clock.block_on(bucket.acquire()).unwrap();
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 3);
    // Slot 10 passes, but the head's task never runs; it is then dropped.
    clock.advance(ms(25));
    crowd.cancel(ids[0]);
    // Slots 10 and 20 are due: both remaining waiters catch up at once.
    assert_eq!(crowd.released_at(&ids[1..]), [ms(25), ms(25)]);
    assert!(bucket.try_acquire().is_err());
    clock.advance(ms(5));
    assert!(bucket.try_acquire().is_ok(), "slot 30 is the next one");
}

#[test]
fn a_dropped_waiter_frees_its_place() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 2);
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 3); // one passes, two fill the room
    let spilled = crowd.arrive(bucket.acquire());
    assert!(crowd.outcome(spilled).unwrap().is_err());
    crowd.cancel(ids[2]);
    let admitted = crowd.arrive(bucket.acquire());
    assert!(!crowd.is_done(admitted));
    crowd.run();
    assert_eq!(crowd.released_at(&[ids[1], admitted]), [ms(10), ms(20)]);
    assert_eq!(clock.pending_sleeps(), 0);
}

#[test]
fn cancelling_every_waiter_leaves_no_timer_and_no_hole() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 16);
    clock.block_on(bucket.acquire()).unwrap();
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 5);
    for &i in ids.iter().rev() {
        crowd.cancel(i);
    }
    assert_eq!(clock.pending_sleeps(), 0);
    assert_eq!(bucket.stats().waiting, 0);
    // Slot 1 (10 ms) is still the next one.
    assert_eq!(bucket.try_acquire().unwrap_err().wait(), ms(10));
}

// ---------------------------------------------------------------- try

#[test]
fn try_acquire_reports_the_exact_wait() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 16);
    assert_eq!(bucket.try_acquire(), Ok(()));
    let err = bucket.try_acquire().unwrap_err();
    assert_eq!((err.wait(), err.ahead()), (ms(10), 0));
    clock.advance(ms(4));
    assert_eq!(bucket.try_acquire().unwrap_err().wait(), ms(6));
    clock.advance(ms(6));
    assert_eq!(bucket.try_acquire(), Ok(()));
    let s = bucket.stats();
    assert_eq!((s.passed, s.denied), (2, 2));
}

#[test]
fn try_acquire_counts_the_callers_ahead() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 16);
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 4); // 0 passes; slots 10, 20, 30 wait
    let err = bucket.try_acquire().unwrap_err();
    assert_eq!((err.wait(), err.ahead()), (ms(40), 3));
    // A cancellation moves everyone up a slot.
    crowd.cancel(ids[2]);
    let err = bucket.try_acquire().unwrap_err();
    assert_eq!((err.wait(), err.ahead()), (ms(30), 2));
    // A later arrival queues behind and is counted too.
    crowd.arrive(bucket.acquire());
    assert_eq!(bucket.try_acquire().unwrap_err().wait(), ms(40));
}

#[test]
fn try_acquire_never_jumps_the_queue() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 16);
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 2);
    clock.advance(ms(50));
    // The head is due but its task has not run yet: the try waits its turn
    // (its own slot, max(20, 50), is due too, hence the zero wait).
    let err = bucket.try_acquire().unwrap_err();
    assert_eq!((err.wait(), err.ahead()), (Duration::ZERO, 1));
    crowd.settle();
    assert!(crowd.is_done(ids[1]));
    assert_eq!(bucket.try_acquire(), Ok(()));
}

#[test]
fn try_acquire_with_slack_passes_banked_slots() {
    let clock = ManualClock::new();
    let bucket = with_slack(&clock, ms(10), ms(20));
    assert!(bucket.try_acquire().is_ok());
    clock.advance(ms(100));
    for _ in 0..3 {
        assert!(bucket.try_acquire().is_ok());
    }
    assert_eq!(bucket.try_acquire().unwrap_err().wait(), ms(10));
}

#[test]
fn not_ready_reads_well() {
    let err: NotReady = {
        let clock = ManualClock::new();
        let bucket = every(&clock, ms(10), 1);
        bucket.try_acquire().unwrap();
        bucket.try_acquire().unwrap_err()
    };
    assert_eq!(
        err.to_string(),
        "no slot is free now; the next one is 10ms away"
    );
}

// ---------------------------------------------------------------- misc

#[test]
fn a_sleeper_that_fires_early_is_trusted_and_the_schedule_holds() {
    // The sleeper says "done" at once while the clock stands still: the head
    // is released (no spinning) and the schedule still moves one slot.
    let clock = ManualClock::new();
    let bucket = LeakyBucket::every(ms(10))
        .clock(clock.clone())
        .sleeper(|_: Duration| std::future::ready(()))
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            poll_once(std::pin::pin!(bucket.acquire())),
            std::task::Poll::Ready(Ok(()))
        );
    }
    assert_eq!(bucket.try_acquire().unwrap_err().wait(), ms(30));
    assert_eq!(bucket.stats().lateness, Duration::ZERO);
}

#[test]
fn the_counters_account_for_every_call() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 3);
    let mut crowd = Crowd::new(&clock);
    let mut calls = 0u64;
    let ids = crowd.acquire_n(&bucket, 6); // 1 passes, 3 wait, 2 spill
    calls += 6;
    for _ in 0..4 {
        let _ = bucket.try_acquire();
        calls += 1;
    }
    crowd.cancel(ids[2]);
    crowd.advance(ms(10));
    let check = |s: Stats, calls: u64| {
        assert_eq!(
            s.passed
                + s.spilled
                + s.denied
                + s.cancelled
                + s.waiting as u64
                + s.waiting_for_room as u64,
            calls,
            "{s:?}"
        );
    };
    check(bucket.stats(), calls);
    crowd.arrive(bucket.acquire());
    calls += 1;
    check(bucket.stats(), calls);
    crowd.run();
    let s = bucket.stats();
    check(s, calls);
    assert_eq!(
        (
            s.passed,
            s.spilled,
            s.denied,
            s.cancelled,
            s.waiting,
            s.max_waiting,
            s.waited
        ),
        (4, 2, 4, 1, 0, 3, 3)
    );
    // Released at 10 (arrived 0), 20 (arrived 0), 30 (arrived 10).
    assert_eq!(s.total_wait, ms(10 + 20 + 20));
}

#[test]
fn clones_share_one_schedule() {
    let clock = ManualClock::new();
    let a = every(&clock, ms(10), 4);
    let b = a.clone();
    assert!(a.try_acquire().is_ok());
    assert_eq!(b.try_acquire().unwrap_err().wait(), ms(10));
    assert_eq!(b.stats().passed, 1);
}

#[test]
fn accessors_report_the_settings() {
    let clock = ManualClock::new();
    let bucket = LeakyBucket::builder(50, Duration::from_secs(1))
        .capacity(7)
        .slack(ms(60))
        .timer(clock)
        .build()
        .unwrap();
    assert_eq!(bucket.rate(), 50);
    assert_eq!(bucket.period(), Duration::from_secs(1));
    assert_eq!(bucket.interval(), ms(20));
    assert_eq!(bucket.slack(), ms(60));
    assert_eq!(bucket.capacity(), 7);
    let dbg = format!("{bucket:?}");
    assert!(
        dbg.contains("LeakyBucket") && dbg.contains("capacity: 7"),
        "{dbg}"
    );
    let default = LeakyBucket::per_second(1).build().unwrap();
    assert_eq!(
        default.capacity(),
        sluicegate_leaky_bucket::DEFAULT_CAPACITY
    );
    assert_eq!(default.slack(), Duration::ZERO);
}

#[test]
fn futures_and_buckets_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 4);
    send_sync(&bucket);
    send(&bucket.acquire());
    send(&bucket.pace(futures_util::stream::iter([1])));
    let tokio_bucket = LeakyBucket::per_second(1)
        .sleeper(sluicegate_rt::TokioSleeper)
        .build()
        .unwrap();
    send(&tokio_bucket.acquire());
}

/// A consumer that calls `acquire` again as soon as it is released, on a
/// timer that always fires late (by less than one interval, and by more, up
/// to two): the lateness is credited back (at most one interval), so
/// release `k` is never more than the lateness after slot `k`, instead of
/// each late wake-up pushing every later slot back (re-arming from "now"
/// loses `lateness / (interval + lateness)` of the rate).
#[test]
fn a_consumer_coming_straight_back_after_late_wake_ups_keeps_the_rate() {
    for late in [ms(6), ms(15)] {
        let clock = ManualClock::new();
        let bucket = every(&clock, ms(10), 8);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut released = Vec::new();
        for _ in 0..100 {
            let mut acquire = std::pin::pin!(bucket.acquire());
            while acquire.as_mut().poll(&mut cx).is_pending() {
                let deadline = clock.next_deadline().expect("the head sleeps");
                clock.advance_to(deadline + late);
            }
            released.push(clock.elapsed());
        }
        for (k, &at) in released.iter().enumerate() {
            let slot = ms(10 * k as u64);
            assert!(
                at >= slot,
                "late {late:?}: release {k} at {at:?}, before its slot"
            );
            assert!(
                at <= slot + late,
                "late {late:?}: release {k} at {at:?} drifted"
            );
        }
        let s = bucket.stats();
        assert_eq!((s.passed, s.waiting), (100, 0));
    }
}

/// Credit is for a late timer, not a bank: after a very late release and
/// then an hour of idling, a `slack = 0` bucket passes one caller, not a
/// burst.
#[test]
fn credit_does_not_survive_idling() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 8);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    bucket.try_acquire().unwrap();
    let mut head = std::pin::pin!(bucket.acquire());
    assert!(head.as_mut().poll(&mut cx).is_pending());
    let deadline = clock.next_deadline().expect("the head sleeps");
    clock.advance_to(deadline + std::time::Duration::from_secs(1));
    assert!(head.as_mut().poll(&mut cx).is_ready());
    clock.advance(std::time::Duration::from_secs(3600));
    let passed = (0..100).filter(|_| bucket.try_acquire().is_ok()).count();
    assert_eq!(
        passed, 1,
        "an idle slack-0 bucket passes one caller at once"
    );
}
