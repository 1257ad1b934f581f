//! What the batcher prints: a header, progress lines, and the summary with
//! its checks, as text or as JSON (one object per line, `"type"` first).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use sluicegate::pipeline::{Monitor, Outcome, Summary};
use sluicegate_examples::report::{
    Check, Checked, millis, outcome_name, print_progress, write_errors_and_checks,
};

use crate::args::Config;
use crate::reason::Reason;
use crate::writer::Written;

/// What is about to run (text mode).
pub(crate) fn header(c: &Config) -> String {
    let events = if c.events == 0 {
        "events until Ctrl-C".to_owned()
    } else {
        format!("{} events", c.events)
    };
    let rate = match (c.rate, c.wave()) {
        (0, _) => "as fast as they are taken".to_owned(),
        (rate, None) => format!("at {rate}/s"),
        (rate, Some(wave)) => format!(
            "at {rate}/s on average (from {} to {}/s, in {:.1} s waves)",
            rate / 4,
            rate / 4 * 7,
            wave.as_secs_f64()
        ),
    };
    let timer = match c.timer {
        crate::args::Timer::FirstItem => "after the first event",
        crate::args::Timer::Ticks => "on fixed ticks",
    };
    format!(
        "batcher: {events} {rate} -> buffer of {} -> batches of at most {} events or {} ms {timer} \
         (hand-back) -> writer: {} ms + one SQLite transaction per batch\n  \
         seed {}, database {}\n",
        c.buffer,
        c.batch_size,
        c.max_wait_ms,
        c.write_ms,
        c.seed,
        c.db.display(),
    )
}

/// One progress line.
#[derive(Debug, Serialize)]
pub(crate) struct Progress {
    elapsed_ms: u64,
    produced: u64,
    sent: u64,
    batches: u64,
    closed_by_size: u64,
    closed_by_timer: u64,
    last_batch: Option<usize>,
    last_reason: Option<Reason>,
    buffered: usize,
    source_waits: u64,
}

impl Progress {
    pub(crate) fn now<E>(monitor: &Monitor<E>, written: &Written, elapsed: Duration) -> Self {
        let summary = monitor.summary();
        let buffer = monitor.buffers().into_iter().next();
        Self {
            elapsed_ms: millis(elapsed),
            produced: summary.produced,
            sent: written.events,
            batches: written.batches,
            closed_by_size: written.by_size,
            closed_by_timer: written.by_timer,
            last_batch: written.last.map(|(len, _)| len),
            last_reason: written.last.map(|(_, reason)| reason),
            buffered: buffer.as_ref().map_or(0, |b| b.queue.len),
            source_waits: buffer.map_or(0, |b| b.queue.full_events),
        }
    }

    pub(crate) fn print(&self, json: bool) {
        print_progress(json, self, || {
            let last = match (self.last_batch, self.last_reason) {
                (Some(len), Some(reason)) => format!("last {len} ({})", reason.as_str()),
                _ => "no batch yet".to_owned(),
            };
            format!(
                "{:>7.1}s  produced {:>8}  sent {:>8} in {:>6} batches (size {}, timer {})  {last}  \
                 buffered {}  source waited {}x",
                self.elapsed_ms as f64 / 1000.0,
                self.produced,
                self.sent,
                self.batches,
                self.closed_by_size,
                self.closed_by_timer,
                self.buffered,
                self.source_waits,
            )
        });
    }
}

/// The batch sizes.
#[derive(Debug, Serialize)]
pub(crate) struct Batches {
    pub(crate) count: u64,
    pub(crate) closed_by_size: u64,
    pub(crate) closed_by_timer: u64,
    pub(crate) closed_at_end: u64,
    pub(crate) min: usize,
    pub(crate) mean: f64,
    pub(crate) max: usize,
    /// Up to 10 equal ranges of sizes, `[from, to, batches]`.
    pub(crate) histogram: Vec<[u64; 3]>,
}

/// Time per batch in the writer (delay and commit), milliseconds.
#[derive(Debug, Serialize)]
pub(crate) struct WriteTime {
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

/// The buffer between the source and the batcher.
#[derive(Debug, Serialize)]
pub(crate) struct Buffer {
    pub(crate) capacity: usize,
    pub(crate) high_watermark: usize,
    /// How often the source found it full and had to wait.
    pub(crate) full_events: u64,
    pub(crate) blocked_ms: u64,
}

/// The summary, checked by [`Report::new`].
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) config: Config,
    /// `completed`, `cancelled` (Ctrl-C: drained) or `aborted`.
    pub(crate) outcome: &'static str,
    pub(crate) interrupted: bool,
    pub(crate) elapsed_ms: u64,
    /// Events the source handed to the pipeline.
    pub(crate) produced: u64,
    /// Events the pipeline handed to the writer (its "delivered").
    pub(crate) handed_to_writer: u64,
    /// Events in batches the writer committed.
    pub(crate) sent: u64,
    /// Events dropped by an abort (second Ctrl-C), counted.
    pub(crate) discarded: u64,
    /// Events in batches whose commit failed, or that never reached the
    /// writer.
    pub(crate) failed: u64,
    /// `produced - sent - discarded - failed`: must be 0.
    pub(crate) lost: i128,
    pub(crate) rows_in_db: u64,
    pub(crate) batches: Batches,
    pub(crate) write_time: WriteTime,
    pub(crate) buffer: Option<Buffer>,
    pub(crate) errors: Vec<String>,
}

impl Report {
    pub(crate) fn new(
        config: Config,
        summary: &Summary,
        written: &Written,
        rows: u64,
        mut errors: Vec<String>,
        interrupted: bool,
        elapsed: Duration,
    ) -> Checked<Self> {
        let outcome = outcome_name(summary.outcome);
        if let Some(error) = &written.first_error {
            errors.push(format!("writing a batch failed: {error}"));
        }
        let sent = written.events;
        let failed = written.failed_events + summary.failed;
        let lost = i128::from(summary.produced)
            - i128::from(sent)
            - i128::from(summary.discarded)
            - i128::from(failed);
        let (min, max) = written.min_max().unwrap_or((0, 0));
        let batches = Batches {
            count: written.batches,
            closed_by_size: written.by_size,
            closed_by_timer: written.by_timer,
            closed_at_end: written.at_end,
            min,
            mean: if written.batches == 0 {
                0.0
            } else {
                sent as f64 / written.batches as f64
            },
            max,
            histogram: histogram(&written.sizes),
        };
        let ms = |q: f64| written.write_time.value_at_quantile(q) as f64 / 1000.0;
        let write_time = WriteTime {
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            max_ms: written.write_time.max() as f64 / 1000.0,
        };
        let buffer = summary.buffers.first().map(|b| Buffer {
            capacity: b.queue.capacity,
            high_watermark: b.queue.high_watermark,
            full_events: b.queue.full_events,
            blocked_ms: millis(b.queue.blocked),
        });
        let aborted = summary.outcome == Outcome::Aborted;
        let checks = vec![
            Check {
                name: "nothing lost",
                ok: lost == 0,
                detail: format!(
                    "produced {} = sent {sent} + discarded {} + failed {failed} (lost {lost})",
                    summary.produced, summary.discarded
                ),
            },
            Check {
                name: "produced = sent",
                // An abort drops what is in flight on purpose (counted).
                ok: summary.produced == sent || (aborted && lost == 0 && failed == 0),
                detail: if aborted {
                    format!(
                        "{} produced, {sent} sent: aborted, {} discarded",
                        summary.produced, summary.discarded
                    )
                } else {
                    format!("{} produced, {sent} sent", summary.produced)
                },
            },
            Check {
                name: "rows in SQLite = sent",
                ok: rows == sent,
                detail: format!("{rows} rows, {sent} sent"),
            },
            Check {
                name: "pipeline accounts for every event",
                ok: summary.is_balanced() && summary.delivered == sent + written.failed_events,
                detail: format!(
                    "{summary}; handed to the writer {} = committed {sent} + failed commits {}",
                    summary.delivered, written.failed_events
                ),
            },
            Check {
                name: "batch sizes in 1..=batch-size",
                ok: written.batches == 0 || (min >= 1 && max <= config.batch_size),
                detail: format!("min {min}, max {max}, batch size {}", config.batch_size),
            },
            {
                // The pipeline counts why its batch stage closed each batch;
                // the writer's per-batch reasons (see reason.rs) must agree
                // for every committed batch.
                let (size, timer, end) = summary.stages.iter().fold((0, 0, 0), |(a, b, c), s| {
                    (
                        a + s.closed.by_size,
                        b + s.closed.by_timer,
                        c + s.closed.at_end,
                    )
                });
                Check {
                    name: "reasons agree with the pipeline's own count",
                    ok: written.failed_batches > 0
                        || (size, timer, end)
                            == (written.by_size, written.by_timer, written.at_end),
                    detail: format!("pipeline: {size} by size, {timer} by timer, {end} at end"),
                }
            },
            Check {
                name: "batches closed by size + timer + end = batches, at most one at end",
                ok: written.by_size + written.by_timer + written.at_end == written.batches
                    && written.at_end <= 1,
                detail: format!(
                    "{} + {} + {} of {}",
                    written.by_size, written.by_timer, written.at_end, written.batches
                ),
            },
        ];
        let report = Self {
            config,
            outcome,
            interrupted,
            elapsed_ms: millis(elapsed),
            produced: summary.produced,
            handed_to_writer: summary.delivered,
            sent,
            discarded: summary.discarded,
            failed,
            lost,
            rows_in_db: rows,
            batches,
            write_time,
            buffer,
            errors,
        };
        Checked::new(report, checks)
    }

    /// Prints the summary: text, or one JSON line.
    pub(crate) fn print(summary: &Checked<Self>) -> std::io::Result<()> {
        summary.print(summary.body.config.output.json, Self::text)
    }

    fn text(&self, checks: &[Check]) -> String {
        let mut s = String::new();
        let b = &self.batches;
        let _ = writeln!(
            s,
            "\nbatcher: {} in {:.2} s{}",
            self.outcome,
            self.elapsed_ms as f64 / 1000.0,
            if self.interrupted { " (Ctrl-C)" } else { "" }
        );
        let _ = writeln!(s, "  produced          {:>10} events", self.produced);
        let _ = writeln!(
            s,
            "  sent              {:>10} events in {} committed batches",
            self.sent, b.count
        );
        let _ = writeln!(
            s,
            "  rows in SQLite    {:>10}   ({})",
            self.rows_in_db,
            self.config.db.display()
        );
        let _ = writeln!(s, "  discarded         {:>10}", self.discarded);
        let _ = writeln!(s, "  failed            {:>10}", self.failed);
        let _ = writeln!(s, "  lost              {:>10}", self.lost);
        let _ = writeln!(
            s,
            "  batches closed by size {}, by timer {}, at end of input {}",
            b.closed_by_size, b.closed_by_timer, b.closed_at_end
        );
        let _ = writeln!(
            s,
            "  batch size: min {}, mean {:.1}, max {} (limit {})",
            b.min, b.mean, b.max, self.config.batch_size
        );
        let widest = b.histogram.iter().map(|r| r[2]).max().unwrap_or(0).max(1);
        for [from, to, count] in &b.histogram {
            let bar = "#".repeat(((count * 40).div_ceil(widest)) as usize);
            let _ = writeln!(s, "    {from:>6}-{to:<6} {count:>8}  {bar}");
        }
        let _ = writeln!(
            s,
            "  writer: {:.1} ms per batch (p50), {:.1} ms p99, {:.1} ms max",
            self.write_time.p50_ms, self.write_time.p99_ms, self.write_time.max_ms
        );
        if let Some(buffer) = &self.buffer {
            let _ = writeln!(
                s,
                "  buffer: {} slots, high watermark {}, found full {} times (source waited {} ms)",
                buffer.capacity, buffer.high_watermark, buffer.full_events, buffer.blocked_ms
            );
        }
        write_errors_and_checks(&mut s, &self.errors, checks);
        s
    }
}

/// Up to 10 equal ranges from the smallest to the largest size seen
/// (`sizes[n]`: batches of `n` events).
fn histogram(sizes: &[u64]) -> Vec<[u64; 3]> {
    let (Some(bottom), Some(top)) = (
        sizes.iter().position(|&count| count > 0),
        sizes.iter().rposition(|&count| count > 0),
    ) else {
        return Vec::new();
    };
    let (bottom, top) = (bottom as u64, top as u64);
    let width = (top - bottom + 1).div_ceil(10);
    let mut ranges = Vec::new();
    let mut from = bottom;
    while from <= top {
        let to = (from + width - 1).min(top);
        let count = (from..=to).map(|n| sizes[n as usize]).sum();
        ranges.push([from, to, count]);
        from = to + 1;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_covers_every_size_once() {
        let mut sizes = vec![0; 101];
        sizes[1] = 2;
        sizes[37] = 5;
        sizes[100] = 9;
        let ranges = histogram(&sizes);
        assert_eq!(ranges.len(), 10);
        assert_eq!(ranges[0], [1, 10, 2]);
        assert_eq!(ranges[9], [91, 100, 9]);
        assert_eq!(ranges.iter().map(|r| r[2]).sum::<u64>(), 16);
        assert!(histogram(&[0, 0]).is_empty());
        assert_eq!(histogram(&[0, 3]), vec![[1, 1, 3]]);
        // From the smallest size seen, not from 1.
        let ranges = histogram(&[0, 0, 0, 4, 0, 1]);
        assert_eq!(ranges, vec![[3, 3, 4], [4, 4, 0], [5, 5, 1]]);
    }
}
