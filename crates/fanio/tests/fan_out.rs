//! Fan-out: exactly-once delivery (shared queue), per-key order (keyed,
//! property-tested in virtual time), panics as typed errors, lossless
//! cancel and drop, statistics.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_lite::{StreamExt, future, stream};
use proptest::prelude::*;
use sluicegate_fanio::{Distribution, FanOutBuilder, FanOutError, fan_out, fan_out_keyed};
use support::*;

#[test]
fn shared_queue_delivers_every_item_exactly_once() {
    let local = Local::new();
    let spawner = local.spawner();
    let l = local.clone();
    let out = fan_out(stream::iter(0..2000u32), 4, &spawner, move |i| {
        let l = l.clone();
        async move {
            // Uneven work: some items wait in virtual time, some yield.
            if i % 3 == 0 {
                l.sleep(ms(u64::from(i % 7))).await;
            } else {
                for _ in 0..(i % 5) {
                    future::yield_now().await;
                }
            }
            i * 2
        }
    })
    .unwrap();
    let handle = out.stats_handle();
    let mut got: Vec<u32> = local.run(out.map(Result::unwrap).collect());
    got.sort_unstable();
    assert_eq!(got, (0..2000).map(|i| i * 2).collect::<Vec<_>>());
    let s = handle.stats();
    assert!(s.finished && s.input_done);
    assert_eq!((s.taken, s.delivered, s.started()), (2000, 2000, 2000));
    assert!(s.is_balanced(), "{s:?}");
    assert_eq!(s.workers.len(), 4);
    // Every worker took part (an idle worker takes the next item).
    assert!(s.workers.iter().all(|w| w.started > 0 && !w.busy), "{s:?}");
    assert_eq!(local.spawned.load(Ordering::SeqCst), 5); // 4 workers + feeder
}

#[test]
fn results_come_back_in_completion_order() {
    // Item 0 takes longest: it comes last.
    let local = Local::new();
    let l = local.clone();
    let out = fan_out(
        stream::iter([30u64, 10, 20]),
        3,
        &local.spawner(),
        move |d| {
            let l = l.clone();
            async move {
                l.sleep(ms(d)).await;
                d
            }
        },
    )
    .unwrap();
    let got: Vec<u64> = local.run(out.map(Result::unwrap).collect());
    assert_eq!(got, [10, 20, 30]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Many keys, random per-item delays in virtual time: results of each
    /// key come out in input order, and every item comes out once.
    #[test]
    fn keyed_fan_out_keeps_per_key_order(
        items in prop::collection::vec((0u8..40, 0u64..20), 1..300),
        workers in 1usize..9,
        capacity in 1usize..6,
    ) {
        let local = Local::new();
        let l = local.clone();
        let input = stream::iter(items.clone().into_iter().enumerate());
        let out = FanOutBuilder::new(workers)
            .distribution(Distribution::keyed(|&(_, (key, _)): &(usize, (u8, u64))| key))
            .capacity(capacity)
            .output_capacity(capacity)
            .spawn(input, &local.spawner(), move |(seq, (key, delay))| {
                let l = l.clone();
                async move {
                    l.sleep(ms(delay)).await;
                    (key, seq)
                }
            })
            .unwrap();
        let got: Vec<(u8, usize)> = local.run(out.map(Result::unwrap).collect());
        prop_assert_eq!(got.len(), items.len());
        let mut last: HashMap<u8, usize> = HashMap::new();
        for (key, seq) in &got {
            if let Some(prev) = last.insert(*key, *seq) {
                prop_assert!(prev < *seq, "key {} out of order: {} after {}", key, seq, prev);
            }
        }
        let mut seqs: Vec<usize> = got.iter().map(|p| p.1).collect();
        seqs.sort_unstable();
        prop_assert_eq!(seqs, (0..items.len()).collect::<Vec<_>>());
    }
}

#[test]
fn keyed_routes_each_key_to_one_worker() {
    let local = Local::new();
    let out = fan_out_keyed(
        stream::iter((0..400u32).map(|i| (i % 13, i))),
        4,
        &local.spawner(),
        |p: &(u32, u32)| p.0,
        |p| async move { p },
    )
    .unwrap();
    let handle = out.stats_handle();
    let got: Vec<(u32, u32)> = local.run(out.map(Result::unwrap).collect());
    assert_eq!(got.len(), 400);
    let s = handle.stats();
    assert!(s.is_balanced());
    assert_eq!(s.workers.iter().map(|w| w.started).sum::<u64>(), 400);
}

#[test]
fn a_panicking_worker_function_becomes_a_typed_error_and_the_rest_goes_on() {
    quiet_panics();
    let local = Local::new();
    let out = fan_out(
        stream::iter(0..100u32),
        3,
        &local.spawner(),
        |i| async move {
            if i % 10 == 3 {
                panic!("{BOOM}: item {i}");
            }
            i
        },
    )
    .unwrap();
    let handle = out.stats_handle();
    let got: Vec<_> = local.run(out.collect());
    let (ok, err): (Vec<_>, Vec<_>) = got.into_iter().partition(Result::is_ok);
    let mut ok: Vec<u32> = ok.into_iter().map(Result::unwrap).collect();
    ok.sort_unstable();
    assert_eq!(ok, (0..100).filter(|i| i % 10 != 3).collect::<Vec<_>>());
    assert_eq!(err.len(), 10);
    for e in err {
        match e.unwrap_err() {
            FanOutError::WorkerPanicked { worker, message } => {
                assert!(worker < 3);
                assert!(message.contains(BOOM));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let s = handle.stats();
    assert_eq!((s.completed(), s.panicked()), (90, 10));
    assert!(s.is_balanced());
}

#[test]
fn a_worker_function_that_panics_before_its_future_is_caught_too() {
    quiet_panics();
    let local = Local::new();
    let out = fan_out(stream::iter(0..10u32), 2, &local.spawner(), |i| {
        assert!(i != 4, "{BOOM}");
        async move { i }
    })
    .unwrap();
    let got: Vec<_> = local.run(out.collect());
    assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
    assert_eq!(got.iter().filter(|r| r.is_ok()).count(), 9);
}

#[test]
fn a_panicking_input_is_reported_and_taken_items_still_processed() {
    quiet_panics();
    let local = Local::new();
    let input = stream::iter(0..10u32).map(|i| {
        assert!(i != 5, "{BOOM}: input");
        i
    });
    let out = fan_out(input, 2, &local.spawner(), |i| async move { i }).unwrap();
    let handle = out.stats_handle();
    let got: Vec<_> = local.run(out.collect());
    let mut ok: Vec<u32> = got
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    ok.sort_unstable();
    assert_eq!(ok, [0, 1, 2, 3, 4]);
    assert!(matches!(
        got.iter().find(|r| r.is_err()),
        Some(Err(FanOutError::InputPanicked { .. }))
    ));
    let s = handle.stats();
    assert_eq!(s.input_panics, 1);
    assert!(s.is_balanced());
}

#[test]
fn a_panicking_key_function_hands_the_item_back() {
    quiet_panics();
    let local = Local::new();
    let out = fan_out_keyed(
        stream::iter(0..20u32),
        3,
        &local.spawner(),
        |&i: &u32| {
            assert!(i != 7, "{BOOM}: key");
            i
        },
        |i| async move { i },
    )
    .unwrap();
    let handle = out.stats_handle();
    let got: Vec<_> = local.run(out.collect());
    let errs: Vec<_> = got.into_iter().filter_map(Result::err).collect();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message().contains(BOOM));
    assert_eq!(errs.into_iter().next().unwrap().into_item(), Some(7));
    let s = handle.stats();
    assert_eq!((s.key_panics, s.started()), (1, 19));
    assert!(s.is_balanced());
}

#[test]
fn cancel_hands_back_unstarted_items_and_pending_results() {
    let local = Local::new();
    let l = local.clone();
    // Endless input; each item takes 10 virtual ms.
    let out = FanOutBuilder::new(3)
        .capacity(5)
        .output_capacity(4)
        .spawn(stream::iter(0u32..), &local.spawner(), move |i| {
            let l = l.clone();
            async move {
                l.sleep(ms(10)).await;
                i
            }
        })
        .unwrap();
    let clock = local.clock.clone();
    let (consumed, cancelled) = local.run(async move {
        let mut out = out;
        let mut consumed = Vec::new();
        for _ in 0..20 {
            consumed.push(out.next().await.unwrap().unwrap());
        }
        // Let the queues and the output buffer fill up.
        clock.sleep(ms(100)).await;
        (consumed, out.cancel().await)
    });
    let s = cancelled.stats.clone();
    assert!(s.finished && s.input_done);
    assert!(s.is_balanced(), "{s:?}");
    assert!(!cancelled.unstarted.is_empty(), "queued items come back");
    assert!(!cancelled.finished.is_empty(), "buffered results come back");
    // Nothing lost: consumed + finished + unstarted == every item taken.
    let mut all: Vec<u32> = consumed;
    all.extend(cancelled.finished.into_iter().map(Result::unwrap));
    all.extend(cancelled.unstarted);
    all.sort_unstable();
    assert_eq!(all, (0..s.taken as u32).collect::<Vec<_>>());
}

#[test]
fn dropping_the_output_counts_what_was_abandoned_or_discarded() {
    let local = Local::new();
    let l = local.clone();
    let out = FanOutBuilder::new(2)
        .capacity(4)
        .output_capacity(2)
        .spawn(stream::iter(0u32..1000), &local.spawner(), move |i| {
            let l = l.clone();
            async move {
                l.sleep(ms(5)).await;
                i
            }
        })
        .unwrap();
    let handle = out.stats_handle();
    let clock = local.clock.clone();
    local.run(async move {
        let mut out = out;
        for _ in 0..10 {
            out.next().await.unwrap().unwrap();
        }
        clock.sleep(ms(50)).await; // workers fill the output, queues fill
        drop(out);
        while !handle.stats().finished {
            clock.sleep(ms(1)).await;
        }
        let s = handle.stats();
        assert!(s.is_balanced(), "{s:?}");
        assert_eq!(s.delivered, 10);
        assert!(s.abandoned > 0, "{s:?}");
        assert!(s.discarded > 0, "{s:?}");
        assert!(s.taken < 1000, "the input stops being read");
    });
}

/// The output takes every waiting result at once and yields them one by
/// one: those not yet yielded are still part of its buffer, handed back
/// by `cancel` and counted as discarded by a drop.
#[test]
fn results_taken_but_not_yet_yielded_are_handed_back_or_counted() {
    for cancel in [true, false] {
        let local = Local::new();
        let out = FanOutBuilder::new(2)
            .capacity(8)
            .output_capacity(4)
            .spawn(
                stream::iter(0u32..8),
                &local.spawner(),
                |i| async move { i },
            )
            .unwrap();
        let handle = out.stats_handle();
        let clock = local.clock.clone();
        local.run(async move {
            let mut out = out;
            clock.sleep(ms(1)).await; // the output fills up (4)
            let first = out.next().await.unwrap().unwrap(); // takes all 4
            if cancel {
                let c = out.cancel().await;
                assert!(c.finished.len() >= 3, "the other 3 of the run: {c:?}");
                let mut all = vec![first];
                all.extend(c.finished.into_iter().map(Result::unwrap));
                all.extend(c.unstarted);
                all.sort_unstable();
                assert_eq!(all, (0..8).collect::<Vec<_>>());
                assert!(c.stats.is_balanced(), "{:?}", c.stats);
            } else {
                drop(out);
                while !handle.stats().finished {
                    clock.sleep(ms(1)).await;
                }
                let s = handle.stats();
                assert_eq!(s.delivered, 1);
                assert!(s.discarded >= 3, "the other 3 of the run: {s:?}");
                assert!(s.is_balanced(), "{s:?}");
            }
        });
    }
}

/// An endless input through 2 workers (queue 3, output 4); the consumer
/// reads `reads` results once the fan-out has stalled, then stops: the
/// stats once it has stalled again.
fn stop_reading_after(reads: usize) -> sluicegate_fanio::FanOutStats {
    let local = Local::new();
    let mut out = FanOutBuilder::new(2)
        .capacity(3)
        .output_capacity(4)
        .spawn(stream::iter(0u32..), &local.spawner(), |i| async move { i })
        .unwrap();
    let clock = local.clock.clone();
    local.run(async move {
        clock.sleep(ms(10)).await;
        for i in 0..reads {
            assert_eq!(out.next().await.unwrap().unwrap(), i as u32);
        }
        clock.sleep(ms(10)).await;
        out.stats()
    })
}

#[test]
fn a_slow_consumer_holds_back_the_input() {
    // Backpressure end to end: with nobody reading, the feeder stops after
    // queue + output + in-flight items.
    let taken = stop_reading_after(0).taken;
    // queue 3 + output 4 + one blocked send per worker (2) + the feeder's 1.
    assert!(taken <= 3 + 4 + 2 + 1, "taken {taken}");
    assert!(taken >= 3 + 4, "taken {taken}");
}

#[test]
fn a_consumer_stopped_mid_run_holds_back_the_input() {
    // The output takes its whole buffer (4) at once: with the consumer
    // stopped after one result, 3 wait in its run and the workers refill
    // the buffer (4), no more (the documented 2 x output_capacity).
    let s = stop_reading_after(1);
    assert_eq!(s.delivered, 1, "{s:?}");
    // Yielded 1 + run 3 + output 4 + one blocked send per worker (2)
    // + queue 3 + the feeder's 1.
    assert!(s.taken <= 1 + 3 + 4 + 2 + 3 + 1, "{s:?}");
    assert!(s.taken >= 1 + 3 + 4 + 3, "{s:?}");
}

/// `FanOut` is `Send`, `Sync` and `Unpin` for any items and results that
/// are `Send`, as the fan-out's shared state is (only `Send` crosses
/// threads: nothing is ever shared by reference between them).
#[test]
fn the_output_is_send_sync_and_unpin_for_any_send_items_and_results() {
    struct SendOnly(
        #[allow(dead_code)] std::cell::Cell<u8>,
        std::marker::PhantomPinned,
    );
    fn check<S: Send + Sync + Unpin>() {}
    check::<sluicegate_fanio::FanOut<SendOnly, SendOnly>>();
}

#[test]
fn the_input_is_dropped_once_it_has_ended_or_the_fan_out_is_cancelled() {
    // Ended: the input is dropped by the time the output ends (checked
    // while the output is still alive, so nothing else can be holding it).
    let local = Local::new();
    let token = Arc::new(());
    let held = Arc::clone(&token);
    let input = stream::iter(0..3u32).map(move |i| {
        let _ = &held;
        i
    });
    let out = fan_out(input, 2, &local.spawner(), |i| async move { i }).unwrap();
    let got = local.run(async {
        let mut out = out;
        let mut got = Vec::new();
        while let Some(r) = out.next().await {
            got.push(r.unwrap());
        }
        assert_eq!(Arc::strong_count(&token), 1, "the input outlived its end");
        got
    });
    assert_eq!(got.len(), 3);

    // Cancelled while the input is pending: dropped by the time the cancel
    // returns (its sender sees the channel closed).
    let (tx, rx) = async_channel::unbounded::<u32>();
    tx.try_send(0).unwrap();
    let out = fan_out(rx, 2, &local.spawner(), |i| async move { i }).unwrap();
    local.run(async {
        let mut out = out;
        assert_eq!(out.next().await.map(Result::unwrap), Some(0));
        let cancelled = out.cancel().await;
        assert!(tx.is_closed(), "the input outlived the cancel");
        assert!(cancelled.stats.is_balanced(), "{:?}", cancelled.stats);
    });
}

#[test]
fn cancel_does_not_wait_for_a_pending_input() {
    // The input has 3 items, then stays pending forever (its sender is
    // kept): cancel must still end the feeder and return.
    let local = Local::new();
    let (tx, rx) = async_channel::unbounded::<u32>();
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    let out = fan_out(rx, 2, &local.spawner(), |i| async move { i }).unwrap();
    let cancelled = local.run(async move {
        let mut out = out;
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(out.next().await.unwrap().unwrap());
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2]);
        out.cancel().await
    });
    assert!(cancelled.unstarted.is_empty() && cancelled.finished.is_empty());
    let s = cancelled.stats;
    assert!(s.finished && s.input_done && s.is_balanced(), "{s:?}");
    assert_eq!(s.taken, 3);
    drop(tx);
}

#[test]
fn a_cancel_given_up_part_way_counts_what_it_held_as_discarded() {
    // `cancel()` collects buffered results as it goes (first those the
    // stream took in its last run and has not yielded); dropped part-way,
    // it hands nothing to the caller, so those results must be counted as
    // discarded, not delivered.
    for reads in [0, 1] {
        let local = Local::new();
        let l = local.clone();
        let out = FanOutBuilder::new(2)
            .capacity(4)
            .output_capacity(4)
            .spawn(stream::iter(0u32..100), &local.spawner(), move |i| {
                let l = l.clone();
                async move {
                    l.sleep(ms(10)).await;
                    i
                }
            })
            .unwrap();
        let handle = out.stats_handle();
        let clock = local.clock.clone();
        local.run(async move {
            let mut out = out;
            clock.sleep(ms(100)).await; // the output buffer fills up
            for _ in 0..reads {
                // Takes the 4 buffered results in one run, yields one.
                out.next().await.unwrap().unwrap();
            }
            let mut cancel = Box::pin(out.cancel());
            // One poll takes the buffered results, then waits for the
            // running items.
            assert!(future::poll_once(&mut cancel).await.is_none());
            drop(cancel);
            while !handle.stats().finished {
                clock.sleep(ms(1)).await;
            }
            let s = handle.stats();
            assert!(s.is_balanced(), "{s:?}");
            assert_eq!(s.delivered, reads, "nothing more reached the caller: {s:?}");
            assert!(s.discarded >= 4 - reads, "{s:?}");
        });
    }
}

#[test]
fn tasks_dropped_unrun_by_their_executor_count_as_exited() {
    // An executor that shuts down drops the tasks it never ran: the
    // fan-out must still end and report itself finished.
    let spawner = |f: sluicegate_fanio::rt::BoxFuture| drop(f);
    let out = fan_out(stream::iter(0u32..3), 2, &spawner, |i| async move { i }).unwrap();
    let s = out.stats();
    assert!(s.finished, "no task is alive: {s:?}");
    let handle = out.stats_handle();
    let got: Vec<_> = sluicegate_fanio::rt::block_on(out.collect());
    // The input was never read: the output says so rather than ending as
    // if it had been empty.
    assert!(
        matches!(got[..], [Err(FanOutError::FeederDropped)]),
        "{got:?}"
    );
    let s = handle.stats();
    assert!(s.feeder_dropped && s.is_balanced(), "{s:?}");
}

#[test]
fn stats_balance_once_finished_and_the_output_has_ended() {
    // Finished tasks may leave results in the output's buffer: the third
    // identity holds only once they are read (or the output is gone).
    let local = Local::new();
    let out = fan_out(
        stream::iter(0u32..3),
        2,
        &local.spawner(),
        |i| async move { i },
    )
    .unwrap();
    let handle = out.stats_handle();
    let clock = local.clock.clone();
    let got = local.run(async move {
        while !handle.stats().finished {
            clock.sleep(ms(1)).await;
        }
        let s = handle.stats();
        assert!(!s.is_balanced(), "3 results still buffered: {s:?}");
        let got: Vec<u32> = out.map(Result::unwrap).collect().await;
        let s = handle.stats();
        assert!(s.is_balanced(), "{s:?}");
        got
    });
    assert_eq!(got.len(), 3);
}
