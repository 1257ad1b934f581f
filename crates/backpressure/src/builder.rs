//! [`Builder`]: the settings of a queue, validated by
//! [`build`](Builder::build); [`bounded`] for the defaults.

use std::fmt;
use std::sync::Arc;

use sluicegate_rt::{Clock, Sleeper, SystemClock};

use crate::core::{Core, OnDrop};
use crate::error::ConfigError;
use crate::policy::{DropReason, Overflow};
use crate::receiver::Receiver;
use crate::sender::{Sender, Timer};

/// The default sleeper type: none.
///
/// Without [`Builder::sleeper`] or [`Builder::timer`],
/// [`send_timeout`](Sender::send_timeout) does not compile; everything else
/// works. This is deliberate: the crate picks no runtime for you.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSleeper;

/// A queue of `capacity` slots with the default settings: policy
/// [`Block`](Overflow::Block), no drop callback, the system clock, no
/// sleeper. Shorthand for `builder(capacity).build()`.
///
/// ```
/// # sluicegate_backpressure::rt::block_on(async {
/// let (tx, rx) = sluicegate_backpressure::bounded(8)?;
/// tx.send("hello").await?;
/// assert_eq!(rx.recv().await, Some("hello"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Errors
///
/// [`ConfigError::ZeroCapacity`].
pub fn bounded<T>(capacity: usize) -> Result<(Sender<T>, Receiver<T>), ConfigError> {
    builder(capacity).build()
}

/// Settings for a queue of `capacity` slots, finished by
/// [`build`](Builder::build).
pub fn builder<T>(capacity: usize) -> Builder<T> {
    Builder {
        capacity,
        policy: Overflow::Block,
        on_drop: None,
        clock: SystemClock,
        sleeper: NoSleeper,
        time_blocked: true,
    }
}

/// Settings for a queue: made by [`builder`], finished by
/// [`build`](Builder::build).
///
/// ```
/// use sluicegate_backpressure::{DropReason, Overflow};
/// use sluicegate_rt::ManualClock;
/// use std::sync::{Arc, Mutex};
///
/// let evicted = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&evicted);
/// let (tx, rx) = sluicegate_backpressure::builder::<u32>(2)
///     .policy(Overflow::DropOldest)
///     .on_drop(move |item, reason| log.lock().unwrap().push((item, reason)))
///     .timer(ManualClock::new())      // clock and sleeper in one
///     .build()?;
/// for i in 0..4 {
///     tx.try_send(i)?;                // never `Full` under DropOldest
/// }
/// assert_eq!(*evicted.lock().unwrap(), [(0, DropReason::Oldest), (1, DropReason::Oldest)]);
/// assert_eq!(rx.try_recv()?, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `.build()`"]
pub struct Builder<T, C = SystemClock, S = NoSleeper> {
    capacity: usize,
    policy: Overflow,
    on_drop: Option<OnDrop<T>>,
    clock: C,
    sleeper: S,
    time_blocked: bool,
}

impl<T, C, S> Builder<T, C, S> {
    /// What a send does when the queue is full (default
    /// [`Block`](Overflow::Block)).
    pub fn policy(mut self, policy: Overflow) -> Self {
        self.policy = policy;
        self
    }

    /// Calls `on_drop` with each item the queue lets go of: evicted
    /// (`DropOldest`), turned away (`DropNewest`), or cut off because every
    /// receiver is gone. Without a callback such items are simply dropped;
    /// either way each is counted in [`Stats::dropped`](crate::Stats::dropped).
    ///
    /// It runs on the thread of the call that dropped the item (a sender,
    /// or the last receiver's `drop`), after the queue's state is updated;
    /// keep it short and do not block in it.
    pub fn on_drop<F>(mut self, on_drop: F) -> Self
    where
        F: Fn(T, DropReason) + Send + Sync + 'static,
    {
        self.on_drop = Some(Box::new(on_drop));
        self
    }

    /// Reads time from `clock` (default [`SystemClock`]) to measure
    /// [`Stats::blocked`](crate::Stats::blocked).
    pub fn clock<C2: Clock>(self, clock: C2) -> Builder<T, C2, S> {
        Builder {
            capacity: self.capacity,
            policy: self.policy,
            on_drop: self.on_drop,
            clock,
            sleeper: self.sleeper,
            time_blocked: self.time_blocked,
        }
    }

    /// Whether to measure [`Stats::blocked`](crate::Stats::blocked)
    /// (default `true`).
    ///
    /// A send (or reserve) that has to sleep for a slot reads the clock
    /// twice: when it goes to sleep and when its wait ends. With the
    /// system clock a read is a `clock_gettime` through the vDSO, some
    /// 25-30 ns on a typical x86-64 VM. That is nothing next to a wait
    /// that lasts microseconds, but at capacity 1, where every message
    /// waits for the one before it, the two reads are 15-20% of what a
    /// message costs in the crate's benchmarks (any queue whose senders
    /// wait at nearly every send pays them per message too). With
    /// `false` no clock is read and `blocked` stays
    /// [`Duration::ZERO`](std::time::Duration::ZERO); every other statistic
    /// (`full_events` included) is kept.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sluicegate_rt::ManualClock;
    ///
    /// let clock = ManualClock::new();
    /// let (tx, rx) = sluicegate_backpressure::builder::<u32>(1)
    ///     .timer(clock.clone())
    ///     .time_blocked(false)
    ///     .build()?;
    /// tx.try_send(1)?;
    /// // Full: the send waits 5 ms (virtual) for the receive to free a slot.
    /// let (sent, got) = clock.block_on(futures_lite::future::zip(tx.send(2), async {
    ///     clock.sleep(Duration::from_millis(5)).await;
    ///     rx.recv().await
    /// }));
    /// sent?;
    /// assert_eq!(got, Some(1));
    /// let s = tx.stats();
    /// // The wait is counted, not timed (with the default: 5 ms).
    /// assert_eq!((s.full_events, s.blocked), (1, Duration::ZERO));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_blocked(mut self, time_blocked: bool) -> Self {
        self.time_blocked = time_blocked;
        self
    }

    /// Waits with `sleeper` in [`send_timeout`](Sender::send_timeout).
    pub fn sleeper<S2: Sleeper>(self, sleeper: S2) -> Builder<T, C, S2> {
        Builder {
            capacity: self.capacity,
            policy: self.policy,
            on_drop: self.on_drop,
            clock: self.clock,
            sleeper,
            time_blocked: self.time_blocked,
        }
    }

    /// Uses `timer` as both clock and sleeper: a
    /// [`ManualClock`](sluicegate_rt::ManualClock) for tests in virtual time.
    pub fn timer<K: Clock + Sleeper + Clone>(self, timer: K) -> Builder<T, K, K> {
        self.clock(timer.clone()).sleeper(timer)
    }

    /// Checks the settings and builds the queue: one [`Sender`] and one
    /// [`Receiver`], each cheap to clone.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroCapacity`].
    #[allow(clippy::type_complexity)] // a pair, as a channel's constructor
    pub fn build(self) -> Result<(Sender<T, C, S>, Receiver<T>), ConfigError>
    where
        C: Clock,
    {
        if self.capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        let core = Arc::new(Core::new(
            self.capacity,
            self.policy,
            self.on_drop,
            self.time_blocked,
        ));
        let timer = Arc::new(Timer {
            clock: self.clock,
            sleeper: self.sleeper,
            now: C::now,
        });
        Ok((Sender::new(Arc::clone(&core), timer), Receiver::new(core)))
    }
}

impl<T, C, S> fmt::Debug for Builder<T, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("capacity", &self.capacity)
            .field("policy", &self.policy)
            .field("on_drop", &self.on_drop.is_some())
            .field("time_blocked", &self.time_blocked)
            .finish_non_exhaustive()
    }
}
