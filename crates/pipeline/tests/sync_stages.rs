//! The synchronous stages (`map_sync`, `try_map_sync`, `filter_sync`):
//! values, per-stage counters (some derived, see `StageStats`), errors
//! and panics on the error stream, abort accounting.

mod support;

use std::sync::{Arc, Mutex};

use sluicegate_pipeline::{Batch, CancelToken, Outcome, Pipeline, PipelineError};
use sluicegate_rt::ManualClock;
use support::{ms, timed};

#[derive(Debug, PartialEq)]
struct Odd(u64);

#[test]
fn sync_stages_map_filter_and_fail_like_the_async_ones() {
    let clock = ManualClock::new();
    let out = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&out);
    let runnable = Pipeline::<_, Odd>::source(futures_lite::stream::iter(0..10u64))
        .map_sync(|x| x + 1) // 1..=10
        .try_map_sync(|x| if x % 3 == 0 { Err(Odd(x)) } else { Ok(x) }) // drops 3, 6, 9
        .filter_sync(|x| *x != 10)
        .sink(move |x: u64| {
            log.lock().unwrap().push(x);
            async {}
        })
        .unwrap();
    let errors = runnable.errors();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    assert_eq!(*out.lock().unwrap(), [1, 2, 4, 5, 7, 8]);
    assert_eq!(
        (s.produced, s.delivered, s.failed, s.filtered, s.discarded),
        (10, 6, 3, 1, 0)
    );
    assert!(s.is_balanced());
    let failed: Vec<u64> = errors
        .drain()
        .into_iter()
        .map(|e| match e {
            PipelineError::Failed {
                stage,
                error: Odd(x),
                items: 1,
            } => {
                assert_eq!(stage.name.as_ref(), "try_map");
                x
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(failed, [3, 6, 9]);
    let io: Vec<_> = s
        .stages
        .iter()
        .map(|st| {
            (
                st.stage.name.to_string(),
                st.input,
                st.output,
                st.errors,
                st.filtered,
            )
        })
        .collect();
    assert_eq!(
        io,
        [
            ("source".to_string(), 10, 10, 0, 0),
            ("map".to_string(), 10, 10, 0, 0),
            ("try_map".to_string(), 10, 7, 3, 0),
            ("filter".to_string(), 7, 6, 0, 1),
            ("sink".to_string(), 6, 6, 0, 0),
        ]
    );
    assert!(
        s.stages
            .iter()
            .all(|st| st.in_flight() == 0 && st.busy.is_none())
    );
}

#[test]
fn a_panicking_sync_closure_fails_only_its_item() {
    let clock = ManualClock::new();
    let runnable = Pipeline::<_, Odd>::source(futures_lite::stream::iter(0..8u64))
        .map_sync(|x| {
            assert!(x != 1, "one is bad");
            x
        })
        .filter_sync(|x| {
            assert!(*x != 4, "four is bad");
            true
        })
        .try_map_sync(|x| {
            assert!(x != 6, "six is bad");
            Ok(x)
        })
        .sink(|_x: u64| async {})
        .unwrap();
    let errors = runnable.errors();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    assert_eq!((s.produced, s.delivered, s.failed), (8, 5, 3));
    assert!(s.is_balanced());
    let panics: Vec<(String, bool)> = errors
        .drain()
        .into_iter()
        .map(|e| match e {
            PipelineError::Panicked {
                stage,
                message,
                items: 1,
            } => (stage.name.to_string(), message.ends_with("is bad")),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        panics,
        [
            ("map".to_string(), true),
            ("filter".to_string(), true),
            ("try_map".to_string(), true)
        ]
    );
    // Derived outputs account for the panics.
    assert_eq!(
        (s.stages[1].input, s.stages[1].output, s.stages[1].errors),
        (8, 7, 1)
    );
    assert_eq!(
        (s.stages[2].input, s.stages[2].output, s.stages[2].errors),
        (7, 6, 1)
    );
    assert_eq!(
        (s.stages[3].input, s.stages[3].output, s.stages[3].errors),
        (6, 5, 1)
    );
}

#[test]
fn an_abort_after_sync_stages_counts_what_the_batch_held() {
    let clock = ManualClock::new();
    let input = timed(&clock, (0..6u64).map(|i| (ms(i), i)).collect(), ms(100));
    let token = CancelToken::new();
    let runnable = Pipeline::<_, Odd>::source(input)
        .map_sync(|x| x * 2)
        .filter_sync(|x| *x != 4)
        .batch(Batch::size(100).max_wait(ms(50)), clock.clone())
        .sink(|_b: Vec<u64>| async {})
        .unwrap();
    let stopper = {
        let token = token.clone();
        let clock = clock.clone();
        async move {
            clock.sleep(ms(10)).await;
            token.abort();
        }
    };
    let (s, ()) = clock.block_on(futures_lite::future::zip(runnable.run(token), stopper));
    assert_eq!(s.outcome, Outcome::Aborted);
    assert_eq!(
        (s.produced, s.filtered, s.discarded, s.delivered),
        (6, 1, 5, 0)
    );
    assert!(s.is_balanced());
    assert_eq!((s.stages[1].input, s.stages[1].output), (6, 6));
    assert_eq!((s.stages[3].input, s.stages[3].discarded), (5, 5));
}

#[test]
fn sync_stages_are_timed_when_the_pipeline_has_a_clock() {
    let clock = ManualClock::new();
    let s = clock.block_on(
        Pipeline::<_, Odd>::source(futures_lite::stream::iter(0..3u64))
            .map_sync(|x| x)
            .filter_sync(|_| true)
            .clock(clock.clone())
            .sink(|_x: u64| async {})
            .unwrap()
            .run(CancelToken::new()),
    );
    // No virtual time passes inside a closure: timed, and exactly zero.
    assert_eq!(s.stages[1].busy, Some(std::time::Duration::ZERO));
    assert_eq!(s.stages[2].busy, Some(std::time::Duration::ZERO));
    assert_eq!(s.delivered, 3);
}
