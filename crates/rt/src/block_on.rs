//! A minimal, runtime-free `block_on`.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the current thread, parking the thread
/// while the future is pending.
///
/// This is not an executor: it drives one future and spawns nothing. It is
/// what the std-thread [`Spawner`](crate::Spawner) and sluicegate's blocking
/// APIs use, and it is handy in doctests and synchronous code.
///
/// ```
/// assert_eq!(sluicegate_rt::block_on(async { 1 + 1 }), 2);
/// ```
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            // A spurious unpark only costs one extra poll.
            Poll::Pending => thread::park(),
        }
    }
}
