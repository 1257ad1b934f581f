//! `KeyedTokenBucket::set_quota`: every key's quota changes live; keys that
//! owe keep their tokens, full ones start full; serialised, shard by shard.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{limiter, ms, retry_after, ten_per_second};
use sluicegate_rt::Clock;
use sluicegate_token_bucket::{KeyedError, KeyedTokenBucket, Quota, TryAcquireError};

#[test]
fn raising_the_burst_grants_nothing_extra_to_a_key_that_owes() {
    let (clock, limiter) = limiter(5, 16);
    limiter.try_acquire(&"alice", 4).unwrap();
    limiter.set_quota(ten_per_second(20));
    assert_eq!(limiter.remaining(&"alice"), 1, "the same tokens now");
    limiter.try_acquire(&"alice", 1).unwrap();
    assert!(
        limiter.try_acquire(&"alice", 1).is_err(),
        "no burst of extra grants"
    );
    assert_eq!(limiter.quota(), ten_per_second(20));
    clock.advance(ms(2000));
    assert_eq!(
        limiter.remaining(&"alice"),
        20,
        "it fills to the new burst over time"
    );
}

/// A full bucket is a key never seen: tracked or evicted, it starts full
/// under the new quota, so `evict_idle` still changes no decision.
#[test]
fn a_full_key_starts_full_under_the_new_quota_like_a_new_one() {
    let (clock, limiter) = limiter(5, 16);
    limiter.try_acquire(&"idle", 1).unwrap();
    clock.advance(ms(100));
    assert_eq!(limiter.len(), 1, "tracked, with a full bucket");
    limiter.set_quota(ten_per_second(20));
    assert_eq!(limiter.remaining(&"idle"), 20);
    assert_eq!(limiter.remaining(&"never-seen"), 20);
    limiter.try_acquire(&"idle", 20).unwrap();
    assert!(limiter.try_acquire(&"idle", 1).is_err());
}

#[test]
fn lowering_the_burst_caps_what_each_key_has() {
    let (_clock, limiter) = limiter(10, 16);
    limiter.try_acquire(&"alice", 2).unwrap();
    limiter.try_acquire(&"bob", 9).unwrap();
    limiter.set_quota(ten_per_second(3));
    assert_eq!(limiter.remaining(&"alice"), 3, "8 capped at the new burst");
    assert_eq!(limiter.remaining(&"bob"), 1, "under the cap: kept");
    limiter.try_acquire(&"alice", 3).unwrap();
    assert!(limiter.try_acquire(&"alice", 1).is_err());
    assert!(matches!(
        limiter.try_acquire(&"carol", 4),
        Err(KeyedError::Denied(TryAcquireError::InsufficientCapacity {
            requested: 4,
            burst: 3
        }))
    ));
}

#[test]
fn changing_the_rate_keeps_each_keys_tokens_and_uses_the_new_interval() {
    let (clock, limiter) = limiter(5, 16);
    limiter.try_acquire(&"k", 5).unwrap();
    clock.advance(ms(250)); // 2.5 tokens back
    assert_eq!(limiter.remaining(&"k"), 2);
    let one_per_second = Quota::per_second(1).unwrap().with_burst(5).unwrap();
    limiter.set_quota(one_per_second);
    assert_eq!(
        limiter.remaining(&"k"),
        2,
        "the 2.5 tokens survive the change"
    );
    // The half token now needs half of the new interval.
    assert_eq!(
        retry_after(limiter.try_acquire(&"k", 3).unwrap_err()),
        ms(500)
    );
    assert_eq!(limiter.quota(), one_per_second);
}

/// A key owing less than one token still owes: it keeps its tokens, it
/// does not start full.
#[test]
fn a_key_owing_part_of_a_token_keeps_its_tokens() {
    let (clock, limiter) = limiter(5, 16);
    limiter.try_acquire(&"k", 1).unwrap();
    clock.advance(ms(50)); // 4.5 tokens
    limiter.set_quota(ten_per_second(20));
    assert_eq!(limiter.remaining(&"k"), 4);
    clock.advance(ms(50));
    assert_eq!(
        limiter.remaining(&"k"),
        5,
        "the half token came back at the rate"
    );
}

/// Concurrent changes are serialised: whenever none is under way, every
/// shard is on the quota `quota()` reports. Two threads change it at the
/// same moment, round after round; keys never seen report their shard's
/// burst.
#[test]
fn concurrent_quota_changes_leave_every_shard_on_the_last_quota() {
    const ROUNDS: usize = if cfg!(miri) { 10 } else { 1_000 };
    let (_clock, limiter) = limiter(2, 1000);
    let limiter = Arc::new(limiter);
    // Keys that owe, so that each shard takes a while to move.
    for key in 1000..1400 {
        limiter.try_acquire(&key, 1).unwrap();
    }
    let barrier = Arc::new(Barrier::new(3));
    let changers: Vec<_> = [3, 4]
        .into_iter()
        .map(|burst| {
            let limiter = Arc::clone(&limiter);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    barrier.wait();
                    limiter.set_quota(ten_per_second(burst));
                    barrier.wait();
                }
            })
        })
        .collect();
    for round in 0..ROUNDS {
        barrier.wait();
        barrier.wait();
        let burst = limiter.quota().burst();
        for key in 0..200 {
            assert_eq!(limiter.remaining(&key), burst, "round {round}, key {key}");
        }
    }
    for changer in changers {
        changer.join().unwrap();
    }
}

/// A clock that moves `step` nanoseconds at every read (0 to stand still).
#[derive(Clone)]
struct Stepping {
    base: Instant,
    ns: Arc<AtomicU64>,
    step: Arc<AtomicU64>,
}

impl Clock for Stepping {
    fn now(&self) -> Instant {
        let step = self.step.load(Ordering::SeqCst);
        let ns = self.ns.fetch_add(step, Ordering::SeqCst) + step;
        self.base + Duration::from_nanos(ns)
    }
}

/// Each shard is moved at the time read under its lock: a key that became
/// full while earlier shards were moved starts full, as it would have had
/// `set_quota` reached its shard first.
#[test]
fn set_quota_reads_the_time_at_each_shard() {
    let clock = Stepping {
        base: Instant::now(),
        ns: Arc::new(AtomicU64::new(0)),
        step: Arc::new(AtomicU64::new(0)),
    };
    let limiter = KeyedTokenBucket::with_clock(ten_per_second(5), 1000, clock.clone()).unwrap();
    for key in 0..200 {
        limiter.try_acquire(&key, 1).unwrap(); // each owes 100 ms
    }
    // 16 shards, one read each: 7 ms apart, the last two shards are read
    // 105 and 112 ms on, after their keys are full again.
    clock.step.store(ms(7).as_nanos() as u64, Ordering::SeqCst);
    limiter.set_quota(ten_per_second(20));
    clock.step.store(0, Ordering::SeqCst);
    // Read 112 ms on: a key that owed kept its 4.x tokens and got up to
    // 1.05 more back during the walk.
    let remaining: Vec<u32> = (0..200).map(|key| limiter.remaining(&key)).collect();
    assert!(
        remaining.iter().all(|&r| r == 20 || (4..=5).contains(&r)),
        "a key kept its tokens or started full: {remaining:?}"
    );
    assert!(
        remaining.contains(&20),
        "keys of the last shards were full when their shard moved"
    );
    assert!(
        remaining.iter().any(|&r| r < 20),
        "keys of the first shards still owed"
    );
}

/// Keys in every shard move to the new quota.
#[test]
fn set_quota_reaches_every_key() {
    let (_clock, limiter) = limiter(2, 1000);
    for key in 0..200 {
        limiter.try_acquire(&key, 1).unwrap();
    }
    limiter.set_quota(Quota::per_second(1).unwrap().with_burst(2).unwrap());
    for key in 0..200 {
        assert_eq!(limiter.remaining(&key), 1, "key {key}");
        // One token owed, now at one per second.
        assert_eq!(
            retry_after(limiter.try_acquire(&key, 2).unwrap_err()),
            ms(1000),
            "key {key}"
        );
    }
}

/// With the clock standing still, a key that owes tokens gets exactly what
/// it had, however quota changes interleave with the threads taking tokens
/// (the bursts differ, the rate does not, so rescaling is exact).
#[test]
fn quota_changes_racing_decisions_grant_nothing_extra() {
    const THREADS: usize = 3;
    const TRIES: usize = if cfg!(miri) { 50 } else { 2_000 };

    let (_clock, limiter) = limiter(5, 16);
    let limiter = Arc::new(limiter);
    limiter.try_acquire(&"k", 1).unwrap();
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let changing = Arc::new(AtomicBool::new(true));
    // The takers try for as long as the quota keeps changing.
    let takers: Vec<_> = (0..THREADS)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            let barrier = Arc::clone(&barrier);
            let changing = Arc::clone(&changing);
            thread::spawn(move || {
                barrier.wait();
                let mut admitted = 0;
                while changing.load(Ordering::Acquire) {
                    admitted += usize::from(limiter.try_acquire(&"k", 1).is_ok());
                }
                admitted
            })
        })
        .collect();
    let changer = {
        let limiter = Arc::clone(&limiter);
        let barrier = Arc::clone(&barrier);
        let changing = Arc::clone(&changing);
        thread::spawn(move || {
            barrier.wait();
            for i in 0..TRIES {
                limiter.set_quota(ten_per_second(if i % 2 == 0 { 10 } else { 5 }));
            }
            changing.store(false, Ordering::Release);
        })
    };
    let admitted: usize = takers.into_iter().map(|h| h.join().unwrap()).sum();
    changer.join().unwrap();
    assert_eq!(admitted, 4, "the 4 tokens left, never more");
    assert_eq!(limiter.remaining(&"k"), 0);
}
