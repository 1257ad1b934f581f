//! [`CancelToken`]: one cloneable switch that stops every stage.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::{Event, EventListener};

use crate::sync::{AtomicU8, Ordering};

const LIVE: u8 = 0;
const CANCELLED: u8 = 1;
const ABORTED: u8 = 2;

/// A cloneable, runtime-agnostic stop signal: Go's `quit` channel (or a
/// `context.Context`'s `Done()`), with two strengths.
///
/// - [`cancel`](CancelToken::cancel): **graceful**. The source stops taking
///   new items; what is already inside the pipeline drains through the
///   remaining stages, the last partial batch is delivered, and
///   [`run`](crate::Runnable::run) ends with a [`Summary`](crate::Summary).
/// - [`abort`](CancelToken::abort): **now**. Every stage stops at once;
///   items still inside are dropped and counted in
///   [`Summary::discarded`](crate::Summary::discarded).
///
/// Both are sticky and idempotent; `abort` after `cancel` escalates, `cancel`
/// after `abort` changes nothing. Every clone shares the same state, and
/// waiting ([`cancelled`](CancelToken::cancelled)) needs no executor (an
/// event-listener `Event`).
///
/// ```
/// use sluicegate_pipeline::CancelToken;
///
/// let token = CancelToken::new();
/// let seen_by_a_stage = token.clone();
/// assert!(!seen_by_a_stage.is_cancelled());
/// token.cancel();
/// assert!(seen_by_a_stage.is_cancelled() && !seen_by_a_stage.is_aborted());
/// sluicegate_rt::block_on(seen_by_a_stage.cancelled()); // already done
/// ```
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

struct Inner {
    state: AtomicU8,
    event: Event,
}

impl Default for CancelToken {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                state: AtomicU8::new(LIVE),
                event: Event::new(),
            }),
        }
    }
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for a graceful stop: sources stop, in-flight items drain.
    pub fn cancel(&self) {
        if self
            .inner
            .state
            .compare_exchange(LIVE, CANCELLED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.inner.event.notify(usize::MAX);
        }
    }

    /// Stops everything now: in-flight items are dropped and counted.
    pub fn abort(&self) {
        if self.inner.state.swap(ABORTED, Ordering::SeqCst) != ABORTED {
            self.inner.event.notify(usize::MAX);
        }
    }

    /// Whether [`cancel`](Self::cancel) or [`abort`](Self::abort) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.state.load(Ordering::SeqCst) != LIVE
    }

    /// Whether [`abort`](Self::abort) was called.
    pub fn is_aborted(&self) -> bool {
        self.inner.state.load(Ordering::SeqCst) == ABORTED
    }

    /// A future that completes once the token is cancelled or aborted.
    /// Cancel-safe: dropping it loses nothing.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            token: self.clone(),
            listener: None,
            want_abort: false,
        }
    }

    /// A future that completes once the token is aborted.
    /// Cancel-safe: dropping it loses nothing.
    pub fn aborted(&self) -> Cancelled {
        Cancelled {
            token: self.clone(),
            listener: None,
            want_abort: true,
        }
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.inner.state.load(Ordering::SeqCst) {
            LIVE => "live",
            CANCELLED => "cancelled",
            _ => "aborted",
        };
        f.debug_struct("CancelToken")
            .field("state", &state)
            .finish()
    }
}

/// Completes once a [`CancelToken`] is cancelled (from
/// [`CancelToken::cancelled`]) or aborted (from [`CancelToken::aborted`]).
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Cancelled {
    token: CancelToken,
    listener: Option<EventListener>,
    want_abort: bool,
}

impl Cancelled {
    fn done(&self) -> bool {
        // With a listener registered, re-read the state with a
        // read-modify-write: it sees the latest value, so a `cancel` that
        // notified before the listener existed is not missed (the
        // event-listener "listen, then check" pattern, checkable by loom).
        let state = if self.listener.is_some() {
            self.token.inner.state.fetch_or(0, Ordering::SeqCst)
        } else {
            self.token.inner.state.load(Ordering::SeqCst)
        };
        if self.want_abort {
            state == ABORTED
        } else {
            state != LIVE
        }
    }
}

impl Future for Cancelled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.done() {
                this.listener = None;
                return Poll::Ready(());
            }
            match &mut this.listener {
                // Listen first, then re-check: a cancel in between is seen.
                None => this.listener = Some(this.token.inner.event.listen()),
                Some(listener) => {
                    if Pin::new(listener).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.listener = None;
                }
            }
        }
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("token", &self.token)
            .field("abort_only", &self.want_abort)
            .finish()
    }
}
