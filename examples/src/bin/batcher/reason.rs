//! Why each batch was closed: full (size), by the timer, or at the end of
//! the input (the last, partial batch of a run or of a Ctrl-C).
//!
//! The pipeline counts why its batch stage closed batches
//! (`StageStats::closed`), but in totals, and the progress lines want the
//! reason of each batch as the writer gets it. So the batcher's timer goes
//! through [`ProbedSleeper`]: a `Sleeper` around
//! tokio's that notes whether its last poll found the timer fired. The
//! batch stage emits a batch in the same poll in which it sees its timer
//! fire, and the sink is called from that poll (no buffer between them),
//! so the sink reads the note for the batch it gets, exactly:
//!
//! - a batch of `--batch-size` events was closed by size (the stage checks
//!   the size before the timer);
//! - a smaller batch, with the note set, was closed by the timer;
//! - any other batch was closed because the input ended.
//!
//! The summary checks these per-batch reasons against the pipeline's own
//! totals, so a misclassification would fail the run.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::Serialize;
use sluicegate::rt::{Sleeper, TokioSleeper};

/// Why a batch was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    /// It reached `--batch-size` events.
    Size,
    /// Its timer fired first.
    Timer,
    /// The input ended (all events produced, or Ctrl-C).
    End,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Size => "size",
            Self::Timer => "timer",
            Self::End => "end",
        }
    }
}

/// Tokio's sleeper, noting whether the last poll of one of its timers
/// found it fired.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProbedSleeper {
    fired: Arc<AtomicBool>,
}

impl ProbedSleeper {
    /// Why the batch of `len` events just emitted was closed (and clears
    /// the note). Call it from the sink, for every batch, in order.
    pub(crate) fn classify(&self, len: usize, batch_size: usize) -> Reason {
        let fired = self.fired.swap(false, Ordering::Relaxed);
        if len >= batch_size {
            Reason::Size
        } else if fired {
            Reason::Timer
        } else {
            Reason::End
        }
    }

    fn probe(&self, inner: <TokioSleeper as Sleeper>::Sleep) -> ProbedSleep {
        ProbedSleep {
            inner: Box::pin(inner),
            fired: Arc::clone(&self.fired),
        }
    }
}

impl Sleeper for ProbedSleeper {
    type Sleep = ProbedSleep;

    fn sleep(&self, dur: Duration) -> ProbedSleep {
        self.probe(TokioSleeper.sleep(dur))
    }

    fn sleep_until(&self, deadline: Instant) -> ProbedSleep {
        self.probe(TokioSleeper.sleep_until(deadline))
    }
}

/// A tokio timer that records each poll's result in its sleeper's note.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub(crate) struct ProbedSleep {
    inner: Pin<Box<<TokioSleeper as Sleeper>::Sleep>>,
    fired: Arc<AtomicBool>,
}

impl Future for ProbedSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let polled = self.inner.as_mut().poll(cx);
        self.fired.store(polled.is_ready(), Ordering::Relaxed);
        polled
    }
}
