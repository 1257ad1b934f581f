//! [`JobHandle`]: a future of one job's result, and its sending half.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::error::JobError;

type Outcome<T, E> = Result<T, JobError<E>>;

struct Slot<T, E> {
    value: Option<Outcome<T, E>>,
    waker: Option<Waker>,
    closed: bool,
}

type Shared<T, E> = Arc<Mutex<Slot<T, E>>>;

fn lock<T, E>(slot: &Shared<T, E>) -> MutexGuard<'_, Slot<T, E>> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sending half: a worker sends the outcome; dropped unsent (the job
/// was handed back or dropped), the handle sees [`JobError::NotRun`].
pub(crate) struct Reply<T, E> {
    slot: Shared<T, E>,
}

impl<T, E> Reply<T, E> {
    pub(crate) fn send(self, outcome: Outcome<T, E>) {
        lock(&self.slot).value = Some(outcome);
        // `Drop` wakes the handle.
    }
}

impl<T, E> Drop for Reply<T, E> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = lock(&self.slot);
            slot.closed = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

pub(crate) fn pair<T, E>() -> (Reply<T, E>, JobHandle<T, E>) {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
        closed: false,
    }));
    (
        Reply {
            slot: Arc::clone(&slot),
        },
        JobHandle { slot },
    )
}

/// A future of one job's result, from
/// [`submit_with_handle`](crate::Distributor::submit_with_handle) or
/// [`try_submit_with_handle`](crate::Distributor::try_submit_with_handle).
///
/// It resolves to the job's `Ok` value, or to a [`JobError`]: the job
/// failed, panicked, was cancelled by an abort, or was never run (handed
/// back). Dropping the handle does not cancel the job; its result is then
/// discarded.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct JobHandle<T, E> {
    slot: Shared<T, E>,
}

impl<T, E> JobHandle<T, E> {
    /// Whether the outcome is known (awaiting the handle would not wait).
    pub fn is_finished(&self) -> bool {
        let slot = lock(&self.slot);
        slot.value.is_some() || slot.closed
    }
}

impl<T, E> Future for JobHandle<T, E> {
    type Output = Outcome<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<T, E>> {
        let mut slot = lock(&self.slot);
        if let Some(outcome) = slot.value.take() {
            return Poll::Ready(outcome);
        }
        if slot.closed {
            return Poll::Ready(Err(JobError::NotRun));
        }
        match &mut slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T, E> fmt::Debug for JobHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
