//! `fan_pipeline`: a three-stage pipeline with fan-out and fan-in, and an
//! error stream that stops everything at the first error.
//!
//! ```text
//!  stage 1             stage 2: fan-out / fan-in         stage 3: pipeline (fail fast)
//! source 0 ─┐                 ┌▶ worker 0 ─┐
//! source 1 ─┼─▶ merge ─▶ queue┼▶ worker 1 ─┼─▶ results ─▶ check ─▶ batch ─▶ SQLite
//! source 2 ─┘   (fan-in)      └▶ worker N ─┘   (fan-in)     │
//!                                                        error stream ─▶ first error stops all
//! ```
//!
//! - Stage 1 (`stages.rs`): `--sources` generators of numbered text
//!   records, merged fairly into one stream by [`sluicegate::fanio::merge`].
//! - Stage 2: [`sluicegate::fanio::FanOutBuilder`] runs `--workers` tokio
//!   tasks that parse and checksum each record; their results fan back in,
//!   in completion order.
//! - Stage 3: a [`sluicegate::pipeline::Pipeline`] whose source is the
//!   fan-out's output: `check` (a `try_map`: a failed record goes to the
//!   error stream), a batch by size or time, and a `try_sink` writing each
//!   batch to SQLite in one transaction, under
//!   [`ErrorPolicy::FailFast`].
//! - Ctrl-C or SIGTERM cancels the pipeline gracefully (it drains and writes its last
//!   batch), then the fan-out is cancelled as after an error; a second
//!   Ctrl-C aborts.
//! - `--fail-at N` corrupts record N at its source. Its error is the first
//!   on the error stream; fail-fast stops the pipeline (what it holds is
//!   discarded, counted), then the fan-out is cancelled: it stops the
//!   sources and hands back the records it had not started and the
//!   results the pipeline had not taken. `report.rs` accounts for every
//!   record: generated = written + failed + discarded + handed back.
//!
//! ```text
//! cargo run --release -p sluicegate-examples --bin fan_pipeline
//! cargo run --release -p sluicegate-examples --bin fan_pipeline -- --fail-at 12345
//! cargo run --release -p sluicegate-examples --bin fan_pipeline -- --quick --json --workers 8
//! ```
//!
//! Exit code: 0 when the run completed (or was stopped by Ctrl-C) and
//! every check passes, 1 when the first error stopped it (and the checks
//! pass), 2 on a bad command line or
//! settings the builders reject, 3 when a check fails (or the run cannot
//! start).
#![expect(
    clippy::print_stderr,
    reason = "a command-line tool reports errors on stderr"
)]

mod args;
mod report;
mod stages;

use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Instant;

use clap::Parser;
use futures_util::Stream;
use sluicegate::fanio::{FanOut, FanOutBuilder};
use sluicegate::pipeline::{Batch, CancelToken, ErrorPolicy, Pipeline};
use sluicegate::rt::{TokioSleeper, TokioSpawner};
use sluicegate_examples::cli::Failure;
use sluicegate_examples::db::{Row, Store};
use sluicegate_examples::report::{Checked, Ticker, exit_code, print_text};
use sluicegate_examples::signal::{Interrupts, cancel_on_ctrl_c};

use crate::args::{Args, Config};
use crate::report::{HandedBack, Progress, Report};
use crate::stages::{Parsed, Record, RecordError, StageError};

/// The fan-out's output, shared: the pipeline's source polls it, and once
/// the run is over `main` takes it back to cancel it.
type Results = FanOut<Record, Result<Parsed, RecordError>>;
type SharedResults = Arc<Mutex<Option<Results>>>;

#[tokio::main]
async fn main() -> ExitCode {
    // clap prints its own errors and exits with code 2.
    let config = Config::from_args(Args::parse());
    match run(config).await {
        Ok(report) => {
            let code = if !report.ok() {
                3
            } else if report.body.outcome == "failed_fast" {
                1
            } else {
                0
            };
            exit_code(Report::print(&report), code, 3)
        }
        Err(failure) => failure.exit(3),
    }
}

async fn run(config: Config) -> Result<Checked<Report>, Failure> {
    // Catch Ctrl-C from now on, before anything is printed. (Should the
    // handler fail to install, the run goes on without it.)
    let interrupts = Interrupts::new(true).ok();

    // Settings first, so that bad ones start nothing and touch no file.
    let batch = Batch::size(config.batch_size).max_wait(config.max_wait());
    batch
        .validate()
        .map_err(|e| Failure::Usage(format!("invalid --batch-size or --max-wait-ms: {e}")))?;

    // Stage 1: the sources, merged fairly into one stream (fan-in).
    let generated: Vec<Arc<AtomicU64>> = (0..config.sources)
        .map(|_| Arc::new(AtomicU64::new(0)))
        .collect();
    let input = sluicegate::fanio::merge(generated.iter().enumerate().map(|(i, counter)| {
        stages::source(
            i as u32,
            config.sources,
            config.items,
            config.fail_at,
            Arc::clone(counter),
        )
    }));

    // Stage 2: fan-out to the workers; their results fan back in.
    let rounds = config.work;
    let fan_out = FanOutBuilder::new(config.workers)
        .spawn(
            input,
            &TokioSpawner::new(),
            move |record: Record| async move { stages::process(record, rounds) },
        )
        .map_err(|e| Failure::Usage(format!("invalid --workers: {e}")))?;
    let fan_out_stats = fan_out.stats_handle();
    let results: SharedResults = Arc::new(Mutex::new(Some(fan_out)));

    let store = Store::create(&config.db)
        .map_err(|e| Failure::Run(format!("cannot create {}: {e}", config.db.display())))?;
    let writer = store
        .writer()
        .map_err(|e| Failure::Run(format!("cannot open {}: {e}", config.db.display())))?;
    let writer = Arc::new(Mutex::new(writer));

    // Stage 3: the pipeline, fed by the fan-out's output.
    let pipeline = Pipeline::<_, StageError>::source(shared_stream(Arc::clone(&results)))
        .on_error(ErrorPolicy::FailFast)
        .try_map(|result| std::future::ready(StageError::check(result)))
        .named("check")
        .batch(batch, TokioSleeper)
        .try_sink(move |batch: Vec<Parsed>| write(Arc::clone(&writer), batch))
        .map_err(|e| Failure::Usage(format!("the pipeline rejects these settings: {e}")))?;

    if !config.output.json {
        // A closed stdout is no reason to stop the run here: printing the
        // summary fails later, and says so.
        let _ = print_text(&report::header(&config));
    }
    let monitor = pipeline.monitor();
    let errors = pipeline.errors();

    // The error stream, read live: the first error is printed as it
    // happens (fail-fast has already stopped the pipeline by then).
    let error_reader = tokio::spawn({
        let json = config.output.json;
        async move {
            let mut seen = Vec::new();
            while let Some(error) = errors.recv().await {
                if !json && seen.is_empty() {
                    eprintln!("error stream: {error}; stopping everything");
                }
                seen.push(error.to_string());
            }
            seen
        }
    });

    // Ctrl-C: cancel (graceful: the pipeline stops taking results, drains
    // and writes its last batch; then the fan-out is cancelled as after an
    // error). A second one aborts (what the pipeline holds is discarded,
    // counted).
    let token = CancelToken::new();
    let json = config.output.json;
    let ctrl_c = cancel_on_ctrl_c(
        interrupts,
        token.clone(),
        move || {
            if !json {
                eprintln!("\ninterrupted: stopping, the pipeline drains (Ctrl-C again to abort)");
            }
        },
        || {},
    );

    // A progress line every --progress-ms until the run is over.
    let start = Instant::now();
    let progress = Ticker::spawn(config.output.progress_every(), {
        let (fan_out, generated) = (fan_out_stats.clone(), generated.clone());
        move || {
            Progress::now(
                total(&generated),
                &fan_out.stats(),
                &monitor.summary(),
                start.elapsed(),
            )
            .print(json);
        }
    });

    let summary = pipeline.run(token).await;
    ctrl_c.abort();

    // The pipeline is over: completed, or stopped by the first error. Take
    // the fan-out back and cancel it: it stops the sources and hands back
    // what it still holds (nothing, after a completed run).
    let fan_out = results
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let handed_back = match fan_out {
        Some(fan_out) => {
            let cancelled = fan_out.cancel().await;
            HandedBack {
                cancelled: true,
                unstarted: cancelled.unstarted.len() as u64,
                results: cancelled.finished.len() as u64,
            }
        }
        None => HandedBack::default(),
    };
    let elapsed = start.elapsed();
    progress.stop().await;
    let errors = error_reader
        .await
        .map_err(|e| Failure::Run(format!("the error stream reader failed: {e}")))?;
    let rows = store
        .count()
        .map_err(|e| Failure::Run(format!("cannot count the rows: {e}")))?;
    let generated: Vec<u64> = generated
        .iter()
        .map(|g| g.load(Ordering::Relaxed))
        .collect();
    Ok(Report::new(
        config,
        &generated,
        &fan_out_stats.stats(),
        handed_back,
        &summary,
        errors,
        rows,
        elapsed,
    ))
}

/// The fan-out's output as a stream that does not own it: it ends when the
/// fan-out's output ends (or once the fan-out was taken away).
fn shared_stream(results: SharedResults) -> impl Stream<Item = <Results as Stream>::Item> {
    futures_util::stream::poll_fn(move |cx| {
        let mut results = results.lock().unwrap_or_else(PoisonError::into_inner);
        match results.as_mut() {
            Some(results) => Pin::new(results).poll_next(cx),
            None => Poll::Ready(None),
        }
    })
}

/// Stage 3's sink: one batch, one transaction, on tokio's blocking pool.
async fn write(
    writer: Arc<Mutex<sluicegate_examples::db::Writer>>,
    batch: Vec<Parsed>,
) -> Result<(), StageError> {
    let rows = batch.len();
    let rows_of = batch
        .into_iter()
        .map(Parsed::into_row)
        .collect::<Vec<Row>>();
    tokio::task::spawn_blocking(move || {
        writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert_batch(&rows_of, 1)
    })
    .await
    .map_err(|e| StageError::Write {
        rows,
        error: e.to_string(),
    })?
    .map_err(|e| StageError::Write {
        rows,
        error: e.to_string(),
    })
}

/// Records the sources have generated so far, in all.
fn total(generated: &[Arc<AtomicU64>]) -> u64 {
    generated.iter().map(|g| g.load(Ordering::Relaxed)).sum()
}
