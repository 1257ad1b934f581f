//! [`Sender`]: the sending half of a queue.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluicegate_rt::{Clock, Sleeper, SystemClock};

use crate::builder::NoSleeper;
use crate::core::{Core, Offer};
use crate::error::{SendError, TryReserveError};
use crate::futures::{Reserve, Send, SendTimeout};
use crate::permit::Permit;
use crate::policy::Overflow;
use crate::stats::{Counters, Stats};
use crate::waiter::Waiter;

/// The clock and sleeper of a queue, shared by its senders. `now` is
/// `C::now`, captured where `C: Clock` is known, so that `Sender::drop`
/// (which cannot require `C: Clock`) can still read the clock.
#[derive(Debug)]
pub(crate) struct Timer<C, S> {
    pub(crate) clock: C,
    pub(crate) sleeper: S,
    pub(crate) now: fn(&C) -> Instant,
}

impl<C, S> Clock for Timer<C, S> {
    fn now(&self) -> Instant {
        (self.now)(&self.clock)
    }
}

/// The sending half of a queue; cheap to [`Clone`] (each clone is one more
/// producer). Made by [`bounded`](crate::bounded) or
/// [`Builder::build`](crate::Builder::build).
///
/// When the last `Sender` (and the last [`Permit`]) is dropped, the queue
/// closes for sending: receivers drain what is queued, then see the end.
///
/// It is also a [`Sink`](futures_sink::Sink) of `T` (see [`crate::sink`]).
pub struct Sender<T, C = SystemClock, S = NoSleeper> {
    pub(crate) core: Arc<Core<T>>,
    pub(crate) timer: Arc<Timer<C, S>>,
    /// The `Sink`'s pending wait, and whether it holds a reserved slot.
    pub(crate) sink_waiter: Waiter,
    pub(crate) sink_reserved: bool,
}

impl<T, C, S> Sender<T, C, S> {
    pub(crate) fn new(core: Arc<Core<T>>, timer: Arc<Timer<C, S>>) -> Self {
        Self {
            core,
            timer,
            sink_waiter: Waiter::default(),
            sink_reserved: false,
        }
    }

    /// Sends `item` if a slot is free now, under the queue's
    /// [policy](Overflow) when none is; never waits.
    ///
    /// Finding the queue full counts a [full event](Stats::full_events).
    ///
    /// # Errors
    ///
    /// [`SendError::Full`] with the item when every slot is taken (never
    /// under the drop policies, which take the item); [`SendError::Closed`]
    /// with the item when every receiver is gone.
    pub fn try_send(&self, item: T) -> Result<(), SendError<T>> {
        match self.core.offer(item, true) {
            Offer::Taken => Ok(()),
            Offer::Full(item) => {
                Counters::bump(&self.core.counters.rejected);
                Err(SendError::Full(item))
            }
            Offer::Closed(item) => Err(SendError::Closed(item)),
        }
    }

    /// Reserves a slot if one is free now (whatever the policy).
    ///
    /// # Errors
    ///
    /// [`TryReserveError::Full`] (a [full event](Stats::full_events)) or
    /// [`TryReserveError::Closed`].
    pub fn try_reserve(&self) -> Result<Permit<T>, TryReserveError> {
        if self.core.is_closed() {
            return Err(TryReserveError::Closed);
        }
        if self.core.try_take_slot() {
            return Ok(Permit::new(Arc::clone(&self.core)));
        }
        Counters::bump(&self.core.counters.full_events);
        Err(TryReserveError::Full)
    }

    /// A snapshot of the queue's counters (shared by every handle).
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The number of slots.
    pub fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// The number of items queued now.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no item is queued now.
    pub fn is_empty(&self) -> bool {
        self.core.len() == 0
    }

    /// Whether every slot is taken now (by items or permits).
    pub fn is_full(&self) -> bool {
        let s = self.core.stats();
        s.len + s.reserved >= s.capacity
    }

    /// Whether the queue is closed (every receiver is gone).
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// The overflow policy chosen at construction.
    pub fn policy(&self) -> Overflow {
        self.core.policy()
    }
}

impl<T, C: Clock, S> Sender<T, C, S> {
    /// Sends `item`, waiting for a slot while the queue is full (policy
    /// [`Block`](Overflow::Block)).
    ///
    /// This is "try first; if full, count it, then wait" as one call: the
    /// first time the call finds the queue full it counts a
    /// [full event](Stats::full_events); then it waits, and the time it
    /// sleeps is added to [blocked](Stats::blocked) (on the queue's clock).
    /// The other policies never wait (except `DropOldest` when every slot
    /// is held by a permit, see [`Overflow`]).
    ///
    /// Cancel-safe: until the future resolves the item stays inside it, and
    /// [`Send::into_inner`] takes it back from a future that lost a race;
    /// dropping the future takes no slot and wakes no one in vain.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] with the item when every receiver is gone;
    /// [`SendError::Full`] with the item at once under
    /// [`Reject`](Overflow::Reject).
    pub fn send(&self, item: T) -> Send<'_, T, C, S> {
        Send::new(self, item)
    }

    /// Waits for a free slot and reserves it: the returned [`Permit`] then
    /// sends without waiting and without failing. Waits whatever the
    /// policy; counts a full event and the blocked time as `send` does.
    ///
    /// Cancel-safe: dropping the future (or the permit) gives the slot back.
    ///
    /// # Errors
    ///
    /// [`Closed`](crate::Closed) when every receiver is gone.
    pub fn reserve(&self) -> Reserve<'_, T, C, S> {
        Reserve::new(self)
    }
}

impl<T, C: Clock, S: Sleeper> Sender<T, C, S> {
    /// Like [`send`](Sender::send), but gives up after `timeout` (measured
    /// by the queue's [`Sleeper`]) and hands the item back in
    /// [`SendTimeoutError::Timeout`](crate::SendTimeoutError::Timeout).
    ///
    /// A slot that comes free by the deadline is taken: the send is tried
    /// before the timer is checked, at every wake-up.
    ///
    /// # Errors
    ///
    /// `Timeout(item)`, `Closed(item)`, or `Full(item)` under
    /// [`Reject`](Overflow::Reject).
    pub fn send_timeout(&self, item: T, timeout: Duration) -> SendTimeout<'_, T, C, S> {
        SendTimeout::new(self.send(item), self.timer.sleeper.sleep(timeout))
    }
}

impl<T, C, S> Clone for Sender<T, C, S> {
    fn clone(&self) -> Self {
        self.core.add_sender();
        Self::new(Arc::clone(&self.core), Arc::clone(&self.timer))
    }
}

impl<T, C, S> Drop for Sender<T, C, S> {
    fn drop(&mut self) {
        if self.sink_reserved {
            self.core.release_slot();
        }
        // A `Sink` wait cut short still counts its blocked time.
        self.sink_waiter.finish(&self.core, &*self.timer);
        self.core.drop_sender();
    }
}

impl<T, C, S> fmt::Debug for Sender<T, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("queue", &self.core).finish()
    }
}
