//! The runtime matrix: the same checks on tokio, on smol and on plain
//! threads. Every test is deterministic: tokio runs on paused time, virtual
//! time comes from a `ManualClock` advanced only once the waiter is parked
//! on it, and real sleepers are only ever asked for zero-length waits.

use std::sync::Arc;
use std::time::Duration;

use sluicegate_backpressure::{Overflow, Receiver, SendTimeoutError, Sender};
use sluicegate_rt::{ManualClock, Sleeper};

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 1_000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One producer's items, sent with `send` (waiting when full).
async fn produce<C: sluicegate_rt::Clock, S>(tx: Sender<u64, C, S>, p: u64) {
    for n in 0..PER_PRODUCER {
        tx.send(p * PER_PRODUCER + n).await.unwrap();
    }
}

/// Receives until every sender is gone.
async fn consume(rx: Receiver<u64>) -> Vec<u64> {
    let mut got = Vec::new();
    while let Some(item) = rx.recv().await {
        got.push(item);
    }
    got
}

/// Every item exactly once, and the counters agree.
fn check_all_received(got: Vec<Vec<u64>>, rx_stats: sluicegate_backpressure::Stats) {
    let mut all: Vec<u64> = got.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (0..PRODUCERS * PER_PRODUCER).collect::<Vec<_>>());
    assert_eq!(rx_stats.sent, PRODUCERS * PER_PRODUCER);
    assert_eq!(rx_stats.received, rx_stats.sent);
    assert_eq!(
        (rx_stats.len, rx_stats.reserved, rx_stats.dropped),
        (0, 0, 0)
    );
}

/// A full queue and a real sleeper asked for a zero-length wait: the timed
/// send times out at once, handing the item back; nothing really waits.
async fn zero_timeout_hands_back<S: Sleeper>(sleeper: S) {
    let (tx, rx) = sluicegate_backpressure::builder::<u32>(1)
        // A real sleeper on purpose, asked for a zero-length wait only.
        .sleeper(sleeper)
        .build()
        .unwrap();
    tx.send_timeout(1, Duration::ZERO).await.unwrap();
    match tx.send_timeout(2, Duration::ZERO).await {
        Err(SendTimeoutError::Timeout(item)) => assert_eq!(item, 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(rx.recv().await, Some(1));
    assert_eq!(tx.stats().timed_out, 1);
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

    #[test]
    fn send_timeout_on_paused_time_hands_back_at_the_deadline() {
        paused().block_on(async {
            let (tx, _rx) = sluicegate_backpressure::builder::<String>(1)
                .clock(TokioClock)
                // Paused runtime: tokio's virtual time, no real waiting.
                .sleeper(TokioSleeper)
                .build()
                .unwrap();
            tx.send("a".into()).await.unwrap();
            let start = Instant::now();
            let err = tx.send_timeout("b".into(), ms(10)).await.unwrap_err();
            assert!(err.is_timeout());
            assert_eq!(err.into_inner(), "b");
            assert_eq!(start.elapsed(), ms(10));
            assert_eq!(tx.stats().blocked, ms(10));
        });
    }

    #[test]
    fn a_send_losing_a_select_gives_its_item_back() {
        paused().block_on(async {
            let (tx, rx) = sluicegate_backpressure::bounded::<u32>(1).unwrap();
            tx.send(0).await.unwrap();
            let mut send = tx.send(1);
            let back = tokio::select! {
                biased;
                r = &mut send => { r.unwrap(); None }
                // Paused runtime: the 5 ms pass in tokio's virtual time.
                () = tokio::time::sleep(ms(5)) => send.into_inner(),
            };
            assert_eq!(back, Some(1));
            assert_eq!(rx.recv().await, Some(0));
            assert_eq!(rx.try_recv().ok(), None);
            assert_eq!(tx.stats().reserved, 0);
        });
    }

    #[test]
    fn tasks_on_a_multi_thread_runtime_lose_nothing() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, rx) = sluicegate_backpressure::bounded::<u64>(8).unwrap();
            let consumers: Vec<_> = (0..2).map(|_| tokio::spawn(consume(rx.clone()))).collect();
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| tokio::spawn(produce(tx.clone(), p)))
                .collect();
            drop(tx);
            for p in producers {
                p.await.unwrap();
            }
            let mut got = Vec::new();
            for c in consumers {
                got.push(c.await.unwrap());
            }
            check_all_received(got, rx.stats());
        });
    }

    #[test]
    fn real_sleeper() {
        // Real time is the point: this executor's own timer adapter is under
        // test. Every wait is zero-length, so nothing waits in real time.
        paused().block_on(zero_timeout_hands_back(TokioSleeper));
    }
}

mod smol_rt {
    use super::*;
    use sluicegate_rt::SmolSleeper;

    #[test]
    fn tasks_on_a_two_thread_executor_lose_nothing() {
        let ex = Arc::new(smol::Executor::new());
        let ex2 = Arc::clone(&ex);
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let helper = std::thread::spawn(move || smol::block_on(ex2.run(stopped.recv())));
        smol::block_on(ex.run(async {
            let (tx, rx) = sluicegate_backpressure::bounded::<u64>(8).unwrap();
            let consumers: Vec<_> = (0..2).map(|_| ex.spawn(consume(rx.clone()))).collect();
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| ex.spawn(produce(tx.clone(), p)))
                .collect();
            drop(tx);
            for p in producers {
                p.await;
            }
            let mut got = Vec::new();
            for c in consumers {
                got.push(c.await);
            }
            check_all_received(got, rx.stats());
        }));
        stop.send_blocking(()).unwrap();
        helper.join().unwrap().unwrap();
    }

    #[test]
    fn send_timeout_on_a_manual_clock_driven_by_a_task() {
        smol::block_on(async {
            let clock = ManualClock::new();
            let (tx, _rx) = sluicegate_backpressure::builder::<u32>(1)
                .policy(Overflow::Block)
                .timer(clock.clone())
                .build()
                .unwrap();
            tx.send(0).await.unwrap();
            let driver = {
                let clock = clock.clone();
                smol::spawn(async move {
                    while clock.pending_sleeps() == 0 {
                        futures_lite::future::yield_now().await;
                    }
                    clock.advance(ms(10));
                })
            };
            let err = tx.send_timeout(1, ms(10)).await.unwrap_err();
            driver.await;
            assert!(matches!(err, SendTimeoutError::Timeout(1)));
            assert_eq!(clock.elapsed(), ms(10));
            assert_eq!(tx.stats().blocked, ms(10));
        });
    }

    #[test]
    fn real_sleeper() {
        // Real time is the point: this executor's own timer adapter is under
        // test. Every wait is zero-length, so nothing waits in real time.
        smol::block_on(zero_timeout_hands_back(SmolSleeper));
    }
}

mod threads_rt {
    use super::*;
    use sluicegate_rt::{FuturesTimerSleeper, ThreadSleeper, block_on};

    #[test]
    fn std_threads_lose_nothing() {
        let (tx, rx) = sluicegate_backpressure::bounded::<u64>(8).unwrap();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let fut = consume(rx.clone());
                std::thread::spawn(move || block_on(fut))
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let fut = produce(tx.clone(), p);
                std::thread::spawn(move || block_on(fut))
            })
            .collect();
        drop(tx);
        for p in producers {
            p.join().unwrap();
        }
        let got = consumers.into_iter().map(|c| c.join().unwrap()).collect();
        check_all_received(got, rx.stats());
    }

    #[test]
    fn send_timeout_on_a_manual_clock_across_threads() {
        let clock = ManualClock::new();
        let (tx, rx) = sluicegate_backpressure::builder::<u32>(1)
            .timer(clock.clone())
            .build()
            .unwrap();
        tx.try_send(0).unwrap();
        let waiter = std::thread::spawn(move || {
            let out = block_on(tx.send_timeout(1, ms(10)));
            (out, tx.stats())
        });
        while clock.pending_sleeps() == 0 {
            std::thread::yield_now();
        }
        clock.advance(ms(10));
        let (out, s) = waiter.join().unwrap();
        assert!(matches!(out, Err(SendTimeoutError::Timeout(1))));
        assert_eq!((s.timed_out, s.blocked, s.full_events), (1, ms(10), 1));
        assert_eq!(rx.try_recv(), Ok(0));
    }

    #[test]
    fn real_sleepers_without_any_runtime() {
        // Real time is the point: this executor's own timer adapter is under
        // test. Every wait is zero-length, so nothing waits in real time.
        block_on(zero_timeout_hands_back(ThreadSleeper));
        block_on(zero_timeout_hands_back(FuturesTimerSleeper));
    }
}
