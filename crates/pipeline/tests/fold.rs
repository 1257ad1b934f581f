//! A batch stage pulls runs of ready elements from the fused stages before
//! it in one call (a fold), with counts kept in locals and written once
//! per call. These tests hold that path to the same accounting as the
//! element-by-element one: exact per-stage counts with panics, failures
//! and rejections inside a run; an async map whose futures sometimes wait;
//! fail-fast, cancel and abort seen while the source is always ready.

mod support;

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sluicegate_pipeline::{
    Batch, CancelToken, ErrorPolicy, Outcome, Pipeline, StageStats, Summary,
};
use sluicegate_rt::ManualClock;
use support::recorded;

#[derive(Debug, PartialEq)]
struct Bad(u64);

fn stage_balanced(s: &StageStats) -> bool {
    s.input == s.output + s.errors + s.filtered + s.discarded
}

fn assert_balanced(s: &Summary) {
    assert!(s.is_balanced(), "{s}");
    for stage in &s.stages {
        assert!(stage_balanced(stage), "{stage:?}");
    }
}

/// Pending once (waking itself), then ready with `value`.
struct YieldOnce<T> {
    value: Option<T>,
    yielded: bool,
}

impl<T: Unpin> Future for YieldOnce<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.value.take().expect("polled after done"))
    }
}

#[test]
fn panics_failures_and_rejections_inside_a_run_are_counted_exactly() {
    const N: u64 = 1_000;
    let clock = ManualClock::new();
    let out = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&out);
    let runnable = Pipeline::<_, Bad>::source(futures_lite::stream::iter(0..N))
        .map_sync(|x| {
            assert!(x % 100 != 7, "map broke on {x}");
            x
        })
        .try_map_sync(|x| if x % 10 == 3 { Err(Bad(x)) } else { Ok(x) })
        .filter_sync(|x| x % 2 == 0)
        .batch(Batch::size(64), clock.clone())
        .sink(move |batch: Vec<u64>| {
            log.lock().unwrap().extend(batch);
            async {}
        })
        .unwrap();
    let errors = runnable.errors();
    let s = clock.block_on(runnable.run(CancelToken::new()));

    let panicked = (0..N).filter(|x| x % 100 == 7).count() as u64; // 10
    let failed = (0..N).filter(|x| x % 100 != 7 && x % 10 == 3).count() as u64; // 100
    let kept: Vec<u64> = (0..N)
        .filter(|x| x % 100 != 7 && x % 10 != 3 && x % 2 == 0)
        .collect();
    let rejected = N - panicked - failed - kept.len() as u64;
    assert_eq!(*out.lock().unwrap(), kept, "in order, nothing lost");
    assert_eq!(s.outcome, Outcome::Completed);
    assert_eq!(
        (s.produced, s.delivered, s.failed, s.filtered, s.discarded),
        (N, kept.len() as u64, panicked + failed, rejected, 0)
    );
    assert_eq!(errors.drain().len() as u64, panicked + failed);
    let map = &s.stages[1];
    assert_eq!(
        (map.input, map.output, map.errors),
        (N, N - panicked, panicked)
    );
    let try_map = &s.stages[2];
    assert_eq!(
        (try_map.input, try_map.output, try_map.errors),
        (N - panicked, N - panicked - failed, failed)
    );
    let filter = &s.stages[3];
    assert_eq!(
        (filter.input, filter.output, filter.filtered),
        (N - panicked - failed, kept.len() as u64, rejected)
    );
    let batch = &s.stages[4];
    assert_eq!(
        (batch.input, batch.output),
        (kept.len() as u64, kept.len() as u64)
    );
    assert_eq!(batch.batches, (kept.len() as u64).div_ceil(64));
    assert_balanced(&s);
}

#[test]
fn an_async_map_whose_futures_sometimes_wait_keeps_order_and_counts() {
    const N: u64 = 5_000;
    let clock = ManualClock::new();
    let out = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&out);
    let runnable = Pipeline::<_, Bad>::source(futures_lite::stream::iter(0..N))
        .map(|x| YieldOnce {
            value: Some(x * 3),
            yielded: x % 7 != 0, // most wait once, some are ready at once
        })
        .map(|x| async move {
            assert!(x != 300, "the async map broke");
            x
        })
        .batch(Batch::size(100), clock.clone())
        .sink(move |batch: Vec<u64>| {
            log.lock().unwrap().extend(batch);
            async {}
        })
        .unwrap();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    let want: Vec<u64> = (0..N).map(|x| x * 3).filter(|x| *x != 300).collect();
    assert_eq!(*out.lock().unwrap(), want);
    assert_eq!((s.produced, s.delivered, s.failed), (N, N - 1, 1));
    let waiting = &s.stages[1];
    assert_eq!((waiting.input, waiting.output, waiting.errors), (N, N, 0));
    let breaking = &s.stages[2];
    assert_eq!(
        (breaking.input, breaking.output, breaking.errors),
        (N, N - 1, 1)
    );
    assert_balanced(&s);
}

#[test]
fn async_failures_and_rejections_inside_a_run_are_counted_exactly() {
    const N: u64 = 2_000;
    let clock = ManualClock::new();
    let out = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&out);
    let runnable = Pipeline::<_, Bad>::source(futures_lite::stream::iter(0..N))
        .try_map(|x| YieldOnce {
            value: Some(if x % 10 == 3 { Err(Bad(x)) } else { Ok(x) }),
            yielded: x % 4 != 0,
        })
        .filter(|x: &u64| {
            let keep = x % 3 != 0;
            YieldOnce {
                value: Some(keep),
                yielded: x % 5 == 0,
            }
        })
        .batch(Batch::size(50), clock.clone())
        .sink(move |batch: Vec<u64>| {
            log.lock().unwrap().extend(batch);
            async {}
        })
        .unwrap();
    let errors = runnable.errors();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    let failed = (0..N).filter(|x| x % 10 == 3).count() as u64;
    let kept: Vec<u64> = (0..N).filter(|x| x % 10 != 3 && x % 3 != 0).collect();
    let rejected = N - failed - kept.len() as u64;
    assert_eq!(*out.lock().unwrap(), kept);
    assert_eq!(
        (s.produced, s.delivered, s.failed, s.filtered),
        (N, kept.len() as u64, failed, rejected)
    );
    assert_eq!(errors.drain().len() as u64, failed);
    let try_map = &s.stages[1];
    assert_eq!(
        (try_map.input, try_map.output, try_map.errors),
        (N, N - failed, failed)
    );
    let filter = &s.stages[2];
    assert_eq!(
        (filter.input, filter.output, filter.filtered),
        (N - failed, kept.len() as u64, rejected)
    );
    assert_balanced(&s);
}

#[test]
fn fail_fast_inside_a_run_stops_an_always_ready_source_at_once() {
    let clock = ManualClock::new();
    let runnable = Pipeline::<_, Bad>::source(futures_lite::stream::iter(0u64..))
        .try_map_sync(|x| if x == 10 { Err(Bad(x)) } else { Ok(x) })
        .batch(Batch::size(1024), clock.clone())
        .on_error(ErrorPolicy::FailFast)
        .sink(|_batch: Vec<u64>| async {})
        .unwrap();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    assert_eq!(s.outcome, Outcome::FailedFast);
    // The failing item ends the run of items: nothing after it is taken.
    assert_eq!((s.produced, s.failed, s.discarded), (11, 1, 10));
    assert_balanced(&s);
}

#[test]
fn a_cancel_or_abort_is_seen_while_an_always_ready_source_fills_batches() {
    for abort in [false, true] {
        for cfg in [
            Batch::size(64),
            Batch::size(1024),
            Batch::time(Duration::from_millis(5)),
        ] {
            let clock = ManualClock::new();
            let token = CancelToken::new();
            let stop = token.clone();
            let runnable = Pipeline::<_, Bad>::source(futures_lite::stream::iter(0u64..))
                .map_sync(move |x| {
                    if x == 10_000 {
                        if abort {
                            stop.abort();
                        } else {
                            stop.cancel();
                        }
                    }
                    x
                })
                .map(|x| async move { x })
                .batch(cfg, clock.clone())
                .sink(|_batch: Vec<u64>| async {})
                .unwrap();
            let s = clock.block_on(runnable.run(token));
            let want = if abort {
                Outcome::Aborted
            } else {
                Outcome::Cancelled
            };
            assert_eq!(s.outcome, want, "{cfg:?}");
            assert!(s.produced < 100_000, "{cfg:?}: {s}");
            if !abort {
                assert_eq!(s.delivered, s.produced, "{cfg:?}: a cancel drains");
            }
            assert_balanced(&s);
        }
    }
}

#[test]
fn a_time_batch_closes_on_time_over_an_always_ready_source_in_a_pipeline() {
    // In virtual time an input that never waits is infinitely fast, so the
    // test polls the run by hand and moves the clock.
    let clock = ManualClock::new();
    let (out, record) = recorded();
    let runnable = Pipeline::<_, Bad>::source(futures_lite::stream::iter(0u64..))
        .map_sync(|x| x + 1)
        .batch(Batch::time(Duration::from_millis(10)), clock.clone())
        .sink(move |batch: Vec<u64>| record(batch))
        .unwrap();
    let token = CancelToken::new();
    let mut run = pin!(runnable.run(token.clone()));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(run.as_mut().poll(&mut cx).is_pending(), "it yields");
    assert_eq!(clock.pending_sleeps(), 1, "the timer is armed");
    clock.advance(Duration::from_millis(10));
    for _ in 0..3 {
        assert!(run.as_mut().poll(&mut cx).is_pending());
    }
    let batches = std::mem::take(&mut *out.lock().unwrap());
    assert_eq!(batches.len(), 1, "the timer closed one batch");
    assert_eq!(batches[0][0], 1);
    assert!(batches[0].windows(2).all(|w| w[1] == w[0] + 1));
    token.cancel();
    let Poll::Ready(s) = run.as_mut().poll(&mut cx) else {
        panic!("a cancel ends the run");
    };
    assert_eq!(s.outcome, Outcome::Cancelled);
    assert_eq!(s.stages[2].closed.by_timer, 1);
    assert_eq!(s.delivered, s.produced);
    assert_balanced(&s);
}

#[test]
fn batches_of_batches_carry_their_weight() {
    // The outer batch stage takes elements that stand for several source
    // items each: its batches, and what it holds at an abort, count them.
    for abort_at in [None, Some(500u64)] {
        let clock = ManualClock::new();
        let token = CancelToken::new();
        let stop = token.clone();
        let mut seen = 0u64;
        let runnable = Pipeline::<_, Bad>::source(futures_lite::stream::iter(0..100_000u64))
            .batch(Batch::size(3), clock.clone())
            .batch(Batch::size(4), clock.clone())
            .sink(move |_outer: Vec<Vec<u64>>| {
                seen += 1;
                if Some(seen) == abort_at {
                    stop.abort();
                }
                async {}
            })
            .unwrap();
        let s = clock.block_on(runnable.run(token));
        assert_balanced(&s);
        match abort_at {
            None => {
                assert_eq!((s.produced, s.delivered), (100_000, 100_000));
                // 33 334 inner batches (the last of 1), 8 334 outer ones.
                assert_eq!(s.stages[1].batches, 33_334);
                assert_eq!(s.stages[2].batches, 8_334);
            }
            Some(_) => {
                assert_eq!(s.outcome, Outcome::Aborted);
                assert_eq!(s.delivered % 12, 0, "whole outer batches: {s}");
                assert!(s.produced < 100_000, "{s}");
                assert!(s.discarded > 0, "{s}");
                assert_eq!(s.produced, s.delivered + s.discarded, "{s}");
            }
        }
    }
}
