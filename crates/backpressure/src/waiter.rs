//! [`Waiter`]: the waiting half shared by `send`, `send_timeout`, `reserve`
//! and the `Sink`: a listener on the queue's `send_ops`, and the instant the
//! wait began (for [`Stats::blocked`](crate::Stats::blocked)).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use event_listener::{EventListener, Listener};
use sluicegate_rt::Clock;

use crate::core::Core;

#[derive(Debug, Default)]
pub(crate) struct Waiter {
    listener: Option<EventListener>,
    /// When this call first went to sleep; `Some` while it waits.
    since: Option<Instant>,
    /// Whether this call has found the queue full (its full event counted).
    full_seen: bool,
    /// Whether this call has registered a listener (and so may have
    /// consumed a wake-up that it must pass on, see [`Waiter::took_slot`]).
    listened: bool,
    /// Whether the listener is counted as a `DropOldest` send's
    /// (`evict_waiting`, see [`Core::listener_added`]).
    evicts: bool,
}

impl Waiter {
    pub(crate) fn full_seen(&self) -> bool {
        self.full_seen
    }

    /// The queue was full and this call will wait (its full event is
    /// counted).
    pub(crate) fn mark_full(&mut self) {
        self.full_seen = true;
    }

    /// Waits for a wake-up. The first call only registers the listener and
    /// returns `Ready`, so the caller re-checks the queue before sleeping:
    /// a slot freed in between is not missed.
    ///
    /// The blocked clock starts when the call first goes to sleep
    /// (returns `Pending`): a wait that the re-check ends at once reads no
    /// clock (it was blocked for no measurable time). A queue built with
    /// `time_blocked(false)` never reads it.
    ///
    /// `evicts`: the caller is a `DropOldest` send, which any push lets go
    /// on (it evicts the item).
    pub(crate) fn poll_wake<T>(
        &mut self,
        core: &Core<T>,
        clock: &impl Clock,
        cx: &mut Context<'_>,
        evicts: bool,
    ) -> Poll<()> {
        match &mut self.listener {
            None => {
                // Listen first, then count: see `core`'s module docs.
                self.listener = Some(core.send_ops.listen());
                self.listened = true;
                self.evicts = evicts;
                core.listener_added(evicts);
                Poll::Ready(())
            }
            Some(listener) => match Pin::new(listener).poll(cx) {
                Poll::Ready(()) => {
                    self.stop_listening(core);
                    Poll::Ready(())
                }
                Poll::Pending => {
                    if core.time_blocked() && self.since.is_none() {
                        self.since = Some(clock.now());
                    }
                    Poll::Pending
                }
            },
        }
    }

    /// The call is over (done, failed, timed out or dropped): stop
    /// listening and add the time it was blocked to the stats. Dropping a
    /// listener that was notified passes the notification on.
    pub(crate) fn finish<T>(&mut self, core: &Core<T>, clock: &impl Clock) {
        self.stop_listening(core);
        if let Some(since) = self.since.take() {
            core.counters
                .add_blocked(clock.now().saturating_duration_since(since));
        }
    }

    /// The call took a slot: [`finish`](Self::finish), and if it waited,
    /// pass the wake-up on ([`Core::pass_on`]).
    ///
    /// A notification this call's listener holds is spent on the slot it
    /// took: the listener is discarded without passing it on (which a
    /// plain drop would do), and `pass_on` wakes the next waiter only if
    /// a slot is still free.
    #[inline]
    pub(crate) fn took_slot<T>(&mut self, core: &Core<T>, clock: &impl Clock) {
        if self.listener.is_none() && !self.listened && self.since.is_none() {
            return; // the call never waited: nothing to undo or pass on
        }
        if let Some(listener) = self.listener.take() {
            listener.discard();
            core.listener_removed(self.evicts);
        }
        self.finish(core, clock);
        if std::mem::take(&mut self.listened) {
            core.pass_on();
        }
    }

    /// Drops the listener (if any), then uncounts it.
    fn stop_listening<T>(&mut self, core: &Core<T>) {
        if self.listener.take().is_some() {
            core.listener_removed(self.evicts);
        }
    }

    /// Forgets a finished call, ready for the next (the `Sink`).
    pub(crate) fn reset<T>(&mut self, core: &Core<T>) {
        self.stop_listening(core);
        self.since = None;
        self.full_seen = false;
        self.listened = false;
    }
}
