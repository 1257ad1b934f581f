//! Why each batch was closed (`BatchStats`: by size, by the timer, at the
//! end of the input), counted by the standalone adapters and by a
//! pipeline's batch stage, in both timer modes, in virtual time.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use sluicegate_pipeline::{
    Batch, BatchStats, CancelToken, Outcome, Pipeline, TimerMode, batch, batch_hand_back,
};
use sluicegate_rt::ManualClock;
use support::{ms, timed};

fn stats(by_size: u64, by_timer: u64, at_end: u64) -> BatchStats {
    let mut s = BatchStats::default();
    s.by_size = by_size;
    s.by_timer = by_timer;
    s.at_end = at_end;
    s
}

/// Items at 0 and 0 ms (a full batch of 2 at once), 5 ms (alone: the
/// timer closes it at 15), 20 ms (the input ends at 22 before its timer).
fn from_first_item() -> (Vec<(Duration, u64)>, Duration, Batch) {
    let items = vec![(ms(0), 0), (ms(0), 1), (ms(5), 2), (ms(20), 3)];
    (items, ms(22), Batch::size(2).max_wait(ms(10)))
}

/// Ticks every 10 ms: items at 0, 0 (full), 3 (tick at 10), 12, 13
/// (full), 15 (the input ends at 17, before the tick at 20).
fn fixed_ticks() -> (Vec<(Duration, u64)>, Duration, Batch) {
    let items = vec![
        (ms(0), 0),
        (ms(0), 1),
        (ms(3), 2),
        (ms(12), 3),
        (ms(13), 4),
        (ms(15), 5),
    ];
    let cfg = Batch::size(2).max_wait(ms(10)).timer(TimerMode::FixedTicks);
    (items, ms(17), cfg)
}

fn adapter(case: (Vec<(Duration, u64)>, Duration, Batch)) -> (Vec<Vec<u64>>, BatchStats) {
    let (items, end, cfg) = case;
    let clock = ManualClock::new();
    let mut batches = batch(timed(&clock, items, end), cfg, clock.clone()).unwrap();
    assert_eq!(batches.stats(), BatchStats::default());
    let out = clock.block_on(async {
        let mut out = Vec::new();
        while let Some(b) = batches.next().await {
            out.push(b);
        }
        out
    });
    (out, batches.stats())
}

fn hand_back(case: (Vec<(Duration, u64)>, Duration, Batch)) -> (Vec<Vec<u64>>, BatchStats) {
    let (items, end, cfg) = case;
    let clock = ManualClock::new();
    let mut batches = batch_hand_back(timed(&clock, items, end), cfg, clock.clone()).unwrap();
    let out = clock.block_on(async {
        let mut out = Vec::new();
        while let Some(loan) = batches.next().await {
            out.push(loan.to_vec()); // the loan is handed back here
        }
        out
    });
    (out, batches.stats())
}

fn in_pipeline(case: (Vec<(Duration, u64)>, Duration, Batch)) -> (Vec<Vec<u64>>, BatchStats) {
    let (items, end, cfg) = case;
    let clock = ManualClock::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let summary = clock.block_on(
        Pipeline::<_, std::convert::Infallible>::source(timed(&clock, items, end))
            .batch(cfg, clock.clone())
            .sink(move |b: Vec<u64>| {
                log.lock().unwrap().push(b);
                async {}
            })
            .unwrap()
            .run(CancelToken::new()),
    );
    let stage = &summary.stages[1];
    assert_eq!(stage.closed.total(), stage.batches);
    // Stages that do not batch count nothing.
    assert_eq!(summary.stages[0].closed, BatchStats::default());
    assert_eq!(summary.stages[2].closed, BatchStats::default());
    let out = seen.lock().unwrap().clone();
    (out, stage.closed)
}

#[test]
fn from_first_item_counts_size_timer_and_end() {
    let want = vec![vec![0, 1], vec![2], vec![3]];
    for run in [adapter, hand_back, in_pipeline] {
        let (out, closed) = run(from_first_item());
        assert_eq!(out, want);
        assert_eq!(closed, stats(1, 1, 1));
        assert_eq!(closed.total(), 3);
    }
}

#[test]
fn fixed_ticks_count_size_timer_and_end() {
    let want = vec![vec![0, 1], vec![2], vec![3, 4], vec![5]];
    for run in [adapter, hand_back, in_pipeline] {
        let (out, closed) = run(fixed_ticks());
        assert_eq!(out, want);
        assert_eq!(closed, stats(2, 1, 1));
    }
}

#[test]
fn an_input_that_ends_on_a_full_batch_has_nothing_at_end() {
    for timer in [TimerMode::FromFirstItem, TimerMode::FixedTicks] {
        let cfg = Batch::size(2).max_wait(ms(10)).timer(timer);
        let items = vec![(ms(0), 0), (ms(0), 1), (ms(1), 2), (ms(1), 3)];
        let (out, closed) = adapter((items, ms(2), cfg));
        assert_eq!(out, [vec![0, 1], vec![2, 3]]);
        assert_eq!(closed, stats(2, 0, 0), "{timer:?}");
    }
}

/// A graceful cancel ends the input: the partial batch is closed at the
/// end. An abort closes no batch (its items are discarded).
#[test]
fn cancel_closes_at_end_and_abort_closes_nothing() {
    for (abort, timer) in [
        (false, TimerMode::FromFirstItem),
        (false, TimerMode::FixedTicks),
        (true, TimerMode::FromFirstItem),
        (true, TimerMode::FixedTicks),
    ] {
        let clock = ManualClock::new();
        let input = timed(&clock, vec![(ms(0), 0u64), (ms(1), 1), (ms(2), 2)], ms(100));
        let token = CancelToken::new();
        let cfg = Batch::size(10).max_wait(ms(50)).timer(timer);
        let runnable = Pipeline::<_, std::convert::Infallible>::source(input)
            .batch(cfg, clock.clone())
            .sink(|_b: Vec<u64>| async {})
            .unwrap();
        let stopper = {
            let token = token.clone();
            let clock = clock.clone();
            async move {
                clock.sleep(ms(5)).await;
                if abort { token.abort() } else { token.cancel() }
            }
        };
        let (summary, ()) = clock.block_on(futures_lite::future::zip(runnable.run(token), stopper));
        assert!(summary.is_balanced());
        let closed = summary.stages[1].closed;
        if abort {
            assert_eq!(summary.outcome, Outcome::Aborted);
            assert_eq!(closed, BatchStats::default(), "{timer:?}");
            assert_eq!(summary.discarded, 3);
        } else {
            assert_eq!(summary.outcome, Outcome::Cancelled);
            assert_eq!(closed, stats(0, 0, 1), "{timer:?}");
            assert_eq!(summary.delivered, 3);
        }
    }
}
