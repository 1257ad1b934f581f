//! Adapters for [smol](https://docs.rs/smol) (feature `smol`): async-io
//! timers and smol's executors.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::sleep::FAR_FUTURE;
use crate::{Sleeper, Spawner};

/// Sleeps on async-io's timer (`smol::Timer`), which works under any
/// executor: async-io drives timers from its own reactor thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct SmolSleeper;

impl Sleeper for SmolSleeper {
    type Sleep = SmolSleep;

    fn sleep(&self, dur: Duration) -> SmolSleep {
        SmolSleep(smol::Timer::after(dur.min(FAR_FUTURE)))
    }

    fn sleep_until(&self, deadline: Instant) -> SmolSleep {
        SmolSleep(smol::Timer::at(deadline))
    }
}

/// The future returned by [`SmolSleeper`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct SmolSleep(smol::Timer);

impl Future for SmolSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

/// Spawns onto smol: the global executor (`smol::spawn`) or a given
/// [`smol::Executor`]. Tasks are detached.
#[derive(Debug, Default, Clone)]
pub struct SmolSpawner {
    executor: Option<Arc<smol::Executor<'static>>>,
}

impl SmolSpawner {
    /// Spawns onto smol's global executor.
    pub fn new() -> Self {
        Self { executor: None }
    }

    /// Spawns onto `executor`. Tasks make progress only while something runs
    /// that executor (`executor.run(..)` on some thread).
    pub fn with_executor(executor: Arc<smol::Executor<'static>>) -> Self {
        Self {
            executor: Some(executor),
        }
    }
}

impl Spawner for SmolSpawner {
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.executor {
            Some(executor) => executor.spawn(fut).detach(),
            None => smol::spawn(fut).detach(),
        }
    }
}
