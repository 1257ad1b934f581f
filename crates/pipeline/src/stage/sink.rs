//! [`SinkStage`]: the last stage; its future ends when its input ends.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

use super::ctx::{Ctx, Weighted, poll_slot, start_slot};
use crate::stats::StageCounters;

pin_project! {
    /// Feeds each element to the user's async sink function. An `Ok`
    /// delivers the element's items; an `Err` or a panic fails them.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct SinkStage<S, F, Fut, E> {
        #[pin]
        upstream: S,
        f: F,
        #[pin]
        pending: Option<Fut>,
        ctx: Ctx<E>,
        done: bool,
    }
}

impl<S, F, Fut, E> SinkStage<S, F, Fut, E> {
    pub(crate) fn new(upstream: S, f: F, ctx: Ctx<E>) -> Self {
        Self {
            upstream,
            f,
            pending: None,
            ctx,
            done: false,
        }
    }
}

impl<S, F, Fut, E, T> Future for SinkStage<S, F, Fut, E>
where
    S: Stream<Item = Weighted<T>>,
    F: FnMut(T) -> Fut,
    Fut: Future,
    Fut::Output: SinkOutput<E>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(());
        }
        loop {
            match poll_slot(this.pending.as_mut(), cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(out))) => match out.into_result() {
                    Ok(()) => {
                        let items = this.ctx.pass_one();
                        StageCounters::bump(&this.ctx.control.ledger.delivered, items);
                    }
                    Err(error) => this.ctx.fail_one(error),
                },
                Poll::Ready(Some(Err(message))) => this.ctx.panic_one(message),
                Poll::Ready(None) => {}
            }
            if this.ctx.control.is_aborted() {
                // Stop at once; the run future drops everything.
                return Poll::Pending;
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Weighted { item, weight })) => {
                    this.ctx.take_one(weight);
                    let f = &mut *this.f;
                    match start_slot(this.pending.as_mut(), || f(item), cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(out)) => match out.into_result() {
                            Ok(()) => {
                                let items = this.ctx.pass_one();
                                StageCounters::bump(&this.ctx.control.ledger.delivered, items);
                            }
                            Err(error) => this.ctx.fail_one(error),
                        },
                        Poll::Ready(Err(message)) => this.ctx.panic_one(message),
                    }
                }
                Poll::Ready(None) => {
                    *this.done = true;
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S, F, Fut, E> fmt::Debug for SinkStage<S, F, Fut, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkStage")
            .field("stage", &self.ctx.counters.id())
            .finish_non_exhaustive()
    }
}

/// What a sink function's future may return: `()` (always delivered) or
/// `Result<(), E>` (an `Err` fails the element's items). You never
/// implement it.
pub trait SinkOutput<E> {
    /// As a result.
    fn into_result(self) -> Result<(), E>;
}

impl<E> SinkOutput<E> for () {
    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

impl<E> SinkOutput<E> for Result<(), E> {
    fn into_result(self) -> Result<(), E> {
        self
    }
}
