//! Classification: which errors are worth another attempt, and when.

use std::time::Duration;

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// A transient error: retry after the policy's next delay.
    Retry,
    /// A transient error that says when to come back (an HTTP
    /// `Retry-After`, a `SQLITE_BUSY` hint...): retry after this delay,
    /// capped at the policy's `max_delay` and still bound by its deadline and
    /// attempt limit.
    RetryAfter(Duration),
    /// A permanent error: give up now with
    /// [`RetryError::Permanent`](crate::RetryError::Permanent).
    Stop,
}

/// Decides, per error, whether to retry. Any `FnMut(&E) -> Action` closure
/// is a classifier; [`Retry::when`](crate::Retry::when) takes a plain
/// `FnMut(&E) -> bool` instead.
pub trait Classify<E> {
    /// Classifies one failed attempt's error.
    fn classify(&mut self, error: &E) -> Action;
}

impl<E, F> Classify<E> for F
where
    F: FnMut(&E) -> Action,
{
    #[inline]
    fn classify(&mut self, error: &E) -> Action {
        self(error)
    }
}

/// The default classifier: every error is transient.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryAll;

impl<E> Classify<E> for RetryAll {
    #[inline]
    fn classify(&mut self, _: &E) -> Action {
        Action::Retry
    }
}

/// The classifier made by [`Retry::when`](crate::Retry::when): errors the
/// predicate accepts are retried, the others are permanent.
#[derive(Debug, Clone, Copy)]
pub struct When<P>(pub(crate) P);

impl<E, P> Classify<E> for When<P>
where
    P: FnMut(&E) -> bool,
{
    #[inline]
    fn classify(&mut self, error: &E) -> Action {
        if (self.0)(error) {
            Action::Retry
        } else {
            Action::Stop
        }
    }
}

/// Hears about each retry before its wait: the error, the number of the
/// attempt that failed (1 for the first call) and the delay before the next
/// attempt. Any `FnMut(&E, u32, Duration)` closure is one.
pub trait Notify<E> {
    /// Called once per retry, before sleeping.
    fn notify(&mut self, error: &E, attempt: u32, next_delay: Duration);
}

impl<E, F> Notify<E> for F
where
    F: FnMut(&E, u32, Duration),
{
    #[inline]
    fn notify(&mut self, error: &E, attempt: u32, next_delay: Duration) {
        self(error, attempt, next_delay)
    }
}

/// The default notifier: does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNotify;

impl<E> Notify<E> for NoNotify {
    #[inline]
    fn notify(&mut self, _: &E, _: u32, _: Duration) {}
}
