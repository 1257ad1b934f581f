//! [`fan_out`], [`fan_out_keyed`] and [`FanOutBuilder`]: starting a
//! fan-out.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use futures_core::Stream;
use sluicegate_rt::Spawner;

use super::distribution::Distribution;
use super::feeder::{self, Feeder};
use super::output::FanOut;
use super::shared::{Alive, Shared};
use super::stats::Counters;
use super::worker::{self, Worker};
use crate::error::ConfigError;

/// The most workers a fan-out takes (65,536): each is a task with its own
/// counters, and with keyed distribution its own queue, allocated up front,
/// so an absurd count is refused with
/// [`ConfigError::TooManyWorkers`](crate::ConfigError::TooManyWorkers)
/// instead of exhausting memory.
pub const MAX_WORKERS: usize = 1 << 16;

/// The most queue slots a fan-out allocates up front (16,777,216): the
/// queue [`capacity`](FanOutBuilder::capacity) times the number of queues
/// (1, or one per worker under [`Distribution::Keyed`]), plus the
/// [`output_capacity`](FanOutBuilder::output_capacity). The queues
/// allocate every slot when created (and the output, taken in runs by the
/// [`FanOut`], may grow a second buffer of its size, so at most
/// `output_capacity` more in all), so an absurd capacity is refused
/// with [`ConfigError::CapacityTooLarge`](crate::ConfigError::CapacityTooLarge)
/// instead of exhausting memory. [`MAX_WORKERS`] keyed workers at
/// [`DEFAULT_CAPACITY`] fit.
pub const MAX_CAPACITY: usize = 1 << 24;

/// The default capacity of each worker queue and of the output buffer.
pub const DEFAULT_CAPACITY: usize = 64;

/// Fans `input` out to `workers` tasks started with `spawner`, each
/// running `f` on one item at a time, taking the next item from one shared
/// queue ([`Distribution::Shared`]); the results come back as the
/// returned [`FanOut`] stream, in completion order. Shorthand for
/// `FanOutBuilder::new(workers).spawn(input, spawner, f)`.
///
/// ```
/// use futures_lite::{StreamExt, stream};
/// use sluicegate_fanio::rt::BoxFuture;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spawner = |f: BoxFuture| {
///     std::thread::spawn(move || sluicegate_fanio::rt::block_on(f));
/// };
/// let squares = sluicegate_fanio::fan_out(stream::iter(1..=10u64), 3, &spawner, |n| async move { n * n })?;
/// let mut got: Vec<u64> = sluicegate_fanio::rt::block_on(squares.map(Result::unwrap).collect());
/// got.sort();
/// assert_eq!(got, (1..=10).map(|n| n * n).collect::<Vec<_>>());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`ConfigError::ZeroWorkers`], [`ConfigError::TooManyWorkers`].
pub fn fan_out<S, F, Fut, Sp>(
    input: S,
    workers: usize,
    spawner: &Sp,
    f: F,
) -> Result<FanOut<S::Item, Fut::Output>, ConfigError>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
    F: Fn(S::Item) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
    Sp: Spawner,
{
    FanOutBuilder::new(workers).spawn(input, spawner, f)
}

/// Like [`fan_out`], partitioned by `key` ([`Distribution::keyed`]): items
/// with the same key go to the same worker and keep their order.
///
/// # Errors
///
/// [`ConfigError::ZeroWorkers`], [`ConfigError::TooManyWorkers`].
pub fn fan_out_keyed<S, K, KF, F, Fut, Sp>(
    input: S,
    workers: usize,
    spawner: &Sp,
    key: KF,
    f: F,
) -> Result<FanOut<S::Item, Fut::Output>, ConfigError>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
    K: Hash,
    KF: Fn(&S::Item) -> K + Send + Sync + 'static,
    F: Fn(S::Item) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
    Sp: Spawner,
{
    FanOutBuilder::new(workers)
        .distribution(Distribution::keyed(key))
        .spawn(input, spawner, f)
}

/// The settings of a fan-out, checked and started by
/// [`spawn`](FanOutBuilder::spawn).
///
/// ```
/// use futures_lite::{StreamExt, stream};
/// use sluicegate_fanio::{Distribution, FanOutBuilder};
/// use sluicegate_fanio::rt::BoxFuture;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spawner = |f: BoxFuture| {
///     std::thread::spawn(move || sluicegate_fanio::rt::block_on(f));
/// };
/// // (account, amount) pairs: per account, order matters.
/// let input = stream::iter((0..100u32).map(|i| (i % 7, i)));
/// let out = FanOutBuilder::new(4)
///     .distribution(Distribution::keyed(|&(account, _): &(u32, u32)| account))
///     .capacity(8)
///     .spawn(input, &spawner, |(account, amount)| async move { (account, amount) })?;
/// let got: Vec<(u32, u32)> = sluicegate_fanio::rt::block_on(out.map(Result::unwrap).collect());
/// for account in 0..7 {
///     let amounts: Vec<u32> = got.iter().filter(|p| p.0 == account).map(|p| p.1).collect();
///     assert!(amounts.windows(2).all(|w| w[0] < w[1])); // input order kept per key
/// }
/// assert_eq!(got.len(), 100);
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until `.spawn(..)`"]
pub struct FanOutBuilder<T> {
    workers: usize,
    distribution: Distribution<T>,
    capacity: usize,
    output_capacity: usize,
}

impl<T> FanOutBuilder<T> {
    /// `workers` workers, [`Distribution::Shared`], queues and output of
    /// [`DEFAULT_CAPACITY`].
    pub fn new(workers: usize) -> Self {
        Self {
            workers,
            distribution: Distribution::Shared,
            capacity: DEFAULT_CAPACITY,
            output_capacity: DEFAULT_CAPACITY,
        }
    }

    /// How items are handed to workers (default [`Distribution::Shared`]).
    pub fn distribution(mut self, distribution: Distribution<T>) -> Self {
        self.distribution = distribution;
        self
    }

    /// The capacity of the shared queue, or of each worker's queue under
    /// [`Distribution::Keyed`] (default [`DEFAULT_CAPACITY`]). When full,
    /// the input is not polled until the queue is half empty again (the
    /// feeder refills in runs). Allocated up front: see [`MAX_CAPACITY`].
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How many results wait for the consumer before workers wait too
    /// (default [`DEFAULT_CAPACITY`]). Allocated up front: see
    /// [`MAX_CAPACITY`]. The [`FanOut`] takes every waiting result at
    /// once, in one run, and yields them one by one while the workers
    /// refill the buffer: up to twice this many results can be computed
    /// and not yet yielded.
    pub fn output_capacity(mut self, capacity: usize) -> Self {
        self.output_capacity = capacity;
        self
    }

    /// Checks the settings, spawns the workers and a feeder task (which
    /// polls `input`) on `spawner`, and returns the output stream.
    ///
    /// `f` is called once per item, on the worker task; a panic in it, or
    /// in the future it returns, becomes a
    /// [`FanOutError::WorkerPanicked`](crate::FanOutError::WorkerPanicked)
    /// in the output and the worker goes on. For a fallible `f`, let `U` be
    /// a `Result`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroWorkers`], [`ConfigError::TooManyWorkers`],
    /// [`ConfigError::ZeroCapacity`] (for either capacity),
    /// [`ConfigError::CapacityTooLarge`] (more than [`MAX_CAPACITY`] slots
    /// in all). Nothing is spawned then.
    pub fn spawn<S, F, Fut, Sp>(
        self,
        input: S,
        spawner: &Sp,
        f: F,
    ) -> Result<FanOut<T, Fut::Output>, ConfigError>
    where
        S: Stream<Item = T> + Send + 'static,
        T: Send + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
        Sp: Spawner,
    {
        if self.workers == 0 {
            return Err(ConfigError::ZeroWorkers);
        }
        if self.workers > crate::MAX_WORKERS {
            return Err(ConfigError::TooManyWorkers(self.workers));
        }
        if self.capacity == 0 || self.output_capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        let queues = match self.distribution {
            Distribution::Shared => 1,
            Distribution::Keyed(_) => self.workers,
        };
        let slots = self
            .capacity
            .saturating_mul(queues)
            .saturating_add(self.output_capacity);
        if slots > MAX_CAPACITY {
            return Err(ConfigError::CapacityTooLarge(slots));
        }
        let key = match self.distribution {
            Distribution::Shared => None,
            Distribution::Keyed(key) => Some(key),
        };
        let counters = Arc::new(Counters::new(self.workers));
        let shared = Arc::new(Shared::new(
            counters,
            self.workers,
            key.is_some(),
            self.capacity,
            self.output_capacity,
        ));
        let f = Arc::new(f);
        for index in 0..self.workers {
            let (q, rid) = if queues == 1 { (0, index) } else { (index, 0) };
            let w = Worker {
                index,
                q,
                rid,
                shared: Arc::clone(&shared),
                running: false,
                pending: None,
                alive: Some(Alive(Arc::clone(&shared.counters))),
            };
            spawner.spawn(worker::run(w, Arc::clone(&f)));
        }
        let feeder = Feeder {
            shared: Arc::clone(&shared),
            key,
            id: self.workers,
            held_q: 0,
            held: None,
            pending: None,
            done: false,
            alive: Some(Alive(Arc::clone(&shared.counters))),
        };
        spawner.spawn(feeder::run(input, feeder));
        Ok(FanOut::new(shared))
    }
}

impl<T> fmt::Debug for FanOutBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOutBuilder")
            .field("workers", &self.workers)
            .field("distribution", &self.distribution)
            .field("capacity", &self.capacity)
            .field("output_capacity", &self.output_capacity)
            .finish()
    }
}
