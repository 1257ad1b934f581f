//! The pipeline end to end in virtual time: accounting under graceful
//! cancel and abort, both error policies, bounded buffers, per-stage stats,
//! generators.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::future::zip;
use sluicegate_pipeline::{
    Batch, CancelToken, ErrorPolicy, Outcome, Pipeline, PipelineError, Summary,
};
use sluicegate_rt::ManualClock;
use support::ms;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Odd(u64);

fn assert_balanced(s: &Summary) {
    assert_eq!(
        s.produced,
        s.delivered + s.failed + s.filtered + s.discarded,
        "produced = delivered + failed + filtered + discarded: {s:?}"
    );
    assert!(s.is_balanced());
    for stage in &s.stages {
        assert_eq!(
            stage.in_flight(),
            0,
            "stage still holds elements: {stage:?}"
        );
    }
}

/// A generator emitting one item per ms, a map, a filter, a buffer, a
/// batch and a slow sink; the token is cancelled (or aborted) at `stop_at`.
fn mid_stream(abort: bool, stop_at: u64) -> (Summary, Vec<u64>, Vec<Vec<u64>>) {
    let clock = ManualClock::new();
    let token = CancelToken::new();
    let handed_back = Arc::new(Mutex::new(Vec::new()));
    let written = Arc::new(Mutex::new(Vec::new()));
    let gen_clock = clock.clone();
    let back = Arc::clone(&handed_back);
    let sink_log = Arc::clone(&written);
    let sink_clock = clock.clone();
    let runnable = Pipeline::<_, Odd, _>::generator(4, move |out| async move {
        for i in 0.. {
            if let Err(e) = out.emit(i).await {
                back.lock().unwrap().push(e.into_inner());
                return;
            }
            gen_clock.sleep(ms(1)).await;
        }
    })
    .map(|x: u64| async move { x * 10 })
    .filter(|x: &u64| std::future::ready(x % 30 != 0))
    .buffer(3)
    .batch(Batch::size(5).max_wait(ms(4)), clock.clone())
    .sink(move |b: Vec<u64>| {
        let clock = sink_clock.clone();
        let log = Arc::clone(&sink_log);
        async move {
            clock.sleep(ms(7)).await; // slower than the source
            log.lock().unwrap().push(b);
        }
    })
    .unwrap();
    let stopper = {
        let token = token.clone();
        let clock = clock.clone();
        async move {
            clock.sleep(ms(stop_at)).await;
            if abort {
                token.abort();
            } else {
                token.cancel();
            }
        }
    };
    let (summary, ()) = clock.block_on(zip(runnable.run(token), stopper));
    let handed_back = handed_back.lock().unwrap().clone();
    let written = written.lock().unwrap().clone();
    (summary, handed_back, written)
}

#[test]
fn a_graceful_cancel_drains_everything_in_flight() {
    for stop_at in [1, 5, 13, 37, 60] {
        let (s, handed_back, written) = mid_stream(false, stop_at);
        assert_eq!(s.outcome, Outcome::Cancelled);
        assert_balanced(&s);
        assert_eq!(s.discarded, 0, "a graceful cancel drains");
        assert_eq!(s.failed, 0);
        assert!(s.produced > 0);
        // Every produced item was written or filtered; the items written
        // are exactly the produced ones that pass the filter, in order,
        // the last partial batch included.
        let flat: Vec<u64> = written.concat();
        let expected: Vec<u64> = (0..s.produced)
            .map(|x| x * 10)
            .filter(|x| x % 30 != 0)
            .collect();
        assert_eq!(flat, expected, "stop at {stop_at}");
        assert_eq!(s.delivered, flat.len() as u64);
        // The generator got the item it could not emit back.
        assert_eq!(handed_back, [s.produced]);
        assert!(written.iter().all(|b| !b.is_empty() && b.len() <= 5));
    }
}

#[test]
fn an_abort_stops_at_once_and_counts_what_it_dropped() {
    let mut saw_discards = false;
    for stop_at in [1, 5, 13, 37, 60] {
        let (s, _, written) = mid_stream(true, stop_at);
        assert_eq!(s.outcome, Outcome::Aborted);
        assert_balanced(&s);
        assert_eq!(s.delivered, written.concat().len() as u64);
        saw_discards |= s.discarded > 0;
    }
    assert!(
        saw_discards,
        "a slow sink leaves items in flight to discard"
    );
}

#[test]
fn dropping_the_run_future_counts_like_an_abort() {
    let clock = ManualClock::new();
    let runnable = Pipeline::<_, Odd>::source(futures_lite::stream::iter(0..100u64))
        .buffer(8)
        .sink({
            let clock = clock.clone();
            move |_x: u64| {
                let clock = clock.clone();
                async move { clock.sleep(ms(1)).await }
            }
        })
        .unwrap();
    let monitor = runnable.monitor();
    assert!(runnable.stats().iter().all(|st| st.input == 0));
    let mut run = Box::pin(runnable.run(CancelToken::new()));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(run.as_mut().poll(&mut cx).is_pending());
    assert_eq!(run.stats()[0].output, 8); // live, while it runs
    drop(run);
    let s = monitor.summary();
    assert_eq!(s.outcome, Outcome::Aborted);
    // The pump filled the buffer (8), then the sink took one: 7 queued,
    // 1 at the sink, all discarded and counted.
    assert_eq!(s.produced, 8);
    assert_eq!(s.discarded, 8);
    assert_eq!(s.stages[1].discarded, 1);
    assert_balanced(&s);
}

#[test]
fn collect_goes_on_and_the_error_stream_has_every_error() {
    let clock = ManualClock::new();
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&delivered);
    let runnable = Pipeline::source(futures_lite::stream::iter(0..20u64))
        .on_error(ErrorPolicy::Collect)
        .try_map(|x| async move { if x % 2 == 1 { Err(Odd(x)) } else { Ok(x) } })
        .named("evens")
        .buffer(2)
        .sink(move |x| {
            log.lock().unwrap().push(x);
            async {}
        })
        .unwrap();
    let errors = runnable.errors();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    assert_eq!(s.outcome, Outcome::Completed);
    assert_eq!(
        *delivered.lock().unwrap(),
        (0..20).step_by(2).collect::<Vec<_>>()
    );
    let errors = errors.drain();
    assert_eq!(errors.len(), 10);
    for (e, odd) in errors.iter().zip((1..20).step_by(2)) {
        match e {
            PipelineError::Failed {
                stage,
                error,
                items,
            } => {
                assert_eq!((stage.index, stage.name.as_ref()), (1, "evens"));
                assert_eq!((error, *items), (&Odd(odd), 1));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((s.delivered, s.failed, s.errors), (10, 10, 10));
    assert_eq!(s.stages[1].errors, 10);
    assert_balanced(&s);
    // The error stream ends with the run.
    assert!(clock.block_on(errors_end(&runnable_errors_after_run())));
}

fn runnable_errors_after_run() -> sluicegate_pipeline::Errors<Odd> {
    let clock = ManualClock::new();
    let runnable = Pipeline::source(futures_lite::stream::iter([1u64]))
        .try_map(|x| async move { Err::<u64, _>(Odd(x)) })
        .sink(|_x| async {})
        .unwrap();
    let errors = runnable.errors();
    let _ = clock.block_on(runnable.run(CancelToken::new()));
    errors
}

async fn errors_end(errors: &sluicegate_pipeline::Errors<Odd>) -> bool {
    errors.recv().await.is_some() && errors.recv().await.is_none()
}

#[test]
fn fail_fast_stops_everything_after_the_first_error() {
    let clock = ManualClock::new();
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&delivered);
    let pulled = Arc::new(Mutex::new(0u64));
    let count = Arc::clone(&pulled);
    let source = futures_lite::StreamExt::map(futures_lite::stream::iter(0..1000u64), move |x| {
        *count.lock().unwrap() += 1;
        x
    });
    let sink_clock = clock.clone();
    let runnable = Pipeline::source(source)
        .on_error(ErrorPolicy::FailFast)
        .try_map(|x| async move { if x == 7 { Err(Odd(x)) } else { Ok(x) } })
        .buffer(4)
        .batch(Batch::size(3), clock.clone())
        .sink(move |b: Vec<u64>| {
            let clock = sink_clock.clone();
            let log = Arc::clone(&log);
            async move {
                clock.sleep(ms(1)).await;
                log.lock().unwrap().extend(b);
            }
        })
        .unwrap();
    let errors = runnable.errors();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    assert_eq!(s.outcome, Outcome::FailedFast);
    assert_eq!(errors.drain().len(), 1, "one error, then nothing ran");
    assert_eq!(s.failed, 1);
    // The source stopped right after the failing item: nothing after 7 was
    // taken, and what was in flight was discarded, not delivered.
    assert_eq!(*pulled.lock().unwrap(), 8);
    assert_eq!(s.produced, 8);
    let delivered = delivered.lock().unwrap().clone();
    assert!(delivered.iter().all(|&x| x < 7));
    assert!(s.discarded > 0);
    assert_balanced(&s);
}

#[test]
fn a_slow_sink_holds_the_source_back_to_the_buffers() {
    const GEN_CAP: u64 = 2;
    const BUF: u64 = 5;
    let clock = ManualClock::new();
    let max_in_flight = Arc::new(Mutex::new(0u64));
    let runnable = Pipeline::<_, Odd, _>::generator(GEN_CAP as usize, |out| async move {
        for i in 0..200u64 {
            if out.emit(i).await.is_err() {
                return;
            }
        }
    })
    .buffer(BUF as usize)
    .sink({
        let clock = clock.clone();
        move |_x: u64| {
            let clock = clock.clone();
            async move { clock.sleep(ms(1)).await }
        }
    })
    .unwrap();
    let monitor = runnable.monitor();
    let watcher = {
        let monitor = monitor.clone();
        let clock = clock.clone();
        let max = Arc::clone(&max_in_flight);
        async move {
            for _ in 0..150 {
                let in_flight = monitor.summary().in_flight();
                {
                    let mut m = max.lock().unwrap();
                    *m = (*m).max(in_flight);
                }
                clock.sleep(Duration::from_micros(500)).await;
            }
        }
    };
    let (s, ()) = clock.block_on(zip(runnable.run(CancelToken::new()), watcher));
    assert_eq!((s.produced, s.delivered), (200, 200));
    // In flight at most: the generator's queue, the buffer, one at the sink.
    let max = *max_in_flight.lock().unwrap();
    assert!(max <= GEN_CAP + BUF + 1, "max in flight {max}");
    assert!(max >= BUF, "the buffer did fill: {max}");
    let buffer = &s.buffers[0];
    assert_eq!(buffer.queue.capacity, BUF as usize);
    assert_eq!(buffer.queue.high_watermark, BUF as usize);
    assert!(buffer.queue.full_events > 0);
    assert_eq!(buffer.after.name.as_ref(), "generator");
    // 200 items at 1 ms each, one at a time: the sink set the pace.
    assert_eq!(clock.elapsed(), ms(200));
}

#[test]
fn stats_per_stage_count_and_time_each_stage() {
    let clock = ManualClock::new();
    let map_clock = clock.clone();
    let sink_clock = clock.clone();
    let s = clock.block_on(
        Pipeline::<_, Odd>::source(futures_lite::stream::iter(0..10u64))
            .clock(clock.clone())
            .map(move |x| {
                let clock = map_clock.clone();
                async move {
                    clock.sleep(ms(2)).await;
                    x
                }
            })
            .filter(|x: &u64| std::future::ready(x % 2 == 0))
            .named("evens")
            .sink(move |_x| {
                let clock = sink_clock.clone();
                async move { clock.sleep(ms(1)).await }
            })
            .unwrap()
            .run(CancelToken::new()),
    );
    let names: Vec<&str> = s.stages.iter().map(|st| st.stage.name.as_ref()).collect();
    assert_eq!(names, ["source", "map", "evens", "sink"]);
    let counts: Vec<_> = s
        .stages
        .iter()
        .map(|st| (st.input, st.output, st.errors, st.filtered, st.discarded))
        .collect();
    assert_eq!(
        counts,
        [
            (10, 10, 0, 0, 0),
            (10, 10, 0, 0, 0),
            (10, 5, 0, 5, 0),
            (5, 5, 0, 0, 0)
        ]
    );
    assert_eq!(s.stages[1].busy, Some(ms(20)));
    assert_eq!(s.stages[2].busy, Some(Duration::ZERO));
    assert_eq!(s.stages[3].busy, Some(ms(5)));
    assert_eq!((s.produced, s.delivered, s.filtered), (10, 5, 5));
    assert_eq!(clock.elapsed(), ms(25));
    assert_balanced(&s);
}

#[test]
fn busy_time_is_off_without_a_clock() {
    let s = sluicegate_rt::block_on(
        Pipeline::<_, Odd>::source(futures_lite::stream::iter(0..3u64))
            .map(|x| async move { x })
            .sink(|_x| async {})
            .unwrap()
            .run(CancelToken::new()),
    );
    assert!(s.stages.iter().all(|st| st.busy.is_none()));
    assert_eq!(s.delivered, 3);
}

#[test]
fn a_failing_sink_fails_every_item_of_its_batch() {
    let clock = ManualClock::new();
    let runnable = Pipeline::source(futures_lite::stream::iter(0..10u64))
        .batch(Batch::size(4), clock.clone())
        .try_sink(|b: Vec<u64>| async move { if b.contains(&5) { Err(Odd(5)) } else { Ok(()) } })
        .unwrap();
    let errors = runnable.errors();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    assert_eq!((s.delivered, s.failed), (6, 4));
    let errors = errors.drain();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].items(), 4);
    assert_eq!(errors[0].stage().name.as_ref(), "sink");
    assert_balanced(&s);
}

#[test]
fn a_panicking_stage_function_fails_only_its_item() {
    let clock = ManualClock::new();
    let runnable = Pipeline::<_, Odd>::source(futures_lite::stream::iter(0..5u64))
        .map(|x| async move {
            assert!(x != 3, "three is bad");
            x
        })
        .sink(|_x| async {})
        .unwrap();
    let errors = runnable.errors();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    assert_eq!((s.delivered, s.failed), (4, 1));
    match &errors.drain()[..] {
        [
            PipelineError::Panicked {
                stage,
                message,
                items: 1,
            },
        ] => {
            assert_eq!(stage.name.as_ref(), "map");
            assert!(message.contains("three is bad"));
        }
        other => panic!("{other:?}"),
    }
    assert_balanced(&s);
}

#[test]
fn a_generator_owns_its_output_and_ends_it_by_returning() {
    let clock = ManualClock::new();
    let gen_clock = clock.clone();
    let got = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&got);
    let s = clock.block_on(
        Pipeline::<_, Odd, _>::generator(1, move |out| async move {
            for i in 0..5u64 {
                out.emit(i).await.unwrap();
                gen_clock.sleep(ms(2)).await;
            }
            // returning drops `out`: the input ends
        })
        .sink(move |x| {
            log.lock().unwrap().push(x);
            async {}
        })
        .unwrap()
        .run(CancelToken::new()),
    );
    assert_eq!(*got.lock().unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(s.outcome, Outcome::Completed);
    assert_eq!(clock.elapsed(), ms(10));
    assert_balanced(&s);
}

#[test]
fn a_cancel_before_the_first_item_produces_nothing() {
    let token = CancelToken::new();
    token.cancel();
    let s = sluicegate_rt::block_on(
        Pipeline::<_, Odd>::source(futures_lite::stream::iter(0..5u64))
            .sink(|_x| async {})
            .unwrap()
            .run(token),
    );
    assert_eq!(
        (s.outcome, s.produced, s.delivered),
        (Outcome::Cancelled, 0, 0)
    );
}

#[test]
fn an_emit_that_loses_a_race_hands_its_item_back() {
    let clock = ManualClock::new();
    let back = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&back);
    let s = clock.block_on(
        Pipeline::<_, Odd, _>::generator(1, move |out| async move {
            out.emit(0u64).await.unwrap(); // the one slot
            let mut second = out.emit(1);
            // The queue is full: the emit waits; give up on it.
            assert!(futures_lite::future::poll_once(&mut second).await.is_none());
            *slot.lock().unwrap() = second.into_inner();
        })
        .sink(|_x| async {})
        .unwrap()
        .run(CancelToken::new()),
    );
    assert_eq!(*back.lock().unwrap(), Some(1));
    assert_eq!((s.produced, s.delivered), (1, 1));
    assert_balanced(&s);
}

#[test]
fn a_dropped_pending_error_recv_loses_no_error() {
    let clock = ManualClock::new();
    let token = CancelToken::new();
    let runnable = Pipeline::source(futures_lite::stream::iter([1u64, 2, 3]))
        .try_map(|x| async move { if x == 2 { Err(Odd(x)) } else { Ok(x) } })
        .sink(|_x| async {})
        .unwrap();
    let errors = runnable.errors();
    let s = clock.block_on(async {
        // A `recv` that loses a race while nothing is waiting is dropped.
        assert!(
            futures_lite::future::poll_once(errors.recv())
                .await
                .is_none()
        );
        runnable.run(token).await
    });
    assert_eq!((s.failed, s.errors), (1, 1));
    // The error is still there for the next `recv`, and the stream ends.
    let got = clock.block_on(async { (errors.recv().await, errors.recv().await) });
    assert!(matches!(
        got.0,
        Some(PipelineError::Failed { error: Odd(2), .. })
    ));
    assert!(got.1.is_none());
}

#[test]
fn a_dropped_pending_cancelled_or_aborted_future_loses_nothing() {
    let clock = ManualClock::new();
    let token = CancelToken::new();
    clock.block_on(async {
        assert!(
            futures_lite::future::poll_once(token.cancelled())
                .await
                .is_none()
        );
        assert!(
            futures_lite::future::poll_once(token.aborted())
                .await
                .is_none()
        );
    });
    token.abort();
    clock.block_on(async {
        token.cancelled().await;
        token.aborted().await;
    });
}

#[test]
fn a_cancel_is_seen_while_the_source_is_always_ready() {
    // An input that never waits (a big iterator, a backlog) must not keep
    // the run inside one poll: the token is only read between polls.
    const N: u64 = 1_000_000;
    let clock = ManualClock::new();
    let token = CancelToken::new();
    let stop = token.clone();
    let runnable = Pipeline::<_, Odd>::source(futures_lite::stream::iter(0..N))
        .map_sync(|x| x + 1)
        .sink(move |x: u64| {
            if x == 10 {
                stop.cancel();
            }
            async {}
        })
        .unwrap();
    let s = clock.block_on(runnable.run(token));
    assert_eq!(s.outcome, Outcome::Cancelled);
    assert!(s.delivered < 10_000, "{s}");
    assert_balanced(&s);
}

#[test]
fn a_cancel_is_seen_while_an_always_ready_source_fills_a_buffer() {
    const N: u64 = 1_000_000;
    let clock = ManualClock::new();
    let token = CancelToken::new();
    let stop = token.clone();
    let runnable = Pipeline::<_, Odd>::source(futures_lite::stream::iter(0..N))
        .buffer(4)
        .filter_sync(|_x| true)
        .sink(move |x: u64| {
            if x == 10 {
                stop.cancel();
            }
            async {}
        })
        .unwrap();
    let s = clock.block_on(runnable.run(token));
    assert_eq!(s.outcome, Outcome::Cancelled);
    assert!(s.delivered < 10_000, "{s}");
    assert_balanced(&s);
}

#[test]
fn a_cancel_is_seen_while_a_filter_rejects_an_always_ready_input() {
    const N: u64 = 1_000_000;
    let clock = ManualClock::new();
    let token = CancelToken::new();
    let stop = token.clone();
    let runnable = Pipeline::<_, Odd>::source(futures_lite::stream::iter(0..N))
        .filter_sync(move |x: &u64| {
            if *x == 10 {
                stop.cancel();
            }
            false
        })
        .sink(|_x: u64| async {})
        .unwrap();
    let s = clock.block_on(runnable.run(token));
    assert_eq!(s.outcome, Outcome::Cancelled);
    assert!(s.filtered < 10_000, "{s}");
    assert_balanced(&s);
}

#[test]
fn an_abort_counts_the_generator_queue_even_while_an_emitter_outlives_the_run() {
    // The generator handed a clone of its emitter to someone else (a
    // thread, a task): the items queued in the generator's queue are
    // discarded with the run, not when the last emitter goes away.
    let clock = ManualClock::new();
    let token = CancelToken::new();
    let kept = Arc::new(Mutex::new(None));
    let keep = Arc::clone(&kept);
    let runnable = Pipeline::<_, Odd, _>::generator(4, move |out| async move {
        *keep.lock().unwrap() = Some(out.clone());
        for i in 0..4u64 {
            if out.emit(i).await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await;
    })
    .sink(|_x: u64| std::future::pending::<()>())
    .unwrap();
    let stopper = {
        let token = token.clone();
        let clock = clock.clone();
        async move {
            clock.sleep(ms(1)).await;
            token.abort();
        }
    };
    let (s, ()) = clock.block_on(zip(runnable.run(token), stopper));
    assert_eq!(s.outcome, Outcome::Aborted);
    assert_eq!(s.produced, 4);
    assert_eq!(s.discarded, 4, "{s}");
    assert_balanced(&s);
    let emitter = kept.lock().unwrap().take().unwrap();
    assert!(emitter.is_stopped());
    let back = clock.block_on(emitter.emit(9));
    assert_eq!(back.unwrap_err().into_inner(), 9);
}
