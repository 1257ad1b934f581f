//! Batching, standalone and in a pipeline, in virtual time: the exact
//! instants of both timer modes, size-triggered batches, the final partial
//! batch, no empty batches, and hand-back mode.

mod support;

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_lite::StreamExt;
use sluicegate_pipeline::{Batch, CancelToken, Pipeline, TimerMode, batch, batch_hand_back};
use sluicegate_rt::ManualClock;
use support::{counted, ms, recorded, timed};

/// Runs `batch` over `items` (at their instants, open until `end`) and
/// returns each batch with the virtual time it came out.
fn emissions(items: &[u64], end: u64, cfg: Batch) -> Vec<(Duration, Vec<u64>)> {
    let clock = ManualClock::new();
    let input = timed(&clock, items.iter().map(|&t| (ms(t), t)).collect(), ms(end));
    let mut batches = batch(input, cfg, clock.clone()).unwrap();
    clock.block_on(async {
        let mut out = Vec::new();
        while let Some(b) = batches.next().await {
            out.push((clock.elapsed(), b));
        }
        out
    })
}

#[test]
fn from_first_item_closes_max_wait_after_the_first_item() {
    let cfg = Batch::size(100).max_wait(ms(10));
    // Items at 0, 3, 7 ms: one batch at 10 ms; the input stays open until
    // 50 ms and nothing else comes out (no empty batch).
    assert_eq!(emissions(&[0, 3, 7], 50, cfg), [(ms(10), vec![0, 3, 7])]);
    // A second burst starts its own timer at its first item (15 -> 25).
    assert_eq!(
        emissions(&[0, 3, 7, 15, 18], 50, cfg),
        [(ms(10), vec![0, 3, 7]), (ms(25), vec![15, 18])]
    );
    // The first item may come late: the timer is relative to it.
    assert_eq!(emissions(&[12, 14], 60, cfg), [(ms(22), vec![12, 14])]);
}

#[test]
fn fixed_ticks_close_on_every_tick_that_has_items() {
    let cfg = Batch::size(100)
        .max_wait(ms(10))
        .timer(TimerMode::FixedTicks);
    // Ticks at 10, 20, 30, 40: items at 0, 3, 7 -> 10; 15 -> 20; ticks at
    // 30 and 40 hold nothing and emit nothing.
    assert_eq!(
        emissions(&[0, 3, 7, 15], 45, cfg),
        [(ms(10), vec![0, 3, 7]), (ms(20), vec![15])]
    );
    // Ticks count from the start, not from the first item: an item at 12
    // leaves at the tick at 20 (FromFirstItem would wait until 22).
    assert_eq!(emissions(&[12], 45, cfg), [(ms(20), vec![12])]);
}

#[test]
fn size_closes_a_batch_at_once() {
    let cfg = Batch::size(2).max_wait(ms(10));
    // 0 and 1 fill a batch at 1 ms (not 10); 2 waits for its timer (12).
    assert_eq!(
        emissions(&[0, 1, 2], 40, cfg),
        [(ms(1), vec![0, 1]), (ms(12), vec![2])]
    );
    // Size only, no timer: the last partial batch leaves when the input ends.
    assert_eq!(
        emissions(&[0, 1, 2], 40, Batch::size(2)),
        [(ms(1), vec![0, 1]), (ms(40), vec![2])]
    );
}

#[test]
fn the_last_partial_batch_leaves_when_the_input_ends_and_none_is_empty() {
    let cfg = Batch::size(4).max_wait(ms(100));
    assert_eq!(
        emissions(&[0, 1, 2, 3, 4, 5], 20, cfg),
        [(ms(3), vec![0, 1, 2, 3]), (ms(20), vec![4, 5])]
    );
    // An empty input gives no batch at all, in either mode.
    assert!(emissions(&[], 30, cfg).is_empty());
    assert!(emissions(&[], 35, cfg.timer(TimerMode::FixedTicks).max_wait(ms(10))).is_empty());
}

#[test]
fn batch_time_only_collects_whatever_arrives_within_the_wait() {
    let got = emissions(&(0..25).collect::<Vec<_>>(), 60, Batch::time(ms(10)));
    let sizes: Vec<usize> = got.iter().map(|(_, b)| b.len()).collect();
    assert_eq!(sizes, [11, 11, 3]); // 0..=10 at 10, 11..=21 at 21, 22..=24 at 32
    assert_eq!(got[0].0, ms(10));
    assert_eq!(got[1].0, ms(21));
    assert_eq!(got[2].0, ms(32));
}

#[test]
fn hand_back_builds_nothing_while_the_writer_holds_the_batch() {
    let clock = ManualClock::new();
    let (input, pulled) = counted(10);
    let mut batches = pin!(batch_hand_back(input, Batch::size(3), clock.clone()).unwrap());
    let mut cx = Context::from_waker(Waker::noop());

    let Poll::Ready(Some(first)) = batches.as_mut().poll_next(&mut cx) else {
        panic!("the first batch is ready");
    };
    assert_eq!(*first, [0, 1, 2]);
    assert_eq!(pulled.load(Ordering::SeqCst), 3);
    assert!(batches.is_lent());
    // The input has 7 more items ready, but while the writer holds the
    // loan the batcher takes none of them and emits nothing.
    for _ in 0..5 {
        assert!(batches.as_mut().poll_next(&mut cx).is_pending());
    }
    assert_eq!(pulled.load(Ordering::SeqCst), 3);
    let capacity = first.capacity();
    drop(first); // hand it back
    assert!(!batches.is_lent());
    let Poll::Ready(Some(second)) = batches.as_mut().poll_next(&mut cx) else {
        panic!("the second batch is built once the first is back");
    };
    assert_eq!(*second, [3, 4, 5]);
    // ...in the buffer the writer handed back.
    assert_eq!(second.capacity(), capacity);
    assert_eq!(pulled.load(Ordering::SeqCst), 6);
    // `into_vec` keeps the items and still hands a buffer back.
    let kept = second.into_vec();
    assert_eq!(kept, [3, 4, 5]);
    let rest: Vec<Vec<u64>> = clock.block_on(async {
        let mut rest = Vec::new();
        while let Some(loan) = batches.next().await {
            rest.push(loan.to_vec());
        }
        rest
    });
    assert_eq!(rest, [vec![6, 7, 8], vec![9]]);
}

#[test]
fn hand_back_in_a_pipeline_waits_for_the_sink_and_loses_nothing() {
    let clock = ManualClock::new();
    let (input, pulled) = counted(20);
    let taken_at_sink = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&taken_at_sink);
    let runnable = Pipeline::<_, std::convert::Infallible>::source(input)
        .buffer(64) // the source runs ahead into the buffer meanwhile
        .batch_hand_back(Batch::size(4).max_wait(ms(5)), clock.clone())
        .sink({
            let clock = clock.clone();
            move |loan: sluicegate_pipeline::Loan<u64>| {
                let clock = clock.clone();
                let log = Arc::clone(&log);
                async move {
                    clock.sleep(ms(3)).await; // writing...
                    log.lock().unwrap().push(loan.to_vec());
                    drop(loan); // ...handed back
                }
            }
        })
        .unwrap();
    let monitor = runnable.monitor();
    let batch_inputs = Arc::new(Mutex::new(Vec::new()));
    let probe = {
        let batch_inputs = Arc::clone(&batch_inputs);
        let monitor = monitor.clone();
        let clock = clock.clone();
        async move {
            // While the sink writes (every 3 ms), the batch stage has taken
            // exactly the items of the batches emitted so far.
            for _ in 0..5 {
                clock.sleep(ms(2)).await;
                let s = monitor.stages();
                batch_inputs.lock().unwrap().push((s[1].input, s[1].output));
            }
        }
    };
    let (summary, ()) = clock.block_on(futures_lite::future::zip(
        runnable.run(CancelToken::new()),
        probe,
    ));
    for (input, output) in batch_inputs.lock().unwrap().iter() {
        assert_eq!(
            input, output,
            "no item taken into a batch while the last is lent"
        );
    }
    let written = taken_at_sink.lock().unwrap().clone();
    assert_eq!(written.concat(), (0..20).collect::<Vec<_>>());
    assert!(written.iter().all(|b| b.len() == 4));
    assert_eq!(pulled.load(Ordering::SeqCst), 20);
    assert_eq!((summary.produced, summary.delivered), (20, 20));
    assert!(summary.is_balanced());
    assert_eq!(summary.stages[1].stage.name.as_ref(), "batch");
    assert_eq!(summary.stages[1].batches, 5);
}

#[test]
fn pipeline_batches_at_the_same_instants_as_the_adapter() {
    let clock = ManualClock::new();
    let input = timed(
        &clock,
        vec![(ms(0), 0u64), (ms(3), 3), (ms(7), 7), (ms(15), 15)],
        ms(50),
    );
    let (seen, record) = recorded();
    let sink_clock = clock.clone();
    let summary = clock.block_on(
        Pipeline::<_, std::convert::Infallible>::source(input)
            .map(|x| async move { x })
            .batch(Batch::size(100).max_wait(ms(10)), clock.clone())
            .sink(move |b: Vec<u64>| record((sink_clock.elapsed(), b)))
            .unwrap()
            .run(CancelToken::new()),
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [(ms(10), vec![0, 3, 7]), (ms(25), vec![15])]
    );
    assert_eq!(summary.stages[2].batches, 2);
    assert_eq!((summary.produced, summary.delivered), (4, 4));
}

/// The future the run future hands out is `Send` when its parts are, so
/// it can be spawned on a multi-threaded executor.
#[test]
fn the_run_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let clock = ManualClock::new();
    let run = Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(0..3u8))
        .buffer(2)
        .batch(Batch::size(2), clock.clone())
        .sink(|_b: Vec<u8>| async {})
        .unwrap()
        .run(CancelToken::new());
    assert_send(&run);
    let summary = clock.block_on(run);
    assert_eq!(summary.delivered, 3);
}

#[test]
fn time_batches_close_on_time_over_an_input_that_is_always_ready() {
    // `Batch::time` has no size bound: over an input that never waits
    // (a backlog, an endless iterator) the batcher must still yield the
    // thread, and close the batch once its time is up. (In virtual time
    // such an input is infinitely fast, so the test moves the clock.)
    let clock = ManualClock::new();
    let mut batches = pin!(
        batch(
            futures_lite::stream::iter(0u64..),
            Batch::time(ms(10)),
            clock.clone(),
        )
        .unwrap()
    );
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        batches.as_mut().poll_next(&mut cx).is_pending(),
        "it yields"
    );
    assert_eq!(clock.pending_sleeps(), 1, "the first item armed the timer");
    assert!(batches.as_mut().poll_next(&mut cx).is_pending());
    clock.advance(ms(10));
    let Poll::Ready(Some(first)) = batches.as_mut().poll_next(&mut cx) else {
        panic!("the timer closes the batch");
    };
    assert_eq!(first[..3], [0, 1, 2]);
    assert!(first.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(batches.stats().by_timer, 1);
    // The next batch goes on from where the first stopped.
    assert!(batches.as_mut().poll_next(&mut cx).is_pending());
    clock.advance(ms(10));
    let Poll::Ready(Some(second)) = batches.as_mut().poll_next(&mut cx) else {
        panic!("the timer closes the batch");
    };
    assert_eq!(second[0], *first.last().unwrap() + 1);
}

#[test]
fn a_kept_loan_holds_the_batch_stage_until_an_abort_and_into_vec_frees_it() {
    use sluicegate_pipeline::{Loan, Outcome};
    let clock = ManualClock::new();
    let token = CancelToken::new();
    let kept: Arc<Mutex<Vec<Loan<u64>>>> = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&kept);
    let runnable =
        Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(0..10u64))
            .batch_hand_back(Batch::size(2), clock.clone())
            .sink(move |loan: Loan<u64>| {
                store.lock().unwrap().push(loan);
                async {}
            })
            .unwrap();
    let stopper = {
        let token = token.clone();
        let clock = clock.clone();
        async move {
            clock.sleep(ms(5)).await;
            token.abort();
        }
    };
    let (s, ()) = clock.block_on(futures_lite::future::zip(runnable.run(token), stopper));
    assert_eq!(s.outcome, Outcome::Aborted);
    assert_eq!((s.produced, s.delivered, s.discarded), (2, 2, 0));
    assert!(s.is_balanced());
    assert_eq!(kept.lock().unwrap().len(), 1);

    // `into_vec` hands the buffer back at once: nothing waits.
    let kept: Arc<Mutex<Vec<Vec<u64>>>> = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&kept);
    let runnable =
        Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(0..10u64))
            .batch_hand_back(Batch::size(2), clock.clone())
            .sink(move |loan: Loan<u64>| {
                store.lock().unwrap().push(loan.into_vec());
                async {}
            })
            .unwrap();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    assert_eq!((s.outcome, s.delivered), (Outcome::Completed, 10));
    assert_eq!(kept.lock().unwrap().concat(), (0..10).collect::<Vec<_>>());
}

/// A batch stage after a hand-back batch stage: `(virtual time, loans in
/// the batch, items in them)` per batch, and the summary.
fn batches_of_loans(
    outer: Batch,
    end: u64,
) -> (Vec<(Duration, usize, usize)>, sluicegate_pipeline::Summary) {
    use sluicegate_pipeline::Loan;
    let clock = ManualClock::new();
    let (out, record) = recorded();
    let at = clock.clone();
    let input = timed(&clock, (0..6u64).map(|i| (ms(0), i)).collect(), ms(end));
    let runnable = Pipeline::<_, std::convert::Infallible>::source(input)
        .batch_hand_back(Batch::size(2), clock.clone())
        .batch(outer, clock.clone())
        .sink(move |loans: Vec<Loan<u64>>| {
            let items = loans.iter().map(|l| l.len()).sum();
            record((at.elapsed(), loans.len(), items))
        })
        .unwrap();
    let summary = clock.block_on(runnable.run(CancelToken::new()));
    let out = std::mem::take(&mut *out.lock().unwrap());
    (out, summary)
}

#[test]
fn a_batch_after_a_hand_back_batch_closes_when_the_lender_waits_for_its_loan() {
    // The lender builds its next batch only once its loan is back; a batch
    // stage after it that holds the loan would wait for loans that cannot
    // come (until its timer, or for ever without one). It closes the
    // batch as soon as the lender waits: at once, not at 10 ms.
    let (out, s) = batches_of_loans(Batch::size(3).max_wait(ms(10)), 50);
    assert_eq!(out, [(ms(0), 1, 2), (ms(0), 1, 2), (ms(0), 1, 2)]);
    assert_eq!((s.delivered, s.produced), (6, 6));
    assert!(s.is_balanced(), "{s}");
    assert_eq!(s.stages[2].closed.by_timer, 0, "{:?}", s.stages[2]);
    // No timer at all: the run does not hang.
    let (out, s) = batches_of_loans(Batch::size(3), 50);
    assert_eq!(out, [(ms(0), 1, 2), (ms(0), 1, 2), (ms(0), 1, 2)]);
    assert_eq!(s.delivered, 6);
    assert!(s.is_balanced(), "{s}");
}

/// A `ManualClock` as a `Sleeper` that counts the timers armed on it.
#[derive(Clone)]
struct CountingSleeper {
    clock: ManualClock,
    armed: Arc<std::sync::atomic::AtomicUsize>,
}

impl sluicegate_rt::Sleeper for CountingSleeper {
    type Sleep = sluicegate_rt::ManualSleep;

    fn sleep(&self, dur: Duration) -> Self::Sleep {
        self.armed.fetch_add(1, Ordering::SeqCst);
        self.clock.sleep(dur)
    }
}

#[test]
fn a_cooperative_yield_of_an_always_ready_source_arms_no_batch_timer() {
    // 10,000 items, always ready: the run yields the thread now and then
    // (its budget), in the middle of a batch of 100. That is not the
    // input waiting: every batch closes by size, no timer is ever armed,
    // and no time passes.
    {
        let clock = ManualClock::new();
        let sleeper = CountingSleeper {
            clock: clock.clone(),
            armed: Arc::default(),
        };
        let at = clock.clone();
        let (out, record) = recorded();
        let runnable = Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(
            0..10_000u64,
        ))
        .map_sync(|x| x + 1)
        .batch(Batch::size(100).max_wait(ms(10)), sleeper.clone())
        .sink(move |b: Vec<u64>| record((at.elapsed(), b.len())))
        .unwrap();
        let s = clock.block_on(runnable.run(CancelToken::new()));
        assert_eq!(s.delivered, 10_000);
        let out = out.lock().unwrap();
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|&(t, n)| t == ms(0) && n == 100));
        assert_eq!(s.stages[2].closed.by_size, 100, "{:?}", s.stages[2]);
        assert_eq!(
            sleeper.armed.load(Ordering::SeqCst),
            0,
            "a yield armed a timer"
        );
    }
}

#[test]
fn a_batch_that_spans_two_yields_arms_its_timer() {
    // A filter lets one item in 10,000 through an always-ready source:
    // the batch of 100 holds one item over many polls of the run. The
    // first yield arms nothing (the batch might fill in the next poll);
    // the second does, so `max_wait` is late by at most one poll.
    let clock = ManualClock::new();
    let (out, record) = recorded();
    let runnable =
        Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(0u64..))
            .filter_sync(|x: &u64| x % 10_000 == 0)
            .batch(Batch::size(100).max_wait(ms(10)), clock.clone())
            .sink(move |b: Vec<u64>| record(b))
            .unwrap();
    let token = CancelToken::new();
    let mut run = pin!(runnable.run(token.clone()));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(run.as_mut().poll(&mut cx).is_pending(), "it yields");
    assert_eq!(clock.pending_sleeps(), 0, "one yield arms no timer");
    assert!(run.as_mut().poll(&mut cx).is_pending());
    assert_eq!(clock.pending_sleeps(), 1, "the second one does");
    clock.advance(ms(10));
    assert!(run.as_mut().poll(&mut cx).is_pending());
    // The poll that sees the timer first takes what is ready (4,096 more
    // items, 10,000 among them), then closes the batch.
    assert_eq!(
        *out.lock().unwrap(),
        [vec![0, 10_000]],
        "closed by the timer"
    );
    token.cancel();
    let Poll::Ready(s) = run.as_mut().poll(&mut cx) else {
        panic!("a cancel ends the run");
    };
    assert_eq!(s.stages[2].closed.by_timer, 1);
    assert!(s.is_balanced(), "{s}");
}

#[test]
fn a_batch_after_a_lender_and_an_async_step_that_gives_each_loan_back_keeps_filling() {
    // The loan is in the async step's future (1 ms per loan), not in the
    // later batch stage: it comes back without that stage's help, so the
    // stage must not close its batch early while the lender waits. Three
    // loans of two items, written into one batch of three lengths (closed
    // by size at 3 ms), none closed `by_lender`.
    use sluicegate_pipeline::Loan;
    let clock = ManualClock::new();
    let (out, record) = recorded();
    let (at, sleeper) = (clock.clone(), clock.clone());
    let input = timed(&clock, (0..6u64).map(|i| (ms(0), i)).collect(), ms(50));
    let runnable = Pipeline::<_, std::convert::Infallible>::source(input)
        .batch_hand_back(Batch::size(2), clock.clone())
        .map(move |loan: Loan<u64>| {
            let wait = sluicegate_rt::Sleeper::sleep(&sleeper, ms(1));
            async move {
                wait.await;
                loan.len()
            }
        })
        .batch(Batch::size(3).max_wait(ms(20)), clock.clone())
        .sink(move |lens: Vec<usize>| record((at.elapsed(), lens)))
        .unwrap();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    assert_eq!(*out.lock().unwrap(), [(ms(3), vec![2, 2, 2])]);
    assert!(s.is_balanced(), "{s}");
    let closed = &s.stages[3].closed;
    assert_eq!((closed.by_size, closed.by_lender), (1, 0), "{closed:?}");
}

#[test]
fn a_batch_after_a_lender_and_a_buffer_still_closes_when_the_lender_waits() {
    // A buffer holds no loan while the stage after it waits (it is empty
    // then): the later batch stage still watches the lender, and the run
    // without a timer does not hang.
    use sluicegate_pipeline::Loan;
    let clock = ManualClock::new();
    let (out, record) = recorded();
    let input = timed(&clock, (0..6u64).map(|i| (ms(0), i)).collect(), ms(50));
    let runnable = Pipeline::<_, std::convert::Infallible>::source(input)
        .batch_hand_back(Batch::size(2), clock.clone())
        .map_sync(|loan: Loan<u64>| loan)
        .buffer(2)
        .batch(Batch::size(3), clock.clone())
        .sink(move |loans: Vec<Loan<u64>>| record(loans.len()))
        .unwrap();
    let s = clock.block_on(runnable.run(CancelToken::new()));
    assert_eq!(*out.lock().unwrap(), [1, 1, 1]);
    assert_eq!(s.delivered, 6);
    assert!(s.is_balanced(), "{s}");
    assert_eq!(s.stages[3].closed.by_lender, 3, "{:?}", s.stages[3]);
}

#[test]
fn a_batch_that_outgrows_its_buffer_mid_run_keeps_every_item_in_order() {
    // The batch buffer starts at 4 096 items at most; a run that finds it
    // full hands the item that did not fit back to be pushed (the buffer
    // grows) and goes on. Two shapes: an async step into one batch of
    // 10 000 items, and batches of 2 (elements of weight 2) into a batch
    // of 5 000 elements.
    let clock = ManualClock::new();
    let (seen, record) = recorded();
    let runnable =
        Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(0..10_000u64))
            .map(|x| async move { x + 1 })
            .batch(Batch::size(10_000), clock.clone())
            .sink(move |b: Vec<u64>| record(b))
            .unwrap();
    let summary = clock.block_on(runnable.run(CancelToken::new()));
    let batches = seen.lock().unwrap().clone();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0], (1..=10_000).collect::<Vec<_>>());
    assert!(summary.is_balanced(), "{summary}");
    assert_eq!((summary.produced, summary.delivered), (10_000, 10_000));
    assert_eq!(summary.stages[2].input, 10_000);
    assert_eq!(summary.stages[2].batches, 1);

    let (seen, record) = recorded();
    let runnable =
        Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(0..10_000u64))
            .map_sync(|x| x + 1)
            .batch(Batch::size(2), clock.clone())
            .batch(Batch::size(5_000), clock.clone())
            .sink(move |b: Vec<Vec<u64>>| record(b))
            .unwrap();
    let summary = clock.block_on(runnable.run(CancelToken::new()));
    let batches = seen.lock().unwrap().clone();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].len(), 5_000);
    assert_eq!(batches[0].concat(), (1..=10_000).collect::<Vec<_>>());
    assert!(summary.is_balanced(), "{summary}");
    assert_eq!((summary.produced, summary.delivered), (10_000, 10_000));
    assert_eq!(summary.stages[3].input, 5_000);
    assert_eq!(summary.stages[3].batches, 1);
}

#[test]
fn the_standalone_adapters_keep_the_item_that_finds_the_buffer_full() {
    // `batch` starts its buffer at 4 096 items at most: a batch of 10 000
    // outgrows it mid-poll, and the item that finds it full is pushed
    // after the run (the buffer grows there). Each poll still takes at
    // most 1 024 items, then yields (wakes itself, returns `Pending`).
    let (input, pulled) = counted(10_000);
    let mut batches = pin!(batch(input, Batch::size(10_000), ManualClock::new()).unwrap());
    let woken = Arc::new(WakeCount::default());
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    let mut polls = 0;
    let first = loop {
        let before = pulled.load(Ordering::SeqCst);
        let polled = batches.as_mut().poll_next(&mut cx);
        polls += 1;
        assert!(pulled.load(Ordering::SeqCst) - before <= 1024);
        match polled {
            Poll::Ready(Some(b)) => break b,
            Poll::Ready(None) => panic!("the input has 10 000 items"),
            Poll::Pending => {}
        }
    };
    assert_eq!(polls, 10);
    assert_eq!(
        woken.0.load(Ordering::SeqCst),
        9,
        "each cooperative yield wakes the task"
    );
    assert_eq!(first, (0..10_000).collect::<Vec<_>>());
    assert!(batches.as_mut().poll_next(&mut cx).is_ready());
    assert_eq!(batches.stats().by_size, 1);

    // A hand-back batch whose loan was kept (`into_vec`) starts again in
    // an empty buffer (capacity 0): its first item, and the one at each
    // growth, find the buffer full.
    let clock = ManualClock::new();
    let mut batches = batch_hand_back(
        futures_lite::stream::iter(0..1_000u64),
        Batch::size(100),
        clock.clone(),
    )
    .unwrap();
    let got: Vec<Vec<u64>> = clock.block_on(async {
        let mut got = Vec::new();
        while let Some(loan) = batches.next().await {
            got.push(loan.into_vec());
        }
        got
    });
    let want: Vec<Vec<u64>> = (0..10)
        .map(|i| (i * 100..(i + 1) * 100).collect())
        .collect();
    assert_eq!(got, want);
    assert_eq!(batches.stats().by_size, 10);
}

/// A waker that counts its wakes.
#[derive(Default)]
struct WakeCount(std::sync::atomic::AtomicUsize);

impl std::task::Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
