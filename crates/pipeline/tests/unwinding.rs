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

/// Ready at once with its value; its destructor panics if `armed`.
struct DropBomb {
    value: u64,
    armed: bool,
}

impl std::future::Future for DropBomb {
    type Output = u64;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u64> {
        std::task::Poll::Ready(self.value)
    }
}

impl Drop for DropBomb {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
            panic!("the future's destructor broke");
        }
    }
}

/// An item whose destructor panics if `armed`.
struct Bomb {
    value: u64,
    armed: bool,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
            panic!("the item's destructor broke");
        }
    }
}

#[test]
fn an_async_step_counts_the_element_in_hand_when_a_destructor_unwinds_in_a_run() {
    // A batch stage pulls a run of items through the async step (a fold),
    // which does not hold them in its context: a panic outside the guarded
    // function (the finished future's destructor) must not lose the item
    // the step was working on. Items 0..2 are in the batch; item 3 is in
    // the async step's hand.
    let clock = ManualClock::new();
    let runnable =
        Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(0..10u64))
            .map(|x| DropBomb {
                value: x,
                armed: x == 3,
            })
            .batch(Batch::size(8), clock.clone())
            .sink(|_b: Vec<u64>| async {})
            .unwrap();
    let monitor = runnable.monitor();
    run_and_unwind(&clock, runnable.run(CancelToken::new()));
    let summary = monitor.summary();
    assert_eq!(summary.outcome, Outcome::Aborted);
    assert_eq!((summary.produced, summary.discarded), (4, 4), "{summary}");
    assert!(summary.is_balanced(), "{summary}");
    for stage in &summary.stages {
        assert!(stage_balanced(stage), "{stage:?}");
    }
    let map = &summary.stages[1];
    assert_eq!((map.input, map.output, map.discarded), (4, 3, 1));
}

#[test]
fn an_async_filter_counts_the_element_in_hand_when_its_destructor_unwinds_in_a_run() {
    // As above, the rejected element's own destructor.
    let clock = ManualClock::new();
    let runnable =
        Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(0..10u64))
            .map_sync(|x| Bomb {
                value: x,
                armed: x == 3,
            })
            .filter(|b: &Bomb| {
                let keep = b.value != 3;
                async move { keep }
            })
            .map_sync(|b: Bomb| b.value)
            .batch(Batch::size(8), clock.clone())
            .sink(|_b: Vec<u64>| async {})
            .unwrap();
    let monitor = runnable.monitor();
    run_and_unwind(&clock, runnable.run(CancelToken::new()));
    let summary = monitor.summary();
    assert_eq!(summary.outcome, Outcome::Aborted);
    assert_eq!(summary.produced, 4, "{summary}");
    assert!(summary.is_balanced(), "{summary}");
    for stage in &summary.stages {
        assert!(stage_balanced(stage), "{stage:?}");
    }
}
