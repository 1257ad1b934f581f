//! The worker loop, and how one job is run: panics caught, aborts obeyed.

use std::any::Any;
use std::future::{Future, IntoFuture, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use event_listener::EventListener;
use sluicegate_backpressure::{Receiver, TryRecvError};

use crate::builder::CancelOn;
use crate::error::JobError;
use crate::job::Entry;
use crate::shared::Shared;
use crate::stats::Counters;

/// Counts a worker out when its task ends, however it ends: returned,
/// or dropped by its executor (a runtime shutting down). Built before the
/// task is spawned, so even a task never polled is counted out.
pub(crate) struct LiveGuard<T, E, S> {
    shared: Arc<Shared<T, E, S>>,
    /// `false` once the worker retired itself (already counted out).
    counted: bool,
}

impl<T, E, S> LiveGuard<T, E, S> {
    pub(crate) fn new(shared: Arc<Shared<T, E, S>>) -> Self {
        Self {
            shared,
            counted: true,
        }
    }
}

impl<T, E, S> Drop for LiveGuard<T, E, S> {
    fn drop(&mut self) {
        if self.counted {
            self.shared.worker_left();
        } else {
            self.shared.exited.notify(usize::MAX);
        }
    }
}

/// How a job ended.
enum Outcome<T, E> {
    Done(Result<T, E>),
    Panicked(String),
    Cancelled,
}

/// One worker: takes jobs until the pool is drained, aborted, or shrunk
/// below this worker.
pub(crate) async fn run<T, E, S>(mut guard: LiveGuard<T, E, S>, rx: Receiver<Entry<T, E>>)
where
    T: Send + 'static,
    E: Send + 'static,
{
    let shared = Arc::clone(&guard.shared);
    loop {
        if shared.is_aborted() {
            break;
        }
        if shared.workers.try_retire() {
            guard.counted = false;
            break;
        }
        // Read before looking at the queue: drained means nothing can be
        // enqueued any more, so an empty queue stays empty.
        let drained = shared.gate.is_drained();
        match rx.try_recv() {
            Ok(entry) => {
                run_one(&shared, entry).await;
                continue;
            }
            Err(TryRecvError::Closed) => break,
            Err(TryRecvError::Empty) if drained => break,
            Err(TryRecvError::Empty) => {}
        }
        // Idle: wait for a job or a change of state, registering before
        // the re-check so that no notification is missed.
        let mut listener = shared.control.listen();
        if shared.is_aborted() || shared.gate.is_drained() || shared.workers.is_over() {
            continue;
        }
        let mut recv = pin!(rx.recv());
        let next = poll_fn(|cx| {
            if let Poll::Ready(item) = recv.as_mut().poll(cx) {
                return Poll::Ready(Some(item));
            }
            match Pin::new(&mut listener).poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match next {
            Some(Some(entry)) => run_one(&shared, entry).await,
            Some(None) => break,
            None => {}
        }
    }
    drop(rx);
    drop(guard);
}

/// Runs one job, counts its outcome, replies to its handle, and applies the
/// cancel-on policy.
async fn run_one<T, E, S>(shared: &Shared<T, E, S>, entry: Entry<T, E>)
where
    T: Send + 'static,
    E: Send + 'static,
{
    if shared.is_aborted() {
        // Taken off the queue but not started: hand it back.
        crate::shared::lock(&shared.late).push(entry);
        return;
    }
    let Entry { job, reply } = entry;
    let c = &shared.counters;
    c.running.fetch_add(1, Ordering::AcqRel);
    let outcome = guarded(shared, job.into_future()).await;
    let (result, cancel) = match outcome {
        Outcome::Done(Ok(value)) => {
            Counters::bump(&c.completed);
            (Ok(value), false)
        }
        Outcome::Done(Err(e)) => {
            Counters::bump(&c.failed);
            if let Some(on_error) = &shared.on_error {
                let _ = catch_unwind(AssertUnwindSafe(|| on_error(&e)));
            }
            (
                Err(JobError::Failed(e)),
                shared.cancel_on == CancelOn::PanicOrError,
            )
        }
        Outcome::Panicked(msg) => {
            Counters::bump(&c.panicked);
            if let Some(on_panic) = &shared.on_panic {
                let _ = catch_unwind(AssertUnwindSafe(|| on_panic(&msg)));
            }
            (
                Err(JobError::Panicked(msg)),
                shared.cancel_on != CancelOn::Never,
            )
        }
        Outcome::Cancelled => {
            Counters::bump(&c.cancelled);
            (Err(JobError::Cancelled), false)
        }
    };
    c.running.fetch_sub(1, Ordering::AcqRel);
    if cancel {
        shared.abort();
    }
    if let Some(reply) = reply {
        reply.send(result);
    }
}

/// Polls `fut` inside `catch_unwind` (no unsafe: the boxed future is
/// `Unpin`), and gives up on it as soon as the pool is aborted. The abort
/// listener is made only if the job ever waits, so a job that finishes at
/// its first poll allocates nothing here.
async fn guarded<T, E, S, F>(shared: &Shared<T, E, S>, mut fut: F) -> Outcome<T, E>
where
    F: Future<Output = Result<T, E>> + Unpin,
{
    let mut listener: Option<EventListener> = None;
    poll_fn(|cx| {
        match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut fut).poll(cx))) {
            Ok(Poll::Ready(result)) => return Poll::Ready(Outcome::Done(result)),
            Ok(Poll::Pending) => {}
            Err(payload) => return Poll::Ready(Outcome::Panicked(message(&*payload))),
        }
        loop {
            if shared.is_aborted() {
                return Poll::Ready(Outcome::Cancelled);
            }
            match &mut listener {
                None => listener = Some(shared.abort.listen()),
                Some(l) => match Pin::new(l).poll(cx) {
                    Poll::Ready(()) => listener = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    })
    .await
}

/// The message of a panic payload (`&str` or `String`, as `panic!` makes).
fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
