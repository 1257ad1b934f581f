//! [`Publisher`]: the sending end of a broadcast, and its [`Send`] future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;

use super::policy::SlowConsumer;
use super::shared::{Shared, WakeList};
use super::stats::BroadcastStats;
use super::subscriber::Subscriber;
use crate::error::{ConfigError, SendError};

/// A broadcast: every [`Subscriber`] gets every item sent after it
/// subscribed, in order, through a buffer of its own of `capacity` items;
/// `policy` decides what happens when a subscriber falls behind. Returns
/// the first [`Publisher`]; subscribe with [`Publisher::subscribe`].
///
/// ```
/// use futures_lite::StreamExt;
/// use sluicegate_fanio::{RecvError, SlowConsumer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let publisher = sluicegate_fanio::broadcast::<u32>(2, SlowConsumer::Drop)?;
/// let mut fast = publisher.subscribe();
/// let mut slow = publisher.subscribe();
/// sluicegate_fanio::rt::block_on(async {
///     for i in 0..4 {
///         publisher.send(i).await?;            // never waits under `Drop`
///         assert_eq!(fast.next().await, Some(Ok(i)));
///     }
///     drop(publisher);                         // the end, after the buffers
///     // `slow` never read: 2 items fit its buffer, 2 were dropped for it.
///     let got: Vec<_> = (&mut slow).collect().await;
///     assert_eq!(got, [Ok(0), Ok(1), Err(RecvError::Lagged(2))]);
///     let s = slow.stats();
///     assert_eq!((s.sent_to, s.delivered, s.dropped), (4, 2, 2));
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })
/// # }
/// ```
///
/// # Errors
///
/// [`ConfigError::ZeroCapacity`].
pub fn broadcast<T>(capacity: usize, policy: SlowConsumer) -> Result<Publisher<T>, ConfigError> {
    if capacity == 0 {
        return Err(ConfigError::ZeroCapacity);
    }
    Ok(Publisher {
        shared: Arc::new(Shared::new(capacity, policy)),
    })
}

/// The sending end of a [`broadcast`]. Cloneable; the broadcast ends (each
/// subscriber's stream ends after its buffer) when every publisher is
/// dropped or one calls [`close`](Publisher::close).
///
/// Items from one publisher reach every subscriber in the order sent;
/// a send is all-or-nothing (every connected subscriber gets it, or it is
/// counted dropped for those that are full under a dropping policy), so
/// all subscribers see concurrent publishers' items in the same order.
pub struct Publisher<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Publisher<T> {
    /// A new subscriber, which gets every item sent from now on (not the
    /// earlier ones). Subscribing to a closed broadcast gives a stream that
    /// ends at once.
    pub fn subscribe(&self) -> Subscriber<T> {
        let index = self.shared.lock().subscribe();
        Subscriber::new(Arc::clone(&self.shared), index)
    }

    /// Sends `item` to every subscriber; under
    /// [`SlowConsumer::Backpressure`] waits until every buffer has room.
    /// Returns how many subscribers got it (the others, full under a
    /// dropping policy, have it counted as dropped).
    ///
    /// Cancel safety: dropping the future before it completes sends
    /// nothing; [`Send::into_inner`] takes the item back.
    ///
    /// The copies are made with `T::clone` under the broadcast's lock (so
    /// that a send is all-or-nothing), so a `clone` must not use this
    /// broadcast; if it panics, the send panics, the subscribers served
    /// before keep their copy and the counters stay consistent. Wakers are
    /// woken, and items dropped, outside the lock.
    ///
    /// # Errors
    ///
    /// [`SendError::NoSubscribers`] (no connected subscriber),
    /// [`SendError::Closed`]; both hand the item back.
    pub fn send(&self, item: T) -> Send<'_, T>
    where
        T: Clone,
    {
        Send {
            publisher: self,
            item: Some(item),
            listener: None,
            waited: false,
        }
    }

    /// Sends `item` if that needs no waiting.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), plus [`SendError::Full`] under
    /// [`SlowConsumer::Backpressure`] when some buffer is full.
    pub fn try_send(&self, item: T) -> Result<usize, SendError<T>>
    where
        T: Clone,
    {
        self.try_deliver(item, true).map_err(|(e, _)| e)
    }

    /// Delivers if possible. On `Full`, `count_full` says whether to count
    /// a full event (once per send).
    fn try_deliver(&self, item: T, count_full: bool) -> Result<usize, (SendError<T>, bool)>
    where
        T: Clone,
    {
        let shared = &*self.shared;
        // Dropped after `state`: wakes outside the lock.
        let mut wakers = WakeList::new();
        let mut state = shared.lock();
        if state.closed {
            return Err((SendError::Closed(item), false));
        }
        let n = state.connected_count();
        if n == 0 {
            state.stats.no_subscribers += 1;
            return Err((SendError::NoSubscribers(item), false));
        }
        if shared.policy == SlowConsumer::Backpressure && state.any_full(shared.capacity) {
            if count_full {
                state.stats.full_events += 1;
            }
            return Err((SendError::Full(item), true));
        }
        let mut item = Some(item);
        let mut left = n;
        let reached = state.deliver(shared.capacity, shared.policy, &mut wakers, || {
            left -= 1;
            if left == 0 {
                item.take().expect("one copy per connected subscriber")
            } else {
                item.clone().expect("one copy per connected subscriber")
            }
        });
        // The item, if some subscriber was full, is dropped after this,
        // outside the lock.
        drop(state);
        Ok(reached)
    }

    /// Ends the broadcast now: later sends fail with
    /// [`SendError::Closed`], waiting sends too, and each subscriber's
    /// stream ends after its buffered items.
    pub fn close(&self) {
        let mut wakers = WakeList::new();
        let mut state = self.shared.lock();
        state.closed = true;
        state.take_wakers(&mut wakers);
        drop(state);
        drop(wakers);
        self.shared.room.notify(usize::MAX);
    }

    /// Whether the broadcast is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Connected subscribers now.
    pub fn subscribers(&self) -> usize {
        self.shared.lock().connected_count()
    }

    /// The buffer capacity of each subscriber.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// The policy for slow subscribers.
    pub fn policy(&self) -> SlowConsumer {
        self.shared.policy
    }

    /// A snapshot of the counters, with one entry per subscriber.
    pub fn stats(&self) -> BroadcastStats {
        self.shared.lock().snapshot()
    }
}

impl<T> Clone for Publisher<T> {
    fn clone(&self) -> Self {
        self.shared.lock().publishers += 1;
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Publisher<T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        let mut state = self.shared.lock();
        state.publishers -= 1;
        if state.publishers == 0 {
            state.take_wakers(&mut wakers);
        }
        drop(state);
    }
}

impl<T> fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("capacity", &self.shared.capacity)
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

/// The future of [`Publisher::send`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Send<'a, T> {
    publisher: &'a Publisher<T>,
    item: Option<T>,
    listener: Option<EventListener>,
    waited: bool,
}

// The item is never pinned.
impl<T> Unpin for Send<'_, T> {}

impl<T> Send<'_, T> {
    /// The item, if it was not sent yet (for a send given up part-way).
    pub fn into_inner(self) -> Option<T> {
        self.item
    }
}

impl<T: Clone> Future for Send<'_, T> {
    type Output = Result<usize, SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let item = this.item.take().expect("`Send` polled after completion");
            match this.publisher.try_deliver(item, !this.waited) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err((SendError::Full(item), _)) => {
                    this.item = Some(item);
                    this.waited = true;
                }
                Err((e, _)) => return Poll::Ready(Err(e)),
            }
            match &mut this.listener {
                // Listen, then try again before relying on it.
                None => this.listener = Some(this.publisher.shared.room.listen()),
                Some(l) => match Pin::new(l).poll(cx) {
                    Poll::Ready(()) => this.listener = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}

impl<T> fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("sent", &self.item.is_none())
            .field("waiting", &self.listener.is_some())
            .finish()
    }
}
