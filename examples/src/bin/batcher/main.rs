//! `batcher`: events batched by size or time and written by a slow writer,
//! with hand-back backpressure (Go's batcher, on sluicegate's pipeline).
//!
//! ```text
//! generator ─▶ bounded buffer ─▶ batch: size or time ─lend─▶ writer thread ─▶ SQLite
//! (--rate)     (--buffer)        (hand-back mode)     ◀─back─  (--write-ms + commit)
//! ```
//!
//! - A generator ([`Pipeline::generator`]) produces `--events` events at
//!   `--rate` per second; `emit` waits while the buffer is full.
//! - The batcher ([`Pipeline::batch_hand_back`]) closes a batch at
//!   `--batch-size` events, or `--max-wait-ms` after its first event (or
//!   on fixed ticks, `--timer ticks`), and lends it to the writer. It builds
//!   the next batch only once the writer has handed the last one back: a
//!   slow writer fills the buffer, then slows the source (backpressure all
//!   the way, nothing dropped).
//! - The writer (`writer.rs`) is a thread that commits each batch to SQLite
//!   in one transaction ([`sluicegate_examples::db`]) after an extra
//!   `--write-ms` delay, the simulated slow part, then hands it back.
//! - Ctrl-C or SIGTERM cancels the pipeline gracefully:
//!   the source stops, what it produced drains, the last partial batch is
//!   written. A second Ctrl-C aborts (what is in flight is dropped and
//!   counted as discarded).
//! - `report.rs`: the summary and its checks, above all produced = sent
//!   (events in committed batches) = rows in SQLite.
//!
//! ```text
//! cargo run --release -p sluicegate-examples --bin batcher
//! cargo run --release -p sluicegate-examples --bin batcher -- --events 0 --rate 2000   # until Ctrl-C
//! cargo run --release -p sluicegate-examples --bin batcher -- --quick --json
//! ```
//!
//! Exit code: 0 when every check passes, 1 when one fails (or the run
//! cannot start), 2 on a bad command line or settings the pipeline rejects.
#![expect(
    clippy::print_stderr,
    reason = "a command-line tool reports errors on stderr"
)]

mod args;
mod reason;
mod report;
mod writer;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sluicegate::pipeline::{Batch, CancelToken, Emitter, Pipeline};
use sluicegate_examples::cli::Failure;
use sluicegate_examples::db::{Row, Store};
use sluicegate_examples::report::{Checked, Ticker, exit_code, print_text};
use sluicegate_examples::signal::{Interrupts, cancel_on_ctrl_c};

use crate::args::{Args, Config};
use crate::reason::ProbedSleeper;
use crate::report::{Progress, Report};
use crate::writer::{Job, Stats};

/// The pipeline's error: the writer thread is gone, so a batch could not
/// be handed to it (its events count as failed).
#[derive(Debug, thiserror::Error)]
#[error("the writer thread has stopped")]
struct WriterGone;

#[tokio::main]
async fn main() -> ExitCode {
    // clap prints its own errors and exits with code 2.
    let config = Config::from_args(Args::parse());
    match run(config).await {
        Ok(report) => exit_code(Report::print(&report), if report.ok() { 0 } else { 1 }, 1),
        Err(failure) => failure.exit(1),
    }
}

async fn run(config: Config) -> Result<Checked<Report>, Failure> {
    // Catch Ctrl-C from now on, before anything is printed. (Should the
    // handler fail to install, the run goes on without it.)
    let interrupts = Interrupts::new(true).ok();

    // The pipeline: generator -> buffer -> batch (hand-back) -> sink. The
    // sink only passes each lent batch to the writer thread; the batcher
    // waits for it to come back before it builds the next one.
    let timer = ProbedSleeper::default();
    let classify = timer.clone();
    let batch_size = config.batch_size;
    let (jobs, queue) = writer::channel();
    let (events, rate, wave, seed) = (config.events, config.rate, config.wave(), config.seed);
    let pipeline = Pipeline::<_, WriterGone, _>::generator(64, move |out| {
        generate(out, events, rate, wave, seed)
    })
    .named("events")
    .buffer(config.buffer)
    .batch_hand_back(
        Batch::size(config.batch_size)
            .max_wait(config.max_wait())
            .timer(config.timer.mode()),
        timer,
    )
    .try_sink(move |batch| {
        let reason = classify.classify(batch.len(), batch_size);
        let sent = jobs.send(Job { batch, reason }).map_err(|_| WriterGone);
        std::future::ready(sent)
    })
    .map_err(|e| Failure::Usage(format!("the pipeline rejects these settings: {e}")))?;

    // The settings are good: only now is the database emptied.
    let store = Store::create(&config.db)
        .map_err(|e| Failure::Run(format!("cannot create {}: {e}", config.db.display())))?;
    let db_writer = store
        .writer()
        .map_err(|e| Failure::Run(format!("cannot open {}: {e}", config.db.display())))?;
    let stats = Stats::new(config.batch_size);
    let writer = writer::spawn(queue, db_writer, config.write_delay(), stats.clone())
        .map_err(|e| Failure::Run(format!("cannot start the writer thread: {e}")))?;

    if !config.output.json {
        // A closed stdout is no reason to stop the run here: printing the
        // summary fails later, and says so.
        let _ = print_text(&report::header(&config));
    }
    let errors = pipeline.errors();
    let monitor = pipeline.monitor();
    let token = CancelToken::new();
    let interrupted = Arc::new(AtomicBool::new(false));

    // Ctrl-C: cancel (graceful: drain, write the last batch); a second
    // one aborts (drop what is in flight, counted as discarded).
    let json = config.output.json;
    let ctrl_c = cancel_on_ctrl_c(
        interrupts,
        token.clone(),
        {
            let interrupted = Arc::clone(&interrupted);
            move || {
                interrupted.store(true, Ordering::Relaxed);
                if !json {
                    eprintln!(
                        "\ninterrupted: the source stops, the rest drains (Ctrl-C again to abort)"
                    );
                }
            }
        },
        move || {
            if !json {
                eprintln!("\ninterrupted twice: aborting, what is in flight is discarded");
            }
        },
    );

    // A progress line every --progress-ms until the run is over.
    let start = Instant::now();
    let progress = Ticker::spawn(config.output.progress_every(), {
        let stats = stats.clone();
        move || Progress::now(&monitor, &stats.lock(), start.elapsed()).print(json)
    });

    let summary = pipeline.run(token).await;
    let elapsed = start.elapsed();
    progress.stop().await;
    ctrl_c.abort();

    // The run is over and its sink (with the channel's sender) is gone: the
    // writer finishes the batch it holds, if any, and exits.
    tokio::task::spawn_blocking(move || writer.join())
        .await
        .map_err(|e| Failure::Run(format!("waiting for the writer failed: {e}")))?
        .map_err(|_| Failure::Run("the writer thread panicked".into()))?;
    let rows = store
        .count()
        .map_err(|e| Failure::Run(format!("cannot count the rows: {e}")))?;

    let pipeline_errors = errors.drain().iter().map(ToString::to_string).collect();
    Ok(Report::new(
        config,
        &summary,
        &stats.lock(),
        rows,
        pipeline_errors,
        interrupted.load(Ordering::Relaxed),
        elapsed,
    ))
}

/// The source: `events` events (0: until stopped) at a rate that swings
/// in waves between 0.25 and 1.75 times `rate` per second, one wave every
/// `wave` (`None`: a steady rate; a `rate` of 0: as fast as the buffer
/// takes them). If the pipeline falls behind, the schedule slips (by at
/// most 10 ms of catch-up), as a ticker that drops ticks would: the rate
/// is a ceiling, not a debt.
async fn generate(
    out: Emitter<Row, WriterGone>,
    events: u64,
    rate: u32,
    wave: Option<Duration>,
    seed: u64,
) {
    const SLACK: Duration = Duration::from_millis(10);
    let mut rng = SmallRng::seed_from_u64(seed);
    let start = tokio::time::Instant::now();
    let mut next = start;
    let mut id = 0u64;
    while events == 0 || id < events {
        if rate > 0 {
            let now = tokio::time::Instant::now();
            if next > now {
                tokio::time::sleep_until(next).await;
            } else if now - next > SLACK {
                next = now - SLACK;
            }
            let swing = wave.map_or(1.0, |period| {
                let phase = next.duration_since(start).as_secs_f64() / period.as_secs_f64();
                1.0 + 0.75 * (std::f64::consts::TAU * phase).sin()
            });
            next += Duration::from_secs_f64(1.0 / (f64::from(rate) * swing));
        }
        let sensor = rng.random_range(0..16u32);
        let reading = f64::from(rng.random_range(-200..=400)) / 10.0;
        let row = Row {
            id,
            client: sensor,
            payload: format!("sensor {sensor}: {reading:.1} C"),
        };
        if out.emit(row).await.is_err() {
            // The pipeline stopped taking events (Ctrl-C): the event came
            // back and was never produced.
            return;
        }
        id += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_defaults_are_valid_pipeline_settings() {
        let config = Config::from_args(Args::parse_from(["batcher", "--quick"]));
        assert!(
            Batch::size(config.batch_size)
                .max_wait(config.max_wait())
                .timer(config.timer.mode())
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn explicit_flags_win_over_quick_defaults() {
        let config = Config::from_args(Args::parse_from([
            "batcher",
            "--quick",
            "--batch-size",
            "7",
            "--events",
            "0",
        ]));
        assert_eq!((config.batch_size, config.events), (7, 0));
    }
}
