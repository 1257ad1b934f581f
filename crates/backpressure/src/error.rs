//! Errors: a queue that cannot be built ([`ConfigError`]), items handed back
//! ([`SendError`], [`SendTimeoutError`]), and item-less outcomes
//! ([`TryReserveError`], [`Closed`], [`TryRecvError`]).

use std::fmt;

/// A setting that cannot work, reported by [`Builder::build`](crate::Builder::build)
/// and [`bounded`](crate::bounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A queue with no slot could never accept an item; for a rendezvous,
    /// use capacity 1 and [`reserve`](crate::Sender::reserve).
    #[error("capacity must be at least 1")]
    ZeroCapacity,
}

/// An item handed back by [`try_send`](crate::Sender::try_send),
/// [`send`](crate::Sender::send) or [`Permit`]-less sends.
///
/// [`Permit`]: crate::Permit
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError<T> {
    /// Every slot was taken (and the policy hands items back); counted in
    /// [`Stats::rejected`](crate::Stats::rejected).
    #[error("sending into a full queue")]
    Full(T),
    /// Every receiver is gone.
    #[error("sending into a closed queue")]
    Closed(T),
}

impl<T> SendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Closed(item) => item,
        }
    }

    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// An item handed back by [`send_timeout`](crate::Sender::send_timeout).
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendTimeoutError<T> {
    /// No slot came free before the deadline; counted in
    /// [`Stats::timed_out`](crate::Stats::timed_out).
    #[error("timed out waiting for room in the queue")]
    Timeout(T),
    /// Every slot was taken and the policy is
    /// [`Reject`](crate::Overflow::Reject).
    #[error("sending into a full queue")]
    Full(T),
    /// Every receiver is gone.
    #[error("sending into a closed queue")]
    Closed(T),
}

impl<T> SendTimeoutError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Timeout(item) | Self::Full(item) | Self::Closed(item) => item,
        }
    }

    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// Whether the queue was full (policy `Reject`).
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(e: SendError<T>) -> Self {
        match e {
            SendError::Full(item) => Self::Full(item),
            SendError::Closed(item) => Self::Closed(item),
        }
    }
}

/// Why [`try_reserve`](crate::Sender::try_reserve) gave no permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryReserveError {
    /// Every slot was taken.
    #[error("reserving a slot in a full queue")]
    Full,
    /// Every receiver is gone.
    #[error("reserving a slot in a closed queue")]
    Closed,
}

/// Every receiver is gone (from [`reserve`](crate::Sender::reserve) and the
/// [`Sink`](futures_sink::Sink) methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the queue is closed")]
pub struct Closed(());

impl Closed {
    pub(crate) const fn new() -> Self {
        Self(())
    }
}

/// Why [`try_recv`](crate::Receiver::try_recv) gave no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing is queued now; senders remain.
    #[error("receiving from an empty queue")]
    Empty,
    /// Nothing is queued and every sender is gone.
    #[error("receiving from an empty and closed queue")]
    Closed,
}
