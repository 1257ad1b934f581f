//! [`Permit`]: a reserved slot.

use std::fmt;
use std::sync::Arc;

use crate::core::Core;

/// A slot reserved by [`Sender::reserve`](crate::Sender::reserve) or
/// [`try_reserve`](crate::Sender::try_reserve): [`send`](Permit::send)
/// cannot fail and never waits.
///
/// Dropping an unused permit gives the slot back (and wakes a waiting
/// sender). A permit keeps the queue open like a [`Sender`](crate::Sender):
/// receivers do not see the end of the stream while one is outstanding.
///
/// If every receiver is gone by the time the item is sent, the item is not
/// lost silently either: it is counted in [`Stats::sent`](crate::Stats::sent)
/// and [`Stats::dropped`](crate::Stats::dropped) and passed to the
/// [`on_drop`](crate::Builder::on_drop) callback with
/// [`DropReason::Closed`](crate::DropReason::Closed), exactly like the items
/// still queued when the last receiver went away.
///
/// ```
/// # sluicegate_backpressure::rt::block_on(async {
/// let (tx, rx) = sluicegate_backpressure::bounded::<&str>(1)?;
/// let permit = tx.reserve().await?;   // the slot is ours
/// assert!(tx.try_send("late").unwrap_err().is_full());
/// permit.send("reserved");            // cannot fail
/// assert_eq!(rx.recv().await, Some("reserved"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use = "a permit holds a slot until it is used or dropped"]
pub struct Permit<T> {
    core: Arc<Core<T>>,
    armed: bool,
}

impl<T> Permit<T> {
    /// Takes over a slot already taken, as a sender.
    pub(crate) fn new(core: Arc<Core<T>>) -> Self {
        core.add_sender();
        Self { core, armed: true }
    }

    /// Enqueues `item` in the reserved slot.
    pub fn send(mut self, item: T) {
        self.armed = false;
        self.core.send_reserved(item);
    }
}

impl<T> Drop for Permit<T> {
    fn drop(&mut self) {
        if self.armed {
            self.core.release_slot();
        }
        self.core.drop_sender();
    }
}

impl<T> fmt::Debug for Permit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("queue", &self.core).finish()
    }
}
