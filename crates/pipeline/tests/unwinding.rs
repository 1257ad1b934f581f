//! A panic that is not a stage function's (here: in the user's source
//! stream) unwinds out of the run future; the run is then dropped, which
//! counts like an abort. The totals and every stage's own identity
//! (`input == output + errors + filtered + discarded`) must still hold.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use futures_lite::StreamExt;
use sluicegate_pipeline::{Batch, CancelToken, Outcome, Pipeline, Runnable, StageStats, Summary};
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
    assert!(unwound.is_err(), "the panic unwinds out of the run");
}

/// Runs `runnable` until a panic unwinds out of it, then returns the
/// summary its monitor saw.
fn unwound_summary<D, K, E>(clock: &ManualClock, runnable: Runnable<D, K, E>) -> Summary
where
    D: std::future::Future<Output = ()>,
    K: std::future::Future<Output = ()>,
{
    let monitor = runnable.monitor();
    run_and_unwind(clock, runnable.run(CancelToken::new()));
    monitor.summary()
}

/// The totals and every stage's own identity hold.
fn assert_balanced(summary: &Summary) {
    assert!(summary.is_balanced(), "{summary}");
    for stage in &summary.stages {
        assert!(stage_balanced(stage), "{stage:?}");
    }
}

fn check(summary: &Summary, held_by_batch: u64) {
    assert_eq!(summary.outcome, Outcome::Aborted);
    assert_eq!(summary.produced, 2);
    assert_eq!(summary.discarded, held_by_batch);
    assert_balanced(summary);
}

#[test]
fn a_batch_stage_counts_in_the_items_it_held_when_a_panic_unwound() {
    let clock = ManualClock::new();
    let runnable = Pipeline::<_, std::convert::Infallible>::source(breaking_source())
        .map_sync(|x| x * 10)
        .batch(Batch::size(10), clock.clone())
        .sink(|_b: Vec<u64>| async {})
        .unwrap();
    let summary = unwound_summary(&clock, runnable);
    check(&summary, 2);
    assert_eq!(summary.stages[2].input, 2);
    assert_eq!(summary.stages[2].discarded, 2);
}

#[test]
fn a_batch_stage_after_an_async_step_counts_in_the_items_it_held_when_a_panic_unwound() {
    // An async step before a batch stage: the batch stage pulls its runs
    // through its out-of-line loop, filling its buffer as a local that is
    // put back while the panic unwinds.
    let clock = ManualClock::new();
    let runnable = Pipeline::<_, std::convert::Infallible>::source(breaking_source())
        .map(|x| async move { x * 10 })
        .batch(Batch::size(10), clock.clone())
        .sink(|_b: Vec<u64>| async {})
        .unwrap();
    let summary = unwound_summary(&clock, runnable);
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
    check(&unwound_summary(&clock, runnable), 2);
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
    let summary = unwound_summary(&clock, runnable);
    assert_eq!(summary.outcome, Outcome::Aborted);
    assert_eq!(summary.produced, 2);
    assert_balanced(&summary);
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
    let summary = unwound_summary(&clock, runnable);
    assert_eq!(summary.produced, 1);
    assert_eq!(summary.discarded, 1, "{summary}");
    assert_balanced(&summary);
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
    let summary = unwound_summary(&clock, runnable);
    assert_eq!(summary.outcome, Outcome::Aborted);
    assert_eq!((summary.produced, summary.discarded), (4, 4), "{summary}");
    assert_balanced(&summary);
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
    let summary = unwound_summary(&clock, runnable);
    assert_eq!(summary.outcome, Outcome::Aborted);
    assert_eq!(summary.produced, 4, "{summary}");
    assert_balanced(&summary);
}

/// A user clock whose `now()` panics from its `ok`-th call on.
struct BrokenClock {
    clock: ManualClock,
    calls: std::sync::atomic::AtomicU64,
    ok: u64,
}

impl sluicegate_rt::Clock for BrokenClock {
    fn now(&self) -> std::time::Instant {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert!(n < self.ok, "the clock broke");
        self.clock.now()
    }
}

#[test]
fn a_clock_that_panics_is_reported_and_leaves_the_run_balanced() {
    use sluicegate_pipeline::{ErrorPolicy, PipelineError};
    // The clock breaks at its first call, or in the middle of the run.
    for ok in [0, 7] {
        for policy in [ErrorPolicy::Collect, ErrorPolicy::FailFast] {
            let clock = ManualClock::new();
            let runnable = Pipeline::<_, std::convert::Infallible>::source(
                futures_lite::stream::iter(0..50u64),
            )
            .map_sync(|x| x + 1)
            .map(|x| async move { x })
            .buffer(4)
            .filter_sync(|x: &u64| x % 5 != 0)
            .batch(Batch::size(4), clock.clone())
            .clock(BrokenClock {
                clock: clock.clone(),
                calls: Default::default(),
                ok,
            })
            .on_error(policy)
            .sink(|_b: Vec<u64>| async {})
            .unwrap();
            let errors = runnable.errors();
            let caught = catch_unwind(AssertUnwindSafe(|| {
                clock.block_on(runnable.run(CancelToken::new()))
            }));
            let summary = caught.expect("a clock's panic does not unwind out of the run");
            let what = format!("ok {ok}, {policy:?}: {summary}");
            assert!(summary.is_balanced(), "{what}");
            for stage in &summary.stages {
                assert!(stage_balanced(stage), "{what}: {stage:?}");
            }
            let errors = errors.drain();
            assert_eq!(errors.len(), 1, "{what}: reported once");
            assert!(
                matches!(&errors[0], PipelineError::ClockPanicked { message, .. } if message.contains("the clock broke")),
                "{what}: {:?}",
                errors[0]
            );
            assert_eq!(errors[0].items(), 0, "no item is lost to it");
            assert_eq!(summary.errors, 1);
            assert_eq!(summary.failed, 0);
            match policy {
                ErrorPolicy::FailFast => assert_eq!(summary.outcome, Outcome::FailedFast, "{what}"),
                _ => {
                    assert_eq!(summary.outcome, Outcome::Completed, "{what}");
                    assert_eq!(summary.delivered + summary.filtered, 50, "{what}");
                }
            }
        }
    }
}

#[test]
fn a_clock_that_panics_at_any_call_leaves_every_stage_balanced() {
    use sluicegate_pipeline::{ErrorPolicy, Loan, Order, PipelineError};
    use std::sync::atomic::Ordering::SeqCst;
    use support::{LocalPool, ms, timed};
    // Every stage kind that reads the clock (sync and async steps, two
    // buffers, an async filter, a parallel step's workers, a hand-back and
    // a plain batch stage with timers): the clock breaks at its first
    // call, its second, ..., one past its last.
    let mut ok = 0;
    loop {
        let mut most = 0;
        for policy in [ErrorPolicy::Collect, ErrorPolicy::FailFast] {
            let clock = ManualClock::new();
            let pool = LocalPool::new();
            let broken = BrokenClock {
                clock: clock.clone(),
                calls: Default::default(),
                ok,
            };
            let calls = std::sync::Arc::new(broken);
            let input = timed(&clock, (0..40u64).map(|i| (ms(i / 4), i)).collect(), ms(20));
            let runnable = Pipeline::<_, std::convert::Infallible>::source(input)
                .map_sync(|x| x + 1)
                .map(|x| async move { x })
                .buffer(3)
                .filter(|x: &u64| {
                    let keep = *x % 7 != 0;
                    async move { keep }
                })
                .parallel(2, Order::Input, pool.spawner(), |x| async move { x })
                .batch_hand_back(Batch::size(3).max_wait(ms(2)), clock.clone())
                .map_sync(Loan::into_vec)
                .buffer(2)
                .batch(Batch::size(2).max_wait(ms(3)), clock.clone())
                .clock(SharedClock(std::sync::Arc::clone(&calls)))
                .on_error(policy)
                .sink(|_b: Vec<Vec<u64>>| async {})
                .unwrap();
            let errors = runnable.errors();
            let caught = catch_unwind(AssertUnwindSafe(|| {
                pool.block_on(&clock, runnable.run(CancelToken::new()))
            }));
            let summary = caught.expect("a clock's panic does not unwind out of the run");
            let what = format!("ok {ok}, {policy:?}: {summary}");
            assert!(summary.is_balanced(), "{what}");
            for stage in &summary.stages {
                assert!(stage_balanced(stage), "{what}: {stage:?}");
            }
            let errors = errors.drain();
            let calls = calls.calls.load(SeqCst);
            most = most.max(calls);
            if calls > ok {
                assert_eq!(errors.len(), 1, "{what}: reported once");
                assert!(
                    matches!(&errors[0], PipelineError::ClockPanicked { .. }),
                    "{what}"
                );
                assert_eq!(summary.errors, 1, "{what}");
            } else {
                assert!(errors.is_empty(), "{what}");
            }
            match policy {
                ErrorPolicy::FailFast if calls > ok => {
                    assert_eq!(summary.outcome, Outcome::FailedFast, "{what}");
                }
                _ => {
                    assert_eq!(summary.outcome, Outcome::Completed, "{what}");
                    assert_eq!(summary.delivered + summary.filtered, 40, "{what}");
                }
            }
        }
        if ok > most {
            break;
        }
        ok += 1;
    }
    assert!(ok > 100, "the clock was read {ok} times");
}

/// A shared [`BrokenClock`] (to read its call count after the run).
struct SharedClock(std::sync::Arc<BrokenClock>);

impl sluicegate_rt::Clock for SharedClock {
    fn now(&self) -> std::time::Instant {
        self.0.now()
    }
}

#[test]
fn a_buffer_blocked_across_a_clock_panic_counts_the_clocks_time_only() {
    use support::ms;
    // A clock a minute behind the system clock (any clock is): once it
    // broke, a blocked time that spans the panic must end at its last
    // reading, not at the system clock's "now" (a minute too long).
    for ok in 0..40 {
        let origin = std::time::Instant::now();
        let origin = origin
            .checked_sub(std::time::Duration::from_secs(60))
            .unwrap_or(origin);
        let clock = ManualClock::starting_at(origin);
        let sleeper = clock.clone();
        let runnable =
            Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(0..10u64))
                .buffer(1)
                .map(move |x| {
                    let wait = sluicegate_rt::Sleeper::sleep(&sleeper, ms(1));
                    async move {
                        wait.await;
                        x
                    }
                })
                .clock(BrokenClock {
                    clock: clock.clone(),
                    calls: Default::default(),
                    ok,
                })
                .sink(|_x: u64| async {})
                .unwrap();
        let s = clock.block_on(runnable.run(CancelToken::new()));
        assert_eq!(s.delivered, 10);
        let blocked = s.buffers[0].queue.blocked;
        assert!(
            blocked <= clock.elapsed(),
            "ok {ok}: blocked {blocked:?}, {:?} passed",
            clock.elapsed()
        );
    }
}
