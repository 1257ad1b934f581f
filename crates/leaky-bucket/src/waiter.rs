//! The state machine of one caller waiting for its slot, shared by
//! [`Acquire`](crate::futures::Acquire) and [`Paced`](crate::Paced).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use sluicegate_rt::{Clock, Sleeper};

use crate::bucket::Inner;
use crate::error::Full;
use crate::room::{Arrival, Mode, Turn};
use crate::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Waiting for a place in a full room (paced streams only).
    Room,
    /// In the waiting room's queue.
    Queue,
}

/// A caller's registration in the waiting room. Dropping it while `live`
/// gives up the place (and the slot) to the next caller.
struct Ticket<C, S> {
    inner: Arc<Inner<C, S>>,
    id: u64,
    place: Place,
    live: bool,
}

impl<C, S> Drop for Ticket<C, S> {
    fn drop(&mut self) {
        if !self.live {
            return;
        }
        let config = self.inner.config;
        let wake = {
            let mut state = self.inner.lock();
            match self.place {
                Place::Room => state.leave_room(&config, self.id),
                Place::Queue => state.cancel(&config, self.id),
            }
        };
        wake.wake();
    }
}

enum Stage<C, S> {
    /// Not polled yet.
    Idle,
    Waiting(Ticket<C, S>),
    /// Released or spilled.
    Done,
}

pin_project! {
    /// One wait for a slot. Holds no place until first polled, and gives its
    /// place up when dropped.
    pub(crate) struct Waiter<C, S: Sleeper> {
        stage: Stage<C, S>,
        // The sleep until the head's slot has completed.
        fired: bool,
        // Only the head of the queue sleeps, until its slot.
        #[pin]
        sleep: Option<S::Sleep>,
    }
}

impl<C, S: Sleeper> Waiter<C, S> {
    pub(crate) fn new() -> Self {
        Self {
            stage: Stage::Idle,
            fired: false,
            sleep: None,
        }
    }
}

impl<C: Clock, S: Sleeper> Waiter<C, S> {
    /// Polls for the slot: `Ok` once released, `Err(Full)` if the room was
    /// full in [`Mode::Spill`].
    ///
    /// # Panics
    ///
    /// If polled again after it returned `Ready`.
    pub(crate) fn poll_wait(
        self: Pin<&mut Self>,
        inner: &Arc<Inner<C, S>>,
        mode: Mode,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Full>> {
        let mut this = self.project();
        let config = &inner.config;
        loop {
            let (room_id, queued) = match &*this.stage {
                Stage::Done => panic!("a leaky-bucket wait polled after it completed"),
                Stage::Idle => (None, None),
                Stage::Waiting(t) if t.place == Place::Room => (Some(t.id), None),
                Stage::Waiting(t) => (None, Some(t.id)),
            };
            if let Some(ticket) = queued {
                let now = inner.now();
                let (turn, wake) =
                    inner
                        .lock()
                        .poll_queued(config, ticket, now, cx.waker(), *this.fired);
                wake.wake();
                match turn {
                    Turn::Behind => return Poll::Pending,
                    Turn::Sleep(slot) => {
                        // The head's slot cannot change while it is the head.
                        if this.sleep.is_none() {
                            match inner.sleep_until(slot) {
                                Some(sleep) => this.sleep.set(Some(sleep)),
                                // Beyond the end of time: never due.
                                None => return Poll::Pending,
                            }
                        }
                        if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
                            ready!(sleep.poll(cx));
                        }
                        *this.fired = true;
                        continue;
                    }
                    Turn::Released => {
                        finish(this.stage);
                        this.sleep.set(None);
                        return Poll::Ready(Ok(()));
                    }
                }
            }
            let now = inner.now();
            let (arrival, wake) = inner.lock().arrive(config, now, cx.waker(), mode, room_id);
            wake.wake();
            match arrival {
                Arrival::Passed => {
                    finish(this.stage);
                    return Poll::Ready(Ok(()));
                }
                Arrival::Full => {
                    finish(this.stage);
                    return Poll::Ready(Err(Full::new(config.capacity)));
                }
                Arrival::Room(id) => {
                    register(this.stage, inner, id, Place::Room);
                    return Poll::Pending;
                }
                Arrival::Queued(id) => register(this.stage, inner, id, Place::Queue),
            }
        }
    }
}

/// Records where the caller waits now.
fn register<C, S>(stage: &mut Stage<C, S>, inner: &Arc<Inner<C, S>>, id: u64, place: Place) {
    match stage {
        Stage::Waiting(ticket) => {
            ticket.id = id;
            ticket.place = place;
        }
        _ => {
            *stage = Stage::Waiting(Ticket {
                inner: Arc::clone(inner),
                id,
                place,
                live: true,
            });
        }
    }
}

/// The caller has left the waiting room (released or spilled): nothing to
/// give back on drop.
fn finish<C, S>(stage: &mut Stage<C, S>) {
    if let Stage::Waiting(ticket) = stage {
        ticket.live = false;
    }
    *stage = Stage::Done;
}

impl<C, S: Sleeper> fmt::Debug for Waiter<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
            Stage::Idle => "idle",
            Stage::Waiting(t) if t.place == Place::Room => "waiting for room",
            Stage::Waiting(_) if self.sleep.is_some() => "sleeping until its slot",
            Stage::Waiting(_) => "waiting",
            Stage::Done => "done",
        };
        f.debug_struct("Waiter").field("stage", &stage).finish()
    }
}
