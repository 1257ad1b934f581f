//! Errors: settings that cannot work ([`ConfigError`]), failures on the
//! error stream ([`PipelineError`]), and an item handed back by a stopped
//! generator ([`EmitError`]).

use std::fmt;
use std::sync::Arc;

/// A setting that cannot work, reported by the builder (the first one
/// found is returned by [`Pipeline::sink`](crate::Pipeline::sink)) or by
/// [`Batch::validate`](crate::Batch::validate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A buffer (or a generator's output) with no slot could never pass an
    /// item on.
    #[error("buffer capacity must be at least 1")]
    ZeroCapacity,
    /// A batch of at most zero items could never be emitted (and empty
    /// batches are never emitted).
    #[error("batch size must be at least 1")]
    ZeroBatchSize,
    /// A zero `max_wait` would close every batch at its first item (or tick
    /// without end); for "whatever is ready now", use
    /// [`Batch::size`](crate::Batch::size) without a wait.
    #[error("batch max_wait must be longer than zero")]
    ZeroMaxWait,
    /// [`TimerMode::FixedTicks`](crate::TimerMode::FixedTicks) needs a
    /// period: set [`Batch::max_wait`](crate::Batch::max_wait).
    #[error("fixed ticks need a max_wait")]
    TicksWithoutPeriod,
    /// A parallel step with no slot could never run an item.
    #[error("parallelism must be at least 1")]
    ZeroParallelism,
}

/// Where a failure happened: the stage's position in the pipeline (the
/// source is 0) and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StageId {
    /// Position in the pipeline, from the source (0) to the sink (last).
    pub index: usize,
    /// The stage's name: its kind (`"map"`, `"try_map"`, ...) unless
    /// renamed with [`Pipeline::named`](crate::Pipeline::named).
    pub name: Arc<str>,
}

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (#{})", self.name, self.index)
    }
}

/// A failure, sent on the pipeline's error stream
/// ([`Runnable::errors`](crate::Runnable::errors)) instead of downstream.
///
/// The item that failed is not passed on: it counts in
/// [`Summary::failed`](crate::Summary::failed) (with every source item it
/// stands for, e.g. a whole batch). Put what you need to retry it into
/// your error type `E`. ([`ClockPanicked`](Self::ClockPanicked) is the
/// exception: it stands for no item.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError<E> {
    /// A fallible stage (`try_map`, `try_parallel`, `try_sink`) returned
    /// `Err`.
    #[error("stage {stage} failed: {error}")]
    Failed {
        /// The stage.
        stage: StageId,
        /// What it returned.
        error: E,
        /// How many source items the failed item stood for (1, or a batch's
        /// length).
        items: u64,
    },
    /// A stage's function panicked on an item (the parallel step and the
    /// sink catch panics; the item counts as failed and the stage goes on).
    #[error("stage {stage} panicked: {message}")]
    Panicked {
        /// The stage.
        stage: StageId,
        /// The panic message, if it was a string.
        message: String,
        /// How many source items the item stood for.
        items: u64,
    },
    /// The pipeline's [clock](crate::Pipeline::clock) panicked when
    /// `stage` read it. It stands for no item (nothing is lost to it);
    /// from then on no stage is timed (busy times stop growing). Reported
    /// once; under [`ErrorPolicy::FailFast`](crate::ErrorPolicy::FailFast)
    /// it stops the run.
    #[error("the clock panicked in stage {stage}: {message}")]
    ClockPanicked {
        /// The stage that read the clock.
        stage: StageId,
        /// The panic message, if it was a string.
        message: String,
    },
}

impl<E> PipelineError<E> {
    /// The stage where it happened.
    pub fn stage(&self) -> &StageId {
        match self {
            Self::Failed { stage, .. }
            | Self::Panicked { stage, .. }
            | Self::ClockPanicked { stage, .. } => stage,
        }
    }

    /// How many source items were lost to it.
    pub fn items(&self) -> u64 {
        match self {
            Self::Failed { items, .. } | Self::Panicked { items, .. } => *items,
            Self::ClockPanicked { .. } => 0,
        }
    }

    /// The stage's own error, if it returned one (not a panic).
    pub fn into_error(self) -> Option<E> {
        match self {
            Self::Failed { error, .. } => Some(error),
            Self::Panicked { .. } | Self::ClockPanicked { .. } => None,
        }
    }
}

/// The item a generator tried to emit after the pipeline stopped taking
/// items (cancelled, aborted, or failed fast); from
/// [`Emitter::emit`](crate::Emitter::emit).
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("emitting into a stopped pipeline")]
pub struct EmitError<T>(pub T);

impl<T> EmitError<T> {
    /// The item that was not emitted.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for EmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmitError(..)")
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}
