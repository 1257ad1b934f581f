//! Tasks dropped by their executor while they run (a runtime shutting
//! down, an aborted task): the output still ends, and every item is
//! accounted for: delivered, reported lost with its worker
//! (`WorkerDropped`), or handed back (`Unstarted`, `cancel`). Never a
//! hang, never a silent loss.

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use futures_lite::{StreamExt, stream};
use sluicegate_fanio::{
    Distribution, FanOut, FanOutBuilder, FanOutError, FanOutStats, StatsHandle,
};
use support::*;

/// The outcome of a run: results, items handed back, workers that
/// reported a lost item, whether the feeder's drop was reported, stats.
#[derive(Debug, Default)]
struct Tally {
    ok: Vec<u32>,
    unstarted: Vec<(usize, u32)>,
    lost: Vec<usize>,
    feeder_dropped: usize,
    stats: FanOutStats,
}

impl Tally {
    fn add(&mut self, r: Result<u32, FanOutError<u32>>) {
        match r {
            Ok(i) => self.ok.push(i),
            Err(FanOutError::Unstarted { worker, item }) => self.unstarted.push((worker, item)),
            Err(FanOutError::WorkerDropped { worker }) => self.lost.push(worker),
            Err(FanOutError::FeederDropped) => self.feeder_dropped += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    /// Every input item is a result or handed back, except exactly one per
    /// `WorkerDropped`; none twice.
    fn assert_accounted(&self, inputs: u32) {
        let mut seen = BTreeSet::new();
        for &i in self.ok.iter().chain(self.unstarted.iter().map(|(_, i)| i)) {
            assert!(seen.insert(i), "{i} came out twice: {self:?}");
        }
        assert_eq!(
            seen.len() + self.lost.len(),
            inputs as usize,
            "items missing: {self:?}"
        );
        let s = &self.stats;
        assert!(s.finished && s.is_balanced(), "{s:?}");
        assert_eq!(s.lost(), self.lost.len() as u64, "{s:?}");
        assert_eq!(s.unstarted, self.unstarted.len() as u64, "{s:?}");
        assert_eq!(s.feeder_dropped, self.feeder_dropped == 1, "{s:?}");
    }
}

/// Each item sleeps `d` (virtual time) in the worker, then comes back.
fn sleepy(
    local: &Local,
    d: u64,
) -> impl Fn(u32) -> Pin<Box<dyn Future<Output = u32> + Send>> + Send + Sync + 'static {
    let l = local.clone();
    move |i| {
        let l = l.clone();
        Box::pin(async move {
            l.sleep(ms(d)).await;
            i
        })
    }
}

/// Waits (virtual time) until `cond` holds on the stats.
async fn until(local: &Local, h: &StatsHandle, cond: impl Fn(&FanOutStats) -> bool) {
    while !cond(&h.stats()) {
        local.sleep(ms(1)).await;
    }
}

/// Reads `out` to its end.
async fn drain(out: FanOut<u32, u32>, h: &StatsHandle) -> Tally {
    let mut t = Tally::default();
    let mut out = out;
    while let Some(r) = out.next().await {
        t.add(r);
    }
    t.stats = h.stats();
    t
}

/// `workers` workers sharing a queue of 4 take `0..items`, 10 virtual ms
/// each; worker 0 is aborted in the middle of its first item. Returns
/// the outcome, and the stats at the abort.
fn abort_worker_0_mid_item(workers: usize, items: u32) -> (Tally, FanOutStats) {
    let local = Local::new();
    let sp = Abortable::new(local.spawner());
    let out = FanOutBuilder::new(workers)
        .capacity(4)
        .spawn(stream::iter(0..items), &sp, sleepy(&local, 10))
        .unwrap();
    let h = out.stats_handle();
    local.run(async {
        until(&local, &h, |s| s.workers[0].busy).await;
        let at_abort = h.stats();
        sp.abort(0);
        (drain(out, &h).await, at_abort)
    })
}

#[test]
fn shared_queue_worker_dropped_mid_item_reports_it_and_the_others_finish() {
    let (t, _) = abort_worker_0_mid_item(2, 20);
    assert_eq!(t.lost, [0]);
    assert!(t.unstarted.is_empty(), "worker 1 takes the rest: {t:?}");
    assert_eq!(t.ok.len(), 19);
    t.assert_accounted(20);
}

#[test]
fn shared_queue_with_every_worker_dropped_hands_every_item_back() {
    let local = Local::new();
    let sp = Abortable::new(local.spawner());
    let out = FanOutBuilder::new(2)
        .capacity(4)
        .output_capacity(2)
        .spawn(stream::iter(0u32..50), &sp, sleepy(&local, 10))
        .unwrap();
    let h = out.stats_handle();
    let t = local.run(async {
        until(&local, &h, |s| s.workers.iter().all(|w| w.busy)).await;
        sp.abort(0);
        sp.abort(1);
        drain(out, &h).await
    });
    let mut lost = t.lost.clone();
    lost.sort();
    assert_eq!(lost, [0, 1]);
    assert_eq!(t.ok.len(), 0);
    // The items queued, and every later one, come back unstarted: the
    // feeder reads the input to its end.
    assert_eq!(t.unstarted.len(), 48, "{t:?}");
    assert!(t.stats.input_done);
    t.assert_accounted(50);
}

#[test]
fn keyed_worker_dropped_mid_item_hands_back_its_keys_and_the_others_keep_order() {
    let local = Local::new();
    let sp = Abortable::new(local.spawner());
    let out = FanOutBuilder::new(3)
        .distribution(Distribution::keyed(|&i: &u32| i % 7))
        .capacity(2)
        .spawn(stream::iter(0u32..60), &sp, sleepy(&local, 10))
        .unwrap();
    let h = out.stats_handle();
    let (t, victim) = local.run(async {
        until(&local, &h, |s| s.workers.iter().any(|w| w.busy)).await;
        let victim = h.stats().workers.iter().position(|w| w.busy).unwrap();
        sp.abort(victim);
        (drain(out, &h).await, victim)
    });
    assert_eq!(t.lost, [victim]);
    assert!(!t.unstarted.is_empty(), "{t:?}");
    assert!(t.unstarted.iter().all(|&(w, _)| w == victim), "{t:?}");
    // The other workers' keys are all processed, in input order per key.
    for key in 0..7 {
        let per_key: Vec<u32> = t.ok.iter().copied().filter(|i| i % 7 == key).collect();
        assert!(per_key.windows(2).all(|w| w[0] < w[1]), "{per_key:?}");
    }
    // Whatever went to the dropped worker never shows up as a result.
    let victim_keys: BTreeSet<u32> = t.unstarted.iter().map(|&(_, i)| i % 7).collect();
    assert!(
        t.ok.iter().all(|i| !victim_keys.contains(&(i % 7))),
        "{t:?}"
    );
    t.assert_accounted(60);
}

#[test]
fn a_lone_worker_dropped_mid_item_hands_back_every_later_item_in_order() {
    let (t, at_abort) = abort_worker_0_mid_item(1, 20);
    // 3 left in the queue (the feeder waits for it to be half empty), 1
    // held by the feeder.
    assert_eq!(at_abort.queued, 4, "{at_abort:?}");
    assert_eq!(t.lost, [0]);
    assert!(t.ok.is_empty(), "{t:?}");
    // The queue first, then the item the feeder held, then what it
    // routed to the closed queue: every item but the lost one, in order.
    let unstarted: Vec<u32> = t.unstarted.iter().map(|&(_, i)| i).collect();
    assert_eq!(unstarted, (1..20).collect::<Vec<_>>(), "{t:?}");
    t.assert_accounted(20);
}

#[test]
fn keyed_worker_dropped_before_its_first_poll_hands_back_all_its_items() {
    let local = Local::new();
    let sp = Abortable::new(local.spawner());
    let out = FanOutBuilder::new(2)
        .distribution(Distribution::keyed(|&i: &u32| i))
        .capacity(2)
        .spawn(stream::iter(0u32..40), &sp, sleepy(&local, 1))
        .unwrap();
    sp.abort(1); // never polled
    let h = out.stats_handle();
    let t = local.run(drain(out, &h));
    assert!(t.lost.is_empty(), "it ran nothing: {t:?}");
    assert!(!t.unstarted.is_empty() && !t.ok.is_empty(), "{t:?}");
    assert!(t.unstarted.iter().all(|&(w, _)| w == 1), "{t:?}");
    assert_eq!(t.stats.workers[1].started, 0);
    t.assert_accounted(40);
}

#[test]
fn feeder_dropped_while_holding_an_item_hands_it_back_and_says_so() {
    let local = Local::new();
    let sp = Abortable::new(local.spawner());
    let out = FanOutBuilder::new(1)
        .capacity(1)
        .spawn(stream::iter(0u32..100), &sp, sleepy(&local, 10))
        .unwrap();
    let h = out.stats_handle();
    let t = local.run(async {
        // Worker busy, its queue full, the feeder holding the next item.
        until(&local, &h, |s| s.taken == 3).await;
        sp.abort(1);
        drain(out, &h).await
    });
    assert_eq!(t.feeder_dropped, 1, "{t:?}");
    assert_eq!(t.unstarted, [(0, 2)], "the held item comes back: {t:?}");
    assert_eq!(t.ok, [0, 1], "the worker finishes what it had: {t:?}");
    assert_eq!(t.stats.taken, 3);
    t.assert_accounted(3);
}

#[test]
fn a_dropped_worker_waiting_for_room_in_the_output_still_delivers_its_result() {
    let local = Local::new();
    let sp = Abortable::new(local.spawner());
    let out = FanOutBuilder::new(2)
        .capacity(4)
        .output_capacity(1)
        .spawn(stream::iter(0u32..10), &sp, sleepy(&local, 1))
        .unwrap();
    let h = out.stats_handle();
    let t = local.run(async {
        // Nobody reads: one worker's result fills the output and it goes
        // on to the next item; the other's result waits for room, held by
        // that (idle) worker.
        until(&local, &h, |s| s.completed() == 2 && s.started() == 3).await;
        let waiting = h.stats().workers.iter().position(|w| !w.busy).unwrap();
        sp.abort(waiting);
        drain(out, &h).await
    });
    assert!(t.lost.is_empty(), "the dropped worker ran no item: {t:?}");
    assert!(
        t.unstarted.is_empty(),
        "the other worker takes the rest: {t:?}"
    );
    assert_eq!(t.ok.len(), 10, "its result was delivered too: {t:?}");
    t.assert_accounted(10);
}

#[test]
fn cancel_after_a_worker_was_dropped_hands_everything_back() {
    let local = Local::new();
    let sp = Abortable::new(local.spawner());
    let out = FanOutBuilder::new(2)
        .distribution(Distribution::keyed(|&i: &u32| i))
        .capacity(4)
        .spawn(stream::iter(0u32..1000), &sp, sleepy(&local, 10))
        .unwrap();
    let h = out.stats_handle();
    let (c, _) = local.run(async {
        until(&local, &h, |s| s.workers[0].busy && s.workers[1].busy).await;
        sp.abort(0);
        (out.cancel().await, ())
    });
    let mut t = Tally::default();
    for r in c.finished {
        t.add(r);
    }
    t.stats = c.stats;
    assert_eq!(t.lost, [0], "{t:?}");
    let s = &t.stats;
    assert!(s.finished && s.is_balanced(), "{s:?}");
    // Every item taken is a result, handed back, or the one lost.
    assert_eq!(
        t.ok.len() + t.unstarted.len() + c.unstarted.len() + t.lost.len(),
        s.taken as usize,
        "{t:?}"
    );
}

#[test]
fn a_runtime_shut_down_mid_run_ends_the_output_with_everything_accounted() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let spawner = sluicegate_fanio::rt::TokioSpawner::with_handle(rt.handle().clone());
    let out = FanOutBuilder::new(2)
        .distribution(Distribution::keyed(|&i: &u32| i))
        .capacity(4)
        .spawn(stream::iter(0u32..1000), &spawner, |i| async move {
            if i >= 4 {
                // Never finishes: the runtime goes away first.
                std::future::pending::<()>().await;
            }
            i
        })
        .unwrap();
    let h = out.stats_handle();
    rt.block_on(async {
        while !h.stats().workers.iter().all(|w| w.busy) {
            tokio::task::yield_now().await;
        }
    });
    drop(rt); // drops every task
    let t = sluicegate_fanio::rt::block_on(drain(out, &h));
    let mut lost = t.lost.clone();
    lost.sort();
    assert_eq!(lost, [0, 1], "{t:?}");
    assert_eq!(t.feeder_dropped, 1, "{t:?}");
    t.assert_accounted(t.stats.taken as u32);
    assert!(t.stats.taken < 1000);
}

#[test]
fn a_subscriber_task_dropped_mid_run_releases_a_waiting_publisher() {
    use sluicegate_fanio::{SlowConsumer, broadcast, rt::Spawner};
    let local = Local::new();
    let sp = Abortable::new(local.spawner());
    let publisher = broadcast::<u32>(2, SlowConsumer::Backpressure).unwrap();
    let mut fast = publisher.subscribe();
    let slow = publisher.subscribe();
    // The slow subscriber's task never reads: it stalls mid-run.
    sp.spawn(async move {
        std::future::pending::<()>().await;
        drop(slow);
    });
    let (got, s) = local.run(async {
        let reader = async {
            let mut got = Vec::new();
            while let Some(r) = fast.next().await {
                got.push(r.unwrap());
            }
            got
        };
        let writer = async {
            let publisher = publisher;
            let killer = async {
                // The publisher waits for the slow subscriber's room...
                while publisher.stats().full_events == 0 {
                    local.sleep(ms(1)).await;
                }
                // ... until the executor drops its task.
                sp.abort(0);
            };
            let sends = async {
                for i in 0..10 {
                    publisher.send(i).await.unwrap();
                }
            };
            futures_lite::future::zip(killer, sends).await;
            publisher.stats()
        };
        futures_lite::future::zip(reader, writer).await
    });
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    // The slow subscriber left with its unread items counted.
    assert_eq!(s.unsubscribed, 1, "{s:?}");
    assert_eq!(s.left_unread, 2, "{s:?}");
}

#[test]
fn a_merge_source_whose_producer_task_is_dropped_ends_and_the_merge_goes_on() {
    use sluicegate_fanio::rt::Spawner;
    let local = Local::new();
    let sp = Abortable::new(local.spawner());
    let mut sources = Vec::new();
    for p in 0..2u32 {
        let (tx, rx) = async_channel::bounded::<u32>(4);
        let l = local.clone();
        sp.spawn(async move {
            for i in 0..100 {
                l.sleep(ms(1)).await;
                if tx.send(p * 1000 + i).await.is_err() {
                    break;
                }
            }
        });
        sources.push(rx);
    }
    let got: Vec<u32> = local.run(async {
        let mut merged = sluicegate_fanio::merge(sources);
        let mut got = Vec::new();
        while let Some(x) = merged.next().await {
            got.push(x);
            if got.len() == 20 {
                sp.abort(0); // producer 0's channel ends with it
            }
        }
        got
    });
    let (zero, one): (Vec<u32>, Vec<u32>) = got.iter().partition(|&&x| x < 1000);
    assert_eq!(one, (1000..1100).collect::<Vec<_>>(), "source 1 whole");
    assert!(zero.len() < 100, "source 0 cut short: {}", zero.len());
    assert_eq!(zero, (0..zero.len() as u32).collect::<Vec<_>>());
}

#[test]
fn a_multi_thread_runtime_shut_down_mid_run_never_hangs_nor_loses_an_item() {
    for round in 0..20u32 {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let spawner = sluicegate_fanio::rt::TokioSpawner::with_handle(rt.handle().clone());
        let builder = FanOutBuilder::new(4).capacity(3).output_capacity(2);
        let builder = if round % 2 == 0 {
            builder.distribution(Distribution::keyed(|&i: &u32| i))
        } else {
            builder
        };
        let out = builder
            .spawn(stream::iter(0u32..10_000), &spawner, move |i| async move {
                if i % 97 == 96 {
                    // Some items never finish: the runtime goes away first.
                    std::future::pending::<()>().await;
                }
                tokio::task::yield_now().await;
                i
            })
            .unwrap();
        let h = out.stats_handle();
        rt.block_on(async {
            // Until 200 items are taken, or (keyed) the feeder is held up
            // by a stuck worker's full queue.
            for _ in 0..20_000 {
                if h.stats().taken >= 200 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        });
        drop(rt); // drops every task, on its worker threads
        let t = sluicegate_fanio::rt::block_on(drain(out, &h));
        assert_eq!(t.feeder_dropped, 1, "the input was cut short: {t:?}");
        assert!(t.lost.len() <= 4, "{t:?}");
        t.assert_accounted(t.stats.taken as u32);
    }
}

#[test]
fn a_feeder_dropped_after_its_input_panicked_reports_no_early_end() {
    quiet_panics();
    let local = Local::new();
    let sp = Abortable::new(local.spawner());
    // Item 0, then the input panics; the worker's result fills the output
    // (capacity 1, nobody reads yet), so the `InputPanicked` error waits
    // for room in the feeder, which is then dropped by its executor.
    let l = local.clone();
    let input = stream::iter(0u32..2).then(move |i| {
        let l = l.clone();
        async move {
            if i == 1 {
                // After item 0's result is in the output.
                l.sleep(ms(5)).await;
                panic!("{BOOM}: input");
            }
            i
        }
    });
    let out = FanOutBuilder::new(1)
        .output_capacity(1)
        .spawn(input, &sp, sleepy(&local, 1))
        .unwrap();
    let h = out.stats_handle();
    let (got, s) = local.run(async {
        until(&local, &h, |s| s.input_panics == 1 && s.completed() == 1).await;
        sp.abort(1);
        let got: Vec<_> = out.collect().await;
        (got, h.stats())
    });
    // (Not `{got:?}`: the panic message would silence the failure.)
    let kinds: Vec<&str> = got
        .iter()
        .map(|r| match r {
            Ok(_) => "ok",
            Err(FanOutError::InputPanicked { .. }) => "input panicked",
            Err(FanOutError::FeederDropped) => "feeder dropped",
            Err(_) => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["ok", "input panicked"],
        "the input had ended (panicked): no FeederDropped"
    );
    assert!(!s.feeder_dropped && s.finished && s.is_balanced(), "{s:?}");
}
