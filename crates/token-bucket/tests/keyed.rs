//! `KeyedTokenBucket`: independent keys, exact metadata, and bounded memory
//! (the cap on keys holds, idle keys go, keys that owe tokens stay).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{ms, ns};
use sluicegate_rt::{Clock, ManualClock};
use sluicegate_token_bucket::{KeyedError, KeyedTokenBucket, Quota, TryAcquireError};

/// 10 per second (one token every 100 ms), burst `burst`.
fn ten_per_second(burst: u32) -> Quota {
    Quota::per_second(10).unwrap().with_burst(burst).unwrap()
}

fn limiter<K: std::hash::Hash + Eq + Clone>(
    burst: u32,
    max_keys: usize,
) -> (ManualClock, KeyedTokenBucket<K, ManualClock>) {
    let clock = ManualClock::new();
    let limiter =
        KeyedTokenBucket::with_clock(ten_per_second(burst), max_keys, clock.clone()).unwrap();
    (clock, limiter)
}

fn retry_after(err: KeyedError) -> std::time::Duration {
    match err {
        KeyedError::Denied(TryAcquireError::NotUntil(denied)) => denied.retry_after(),
        other => panic!("expected a NotUntil denial, got {other:?}"),
    }
}

#[test]
fn keys_are_independent() {
    let (_clock, limiter) = limiter(2, 16);
    assert!(limiter.try_acquire(&"alice", 2).is_ok());
    assert!(limiter.try_acquire(&"alice", 1).is_err());
    // Alice's empty bucket takes nothing from Bob's.
    assert_eq!(limiter.remaining(&"bob"), 2);
    assert!(limiter.try_acquire(&"bob", 1).is_ok());
    assert!(limiter.try_acquire(&"bob", 1).is_ok());
    assert!(limiter.try_acquire(&"bob", 1).is_err());
    // ...and Bob's draining did not change Alice's state either.
    assert_eq!(limiter.remaining(&"alice"), 0);
    assert_eq!(limiter.remaining(&"carol"), 2);
}

#[test]
fn retry_after_for_a_key_is_exact() {
    let (clock, limiter) = limiter(2, 16);
    limiter.try_acquire(&"alice", 2).unwrap();

    let err = limiter.try_acquire(&"alice", 1).unwrap_err();
    let KeyedError::Denied(TryAcquireError::NotUntil(denied)) = err else {
        panic!("expected NotUntil, got {err:?}");
    };
    assert_eq!(denied.retry_after(), ms(100));
    assert_eq!(denied.earliest(), clock.now() + ms(100));
    assert_eq!(
        retry_after(limiter.try_acquire(&"alice", 2).unwrap_err()),
        ms(200)
    );

    clock.advance(ms(30));
    assert_eq!(
        retry_after(limiter.try_acquire(&"alice", 1).unwrap_err()),
        ms(70)
    );
    clock.advance(ms(70) - ns(1));
    assert_eq!(
        retry_after(limiter.try_acquire(&"alice", 1).unwrap_err()),
        ns(1)
    );
    clock.advance(ns(1));
    assert!(limiter.try_acquire(&"alice", 1).is_ok());
    assert_eq!(
        retry_after(limiter.try_acquire(&"alice", 1).unwrap_err()),
        ms(100)
    );
}

#[test]
fn remaining_counts_down_and_refills() {
    let (clock, limiter) = limiter(3, 16);
    assert_eq!(
        limiter.remaining(&"k"),
        3,
        "an unknown key has a full burst"
    );
    limiter.try_acquire(&"k", 1).unwrap();
    assert_eq!(limiter.remaining(&"k"), 2);
    limiter.try_acquire(&"k", 2).unwrap();
    assert_eq!(limiter.remaining(&"k"), 0);
    clock.advance(ms(100) - ns(1));
    assert_eq!(limiter.remaining(&"k"), 0, "a token is whole or not there");
    clock.advance(ns(1));
    assert_eq!(limiter.remaining(&"k"), 1);
    clock.advance(ms(250));
    assert_eq!(limiter.remaining(&"k"), 3);
    clock.advance(ms(1000));
    assert_eq!(limiter.remaining(&"k"), 3, "never above the burst");
    // A denial takes nothing.
    limiter.try_acquire(&"k", 3).unwrap();
    assert!(limiter.try_acquire(&"k", 1).is_err());
    clock.advance(ms(100));
    assert_eq!(limiter.remaining(&"k"), 1);
}

#[test]
fn the_cap_on_keys_holds_exactly() {
    let (_clock, limiter) = limiter(1, 3);
    for key in 0..3 {
        limiter.try_acquire(&key, 1).unwrap();
    }
    assert_eq!(limiter.len(), 3);
    for key in 3..100 {
        assert_eq!(
            limiter.try_acquire(&key, 1),
            Err(KeyedError::TooManyKeys { max_keys: 3 })
        );
        assert_eq!(limiter.len(), 3);
    }
    // A tracked key is not a new key: it is still served by its bucket.
    assert!(matches!(
        limiter.try_acquire(&0, 1),
        Err(KeyedError::Denied(TryAcquireError::NotUntil(_)))
    ));
    let stats = limiter.stats();
    assert_eq!(stats.keys, 3);
    assert_eq!(stats.refused_keys, 97);
    assert_eq!(stats.admitted, 3);
    assert_eq!(stats.rejected, 1);
}

#[test]
fn max_keys_one_tracks_exactly_one_key() {
    let (_clock, limiter) = limiter(1, 1);
    assert!(limiter.try_acquire(&"a", 1).is_ok());
    assert!(matches!(
        limiter.try_acquire(&"b", 1),
        Err(KeyedError::TooManyKeys { max_keys: 1 })
    ));
    assert_eq!(limiter.len(), 1);
}

#[test]
fn too_many_keys_only_when_every_tracked_key_owes_tokens() {
    let (clock, limiter) = limiter(2, 2);
    limiter.try_acquire(&"a", 2).unwrap(); // owes 200 ms
    limiter.try_acquire(&"b", 1).unwrap(); // owes 100 ms
    assert_eq!(
        limiter.try_acquire(&"c", 1),
        Err(KeyedError::TooManyKeys { max_keys: 2 })
    );
    // One nanosecond short of b's bucket being full: b still owes.
    clock.advance(ms(100) - ns(1));
    assert_eq!(
        limiter.try_acquire(&"c", 1),
        Err(KeyedError::TooManyKeys { max_keys: 2 })
    );
    // b is full again: it is exactly like a key never seen and makes room.
    clock.advance(ns(1));
    assert!(limiter.try_acquire(&"c", 1).is_ok());
    assert_eq!(limiter.len(), 2);
    assert_eq!(limiter.stats().evicted, 1);
    assert_eq!(limiter.stats().refused_keys, 2);
    // a still owes (1 of 2 tokens back) and kept its state.
    assert_eq!(limiter.remaining(&"a"), 1);
}

/// Eviction must never forget a key that still owes tokens: it would come
/// back with a fresh burst.
#[test]
fn a_key_that_owes_tokens_is_never_evicted() {
    let (clock, limiter) = limiter::<String>(5, 2);
    let key = |s: &str| s.to_owned();
    limiter.try_acquire(&key("busy"), 5).unwrap(); // full again at 500 ms
    limiter.try_acquire(&key("idle"), 1).unwrap(); // full again at 100 ms
    clock.advance(ms(200));
    assert_eq!(limiter.remaining(&key("busy")), 2);

    // "new" takes idle's place; after that, every tracked key owes tokens.
    limiter.try_acquire(&key("new"), 1).unwrap();
    for i in 0..200 {
        assert!(matches!(
            limiter.try_acquire(&format!("flood-{i}"), 1),
            Err(KeyedError::TooManyKeys { .. })
        ));
    }
    assert_eq!(limiter.evict_idle(), 0);
    assert_eq!(
        limiter.remaining(&key("busy")),
        2,
        "busy was reset to a full burst"
    );
    limiter.try_acquire(&key("busy"), 2).unwrap();
    assert_eq!(
        retry_after(limiter.try_acquire(&key("busy"), 1).unwrap_err()),
        ms(100)
    );
}

/// The boundary: a bucket owing one nanosecond is one token short, and stays
/// tracked; forgetting it would hand that token back early.
#[test]
fn a_key_owing_one_nanosecond_is_kept() {
    let (clock, limiter) = limiter(3, 1);
    limiter.try_acquire(&"a", 1).unwrap();
    clock.advance(ms(100) - ns(1));
    assert_eq!(limiter.remaining(&"a"), 2);
    assert!(matches!(
        limiter.try_acquire(&"b", 1),
        Err(KeyedError::TooManyKeys { max_keys: 1 })
    ));
    assert_eq!(limiter.evict_idle(), 0);
    assert_eq!(limiter.remaining(&"a"), 2);
    // Three tokens at once are one nanosecond away, not available.
    assert_eq!(
        retry_after(limiter.try_acquire(&"a", 3).unwrap_err()),
        ns(1)
    );
}

#[test]
fn evict_idle_forgets_exactly_the_full_buckets() {
    let (clock, limiter) = limiter(2, 100);
    limiter.try_acquire(&1, 1).unwrap(); // full at 100 ms
    limiter.try_acquire(&2, 2).unwrap(); // full at 200 ms
    limiter.try_acquire(&3, 1).unwrap(); // full at 100 ms
    assert_eq!(limiter.evict_idle(), 0);
    assert_eq!(limiter.len(), 3);

    clock.advance(ms(100));
    assert_eq!(limiter.evict_idle(), 2);
    assert_eq!(limiter.len(), 1);
    assert_eq!(limiter.stats().evicted, 2);
    assert_eq!(limiter.evict_idle(), 0, "nothing left to evict");
    assert_eq!(limiter.remaining(&2), 1, "key 2 kept its state");

    clock.advance(ms(100));
    assert_eq!(limiter.evict_idle(), 1);
    assert!(limiter.is_empty());
    assert_eq!(limiter.stats().evicted, 3);
    assert_eq!(limiter.stats().keys, 0);
}

#[test]
fn idle_keys_are_evicted_when_room_is_needed() {
    let (clock, limiter) = limiter(1, 4);
    for key in 0..4 {
        limiter.try_acquire(&key, 1).unwrap();
    }
    clock.advance(ms(100));
    // All four are idle: four new keys take their places, none refused.
    for key in 4..8 {
        limiter.try_acquire(&key, 1).unwrap();
        assert!(limiter.len() <= 4);
    }
    let stats = limiter.stats();
    assert_eq!(stats.keys, 4);
    assert_eq!(stats.evicted, 4);
    assert_eq!(stats.refused_keys, 0);
    for key in 4..8 {
        assert_eq!(limiter.remaining(&key), 0, "key {key} is tracked");
    }
}

#[test]
fn stats_count_every_outcome() {
    let (clock, limiter) = limiter(2, 2);
    limiter.try_acquire(&"a", 2).unwrap(); // admitted
    limiter.try_acquire(&"b", 1).unwrap(); // admitted
    limiter.try_acquire(&"a", 1).unwrap_err(); // rejected
    limiter.try_acquire(&"b", 2).unwrap_err(); // rejected
    limiter.try_acquire(&"c", 1).unwrap_err(); // refused key
    limiter.try_acquire(&"b", 3).unwrap_err(); // rejected: above the burst
    clock.advance(ms(200));
    assert_eq!(limiter.evict_idle(), 2); // evicted
    limiter.try_acquire(&"c", 1).unwrap(); // admitted

    let stats = limiter.stats();
    assert_eq!(stats.admitted, 3);
    assert_eq!(stats.rejected, 3);
    assert_eq!(stats.refused_keys, 1);
    assert_eq!(stats.evicted, 2);
    assert_eq!(stats.keys, 1);
    assert_eq!(stats.keys, limiter.len());
}

#[test]
fn more_than_the_burst_is_insufficient_capacity() {
    let (_clock, limiter) = limiter(3, 1);
    for n in [4, 100, u32::MAX] {
        assert_eq!(
            limiter.try_acquire(&"a", n),
            Err(KeyedError::Denied(TryAcquireError::InsufficientCapacity {
                requested: n,
                burst: 3,
            }))
        );
    }
    // Refused before tracking: the key takes no place and its bucket is
    // untouched.
    assert!(limiter.is_empty());
    assert!(limiter.try_acquire(&"b", 3).is_ok());
    assert_eq!(limiter.stats().rejected, 3);
}

#[test]
fn displays_are_lowercase() {
    let (_clock, limiter) = limiter(1, 1);
    limiter.try_acquire(&"a", 1).unwrap();
    for err in [
        limiter.try_acquire(&"a", 1).unwrap_err(),
        limiter.try_acquire(&"b", 1).unwrap_err(),
        limiter.try_acquire(&"a", 2).unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(msg.starts_with(|c: char| !c.is_uppercase()), "{msg}");
        assert!(!msg.ends_with('.'), "{msg}");
    }
}

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

#[test]
fn acquire_sleeps_until_the_key_admits_and_no_longer() {
    let (clock, limiter) = limiter(2, 16);
    clock.block_on(async {
        limiter.acquire(&"k", 2, &clock).await.unwrap();
        assert_eq!(clock.elapsed(), ms(0), "the burst is there: no sleep");
        limiter.acquire(&"k", 1, &clock).await.unwrap();
        assert_eq!(clock.elapsed(), ms(100));
        limiter.acquire(&"k", 2, &clock).await.unwrap();
        assert_eq!(clock.elapsed(), ms(300));
        limiter.acquire(&"other", 2, &clock).await.unwrap();
        assert_eq!(clock.elapsed(), ms(300), "another key has its own bucket");
    });
    let stats = limiter.stats();
    assert_eq!((stats.admitted, stats.rejected, stats.waited), (4, 0, 2));
}

#[test]
fn acquire_fails_at_once_when_no_wait_can_help() {
    let (clock, limiter) = limiter(2, 1);
    clock.block_on(async {
        assert!(matches!(
            limiter.acquire(&"k", 3, &clock).await,
            Err(KeyedError::Denied(TryAcquireError::InsufficientCapacity {
                requested: 3,
                burst: 2
            }))
        ));
        limiter.acquire(&"k", 1, &clock).await.unwrap();
        assert_eq!(
            limiter.acquire(&"new", 1, &clock).await,
            Err(KeyedError::TooManyKeys { max_keys: 1 })
        );
    });
    assert_eq!(clock.elapsed(), ms(0));
    assert_eq!(limiter.stats().waited, 0);
}

/// Dropped while it sleeps, it took nothing and leaves nothing behind.
#[test]
fn a_dropped_acquire_takes_nothing() {
    let (clock, limiter) = limiter(1, 16);
    limiter.try_acquire(&"k", 1).unwrap();
    {
        let mut waiting = std::pin::pin!(limiter.acquire(&"k", 1, &clock));
        assert!(common::poll_once(waiting.as_mut()).is_pending());
        assert_eq!(clock.pending_sleeps(), 1);
    }
    assert_eq!(clock.pending_sleeps(), 0, "its sleep went with it");
    clock.advance(ms(100));
    assert_eq!(limiter.remaining(&"k"), 1);
    assert!(limiter.try_acquire(&"k", 1).is_ok());
    let stats = limiter.stats();
    assert_eq!((stats.admitted, stats.rejected, stats.waited), (2, 0, 1));
}

/// Waiters on one key are not queued, but each token goes to exactly one:
/// three waiters on an empty bucket finish one interval apart.
#[test]
fn waiters_on_one_key_share_its_tokens_one_interval_apart() {
    let (clock, limiter) = limiter(1, 16);
    limiter.try_acquire(&"k", 1).unwrap();
    let done = std::cell::RefCell::new(Vec::new());
    let waiter = |i: u32| {
        let (limiter, clock, done) = (&limiter, &clock, &done);
        async move {
            limiter.acquire(&"k", 1, clock).await.unwrap();
            done.borrow_mut().push((i, clock.elapsed()));
        }
    };
    clock.block_on(futures_lite::future::zip(
        waiter(0),
        futures_lite::future::zip(waiter(1), waiter(2)),
    ));
    let mut times: Vec<_> = done.borrow().iter().map(|&(_, t)| t).collect();
    times.sort();
    assert_eq!(times, [ms(100), ms(200), ms(300)]);
    assert_eq!(limiter.stats().waited, 3);
}

/// Threads racing to insert distinct keys never push the limiter past its
/// cap, and its count of keys matches what it actually tracks.
#[test]
fn the_cap_holds_under_concurrent_inserts() {
    const THREADS: usize = 4;
    const KEYS_PER_THREAD: usize = if cfg!(miri) { 20 } else { 200 };
    const MAX_KEYS: usize = 8;

    let clock = ManualClock::new();
    // Burst 1: every admitted key owes tokens until the clock moves.
    let limiter = Arc::new(
        KeyedTokenBucket::with_clock(Quota::per_second(1).unwrap(), MAX_KEYS, clock.clone())
            .unwrap(),
    );

    let race = |round: usize| {
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let limiter = Arc::clone(&limiter);
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    let mut admitted = 0;
                    for i in 0..KEYS_PER_THREAD {
                        match limiter.try_acquire(&(round, t, i), 1) {
                            Ok(()) => admitted += 1,
                            Err(KeyedError::TooManyKeys { max_keys }) => {
                                assert_eq!(max_keys, MAX_KEYS)
                            }
                            Err(e) => panic!("a new key was denied: {e:?}"),
                        }
                        assert!(limiter.len() <= MAX_KEYS);
                    }
                    admitted
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum::<usize>()
    };
    let busy_keys = |round: usize| {
        (0..THREADS)
            .flat_map(|t| (0..KEYS_PER_THREAD).map(move |i| (round, t, i)))
            .filter(|k| limiter.remaining(k) == 0)
            .count()
    };

    // Round 0: time stands still, nothing is idle: exactly the cap.
    let first = race(0);
    assert_eq!(first, MAX_KEYS);
    assert_eq!(limiter.len(), MAX_KEYS);
    assert_eq!(busy_keys(0), MAX_KEYS);
    let stats = limiter.stats();
    assert_eq!(stats.keys, limiter.len());
    assert_eq!(stats.admitted, MAX_KEYS as u64);
    assert_eq!(
        stats.refused_keys,
        (THREADS * KEYS_PER_THREAD - MAX_KEYS) as u64
    );

    // Round 1: every round-0 key is idle; the racers evict them as they go.
    clock.advance(ms(1000));
    let second = race(1);
    assert!((1..=MAX_KEYS).contains(&second), "admitted {second}");
    assert!(limiter.len() <= MAX_KEYS);
    assert_eq!(limiter.stats().keys, limiter.len());
    // Keys admitted in round 1 owe tokens: all still tracked.
    assert_eq!(busy_keys(1), second);
    // Every key inserted is tracked or was evicted: the count is exact.
    let stats = limiter.stats();
    assert_eq!(stats.evicted as usize + stats.keys, first + second);
    limiter.evict_idle();
    assert_eq!(limiter.len(), second);
    assert_eq!(limiter.stats().keys, second);
}
