//! [`Join`]: the futures that drive the stages before each buffer (and a
//! generator), polled together inside the run future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// No driver yet: a pipeline whose stages all run inside the sink's poll.
#[derive(Debug, Clone, Copy, Default)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct NoDrivers;

impl Future for NoDrivers {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

pin_project! {
    /// Two drivers polled together; done when both are.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Join<A, B> {
        #[pin]
        a: A,
        #[pin]
        b: B,
        a_done: bool,
        b_done: bool,
    }
}

impl<A, B> Join<A, B> {
    pub(crate) fn new(a: A, b: B) -> Self {
        Self {
            a,
            b,
            a_done: false,
            b_done: false,
        }
    }
}

impl<A, B> Future for Join<A, B>
where
    A: Future<Output = ()>,
    B: Future<Output = ()>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if !*this.a_done {
            *this.a_done = this.a.poll(cx).is_ready();
        }
        if !*this.b_done {
            *this.b_done = this.b.poll(cx).is_ready();
        }
        if *this.a_done && *this.b_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl<A, B> fmt::Debug for Join<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("a_done", &self.a_done)
            .field("b_done", &self.b_done)
            .finish_non_exhaustive()
    }
}
