//! The slow writer: a thread of its own that commits each batch to SQLite
//! in one transaction, after an extra `--write-ms` delay, and then hands
//! the batch back to the batcher (drops the [`Loan`]), which only then
//! builds the next one.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sluicegate::pipeline::Loan;
use sluicegate_examples::db::{Row, Writer};
use tokio::sync::mpsc;

use crate::reason::Reason;

/// A batch on its way to the writer.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) batch: Loan<Row>,
    pub(crate) reason: Reason,
}

/// What the writer did so far; read by the progress lines and the summary.
#[derive(Debug)]
pub(crate) struct Written {
    /// Batches committed.
    pub(crate) batches: u64,
    /// Events in committed batches: "sent".
    pub(crate) events: u64,
    pub(crate) by_size: u64,
    pub(crate) by_timer: u64,
    pub(crate) at_end: u64,
    /// `sizes[n]`: committed batches of `n` events; index 0 (an empty
    /// batch) and the last index (`--batch-size + 1`: any batch above the
    /// limit) must stay 0, and the checks would see them.
    pub(crate) sizes: Vec<u64>,
    pub(crate) last: Option<(usize, Reason)>,
    /// Batches (and their events) whose commit failed.
    pub(crate) failed_batches: u64,
    pub(crate) failed_events: u64,
    pub(crate) first_error: Option<String>,
    /// Time per batch, delay included, in microseconds.
    pub(crate) write_time: Histogram<u64>,
}

impl Written {
    fn new(batch_size: usize) -> Self {
        Self {
            batches: 0,
            events: 0,
            by_size: 0,
            by_timer: 0,
            at_end: 0,
            sizes: vec![0; batch_size.saturating_add(2).min(1 << 20)],
            last: None,
            failed_batches: 0,
            failed_events: 0,
            first_error: None,
            write_time: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("constant, valid histogram bounds"),
        }
    }

    fn record(&mut self, len: usize, reason: Reason, took: Duration) {
        self.batches += 1;
        self.events += len as u64;
        match reason {
            Reason::Size => self.by_size += 1,
            Reason::Timer => self.by_timer += 1,
            Reason::End => self.at_end += 1,
        }
        // Above the last index: above --batch-size (impossible unless the
        // batcher is wrong), counted in the last slot, where the checks
        // see it.
        let slot = len.min(self.sizes.len() - 1);
        self.sizes[slot] += 1;
        self.last = Some((len, reason));
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.write_time.saturating_record(micros.max(1));
    }

    /// The smallest and largest committed batch.
    pub(crate) fn min_max(&self) -> Option<(usize, usize)> {
        let mut sizes = self
            .sizes
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(size, _)| size);
        let min = sizes.next()?;
        Some((min, sizes.next_back().unwrap_or(min)))
    }
}

/// The writer's statistics, shared.
#[derive(Debug, Clone)]
pub(crate) struct Stats(Arc<Mutex<Written>>);

impl Stats {
    pub(crate) fn new(batch_size: usize) -> Self {
        Self(Arc::new(Mutex::new(Written::new(batch_size))))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Written> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The channel from the sink to the writer. Unbounded, yet it never holds
/// more than one batch: the batcher lends one batch at a time and builds
/// the next only once the writer has handed the last one back.
pub(crate) fn channel() -> (mpsc::UnboundedSender<Job>, mpsc::UnboundedReceiver<Job>) {
    mpsc::unbounded_channel()
}

/// Starts the writer thread: it commits every job from `rx`, in order,
/// until the channel is closed and empty.
pub(crate) fn spawn(
    mut rx: mpsc::UnboundedReceiver<Job>,
    mut writer: Writer,
    delay: Duration,
    stats: Stats,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("batch-writer".into())
        .spawn(move || {
            while let Some(Job { batch, reason }) = rx.blocking_recv() {
                let started = Instant::now();
                if !delay.is_zero() {
                    // The slow part of the writer, on purpose: a remote
                    // database or an API that takes this long per call.
                    std::thread::sleep(delay);
                }
                let result = writer.insert_batch(&batch, 1);
                let took = started.elapsed();
                let len = batch.len();
                {
                    let mut written = stats.lock();
                    match result {
                        Ok(()) => written.record(len, reason, took),
                        Err(error) => {
                            written.failed_batches += 1;
                            written.failed_events += len as u64;
                            written.first_error.get_or_insert_with(|| error.to_string());
                        }
                    }
                }
                // Hand the batch back: only now may the batcher build the
                // next one.
                drop(batch);
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_empty_and_oversized_batches_visible() {
        let mut written = Written::new(10);
        assert_eq!(written.min_max(), None);
        written.record(4, Reason::Timer, Duration::from_millis(1));
        written.record(10, Reason::Size, Duration::from_millis(1));
        assert_eq!(written.min_max(), Some((4, 10)));
        assert_eq!((written.batches, written.events), (2, 14));
        assert_eq!(
            (written.by_size, written.by_timer, written.at_end),
            (1, 1, 0)
        );
        // What a wrong batcher would do: both show up past the limits.
        written.record(0, Reason::End, Duration::from_millis(1));
        written.record(11, Reason::Size, Duration::from_millis(1));
        written.record(500, Reason::Size, Duration::from_millis(1));
        assert_eq!(written.min_max(), Some((0, 11)));
        assert_eq!(written.sizes[11], 2);
        assert_eq!(written.last, Some((500, Reason::Size)));
    }
}
