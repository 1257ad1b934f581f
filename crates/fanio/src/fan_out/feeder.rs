//! The feeder task: pulls the input stream and routes each item to a
//! worker queue (in one tight loop while the input is ready and the queue
//! has room), waiting while that queue is full (backpressure reaches the
//! input), until the input ends or the fan-out is cancelled. Its state
//! lives in a [`Feeder`] guard, so that if the executor drops the task,
//! the item it held comes back in the output and the early end of the
//! input is reported.

use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use event_listener::EventListener;
use futures_core::Stream;

use super::distribution::KeyFn;
use super::shared::{Alive, FEEDER, Outcome, Shared};
use super::stats::{add_one, bump};
use crate::error::FanOutError;
use crate::unwind::catch;

enum Step<T> {
    Item(T),
    End,
    Cancelled,
    Panicked(String),
}

/// The next input item, unless the fan-out is cancelled first. The cancel
/// listener is polled only while the input is pending (a ready input needs
/// no wake-up), so the hot path costs one flag load.
fn next_step<S: Stream, U>(
    cx: &mut Context<'_>,
    shared: &Shared<S::Item, U>,
    listener: &mut Option<EventListener>,
    mut input: Pin<&mut S>,
) -> Poll<Step<S::Item>> {
    loop {
        if shared.is_cancelled() {
            return Poll::Ready(Step::Cancelled);
        }
        match catch(|| input.as_mut().poll_next(cx)) {
            Ok(Poll::Ready(Some(item))) => return Poll::Ready(Step::Item(item)),
            Ok(Poll::Ready(None)) => return Poll::Ready(Step::End),
            Ok(Poll::Pending) => {}
            Err(message) => return Poll::Ready(Step::Panicked(message)),
        }
        match listener {
            // Listen, then check the flag (and the input) again before
            // relying on it.
            None => *listener = Some(shared.listen()),
            Some(l) => match Pin::new(l).poll(cx) {
                Poll::Ready(()) => *listener = None,
                Poll::Pending => return Poll::Pending,
            },
        }
    }
}

/// The feeder task's state, made before the task is spawned.
pub(crate) struct Feeder<T, U> {
    /// Dropped first, after `drop` has settled everything else; the
    /// output ends after that (see `drop`): once it has ended, every task
    /// counts as exited.
    pub(crate) alive: Option<Alive>,
    pub(crate) shared: Arc<Shared<T, U>>,
    pub(crate) key: Option<KeyFn<T>>,
    /// Its sender id in the output queue (after the workers').
    pub(crate) id: usize,
    /// The queue `held` goes to.
    pub(crate) held_q: usize,
    /// An item taken from the input, waiting for room in queue `held_q`.
    pub(crate) held: Option<T>,
    /// An error waiting for room in the output.
    pub(crate) pending: Option<Outcome<U, T>>,
    /// Whether the input is done with: it ended or panicked, or the loop
    /// stopped on a cancel. A drop before then is reported
    /// (`FeederDropped`).
    pub(crate) done: bool,
}

/// Why [`Feeder::feed`] stopped.
enum Fed {
    /// The input ended, or the fan-out was cancelled.
    Stop,
    /// `pending` holds an error for the output: send it, then go on.
    Send,
    /// `pending` holds the input's panic: send it, then stop.
    SendAndStop,
}

impl<T, U> Feeder<T, U> {
    /// Moves items from the input to their queues, one at a time, for as
    /// long as the input is ready and the queues have room, in one poll
    /// (no await between items). An item taken from the input waits in
    /// `self.held` (where the guard finds it if the task is dropped)
    /// until it is in its queue, which is filled until full and refilled
    /// once half empty again.
    fn feed<S: Stream<Item = T>>(
        &mut self,
        cx: &mut Context<'_>,
        listener: &mut Option<EventListener>,
        mut input: Pin<&mut S>,
    ) -> Poll<Fed> {
        loop {
            if self.held.is_some() {
                let q = self.held_q;
                match self.shared.queues[q].poll_push(FEEDER, &mut self.held, cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(true) => {}
                    Poll::Ready(false) => {
                        let Some(item) = self.held.take() else {
                            continue; // unreachable: a closed queue leaves it
                        };
                        if self.shared.is_cancelled() {
                            self.shared.hand_back(item);
                            return Poll::Ready(Fed::Stop);
                        }
                        // Closed by its last worker, dropped by the
                        // executor.
                        bump(&self.shared.counters.unstarted);
                        self.pending = Some(Err(FanOutError::Unstarted { worker: q, item }));
                        return Poll::Ready(Fed::Send);
                    }
                }
            }
            let item = match next_step(cx, &self.shared, listener, input.as_mut()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Step::Item(item)) => item,
                Poll::Ready(Step::End | Step::Cancelled) => return Poll::Ready(Fed::Stop),
                Poll::Ready(Step::Panicked(message)) => {
                    bump(&self.shared.counters.input_panics);
                    // The input has ended (it is never polled again): a
                    // drop while the error waits for room is no early end.
                    self.done = true;
                    self.pending = Some(Err(FanOutError::InputPanicked { message }));
                    return Poll::Ready(Fed::SendAndStop);
                }
            };
            add_one(&self.shared.counters.taken);
            self.held_q = match &self.key {
                None => 0,
                Some(key) => match catch(|| key.worker(&item, self.shared.queues.len())) {
                    Ok(worker) => worker,
                    Err(message) => {
                        bump(&self.shared.counters.key_panics);
                        self.pending = Some(Err(FanOutError::KeyPanicked { item, message }));
                        return Poll::Ready(Fed::Send);
                    }
                },
            };
            self.held = Some(item);
        }
    }
}

pub(crate) async fn run<S, U>(input: S, mut f: Feeder<S::Item, U>)
where
    S: Stream,
{
    let shared = Arc::clone(&f.shared);
    let mut input = pin!(input);
    let mut listener = None;
    loop {
        match poll_fn(|cx| f.feed(cx, &mut listener, input.as_mut())).await {
            Fed::Stop => break,
            Fed::Send => {
                shared.send_out(f.id, &mut f.pending).await;
            }
            Fed::SendAndStop => {
                shared.send_out(f.id, &mut f.pending).await;
                break;
            }
        }
    }
    f.done = true;
    // Dropping `f` lets the workers drain their queues and exit; once
    // they are all done, the output ends.
}

impl<T, U> Drop for Feeder<T, U> {
    fn drop(&mut self) {
        let shared = &*self.shared;
        if let Some(item) = self.held.take() {
            shared.not_started(self.held_q, item);
        }
        if let Some(outcome) = self.pending.take() {
            shared.emit(outcome);
        }
        if !self.done && !shared.is_cancelled() {
            // Dropped by the executor before the input ended: say so.
            shared
                .counters
                .feeder_dropped
                .store(true, Ordering::Relaxed);
            shared.emit(Err(FanOutError::FeederDropped));
        }
        shared.counters.input_done.store(true, Ordering::Release);
        drop(self.alive.take());
        // The workers drain their queues and exit.
        for q in &*shared.queues {
            q.sender_done(FEEDER);
        }
        shared.out.sender_done(self.id);
    }
}
