//! Helpers shared by the test suites: queues on a `ManualClock`, a drop
//! log, wakers that record wake-ups, and a two-way race.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use sluicegate_backpressure::{DropReason, Overflow, Receiver, Sender};
use sluicegate_rt::ManualClock;

pub type Tx<T> = Sender<T, ManualClock, ManualClock>;

/// A `send` future of a [`Tx<u32>`].
pub type SendFut<'a> = sluicegate_backpressure::futures::Send<'a, u32, ManualClock, ManualClock>;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Items the queue let go of, in order, with the reason.
#[derive(Clone, Default)]
pub struct DropLog<T>(pub Arc<Mutex<Vec<(T, DropReason)>>>);

impl<T: Clone> DropLog<T> {
    pub fn items(&self) -> Vec<(T, DropReason)> {
        self.0.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// A queue on `clock` with `policy`, logging drops.
pub fn queue<T: Send + 'static>(
    clock: &ManualClock,
    capacity: usize,
    policy: Overflow,
) -> (Tx<T>, Receiver<T>, DropLog<T>) {
    let log = DropLog(Arc::new(Mutex::new(Vec::new())));
    let sink = Arc::clone(&log.0);
    let (tx, rx) = sluicegate_backpressure::builder(capacity)
        .policy(policy)
        .on_drop(move |item, reason| sink.lock().unwrap().push((item, reason)))
        .timer(clock.clone())
        .build()
        .unwrap();
    (tx, rx, log)
}

/// Polls `fut` once with a no-op waker.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A waker that raises a flag.
#[derive(Default)]
pub struct Flag(AtomicBool);

impl Flag {
    pub fn new() -> (Arc<Self>, Waker) {
        let flag = Arc::new(Self::default());
        let waker = Waker::from(Arc::clone(&flag));
        (flag, waker)
    }

    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls `a` then `b` (or `b` then `a` when `b_first`) until one is ready;
/// the other is left as it is (the caller drops or reuses it).
pub async fn race<A: Future + Unpin, B: Future + Unpin>(
    a: &mut A,
    b: &mut B,
    b_first: bool,
) -> Either<A::Output, B::Output> {
    std::future::poll_fn(|cx| {
        if b_first {
            if let Poll::Ready(out) = Pin::new(&mut *b).poll(cx) {
                return Poll::Ready(Either::Right(out));
            }
        }
        if let Poll::Ready(out) = Pin::new(&mut *a).poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        if !b_first {
            if let Poll::Ready(out) = Pin::new(&mut *b).poll(cx) {
                return Poll::Ready(Either::Right(out));
            }
        }
        Poll::Pending
    })
    .await
}

/// A small deterministic pseudo-random sequence (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Asserts the accounting invariant on a quiescent queue.
pub fn assert_accounted<T>(tx: &Sender<T, impl Sized, impl Sized>) {
    let s = tx.stats();
    assert_eq!(
        s.sent,
        s.received + s.len as u64 + s.dropped,
        "sent = received + len + dropped: {s:?}"
    );
}
