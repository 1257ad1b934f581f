//! `KeyedTokenBucket::acquire`: waiting for a key's tokens on a sleeper
//! (here the limiter's `ManualClock`), its errors, its accounting
//! (`waited == served_after_wait + cancelled + waiting`) and cancellation.

mod common;

use std::time::Duration;

use common::{limiter, ms, must_return, poll_once, ten_per_second};
use sluicegate_token_bucket::{KeyedError, KeyedStats, TryAcquireError};

/// `(waited, served_after_wait, cancelled, waiting)`, after checking that
/// they add up.
fn waits(stats: KeyedStats) -> (u64, u64, u64, usize) {
    assert_eq!(
        stats.waited,
        stats.served_after_wait + stats.cancelled + stats.waiting as u64,
        "waited == served_after_wait + cancelled + waiting: {stats:?}"
    );
    (
        stats.waited,
        stats.served_after_wait,
        stats.cancelled,
        stats.waiting,
    )
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
    assert_eq!((stats.admitted, stats.rejected), (4, 0));
    assert_eq!(waits(stats), (2, 2, 0, 0));
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
    let stats = limiter.stats();
    assert_eq!(
        (
            stats.admitted,
            stats.rejected,
            stats.refused_keys,
            stats.waited
        ),
        (1, 1, 1, 0)
    );
}

/// Dropped while it sleeps, it took nothing and leaves nothing behind.
#[test]
fn a_dropped_acquire_takes_nothing() {
    let (clock, limiter) = limiter(1, 16);
    limiter.try_acquire(&"k", 1).unwrap();
    {
        let mut waiting = std::pin::pin!(limiter.acquire(&"k", 1, &clock));
        assert!(poll_once(waiting.as_mut()).is_pending());
        assert_eq!(clock.pending_sleeps(), 1);
        assert_eq!(waits(limiter.stats()), (1, 0, 0, 1));
    }
    assert_eq!(clock.pending_sleeps(), 0, "its sleep went with it");
    clock.advance(ms(100));
    assert_eq!(limiter.remaining(&"k"), 1);
    assert!(limiter.try_acquire(&"k", 1).is_ok());
    let stats = limiter.stats();
    assert_eq!((stats.admitted, stats.rejected), (2, 0));
    assert_eq!(waits(stats), (1, 0, 1, 0), "a dropped waiter is cancelled");
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
    assert_eq!(waits(limiter.stats()), (3, 3, 0, 0));
}

/// A `set_quota` made while a call sleeps is seen when it wakes: a burst
/// lowered below its request fails it then, counted as cancelled.
#[test]
fn a_burst_lowered_below_a_sleeping_request_fails_it_on_waking() {
    let (clock, limiter) = limiter(3, 16);
    limiter.try_acquire(&"k", 3).unwrap();
    let outcome = clock.block_on(async {
        let waiting = limiter.acquire(&"k", 3, &clock);
        let lower = async {
            clock.sleep(ms(10)).await;
            limiter.set_quota(ten_per_second(2));
        };
        futures_lite::future::zip(waiting, lower).await.0
    });
    assert_eq!(
        outcome,
        Err(KeyedError::Denied(TryAcquireError::InsufficientCapacity {
            requested: 3,
            burst: 2
        }))
    );
    assert_eq!(clock.elapsed(), ms(300), "it slept out the old wait");
    assert_eq!(waits(limiter.stats()), (1, 0, 1, 0));
}

/// A sleeper that does not wait (the limiter's clock stands still) makes
/// the call yield, not spin inside one poll.
#[test]
fn a_sleeper_that_does_not_wait_makes_it_yield_not_spin() {
    let polled = must_return("one poll of acquire", || {
        let (_clock, limiter) = limiter(1, 16);
        limiter.try_acquire(&"k", 1).unwrap();
        let never_waits = |_: Duration| std::future::ready(());
        let mut waiting = std::pin::pin!(limiter.acquire(&"k", 1, &never_waits));
        poll_once(waiting.as_mut()).is_pending()
    });
    assert!(polled);
}

#[test]
#[should_panic(expected = "polled after completion")]
fn polling_it_after_it_resolved_panics() {
    let (_clock, limiter) = limiter(1, 16);
    let never = |_: Duration| std::future::pending::<()>();
    let mut acquire = std::pin::pin!(limiter.acquire(&"k", 1, &never));
    assert!(poll_once(acquire.as_mut()).is_ready());
    let _ = poll_once(acquire.as_mut());
}
