//! A panic that is not a stage function's (here: in the user's source
//! stream) unwinds out of the run future; the run is then dropped, which
//! counts like an abort. The totals and every stage's own identity
//! (`input == output + errors + filtered + discarded`) must still hold.

use std::panic::{AssertUnwindSafe, catch_unwind};

use futures_lite::StreamExt;
use sluicegate_pipeline::{Batch, CancelToken, Outcome, Pipeline, StageStats, Summary};
use sluicegate_rt::ManualClock;

/// `0..5`, panicking when it comes to 2 (items 0 and 1 are produced).
fn breaking_source() -> impl futures_core::Stream<Item = u64> + Send + Unpin {
    futures_lite::stream::iter(0..5u64).map(|x| {
        assert!(x != 2, "the source broke");
        x
    })
}

fn stage_balanced(s: &StageStats) -> bool {
    s.input == s.output + s.errors + s.filtered + s.discarded
}

fn run_and_unwind<F: std::future::Future>(clock: &ManualClock, run: F) {
    let unwound = catch_unwind(AssertUnwindSafe(|| clock.block_on(run)));
    assert!(
        unwound.is_err(),
        "the source's panic unwinds out of the run"
    );
}

fn check(summary: &Summary, held_by_batch: u64) {
    assert_eq!(summary.outcome, Outcome::Aborted);
    assert_eq!(summary.produced, 2);
    assert_eq!(summary.discarded, held_by_batch);
    assert!(summary.is_balanced(), "{summary}");
    for stage in &summary.stages {
        assert!(stage_balanced(stage), "{stage:?}");
    }
}

#[test]
fn a_batch_stage_counts_in_the_items_it_held_when_a_panic_unwound() {
    let clock = ManualClock::new();
    let runnable = Pipeline::<_, std::convert::Infallible>::source(breaking_source())
        .map_sync(|x| x * 10)
        .batch(Batch::size(10), clock.clone())
        .sink(|_b: Vec<u64>| async {})
        .unwrap();
    let monitor = runnable.monitor();
    run_and_unwind(&clock, runnable.run(CancelToken::new()));
    let summary = monitor.summary();
    check(&summary, 2);
    assert_eq!(summary.stages[2].input, 2);
    assert_eq!(summary.stages[2].discarded, 2);
}

#[test]
fn a_hand_back_batch_stage_counts_in_the_items_it_held_when_a_panic_unwound() {
    let clock = ManualClock::new();
    let runnable = Pipeline::<_, std::convert::Infallible>::source(breaking_source())
        .batch_hand_back(Batch::size(10), clock.clone())
        .sink(|_b| async {})
        .unwrap();
    let monitor = runnable.monitor();
    run_and_unwind(&clock, runnable.run(CancelToken::new()));
    check(&monitor.summary(), 2);
}

#[test]
fn sync_stages_a_buffer_and_an_async_stage_stay_balanced_when_a_panic_unwound() {
    let clock = ManualClock::new();
    let runnable = Pipeline::<_, std::convert::Infallible>::source(breaking_source())
        .filter_sync(|_x: &u64| true)
        .try_map_sync(|x| Ok(x + 1))
        .buffer(4)
        .map(|x| async move { x })
        .sink(|_x: u64| async {})
        .unwrap();
    let monitor = runnable.monitor();
    run_and_unwind(&clock, runnable.run(CancelToken::new()));
    let summary = monitor.summary();
    assert_eq!(summary.outcome, Outcome::Aborted);
    assert_eq!(summary.produced, 2);
    assert!(summary.is_balanced(), "{summary}");
    for stage in &summary.stages {
        assert!(stage_balanced(stage), "{stage:?}");
    }
}

#[test]
fn a_spawner_that_panics_leaves_the_item_it_was_given_counted() {
    let clock = ManualClock::new();
    let refusing = |_task: sluicegate_rt::BoxFuture| panic!("no executor here");
    let runnable =
        Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(0..5u64))
            .parallel(
                2,
                sluicegate_pipeline::Order::Input,
                refusing,
                |x| async move { x },
            )
            .sink(|_x: u64| async {})
            .unwrap();
    let monitor = runnable.monitor();
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        clock.block_on(runnable.run(CancelToken::new()))
    }));
    assert!(unwound.is_err());
    let summary = monitor.summary();
    assert_eq!(summary.produced, 1);
    assert_eq!(summary.discarded, 1, "{summary}");
    assert!(summary.is_balanced(), "{summary}");
    for stage in &summary.stages {
        assert!(stage_balanced(stage), "{stage:?}");
    }
}
