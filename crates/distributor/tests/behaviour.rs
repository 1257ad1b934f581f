//! The pool's behaviour on plain threads, controlled step by step: valves
//! hold jobs, channels report them started, a `ManualClock` supplies every
//! deadline. No test sleeps or reads the wall clock.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use sluicegate_distributor::{CancelOn, JobError, SubmitError};
use sluicegate_rt::{ManualClock, block_on};
use support::*;

#[test]
fn submits_run_and_are_counted() {
    let clock = ManualClock::new();
    let (pool, spawner) = pool(3, 4, &clock);
    let ran = Arc::new(AtomicU32::new(0));
    block_on(async {
        for i in 0..100 {
            let ran = Arc::clone(&ran);
            pool.submit(async move {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            })
            .await
            .unwrap();
        }
    });
    let stopped = block_on(pool.shutdown());
    let s = stopped.stats;
    assert!(stopped.handed_back.is_empty());
    assert_eq!(ran.load(Ordering::SeqCst), 100);
    assert_eq!((s.submitted, s.completed, s.rejected), (100, 100, 0));
    assert_eq!((s.workers, s.running, s.queued, s.capacity), (0, 0, 0, 4));
    assert!(s.is_balanced());
    assert_eq!(spawner.spawned.load(Ordering::SeqCst), 3);
    wait_until("worker tasks gone", || spawner.live() == 0);
}

#[test]
fn try_submit_hands_the_job_back_when_full_or_closed() {
    let clock = ManualClock::new();
    let (pool, _sp) = pool(1, 1, &clock);
    let (tx, started) = events();
    let valve = Valve::default();
    pool.try_submit(held(1, &tx, &valve)).unwrap();
    assert_eq!(recv_n(&started, 1), [1]); // the worker holds job 1
    pool.try_submit(quick(2)).unwrap(); // fills the only slot
    let back = match pool.try_submit(quick(3)) {
        Err(SubmitError::Full(job)) => job,
        other => panic!("expected Full, got {other:?}"),
    };
    assert_eq!(run_back(vec![back]), [3]); // the job is intact
    let s = pool.stats();
    assert_eq!((s.running, s.queued, s.rejected), (1, 1, 1));
    assert!(s.full_events >= 1);
    valve.open(1);
    let stopped = block_on(pool.shutdown());
    assert_eq!(stopped.stats.completed, 2);
    let err = pool.try_submit(quick(4)).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(run_back(vec![err.into_inner()]), [4]);
    let err = block_on(pool.submit(quick(5))).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(pool.stats().rejected, 3);
    assert!(pool.stats().is_balanced());
}

#[test]
fn handles_resolve_to_each_outcome() {
    quiet_job_panics();
    let clock = ManualClock::new();
    let (pool, _sp) = pool(1, 8, &clock);
    block_on(async {
        let ok = pool.submit_with_handle(quick(7)).await.unwrap();
        let failed = pool
            .submit_with_handle(async { Err::<u32, _>("bad".to_owned()) })
            .await
            .unwrap();
        let panicked = pool
            .submit_with_handle(async { panic!("{BOOM}: handle") })
            .await
            .unwrap();
        assert_eq!(ok.await, Ok(7));
        assert_eq!(failed.await, Err(JobError::Failed("bad".to_owned())));
        match panicked.await {
            Err(JobError::Panicked(msg)) => assert_eq!(msg, format!("{BOOM}: handle")),
            other => panic!("{other:?}"),
        }
    });
    let s = block_on(pool.shutdown()).stats;
    assert_eq!((s.completed, s.failed, s.panicked), (1, 1, 1));
    assert!(s.is_balanced());
}

#[test]
fn a_panicking_job_is_isolated_and_its_worker_lives_on() {
    quiet_job_panics();
    let clock = ManualClock::new();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&messages);
    let spawner = Tracked::new(Joinable::default());
    let pool: Pool = sluicegate_distributor::builder(1, 16)
        .sleeper(clock.clone())
        .on_panic(move |msg| log.lock().unwrap().push(msg.to_owned()))
        .build(spawner.clone())
        .unwrap();
    block_on(async {
        for i in 0..3 {
            pool.submit(async move { panic!("{BOOM} #{i}") })
                .await
                .unwrap();
            for j in 0..5 {
                pool.submit(quick(j)).await.unwrap();
            }
        }
        // The single worker ran everything after each panic.
        let last = pool.submit_with_handle(quick(99)).await.unwrap();
        assert_eq!(last.await, Ok(99));
    });
    let s = pool.stats();
    assert_eq!((s.workers, s.panicked, s.completed), (1, 3, 16));
    assert_eq!(
        spawner.spawned.load(Ordering::SeqCst),
        1,
        "no worker respawned"
    );
    assert_eq!(
        *messages.lock().unwrap(),
        (0..3).map(|i| format!("{BOOM} #{i}")).collect::<Vec<_>>()
    );
    let s = block_on(pool.shutdown()).stats;
    assert!(s.is_balanced());
}

/// With `CancelOn::Panic`, the first panic cancels the running jobs and
/// stops the pool; the queued jobs are handed back by the next shutdown.
#[test]
fn cancel_on_first_panic_stops_the_pool() {
    quiet_job_panics();
    let clock = ManualClock::new();
    let spawner = Tracked::new(Joinable::default());
    let pool: Pool = sluicegate_distributor::builder(2, 16)
        .sleeper(clock.clone())
        .cancel_on(CancelOn::Panic)
        .build(spawner.clone())
        .unwrap();
    let (tx, started) = events();
    let (never, go) = (Valve::default(), Valve::default());
    let stuck = block_on(pool.submit_with_handle(held(1, &tx, &never))).unwrap();
    let tx2 = tx.clone();
    let go2 = go.clone();
    block_on(pool.submit(async move {
        let _ = tx2.send(2);
        go2.pass().await;
        panic!("{BOOM}: cancel");
    }))
    .unwrap();
    recv_n(&started, 2);
    let queued: Vec<_> = (10..15)
        .map(|i| block_on(pool.submit_with_handle(quick(i))).unwrap())
        .collect();
    go.open(1);
    wait_until("the pool cancels itself", || pool.is_closed());
    assert_eq!(block_on(stuck), Err(JobError::Cancelled));
    assert!(pool.try_submit(quick(20)).unwrap_err().is_closed());
    assert!(pool.resize(4).is_err());
    let stopped = block_on(pool.shutdown());
    assert_eq!(run_back(stopped.handed_back), [10, 11, 12, 13, 14]);
    for h in queued {
        assert_eq!(block_on(h), Err(JobError::NotRun));
    }
    let s = stopped.stats;
    assert_eq!(
        (
            s.submitted,
            s.panicked,
            s.cancelled,
            s.handed_back,
            s.completed
        ),
        (7, 1, 1, 5, 0)
    );
    assert!(s.is_balanced());
    wait_until("worker tasks gone", || spawner.live() == 0);
}

#[test]
fn cancel_on_error_only_when_asked() {
    for (policy, stops) in [(CancelOn::Panic, false), (CancelOn::PanicOrError, true)] {
        let clock = ManualClock::new();
        let pool: Pool = sluicegate_distributor::builder(1, 4)
            .sleeper(clock.clone())
            .cancel_on(policy)
            .on_error(|e: &String| assert_eq!(e, "nope"))
            .build(Joinable::default())
            .unwrap();
        let h = block_on(pool.submit_with_handle(async { Err("nope".to_owned()) })).unwrap();
        assert_eq!(block_on(h), Err(JobError::Failed("nope".to_owned())));
        if stops {
            wait_until("cancelled", || pool.is_closed());
        } else {
            assert_eq!(
                block_on(pool.submit_with_handle(quick(1)))
                    .map(block_on)
                    .unwrap(),
                Ok(1)
            );
            assert!(!pool.is_closed());
        }
        let s = block_on(pool.shutdown()).stats;
        assert_eq!(s.failed, 1);
        assert!(s.is_balanced());
    }
}

#[test]
fn abort_cancels_running_and_hands_back_queued() {
    let clock = ManualClock::new();
    let (pool, spawner) = pool(2, 8, &clock);
    let (tx, started) = events();
    let never = Valve::default();
    let running: Vec<_> = (0..2)
        .map(|i| block_on(pool.submit_with_handle(held(i, &tx, &never))).unwrap())
        .collect();
    recv_n(&started, 2);
    for i in 10..15 {
        block_on(pool.submit(quick(i))).unwrap();
    }
    let stopped = block_on(pool.abort());
    assert_eq!(run_back(stopped.handed_back), [10, 11, 12, 13, 14]);
    for h in running {
        assert_eq!(block_on(h), Err(JobError::Cancelled));
    }
    let s = stopped.stats;
    assert_eq!(
        (
            s.submitted,
            s.cancelled,
            s.handed_back,
            s.completed,
            s.workers
        ),
        (7, 2, 5, 0, 0)
    );
    assert!(s.is_balanced());
    assert_eq!(spawner.inner_join(), 2);
}

/// The deadline passes with two jobs running and six queued: exactly the
/// six come back, in order; the two are cancelled.
#[test]
fn shutdown_timeout_hands_back_exactly_the_still_queued_jobs() {
    let clock = ManualClock::new();
    let (pool, _sp) = pool(2, 10, &clock);
    let (tx, started) = events();
    let never = Valve::default();
    for i in 0..2 {
        block_on(pool.submit(held(i, &tx, &never))).unwrap();
    }
    recv_n(&started, 2);
    for i in 2..8 {
        block_on(pool.submit(quick(i))).unwrap();
    }
    let stopper = {
        let pool = pool.clone();
        thread::spawn(move || block_on(pool.shutdown_timeout(ms(500))))
    };
    wait_until("the deadline is armed", || clock.pending_sleeps() == 1);
    assert!(pool.try_submit(quick(99)).unwrap_err().is_closed());
    clock.advance(ms(500));
    let stopped = stopper.join().unwrap();
    assert_eq!(run_back(stopped.handed_back), [2, 3, 4, 5, 6, 7]);
    let s = stopped.stats;
    assert_eq!(
        (s.submitted, s.cancelled, s.handed_back, s.completed),
        (8, 2, 6, 0)
    );
    assert!(s.is_balanced());
}

/// The queue drains before the deadline: nothing is handed back, nothing
/// cancelled, and the timer is never needed.
#[test]
fn shutdown_timeout_in_time_runs_everything() {
    let clock = ManualClock::new();
    let (pool, _sp) = pool(2, 10, &clock);
    let (tx, started) = events();
    let valve = Valve::default();
    for i in 0..2 {
        block_on(pool.submit(held(i, &tx, &valve))).unwrap();
    }
    recv_n(&started, 2);
    for i in 2..8 {
        block_on(pool.submit(quick(i))).unwrap();
    }
    let stopper = {
        let pool = pool.clone();
        thread::spawn(move || block_on(pool.shutdown_timeout(ms(500))))
    };
    wait_until("the deadline is armed", || clock.pending_sleeps() == 1);
    valve.open(2);
    let stopped = stopper.join().unwrap();
    assert!(stopped.handed_back.is_empty());
    let s = stopped.stats;
    assert_eq!((s.submitted, s.completed, s.cancelled), (8, 8, 0));
    assert!(s.is_balanced());
}

#[test]
fn submit_timeout_hands_the_job_back_at_the_deadline() {
    let clock = ManualClock::new();
    let (pool, _sp) = pool(1, 1, &clock);
    let (tx, started) = events();
    let valve = Valve::default();
    block_on(pool.submit(held(1, &tx, &valve))).unwrap();
    recv_n(&started, 1);
    block_on(pool.submit(quick(2))).unwrap(); // the queue is full
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || block_on(pool.submit_timeout(quick(3), ms(10))))
    };
    wait_until("the submit waits", || clock.pending_sleeps() == 1);
    clock.advance(ms(9));
    assert_eq!(clock.pending_sleeps(), 1, "not yet due");
    clock.advance(ms(1));
    let err = waiter.join().unwrap().unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(run_back(vec![err.into_inner()]), [3]);

    // Room before the deadline: the job is taken.
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || block_on(pool.submit_timeout(quick(4), ms(10))))
    };
    wait_until("the submit waits", || clock.pending_sleeps() == 1);
    valve.open(1);
    waiter.join().unwrap().unwrap();
    let s = block_on(pool.shutdown()).stats;
    assert_eq!((s.submitted, s.completed, s.rejected), (3, 3, 1));
    assert!(s.is_balanced());
}

#[test]
fn resize_grows_at_once_and_shrinks_after_the_current_job() {
    let clock = ManualClock::new();
    let (pool, spawner) = pool(1, 16, &clock);
    assert_eq!(pool.workers(), 1);
    pool.resize(4).unwrap();
    assert_eq!((pool.workers(), pool.stats().workers), (4, 4));
    // Four jobs held at once prove four workers.
    let (tx, started) = events();
    let valve = Valve::default();
    for i in 0..4 {
        block_on(pool.submit(held(i, &tx, &valve))).unwrap();
    }
    let mut ids = recv_n(&started, 4);
    ids.sort_unstable();
    assert_eq!(ids, [0, 1, 2, 3]);
    // Shrink while all four run: none is interrupted.
    pool.resize(1).unwrap();
    assert_eq!(pool.stats().workers, 4);
    valve.open(4);
    wait_until("three workers retire", || pool.stats().workers == 1);
    wait_until("their tasks end", || spawner.live() == 1);
    wait_until("the last job is counted", || pool.stats().completed == 4);
    let s = pool.stats();
    assert_eq!((s.completed, s.cancelled), (4, 0));
    // The one left still works; grow again.
    assert_eq!(
        block_on(pool.submit_with_handle(quick(9)))
            .map(block_on)
            .unwrap(),
        Ok(9)
    );
    pool.resize(2).unwrap();
    assert_eq!(pool.stats().workers, 2);
    assert_eq!(spawner.spawned.load(Ordering::SeqCst), 1 + 3 + 1);
    let s = block_on(pool.shutdown()).stats;
    assert_eq!((s.completed, s.workers), (5, 0));
    assert!(s.is_balanced());
    assert_eq!(spawner.inner_join(), 5);
}

#[test]
fn dropping_the_last_handle_runs_the_queue_and_leaves_no_task() {
    let clock = ManualClock::new();
    let (pool, spawner) = pool(3, 64, &clock);
    let ran = Arc::new(AtomicU32::new(0));
    let (tx, started) = events();
    let valve = Valve::default();
    block_on(pool.submit(held(0, &tx, &valve))).unwrap();
    recv_n(&started, 1);
    for _ in 0..50 {
        let ran = Arc::clone(&ran);
        block_on(pool.submit(async move {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(0)
        }))
        .unwrap();
    }
    let clone = pool.clone();
    drop(pool);
    assert!(!clone.is_closed(), "a clone keeps the pool open");
    drop(clone);
    valve.open(1);
    // Every worker thread exits: joined, not guessed.
    assert_eq!(spawner.inner_join(), 3);
    assert_eq!(spawner.live(), 0);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        50,
        "the queue was run, not dropped"
    );
}

#[test]
fn a_spawner_that_drops_its_workers_leaves_an_empty_pool_without_spinning() {
    // A spawner may drop a future instead of running it (tokio does on a
    // runtime that is shutting down). Each dropped worker leaves at once;
    // the pool must not respawn it in a loop. The spawner panics past 100
    // calls, so a regression fails here instead of hanging.
    let calls = Arc::new(AtomicU32::new(0));
    let count = Arc::clone(&calls);
    let dropping = move |worker: sluicegate_rt::BoxFuture| {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(n <= 100, "the pool keeps respawning dropped workers");
        drop(worker);
    };
    let pool = sluicegate_distributor::builder::<u32, ()>(2, usize::MAX >> 8)
        .build(dropping)
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one spawn per worker");
    assert_eq!(pool.stats().workers, 0);
    pool.try_submit(async { Ok(1) }).unwrap();
    pool.try_submit(async { Ok(2) }).unwrap();
    // A resize tries again, once per missing worker.
    pool.resize(3).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    // No worker will ever run the jobs: shutdown returns at once and hands
    // them back.
    let stopped = block_on(pool.shutdown());
    assert_eq!(stopped.handed_back.len(), 2);
    let s = stopped.stats;
    assert_eq!((s.submitted, s.handed_back, s.workers), (2, 2, 0));
    assert!(s.is_balanced());
}
