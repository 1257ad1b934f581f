//! Helpers shared by the test suites: a local executor driven in virtual
//! time, Jain's fairness index, a quiet panic hook for the panics the tests
//! raise on purpose, and a spawner that counts what it spawned.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use sluicegate_rt::{BoxFuture, ManualClock, Spawner};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Jain's fairness index of `xs`: `(sum x)^2 / (n * sum x^2)`; 1 when all
/// are equal, `1/n` when one gets everything.
pub fn jain(xs: &[u64]) -> f64 {
    let n = xs.len() as f64;
    let sum: f64 = xs.iter().map(|&x| x as f64).sum();
    let sum_sq: f64 = xs.iter().map(|&x| (x as f64) * (x as f64)).sum();
    if sum_sq == 0.0 {
        return 1.0;
    }
    sum * sum / (n * sum_sq)
}

/// The marker of panics the tests raise on purpose.
pub const BOOM: &str = "worker panic (expected by the test)";

/// Keeps the panics the tests raise on purpose off stderr.
pub fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.contains(BOOM) {
                default(info);
            }
        }));
    });
}

/// A single-threaded executor run inside `ManualClock::block_on`: spawned
/// tasks and the test's own future run on this thread, and virtual time
/// moves only when every one of them waits. Deterministic.
#[derive(Clone)]
pub struct Local {
    ex: Arc<smol::Executor<'static>>,
    pub clock: ManualClock,
    pub spawned: Arc<AtomicUsize>,
}

impl Local {
    pub fn new() -> Self {
        Self {
            ex: Arc::new(smol::Executor::new()),
            clock: ManualClock::new(),
            spawned: Arc::default(),
        }
    }

    pub fn spawner(&self) -> impl Spawner + Clone + Send + Sync + 'static {
        let ex = Arc::clone(&self.ex);
        let spawned = Arc::clone(&self.spawned);
        move |f: BoxFuture| {
            spawned.fetch_add(1, Ordering::SeqCst);
            ex.spawn(f).detach();
        }
    }

    /// Spawns `fut` as a task of its own, polled only when woken (unlike
    /// the future given to [`run`](Self::run), which is polled again
    /// whenever virtual time moves, and so would not notice a lost
    /// wake-up).
    pub fn task<F>(&self, fut: F) -> smol::Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.ex.spawn(fut)
    }

    /// Runs `fut` (and every spawned task) in virtual time.
    pub fn run<F: Future>(&self, fut: F) -> F::Output {
        self.clock.block_on(self.ex.run(fut))
    }

    /// A virtual-time sleep.
    pub async fn sleep(&self, d: Duration) {
        self.clock.sleep(d).await
    }
}

/// A spawner that counts spawns and refuses to run anything (for
/// bad-input tests: nothing may be spawned).
#[derive(Clone, Default)]
pub struct Counting(pub Arc<AtomicUsize>);

impl Spawner for Counting {
    fn spawn<F>(&self, _fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A spawner whose tasks the test can abort, like an executor dropping a
/// task it has already polled (a runtime shutting down, an aborted
/// handle): each spawned future is wrapped so that [`Abortable::abort`]
/// drops it, at once, in the caller's thread; the wrapper then ends on its
/// next poll. Tasks are numbered in spawn order (a fan-out spawns its
/// workers `0..n`, then its feeder, `n`).
#[derive(Clone)]
pub struct Abortable {
    inner: Arc<dyn Fn(BoxFuture) + Send + Sync>,
    slots: Arc<std::sync::Mutex<Vec<Slot>>>,
}

/// An abortable task's future, `None` once aborted or ended.
type Slot = Arc<std::sync::Mutex<Option<BoxFuture>>>;

impl Abortable {
    /// Runs the wrapped tasks on `inner`.
    pub fn new(inner: impl Spawner + Send + Sync + 'static) -> Self {
        Self {
            inner: Arc::new(move |f: BoxFuture| inner.spawn(f)),
            slots: Arc::default(),
        }
    }

    /// Drops task `i` now (a no-op if it has ended).
    pub fn abort(&self, i: usize) {
        let slot = Arc::clone(&self.slots.lock().unwrap()[i]);
        let fut = slot.lock().unwrap().take();
        drop(fut);
    }

    /// Tasks spawned so far.
    pub fn spawned(&self) -> usize {
        self.slots.lock().unwrap().len()
    }
}

impl Spawner for Abortable {
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let slot: Slot = Arc::new(std::sync::Mutex::new(Some(Box::pin(fut))));
        self.slots.lock().unwrap().push(Arc::clone(&slot));
        (self.inner)(Box::pin(std::future::poll_fn(move |cx| {
            let mut guard = slot.lock().unwrap();
            let Some(fut) = guard.as_mut() else {
                return std::task::Poll::Ready(());
            };
            let polled = fut.as_mut().poll(cx);
            if polled.is_ready() {
                *guard = None;
            }
            polled
        })));
    }
}
