//! A [`Sender`] is a [`Sink`] of `T`.
//!
//! - Under [`Block`](crate::Overflow::Block) and
//!   [`Reject`](crate::Overflow::Reject), `poll_ready` waits for a slot and
//!   reserves it (a sink has no way to hand an item back, so `Reject`
//!   waits here too); `start_send` then fills it and cannot fail. Finding
//!   the queue full counts a full event and the blocked time, as
//!   [`Sender::send`] does.
//! - Under [`DropOldest`](crate::Overflow::DropOldest) and
//!   [`DropNewest`](crate::Overflow::DropNewest), `poll_ready` is ready at
//!   once and `start_send` applies the policy; under `DropOldest`, when
//!   there is nothing to evict (every slot held by a permit), the item
//!   sent is dropped instead ([`DropReason::Newest`](crate::DropReason::Newest)),
//!   counted.
//! - `poll_flush` is always ready: a sent item is already in the queue.
//!   `poll_close` gives back a slot reserved by `poll_ready` and not used;
//!   it does not close the queue for the other senders (drop the last
//!   sender for that).
//!
//! The error is [`Closed`]: every receiver is gone. An item passed to
//! `start_send` is never lost silently: if the queue closed after
//! `poll_ready`, the item is counted as dropped and handed to the `on_drop`
//! callback ([`DropReason::Closed`](crate::DropReason::Closed)). Calling
//! `start_send` under `Block` without a successful `poll_ready` first (a
//! contract violation) drops the item when the queue is full, reason
//! [`DropReason::Newest`](crate::DropReason::Newest).
//!
//! ```
//! use futures_util::SinkExt;
//! use futures_util::StreamExt;
//!
//! # sluicegate_backpressure::rt::block_on(async {
//! let (mut tx, rx) = sluicegate_backpressure::bounded::<u32>(4)?;
//! tx.send_all(&mut futures_util::stream::iter([1, 2, 3]).map(Ok)).await?;
//! drop(tx);
//! assert_eq!(rx.collect::<Vec<_>>().await, [1, 2, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_sink::Sink;
use sluicegate_rt::Clock;

use crate::error::Closed;
use crate::futures::poll_reserve_once;
use crate::policy::Overflow;
use crate::sender::Sender;

impl<T, C: Clock, S> Sink<T> for Sender<T, C, S> {
    type Error = Closed;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        let this = self.get_mut();
        if this.sink_reserved {
            return Poll::Ready(Ok(()));
        }
        let core = &this.core;
        if matches!(core.policy(), Overflow::DropOldest | Overflow::DropNewest) {
            return Poll::Ready(if core.is_closed() {
                Err(Closed::new())
            } else {
                Ok(())
            });
        }
        let clock = &this.timer.clock;
        loop {
            match poll_reserve_once(core, &mut this.sink_waiter, clock) {
                Some(result) => {
                    this.sink_waiter.reset(core);
                    this.sink_reserved = result.is_ok();
                    return Poll::Ready(result);
                }
                None => {
                    if this
                        .sink_waiter
                        .poll_wake(core, clock, cx, false)
                        .is_pending()
                    {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Closed> {
        let this = self.get_mut();
        if std::mem::take(&mut this.sink_reserved) {
            this.core.send_reserved(item);
            Ok(())
        } else if this.core.send_or_discard(item) {
            Ok(())
        } else {
            Err(Closed::new())
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        let this = self.get_mut();
        if std::mem::take(&mut this.sink_reserved) {
            this.core.release_slot();
        }
        this.sink_waiter.finish(&this.core, &*this.timer);
        this.sink_waiter.reset(&this.core);
        Poll::Ready(Ok(()))
    }
}
