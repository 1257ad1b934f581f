//! [`Overflow`]: what a send does when the queue is full, and
//! [`DropReason`]: why the queue let go of an item.

/// What a send does when every slot is taken, chosen once with
/// [`Builder::policy`](crate::Builder::policy).
///
/// Whatever the policy, no item disappears unseen: it is delivered, handed
/// back inside the error, or counted in [`Stats::dropped`](crate::Stats::dropped)
/// and passed to the [`on_drop`](crate::Builder::on_drop) callback.
///
/// | policy | [`send`](crate::Sender::send) on a full queue | [`try_send`](crate::Sender::try_send) on a full queue |
/// |---|---|---|
/// | `Block` | waits for a slot | `Err(Full(item))` |
/// | `Reject` | `Err(Full(item))` at once | `Err(Full(item))` |
/// | `DropOldest` | evicts the oldest queued item, enqueues this one | same |
/// | `DropNewest` | drops this item, keeps the queue as it is | same |
///
/// Every one of these counts a [full event](crate::Stats::full_events).
/// [`reserve`](crate::Sender::reserve) always waits for a real slot: a
/// permit is a promise of room, and the policies decide the fate of items,
/// not of promises. When every slot is held by a permit there is nothing to
/// evict, so `DropOldest` then behaves as `Block` (and `try_send` returns
/// `Full`): `send` waits until an item is queued (a permit is used, or
/// another waiting `send` pushes its own: it is then evicted) or a slot is
/// given back. The same holds for the instant another sender spends
/// between evicting an item and enqueuing its own: a `try_send` then may
/// return `Full`, and a `Sink::start_send` drops its item
/// ([`DropReason::Newest`]), counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Wait for a slot (the default): producers slow down to the pace of
    /// the consumers.
    #[default]
    Block,
    /// Hand the item back at once in [`SendError::Full`](crate::SendError::Full),
    /// even from `send`.
    Reject,
    /// Evict the oldest queued item (to the `on_drop` callback, reason
    /// [`DropReason::Oldest`]) and enqueue the new one: consumers see the
    /// freshest data.
    DropOldest,
    /// Drop the new item (to the `on_drop` callback, reason
    /// [`DropReason::Newest`]) and report success: the queue keeps what it
    /// had.
    DropNewest,
}

/// Why the queue let go of an item it had accepted, as passed to the
/// [`on_drop`](crate::Builder::on_drop) callback. Each such item is counted
/// in [`Stats::dropped`](crate::Stats::dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Evicted by [`Overflow::DropOldest`] to make room for a newer item.
    Oldest,
    /// Turned away by [`Overflow::DropNewest`] because the queue was full.
    Newest,
    /// Every receiver was gone: the item was still queued when the last
    /// [`Receiver`](crate::Receiver) was dropped, or it was sent through a
    /// [`Permit`](crate::Permit) (or a [`Sink`](futures_sink::Sink) whose
    /// `poll_ready` had succeeded) after that.
    Closed,
}
