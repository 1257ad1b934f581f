//! Errors: settings that cannot work ([`ConfigError`]), failures reported
//! inside a fan-out's output ([`FanOutError`]), and the broadcast's
//! ([`SendError`], [`RecvError`]).

use std::fmt;

/// A setting that cannot work, reported by the builders before anything is
/// spawned or allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A fan-out needs at least one worker.
    #[error("a fan-out needs at least 1 worker")]
    ZeroWorkers,
    /// More workers than [`MAX_WORKERS`](crate::MAX_WORKERS): each worker
    /// is a task with its own counters (and, keyed, its own queue),
    /// allocated up front.
    #[error("a fan-out takes at most {max} workers, got {0}", max = crate::MAX_WORKERS)]
    TooManyWorkers(usize),
    /// A buffer with no slot could never hold an item.
    #[error("capacity must be at least 1")]
    ZeroCapacity,
    /// A fan-out's queues and output buffer are allocated up front: their
    /// slots in all (the queue capacity times the number of queues, plus
    /// the output capacity; saturating) may not exceed
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    #[error("a fan-out allocates at most {max} queue slots up front, asked for {0}", max = crate::MAX_CAPACITY)]
    CapacityTooLarge(usize),
}

/// A failure reported in a fan-out's output stream in place of a result.
/// The fan-out goes on: the other items are still processed.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FanOutError<T> {
    /// The worker function panicked on an item (the item was moved into
    /// the function, so it cannot be handed back). The worker goes on with
    /// the next item.
    #[error("worker {worker} panicked: {message}")]
    WorkerPanicked {
        /// The index of the worker (`0..workers`).
        worker: usize,
        /// The panic message.
        message: String,
    },
    /// The input stream panicked while polled; it is treated as ended
    /// (never polled again), and the items taken before are processed.
    #[error("the input stream panicked: {message}")]
    InputPanicked {
        /// The panic message.
        message: String,
    },
    /// The key function of [`Distribution::keyed`](crate::Distribution::keyed)
    /// panicked on this item, which is handed back here, unprocessed.
    #[error("the key function panicked: {message}")]
    KeyPanicked {
        /// The item, unprocessed.
        item: T,
        /// The panic message.
        message: String,
    },
    /// The executor dropped this worker's task (a runtime shutting down, a
    /// task handle aborted) while it was running an item: that item, moved
    /// into the worker function, is lost with its result, and this error
    /// stands for it. Counted in [`WorkerStats::lost`](crate::WorkerStats::lost).
    #[error("worker {worker} was dropped by its executor while running an item")]
    WorkerDropped {
        /// The index of the worker (`0..workers`).
        worker: usize,
    },
    /// This item was routed to worker `worker`, but a task of the fan-out
    /// was dropped by its executor before the item could be started: the
    /// worker's (every worker of its queue is gone), or the feeder's while
    /// it held the item. The item is handed back here, unprocessed.
    /// Counted in [`FanOutStats::unstarted`](crate::FanOutStats::unstarted).
    #[error("worker {worker} is gone: its item was never started")]
    Unstarted {
        /// The worker (`0..workers`) the item was routed to. Under
        /// [`Distribution::Shared`](crate::Distribution::Shared), where an
        /// item goes to no worker in particular: the last worker to go,
        /// for the items left in the shared queue, and 0 for an item the
        /// feeder held or routed after every worker was gone.
        worker: usize,
        /// The item, unprocessed.
        item: T,
    },
    /// The executor dropped the feeder task (which reads the input) before
    /// the input ended: the rest of the input was not read, and was dropped
    /// with the task. An item the feeder held comes back as
    /// [`Unstarted`](Self::Unstarted). Reported once.
    #[error("the feeder task was dropped by its executor before the input ended")]
    FeederDropped,
}

impl<T> FanOutError<T> {
    /// The item handed back, if any (for
    /// [`KeyPanicked`](Self::KeyPanicked) and [`Unstarted`](Self::Unstarted)).
    pub fn into_item(self) -> Option<T> {
        match self {
            Self::KeyPanicked { item, .. } | Self::Unstarted { item, .. } => Some(item),
            _ => None,
        }
    }

    /// The panic message, or `""` for the errors that are not panics
    /// ([`WorkerDropped`](Self::WorkerDropped),
    /// [`Unstarted`](Self::Unstarted), [`FeederDropped`](Self::FeederDropped)).
    pub fn message(&self) -> &str {
        match self {
            Self::WorkerPanicked { message, .. }
            | Self::InputPanicked { message }
            | Self::KeyPanicked { message, .. } => message,
            Self::WorkerDropped { .. } | Self::Unstarted { .. } | Self::FeederDropped => "",
        }
    }
}

impl<T> fmt::Debug for FanOutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WorkerPanicked { worker, message } => f
                .debug_struct("WorkerPanicked")
                .field("worker", worker)
                .field("message", message)
                .finish(),
            Self::InputPanicked { message } => f
                .debug_struct("InputPanicked")
                .field("message", message)
                .finish(),
            Self::KeyPanicked { message, .. } => f
                .debug_struct("KeyPanicked")
                .field("message", message)
                .finish_non_exhaustive(),
            Self::WorkerDropped { worker } => f
                .debug_struct("WorkerDropped")
                .field("worker", worker)
                .finish(),
            Self::Unstarted { worker, .. } => f
                .debug_struct("Unstarted")
                .field("worker", worker)
                .finish_non_exhaustive(),
            Self::FeederDropped => f.write_str("FeederDropped"),
        }
    }
}

/// An item handed back by a [`Publisher`](crate::Publisher)'s send.
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError<T> {
    /// No subscriber: nobody would receive the item.
    #[error("broadcasting with no subscriber")]
    NoSubscribers(T),
    /// [`try_send`](crate::Publisher::try_send) under
    /// [`SlowConsumer::Backpressure`](crate::SlowConsumer::Backpressure):
    /// some subscriber's buffer is full.
    #[error("broadcasting into a full buffer")]
    Full(T),
    /// The broadcast was [closed](crate::Publisher::close).
    #[error("broadcasting into a closed broadcast")]
    Closed(T),
}

impl<T> SendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::NoSubscribers(item) | Self::Full(item) | Self::Closed(item) => item,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSubscribers(_) => f.write_str("NoSubscribers(..)"),
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// A marker in a [`Subscriber`](crate::Subscriber)'s stream: items this
/// subscriber did not get, under a [`SlowConsumer`](crate::SlowConsumer)
/// policy that drops. Never seen under
/// [`Backpressure`](crate::SlowConsumer::Backpressure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// Under [`SlowConsumer::Drop`](crate::SlowConsumer::Drop): this many
    /// items were dropped for this subscriber, at this point of its stream
    /// (after the items before the marker, before the ones after it).
    #[error("lagged: {0} items dropped for this subscriber")]
    Lagged(u64),
    /// Under [`SlowConsumer::Disconnect`](crate::SlowConsumer::Disconnect):
    /// the subscriber was cut off, here, because its buffer was full; the
    /// item that did not fit is counted as dropped for it, and the stream
    /// ends after this marker.
    #[error("disconnected for being too slow")]
    Disconnected,
}
