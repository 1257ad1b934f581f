//! The runtime matrix: each executor adapter, behind its feature, on its own
//! runtime; and `ManualClock` driven from inside real executors.
//!
//! Run all of it with `cargo test -p sluicegate-rt --all-features`.
//!
//! Deterministic throughout: tokio runs with paused time and the assertions
//! are on exact virtual durations; real-time timers (smol, threads,
//! futures-timer) are only asked to complete zero-length, past or very short
//! sleeps, never to take a given time; spawned tasks report back through
//! channels.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Polls `fut` once with a waker that does nothing.
#[allow(dead_code)] // unused when no adapter feature is on
fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls `fut` once with the caller's task context (for futures that must be
/// polled from inside their runtime).
#[allow(dead_code)]
async fn poll_once_here<F: Future>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

#[cfg(feature = "tokio")]
mod tokio {
    use std::pin::pin;
    use std::time::Duration;

    use sluicegate_rt::{
        Clock, ManualClock, Sleeper, Spawner, TokioClock, TokioSleeper, TokioSpawner,
    };

    use super::poll_once_here;

    fn paused_runtime() -> ::tokio::runtime::Runtime {
        ::tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn clock_reads_tokio_time() {
        paused_runtime().block_on(async {
            let start = TokioClock.now();
            assert_eq!(start, ::tokio::time::Instant::now().into_std());
            // Only tokio's clock can jump a week while paused.
            ::tokio::time::advance(Duration::from_secs(7 * 86_400)).await;
            assert_eq!(TokioClock.now() - start, Duration::from_secs(7 * 86_400));
        });
    }

    #[test]
    fn sleep_takes_exactly_its_duration_in_virtual_time() {
        paused_runtime().block_on(async {
            let start = TokioClock.now();
            TokioSleeper.sleep(Duration::from_millis(1_500)).await;
            assert_eq!(TokioClock.now() - start, Duration::from_millis(1_500));
            TokioSleeper.sleep(Duration::from_secs(3_600)).await;
            assert_eq!(TokioClock.now() - start, Duration::from_millis(3_601_500));
        });
    }

    #[test]
    fn sleep_until_wakes_exactly_at_the_deadline() {
        paused_runtime().block_on(async {
            let start = TokioClock.now();
            TokioSleeper
                .sleep_until(start + Duration::from_secs(2))
                .await;
            assert_eq!(TokioClock.now() - start, Duration::from_secs(2));
            // A deadline that has passed completes without moving time.
            TokioSleeper.sleep_until(start).await;
            assert_eq!(TokioClock.now() - start, Duration::from_secs(2));
        });
    }

    #[test]
    fn zero_sleep_completes_without_moving_time() {
        paused_runtime().block_on(async {
            let start = TokioClock.now();
            TokioSleeper.sleep(Duration::ZERO).await;
            assert_eq!(TokioClock.now(), start);
        });
    }

    #[test]
    fn sleeps_finish_in_deadline_order() {
        paused_runtime().block_on(async {
            let start = TokioClock.now();
            let (tx, mut rx) = ::tokio::sync::mpsc::unbounded_channel();
            for ms in [30u64, 10, 20] {
                let tx = tx.clone();
                ::tokio::spawn(async move {
                    TokioSleeper.sleep(Duration::from_millis(ms)).await;
                    tx.send((ms, TokioClock.now() - start)).unwrap();
                });
            }
            drop(tx);
            let mut seen = Vec::new();
            while let Some(done) = rx.recv().await {
                seen.push(done);
            }
            let ms = Duration::from_millis;
            assert_eq!(seen, [(10, ms(10)), (20, ms(20)), (30, ms(30))]);
        });
    }

    #[test]
    fn duration_max_sleeps_are_harmless() {
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut sleep = pin!(TokioSleeper.sleep(Duration::MAX));
            assert!(poll_once_here(sleep.as_mut()).await.is_pending());

            // The latest instant a ManualClock can reach.
            let end = ManualClock::new();
            end.advance(Duration::MAX);
            let mut sleep = pin!(TokioSleeper.sleep_until(end.now()));
            assert!(poll_once_here(sleep.as_mut()).await.is_pending());
        });
    }

    #[test]
    fn spawner_new_spawns_onto_the_ambient_runtime() {
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            for spawner in [TokioSpawner::new(), TokioSpawner::default()] {
                let (tx, rx) = ::tokio::sync::oneshot::channel();
                spawner.spawn(async move { tx.send(42).unwrap() });
                assert_eq!(rx.await.unwrap(), 42);
            }
        });
    }

    #[test]
    fn spawner_with_handle_spawns_from_outside_the_runtime() {
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let spawner = TokioSpawner::with_handle(rt.handle().clone());
        let (tx, rx) = ::tokio::sync::oneshot::channel();
        // From a plain thread that has no runtime of its own.
        std::thread::spawn(move || spawner.spawn(async move { tx.send(7).unwrap() }))
            .join()
            .unwrap();
        assert_eq!(rt.block_on(rx).unwrap(), 7);
    }

    #[test]
    fn spawned_tasks_sleep_in_virtual_time() {
        paused_runtime().block_on(async {
            let start = TokioClock.now();
            let (tx, rx) = ::tokio::sync::oneshot::channel();
            TokioSpawner::new().spawn(async move {
                TokioSleeper.sleep(Duration::from_secs(90)).await;
                tx.send(TokioClock.now() - start).unwrap();
            });
            assert_eq!(rx.await.unwrap(), Duration::from_secs(90));
        });
    }
}

#[cfg(feature = "smol")]
mod smol {
    use std::pin::pin;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use sluicegate_rt::{Sleeper, SmolSleeper, SmolSpawner, Spawner};

    use super::poll_once;

    #[test]
    fn zero_sleep_completes() {
        ::smol::block_on(SmolSleeper.sleep(Duration::ZERO));
        // async-io timers need no particular executor.
        sluicegate_rt::block_on(SmolSleeper.sleep(Duration::ZERO));
    }

    #[test]
    fn sleep_until_the_past_completes() {
        let now = Instant::now();
        let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        ::smol::block_on(SmolSleeper.sleep_until(past));
        sluicegate_rt::block_on(SmolSleeper.sleep_until(now));
    }

    #[test]
    fn duration_max_sleep_is_harmless() {
        let mut sleep = pin!(SmolSleeper.sleep(Duration::MAX));
        assert!(poll_once(sleep.as_mut()).is_pending());
    }

    #[test]
    fn spawner_new_spawns_onto_the_global_executor() {
        for spawner in [SmolSpawner::new(), SmolSpawner::default()] {
            let (tx, rx) = ::smol::channel::bounded(1);
            spawner.spawn(async move { tx.send(42).await.unwrap() });
            assert_eq!(::smol::block_on(rx.recv()).unwrap(), 42);
        }
    }

    #[test]
    fn spawner_with_executor_spawns_onto_that_executor() {
        let executor = Arc::new(::smol::Executor::new());
        let spawner = SmolSpawner::with_executor(Arc::clone(&executor));
        let (tx, rx) = ::smol::channel::bounded(1);
        spawner.spawn(async move { tx.send(7).await.unwrap() });
        // Nobody runs `executor` yet, so the task cannot have run.
        assert!(rx.try_recv().is_err());
        assert_eq!(::smol::block_on(executor.run(rx.recv())).unwrap(), 7);
    }
}

#[cfg(feature = "threads")]
mod threads {
    use std::pin::pin;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use sluicegate_rt::{ManualClock, Sleeper, Spawner, ThreadSleeper, ThreadSpawner};

    use super::poll_once;

    #[test]
    fn spawner_runs_a_future_to_completion() {
        for spawner in [ThreadSpawner::new(), ThreadSpawner::default()] {
            let (tx, rx) = mpsc::channel();
            spawner.spawn(async move { tx.send(42).unwrap() });
            assert_eq!(rx.recv().unwrap(), 42);
        }
    }

    #[test]
    fn named_spawner_names_its_threads() {
        let (tx, rx) = mpsc::channel();
        ThreadSpawner::named("sluicegate-test-worker").spawn(async move {
            let name = std::thread::current().name().map(str::to_owned);
            tx.send(name).unwrap();
        });
        assert_eq!(
            rx.recv().unwrap().as_deref(),
            Some("sluicegate-test-worker")
        );
    }

    #[test]
    fn zero_and_past_sleeps_complete() {
        sluicegate_rt::block_on(ThreadSleeper.sleep(Duration::ZERO));
        let now = Instant::now();
        sluicegate_rt::block_on(ThreadSleeper.sleep_until(now));
        let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        sluicegate_rt::block_on(ThreadSleeper.sleep_until(past));
    }

    #[test]
    fn a_short_sleep_eventually_completes() {
        // Asserts completion only, never how long it took.
        sluicegate_rt::block_on(ThreadSleeper.sleep(Duration::from_millis(1)));
    }

    #[test]
    fn short_sleeps_complete_behind_a_duration_max_sleep() {
        // A far-future registration must not stop the shared timer thread
        // from firing earlier deadlines registered after it.
        let mut forever = pin!(ThreadSleeper.sleep(Duration::MAX));
        assert!(poll_once(forever.as_mut()).is_pending());
        sluicegate_rt::block_on(async {
            ThreadSleeper.sleep(Duration::from_millis(2)).await;
            ThreadSleeper.sleep(Duration::from_millis(1)).await;
        });
        assert!(poll_once(forever.as_mut()).is_pending());
    }

    #[test]
    fn many_concurrent_sleeps_all_complete() {
        let (tx, rx) = mpsc::channel();
        for i in 0..8u64 {
            let tx = tx.clone();
            ThreadSpawner::new().spawn(async move {
                ThreadSleeper.sleep(Duration::from_millis(i % 3)).await;
                tx.send(i).unwrap();
            });
        }
        drop(tx);
        let mut done: Vec<u64> = rx.iter().collect();
        done.sort_unstable();
        assert_eq!(done, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn duration_max_sleep_is_harmless() {
        let mut sleep = pin!(ThreadSleeper.sleep(Duration::MAX));
        assert!(poll_once(sleep.as_mut()).is_pending());
        // So is a deadline at the end of a ManualClock's time.
        let end = ManualClock::new();
        end.advance(Duration::MAX);
        let mut sleep = pin!(ThreadSleeper.sleep_until(end.now()));
        assert!(poll_once(sleep.as_mut()).is_pending());
    }

    #[test]
    fn spawned_task_waits_on_a_manual_clock() {
        let clock = ManualClock::new();
        let start = clock.now();
        let theirs = clock.clone();
        let (tx, rx) = mpsc::channel();
        ThreadSpawner::new().spawn(async move {
            theirs.sleep(Duration::from_secs(30)).await;
            tx.send(theirs.now()).unwrap();
        });
        while clock.pending_sleeps() == 0 {
            std::thread::yield_now();
        }
        clock.advance(Duration::from_secs(30));
        assert_eq!(rx.recv().unwrap(), start + Duration::from_secs(30));
    }
}

#[cfg(feature = "futures-timer")]
mod futures_timer {
    use std::pin::pin;
    use std::time::{Duration, Instant};

    use sluicegate_rt::{FuturesTimerSleeper, Sleeper};

    use super::poll_once;

    #[test]
    fn zero_sleep_completes() {
        sluicegate_rt::block_on(FuturesTimerSleeper.sleep(Duration::ZERO));
    }

    #[test]
    fn sleep_until_the_past_completes() {
        let now = Instant::now();
        let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        sluicegate_rt::block_on(FuturesTimerSleeper.sleep_until(past));
    }

    #[test]
    fn duration_max_sleep_is_harmless() {
        let mut sleep = pin!(FuturesTimerSleeper.sleep(Duration::MAX));
        assert!(poll_once(sleep.as_mut()).is_pending());
        drop(FuturesTimerSleeper.sleep(Duration::MAX));
    }
}

/// `ManualClock` needs no adapter feature: its wakers work under any
/// executor. A task on a real executor sleeps in virtual time; the test
/// thread waits until the sleep is registered, then advances.
mod manual_clock_on_executors {
    use std::sync::Arc;
    use std::time::Duration;

    use sluicegate_rt::ManualClock;

    fn advance_once_registered(clock: &ManualClock, dur: Duration) {
        while clock.pending_sleeps() == 0 {
            std::thread::yield_now();
        }
        assert_eq!(clock.pending_sleeps(), 1);
        clock.advance(dur);
    }

    #[test]
    fn on_a_tokio_multi_thread_runtime() {
        let rt = ::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let clock = ManualClock::new();
        let start = clock.now();
        let theirs = clock.clone();
        let task = rt.spawn(async move {
            theirs.sleep(Duration::from_secs(5)).await;
            theirs.now()
        });
        advance_once_registered(&clock, Duration::from_secs(5));
        assert_eq!(rt.block_on(task).unwrap(), start + Duration::from_secs(5));
        assert_eq!(clock.pending_sleeps(), 0);
    }

    #[test]
    fn on_a_tokio_multi_thread_runtime_through_several_sleeps() {
        let rt = ::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let clock = ManualClock::new();
        let start = clock.now();
        let theirs = clock.clone();
        let task = rt.spawn(async move {
            for _ in 0..3 {
                theirs.sleep(Duration::from_millis(100)).await;
            }
            theirs.now()
        });
        for _ in 0..3 {
            advance_once_registered(&clock, Duration::from_millis(100));
        }
        assert_eq!(
            rt.block_on(task).unwrap(),
            start + Duration::from_millis(300)
        );
    }

    #[test]
    fn on_a_smol_executor() {
        let executor = Arc::new(::smol::Executor::new());
        let (stop, stopped) = ::smol::channel::bounded::<()>(1);
        let runner = {
            let executor = Arc::clone(&executor);
            std::thread::spawn(move || ::smol::block_on(executor.run(stopped.recv())))
        };
        let clock = ManualClock::new();
        let start = clock.now();
        let theirs = clock.clone();
        let task = executor.spawn(async move {
            theirs.sleep(Duration::from_secs(5)).await;
            theirs.now()
        });
        advance_once_registered(&clock, Duration::from_secs(5));
        assert_eq!(::smol::block_on(task), start + Duration::from_secs(5));
        drop(stop);
        let _ = runner.join().unwrap();
        assert_eq!(clock.pending_sleeps(), 0);
    }

    #[test]
    fn on_the_smol_global_executor() {
        let clock = ManualClock::new();
        let start = clock.now();
        let theirs = clock.clone();
        let task = ::smol::spawn(async move {
            theirs.sleep(Duration::from_secs(5)).await;
            theirs.now()
        });
        advance_once_registered(&clock, Duration::from_secs(5));
        assert_eq!(::smol::block_on(task), start + Duration::from_secs(5));
    }
}
