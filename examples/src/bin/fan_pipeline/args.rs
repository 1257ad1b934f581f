//! The command line ([`Args`], parsed by clap) and the settings of a run
//! ([`Config`]): `--quick` changes the defaults, explicit flags still win.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use clap::builder::RangedU64ValueParser;
use serde::Serialize;
use sluicegate_examples::cli::{OutputFlags, or_temp_file, pick};

/// The flags. Numbers are optional here so that `--quick` can pick other
/// defaults; [`Config::from_args`] fills them in. Zero workers, batch
/// sizes or waits are let through on purpose: sluicegate's builders reject
/// them with typed errors, reported with exit code 2.
#[derive(Debug, Parser)]
#[command(
    name = "fan_pipeline",
    about = "sources -> merge -> fan-out to N workers -> fan-in -> pipeline (check, batch, SQLite), failing fast on the first error",
    long_about = "Three stages. 1: --sources generators of numbered text records, merged fairly \
into one stream (sluicegate's fan-in merge). 2: a fan-out to --workers tokio tasks that parse \
and checksum each record (sluicegate-fanio), whose results fan back in. 3: a pipeline \
(sluicegate-pipeline) that checks each result, batches the good ones and writes each batch to \
SQLite in one transaction, with an error stream and the fail-fast policy.\n\n\
--fail-at N corrupts record N at its source: its worker cannot parse it, the error goes to the \
pipeline's error stream, and the first error stops everything: the pipeline drops what it holds \
(counted as discarded), the fan-out is cancelled and hands back the records it had not started \
and the results not yet taken, and the sources stop. The summary accounts for every record: \
generated = written + failed + discarded + handed back.\n\n\
Ctrl-C stops the run the same way without an error: the pipeline drains and writes its last \
batch, then the fan-out is cancelled. A second Ctrl-C aborts (what the pipeline holds is \
discarded, counted).\n\n\
Exit code: 0 when the run completed (or was stopped by Ctrl-C) and every check passes, 1 when \
the first error stopped it (the checks passed), 2 on a bad command line or settings the builders reject, 3 when a check \
fails (or the run cannot start)."
)]
pub(crate) struct Args {
    /// Records the sources generate in all [default: 200000; quick: 5000]
    #[arg(long, value_name = "N")]
    items: Option<u64>,

    /// Generators merged into the input [default: 3]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    sources: Option<u32>,

    /// Worker tasks of the fan-out, at most 1024 [default: 4]
    // 0 is let through: the fan-out's builder rejects it, typed. Far more
    // than 1024 would only exhaust memory.
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(0..=1024))]
    workers: Option<usize>,

    /// Checksum rounds per record: the CPU work of a worker [default: 100; quick: 10]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    work: Option<u32>,

    /// Corrupt the record with this id: its worker fails and the first error stops everything
    #[arg(long, value_name = "ID")]
    fail_at: Option<u64>,

    /// Most rows written in one SQLite transaction [default: 500; quick: 100]
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,

    /// A partial batch is written at most this long after its first row [default: 50; quick: 5]
    #[arg(long, value_name = "MS")]
    max_wait_ms: Option<u64>,

    /// The SQLite database, emptied first [default: sluicegate-fan-pipeline.db in the system temp dir]
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,

    #[command(flatten)]
    output: OutputFlags,

    /// A small, fast run (5000 records, light work): the integration test's mode
    #[arg(long)]
    quick: bool,
}

/// The settings of one run, every default filled in.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Config {
    pub(crate) items: u64,
    pub(crate) sources: u32,
    pub(crate) workers: usize,
    pub(crate) work: u32,
    pub(crate) fail_at: Option<u64>,
    pub(crate) batch_size: usize,
    pub(crate) max_wait_ms: u64,
    pub(crate) db: PathBuf,
    #[serde(flatten)]
    pub(crate) output: OutputFlags,
    pub(crate) quick: bool,
}

impl Config {
    pub(crate) fn from_args(args: Args) -> Self {
        let quick = args.quick;
        Self {
            items: pick(args.items, quick, 200_000, 5_000),
            sources: args.sources.unwrap_or(3),
            workers: args.workers.unwrap_or(4),
            work: pick(args.work, quick, 100, 10),
            fail_at: args.fail_at,
            batch_size: pick(args.batch_size, quick, 500, 100),
            max_wait_ms: pick(args.max_wait_ms, quick, 50, 5),
            db: or_temp_file(args.db, "sluicegate-fan-pipeline.db"),
            output: args.output,
            quick,
        }
    }

    pub(crate) fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }
}
