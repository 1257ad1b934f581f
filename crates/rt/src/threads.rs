//! Plain std threads (feature `threads`): no async runtime at all.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use crate::sleep::deadline_after;
use crate::timers::TimerQueue;
use crate::{Sleeper, Spawner, block_on};

/// Runs each spawned future to completion on a thread of its own, with
/// [`block_on`](crate::block_on). Fits a handful of long-lived workers, not
/// thousands of tasks.
#[derive(Debug, Default, Clone)]
pub struct ThreadSpawner {
    name: Option<String>,
}

impl ThreadSpawner {
    /// Unnamed threads.
    pub fn new() -> Self {
        Self { name: None }
    }

    /// Threads named `name` (shown in panics and debuggers).
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
        }
    }
}

impl Spawner for ThreadSpawner {
    /// # Panics
    ///
    /// Panics if the operating system refuses to create a thread, as
    /// `std::thread::spawn` does.
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut builder = thread::Builder::new();
        if let Some(name) = &self.name {
            builder = builder.name(name.clone());
        }
        builder
            .spawn(move || block_on(fut))
            .expect("failed to spawn a thread");
    }
}

/// Sleeps on one shared background timer thread (started on first use), so
/// futures can wait without any runtime.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    type Sleep = ThreadSleep;

    fn sleep(&self, dur: Duration) -> ThreadSleep {
        self.sleep_until(deadline_after(Instant::now(), dur))
    }

    fn sleep_until(&self, deadline: Instant) -> ThreadSleep {
        ThreadSleep { deadline, id: None }
    }
}

/// The future returned by [`ThreadSleeper`]. Dropping it cancels it.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ThreadSleep {
    deadline: Instant,
    id: Option<u64>,
}

impl fmt::Debug for ThreadSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadSleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

struct Timer {
    queue: Mutex<TimerQueue<Instant>>,
    rearm: Condvar,
}

impl Timer {
    fn lock(&self) -> MutexGuard<'_, TimerQueue<Instant>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        let mut due = Vec::new();
        let mut queue = self.lock();
        loop {
            queue.take_due(Instant::now(), &mut due);
            if !due.is_empty() {
                drop(queue);
                for waker in due.drain(..) {
                    // A panicking waker must not kill the one timer thread
                    // that every `ThreadSleep` depends on.
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| waker.wake()));
                }
                queue = self.lock();
                continue;
            }
            queue = match queue.next_deadline() {
                Some(next) => {
                    let wait = next.saturating_duration_since(Instant::now());
                    self.rearm
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .rearm
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

fn timer() -> &'static Timer {
    static TIMER: Timer = Timer {
        queue: Mutex::new(TimerQueue::new()),
        rearm: Condvar::new(),
    };
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        thread::Builder::new()
            .name("sluicegate-timer".into())
            .spawn(|| TIMER.run())
            .expect("failed to spawn the sluicegate timer thread");
    });
    &TIMER
}

impl Future for ThreadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            if let Some(id) = this.id.take() {
                timer().lock().cancel(this.deadline, id);
            }
            return Poll::Ready(());
        }
        let timer = timer();
        let earliest = timer
            .lock()
            .register(this.deadline, &mut this.id, cx.waker());
        if earliest {
            timer.rearm.notify_one();
        }
        Poll::Pending
    }
}

impl Drop for ThreadSleep {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            timer().lock().cancel(self.deadline, id);
        }
    }
}
