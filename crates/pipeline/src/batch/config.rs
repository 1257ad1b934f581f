//! [`Batch`]: when a batch is closed (size, time, timer mode).

use std::time::Duration;

use crate::error::ConfigError;

/// What a batch's `max_wait` is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimerMode {
    /// A batch is closed `max_wait` after its **first item** arrived
    /// (default). Items at 0, 3 and 7 ms with a 10 ms wait: one batch at
    /// 10 ms. An idle input arms no timer.
    ///
    /// Precisely, the timer starts when the batch, holding at least one
    /// item, first has to wait for its input: items that arrive already
    /// ready together are taken first (they add no wait in virtual time
    /// and microseconds in real time). So an input that is always ready
    /// pays for no timer while its batches fill by size. A cooperative
    /// yield (a pipeline's run yields the thread every 4,096 source items;
    /// the standalone adapters every 1,024 items) is not a wait and arms
    /// no timer, unless the batch could not fill in the next poll either
    /// (more room than a poll's items: [`Batch::time`], a huge
    /// `max_items`) or already spans a yield (a filter before it lets few
    /// items through): the wait starts at most one poll of the batch stage
    /// late. That poll comes at once (the yield woke the task) unless the
    /// stage after it stops asking for more for a while (a parallel step
    /// in input order hands its finished results to a busy sink first):
    /// then the wait starts when it asks again.
    #[default]
    FromFirstItem,
    /// A clock ticks every `max_wait` from the first poll, like Go's
    /// `time.Tick`; each tick closes the batch if it holds anything (a
    /// tick with no items emits nothing). Items at 0, 3 and 7 ms, then 15
    /// ms, with 10 ms ticks: batches at 10 and 20 ms. Each tick is armed
    /// when the previous one is seen, so late polls shift later ticks.
    FixedTicks,
}

/// When a batch is closed: at `max_items` items, at the timer
/// (`max_wait`, see [`TimerMode`]), or when the input ends, whichever
/// comes first. Batches are never empty.
///
/// ```
/// use sluicegate_pipeline::{Batch, TimerMode};
/// use std::time::Duration;
///
/// let by_size = Batch::size(100);
/// let by_size_or_time = Batch::size(100).max_wait(Duration::from_millis(50));
/// let on_ticks = Batch::size(100)
///     .max_wait(Duration::from_millis(50))
///     .timer(TimerMode::FixedTicks);
/// assert!(by_size_or_time.validate().is_ok());
/// assert!(Batch::size(0).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    max_items: usize,
    max_wait: Option<Duration>,
    timer: TimerMode,
}

impl Batch {
    /// Batches of at most `max_items` items, closed when full or when the
    /// input ends (add [`max_wait`](Self::max_wait) to bound the wait).
    pub const fn size(max_items: usize) -> Self {
        Self {
            max_items,
            max_wait: None,
            timer: TimerMode::FromFirstItem,
        }
    }

    /// Batches closed by time only (and at the end of the input): as many
    /// items as arrive within `max_wait`.
    pub const fn time(max_wait: Duration) -> Self {
        Self {
            max_items: usize::MAX,
            max_wait: Some(max_wait),
            timer: TimerMode::FromFirstItem,
        }
    }

    /// Closes a batch once `max_wait` has passed (see [`TimerMode`]).
    pub const fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// What `max_wait` is measured from (default
    /// [`TimerMode::FromFirstItem`]).
    pub const fn timer(mut self, timer: TimerMode) -> Self {
        self.timer = timer;
        self
    }

    /// The largest batch.
    pub const fn max_items(&self) -> usize {
        self.max_items
    }

    /// The longest wait, if any.
    pub const fn max_wait_duration(&self) -> Option<Duration> {
        self.max_wait
    }

    /// The timer mode.
    pub const fn timer_mode(&self) -> TimerMode {
        self.timer
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroBatchSize`] for `max_items == 0`;
    /// [`ConfigError::ZeroMaxWait`] for a zero `max_wait`;
    /// [`ConfigError::TicksWithoutPeriod`] for
    /// [`TimerMode::FixedTicks`] without a `max_wait`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_items == 0 {
            return Err(ConfigError::ZeroBatchSize);
        }
        match self.max_wait {
            Some(d) if d.is_zero() => Err(ConfigError::ZeroMaxWait),
            None if self.timer == TimerMode::FixedTicks => Err(ConfigError::TicksWithoutPeriod),
            _ => Ok(()),
        }
    }
}
