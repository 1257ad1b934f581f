//! The worker task: takes items from its queue one at a time and runs the
//! worker function on each, catching panics.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::shared::{Alive, Shared};
use super::stats::bump;
use crate::error::FanOutError;
use crate::unwind::{CatchUnwind, catch};

pub(crate) type Out<U, T> = async_channel::Sender<Result<U, FanOutError<T>>>;

pub(crate) async fn run<T, U, F, Fut>(
    index: usize,
    shared: Arc<Shared<T>>,
    queue: async_channel::Receiver<T>,
    out: Out<U, T>,
    f: Arc<F>,
    _alive: Alive,
) where
    F: Fn(T) -> Fut,
    Fut: Future<Output = U>,
{
    let c = &shared.counters.workers[index];
    // Ends when the feeder is gone and the queue is drained, or at once
    // after a cancel has closed it and it is drained.
    while let Ok(item) = queue.recv().await {
        if shared.is_cancelled() {
            shared.hand_back(item);
            continue;
        }
        bump(&c.started);
        c.busy.store(true, Ordering::Relaxed);
        let result = match catch(|| f(item)) {
            Ok(fut) => CatchUnwind::new(fut).await,
            Err(message) => Err(message),
        };
        c.busy.store(false, Ordering::Relaxed);
        let result = match result {
            Ok(out) => {
                bump(&c.completed);
                Ok(out)
            }
            Err(message) => {
                bump(&c.panicked);
                Err(FanOutError::WorkerPanicked {
                    worker: index,
                    message,
                })
            }
        };
        if out.send(result).await.is_err() {
            bump(&shared.counters.discarded);
        }
    }
}
