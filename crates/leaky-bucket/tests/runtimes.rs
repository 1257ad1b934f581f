//! The runtime matrix: the same checks on tokio, on smol and on plain
//! threads. Every test is deterministic: tokio runs on paused time, and the
//! other executors either run on a `ManualClock` advanced by a driver task
//! or thread, or use real sleepers whose deadlines are at most a nanosecond
//! away (so nothing really waits and nothing is timed).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{StreamExt, stream};
use sluicegate_leaky_bucket::LeakyBucket;
use sluicegate_rt::{ManualClock, Sleeper};

const N: usize = 8;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The evenly spaced grid the releases must land on: 0, 10, 20 ... ms.
fn grid(n: usize) -> Vec<Duration> {
    (0..n as u64).map(|k| ms(10 * k)).collect()
}

/// A bucket on virtual time, one slot every 10 ms.
fn manual_bucket(clock: &ManualClock) -> LeakyBucket<ManualClock, ManualClock> {
    LeakyBucket::every(ms(10))
        .capacity(N)
        .timer(clock.clone())
        .build()
        .unwrap()
}

/// Release instants recorded by the callers, in any order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Duration>>>, Arc<AtomicUsize>);

impl Log {
    fn push(&self, at: Duration) {
        self.0.lock().unwrap().push(at);
        self.1.fetch_add(1, Ordering::SeqCst);
    }

    fn count(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut v = self.0.lock().unwrap().clone();
        v.sort();
        v
    }
}

/// One caller: waits for its slot on `bucket`, logs the virtual time.
fn caller(
    bucket: &LeakyBucket<ManualClock, ManualClock>,
    clock: &ManualClock,
    log: &Log,
) -> impl Future<Output = ()> + Send + 'static {
    let (bucket, clock, log) = (bucket.clone(), clock.clone(), log.clone());
    async move {
        bucket.acquire().await.unwrap();
        log.push(clock.elapsed());
    }
}

/// Moves the clock from deadline to deadline until `n` callers are logged.
/// Time moves only once every caller the bucket has released has logged its
/// release, so a caller descheduled between its release and its log line
/// cannot log a later time.
async fn drive(
    bucket: &LeakyBucket<ManualClock, ManualClock>,
    clock: &ManualClock,
    log: &Log,
    n: usize,
) {
    while log.count() < n {
        if !step(bucket, clock, log) {
            yield_now().await;
        }
    }
}

/// One driver step: false if there is nothing to do yet.
fn step(bucket: &LeakyBucket<ManualClock, ManualClock>, clock: &ManualClock, log: &Log) -> bool {
    (log.count() as u64) == bucket.stats().passed && clock.advance_to_next().is_some()
}

use futures_lite::future::yield_now;

/// With a real sleeper and slots a nanosecond apart, every deadline is
/// zero-length or already past: waits complete without real waiting.
async fn real_sleeper_past_deadlines<S: Sleeper>(sleeper: S) {
    let bucket = LeakyBucket::per_second(1_000_000_000)
        .capacity(4)
        .sleeper(sleeper)
        .build()
        .unwrap();
    for _ in 0..50 {
        bucket.acquire().await.unwrap();
    }
    let paced: Vec<u32> = bucket.pace(stream::iter(0..20)).collect().await;
    assert_eq!(paced, (0..20).collect::<Vec<_>>());
    let s = bucket.stats();
    assert_eq!((s.passed, s.spilled, s.cancelled, s.waiting), (70, 0, 0, 0));
}

mod tokio_rt {
    use super::*;
    use sluicegate_rt::{TokioClock, TokioSleeper};
    use tokio::time::Instant;

    fn paused() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    fn tokio_bucket(capacity: usize) -> LeakyBucket<TokioClock, TokioSleeper> {
        LeakyBucket::every(ms(10))
            .capacity(capacity)
            .clock(TokioClock)
            .sleeper(TokioSleeper)
            .build()
            .unwrap()
    }

    #[test]
    fn exact_spacing_on_paused_time() {
        paused().block_on(async {
            let start = Instant::now();
            let bucket = tokio_bucket(4);
            let mut at = Vec::new();
            for _ in 0..N {
                bucket.acquire().await.unwrap();
                at.push(start.elapsed());
            }
            assert_eq!(at, grid(N));
        });
    }

    #[test]
    fn spawned_callers_are_released_in_order_at_exact_slots() {
        paused().block_on(async {
            let start = Instant::now();
            let bucket = tokio_bucket(N);
            let log = Arc::new(Mutex::new(Vec::new()));
            let tasks: Vec<_> = (0..N)
                .map(|i| {
                    let (bucket, log) = (bucket.clone(), Arc::clone(&log));
                    tokio::spawn(async move {
                        bucket.acquire().await.unwrap();
                        log.lock().unwrap().push((i, start.elapsed()));
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let log = log.lock().unwrap().clone();
            let expected: Vec<_> = (0..N).zip(grid(N)).collect();
            assert_eq!(log, expected);
        });
    }

    #[test]
    fn a_timed_out_waiter_gives_its_slot_to_the_next() {
        paused().block_on(async {
            let start = Instant::now();
            let bucket = tokio_bucket(4);
            bucket.acquire().await.unwrap(); // slot 0
            // Waits for slot 10, gives up at 5 ms.
            let gave_up = tokio::time::timeout(ms(5), bucket.acquire()).await;
            assert!(gave_up.is_err());
            bucket.acquire().await.unwrap();
            assert_eq!(start.elapsed(), ms(10), "slot 10 was not wasted");
            assert_eq!(bucket.stats().cancelled, 1);
        });
    }

    #[test]
    fn a_paced_stream_on_paused_time() {
        paused().block_on(async {
            let start = Instant::now();
            let bucket = tokio_bucket(4);
            let at: Vec<_> = bucket
                .pace(stream::iter(0..N))
                .map(|i| (i, start.elapsed()))
                .collect()
                .await;
            let expected: Vec<_> = (0..N).zip(grid(N)).collect();
            assert_eq!(at, expected);
        });
    }

    #[test]
    fn real_sleeper() {
        paused().block_on(real_sleeper_past_deadlines(TokioSleeper));
    }

    #[test]
    fn manual_clock_across_worker_threads() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let clock = ManualClock::new();
            let bucket = manual_bucket(&clock);
            let log = Log::default();
            let tasks: Vec<_> = (0..N)
                .map(|_| tokio::spawn(caller(&bucket, &clock, &log)))
                .collect();
            drive(&bucket, &clock, &log, N).await;
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(log.sorted(), grid(N));
            assert_eq!(bucket.stats().passed, N as u64);
        });
    }
}

mod smol_rt {
    use super::*;
    use sluicegate_rt::SmolSleeper;

    #[test]
    fn real_sleeper() {
        smol::block_on(real_sleeper_past_deadlines(SmolSleeper));
    }

    #[test]
    fn manual_clock_across_executor_threads() {
        let ex = Arc::new(smol::Executor::new());
        let ex2 = Arc::clone(&ex);
        // Two threads run the executor, so callers and the driver may run on
        // different threads.
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let helper = std::thread::spawn(move || smol::block_on(ex2.run(stopped.recv())));
        smol::block_on(ex.run(async {
            let clock = ManualClock::new();
            let bucket = manual_bucket(&clock);
            let log = Log::default();
            let tasks: Vec<_> = (0..N)
                .map(|_| ex.spawn(caller(&bucket, &clock, &log)))
                .collect();
            drive(&bucket, &clock, &log, N).await;
            for t in tasks {
                t.await;
            }
            assert_eq!(log.sorted(), grid(N));
        }));
        stop.send_blocking(()).unwrap();
        helper.join().unwrap().unwrap();
    }

    #[test]
    fn a_paced_stream_on_manual_clock() {
        smol::block_on(async {
            let clock = ManualClock::new();
            let bucket = manual_bucket(&clock);
            let log = Log::default();
            let paced = {
                let (clock, log) = (clock.clone(), log.clone());
                smol::spawn(bucket.pace(stream::iter(0..N)).for_each(move |_| {
                    log.push(clock.elapsed());
                    std::future::ready(())
                }))
            };
            drive(&bucket, &clock, &log, N).await;
            paced.await;
            assert_eq!(log.sorted(), grid(N));
        });
    }
}

mod threads_rt {
    use super::*;
    use sluicegate_rt::{FuturesTimerSleeper, ThreadSleeper};

    #[test]
    fn real_sleepers_without_any_runtime() {
        sluicegate_rt::block_on(real_sleeper_past_deadlines(ThreadSleeper));
        sluicegate_rt::block_on(real_sleeper_past_deadlines(FuturesTimerSleeper));
    }

    #[test]
    fn manual_clock_across_threads() {
        let clock = ManualClock::new();
        let bucket = manual_bucket(&clock);
        let log = Log::default();
        // Each caller parks its own thread in `block_on`: only wakers (ours
        // and the clock's) bring it back.
        let threads: Vec<_> = (0..N)
            .map(|_| {
                let fut = caller(&bucket, &clock, &log);
                std::thread::spawn(move || sluicegate_rt::block_on(fut))
            })
            .collect();
        while log.count() < N {
            if !step(&bucket, &clock, &log) {
                std::thread::yield_now();
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(log.sorted(), grid(N));
        let s = bucket.stats();
        assert_eq!(
            (s.passed, s.waiting, s.max_waiting <= N),
            (N as u64, 0, true)
        );
    }
}
