//! What `fan_pipeline` prints: a header, progress lines, and the summary
//! with its checks, as text or as JSON (one object per line, `"type"`
//! first).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use sluicegate::fanio::FanOutStats;
use sluicegate::pipeline::{Outcome, Summary};
use sluicegate_examples::report::{
    Check, Checked, millis, outcome_name, print_progress, write_errors_and_checks,
};

use crate::args::Config;

/// What is about to run (text mode).
pub(crate) fn header(c: &Config) -> String {
    let failure = match c.fail_at {
        Some(id) => format!("record {id} is corrupt: the first error stops everything"),
        None => "no failure injected".to_owned(),
    };
    format!(
        "fan_pipeline: {} records from {} sources -> merge -> {} workers ({} checksum rounds each) \
         -> check -> batches of {} or {} ms -> SQLite\n  {failure}; database {}\n",
        c.items,
        c.sources,
        c.workers,
        c.work,
        c.batch_size,
        c.max_wait_ms,
        c.db.display(),
    )
}

/// One progress line.
#[derive(Debug, Serialize)]
pub(crate) struct Progress {
    elapsed_ms: u64,
    generated: u64,
    processed: u64,
    written: u64,
    failed: u64,
}

impl Progress {
    pub(crate) fn now(
        generated: u64,
        fan_out: &FanOutStats,
        pipeline: &Summary,
        elapsed: Duration,
    ) -> Self {
        Self {
            elapsed_ms: millis(elapsed),
            generated,
            processed: fan_out.completed() + fan_out.panicked(),
            written: pipeline.delivered,
            failed: pipeline.failed,
        }
    }

    pub(crate) fn print(&self, json: bool) {
        print_progress(json, self, || {
            format!(
                "{:>7.1}s  generated {:>9}  processed {:>9}  written {:>9}  failed {}",
                self.elapsed_ms as f64 / 1000.0,
                self.generated,
                self.processed,
                self.written,
                self.failed,
            )
        });
    }
}

/// What cancelling the fan-out handed back.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub(crate) struct HandedBack {
    /// Whether the fan-out was still there to cancel (it always is: the
    /// pipeline only borrows its output).
    pub(crate) cancelled: bool,
    /// Records taken from the sources but never started by a worker.
    pub(crate) unstarted: u64,
    /// Results computed but not taken by the pipeline.
    pub(crate) results: u64,
}

/// Stage 2's counters.
#[derive(Debug, Serialize)]
pub(crate) struct FanOutReport {
    pub(crate) workers: usize,
    pub(crate) taken: u64,
    pub(crate) started: u64,
    pub(crate) completed: u64,
    pub(crate) panicked: u64,
    /// Items started by each worker.
    pub(crate) per_worker: Vec<u64>,
    /// Results handed out: to the pipeline, or back by the cancel.
    pub(crate) delivered: u64,
    pub(crate) discarded: u64,
    pub(crate) abandoned: u64,
    pub(crate) handed_back: HandedBack,
    pub(crate) finished: bool,
    pub(crate) balanced: bool,
}

/// Stage 3's counters (records, not batches).
#[derive(Debug, Serialize)]
pub(crate) struct PipelineReport {
    pub(crate) produced: u64,
    pub(crate) delivered: u64,
    pub(crate) failed: u64,
    pub(crate) filtered: u64,
    pub(crate) discarded: u64,
    pub(crate) errors: u64,
    pub(crate) batches: u64,
    pub(crate) balanced: bool,
}

/// The summary, checked by [`Report::new`].
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) config: Config,
    /// `completed`; `failed_fast` when the first error stopped the run;
    /// `cancelled` (or `aborted`) after Ctrl-C (twice).
    pub(crate) outcome: &'static str,
    pub(crate) elapsed_ms: u64,
    /// Records the sources generated, in all and per source.
    pub(crate) generated: u64,
    pub(crate) per_source: Vec<u64>,
    pub(crate) fan_out: FanOutReport,
    pub(crate) pipeline: PipelineReport,
    /// Records in committed batches (the pipeline's delivered).
    pub(crate) written: u64,
    pub(crate) rows_in_db: u64,
    /// Every error from the pipeline's error stream, in order.
    pub(crate) errors: Vec<String>,
    /// `generated - written - failed - discarded - handed back`: must be 0.
    pub(crate) lost: i128,
}

impl Report {
    #[expect(
        clippy::too_many_arguments,
        reason = "one call, each argument a part of the run"
    )]
    pub(crate) fn new(
        config: Config,
        per_source: &[u64],
        fan_out: &FanOutStats,
        handed_back: HandedBack,
        summary: &Summary,
        errors: Vec<String>,
        rows: u64,
        elapsed: Duration,
    ) -> Checked<Self> {
        let generated: u64 = per_source.iter().sum();
        let batches = summary
            .stages
            .iter()
            .map(|stage| stage.batches)
            .sum::<u64>();
        let fan_out = FanOutReport {
            workers: fan_out.workers.len(),
            taken: fan_out.taken,
            started: fan_out.started(),
            completed: fan_out.completed(),
            panicked: fan_out.panicked(),
            per_worker: fan_out.workers.iter().map(|w| w.started).collect(),
            delivered: fan_out.delivered,
            discarded: fan_out.discarded,
            abandoned: fan_out.abandoned,
            handed_back,
            finished: fan_out.finished,
            balanced: fan_out.is_balanced(),
        };
        let pipeline = PipelineReport {
            produced: summary.produced,
            delivered: summary.delivered,
            failed: summary.failed,
            filtered: summary.filtered,
            discarded: summary.discarded,
            errors: summary.errors,
            batches,
            balanced: summary.is_balanced(),
        };
        let accounted = [
            summary.delivered,
            summary.failed,
            summary.filtered,
            summary.discarded,
            handed_back.unstarted,
            handed_back.results,
            fan_out.discarded,
        ];
        let lost = i128::from(generated) - accounted.iter().map(|&n| i128::from(n)).sum::<i128>();
        let mut checks = vec![
            Check {
                name: "nothing lost",
                ok: lost == 0,
                detail: format!(
                    "generated {generated} = written {} + failed {} + filtered {} + discarded {} \
                     + unstarted handed back {} + results handed back {} + discarded by the \
                     fan-out {} (lost {lost})",
                    summary.delivered,
                    summary.failed,
                    summary.filtered,
                    summary.discarded,
                    handed_back.unstarted,
                    handed_back.results,
                    fan_out.discarded
                ),
            },
            Check {
                name: "the fan-out took every record generated",
                ok: fan_out.taken == generated,
                detail: format!("taken {}, generated {generated}", fan_out.taken),
            },
            Check {
                name: "the fan-out accounts for every record",
                ok: fan_out.finished
                    && fan_out.balanced
                    && fan_out.abandoned == handed_back.unstarted
                    && fan_out.delivered == summary.produced + handed_back.results,
                detail: format!(
                    "taken {} = started {} + abandoned {}; started = completed {} + panicked {}; \
                     results {} = to the pipeline {} + handed back {} (+ discarded {})",
                    fan_out.taken,
                    fan_out.started,
                    fan_out.abandoned,
                    fan_out.completed,
                    fan_out.panicked,
                    fan_out.delivered,
                    summary.produced,
                    handed_back.results,
                    fan_out.discarded
                ),
            },
            Check {
                name: "the pipeline accounts for every result",
                ok: pipeline.balanced,
                detail: summary.to_string(),
            },
            Check {
                name: "rows in SQLite = written",
                ok: rows == summary.delivered,
                detail: format!("{rows} rows, {} written", summary.delivered),
            },
            Check {
                name: "every error counted is on the error stream",
                ok: errors.len() as u64 == summary.errors,
                detail: format!("{} on the stream, {} counted", errors.len(), summary.errors),
            },
        ];
        checks.push(match summary.outcome {
            Outcome::Completed => Check {
                name: "completed: written = generated",
                ok: summary.delivered == generated && generated == config.items,
                detail: format!(
                    "written {}, generated {generated}, asked for {}",
                    summary.delivered, config.items
                ),
            },
            Outcome::Cancelled | Outcome::Aborted => Check {
                name: "stopped by Ctrl-C: no error, the fan-out cancelled",
                // A cancel drains the pipeline; only an abort (a second
                // Ctrl-C) discards, and counts it.
                ok: errors.is_empty()
                    && (summary.outcome == Outcome::Aborted || summary.discarded == 0)
                    && handed_back.cancelled
                    && fan_out.finished,
                detail: format!(
                    "outcome {}, {} error(s), {} discarded, fan-out cancelled: {}",
                    outcome_name(summary.outcome),
                    errors.len(),
                    summary.discarded,
                    handed_back.cancelled
                ),
            },
            _ => Check {
                name: "stopped by the first error: one error, everything cancelled",
                ok: summary.outcome == Outcome::FailedFast
                    && errors.len() == 1
                    && handed_back.cancelled
                    && fan_out.finished,
                detail: format!(
                    "outcome {}, {} error(s), fan-out cancelled: {}",
                    outcome_name(summary.outcome),
                    errors.len(),
                    handed_back.cancelled
                ),
            },
        });
        let report = Self {
            config,
            outcome: outcome_name(summary.outcome),
            elapsed_ms: millis(elapsed),
            generated,
            per_source: per_source.to_vec(),
            fan_out,
            pipeline,
            written: summary.delivered,
            rows_in_db: rows,
            errors,
            lost,
        };
        Checked::new(report, checks)
    }

    /// Prints the summary: text, or one JSON line.
    pub(crate) fn print(summary: &Checked<Self>) -> std::io::Result<()> {
        summary.print(summary.body.config.output.json, Self::text)
    }

    fn text(&self, checks: &[Check]) -> String {
        let mut s = String::new();
        let f = &self.fan_out;
        let p = &self.pipeline;
        let _ = writeln!(
            s,
            "\nfan_pipeline: {} in {:.2} s",
            self.outcome,
            self.elapsed_ms as f64 / 1000.0
        );
        let _ = writeln!(
            s,
            "  stage 1  generated {:>9} records  (per source: {:?})",
            self.generated, self.per_source
        );
        let _ = writeln!(
            s,
            "  stage 2  fan-out   {:>9} taken, {} started (per worker: {:?}), {} completed, {} panicked",
            f.taken, f.started, f.per_worker, f.completed, f.panicked
        );
        let _ = writeln!(
            s,
            "           cancel handed back {} unstarted records and {} results; {} discarded",
            f.handed_back.unstarted, f.handed_back.results, f.discarded
        );
        let _ = writeln!(
            s,
            "  stage 3  pipeline  {:>9} in, {} written in {} batches, {} failed, {} discarded",
            p.produced, p.delivered, p.batches, p.failed, p.discarded
        );
        let _ = writeln!(s, "  rows in SQLite      {:>9}", self.rows_in_db);
        let _ = writeln!(s, "  lost                {:>9}", self.lost);
        write_errors_and_checks(&mut s, &self.errors, checks);
        s
    }
}
