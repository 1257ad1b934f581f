//! `KeyedTokenBucket`: independent keys, exact metadata, and bounded memory
//! (the cap on keys holds, idle keys go, keys that owe tokens stay).

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use common::{limiter, ms, ns, retry_after};
use sluicegate_rt::ManualClock;
use sluicegate_token_bucket::{KeyedError, KeyedTokenBucket, Quota, TryAcquireError};

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
