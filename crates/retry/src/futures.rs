//! The futures behind an awaited [`Retry`](crate::Retry).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use sluicegate_rt::{Clock, Sleeper};

use crate::classify::{Classify, Notify};
use crate::error::{Report, RetryError};
use crate::retry::{Step, Tracker};

pin_project! {
    #[project = StateProj]
    #[project_replace = StateOwned]
    enum State<Fut, Sl, E> {
        Idle,
        Running { #[pin] attempt: Fut },
        Sleeping { #[pin] sleep: Sl, last: E },
        Done,
    }
}

pin_project! {
    /// The future of an async [`Retry`](crate::Retry): made by `.await` (or
    /// `IntoFuture::into_future`).
    ///
    /// Cancel-safe: dropping it drops the attempt or the wait in progress;
    /// nothing else is held.
    ///
    /// # Panics
    ///
    /// Polling it again after it completed panics, as for `async` blocks.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct RetryFuture<F, Fut, E, S: Sleeper, C, K, N, X> {
        op: F,
        tracker: Tracker,
        sleeper: S,
        clock: C,
        classify: K,
        notify: N,
        #[pin]
        cancel: X,
        #[pin]
        state: State<Fut, S::Sleep, E>,
    }
}

impl<F, Fut, E, S: Sleeper, C, K, N, X> RetryFuture<F, Fut, E, S, C, K, N, X> {
    pub(crate) fn new(
        op: F,
        tracker: Tracker,
        sleeper: S,
        clock: C,
        classify: K,
        notify: N,
        cancel: X,
    ) -> Self {
        Self {
            op,
            tracker,
            sleeper,
            clock,
            classify,
            notify,
            cancel,
            state: State::Idle,
        }
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.tracker.attempts
    }
}

impl<F, Fut, T, E, S, C, K, N, X> Future for RetryFuture<F, Fut, E, S, C, K, N, X>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    S: Sleeper,
    C: Clock,
    K: Classify<E>,
    N: Notify<E>,
    X: Future<Output = ()>,
{
    type Output = Result<T, RetryError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Idle => {
                    this.tracker.start_attempt(this.clock);
                    let attempt = (this.op)();
                    this.state.set(State::Running { attempt });
                }
                StateProj::Running { attempt } => {
                    let error = match ready!(attempt.poll(cx)) {
                        Ok(value) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(value));
                        }
                        Err(error) => error,
                    };
                    match this.tracker.decide(&error, this.classify, this.clock) {
                        Step::Stop(stop) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(this.tracker.give_up(stop, error)));
                        }
                        Step::Retry(_) if this.cancel.as_mut().poll(cx).is_ready() => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(this.tracker.cancelled(error)));
                        }
                        Step::Retry(delay) => {
                            this.notify.notify(&error, this.tracker.attempts, delay);
                            let sleep = this.sleeper.sleep(delay);
                            this.state.set(State::Sleeping { sleep, last: error });
                        }
                    }
                }
                StateProj::Sleeping { sleep, .. } => {
                    if this.cancel.as_mut().poll(cx).is_pending() {
                        ready!(sleep.poll(cx));
                        this.state.set(State::Idle);
                        continue;
                    }
                    match this.state.as_mut().project_replace(State::Done) {
                        StateOwned::Sleeping { last, .. } => {
                            return Poll::Ready(Err(this.tracker.cancelled(last)));
                        }
                        _ => unreachable!("the state was Sleeping"),
                    }
                }
                StateProj::Done => panic!("RetryFuture polled after completion"),
            }
        }
    }
}

pin_project! {
    /// The future of [`Retry::report`](crate::Retry::report): resolves to a
    /// [`Report`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct ReportFuture<F, Fut, E, S: Sleeper, C, K, N, X> {
        #[pin]
        inner: RetryFuture<F, Fut, E, S, C, K, N, X>,
    }
}

impl<F, Fut, E, S: Sleeper, C, K, N, X> ReportFuture<F, Fut, E, S, C, K, N, X> {
    pub(crate) fn new(inner: RetryFuture<F, Fut, E, S, C, K, N, X>) -> Self {
        Self { inner }
    }
}

impl<F, Fut, T, E, S, C, K, N, X> Future for ReportFuture<F, Fut, E, S, C, K, N, X>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    S: Sleeper,
    C: Clock,
    K: Classify<E>,
    N: Notify<E>,
    X: Future<Output = ()>,
{
    type Output = Report<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Report<T, E>> {
        let mut inner = self.project().inner;
        let result = ready!(inner.as_mut().poll(cx));
        Poll::Ready(Report {
            result,
            attempts: inner.as_ref().get_ref().attempts(),
        })
    }
}

impl<F, Fut, E, S: Sleeper, C, K, N, X> std::fmt::Debug for RetryFuture<F, Fut, E, S, C, K, N, X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryFuture")
            .field("attempts", &self.tracker.attempts)
            .finish_non_exhaustive()
    }
}

impl<F, Fut, E, S: Sleeper, C, K, N, X> std::fmt::Debug for ReportFuture<F, Fut, E, S, C, K, N, X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportFuture")
            .field("inner", &self.inner)
            .finish()
    }
}
