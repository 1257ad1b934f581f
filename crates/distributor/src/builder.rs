//! [`Builder`]: the settings of a pool, validated by
//! [`build`](Builder::build).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use event_listener::Event;
use sluicegate_backpressure::NoSleeper;
use sluicegate_rt::{BoxFuture, Sleeper, Spawner};

use crate::distributor::Distributor;
use crate::error::ConfigError;
use crate::gate::{Gate, WorkerCount};
use crate::shared::{OnError, OnPanic, Shared, collect_late};
use crate::stats::Counters;

/// When the pool cancels itself, as [`abort`](Distributor::abort) would:
/// running jobs are cancelled, new submits fail with `Closed`, and the
/// queued jobs wait to be handed back by the next `shutdown` or `abort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CancelOn {
    /// Never (the default): a panic or error is counted and reported, and
    /// the worker goes on.
    #[default]
    Never,
    /// At the first job that panics.
    Panic,
    /// At the first job that panics or returns `Err`.
    PanicOrError,
}

/// The most workers a pool takes (1,048,576; also the limit of
/// [`resize`](crate::Distributor::resize)). Each worker is a task started
/// at once, so a count beyond what any executor can hold is refused with a
/// typed error instead of spawning without end.
pub const MAX_WORKERS: usize = 1 << 20;

/// Settings for a pool of `workers` workers over a queue of `capacity`
/// slots, finished by [`build`](Builder::build).
///
/// `T` and `E` are the jobs' `Ok` and `Err` types; name them here or let
/// the first `submit` infer them.
pub fn builder<T, E>(workers: usize, capacity: usize) -> Builder<T, E> {
    Builder {
        workers,
        capacity,
        sleeper: NoSleeper,
        on_panic: None,
        on_error: None,
        cancel_on: CancelOn::Never,
        _out: std::marker::PhantomData,
    }
}

/// Settings for a pool: made by [`builder`], finished by
/// [`build`](Builder::build).
///
/// ```
/// use sluicegate_distributor::{CancelOn, rt::BoxFuture};
/// use std::sync::{Arc, Mutex};
///
/// let panics = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&panics);
/// let pool = sluicegate_distributor::builder::<u32, String>(2, 16)
///     .on_panic(move |msg| log.lock().unwrap().push(msg.to_owned()))
///     .cancel_on(CancelOn::Never)          // the default: workers live on
///     .sleeper(sluicegate_rt::ManualClock::new()) // for the `_timeout` calls
///     .build(|f: BoxFuture| {
///         std::thread::spawn(move || sluicegate_distributor::rt::block_on(f));
///     })?;
/// # drop(pool);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `.build()`"]
pub struct Builder<T, E, S = NoSleeper> {
    workers: usize,
    capacity: usize,
    sleeper: S,
    on_panic: Option<OnPanic>,
    on_error: Option<OnError<E>>,
    cancel_on: CancelOn,
    _out: std::marker::PhantomData<fn() -> T>,
}

impl<T, E, S> Builder<T, E, S> {
    /// Waits with `sleeper` in [`submit_timeout`](Distributor::submit_timeout)
    /// and [`shutdown_timeout`](Distributor::shutdown_timeout) (a
    /// [`ManualClock`](sluicegate_rt::ManualClock) in tests). Without one,
    /// those two methods do not compile.
    pub fn sleeper<S2: Sleeper>(self, sleeper: S2) -> Builder<T, E, S2> {
        Builder {
            workers: self.workers,
            capacity: self.capacity,
            sleeper,
            on_panic: self.on_panic,
            on_error: self.on_error,
            cancel_on: self.cancel_on,
            _out: std::marker::PhantomData,
        }
    }

    /// Calls `on_panic` with the message of each job that panics, on the
    /// worker, after it is counted. A panic inside the callback is caught
    /// and ignored.
    pub fn on_panic<F>(mut self, on_panic: F) -> Self
    where
        F: Fn(&str) + Send + Sync + 'static,
    {
        self.on_panic = Some(Box::new(on_panic));
        self
    }

    /// Calls `on_error` with the error of each job that returns `Err`, on
    /// the worker, before the error goes to the job's handle (if any).
    pub fn on_error<F>(mut self, on_error: F) -> Self
    where
        F: Fn(&E) + Send + Sync + 'static,
    {
        self.on_error = Some(Box::new(on_error));
        self
    }

    /// Whether a panicking (or failing) job cancels the whole pool
    /// (default [`CancelOn::Never`]).
    pub fn cancel_on(mut self, cancel_on: CancelOn) -> Self {
        self.cancel_on = cancel_on;
        self
    }

    /// Checks the settings, starts the workers through `spawner`, and
    /// returns the pool.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroWorkers`], [`ConfigError::TooManyWorkers`],
    /// [`ConfigError::ZeroCapacity`].
    pub fn build<Sp>(self, spawner: Sp) -> Result<Distributor<T, E, S>, ConfigError>
    where
        Sp: Spawner + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
        S: Send + Sync + 'static,
    {
        if self.workers == 0 {
            return Err(ConfigError::ZeroWorkers);
        }
        if self.workers > crate::MAX_WORKERS {
            return Err(ConfigError::TooManyWorkers(self.workers));
        }
        if self.capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        let late = Arc::new(Mutex::new(Vec::new()));
        let on_drop = collect_late(&late);
        let (tx, rx) = sluicegate_backpressure::builder(self.capacity)
            .on_drop(move |entry, _| on_drop(entry))
            .build()
            .map_err(|_| ConfigError::ZeroCapacity)?;
        let shared = Arc::new(Shared {
            tx,
            rx: Mutex::new(Some(rx)),
            late,
            sleeper: self.sleeper,
            gate: Gate::new(),
            workers: WorkerCount::new(self.workers),
            aborted: AtomicBool::new(false),
            control: Event::new(),
            abort: Event::new(),
            exited: Event::new(),
            handles: AtomicUsize::new(1),
            counters: Counters::default(),
            spawn: Box::new(move |f: BoxFuture| spawner.spawn(f)),
            on_panic: self.on_panic,
            on_error: self.on_error,
            cancel_on: self.cancel_on,
        });
        shared.grow();
        Ok(Distributor::new(shared))
    }
}

impl<T, E, S> fmt::Debug for Builder<T, E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("capacity", &self.capacity)
            .field("on_panic", &self.on_panic.is_some())
            .field("on_error", &self.on_error.is_some())
            .field("cancel_on", &self.cancel_on)
            .finish_non_exhaustive()
    }
}
