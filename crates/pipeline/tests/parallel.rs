//! The bounded parallel step in virtual time, on a single-threaded
//! executor whose spawner the step uses: input order kept under random
//! completion delays (proptest), completion order really is completion
//! order, at most K in flight, panics fail only their item.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use sluicegate_pipeline::{CancelToken, Order, Pipeline, PipelineError, Summary};
use sluicegate_rt::ManualClock;
use support::{LocalPool, ms};

#[derive(Debug, PartialEq, Eq)]
struct Boom(u64);

/// Runs `delays.len()` items through `parallel(k, order)`; item `i` takes
/// `delays[i]` ms of virtual time. Returns the output order, the summary,
/// the most tasks ever running at once, and when each result came out.
fn run(k: usize, order: Order, delays: &[u64]) -> (Vec<u64>, Summary, usize, Vec<Duration>) {
    let clock = ManualClock::new();
    let pool = LocalPool::new();
    let delays = Arc::new(delays.to_vec());
    let running = Arc::new(AtomicUsize::new(0));
    let max_running = Arc::new(AtomicUsize::new(0));
    let out = Arc::new(Mutex::new(Vec::new()));
    let times = Arc::new(Mutex::new(Vec::new()));
    let n = delays.len() as u64;
    let task = {
        let clock = clock.clone();
        let delays = Arc::clone(&delays);
        let running = Arc::clone(&running);
        let max_running = Arc::clone(&max_running);
        move |i: u64| {
            let clock = clock.clone();
            let delay = delays[i as usize];
            let running = Arc::clone(&running);
            let max_running = Arc::clone(&max_running);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                max_running.fetch_max(now, Ordering::SeqCst);
                clock.sleep(ms(delay)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i
            }
        }
    };
    let sink = {
        let out = Arc::clone(&out);
        let times = Arc::clone(&times);
        let clock = clock.clone();
        move |i: u64| {
            out.lock().unwrap().push(i);
            times.lock().unwrap().push(clock.elapsed());
            async {}
        }
    };
    let runnable = Pipeline::<_, Boom>::source(futures_lite::stream::iter(0..n))
        .parallel(k, order, pool.spawner(), task)
        .sink(sink)
        .unwrap();
    let summary = pool.block_on(&clock, runnable.run(CancelToken::new()));
    assert_eq!(pool.spawned(), if n == 0 { 0 } else { k });
    let out = out.lock().unwrap().clone();
    let times = times.lock().unwrap().clone();
    (out, summary, max_running.load(Ordering::SeqCst), times)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn input_order_is_kept_whatever_the_delays(
        k in 1usize..8,
        delays in proptest::collection::vec(0u64..20, 0..40),
    ) {
        let (out, s, max_running, _) = run(k, Order::Input, &delays);
        prop_assert_eq!(out, (0..delays.len() as u64).collect::<Vec<_>>());
        prop_assert!(max_running <= k);
        prop_assert_eq!(s.delivered, delays.len() as u64);
        prop_assert!(s.is_balanced());
    }

    #[test]
    fn completion_order_loses_nothing_and_bounds_concurrency(
        k in 1usize..8,
        delays in proptest::collection::vec(0u64..20, 0..40),
    ) {
        let (out, s, max_running, _) = run(k, Order::Completion, &delays);
        let mut sorted = out.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..delays.len() as u64).collect::<Vec<_>>());
        prop_assert!(max_running <= k);
        prop_assert!(s.is_balanced());
    }
}

#[test]
fn completion_order_is_the_order_items_finish_in() {
    // Three at once: done at 30, 10, 20 ms -> out as 1, 2, 0.
    let (out, _, max_running, times) = run(3, Order::Completion, &[30, 10, 20]);
    assert_eq!(out, [1, 2, 0]);
    assert_eq!(times, [ms(10), ms(20), ms(30)]);
    assert_eq!(max_running, 3);
    // In input order the same items wait for the slow first one.
    let (out, _, _, times) = run(3, Order::Input, &[30, 10, 20]);
    assert_eq!(out, [0, 1, 2]);
    assert_eq!(times, [ms(30), ms(30), ms(30)]);
}

#[test]
fn a_slot_frees_as_soon_as_its_item_is_done() {
    // k = 2, completion order: 0 (10 ms) and 1 (50 ms) start at once; 2
    // (5 ms) starts when 0 finishes at 10 and is out at 15, before 1.
    let (out, _, max_running, times) = run(2, Order::Completion, &[10, 50, 5]);
    assert_eq!(out, [0, 2, 1]);
    assert_eq!(times, [ms(10), ms(15), ms(50)]);
    assert_eq!(max_running, 2);
    // Input order: the window of k holds 2 back behind 1.
    let (out, _, _, times) = run(2, Order::Input, &[10, 50, 5]);
    assert_eq!(out, [0, 1, 2]);
    assert_eq!(times, [ms(10), ms(50), ms(50)]);
}

#[test]
fn a_panicking_task_fails_its_item_and_nothing_hangs() {
    for order in [Order::Input, Order::Completion] {
        let clock = ManualClock::new();
        let pool = LocalPool::new();
        let got = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&got);
        let runnable = Pipeline::<_, Boom>::source(futures_lite::stream::iter(0..6u64))
            .parallel(2, order, pool.spawner(), |x| async move {
                assert!(x != 2, "task for 2 blew up");
                x
            })
            .sink(move |x| {
                log.lock().unwrap().push(x);
                async {}
            })
            .unwrap();
        let errors = runnable.errors();
        let s = pool.block_on(&clock, runnable.run(CancelToken::new()));
        let mut got = got.lock().unwrap().clone();
        if order == Order::Completion {
            got.sort_unstable();
        }
        assert_eq!(got, [0, 1, 3, 4, 5]);
        assert_eq!((s.delivered, s.failed), (5, 1));
        match &errors.drain()[..] {
            [PipelineError::Panicked { stage, message, .. }] => {
                assert_eq!(stage.name.as_ref(), "parallel");
                assert!(message.contains("blew up"));
            }
            other => panic!("{other:?}"),
        }
        assert!(s.is_balanced());
    }
}

#[test]
fn try_parallel_sends_errors_to_the_error_stream() {
    let clock = ManualClock::new();
    let pool = LocalPool::new();
    let runnable = Pipeline::source(futures_lite::stream::iter(0..10u64))
        .try_parallel(3, Order::Input, pool.spawner(), |x| async move {
            if x % 4 == 0 { Err(Boom(x)) } else { Ok(x * 2) }
        })
        .sink(|_x: u64| async {})
        .unwrap();
    let errors = runnable.errors();
    let s = pool.block_on(&clock, runnable.run(CancelToken::new()));
    let failed: Vec<u64> = errors
        .drain()
        .into_iter()
        .filter_map(|e| e.into_error().map(|Boom(x)| x))
        .collect();
    assert_eq!(failed, [0, 4, 8]);
    assert_eq!((s.delivered, s.failed), (7, 3));
    assert_eq!(s.stages[1].errors, 3);
    assert!(s.is_balanced());
}

#[test]
fn workers_dropped_by_the_executor_fail_their_items_instead_of_hanging() {
    // A spawner that drops every task unpolled (an executor shutting down).
    let dropping = |f: sluicegate_rt::BoxFuture| drop(f);
    let runnable = Pipeline::<_, Boom>::source(futures_lite::stream::iter(0..5u64))
        .parallel(2, Order::Input, dropping, |x| async move { x })
        .sink(|_x| async {})
        .unwrap();
    let errors = runnable.errors();
    let s = sluicegate_rt::block_on(runnable.run(CancelToken::new()));
    assert_eq!((s.delivered, s.failed), (0, 5));
    assert!(
        errors
            .drain()
            .iter()
            .all(|e| matches!(e, PipelineError::Panicked { .. }))
    );
    assert!(s.is_balanced());
}

#[test]
fn an_abort_discards_the_items_in_flight() {
    let clock = ManualClock::new();
    let pool = LocalPool::new();
    let token = CancelToken::new();
    let task_clock = clock.clone();
    let runnable = Pipeline::<_, Boom>::source(futures_lite::stream::iter(0..100u64))
        .parallel(4, Order::Input, pool.spawner(), move |x| {
            let clock = task_clock.clone();
            async move {
                clock.sleep(ms(10)).await;
                x
            }
        })
        .sink(|_x| async {})
        .unwrap();
    let stopper = {
        let token = token.clone();
        let clock = clock.clone();
        async move {
            clock.sleep(ms(25)).await;
            token.abort();
        }
    };
    let (s, ()) = pool.block_on(
        &clock,
        futures_lite::future::zip(runnable.run(token), stopper),
    );
    assert_eq!(s.delivered, 8); // two rounds of four
    assert_eq!(s.discarded, 4); // the third round, in flight
    assert_eq!(s.produced, 12);
    assert!(s.is_balanced());
}

#[test]
fn an_abort_stops_the_tasks_it_counts_as_discarded() {
    // Items counted as discarded must not go on running in the worker
    // tasks after the run reported them discarded.
    let clock = ManualClock::new();
    let pool = LocalPool::new();
    let token = CancelToken::new();
    let finished = Arc::new(AtomicUsize::new(0));
    let task = {
        let clock = clock.clone();
        let finished = Arc::clone(&finished);
        move |x: u64| {
            let clock = clock.clone();
            let finished = Arc::clone(&finished);
            async move {
                clock.sleep(ms(10)).await;
                finished.fetch_add(1, Ordering::SeqCst);
                x
            }
        }
    };
    let runnable = Pipeline::<_, Boom>::source(futures_lite::stream::iter(0..100u64))
        .parallel(4, Order::Completion, pool.spawner(), task)
        .sink(|_x| async {})
        .unwrap();
    let stopper = {
        let token = token.clone();
        let clock = clock.clone();
        async move {
            clock.sleep(ms(25)).await;
            token.abort();
        }
    };
    let after = clock.clone();
    let (s, ()) = pool.block_on(
        &clock,
        futures_lite::future::zip(
            async move {
                let s = runnable.run(token).await;
                // Let the worker tasks run on well past the abort.
                after.sleep(ms(100)).await;
                s
            },
            stopper,
        ),
    );
    assert_eq!((s.delivered, s.discarded), (8, 4));
    assert!(s.is_balanced());
    assert_eq!(
        finished.load(Ordering::SeqCst),
        8,
        "a discarded item ran on"
    );
}

#[test]
fn a_worker_dropped_mid_item_while_others_live_fails_its_item_instead_of_hanging() {
    let clock = ManualClock::new();
    let pool = LocalPool::new();
    let inner = pool.spawner();
    let first = Arc::new(AtomicUsize::new(0));
    // The executor drops the first worker at 5 ms, in the middle of its
    // item; the other worker lives on.
    let spawner = {
        let clock = clock.clone();
        move |task: sluicegate_rt::BoxFuture| {
            if first.fetch_add(1, Ordering::SeqCst) == 0 {
                let clock = clock.clone();
                inner(Box::pin(futures_lite::future::or(task, async move {
                    clock.sleep(ms(5)).await;
                })));
            } else {
                inner(task);
            }
        }
    };
    let task_clock = clock.clone();
    let out = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&out);
    let runnable = Pipeline::<_, Boom>::source(futures_lite::stream::iter(0..6u64))
        .parallel(2, Order::Input, spawner, move |x| {
            let clock = task_clock.clone();
            async move {
                clock.sleep(ms(10)).await;
                x
            }
        })
        .sink(move |x| {
            log.lock().unwrap().push(x);
            async {}
        })
        .unwrap();
    let errors = runnable.errors();
    let s = pool.block_on(&clock, runnable.run(CancelToken::new()));
    assert_eq!((s.delivered, s.failed), (5, 1), "{s}");
    assert!(s.is_balanced());
    assert_eq!(*out.lock().unwrap(), [1, 2, 3, 4, 5]);
    let errors = errors.drain();
    assert_eq!(errors.len(), 1);
    assert!(matches!(
        &errors[0],
        PipelineError::Panicked { items: 1, .. }
    ));
}
