//! [`SlowConsumer`]: what a broadcast does when a subscriber's buffer is
//! full.

/// What a broadcast does when a subscriber's buffer is full, chosen once
/// at [`broadcast`](crate::broadcast).
///
/// Whatever the choice, nothing is lost silently: per subscriber, every
/// item sent while it was subscribed is delivered, still buffered, or
/// counted as dropped for it, and it sees a marker where the gap is
/// (`sent_to == delivered + buffered + dropped`, see
/// [`SubscriberStats`](crate::SubscriberStats)).
///
/// | policy | a send finds a full buffer | the slow subscriber sees |
/// |---|---|---|
/// | `Backpressure` | waits until every buffer has room (the producer runs at the slowest subscriber's pace) | every item |
/// | `Drop` | delivers to the others; the item is dropped for the full subscriber only | `Err(Lagged(n))` where `n` items are missing, then the next items |
/// | `Disconnect` | delivers to the others; the full subscriber is cut off | its buffered items, `Err(Disconnected)`, then the end |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SlowConsumer {
    /// The producer waits for the slowest subscriber (default): lossless
    /// for everyone, but one stuck subscriber stops the broadcast.
    #[default]
    Backpressure,
    /// Items that do not fit a subscriber's buffer are dropped for that
    /// subscriber alone (the newest ones: its buffer keeps the oldest),
    /// counted, and marked in its stream with
    /// [`RecvError::Lagged`](crate::RecvError::Lagged).
    Drop,
    /// A subscriber whose buffer is full when an item comes is
    /// disconnected: it keeps its buffered items, then sees
    /// [`RecvError::Disconnected`](crate::RecvError::Disconnected) and
    /// ends. The others go on at full speed.
    Disconnect,
}
