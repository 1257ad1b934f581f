//! Helpers shared by the test suites: streams that yield at set virtual
//! instants, and a single-threaded executor in virtual time whose spawner
//! the parallel step can use.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_core::Stream;
use sluicegate_rt::{BoxFuture, ManualClock};

/// What a sink received, in order, and the sink that records it: pass
/// `record` to `.sink(..)` as it is, or call it from a sink closure.
pub fn recorded<T: Send + 'static>() -> (
    Arc<Mutex<Vec<T>>>,
    impl Fn(T) -> std::future::Ready<()> + Clone + Send + Sync + 'static,
) {
    let out = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&out);
    let record = move |x| {
        log.lock().unwrap().push(x);
        std::future::ready(())
    };
    (out, record)
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Yields each `(at, item)` at virtual time `at` (from the clock's start),
/// then stays open until `end`, then ends.
pub fn timed<T: Send + 'static>(
    clock: &ManualClock,
    items: Vec<(Duration, T)>,
    end: Duration,
) -> Pin<Box<dyn Stream<Item = T> + Send>> {
    let clock = clock.clone();
    let start = clock.now();
    Box::pin(futures_lite::stream::unfold(
        (clock, items.into_iter(), start, end, false),
        |(clock, mut items, start, end, ended)| async move {
            if ended {
                return None;
            }
            match items.next() {
                Some((at, item)) => {
                    clock.sleep_until(start + at).await;
                    Some((item, (clock, items, start, end, false)))
                }
                None => {
                    clock.sleep_until(start + end).await;
                    None
                }
            }
        },
    ))
}

/// A stream of `0..n` that counts how many items were taken from it.
pub fn counted(n: u64) -> (impl Stream<Item = u64> + Send + Unpin, Arc<AtomicUsize>) {
    let pulled = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&pulled);
    let stream = futures_lite::stream::iter(0..n).map(move |x| {
        count.fetch_add(1, Ordering::SeqCst);
        x
    });
    (stream, pulled)
}

use futures_lite::StreamExt as _;

#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A single-threaded executor in virtual time: runs a main future and
/// every task spawned through [`LocalPool::spawner`], moving the clock to
/// the next sleep only when nothing can run.
#[derive(Clone, Default)]
pub struct LocalPool {
    tasks: Arc<Mutex<Vec<BoxFuture>>>,
    spawned: Arc<AtomicUsize>,
}

impl LocalPool {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn spawner(&self) -> impl Fn(BoxFuture) + Send + Sync + Clone + 'static {
        let tasks = Arc::clone(&self.tasks);
        let spawned = Arc::clone(&self.spawned);
        move |f: BoxFuture| {
            spawned.fetch_add(1, Ordering::SeqCst);
            tasks.lock().unwrap().push(f);
        }
    }

    pub fn spawned(&self) -> usize {
        self.spawned.load(Ordering::SeqCst)
    }

    pub fn block_on<F: Future>(&self, clock: &ManualClock, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        let mut local: Vec<BoxFuture> = Vec::new();
        loop {
            flag.0.store(false, Ordering::SeqCst);
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            local.append(&mut self.tasks.lock().unwrap());
            let mut progressed = false;
            let mut i = 0;
            while i < local.len() {
                if local[i].as_mut().poll(&mut cx).is_ready() {
                    drop(local.swap_remove(i));
                    progressed = true;
                } else {
                    i += 1;
                }
                local.append(&mut self.tasks.lock().unwrap());
            }
            if progressed || flag.0.load(Ordering::SeqCst) || !self.tasks.lock().unwrap().is_empty()
            {
                continue;
            }
            assert!(
                clock.advance_to_next().is_some(),
                "LocalPool::block_on: deadlock (nothing woke, no sleep pending)"
            );
        }
    }
}
