//! Every interleaving of the waiting room's lock and wake-up protocol, under
//! loom: concurrent arrivals, releases that hand the head on, and waiters
//! dropped mid-wait. A lost wake-up shows as a loom deadlock; a wasted or
//! doubly used slot shows in the schedule.
//!
//! `RUSTFLAGS="--cfg sluicegate_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p sluicegate-leaky-bucket --test loom --release`
#![cfg(sluicegate_loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use loom::future::block_on;
use loom::thread;
use sluicegate_leaky_bucket::LeakyBucket;

/// A sleep that is pending once (waking itself), then done: every head
/// really waits, and every wait ends.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

const INTERVAL: Duration = Duration::from_secs(1);

/// Time stands still at the origin; the sleeper decides when a slot is due.
fn bucket(
    capacity: usize,
) -> LeakyBucket<
    impl Fn() -> Instant + Send + Sync + 'static,
    impl Fn(Duration) -> YieldOnce + Send + Sync + 'static,
> {
    let origin = Instant::now();
    LeakyBucket::every(INTERVAL)
        .capacity(capacity)
        .clock(move || origin)
        .sleeper(|_: Duration| YieldOnce(false))
        .build()
        .unwrap()
}

/// How many slots the schedule has handed out: the next one is that many
/// intervals after the origin (time stands still there).
fn slots_used<C: sluicegate_leaky_bucket::rt::Clock, S>(b: &LeakyBucket<C, S>) -> u128 {
    match b.try_acquire() {
        Ok(()) => 0,
        Err(e) => e.wait().as_nanos() / INTERVAL.as_nanos(),
    }
}

#[test]
fn concurrent_callers_all_pass_and_use_one_slot_each() {
    loom::model(|| {
        let b = bucket(4);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || block_on(b.acquire()).unwrap())
            })
            .collect();
        block_on(b.acquire()).unwrap();
        for h in handles {
            h.join().unwrap();
        }
        let s = b.stats();
        assert_eq!((s.passed, s.waiting, s.cancelled), (3, 0, 0));
        assert_eq!(slots_used(&b), 3);
    });
}

#[test]
fn a_waiter_dropped_mid_wait_wakes_the_next_and_wastes_no_slot() {
    loom::model(|| {
        let b = bucket(4);
        let quitter = {
            let b = b.clone();
            thread::spawn(move || {
                let mut fut = Box::pin(b.acquire());
                // One poll: it passes, or waits (possibly at the head,
                // sleeping), then gives up.
                let polled = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                drop(fut);
                polled.is_ready()
            })
        };
        let other = {
            let b = b.clone();
            thread::spawn(move || block_on(b.acquire()).unwrap())
        };
        block_on(b.acquire()).unwrap();
        let quitter_passed = quitter.join().unwrap();
        other.join().unwrap();
        let s = b.stats();
        assert_eq!(s.waiting, 0);
        assert_eq!(s.passed + s.cancelled, 3);
        assert_eq!(s.cancelled, u64::from(!quitter_passed));
        // Exactly one slot per caller that passed: none lost to the quitter.
        assert_eq!(slots_used(&b), u128::from(s.passed));
    });
}

#[test]
fn a_full_room_spills_and_frees_up() {
    loom::model(|| {
        let b = bucket(1);
        let other = {
            let b = b.clone();
            thread::spawn(move || block_on(b.acquire()).is_ok())
        };
        let mine = block_on(b.acquire()).is_ok();
        let theirs = other.join().unwrap();
        let s = b.stats();
        assert_eq!(s.passed + s.spilled, 2);
        assert_eq!(u64::from(mine) + u64::from(theirs), s.passed);
        assert_eq!(slots_used(&b), u128::from(s.passed));
    });
}
