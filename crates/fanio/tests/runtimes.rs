//! The runtime matrix: the same checks with tasks on tokio (multi-thread),
//! on smol and on plain threads. Deterministic outcomes; no sleeping.

mod support;

use std::collections::HashMap;
use std::sync::mpsc;

use futures_lite::{StreamExt, future, stream};
use sluicegate_fanio::{
    Distribution, FanOutBuilder, FanOutError, SlowConsumer, StatsHandle, broadcast, fan_out, merge,
};
use sluicegate_rt::Spawner;
use support::*;

/// 1000 items on 4 workers through the shared queue, some panicking: every
/// item accounted for exactly once.
async fn shared_exactly_once<Sp: Spawner>(spawner: Sp) {
    quiet_panics();
    let out = fan_out(stream::iter(0..1000u32), 4, &spawner, |i| async move {
        for _ in 0..(i % 3) {
            future::yield_now().await;
        }
        assert!(i % 100 != 42, "{BOOM}");
        i
    })
    .unwrap();
    let handle = out.stats_handle();
    let got: Vec<_> = out.collect().await;
    let mut ok: Vec<u32> = got
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    ok.sort_unstable();
    assert_eq!(ok, (0..1000).filter(|i| i % 100 != 42).collect::<Vec<_>>());
    assert_eq!(
        got.iter()
            .filter(|r| matches!(r, Err(FanOutError::WorkerPanicked { .. })))
            .count(),
        10
    );
    let s = handle.stats();
    assert!(s.finished && s.is_balanced(), "{s:?}");
}

/// Keyed: per-key order survives real parallelism.
async fn keyed_in_order<Sp: Spawner>(spawner: Sp) {
    let out = FanOutBuilder::new(4)
        .distribution(Distribution::keyed(|p: &(u32, u32)| p.0))
        .capacity(4)
        .spawn(
            stream::iter((0..2000u32).map(|i| (i % 17, i))),
            &spawner,
            |p| async move {
                for _ in 0..(p.1 % 4) {
                    future::yield_now().await;
                }
                p
            },
        )
        .unwrap();
    let got: Vec<(u32, u32)> = out.map(Result::unwrap).collect().await;
    assert_eq!(got.len(), 2000);
    let mut last: HashMap<u32, u32> = HashMap::new();
    for (k, i) in got {
        if let Some(prev) = last.insert(k, i) {
            assert!(prev < i, "key {k}: {i} after {prev}");
        }
    }
}

/// Cancel part-way: consumed + finished + unstarted == taken, no duplicate.
async fn cancel_is_lossless<Sp: Spawner>(spawner: Sp) {
    let out = FanOutBuilder::new(3)
        .capacity(8)
        .spawn(stream::iter(0u32..), &spawner, |i| async move {
            future::yield_now().await;
            i
        })
        .unwrap();
    let mut out = out;
    let mut all = Vec::new();
    for _ in 0..100 {
        all.push(out.next().await.unwrap().unwrap());
    }
    let c = out.cancel().await;
    assert!(c.stats.finished && c.stats.is_balanced(), "{:?}", c.stats);
    all.extend(c.finished.into_iter().map(Result::unwrap));
    all.extend(c.unstarted);
    all.sort_unstable();
    assert_eq!(all, (0..c.stats.taken as u32).collect::<Vec<_>>());
}

/// Producers on spawned tasks feed channels; the merge gets every item
/// and ends when the last producer is done.
async fn merge_from_tasks<Sp: Spawner>(spawner: Sp) {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..6).map(|_| async_channel::bounded::<u32>(2)).unzip();
    for (s, tx) in txs.into_iter().enumerate() {
        spawner.spawn(async move {
            for i in 0..500 {
                tx.send(s as u32 * 1000 + i).await.unwrap();
            }
        });
    }
    let mut merged = merge(rxs);
    let mut got = Vec::new();
    while let Some(x) = merged.next().await {
        got.push(x);
    }
    got.sort_unstable();
    let want: Vec<u32> = (0..6)
        .flat_map(|s| (0..500).map(move |i| s * 1000 + i))
        .collect();
    assert_eq!(got, want);
    assert_eq!(merged.stats().per_source, vec![500; 6]);
}

/// Subscribers on spawned tasks, backpressure: each gets every item in order.
async fn broadcast_to_tasks<Sp: Spawner>(spawner: Sp) {
    let publisher = broadcast::<u32>(4, SlowConsumer::Backpressure).unwrap();
    let (tx, rx) = mpsc::channel();
    for _ in 0..3 {
        let sub = publisher.subscribe();
        let tx = tx.clone();
        spawner.spawn(async move {
            let got: Vec<u32> = sub.map(Result::unwrap).collect().await;
            tx.send(got).unwrap();
        });
    }
    for i in 0..1000 {
        assert_eq!(publisher.send(i).await, Ok(3));
    }
    drop(publisher);
    for _ in 0..3 {
        let got = rx.recv().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
    }
}

/// Dropping the output: the tasks exit on their own, counted.
fn drop_output_ends_tasks<Sp: Spawner>(spawner: Sp) {
    let out = FanOutBuilder::new(2)
        .capacity(2)
        .output_capacity(2)
        .spawn(stream::iter(0u32..), &spawner, |i| async move { i })
        .unwrap();
    let handle: StatsHandle = out.stats_handle();
    let mut i = 0;
    // Nobody reads: the feeder stops at queue 2 + output 2 + 2 workers.
    while handle.stats().taken < 5 {
        i += 1;
        assert!(i < 200_000_000, "the workers never started");
        std::thread::yield_now();
    }
    drop(out);
    let mut i = 0;
    while !handle.stats().finished {
        i += 1;
        assert!(
            i < 200_000_000,
            "the tasks never exited: {:?}",
            handle.stats()
        );
        std::thread::yield_now();
    }
    assert!(handle.stats().is_balanced(), "{:?}", handle.stats());
}

mod tokio_rt {
    use super::*;
    use sluicegate_rt::TokioSpawner;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
    }

    fn run(f: impl FnOnce(TokioSpawner) -> std::pin::Pin<Box<dyn Future<Output = ()>>>) {
        let rt = rt();
        let spawner = TokioSpawner::with_handle(rt.handle().clone());
        rt.block_on(f(spawner));
    }

    use std::future::Future;

    #[test]
    fn shared_fan_out_delivers_every_item_once() {
        run(|s| Box::pin(shared_exactly_once(s)));
    }

    #[test]
    fn keyed_fan_out_keeps_per_key_order() {
        run(|s| Box::pin(keyed_in_order(s)));
    }

    #[test]
    fn cancel_hands_everything_back() {
        run(|s| Box::pin(cancel_is_lossless(s)));
    }

    #[test]
    fn merge_gets_every_item_from_tasks() {
        run(|s| Box::pin(merge_from_tasks(s)));
    }

    #[test]
    fn broadcast_reaches_every_task() {
        run(|s| Box::pin(broadcast_to_tasks(s)));
    }

    #[test]
    fn dropping_the_output_ends_the_tasks() {
        let rt = rt();
        drop_output_ends_tasks(TokioSpawner::with_handle(rt.handle().clone()));
    }
}

mod smol_rt {
    use super::*;
    use sluicegate_rt::SmolSpawner;

    #[test]
    fn shared_fan_out_delivers_every_item_once() {
        smol::block_on(shared_exactly_once(SmolSpawner::new()));
    }

    #[test]
    fn keyed_fan_out_keeps_per_key_order() {
        smol::block_on(keyed_in_order(SmolSpawner::new()));
    }

    #[test]
    fn cancel_hands_everything_back() {
        smol::block_on(cancel_is_lossless(SmolSpawner::new()));
    }

    #[test]
    fn merge_gets_every_item_from_tasks() {
        smol::block_on(merge_from_tasks(SmolSpawner::new()));
    }

    #[test]
    fn broadcast_reaches_every_task() {
        smol::block_on(broadcast_to_tasks(SmolSpawner::new()));
    }

    #[test]
    fn dropping_the_output_ends_the_tasks() {
        drop_output_ends_tasks(SmolSpawner::new());
    }
}

mod threads_rt {
    use super::*;
    use sluicegate_rt::{ThreadSpawner, block_on};

    #[test]
    fn shared_fan_out_delivers_every_item_once() {
        block_on(shared_exactly_once(ThreadSpawner::new()));
    }

    #[test]
    fn keyed_fan_out_keeps_per_key_order() {
        block_on(keyed_in_order(ThreadSpawner::new()));
    }

    #[test]
    fn cancel_hands_everything_back() {
        block_on(cancel_is_lossless(ThreadSpawner::new()));
    }

    #[test]
    fn merge_gets_every_item_from_tasks() {
        block_on(merge_from_tasks(ThreadSpawner::new()));
    }

    #[test]
    fn broadcast_reaches_every_task() {
        block_on(broadcast_to_tasks(ThreadSpawner::new()));
    }

    #[test]
    fn dropping_the_output_ends_the_tasks() {
        drop_output_ends_tasks(ThreadSpawner::new());
    }
}
