//! The runtime matrix: one suite, run on tokio and on smol (and, for the
//! blocking-thread adapters, on plain threads). Every test is deterministic:
//! tokio runs on paused time, and the other executors either wait zero-length
//! real sleeps or run on a `ManualClock` advanced by a driver task.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sluicegate_retry::{Jitter, Policy, RetryError};
use sluicegate_rt::{ManualClock, Sleeper};

/// An operation failing transiently `failures` times, shareable across
/// threads, counting its calls.
#[derive(Clone)]
struct Flaky {
    calls: Arc<AtomicU32>,
    failures: u32,
}

impl Flaky {
    fn new(failures: u32) -> Self {
        Self {
            calls: Arc::new(AtomicU32::new(0)),
            failures,
        }
    }

    fn op(&self) -> impl FnMut() -> std::future::Ready<Result<u32, String>> + Send + 'static {
        let this = self.clone();
        move || {
            let n = this.calls.fetch_add(1, Ordering::SeqCst) + 1;
            std::future::ready(if n <= this.failures {
                Err(format!("transient {n}"))
            } else {
                Ok(n)
            })
        }
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Retries with the executor's own sleeper, zero delays: succeeds on the 4th
/// attempt. Real timers are the point here (each runtime's adapter is under
/// test); every wait is zero-length, so nothing waits in real time.
async fn real_sleeper_zero_delays(sleeper: impl Sleeper) {
    let flaky = Flaky::new(3);
    let policy = Policy::constant(Duration::ZERO)
        .max_attempts(5)
        .build()
        .unwrap();
    let report = policy.retry(flaky.op()).sleep(sleeper).report().await;
    assert_eq!(report.result.unwrap(), 4);
    assert_eq!(report.attempts, 4);
}

/// The retry runs as a spawned task on a ManualClock while another task moves
/// the clock: wakers cross tasks (and threads, on multi-threaded executors).
/// Returns the virtual time the retry took.
async fn manual_clock_across_tasks<S, J>(spawn: S) -> Duration
where
    S: Fn(
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, RetryError<String>>> + Send>>,
    ) -> J,
    J: std::future::Future<Output = Result<u32, RetryError<String>>>,
{
    let clock = ManualClock::new();
    let flaky = Flaky::new(4);
    let policy = Policy::exponential(ms(100))
        .max_attempts(6)
        .jitter(Jitter::Equal)
        .seed(11)
        .build()
        .unwrap();
    let expected: Duration = policy.backoff().take(4).sum();
    let retry = Box::pin(
        policy
            .retry(flaky.op())
            .sleep(clock.clone())
            .clock(clock.clone())
            .into_future(),
    );
    let handle = spawn(retry);
    // Drive: whenever the retry waits, move time to its deadline.
    let calls = Arc::clone(&flaky.calls);
    let driver = async {
        while calls.load(Ordering::SeqCst) < 5 {
            if clock.advance_to_next().is_none() {
                yield_now().await;
            }
        }
    };
    let (result, ()) = join(handle, driver).await;
    assert_eq!(result.unwrap(), 5);
    assert_eq!(clock.elapsed(), expected);
    clock.elapsed()
}

use std::future::IntoFuture;

/// Real timers are the point here too (the adapter's sleep must be dropped
/// when cancelled): the hour-long wait never elapses; the test ends when the
/// other task's signal arrives, driven by that event, not by time.
async fn cancel_from_another_task(
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    sleeper: impl Sleeper,
) {
    let flaky = Flaky::new(u32::MAX);
    let policy = Policy::constant(Duration::from_secs(3600))
        .unlimited_attempts()
        .build()
        .unwrap();
    let err = policy
        .retry(flaky.op())
        .sleep(sleeper)
        .cancel_on(signal)
        .await
        .unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.attempts(), 1);
    assert_eq!(err.into_last_error(), "transient 1");
}

use futures_lite::future::{yield_now, zip as join};

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
    fn exact_delays_on_tokio_paused_time() {
        paused().block_on(async {
            let start = tokio::time::Instant::now();
            let flaky = Flaky::new(3);
            let policy = Policy::exponential(ms(100))
                .max_attempts(4)
                .build()
                .unwrap();
            let out = policy
                .retry(flaky.op())
                // Paused runtime: tokio's virtual time, no real waiting.
                .sleep(TokioSleeper)
                .clock(TokioClock)
                .await;
            assert_eq!(out.unwrap(), 4);
            assert_eq!(start.elapsed(), ms(100 + 200 + 400));
        });
    }

    #[test]
    fn tokio_sleep_fn_and_deadline_on_tokio_clock() {
        paused().block_on(async {
            let flaky = Flaky::new(u32::MAX);
            let policy = Policy::constant(ms(300))
                .unlimited_attempts()
                .max_elapsed(ms(1000))
                .build()
                .unwrap();
            let err = policy
                .retry(flaky.op())
                // Paused runtime: tokio's virtual time, no real waiting.
                .sleep(tokio::time::sleep)
                .clock(TokioClock)
                .await
                .unwrap_err();
            assert!(err.is_deadline_exceeded());
            assert_eq!(err.attempts(), 4); // at 0, 300, 600, 900 ms
        });
    }

    #[test]
    fn real_sleeper() {
        // Real time is the point: this executor's own timer adapter is under
        // test. Every wait is zero-length, so nothing waits in real time.
        paused().block_on(real_sleeper_zero_delays(TokioSleeper));
    }

    #[test]
    fn spawned_on_multi_thread_with_manual_clock() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(manual_clock_across_tasks(|f| async {
            tokio::spawn(f).await.unwrap()
        }));
    }

    #[test]
    fn cancelled_by_another_task() {
        paused().block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            // Real sleeper on purpose; the test ends on the signal, not on time.
            let task = tokio::spawn(cancel_from_another_task(
                async { drop(rx.await) },
                TokioSleeper,
            ));
            tokio::task::yield_now().await;
            tx.send(()).unwrap();
            task.await.unwrap();
        });
    }
}

mod smol_rt {
    use super::*;
    use sluicegate_rt::SmolSleeper;

    #[test]
    fn real_sleeper() {
        // Real time is the point: this executor's own timer adapter is under
        // test. Every wait is zero-length, so nothing waits in real time.
        smol::block_on(real_sleeper_zero_delays(SmolSleeper));
    }

    #[test]
    fn spawned_on_executor_with_manual_clock() {
        let ex = Arc::new(smol::Executor::new());
        let ex2 = Arc::clone(&ex);
        // Two threads run the executor, so the retry and the driver may run
        // on different threads.
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let helper = std::thread::spawn(move || smol::block_on(ex2.run(stopped.recv())));
        smol::block_on(ex.run(manual_clock_across_tasks(|f| ex.spawn(f))));
        stop.send_blocking(()).unwrap();
        helper.join().unwrap().unwrap();
    }

    #[test]
    fn cancelled_by_another_task() {
        smol::block_on(async {
            let (tx, rx) = smol::channel::bounded::<()>(1);
            // Real sleeper on purpose; the test ends on the signal, not on time.
            let task = smol::spawn(cancel_from_another_task(
                async move {
                    let _ = rx.recv().await;
                },
                SmolSleeper,
            ));
            tx.send(()).await.unwrap();
            task.await;
        });
    }
}

mod threads_rt {
    use super::*;
    use sluicegate_rt::{FuturesTimerSleeper, ThreadSleeper};

    #[test]
    fn real_sleepers_without_any_runtime() {
        // Real time is the point: this executor's own timer adapter is under
        // test. Every wait is zero-length, so nothing waits in real time.
        sluicegate_rt::block_on(real_sleeper_zero_delays(ThreadSleeper));
        sluicegate_rt::block_on(real_sleeper_zero_delays(FuturesTimerSleeper));
    }

    #[test]
    fn manual_clock_across_threads() {
        sluicegate_rt::block_on(manual_clock_across_tasks(|f| async {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || tx.send(sluicegate_rt::block_on(f)).unwrap());
            // Poll for the result without blocking the driver.
            loop {
                if let Ok(v) = rx.try_recv() {
                    break v;
                }
                yield_now().await;
            }
        }));
    }
}
