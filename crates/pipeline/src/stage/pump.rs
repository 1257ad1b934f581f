//! [`Pump`]: the upstream end of an inter-stage buffer. It runs the stages
//! before the buffer and pushes their output into a bounded queue, taking a
//! slot *before* pulling an element, so a full buffer stops them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use pin_project_lite::pin_project;
use std::sync::Arc;

use sluicegate_backpressure::{Receiver, Sender};

use crate::control::{ClockOf, Control};

use super::ctx::Weighted;
use super::pull::{Pull, Sealed};

pin_project! {
    /// Drives the stages before a buffer, into the buffer.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Pump<S, T, E> {
        #[pin]
        upstream: S,
        tx: Option<Sender<Weighted<T>, ClockOf<E>>>,
    }
}

impl<S, T, E> Pump<S, T, E> {
    pub(crate) fn new(upstream: S, tx: Sender<Weighted<T>, ClockOf<E>>) -> Self {
        Self {
            upstream,
            tx: Some(tx),
        }
    }
}

impl<S, T, E> Future for Pump<S, T, E>
where
    S: Stream<Item = Weighted<T>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        loop {
            let Some(tx) = this.tx.as_mut() else {
                return Poll::Ready(());
            };
            // A slot first: a full buffer holds the upstream stages back.
            match Pin::new(&mut *tx).poll_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_closed)) => {
                    // The downstream is gone (the run is over).
                    *this.tx = None;
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(())) => {}
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(element)) => {
                    // A reserved slot: cannot fail (a closed queue counts
                    // the element as dropped).
                    let _ = Pin::new(&mut *tx).start_send(element);
                }
                Poll::Ready(None) => {
                    // Give the reserved slot back; dropping the sender
                    // ends the buffer once it is drained.
                    let _ = Pin::new(&mut *tx).poll_close(cx);
                    *this.tx = None;
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S, T, E> fmt::Debug for Pump<S, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pump")
            .field("done", &self.tx.is_none())
            .finish_non_exhaustive()
    }
}

/// The downstream end of a buffer: yields what the pump pushed (nothing
/// more once the run is aborted).
pub struct Drain<T, E> {
    rx: Receiver<Weighted<T>>,
    control: Arc<Control<E>>,
}

impl<T, E> Drain<T, E> {
    pub(crate) fn new(rx: Receiver<Weighted<T>>, control: Arc<Control<E>>) -> Self {
        Self { rx, control }
    }
}

impl<T, E> Stream for Drain<T, E> {
    type Item = Weighted<T>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Weighted<T>>> {
        let this = self.get_mut();
        if this.control.is_aborted() {
            return Poll::Pending;
        }
        Pin::new(&mut this.rx).poll_next(cx)
    }
}

impl<T, E> Sealed for Drain<T, E> {}
impl<T, E> Pull for Drain<T, E> {}

impl<T, E> fmt::Debug for Drain<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("queue", &self.rx)
            .finish_non_exhaustive()
    }
}
