//! The feeder task: pulls the input stream and routes each item to a
//! worker queue, waiting while that queue is full (backpressure reaches the
//! input), until the input ends or the fan-out is cancelled.

use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use event_listener::EventListener;
use futures_core::Stream;

use super::distribution::KeyFn;
use super::shared::{Alive, Shared};
use super::stats::bump;
use super::worker::Out;
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
fn next_step<S: Stream>(
    cx: &mut Context<'_>,
    shared: &Shared<S::Item>,
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

pub(crate) async fn run<S, U>(
    input: S,
    shared: Arc<Shared<S::Item>>,
    key: Option<KeyFn<S::Item>>,
    queues: Vec<async_channel::Sender<S::Item>>,
    out: Out<U, S::Item>,
    _alive: Alive,
) where
    S: Stream,
{
    let counters = Arc::clone(&shared.counters);
    let mut input = pin!(input);
    let mut listener = None;
    loop {
        let step = poll_fn(|cx| next_step(cx, &shared, &mut listener, input.as_mut())).await;
        let item = match step {
            Step::Item(item) => item,
            Step::End | Step::Cancelled => break,
            Step::Panicked(message) => {
                bump(&counters.input_panics);
                if out
                    .send(Err(FanOutError::InputPanicked { message }))
                    .await
                    .is_err()
                {
                    bump(&counters.discarded);
                }
                break;
            }
        };
        bump(&counters.taken);
        let worker = match &key {
            None => 0,
            Some(key) => match catch(|| key.worker(&item, queues.len())) {
                Ok(worker) => worker,
                Err(message) => {
                    bump(&counters.key_panics);
                    if out
                        .send(Err(FanOutError::KeyPanicked { item, message }))
                        .await
                        .is_err()
                    {
                        bump(&counters.discarded);
                    }
                    continue;
                }
            },
        };
        if let Err(async_channel::SendError(item)) = queues[worker].send(item).await {
            // Closed: cancelled while waiting for room.
            shared.hand_back(item);
            break;
        }
    }
    counters.input_done.store(true, Ordering::Release);
    // Dropping `queues` lets the workers drain and exit; dropping `out`
    // (with theirs) ends the output.
}
