//! The runtime matrix: the same pipelines on tokio, on smol and on plain
//! threads. Deterministic: timers are real only where they never fire
//! (an hour-long `max_wait`: batches close by size or at the end of the
//! input), or run on tokio's paused clock; cancellation is event-driven.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluicegate_pipeline::{Batch, CancelToken, Order, Outcome, Pipeline, Summary};
use sluicegate_rt::{Sleeper, Spawner};

const ITEMS: u64 = 5_000;
const NEVER: Duration = Duration::from_secs(3600);

/// generator -> map -> buffer -> parallel (4 tasks on `spawner`) ->
/// batch (64, or the end of the input) -> sink: every item, in order.
fn full_pipeline<Sp, Sl>(
    spawner: Sp,
    sleeper: Sl,
) -> impl Future<Output = (Summary, Vec<u64>)> + Send
where
    Sp: Spawner + Send + 'static,
    Sl: Sleeper + Send + 'static,
    Sl::Sleep: Send,
{
    let out = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&out);
    let run = Pipeline::<_, Infallible, _>::generator(8, |emitter| async move {
        for i in 0..ITEMS {
            if emitter.emit(i).await.is_err() {
                return;
            }
        }
    })
    .map(|x: u64| async move { x + 1 })
    .buffer(16)
    .parallel(4, Order::Input, spawner, |x: u64| async move { x * 2 })
    // A real sleeper is the point (each runtime's timer adapter under
    // load); its hour-long wait never fires: batches close by size or at
    // the end of the input, so nothing waits in real time.
    .batch(Batch::size(64).max_wait(NEVER), sleeper)
    .sink(move |b: Vec<u64>| {
        log.lock().unwrap().extend(b);
        async {}
    })
    .unwrap()
    .run(CancelToken::new());
    async move {
        let summary = run.await;
        let out = std::mem::take(&mut *out.lock().unwrap());
        (summary, out)
    }
}

fn check_full((s, out): (Summary, Vec<u64>)) {
    assert_eq!(out, (0..ITEMS).map(|x| (x + 1) * 2).collect::<Vec<_>>());
    assert_eq!(s.outcome, Outcome::Completed);
    assert_eq!((s.produced, s.delivered, s.discarded), (ITEMS, ITEMS, 0));
    assert!(s.is_balanced());
    assert_eq!(s.stages[3].stage.name.as_ref(), "batch");
    assert_eq!(s.stages[3].batches, ITEMS.div_ceil(64));
}

/// An endless source; the token is cancelled from elsewhere once the sink
/// has seen 1 000 items. The summary must still balance, with no discards.
fn cancelled_pipeline<Sp>(spawner: Sp, token: CancelToken) -> impl Future<Output = Summary> + Send
where
    Sp: Spawner + Send + 'static,
{
    let seen = Arc::new(Mutex::new(0u64));
    let cancel = token.clone();
    Pipeline::<_, Infallible>::source(futures_lite::stream::iter(0u64..))
        .buffer(8)
        .parallel(4, Order::Completion, spawner, |x: u64| async move { x })
        .sink(move |_x| {
            let mut n = seen.lock().unwrap();
            *n += 1;
            if *n == 1_000 {
                cancel.cancel();
            }
            async {}
        })
        .unwrap()
        .run(token)
}

fn check_cancelled(s: Summary) {
    assert_eq!(s.outcome, Outcome::Cancelled);
    assert!(s.delivered >= 1_000);
    assert_eq!(s.discarded, 0);
    assert_eq!(s.produced, s.delivered);
    assert!(s.is_balanced());
}

mod tokio_rt {
    use super::*;
    use sluicegate_rt::{TokioSleeper, TokioSpawner};

    fn multi() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn full_pipeline_on_a_multi_thread_runtime() {
        let rt = multi();
        let out = rt.block_on(async {
            // Real timer on purpose; its wait never fires (see `full_pipeline`).
            tokio::spawn(full_pipeline(TokioSpawner::new(), TokioSleeper))
                .await
                .unwrap()
        });
        check_full(out);
    }

    #[test]
    fn cancelled_from_the_sink_drains_and_balances() {
        let rt = multi();
        let s = rt.block_on(cancelled_pipeline(TokioSpawner::new(), CancelToken::new()));
        check_cancelled(s);
    }

    #[test]
    fn batch_timer_on_paused_tokio_time() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let start = tokio::time::Instant::now();
            let input = futures_lite::stream::unfold(0u64, |t| async move {
                if t > 7 {
                    // Paused runtime: tokio's virtual time, no real waiting.
                    tokio::time::sleep(Duration::from_millis(40)).await;
                    return None;
                }
                // Paused runtime: tokio's virtual time, no real waiting.
                tokio::time::sleep_until(start + Duration::from_millis(t)).await;
                Some((
                    t,
                    if t == 0 {
                        3
                    } else if t == 3 {
                        7
                    } else {
                        8
                    },
                ))
            });
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&seen);
            let s = Pipeline::<_, Infallible>::source(input)
                .batch(
                    Batch::size(100).max_wait(Duration::from_millis(10)),
                    // tokio's own timer is the point (the adapter under
                    // test); the runtime is paused, so it runs in virtual
                    // time and nothing waits in real time.
                    TokioSleeper,
                )
                .sink(move |b: Vec<u64>| {
                    log.lock().unwrap().push((start.elapsed(), b));
                    async {}
                })
                .unwrap()
                .run(CancelToken::new())
                .await;
            assert_eq!(
                *seen.lock().unwrap(),
                [(Duration::from_millis(10), vec![0, 3, 7])]
            );
            assert!(s.is_balanced());
        });
    }
}

mod smol_rt {
    use super::*;
    use sluicegate_rt::{SmolSleeper, SmolSpawner};

    fn on_two_threads<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
        let ex = Arc::new(smol::Executor::new());
        let ex2 = Arc::clone(&ex);
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let helper = std::thread::spawn(move || smol::block_on(ex2.run(stopped.recv())));
        let out = smol::block_on(ex.run(ex.spawn(fut)));
        stop.send_blocking(()).unwrap();
        helper.join().unwrap().unwrap();
        out
    }

    #[test]
    fn full_pipeline_on_a_two_thread_executor() {
        let ex = Arc::new(smol::Executor::<'static>::new());
        let spawner = SmolSpawner::with_executor(Arc::clone(&ex));
        let ex2 = Arc::clone(&ex);
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let helper = std::thread::spawn(move || smol::block_on(ex2.run(stopped.recv())));
        // Real timer on purpose; its wait never fires (see `full_pipeline`).
        let out = smol::block_on(ex.run(full_pipeline(spawner, SmolSleeper)));
        stop.send_blocking(()).unwrap();
        helper.join().unwrap().unwrap();
        check_full(out);
    }

    #[test]
    fn cancelled_from_the_sink_drains_and_balances() {
        let s = on_two_threads(cancelled_pipeline(SmolSpawner::new(), CancelToken::new()));
        check_cancelled(s);
    }

    #[test]
    fn manual_clock_driven_by_a_task() {
        smol::block_on(async {
            let clock = sluicegate_rt::ManualClock::new();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&seen);
            let sink_clock = clock.clone();
            let run = Pipeline::<_, Infallible>::source(
                futures_lite::stream::iter([1u8, 2]).chain(futures_lite::stream::pending()),
            )
            .batch(
                Batch::size(10).max_wait(Duration::from_millis(10)),
                clock.clone(),
            )
            .sink(move |b: Vec<u8>| {
                log.lock().unwrap().push((sink_clock.elapsed(), b));
                async {}
            })
            .unwrap();
            let token = CancelToken::new();
            let driver = {
                let clock = clock.clone();
                let token = token.clone();
                let seen = Arc::clone(&seen);
                smol::spawn(async move {
                    while clock.pending_sleeps() == 0 {
                        futures_lite::future::yield_now().await;
                    }
                    clock.advance(Duration::from_millis(10));
                    while seen.lock().unwrap().is_empty() {
                        futures_lite::future::yield_now().await;
                    }
                    token.cancel();
                })
            };
            let s = run.run(token).await;
            driver.await;
            assert_eq!(
                *seen.lock().unwrap(),
                [(Duration::from_millis(10), vec![1, 2])]
            );
            assert_eq!(s.outcome, Outcome::Cancelled);
            assert!(s.is_balanced());
        });
    }

    use futures_lite::StreamExt as _;
}

mod threads_rt {
    use super::*;
    use sluicegate_rt::{ThreadSleeper, ThreadSpawner, block_on};

    #[test]
    fn full_pipeline_on_plain_threads() {
        // Real timer on purpose; its wait never fires (see `full_pipeline`).
        check_full(block_on(full_pipeline(ThreadSpawner::new(), ThreadSleeper)));
    }

    #[test]
    fn cancelled_from_another_thread() {
        let token = CancelToken::new();
        let canceller = {
            let token = token.clone();
            std::thread::spawn(move || token.cancel())
        };
        let s = block_on(cancelled_pipeline(ThreadSpawner::new(), token));
        canceller.join().unwrap();
        assert_eq!(s.outcome, Outcome::Cancelled);
        assert_eq!(s.discarded, 0);
        assert_eq!(s.produced, s.delivered);
        assert!(s.is_balanced());
    }

    #[test]
    fn futures_timer_sleeper_without_a_runtime() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&out);
        let s = block_on(
            Pipeline::<_, Infallible>::source(futures_lite::stream::iter(0..10u32))
                .batch(
                    Batch::size(4).max_wait(NEVER),
                    // A real timer is the point (futures-timer without a runtime); its
                    // hour-long wait never fires: batches close by size or at the end.
                    sluicegate_rt::FuturesTimerSleeper,
                )
                .sink(move |b: Vec<u32>| {
                    log.lock().unwrap().push(b);
                    async {}
                })
                .unwrap()
                .run(CancelToken::new()),
        );
        assert_eq!(out.lock().unwrap().concat(), (0..10).collect::<Vec<_>>());
        assert!(s.is_balanced());
    }
}
