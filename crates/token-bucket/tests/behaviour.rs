//! Token-bucket behaviour in virtual time: admission, waiting in order,
//! refunds, reservations, metadata, reconfiguration, stats.

mod support;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

use sluicegate_token_bucket::{InsufficientCapacity, Quota, TryAcquireError};
use support::{bucket, ms, run_all};

#[test]
fn a_full_bucket_admits_its_burst_then_one_per_interval() {
    let (clock, b) = bucket(10, 3);
    for _ in 0..3 {
        b.try_acquire(1).unwrap();
    }
    let denied = b.try_acquire(1).unwrap_err();
    assert_eq!(denied.retry_after(), Some(ms(100)));
    match denied {
        TryAcquireError::NotUntil(n) => assert_eq!(n.earliest(), clock.now() + ms(100)),
        other => panic!("{other:?}"),
    }
    clock.advance(ms(99));
    assert_eq!(b.try_acquire(1).unwrap_err().retry_after(), Some(ms(1)));
    clock.advance(ms(1));
    b.try_acquire(1).unwrap();
    assert!(b.try_acquire(1).is_err());
}

#[test]
fn multi_token_requests_and_their_exact_wait() {
    let (clock, b) = bucket(10, 5);
    b.try_acquire(4).unwrap();
    // One left; three need two more tokens: 200 ms.
    assert_eq!(b.try_acquire(3).unwrap_err().retry_after(), Some(ms(200)));
    clock.advance(ms(200));
    b.try_acquire(3).unwrap();
    assert_eq!(b.peek().remaining, 0);
}

#[test]
fn more_than_the_burst_is_refused_at_once_and_zero_is_free() {
    let (_clock, b) = bucket(10, 5);
    assert_eq!(
        b.try_acquire(6),
        Err(TryAcquireError::InsufficientCapacity {
            requested: 6,
            burst: 5
        })
    );
    assert_eq!(b.try_acquire(6).unwrap_err().retry_after(), None);
    b.try_acquire(0).unwrap();
    assert_eq!(b.peek().remaining, 5, "n = 0 takes nothing");
}

#[test]
fn peek_and_check_give_http_metadata_without_consuming() {
    let (clock, b) = bucket(10, 5);
    let s = b.peek();
    assert_eq!(
        (s.remaining, s.burst, s.reset_after, s.interval),
        (5, 5, Duration::ZERO, ms(100))
    );
    b.try_acquire(2).unwrap();
    let s = b.peek();
    assert_eq!((s.remaining, s.reset_after), (3, ms(200)));
    clock.advance(ms(50));
    let s = b.peek();
    // Half a token back: still 3 whole tokens, full in 150 ms.
    assert_eq!((s.remaining, s.reset_after), (3, ms(150)));
    assert_eq!(s.retry_after(3), Some(Duration::ZERO));
    assert_eq!(s.retry_after(4), Some(ms(50)));
    assert_eq!(s.retry_after(5), Some(ms(150)));
    assert_eq!(s.retry_after(6), None);
    b.check(3).unwrap();
    assert_eq!(b.check(4).unwrap_err().retry_after(), Some(ms(50)));
    assert_eq!(b.peek().remaining, 3, "check consumed nothing");
    clock.advance(ms(150));
    assert_eq!(b.peek().remaining, 5);
    assert_eq!(b.peek().reset_after, Duration::ZERO);
}

#[test]
fn waiters_are_released_one_interval_apart_in_arrival_order() {
    let (clock, b) = bucket(10, 1);
    b.try_acquire(1).unwrap();
    let done = run_all::<Result<u32, InsufficientCapacity>>(
        &clock,
        (0..4u32)
            .map(|i| {
                let acquire = b.acquire(1);
                Box::pin(async move { acquire.await.map(|()| i) }) as _
            })
            .collect(),
    );
    let order: Vec<_> = done
        .iter()
        .map(|(r, t)| (*r.as_ref().unwrap(), *t))
        .collect();
    assert_eq!(
        order,
        [(0, ms(100)), (1, ms(200)), (2, ms(300)), (3, ms(400))]
    );
    assert_eq!(b.stats().waited, 4);
    assert_eq!(b.stats().waiting, 0);
}

#[test]
fn an_acquire_that_fits_completes_without_waiting() {
    let (clock, b) = bucket(10, 2);
    clock.block_on(b.acquire(2)).unwrap();
    assert_eq!(clock.elapsed(), Duration::ZERO);
    assert_eq!(b.stats().waited, 0);
    assert_eq!(
        clock.block_on(b.acquire(3)),
        Err(InsufficientCapacity {
            requested: 3,
            burst: 2
        })
    );
}

#[test]
fn try_acquire_does_not_overtake_waiters() {
    let (clock, b) = bucket(10, 1);
    b.try_acquire(1).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut waiter = pin!(b.acquire(1));
    assert!(waiter.as_mut().poll(&mut cx).is_pending());
    clock.advance(ms(100));
    // The token is back, but a waiter was first.
    assert!(b.try_acquire(1).is_err());
    assert!(waiter.as_mut().poll(&mut cx).is_ready());
    assert!(b.try_acquire(1).is_err(), "the waiter took it");
}

#[test]
fn a_dropped_waiter_behind_the_head_frees_its_turn() {
    let (clock, b) = bucket(10, 1);
    b.try_acquire(1).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut first = Box::pin(b.acquire(1));
    let mut second = Box::pin(b.acquire(1));
    let mut third = Box::pin(b.acquire(1));
    for f in [&mut first, &mut second, &mut third] {
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(b.stats().waiting, 3);
    drop(second);
    assert_eq!(b.stats().waiting, 2);
    clock.advance(ms(100));
    assert!(first.as_mut().poll(&mut cx).is_ready());
    assert!(third.as_mut().poll(&mut cx).is_pending());
    clock.advance(ms(100));
    // The third is served at the second slot (200 ms), not the third.
    assert!(third.as_mut().poll(&mut cx).is_ready());
    assert_eq!(b.stats().refunded, 0, "the second had booked nothing");
}

#[test]
fn a_dropped_head_gives_back_its_booking() {
    let (clock, b) = bucket(10, 1);
    b.try_acquire(1).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut head = Box::pin(b.acquire(1));
    let mut next = Box::pin(b.acquire(1));
    assert!(head.as_mut().poll(&mut cx).is_pending());
    assert!(next.as_mut().poll(&mut cx).is_pending());
    assert_eq!(clock.pending_sleeps(), 1, "only the head books and sleeps");
    drop(head);
    assert_eq!(b.stats().refunded, 1);
    assert_eq!(clock.pending_sleeps(), 0, "its timer went with it");
    // The next caller becomes the head and gets the head's slot, 100 ms.
    assert!(next.as_mut().poll(&mut cx).is_pending());
    assert_eq!(clock.next_deadline(), Some(clock.now() + ms(100)));
    clock.advance(ms(100));
    assert!(next.as_mut().poll(&mut cx).is_ready());
    assert_eq!(b.stats().waiting, 0);
}

#[test]
fn a_reservation_is_ready_when_its_tokens_are() {
    let (clock, b) = bucket(10, 2);
    let now = b.reserve(2).unwrap();
    assert!(now.is_ready());
    assert_eq!(now.delay(), Duration::ZERO);
    now.commit();
    let later = b.reserve(1).unwrap();
    assert_eq!(later.ready_at(), clock.now() + ms(100));
    assert_eq!(later.delay(), ms(100));
    clock.block_on(later.wait());
    assert_eq!(clock.elapsed(), ms(100));
    assert!(later.is_ready());
    assert!(!later.cancel(), "too late to refund: its time has come");
    assert_eq!(
        b.reserve(3).unwrap_err(),
        InsufficientCapacity {
            requested: 3,
            burst: 2
        }
    );
}

#[test]
fn cancelling_refunds_only_when_it_cannot_over_grant() {
    let (clock, b) = bucket(10, 1);
    b.try_acquire(1).unwrap();
    let r1 = b.reserve(1).unwrap(); // ready at 100 ms
    assert!(r1.cancel(), "last booking, time not come: refunded");
    assert_eq!(b.stats().refunded, 1);
    assert_eq!(b.try_acquire(1).unwrap_err().retry_after(), Some(ms(100)));

    let r1 = b.reserve(1).unwrap(); // 100 ms
    let r2 = b.reserve(1).unwrap(); // 200 ms, timed behind r1
    assert_eq!(r2.ready_at(), clock.now() + ms(200));
    assert!(
        !r1.cancel(),
        "r2 was scheduled behind it: refunding would double-book"
    );
    assert!(r2.cancel());
    assert_eq!(b.stats().refunded, 2);
}

#[test]
fn raising_the_burst_grants_nothing_extra() {
    let (clock, b) = bucket(10, 10);
    b.try_acquire(4).unwrap();
    assert_eq!(b.peek().remaining, 6);
    b.set_quota(Quota::per_second(10).unwrap().with_burst(100).unwrap());
    assert_eq!(b.peek().remaining, 6, "same tokens now");
    assert_eq!(b.peek().burst, 100);
    b.try_acquire(6).unwrap();
    assert!(b.try_acquire(1).is_err(), "no burst of extra grants");
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        b.peek().remaining,
        100,
        "it fills to the new burst over time"
    );
}

#[test]
fn lowering_the_burst_caps_what_is_available() {
    let (_clock, b) = bucket(10, 10);
    b.try_acquire(2).unwrap();
    b.set_quota(Quota::per_second(10).unwrap().with_burst(3).unwrap());
    assert_eq!(b.peek().remaining, 3);
    b.try_acquire(3).unwrap();
    assert!(b.try_acquire(1).is_err());
}

#[test]
fn changing_the_rate_keeps_the_tokens_and_uses_the_new_interval() {
    let (clock, b) = bucket(10, 5);
    b.try_acquire(5).unwrap();
    clock.advance(ms(250)); // 2.5 tokens back
    assert_eq!(b.peek().remaining, 2);
    b.set_quota(Quota::per_second(1).unwrap().with_burst(5).unwrap());
    let s = b.peek();
    assert_eq!(s.remaining, 2, "the 2.5 tokens survive the change");
    assert_eq!(s.interval, ms(1000));
    // The half token now needs half of the new interval.
    assert_eq!(s.retry_after(3), Some(ms(500)));
    assert_eq!(
        b.quota(),
        Quota::per_second(1).unwrap().with_burst(5).unwrap()
    );
}

#[test]
fn stats_count_every_path() {
    let (clock, b) = bucket(10, 2);
    b.try_acquire(2).unwrap();
    assert!(b.try_acquire(1).is_err());
    assert!(b.try_acquire(3).is_err());
    clock.block_on(b.acquire(1)).unwrap();
    b.reserve(1).unwrap().commit();
    let s = b.stats();
    assert_eq!(
        (s.admitted, s.rejected, s.waited, s.refunded, s.waiting),
        (3, 2, 1, 0, 0)
    );
    assert_eq!((s.tokens, s.burst), (0, 2));
}

#[test]
fn no_window_admits_more_than_burst_plus_rate_and_saturation_gets_the_rate() {
    // Saturating try load in virtual time: one attempt every 7 ms for 10 s.
    let (clock, b) = bucket(50, 5); // T = 20 ms
    let mut admitted = Vec::new();
    for _ in 0..(10_000 / 7) {
        if b.try_acquire(1).is_ok() {
            admitted.push(clock.elapsed());
        }
        clock.advance(ms(7));
    }
    let t = ms(20);
    for (i, start) in admitted.iter().enumerate() {
        for (j, end) in admitted.iter().enumerate().skip(i) {
            let window = *end - *start;
            let count = (j - i + 1) as u128;
            let allowed = 5 + window.as_nanos() / t.as_nanos();
            assert!(count <= allowed, "{count} admitted in {window:?}");
        }
    }
    // Under saturation: at least rate·W − 1 in the whole run (after the burst).
    let run = clock.elapsed();
    let expected = run.as_nanos() / t.as_nanos();
    assert!(
        admitted.len() as u128 + 1 >= expected,
        "{} < {expected}",
        admitted.len()
    );
}

/// Waiters queued back to back on a timer that always fires late (by less
/// than one interval, and by more, up to two): each released waiter queues
/// again at once, so there is always someone behind the head. The lateness
/// is handed down the queue (capped at one interval), so release `k` is
/// never more than the lateness after `k` intervals: a burst-1 bucket keeps
/// its rate on a coarse timer (tokio's is 1 ms, the interval at 1,000/s).
#[test]
fn a_queue_on_a_late_timer_keeps_the_rate() {
    for late in [ms(6), ms(15)] {
        let (clock, b) = bucket(100, 1); // 10 ms per token
        b.try_acquire(1).unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let mut queue: Vec<_> = (0..3).map(|_| Box::pin(b.acquire(1))).collect();
        let mut released = Vec::new();
        while released.len() < 60 {
            let mut progressed = false;
            for fut in queue.iter_mut() {
                if fut.as_mut().poll(&mut cx).is_ready() {
                    released.push(clock.elapsed());
                    *fut = Box::pin(b.acquire(1)); // straight back in line
                    progressed = true;
                }
            }
            if !progressed {
                let deadline = clock.next_deadline().expect("the head sleeps");
                clock.advance_to(deadline + late);
            }
        }
        for (k, &at) in released.iter().enumerate() {
            let slot = ms(10 * (k as u64 + 1));
            assert!(
                at <= slot + late,
                "late {late:?}: release {k} at {at:?} drifted past {slot:?}"
            );
        }
        // Ready instants stay an interval apart: never more than the rate.
        assert!(released.len() as u128 <= clock.elapsed().as_millis() / 10 + 1);
    }
}

/// A stalled executor is not a timer tick: a head released 50 intervals
/// late hands on at most one interval of credit, so the queue behind it
/// does not pass all at once (burst 1: at most one extra release).
#[test]
fn a_long_stall_does_not_turn_into_a_burst() {
    let (clock, b) = bucket(100, 1); // 10 ms per token
    b.try_acquire(1).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut queue: Vec<_> = (0..6).map(|_| Box::pin(b.acquire(1))).collect();
    for fut in queue.iter_mut() {
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    let deadline = clock.next_deadline().expect("the head sleeps");
    clock.advance_to(deadline + ms(500));
    let released_now = queue
        .iter_mut()
        .map(|fut| fut.as_mut().poll(&mut cx).is_ready())
        .filter(|&ready| ready)
        .count();
    assert!(
        released_now <= 2,
        "{released_now} released at one instant with burst 1"
    );
}

/// `set_quota` reaches a caller already asleep on a booking made under the
/// old quota: it re-times instead of sleeping out the old wait.
#[test]
fn a_sleeping_waiter_follows_a_new_quota() {
    let clock = sluicegate_rt::ManualClock::new();
    let b = sluicegate_token_bucket::TokenBucket::builder(Quota::per_hour(1).unwrap())
        .clock(clock.clone())
        .sleeper(clock.clone())
        .build();
    b.try_acquire(1).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut head = Box::pin(b.acquire(1));
    assert!(head.as_mut().poll(&mut cx).is_pending());
    assert_eq!(
        clock.next_deadline(),
        Some(clock.now() + Duration::from_secs(3600))
    );
    b.set_quota(Quota::per_second(1000).unwrap());
    // Under the new quota the bucket refills in about a millisecond.
    clock.advance(ms(2));
    assert!(
        head.as_mut().poll(&mut cx).is_ready(),
        "still asleep on the old quota"
    );
    clock.advance(ms(10));
    assert!(b.try_acquire(1).is_ok(), "try_acquire no longer blocked");
}

/// Every waiting `acquire` ends served, cancelled, or is still waiting.
#[test]
fn the_waiting_accounting_adds_up() {
    let (clock, b) = bucket(10, 1);
    b.try_acquire(1).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut waiters: Vec<_> = (0..5).map(|_| Some(Box::pin(b.acquire(1)))).collect();
    for w in waiters.iter_mut().flatten() {
        assert!(w.as_mut().poll(&mut cx).is_pending());
    }
    waiters[1] = None; // cancelled while queued
    clock.advance(ms(100));
    assert!(
        waiters[0]
            .as_mut()
            .unwrap()
            .as_mut()
            .poll(&mut cx)
            .is_ready()
    );
    assert!(
        waiters[2]
            .as_mut()
            .unwrap()
            .as_mut()
            .poll(&mut cx)
            .is_pending()
    );
    waiters[2] = None; // cancelled while booked (the head)
    let s = b.stats();
    assert_eq!(
        (s.waited, s.served_after_wait, s.cancelled, s.waiting),
        (5, 1, 2, 2)
    );
    assert_eq!(
        s.waited,
        s.served_after_wait + s.cancelled + s.waiting as u64
    );
    assert_eq!(s.refunded, 1, "the booked head gave its tokens back");
}

/// A caller arriving behind waiters that have not booked yet is told to
/// come back after their tokens too, not just after the head's.
#[test]
fn retry_after_counts_the_whole_queue() {
    let (clock, b) = bucket(1, 1);
    b.try_acquire(1).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut queue: Vec<_> = (0..10).map(|_| Box::pin(b.acquire(1))).collect();
    for w in queue.iter_mut() {
        assert!(w.as_mut().poll(&mut cx).is_pending());
    }
    let wait = b.try_acquire(1).unwrap_err().retry_after().unwrap();
    // The head is booked for 1 s; 9 more waiters and this caller follow.
    assert_eq!(wait, Duration::from_secs(11));
    let _ = clock;
}

/// The snapshot's `retry_after(n)` is exact with bookings beyond the burst.
#[test]
fn snapshot_retry_after_is_exact_beyond_the_burst() {
    let (_clock, b) = bucket(1, 2);
    b.reserve(2).unwrap().commit();
    b.reserve(2).unwrap().commit();
    let s = b.peek();
    assert_eq!(s.retry_after(1), Some(Duration::from_secs(3)));
    assert_eq!(
        b.check(1).unwrap_err().retry_after(),
        Some(Duration::from_secs(3))
    );
    assert_eq!(s.retry_after(2), Some(Duration::from_secs(4)));
}
