//! The runtime matrix: the same FIFO schedule on tokio (paused time, and
//! multi-threaded on a `ManualClock`), smol and plain threads, the keyed
//! limiter's waiters on each, plus the try path under contention.
//!
//! No test waits in real time. Time moves only when tokio's paused clock
//! auto-advances (the tokio timers: `TokioSleeper`, `tokio::time::sleep`)
//! or when the test advances a `ManualClock` to a deadline that a waiter
//! registered. The real smol and thread sleepers appear only behind
//! buckets that always have tokens, to show that they type-check and are
//! never asked to sleep (those tests assert `waited == 0`).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use common::ms;
use sluicegate_rt::ManualClock;
use sluicegate_token_bucket::{KeyedTokenBucket, Quota, TokenBucket};

/// Waiters per test.
const N: usize = 6;
/// The emission interval: 10 per second.
const INTERVAL: Duration = Duration::from_millis(100);
const BURST: u32 = 2;

fn quota() -> Quota {
    Quota::per_second(10).unwrap().with_burst(BURST).unwrap()
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

use futures_lite::future::yield_now;

/// `N` waiters, spawned with `spawn` one after the other on an empty bucket
/// built on a `ManualClock`: each is released exactly one interval after the
/// previous one, in arrival order. The test plays the clock: whenever the
/// head waiter sleeps (and the previous one has reported), it advances time
/// to that sleep's deadline.
async fn fifo_on_manual_clock(spawn: impl Fn(BoxFuture)) {
    let clock = ManualClock::new();
    let bucket = TokenBucket::builder(quota())
        .clock(clock.clone())
        .sleeper(clock.clone())
        .build();
    bucket.try_acquire(BURST).unwrap();
    let done = Arc::new(Mutex::new(Vec::new()));
    let finished = || done.lock().unwrap().len();

    for i in 0..N {
        let (bucket_i, done, clock) = (bucket.clone(), Arc::clone(&done), clock.clone());
        spawn(Box::pin(async move {
            bucket_i.acquire(1).await.unwrap();
            done.lock().unwrap().push((i, clock.elapsed()));
        }));
        // Arrival order is spawn order: let waiter i queue up first.
        while bucket.stats().waiting < i + 1 {
            yield_now().await;
        }
    }
    assert_eq!(finished(), 0, "a waiter finished before time moved");

    for k in 0..N {
        while !(finished() == k && clock.pending_sleeps() > 0) {
            assert!(finished() <= k, "a waiter was released early");
            yield_now().await;
        }
        // Only the head sleeps; the others wait unbooked.
        assert_eq!(clock.pending_sleeps(), 1);
        assert_eq!(
            clock.next_deadline().unwrap() - clock.now(),
            INTERVAL,
            "waiter {k} sleeps longer than one interval"
        );
        clock.advance_to_next();
    }
    while finished() < N {
        yield_now().await;
    }

    let expected: Vec<_> = (0..N).map(|i| (i, INTERVAL * (i as u32 + 1))).collect();
    assert_eq!(*done.lock().unwrap(), expected);
    let stats = bucket.stats();
    assert_eq!(stats.waited, N as u64);
    assert_eq!(stats.admitted, 1 + N as u64);
    assert_eq!(stats.waiting, 0);
    assert_eq!(stats.tokens, 0);
}

/// `threads` × `tries` `try_acquire(1)` calls racing on one bucket whose
/// clock does not move: exactly the burst is admitted, never more.
fn contended_try_acquire(threads: usize, tries: usize, burst: u32) {
    let clock = ManualClock::new();
    let bucket = TokenBucket::builder(Quota::per_second(1).unwrap().with_burst(burst).unwrap())
        .clock(clock.clone())
        .build();
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (bucket, barrier) = (bucket.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                (0..tries).filter(|_| bucket.try_acquire(1).is_ok()).count()
            })
        })
        .collect();
    let admitted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(admitted, burst as usize);
    let stats = bucket.stats();
    assert_eq!(stats.admitted, u64::from(burst));
    assert_eq!(stats.rejected, (threads * tries) as u64 - u64::from(burst));
    assert_eq!(stats.tokens, 0);
    assert_eq!(clock.elapsed(), Duration::ZERO);
}

/// `N` tasks, spawned with `spawn`, each `acquire` one token of the same
/// key of an empty keyed limiter on a `ManualClock`. They are not queued:
/// each sleeps until the key could admit it. The test plays the clock:
/// whenever every unfinished waiter sleeps, it advances to their deadline,
/// and exactly one of them gets the token; they finish one interval apart.
async fn keyed_waiters_on_manual_clock(spawn: impl Fn(BoxFuture)) {
    let clock = ManualClock::new();
    let limiter = Arc::new(KeyedTokenBucket::with_clock(quota(), 16, clock.clone()).unwrap());
    limiter.try_acquire(&"k", BURST).unwrap();
    let done = Arc::new(Mutex::new(Vec::new()));
    let finished = || done.lock().unwrap().len();
    for _ in 0..N {
        let (limiter, done, clock) = (Arc::clone(&limiter), Arc::clone(&done), clock.clone());
        spawn(Box::pin(async move {
            limiter.acquire(&"k", 1, &clock).await.unwrap();
            done.lock().unwrap().push(clock.elapsed());
        }));
    }
    for k in 0..N {
        while !(finished() == k && clock.pending_sleeps() == N - k) {
            // Fail, not hang, if one step of the clock let two through.
            assert!(finished() <= k, "two waiters got one token");
            yield_now().await;
        }
        clock.advance_to_next();
    }
    while finished() < N {
        yield_now().await;
    }
    let mut times = done.lock().unwrap().clone();
    times.sort();
    let expected: Vec<_> = (1..=N as u32).map(|i| INTERVAL * i).collect();
    assert_eq!(times, expected);
    let stats = limiter.stats();
    assert_eq!((stats.admitted, stats.waited), (N as u64 + 1, N as u64));
    assert_eq!((stats.served_after_wait, stats.waiting), (N as u64, 0));
}

mod tokio_rt {
    use super::*;
    use sluicegate_rt::{TokioClock, TokioSleeper};

    fn paused() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn spawned_waiters_are_released_one_interval_apart_in_arrival_order() {
        paused().block_on(async {
            let bucket = TokenBucket::builder(quota())
                .clock(TokioClock)
                .sleeper(TokioSleeper)
                .build();
            bucket.try_acquire(BURST).unwrap();
            let start = tokio::time::Instant::now();
            let done = Arc::new(Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for i in 0..N {
                let (bucket_i, done) = (bucket.clone(), Arc::clone(&done));
                tasks.push(tokio::spawn(async move {
                    bucket_i.acquire(1).await.unwrap();
                    done.lock().unwrap().push((i, tokio::time::Instant::now()));
                }));
                while bucket.stats().waiting < i + 1 {
                    tokio::task::yield_now().await;
                }
            }
            for task in tasks {
                task.await.unwrap();
            }
            let expected: Vec<_> = (0..N)
                .map(|i| (i, start + INTERVAL * (i as u32 + 1)))
                .collect();
            assert_eq!(*done.lock().unwrap(), expected);
            assert_eq!(bucket.stats().waited, N as u64);
        });
    }

    #[test]
    fn a_waiter_cancelled_by_timeout_gives_its_booking_back() {
        paused().block_on(async {
            let bucket = TokenBucket::builder(quota())
                .clock(TokioClock)
                .sleeper(TokioSleeper)
                .build();
            bucket.try_acquire(BURST).unwrap();
            let start = tokio::time::Instant::now();
            // Books the token due at 100 ms, then gives up at 50 ms.
            let timed_out = tokio::time::timeout(ms(50), bucket.acquire(1)).await;
            assert!(timed_out.is_err());
            assert_eq!(bucket.stats().refunded, 1);
            // The next waiter gets that same token, at 100 ms, not 200 ms.
            bucket.acquire(1).await.unwrap();
            assert_eq!(start.elapsed(), INTERVAL);
        });
    }

    #[test]
    fn keyed_acquire_on_paused_time() {
        paused().block_on(async {
            let limiter = KeyedTokenBucket::with_clock(quota(), 16, TokioClock).unwrap();
            let start = tokio::time::Instant::now();
            for _ in 0..BURST + 3 {
                limiter.acquire(&"k", 1, &TokioSleeper).await.unwrap();
            }
            assert_eq!(start.elapsed(), INTERVAL * 3);
            // `tokio::time::sleep` itself is a sleeper too (on paused time:
            // it auto-advances, no real wait).
            limiter.acquire(&"k", 1, &tokio::time::sleep).await.unwrap();
            assert_eq!(start.elapsed(), INTERVAL * 4);
            assert_eq!(limiter.stats().waited, 4);
        });
    }

    #[test]
    fn keyed_waiters_on_multi_thread_with_manual_clock() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(keyed_waiters_on_manual_clock(|f| {
            tokio::spawn(f);
        }));
    }

    #[test]
    fn fifo_on_multi_thread_with_manual_clock() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(fifo_on_manual_clock(|f| {
            tokio::spawn(f);
        }));
    }

    #[test]
    fn contended_try_acquire_on_worker_threads() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let clock = ManualClock::new();
        let bucket = TokenBucket::builder(quota()).clock(clock.clone()).build();
        let admitted = rt.block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let bucket = bucket.clone();
                    tokio::spawn(async move {
                        let mut ok = 0;
                        for _ in 0..100 {
                            ok += usize::from(bucket.try_acquire(1).is_ok());
                            tokio::task::yield_now().await;
                        }
                        ok
                    })
                })
                .collect();
            let mut admitted = 0;
            for task in tasks {
                admitted += task.await.unwrap();
            }
            admitted
        });
        assert_eq!(admitted, BURST as usize);
    }
}

mod smol_rt {
    use super::*;
    use sluicegate_rt::{SmolSleeper, SystemClock};

    /// Runs `test` on a smol executor that two threads run (waiters and the
    /// test may run on either), handing it the executor's spawn.
    fn on_two_threads<F: Future<Output = ()>>(test: impl FnOnce(Box<dyn Fn(BoxFuture)>) -> F) {
        let ex = Arc::new(smol::Executor::new());
        let ex2 = Arc::clone(&ex);
        let spawner = Arc::clone(&ex);
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let helper = std::thread::spawn(move || smol::block_on(ex2.run(stopped.recv())));
        smol::block_on(ex.run(test(Box::new(move |f| spawner.spawn(f).detach()))));
        stop.send_blocking(()).unwrap();
        helper.join().unwrap().unwrap();
    }

    #[test]
    fn fifo_on_executor_with_manual_clock() {
        on_two_threads(fifo_on_manual_clock);
    }

    #[test]
    fn keyed_waiters_on_executor_with_manual_clock() {
        on_two_threads(keyed_waiters_on_manual_clock);
    }

    #[test]
    fn real_sleeper_is_not_used_while_tokens_are_there() {
        // The smol adapters type-check with the system clock; a full
        // bucket admits without sleeping.
        let bucket = TokenBucket::builder(Quota::per_hour(10).unwrap())
            .clock(SystemClock)
            .sleeper(SmolSleeper)
            .build();
        smol::block_on(async {
            for _ in 0..10 {
                bucket.acquire(1).await.unwrap();
            }
        });
        assert_eq!(bucket.stats().waited, 0);
    }
}

mod threads_rt {
    use super::*;
    use sluicegate_rt::ThreadSleeper;

    #[test]
    fn fifo_on_std_threads_with_manual_clock() {
        sluicegate_rt::block_on(fifo_on_manual_clock(|f| {
            std::thread::spawn(move || sluicegate_rt::block_on(f));
        }));
    }

    #[test]
    fn keyed_waiters_on_std_threads_with_manual_clock() {
        sluicegate_rt::block_on(keyed_waiters_on_manual_clock(|f| {
            std::thread::spawn(move || sluicegate_rt::block_on(f));
        }));
    }

    #[test]
    fn try_acquire_under_contention_never_over_grants() {
        const ROUNDS: usize = if cfg!(miri) { 1 } else { 20 };
        for _ in 0..ROUNDS {
            contended_try_acquire(8, 500, 1000);
            contended_try_acquire(4, 50, 1);
            contended_try_acquire(3, 1, 3);
        }
    }

    #[test]
    fn thread_sleeper_is_not_used_while_tokens_are_there() {
        let bucket = TokenBucket::builder(Quota::per_hour(10).unwrap())
            .sleeper(ThreadSleeper)
            .build();
        sluicegate_rt::block_on(async {
            for _ in 0..10 {
                bucket.acquire(1).await.unwrap();
            }
        });
        assert_eq!(bucket.stats().waited, 0);
    }
}
