//! Adapters for [tokio](https://docs.rs/tokio) (feature `tokio`).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::sleep::FAR_FUTURE;
use crate::{Clock, Sleeper, Spawner};

/// Sleeps on tokio's timer (`tokio::time::sleep`). Needs a runtime with the
/// time driver enabled. Honours `tokio::time::pause()`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    type Sleep = tokio::time::Sleep;

    fn sleep(&self, dur: Duration) -> Self::Sleep {
        tokio::time::sleep(dur.min(FAR_FUTURE))
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        tokio::time::sleep_until(deadline.into())
    }
}

/// Reads tokio's clock (`tokio::time::Instant::now()`), so that primitives
/// see the same time as [`TokioSleeper`], paused or not.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// Spawns onto a tokio runtime: the ambient one (`tokio::spawn`, which must be
/// called from inside a runtime) or the one behind a [`Handle`].
///
/// [`Handle`]: tokio::runtime::Handle
#[derive(Debug, Default, Clone)]
pub struct TokioSpawner {
    handle: Option<tokio::runtime::Handle>,
}

impl TokioSpawner {
    /// Spawns with `tokio::spawn` onto the runtime current at spawn time.
    /// Spawning from outside a runtime panics, as `tokio::spawn` does; use
    /// [`with_handle`](Self::with_handle) to spawn from other threads.
    pub fn new() -> Self {
        Self { handle: None }
    }

    /// Spawns onto the runtime behind `handle`, from any thread.
    pub fn with_handle(handle: tokio::runtime::Handle) -> Self {
        Self {
            handle: Some(handle),
        }
    }
}

impl Spawner for TokioSpawner {
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.handle {
            Some(handle) => drop(handle.spawn(fut)),
            None => drop(tokio::spawn(fut)),
        }
    }
}
