//! Helpers shared by the test suites: buckets on a `ManualClock`, and a
//! crowd of callers polled only when their own waker fires, so a lost
//! wake-up shows as a stall instead of being papered over by extra polls.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use sluicegate_leaky_bucket::{Full, LeakyBucket};
use sluicegate_rt::ManualClock;

pub type Bucket = LeakyBucket<ManualClock, ManualClock>;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One caller every `interval`, on `clock`, with room for `capacity`.
pub fn every(clock: &ManualClock, interval: Duration, capacity: usize) -> Bucket {
    LeakyBucket::every(interval)
        .capacity(capacity)
        .timer(clock.clone())
        .build()
        .unwrap()
}

/// Polls `fut` once with a no-op waker.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A waker that raises a flag.
#[derive(Default)]
pub struct Flag(AtomicBool);

impl Flag {
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

type Call<'a> = Pin<Box<dyn Future<Output = Result<(), Full>> + 'a>>;

struct Member<'a> {
    fut: Option<Call<'a>>,
    flag: Arc<Flag>,
    waker: Waker,
    outcome: Option<(Duration, Result<(), Full>)>,
}

/// Callers of one bucket, each polled only when woken. Records when (virtual
/// time since the clock's start) and how each one finished.
pub struct Crowd<'a> {
    clock: ManualClock,
    members: Vec<Member<'a>>,
    /// Indices in the order they finished.
    pub order: Vec<usize>,
}

impl<'a> Crowd<'a> {
    pub fn new(clock: &ManualClock) -> Self {
        Self {
            clock: clock.clone(),
            members: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Adds a caller and polls it once (it arrives now). Returns its index.
    pub fn arrive(&mut self, fut: impl Future<Output = Result<(), Full>> + 'a) -> usize {
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(Arc::clone(&flag));
        self.members.push(Member {
            fut: Some(Box::pin(fut)),
            flag,
            waker,
            outcome: None,
        });
        let i = self.members.len() - 1;
        self.poll(i);
        i
    }

    /// `n` callers of `bucket.acquire()`, arriving now.
    pub fn acquire_n(&mut self, bucket: &'a Bucket, n: usize) -> Vec<usize> {
        (0..n).map(|_| self.arrive(bucket.acquire())).collect()
    }

    fn poll(&mut self, i: usize) -> bool {
        let now = self.clock.elapsed();
        let m = &mut self.members[i];
        let Some(fut) = m.fut.as_mut() else {
            return false;
        };
        let mut cx = Context::from_waker(&m.waker);
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => {
                m.fut = None;
                m.outcome = Some((now, out));
                self.order.push(i);
                true
            }
            Poll::Pending => false,
        }
    }

    /// Polls woken callers (in index order) until none is woken.
    pub fn settle(&mut self) {
        loop {
            let mut any = false;
            for i in 0..self.members.len() {
                if self.members[i].fut.is_some() && self.members[i].flag.take() {
                    any = true;
                    self.poll(i);
                }
            }
            if !any {
                return;
            }
        }
    }

    /// Like `settle`, but polls in reverse index order.
    pub fn settle_reversed(&mut self) {
        loop {
            let mut any = false;
            for i in (0..self.members.len()).rev() {
                if self.members[i].fut.is_some() && self.members[i].flag.take() {
                    any = true;
                    self.poll(i);
                }
            }
            if !any {
                return;
            }
        }
    }

    /// Moves the clock by `d` and settles.
    pub fn advance(&mut self, d: Duration) {
        self.clock.advance(d);
        self.settle();
    }

    /// Settles, then steps the clock from deadline to deadline until every
    /// caller has finished. Fails on a stall (pending, nothing registered).
    pub fn run(&mut self) {
        self.settle();
        while self.members.iter().any(|m| m.fut.is_some()) {
            assert!(
                self.clock.advance_to_next().is_some(),
                "stall: {} callers pending, no sleep registered",
                self.pending()
            );
            self.settle();
        }
    }

    /// Drops caller `i`'s future (it gives up).
    pub fn cancel(&mut self, i: usize) {
        assert!(
            self.members[i].fut.take().is_some(),
            "caller {i} had finished"
        );
        self.settle();
    }

    pub fn pending(&self) -> usize {
        self.members.iter().filter(|m| m.fut.is_some()).count()
    }

    pub fn is_done(&self, i: usize) -> bool {
        self.members[i].outcome.is_some()
    }

    /// When caller `i` finished, or `None`.
    pub fn finished_at(&self, i: usize) -> Option<Duration> {
        self.members[i].outcome.as_ref().map(|(t, _)| *t)
    }

    pub fn outcome(&self, i: usize) -> Option<Result<(), Full>> {
        self.members[i].outcome.as_ref().map(|(_, r)| *r)
    }

    /// Release instants of `ids`, all of which must have been released.
    pub fn released_at(&self, ids: &[usize]) -> Vec<Duration> {
        ids.iter()
            .map(|&i| match &self.members[i].outcome {
                Some((t, Ok(()))) => *t,
                other => panic!("caller {i}: {other:?}"),
            })
            .collect()
    }

    /// How many have been released (Ok) so far.
    pub fn released(&self) -> usize {
        self.members
            .iter()
            .filter(|m| matches!(m.outcome, Some((_, Ok(())))))
            .count()
    }
}
