//! A cancel or an abort is seen over an endless, always-ready source for
//! every kind of stage before or after a batch stage, and for every kind
//! of batch: the run returns to its executor (bounded here: the source
//! fails the test if it yields too many items within one poll of the run,
//! and the run may be polled only so often), then ends with the right
//! outcome and balanced counts.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_lite::StreamExt as _;
use sluicegate_pipeline::{Batch, CancelToken, Order, Outcome, Pipeline, Summary, TimerMode};
use sluicegate_rt::ManualClock;
use support::{LocalPool, ms};

#[derive(Debug)]
struct Bad;

/// The item at which a stage cancels or aborts the run.
const STOP_AT: u64 = 10_000;
/// Items a source may yield within one poll of the run: above its yield
/// budget (4,096), far below "never returns".
const MAX_PER_POLL: u64 = 50_000;

/// `0..` for ever, failing if the run future did not return within
/// `MAX_PER_POLL` items (`since` is reset by [`Bounded`]).
fn endless(since: Arc<AtomicU64>) -> impl futures_core::Stream<Item = u64> + Send + Unpin {
    futures_lite::stream::iter(0u64..).map(move |x| {
        let n = since.fetch_add(1, Ordering::Relaxed);
        assert!(n < MAX_PER_POLL, "the run did not return to its executor");
        x
    })
}

/// Polls the run at most a bounded number of times, resetting the
/// source's per-poll count after each poll.
struct Bounded<F> {
    run: Pin<Box<F>>,
    polls: u64,
    since: Arc<AtomicU64>,
}

impl<F: Future> Future for Bounded<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls += 1;
        assert!(self.polls < 10_000, "the run did not end");
        let out = self.run.as_mut().poll(cx);
        self.since.store(0, Ordering::Relaxed);
        out
    }
}

fn stop(token: &CancelToken, abort: bool) {
    if abort {
        token.abort();
    } else {
        token.cancel();
    }
}

fn check(s: &Summary, abort: bool, what: &str) {
    let want = if abort {
        Outcome::Aborted
    } else {
        Outcome::Cancelled
    };
    assert_eq!(s.outcome, want, "{what}: {s}");
    assert!(s.produced >= STOP_AT, "{what}: {s}");
    assert!(s.is_balanced(), "{what}: {s}");
    for stage in &s.stages {
        let out = stage.output + stage.errors + stage.filtered + stage.discarded;
        assert_eq!(stage.input, out, "{what}: {stage:?}");
    }
    if !abort {
        assert_eq!(s.discarded, 0, "{what}: a cancel drains: {s}");
    }
}

/// Builds a runnable with `$build` (given the token clone `$stop`, the
/// clock, the executor and the source) and runs it to its end.
macro_rules! run {
    ($what:expr, $abort:expr, |$token:ident, $clock:ident, $pool:ident, $src:ident| $build:expr) => {{
        let $clock = ManualClock::new();
        let $pool = LocalPool::new();
        let token = CancelToken::new();
        let $token = token.clone();
        let since = Arc::new(AtomicU64::new(0));
        let $src = endless(Arc::clone(&since));
        let runnable = $build;
        let run = Bounded {
            run: Box::pin(runnable.run(token)),
            polls: 0,
            since,
        };
        check(&$pool.block_on(&$clock, run), $abort, $what);
    }};
}

#[test]
fn every_stage_kind_sees_a_cancel_or_an_abort_over_an_endless_ready_source() {
    let batches = [
        Batch::size(1),
        Batch::size(64),
        Batch::size(100_000),
        Batch::time(ms(5)),
        Batch::size(50).max_wait(ms(5)).timer(TimerMode::FixedTicks),
    ];
    for abort in [false, true] {
        for cfg in batches {
            let what = |kind: &str| format!("{kind}, abort {abort}, {cfg:?}");
            run!(&what("map_sync"), abort, |t, clock, pool, src| {
                Pipeline::<_, Bad>::source(src)
                    .map_sync(move |x| {
                        if x == STOP_AT {
                            stop(&t, abort);
                        }
                        x
                    })
                    .batch(cfg, clock.clone())
                    .sink(|_b: Vec<u64>| async {})
                    .unwrap()
            });
            run!(&what("map"), abort, |t, clock, pool, src| {
                Pipeline::<_, Bad>::source(src)
                    .map(move |x| {
                        if x == STOP_AT {
                            stop(&t, abort);
                        }
                        async move { x }
                    })
                    .batch(cfg, clock.clone())
                    .sink(|_b: Vec<u64>| async {})
                    .unwrap()
            });
            run!(
                &what("try_map failing half"),
                abort,
                |t, clock, pool, src| {
                    Pipeline::<_, Bad>::source(src)
                        .try_map(move |x| {
                            if x == STOP_AT {
                                stop(&t, abort);
                            }
                            async move { if x % 2 == 0 { Err(Bad) } else { Ok(x) } }
                        })
                        .batch(cfg, clock.clone())
                        .sink(|_b: Vec<u64>| async {})
                        .unwrap()
                }
            );
            run!(
                &what("try_map_sync failing all"),
                abort,
                |t, clock, pool, src| {
                    Pipeline::<_, Bad>::source(src)
                        .try_map_sync(move |x| {
                            if x == STOP_AT {
                                stop(&t, abort);
                            }
                            Err::<u64, _>(Bad)
                        })
                        .batch(cfg, clock.clone())
                        .sink(|_b: Vec<u64>| async {})
                        .unwrap()
                }
            );
            run!(
                &what("filter rejecting all"),
                abort,
                |t, clock, pool, src| {
                    Pipeline::<_, Bad>::source(src)
                        .filter(move |x: &u64| {
                            if *x == STOP_AT {
                                stop(&t, abort);
                            }
                            async { false }
                        })
                        .batch(cfg, clock.clone())
                        .sink(|_b: Vec<u64>| async {})
                        .unwrap()
                }
            );
            run!(&what("buffer"), abort, |t, clock, pool, src| {
                Pipeline::<_, Bad>::source(src)
                    .map_sync(move |x| {
                        if x == STOP_AT {
                            stop(&t, abort);
                        }
                        x
                    })
                    .buffer(16)
                    .filter_sync(|x| x % 3 != 0)
                    .batch(cfg, clock.clone())
                    .sink(|_b: Vec<u64>| async {})
                    .unwrap()
            });
            run!(&what("parallel before"), abort, |t, clock, pool, src| {
                Pipeline::<_, Bad>::source(src)
                    .map_sync(move |x| {
                        if x == STOP_AT {
                            stop(&t, abort);
                        }
                        x
                    })
                    .parallel(3, Order::Input, pool.spawner(), |x| async move { x })
                    .filter_sync(|x| x % 3 != 0)
                    .batch(cfg, clock.clone())
                    .sink(|_b: Vec<u64>| async {})
                    .unwrap()
            });
            run!(&what("parallel after"), abort, |t, clock, pool, src| {
                Pipeline::<_, Bad>::source(src)
                    .map_sync(move |x| {
                        if x == STOP_AT {
                            stop(&t, abort);
                        }
                        x
                    })
                    .batch(cfg, clock.clone())
                    .parallel(
                        3,
                        Order::Completion,
                        pool.spawner(),
                        |b: Vec<u64>| async move { b },
                    )
                    .sink(|_b: Vec<u64>| async {})
                    .unwrap()
            });
            run!(&what("batch of batches"), abort, |t, clock, pool, src| {
                Pipeline::<_, Bad>::source(src)
                    .map_sync(move |x| {
                        if x == STOP_AT {
                            stop(&t, abort);
                        }
                        x
                    })
                    .batch(Batch::size(3), clock.clone())
                    .filter_sync(|b: &Vec<u64>| b[0] % 2 == 0)
                    .batch(cfg, clock.clone())
                    .sink(|_b: Vec<Vec<u64>>| async {})
                    .unwrap()
            });
            run!(&what("hand-back"), abort, |t, clock, pool, src| {
                Pipeline::<_, Bad>::source(src)
                    .map_sync(move |x| {
                        if x == STOP_AT {
                            stop(&t, abort);
                        }
                        x
                    })
                    .batch_hand_back(cfg, clock.clone())
                    .sink(|_b| async {})
                    .unwrap()
            });
        }
    }
}
