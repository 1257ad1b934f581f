//! A small task that watches the chain while it runs: every few
//! milliseconds it reads the counters and the distributor's queue depth
//! (both cheap atomic snapshots), keeps the deepest queue of each chart bin,
//! closes a bin every `--sample-interval`, and moves the progress bar.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use tokio::sync::oneshot;
use tokio::time::MissedTickBehavior;

use crate::traffic::FrontDoor;

/// How often the queue depth is read: short queue spikes between two bins
/// still show up as the bin's maximum.
const POLL: Duration = Duration::from_millis(2);

/// One chart bin, ending at `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// Seconds since the start of the run.
    pub(crate) t: f64,
    /// Requests offered so far.
    pub(crate) offered: u64,
    /// Requests admitted into the queue so far.
    pub(crate) admitted: u64,
    /// The deepest the queue was during the bin.
    pub(crate) queue_max: usize,
}

/// Runs until `stop` fires (or its sender is dropped), then returns the
/// samples, the last one taken at that moment. The first sample is all
/// zeros at `t = 0`.
pub(crate) async fn run(
    door: Arc<FrontDoor>,
    start: Instant,
    interval: Duration,
    progress: ProgressBar,
    mut stop: oneshot::Receiver<()>,
) -> Vec<Sample> {
    let mut samples = vec![Sample {
        t: 0.0,
        offered: 0,
        admitted: 0,
        queue_max: 0,
    }];
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut next_bin = interval;
    let mut queue_max = 0;
    loop {
        let stopping = tokio::select! {
            _ = ticks.tick() => false,
            _ = &mut stop => true,
        };
        let now = start.elapsed();
        let counts = door.counters.snapshot();
        queue_max = queue_max.max(door.pool.stats().queued);
        progress.set_position(counts.offered);
        progress.set_message(format!(
            "{} admitted, {} limited, {} queue full, {} written",
            counts.admitted, counts.rejected_limiter, counts.rejected_queue_full, counts.succeeded
        ));
        if now >= next_bin || stopping {
            samples.push(Sample {
                t: now.as_secs_f64(),
                offered: counts.offered,
                admitted: counts.admitted,
                queue_max,
            });
            queue_max = 0;
            while next_bin <= now {
                next_bin += interval;
            }
        }
        if stopping {
            return samples;
        }
    }
}
