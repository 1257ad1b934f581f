//! [`BroadcastStats`] and [`SubscriberStats`].

/// One subscriber's counters, from [`Subscriber::stats`](crate::Subscriber::stats)
/// or in [`BroadcastStats::subscribers`].
///
/// # Accounting invariant
///
/// ```text
/// sent_to == delivered + buffered + dropped
/// ```
///
/// always (the counters are updated together, under the broadcast's lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SubscriberStats {
    /// The subscriber's id, unique within the broadcast.
    pub id: u64,
    /// Items sent while this subscriber was subscribed (and connected).
    pub sent_to: u64,
    /// Items the subscriber's stream yielded.
    pub delivered: u64,
    /// Items in its buffer now.
    pub buffered: usize,
    /// Items dropped for it by [`SlowConsumer::Drop`](crate::SlowConsumer::Drop)
    /// or [`Disconnect`](crate::SlowConsumer::Disconnect).
    pub dropped: u64,
    /// The most items its buffer ever held: if it stays well below the
    /// capacity, the buffer is oversized.
    pub high_watermark: usize,
    /// Whether [`SlowConsumer::Disconnect`](crate::SlowConsumer::Disconnect)
    /// cut it off.
    pub disconnected: bool,
}

/// A snapshot of a broadcast's counters, from
/// [`Publisher::stats`](crate::Publisher::stats).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BroadcastStats {
    /// The capacity of each subscriber's buffer.
    pub capacity: usize,
    /// Items broadcast (each to every subscriber then subscribed).
    pub sent: u64,
    /// Items handed back in [`SendError::NoSubscribers`](crate::SendError::NoSubscribers).
    pub no_subscribers: u64,
    /// Sends that found a buffer full, once per send (under `Backpressure`,
    /// those that had to wait, or `try_send`s handed back `Full`).
    pub full_events: u64,
    /// Items dropped for some subscriber, in all (including subscribers
    /// gone since).
    pub dropped: u64,
    /// Subscribers that have unsubscribed (dropped their [`Subscriber`](crate::Subscriber)).
    pub unsubscribed: u64,
    /// Items left unread in the buffers of subscribers that unsubscribed
    /// (they chose to leave them).
    pub left_unread: u64,
    /// Every current subscriber, in subscription order.
    pub subscribers: Vec<SubscriberStats>,
}
