//! The named futures: [`Send`], [`SendTimeout`], [`Reserve`] and [`Recv`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;
use pin_project_lite::pin_project;
use sluicegate_rt::{Clock, Sleeper};

use crate::core::{Core, Offer, RecvKind};
use crate::error::{Closed, SendError, SendTimeoutError};
use crate::permit::Permit;
use crate::policy::Overflow;
use crate::sender::Sender;
use crate::stats::Counters;
use crate::waiter::Waiter;

/// Sends one item; made by [`Sender::send`].
///
/// Cancel-safe and lossless: the item is in the queue once the future
/// resolves to `Ok`, and inside the future (or the error) before that.
/// [`into_inner`](Send::into_inner) takes it back from a pending future.
///
/// # Panics
///
/// Polling it again after it resolved panics, as for `async` blocks.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Send<'a, T, C: Clock, S> {
    sender: &'a Sender<T, C, S>,
    item: Option<T>,
    waiter: Waiter,
}

impl<'a, T, C: Clock, S> Send<'a, T, C, S> {
    pub(crate) fn new(sender: &'a Sender<T, C, S>, item: T) -> Self {
        Self {
            sender,
            item: Some(item),
            waiter: Waiter::default(),
        }
    }

    /// The item, if it has not been sent: use it when the future lost a
    /// race (a `select!` against a deadline) and you want the item back.
    /// `None` once the future has resolved.
    pub fn into_inner(mut self) -> Option<T> {
        self.item.take()
    }

    /// Stops waiting and takes the item back (for [`SendTimeout`]).
    fn abandon(&mut self) -> Option<T> {
        self.waiter
            .finish(&self.sender.core, &self.sender.timer.clock);
        self.item.take()
    }
}

// The item is never pinned: it is only moved into the queue or back out.
impl<T, C: Clock, S> Unpin for Send<'_, T, C, S> {}

impl<T, C: Clock, S> Future for Send<'_, T, C, S> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let core = &this.sender.core;
        let clock = &this.sender.timer.clock;
        loop {
            let item = this.item.take().expect("`Send` polled after it resolved");
            match core.offer(item, !this.waiter.full_seen()) {
                Offer::Taken => {
                    this.waiter.took_slot(core, clock);
                    return Poll::Ready(Ok(()));
                }
                Offer::Closed(item) => {
                    this.waiter.finish(core, clock);
                    return Poll::Ready(Err(SendError::Closed(item)));
                }
                Offer::Full(item) if core.policy() == Overflow::Reject => {
                    Counters::bump(&core.counters.rejected);
                    this.waiter.finish(core, clock);
                    return Poll::Ready(Err(SendError::Full(item)));
                }
                Offer::Full(item) => {
                    this.item = Some(item);
                    this.waiter.mark_full();
                    let evicts = core.policy() == Overflow::DropOldest;
                    if this.waiter.poll_wake(core, clock, cx, evicts).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl<T, C: Clock, S> Drop for Send<'_, T, C, S> {
    fn drop(&mut self) {
        self.waiter
            .finish(&self.sender.core, &self.sender.timer.clock);
    }
}

impl<T, C: Clock, S> fmt::Debug for Send<'_, T, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("pending", &self.item.is_some())
            .field("waiter", &self.waiter)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// Sends one item or gives up at a deadline; made by
    /// [`Sender::send_timeout`].
    ///
    /// On timeout the item comes back in [`SendTimeoutError::Timeout`].
    /// Dropped early, it behaves as a dropped [`Send`].
    ///
    /// # Panics
    ///
    /// Polling it again after it resolved panics.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct SendTimeout<'a, T, C: Clock, S: Sleeper> {
        send: Send<'a, T, C, S>,
        #[pin]
        sleep: S::Sleep,
    }
}

impl<'a, T, C: Clock, S: Sleeper> SendTimeout<'a, T, C, S> {
    pub(crate) fn new(send: Send<'a, T, C, S>, sleep: S::Sleep) -> Self {
        Self { send, sleep }
    }
}

impl<T, C: Clock, S: Sleeper> Future for SendTimeout<'_, T, C, S> {
    type Output = Result<(), SendTimeoutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = Pin::new(&mut *this.send).poll(cx) {
            return Poll::Ready(out.map_err(SendTimeoutError::from));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => {
                let item = this
                    .send
                    .abandon()
                    .expect("`SendTimeout` polled after it resolved");
                Counters::bump(&this.send.sender.core.counters.timed_out);
                Poll::Ready(Err(SendTimeoutError::Timeout(item)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, C: Clock, S: Sleeper> fmt::Debug for SendTimeout<'_, T, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendTimeout")
            .field("send", &self.send)
            .finish_non_exhaustive()
    }
}

/// Waits for a free slot; made by [`Sender::reserve`]. Resolves to a
/// [`Permit`].
///
/// Cancel-safe: a dropped `Reserve` holds no slot (the slot is taken and
/// turned into the permit in the same poll).
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Reserve<'a, T, C: Clock, S> {
    sender: &'a Sender<T, C, S>,
    waiter: Waiter,
}

impl<'a, T, C: Clock, S> Reserve<'a, T, C, S> {
    pub(crate) fn new(sender: &'a Sender<T, C, S>) -> Self {
        Self {
            sender,
            waiter: Waiter::default(),
        }
    }
}

impl<T, C: Clock, S> Future for Reserve<'_, T, C, S> {
    type Output = Result<Permit<T>, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let core = &this.sender.core;
        let clock = &this.sender.timer.clock;
        loop {
            match poll_reserve_once(core, &mut this.waiter, clock) {
                Some(Ok(())) => return Poll::Ready(Ok(Permit::new(Arc::clone(core)))),
                Some(Err(closed)) => return Poll::Ready(Err(closed)),
                None => {
                    if this.waiter.poll_wake(core, clock, cx, false).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

/// One reservation attempt: `Some(Ok)` with a slot taken, `Some(Err)` when
/// closed (both finish the waiter), `None` when full (waiter marked).
pub(crate) fn poll_reserve_once<T>(
    core: &Core<T>,
    waiter: &mut Waiter,
    clock: &impl Clock,
) -> Option<Result<(), Closed>> {
    if core.is_closed() {
        waiter.finish(core, clock);
        return Some(Err(Closed::new()));
    }
    if core.try_take_slot() {
        waiter.took_slot(core, clock);
        return Some(Ok(()));
    }
    if !waiter.full_seen() {
        Counters::bump(&core.counters.full_events);
    }
    waiter.mark_full();
    None
}

impl<T, C: Clock, S> Drop for Reserve<'_, T, C, S> {
    fn drop(&mut self) {
        self.waiter
            .finish(&self.sender.core, &self.sender.timer.clock);
    }
}

impl<T, C: Clock, S> fmt::Debug for Reserve<'_, T, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserve")
            .field("waiter", &self.waiter)
            .finish_non_exhaustive()
    }
}

/// Receives one item; made by [`Receiver::recv`](crate::Receiver::recv).
/// Resolves to `None` once every sender is gone and the queue is empty.
///
/// Cancel-safe: an item is taken out only in the poll that returns it.
///
/// Polling it again after it resolved is a fresh receive (it takes the
/// next item, or waits for one); it does not panic, unlike [`Send`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Recv<'a, T> {
    core: &'a Core<T>,
    /// Registered while the queue is empty (see `Core::poll_recv`).
    listener: Option<EventListener>,
}

impl<'a, T> Recv<'a, T> {
    pub(crate) fn new(core: &'a Core<T>) -> Self {
        Self {
            core,
            listener: None,
        }
    }
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        this.core
            .poll_recv(&mut this.listener, RecvKind::Future, cx)
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        self.core.stop_recv(&mut self.listener, RecvKind::Future);
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("waiting", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}
