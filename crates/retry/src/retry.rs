//! [`Retry`]: one retry being configured, and the decision core that the
//! async future and the blocking loop share.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use sluicegate_rt::{Clock, Sleeper, SystemClock};

use crate::backoff::Backoff;
use crate::classify::{Action, Classify, NoNotify, Notify, RetryAll, When};
use crate::error::{Report, RetryError};
use crate::futures::{ReportFuture, RetryFuture};
use crate::policy::Policy;

/// A retry under construction: the operation, its [`Policy`], and how to
/// sleep, read time, classify errors, report retries and cancel.
///
/// Made by [`Policy::retry`] (async: `.await` it) or
/// [`Policy::retry_blocking`] (sync: [`call`](Retry::call) it). Each setter
/// returns the retry with that part replaced.
///
/// ```
/// use sluicegate_retry::{Action, Policy};
/// use std::time::Duration;
///
/// #[derive(Debug)]
/// enum ApiError { Busy { retry_after: Duration }, NotFound }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = Policy::exponential(Duration::from_millis(50)).build().unwrap();
/// let mut calls = 0;
/// let result: Result<u32, _> = policy
///     .retry(|| {
///         calls += 1;
///         let n = calls;
///         async move {
///             if n == 1 { Err(ApiError::Busy { retry_after: Duration::from_millis(10) }) }
///             else { Err(ApiError::NotFound) }
///         }
///     })
///     .sleep(tokio::time::sleep)
///     .classify(|e| match e {
///         ApiError::Busy { retry_after } => Action::RetryAfter(*retry_after),
///         ApiError::NotFound => Action::Stop,
///     })
///     .notify(|e, attempt, delay| println!("attempt {attempt} failed ({e:?}), next in {delay:?}"))
///     .await;
///
/// let err = result.unwrap_err();
/// assert!(err.is_permanent());
/// assert_eq!(err.attempts(), 2);
/// # }
/// ```
#[must_use = "a retry does nothing until it is `.await`ed or `.call()`ed"]
#[derive(Debug, Clone)]
pub struct Retry<O, S = DefaultSleeper, C = SystemClock, K = RetryAll, N = NoNotify, X = NoCancel> {
    op: O,
    policy: Policy,
    sleeper: S,
    clock: C,
    classify: K,
    notify: N,
    cancel: X,
}

/// The kind of operation a [`Retry`] drives: [`Async`] or [`Blocking`].
/// Implemented only by those two; it names the operation's success and
/// error types for the setters.
pub trait Operation {
    /// What a successful attempt returns.
    type Ok;
    /// What a failed attempt returns.
    type Err;
}

/// An async operation: `FnMut() -> impl Future<Output = Result<T, E>>`.
#[derive(Debug, Clone, Copy)]
pub struct Async<F>(pub(crate) F);

/// A blocking operation: `FnMut() -> Result<T, E>`.
#[derive(Debug, Clone, Copy)]
pub struct Blocking<F>(pub(crate) F);

impl<F, Fut, T, E> Operation for Async<F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Ok = T;
    type Err = E;
}

impl<F, T, E> Operation for Blocking<F>
where
    F: FnMut() -> Result<T, E>,
{
    type Ok = T;
    type Err = E;
}

/// The sleeper a retry starts with. Blocking retries sleep with
/// `std::thread::sleep`; it is deliberately **not** an async
/// [`Sleeper`], so an async retry must be given one with
/// [`Retry::sleep`] (`tokio::time::sleep`, `sluicegate_rt::TokioSleeper`,
/// `ManualClock`...). sluicegate picks no runtime for you.
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultSleeper;

/// How a blocking retry waits. Any `Fn(Duration)` is one, so
/// `std::thread::sleep` works, and so does `|d| manual_clock.advance(d)` in
/// tests.
pub trait BlockingSleep {
    /// Blocks the current thread for `dur`.
    fn sleep(&self, dur: Duration);
}

impl<F: Fn(Duration)> BlockingSleep for F {
    #[inline]
    fn sleep(&self, dur: Duration) {
        self(dur)
    }
}

impl BlockingSleep for DefaultSleeper {
    fn sleep(&self, dur: Duration) {
        std::thread::sleep(dur)
    }
}

/// The default cancel signal of an async retry: never fires.
#[derive(Debug, Default, Clone, Copy)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct NoCancel;

impl Future for NoCancel {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl<O> Retry<O> {
    pub(crate) fn new(op: O, policy: Policy) -> Self {
        Self {
            op,
            policy,
            sleeper: DefaultSleeper,
            clock: SystemClock,
            classify: RetryAll,
            notify: NoNotify,
            cancel: NoCancel,
        }
    }
}

impl<O: Operation, S, C, K, N, X> Retry<O, S, C, K, N, X> {
    /// How to wait between attempts: an async [`Sleeper`] for async retries
    /// (required), a [`BlockingSleep`] for blocking ones (default
    /// `std::thread::sleep`).
    pub fn sleep<S2>(self, sleeper: S2) -> Retry<O, S2, C, K, N, X> {
        Retry {
            op: self.op,
            policy: self.policy,
            sleeper,
            clock: self.clock,
            classify: self.classify,
            notify: self.notify,
            cancel: self.cancel,
        }
    }

    /// The clock that measures the policy's `max_elapsed` (default
    /// [`SystemClock`]). Give the same virtual clock as the sleeper in
    /// tests. It is read only when the policy has a time limit.
    pub fn clock<C2: Clock>(self, clock: C2) -> Retry<O, S, C2, K, N, X> {
        Retry {
            op: self.op,
            policy: self.policy,
            sleeper: self.sleeper,
            clock,
            classify: self.classify,
            notify: self.notify,
            cancel: self.cancel,
        }
    }

    /// Retries only the errors `is_transient` accepts; any other error ends
    /// the retry at once as [`RetryError::Permanent`].
    pub fn when<P>(self, is_transient: P) -> Retry<O, S, C, When<P>, N, X>
    where
        P: FnMut(&O::Err) -> bool,
    {
        self.classifier(When(is_transient))
    }

    /// Classifies each error with an [`Action`]: retry, retry after a given
    /// delay (`Retry-After`), or stop. Replaces [`when`](Retry::when).
    pub fn classify<K2>(self, classify: K2) -> Retry<O, S, C, K2, N, X>
    where
        K2: FnMut(&O::Err) -> Action,
    {
        self.classifier(classify)
    }

    /// Like [`classify`](Retry::classify), for a classifier that is a type
    /// implementing [`Classify`] rather than a closure.
    pub fn classifier<K2>(self, classify: K2) -> Retry<O, S, C, K2, N, X>
    where
        K2: Classify<O::Err>,
    {
        Retry {
            op: self.op,
            policy: self.policy,
            sleeper: self.sleeper,
            clock: self.clock,
            classify,
            notify: self.notify,
            cancel: self.cancel,
        }
    }

    /// Called before each wait with the error, the number of the attempt
    /// that failed (1-based) and the delay before the next attempt.
    pub fn notify<N2>(self, notify: N2) -> Retry<O, S, C, K, N2, X>
    where
        N2: FnMut(&O::Err, u32, std::time::Duration),
    {
        Retry {
            op: self.op,
            policy: self.policy,
            sleeper: self.sleeper,
            clock: self.clock,
            classify: self.classify,
            notify,
            cancel: self.cancel,
        }
    }

    /// The policy this retry runs under.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

impl<F, Fut, T, E, S, C, K, N, X> Retry<Async<F>, S, C, K, N, X>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    /// Stops retrying when `signal` completes: a wait in progress ends at
    /// once with [`RetryError::Cancelled`] (carrying the last error), and no
    /// further attempt starts. An attempt already running is not
    /// interrupted; drop the retry future to abandon it. Any
    /// `Future<Output = ()>` works: a `tokio_util` `CancellationToken`'s
    /// `cancelled_owned()`, a oneshot receiver mapped to `()`, an
    /// `event_listener` listener...
    pub fn cancel_on<X2>(self, signal: X2) -> Retry<Async<F>, S, C, K, N, X2>
    where
        X2: Future<Output = ()>,
    {
        Retry {
            op: self.op,
            policy: self.policy,
            sleeper: self.sleeper,
            clock: self.clock,
            classify: self.classify,
            notify: self.notify,
            cancel: signal,
        }
    }

    /// Runs the retry and resolves to a [`Report`]: the result and the
    /// number of attempts it took, success included.
    pub fn report(self) -> ReportFuture<F, Fut, E, S, C, K, N, X>
    where
        S: Sleeper,
        C: Clock,
        K: Classify<E>,
        N: Notify<E>,
        X: Future<Output = ()>,
    {
        ReportFuture::new(self.into_future())
    }
}

impl<F, Fut, T, E, S, C, K, N, X> IntoFuture for Retry<Async<F>, S, C, K, N, X>
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
    type IntoFuture = RetryFuture<F, Fut, E, S, C, K, N, X>;

    fn into_future(self) -> Self::IntoFuture {
        RetryFuture::new(
            self.op.0,
            Tracker::new(&self.policy),
            self.sleeper,
            self.clock,
            self.classify,
            self.notify,
            self.cancel,
        )
    }
}

impl<F, T, E, S, C, K, N, X> Retry<Blocking<F>, S, C, K, N, X>
where
    F: FnMut() -> Result<T, E>,
    S: BlockingSleep,
    C: Clock,
    K: Classify<E>,
    N: Notify<E>,
{
    /// Runs the blocking retry on this thread.
    ///
    /// # Errors
    ///
    /// A [`RetryError`] with the last error when the error was permanent,
    /// the attempts ran out or the time limit was reached.
    pub fn call(self) -> Result<T, RetryError<E>> {
        self.call_report().result
    }

    /// Runs the blocking retry on this thread and returns a [`Report`]: the
    /// result and the number of attempts it took.
    pub fn call_report(mut self) -> Report<T, E> {
        let mut tracker = Tracker::new(&self.policy);
        let result = loop {
            tracker.start_attempt(&self.clock);
            let error = match (self.op.0)() {
                Ok(value) => break Ok(value),
                Err(error) => error,
            };
            match tracker.decide(&error, &mut self.classify, &self.clock) {
                Step::Retry(delay) => {
                    self.notify.notify(&error, tracker.attempts, delay);
                    self.sleeper.sleep(delay);
                }
                Step::Stop(stop) => break Err(tracker.give_up(stop, error)),
            }
        };
        Report {
            result,
            attempts: tracker.attempts,
        }
    }
}

/// What the decision core says after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Retry(Duration),
    Stop(Stop),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Permanent,
    Exhausted,
    Deadline,
}

/// The decision core shared by the async future and the blocking loop:
/// counts attempts, draws delays, and applies classification, the attempt
/// limit and the deadline.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    backoff: Backoff,
    max_elapsed: Option<Duration>,
    /// When the first attempt started; read only with a time limit, so the
    /// success path never touches the clock without one.
    started: Option<Instant>,
    pub(crate) attempts: u32,
}

impl Tracker {
    #[inline]
    pub(crate) fn new(policy: &Policy) -> Self {
        Self {
            backoff: policy.backoff(),
            max_elapsed: policy.max_elapsed,
            started: None,
            attempts: 0,
        }
    }

    #[inline]
    pub(crate) fn start_attempt(&mut self, clock: &impl Clock) {
        if self.started.is_none() && self.max_elapsed.is_some() {
            self.started = Some(clock.now());
        }
        self.attempts = self.attempts.saturating_add(1);
    }

    pub(crate) fn decide<E>(
        &mut self,
        error: &E,
        classify: &mut impl Classify<E>,
        clock: &impl Clock,
    ) -> Step {
        let hint = match classify.classify(error) {
            Action::Stop => return Step::Stop(Stop::Permanent),
            Action::Retry => None,
            Action::RetryAfter(hint) => Some(hint),
        };
        let Some(delay) = self.backoff.next_with_hint(hint) else {
            return Step::Stop(Stop::Exhausted);
        };
        if let (Some(max_elapsed), Some(started)) = (self.max_elapsed, self.started) {
            let elapsed = clock.now().saturating_duration_since(started);
            if elapsed.saturating_add(delay) > max_elapsed {
                return Step::Stop(Stop::Deadline);
            }
        }
        Step::Retry(delay)
    }

    pub(crate) fn give_up<E>(&self, stop: Stop, last: E) -> RetryError<E> {
        let attempts = self.attempts;
        match stop {
            Stop::Permanent => RetryError::Permanent { last, attempts },
            Stop::Exhausted => RetryError::Exhausted { last, attempts },
            Stop::Deadline => RetryError::DeadlineExceeded { last, attempts },
        }
    }

    pub(crate) fn cancelled<E>(&self, last: E) -> RetryError<E> {
        RetryError::Cancelled {
            last,
            attempts: self.attempts,
        }
    }
}
