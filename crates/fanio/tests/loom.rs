//! Loom models of the merge's wake protocol (per-source wakers feeding a
//! shared inbox, a "queued" flag per source, the parent waker registered
//! before the merge returns `Pending`): no interleaving of producers
//! waking sources on other threads loses a wake-up (loom's `block_on`
//! would report the deadlock) or an item, and the merge ends exactly once
//! every source has ended. And of the fan-out's queues (`fan_out_models`
//! below): whole fan-outs, each task a loom thread.
//!
//! Run: `RUSTFLAGS="--cfg sluicegate_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p sluicegate-fanio --test loom --release`
#![cfg(sluicegate_loom)]

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use loom::sync::Mutex;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use sluicegate_fanio::merge;

/// A source fed by another thread: `items` waiting, then `done`.
#[derive(Default)]
struct Cell {
    items: AtomicUsize,
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Cell {
    fn push(&self) {
        self.items.fetch_add(1, Ordering::AcqRel);
        self.wake();
    }

    fn finish(&self) {
        self.done.store(true, Ordering::Release);
        self.wake();
    }

    fn wake(&self) {
        let w = self.waker.lock().unwrap().take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

struct Source(Arc<Cell>, u32);

impl Stream for Source {
    type Item = u32;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
        let tag = self.1;
        let cell = &self.0;
        let check = || {
            let n = cell.items.load(Ordering::Acquire);
            if n > 0 {
                cell.items.fetch_sub(1, Ordering::AcqRel);
                return Some(Some(tag));
            }
            // Items are pushed before `done`: re-read them after it.
            if cell.done.load(Ordering::Acquire) {
                if cell.items.load(Ordering::Acquire) > 0 {
                    cell.items.fetch_sub(1, Ordering::AcqRel);
                    return Some(Some(tag));
                }
                return Some(None);
            }
            None
        };
        if let Some(r) = check() {
            return Poll::Ready(r);
        }
        *cell.waker.lock().unwrap() = Some(cx.waker().clone());
        match check() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

pub(crate) async fn collect<S: Stream + Unpin>(mut s: S) -> Vec<S::Item> {
    let mut out = Vec::new();
    while let Some(x) = std::future::poll_fn(|cx| Pin::new(&mut s).poll_next(cx)).await {
        out.push(x);
    }
    out
}

#[test]
fn two_sources_woken_from_other_threads() {
    loom::model(|| {
        let cells: Vec<Arc<Cell>> = (0..2).map(|_| Arc::new(Cell::default())).collect();
        let merged = merge(
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| Source(Arc::clone(c), i as u32)),
        );
        let producers: Vec<_> = cells
            .iter()
            .map(|c| {
                let c = Arc::clone(c);
                loom::thread::spawn(move || {
                    c.push();
                    c.finish();
                })
            })
            .collect();
        let mut got = loom::future::block_on(collect(merged));
        for p in producers {
            p.join().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1]);
    });
}

#[test]
fn one_source_woken_twice_while_polled() {
    loom::model(|| {
        let cell = Arc::new(Cell::default());
        let merged = merge([Source(Arc::clone(&cell), 7)]);
        let producer = {
            let c = Arc::clone(&cell);
            loom::thread::spawn(move || {
                c.push();
                c.push();
                c.finish();
            })
        };
        let got = loom::future::block_on(collect(merged));
        producer.join().unwrap();
        assert_eq!(got, [7, 7]);
    });
}

#[test]
fn the_test_source_alone_is_sound() {
    loom::model(|| {
        let cell = Arc::new(Cell::default());
        let src = Source(Arc::clone(&cell), 7);
        let producer = {
            let c = Arc::clone(&cell);
            loom::thread::spawn(move || {
                c.push();
                c.finish();
            })
        };
        let got = loom::future::block_on(collect(src));
        producer.join().unwrap();
        assert_eq!(got, [7]);
    });
}

// ---------------------------------------------------------------------------
// Fan-out: its lock-based queues (feeder -> workers -> output). One lock
// guards each queue's items and its waiters' wakers; these models check
// that no interleaving of the feeder, the workers and the consumer (each
// a loom thread) loses a wake-up (a lost one leaves every thread blocked:
// loom reports the deadlock), an item, or a count, including when the
// output is dropped or cancelled mid-run and when a worker task is
// dropped by its executor while it runs.
//
// Checked to fail when the protocol is broken (each a deadlock found in
// seconds): a push that does not wake a waiting receiver, a pop that does
// not wake the feeder waiting for room, the last sender's exit not waking
// the waiting receiver.

mod fan_out_models {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};

    use futures_core::Stream;
    use futures_lite::stream;
    use loom::thread::JoinHandle;
    use sluicegate_fanio::rt::BoxFuture;
    use sluicegate_fanio::{FanOut, FanOutBuilder, FanOutError, FanOutStats};

    use super::collect;

    /// `loom::model` with at most 2 preemptions: these models have three
    /// or four threads with a dozen lock operations each, and at 3 a
    /// model of two items did not finish in minutes; 2 finds each broken
    /// wake rule listed above.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(b.preemption_bound.map_or(2, |p| p.min(2)));
        b.check(f);
    }

    /// Runs each spawned task on a loom thread of its own; task `drop_task`
    /// (in spawn order: workers first, then the feeder) is polled once and
    /// then dropped, like a task of a runtime shutting down.
    #[derive(Clone, Default)]
    struct Threads {
        handles: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
        spawned: Arc<AtomicUsize>,
        drop_task: Option<usize>,
    }

    impl Threads {
        fn spawner(&self) -> impl Fn(BoxFuture) + use<> {
            let this = self.clone();
            move |mut f: BoxFuture| {
                let i = this.spawned.fetch_add(1, Ordering::SeqCst);
                let dropped = this.drop_task == Some(i);
                let h = loom::thread::spawn(move || {
                    if dropped {
                        let _ = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                        drop(f);
                    } else {
                        loom::future::block_on(f);
                    }
                });
                this.handles.lock().unwrap().push(h);
            }
        }

        fn join(&self) {
            let handles = std::mem::take(&mut *self.handles.lock().unwrap());
            for h in handles {
                h.join().unwrap();
            }
        }
    }

    /// Pending once (waking itself), then `i`: an item the executor can
    /// drop its worker in the middle of.
    fn work(i: u32) -> impl Future<Output = u32> {
        let mut polled = false;
        std::future::poll_fn(move |cx: &mut Context<'_>| {
            if polled {
                return Poll::Ready(i);
            }
            polled = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }

    fn start(t: &Threads, workers: usize, items: u32) -> FanOut<u32, u32> {
        FanOutBuilder::new(workers)
            .capacity(1)
            .output_capacity(1)
            .spawn(stream::iter(0..items), &t.spawner(), |i| async move { i })
            .unwrap()
    }

    async fn next(out: &mut FanOut<u32, u32>) -> Option<Result<u32, FanOutError<u32>>> {
        std::future::poll_fn(|cx| Pin::new(&mut *out).poll_next(cx)).await
    }

    /// Every item of `0..items` once among `got` (results and items handed
    /// back) and the lost ones; the counters balance.
    fn check(got: Vec<Result<u32, FanOutError<u32>>>, extra: Vec<u32>, s: &FanOutStats) {
        let mut seen: Vec<u32> = extra;
        let mut lost = 0;
        for r in got {
            match r {
                Ok(i) => seen.push(i),
                Err(FanOutError::Unstarted { item, .. }) => seen.push(item),
                Err(FanOutError::WorkerDropped { .. }) => lost += 1,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        seen.sort_unstable();
        let n = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), n, "an item came out twice: {seen:?}");
        assert_eq!(n + lost, s.taken as usize, "{seen:?} {s:?}");
        assert_eq!(lost as u64, s.lost(), "{s:?}");
        assert!(s.finished && s.is_balanced(), "{s:?}");
    }

    /// Drains `out` to its end, joins every task's thread, and checks
    /// that `taken` items were taken and every one is accounted for.
    fn drain_and_check(t: &Threads, out: FanOut<u32, u32>, taken: u64) {
        let h = out.stats_handle();
        let got = loom::future::block_on(collect(out));
        t.join();
        let s = h.stats();
        assert_eq!(s.taken, taken);
        check(got, Vec::new(), &s);
    }

    /// One worker, two items; the first result is taken, then `stop`
    /// ends the fan-out early (by dropping or cancelling the output)
    /// while the tasks still run.
    fn stop_after_the_first(
        stop: impl Fn(&Threads, FanOut<u32, u32>, Result<u32, FanOutError<u32>>),
    ) {
        let t = Threads::default();
        let mut out = start(&t, 1, 2);
        let first = loom::future::block_on(next(&mut out)).unwrap();
        stop(&t, out, first);
    }

    #[test]
    fn one_worker_delivers_every_item() {
        model(|| {
            let t = Threads::default();
            drain_and_check(&t, start(&t, 1, 2), 2);
        });
    }

    #[test]
    fn two_workers_share_one_queue() {
        model(|| {
            let t = Threads::default();
            // One item: two workers waiting, one woken for it.
            drain_and_check(&t, start(&t, 2, 1), 1);
        });
    }

    #[test]
    fn the_output_dropped_while_the_tasks_run() {
        model(|| {
            stop_after_the_first(|t, out, _| {
                let h = out.stats_handle();
                drop(out);
                t.join();
                let s = h.stats();
                assert!(s.finished && s.is_balanced(), "{s:?}");
            });
        });
    }

    #[test]
    fn a_cancel_racing_the_tasks() {
        model(|| {
            stop_after_the_first(|t, out, first| {
                let c = loom::future::block_on(out.cancel());
                t.join();
                let mut got = c.finished;
                got.push(first);
                check(got, c.unstarted, &c.stats);
            });
        });
    }

    #[test]
    fn a_worker_dropped_by_its_executor_mid_run() {
        model(|| {
            let t = Threads {
                drop_task: Some(0),
                ..Threads::default()
            };
            let out = FanOutBuilder::new(1)
                .capacity(1)
                .output_capacity(1)
                .spawn(stream::iter(0..2u32), &t.spawner(), work)
                .unwrap();
            drain_and_check(&t, out, 2);
        });
    }
}
